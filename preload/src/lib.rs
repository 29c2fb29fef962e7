//! librampart: decides every exec-family call in-process, from the policy
//! snapshot, before the real call runs.
//!
//! Hot-path rules (ARCHITECTURE.md): no heap (stack buffers, anonymous
//! `mmap` for large inputs), no locks or lazy one-time init or thread-locals
//! (settings are captured by the constructor; the snapshot is published
//! through write-once slots and an atomic index), no panics (in optimised
//! builds the panic handler names an undefined symbol and the library is
//! linked with `-z defs`, so a reachable panic fails the build), and the
//! hooks never call a function they hook (real functions come from
//! `dlsym(RTLD_NEXT)`).
//!
//! Layout: platform-neutral hook bodies in [`hook`], snapshot mapping in
//! [`snap`], environment re-injection in [`envp`], the audit record in
//! [`record`], the approval client in [`ask`]; the exported symbols and the
//! constructor in `linux/` (and `macos/`). The variadic `execl*` live in
//! `c/shim.c`, because stable Rust cannot define C-variadic functions.
#![cfg_attr(not(test), no_std)]
#![allow(clippy::missing_safety_doc)]

pub mod ask;
pub mod crc;
pub mod envp;
pub mod global;
pub mod hook;
pub mod interpose;
pub mod load;
pub mod out;
pub mod record;
pub mod retry;
#[cfg(target_os = "linux")]
pub mod sc;
pub mod search;
pub mod settings;
pub mod shim;
pub mod snap;
pub mod sys;

#[cfg(target_os = "linux")]
mod linux;

// Compiled on macOS, and type-checked on Linux under `--cfg
// rampart_macos_check` (where it is never linked or run): nothing in it is
// exported under a libc name, so it cannot clash with `linux/`.
#[cfg(any(target_os = "macos", rampart_macos_check))]
mod macos;

/// The default policy, compiled at build time: used when no valid snapshot
/// can be read.
pub static BUILTIN_SNAPSHOT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/builtin.snap"));

#[cfg(all(not(test), not(rampart_no_panic_check)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        /// Deliberately undefined: if the optimiser cannot remove every
        /// path to a panic, linking the library fails (`-z defs`).
        fn rampart_panic_is_reachable_see_preload_lib_rs() -> !;
    }
    // SAFETY: never executed in a library that links; the symbol does not exist.
    unsafe { rampart_panic_is_reachable_see_preload_lib_rs() }
}

#[cfg(all(not(test), rampart_no_panic_check))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Debug builds only: abort rather than unwind through C frames.
    // SAFETY: abort never returns and is async-signal-safe.
    unsafe { libc::abort() }
}
