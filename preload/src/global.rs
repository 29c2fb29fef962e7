//! Write-once globals.
//!
//! Settings are written by the constructor, which runs before `main` and
//! before any thread of the host exists, and only read afterwards. That
//! discipline (not a lock) is what makes the `Sync` impl sound.

use core::cell::UnsafeCell;

/// A value written during load and read-only after.
pub struct Global<T>(UnsafeCell<T>);

// SAFETY: mutated only through `set_at_load`, whose contract is that it runs
// in the constructor, single-threaded, before any concurrent reader exists.
unsafe impl<T: Sync> Sync for Global<T> {}

impl<T> Global<T> {
    /// A global with its initial value.
    pub const fn new(v: T) -> Self {
        Global(UnsafeCell::new(v))
    }

    /// Shared access.
    pub fn get(&self) -> &T {
        // SAFETY: after load no one writes (see `set_at_load`), so shared
        // references never alias a mutable one.
        unsafe { &*self.0.get() }
    }

    /// Mutable access for the loader.
    ///
    /// # Safety
    /// Only from the library constructor (or a single-threaded test), with
    /// no outstanding reference from [`Global::get`].
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn set_at_load(&self) -> &mut T {
        // SAFETY: the caller guarantees exclusivity.
        unsafe { &mut *self.0.get() }
    }
}
