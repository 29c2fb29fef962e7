//! The policy in force: the published snapshot, or the built-in default.
//!
//! Each decision `stat`s the snapshot path. A file not seen before is read
//! into an anonymous private mapping (a copy, so that a file truncated or
//! rewritten in place can never SIGBUS this process), checked once (header,
//! CRC-32C in hardware where available, section table: the publisher ran
//! the full validation before the rename), made read-only and published in
//! a write-once slot; an atomic index names the
//! current slot. No locks: two threads that see a new file at once each
//! fill their own slot, and the last to publish wins. Old copies stay
//! mapped (a concurrent decision may be reading them); after `SLOTS`
//! changes the library stops caching and reads the file per decision.

use crate::sys::{self, Anon, FileId};
use core::sync::atomic::{AtomicUsize, Ordering};
use policy_cache::Snapshot;
use policy_cache::snapshot::MAX_SNAPSHOT;

/// Why the built-in policy is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// No snapshot file.
    Missing,
    /// The file is not a valid snapshot.
    Invalid,
}

/// The policy a decision uses.
pub enum Policy {
    /// A published snapshot.
    Published(Snapshot<'static>),
    /// A snapshot read for this decision only (slots exhausted).
    Transient(Snapshot<'static>, Anon),
    /// The default compiled into the library.
    Builtin(Snapshot<'static>, Fallback),
    /// No usable policy at all (cannot happen in a correctly built
    /// library): every call is denied.
    Nothing,
}

impl Policy {
    /// The snapshot to evaluate against.
    pub fn snapshot(&self) -> Option<&Snapshot<'static>> {
        match self {
            Policy::Published(s) | Policy::Transient(s, _) | Policy::Builtin(s, _) => Some(s),
            Policy::Nothing => None,
        }
    }
    /// For the audit record.
    pub fn source(&self) -> &'static str {
        match self {
            Policy::Published(_) | Policy::Transient(..) => "snapshot",
            Policy::Builtin(_, Fallback::Missing) => "builtin:missing",
            Policy::Builtin(_, Fallback::Invalid) => "builtin:invalid",
            Policy::Nothing => "none",
        }
    }
}

const SLOTS: usize = 64;

struct Slot {
    id: core::cell::UnsafeCell<FileId>,
    data: core::cell::UnsafeCell<&'static [u8]>,
    valid: core::cell::UnsafeCell<bool>,
}

// SAFETY: a slot is written only by the thread that claimed its index with
// `fetch_add` (unique), before that index is published with Release; readers
// reach it only through an Acquire load of the published index.
unsafe impl Sync for Slot {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    id: core::cell::UnsafeCell::new(FileId {
        dev: 0,
        ino: 0,
        size: 0,
        mtime: 0,
        mtime_ns: 0,
    }),
    data: core::cell::UnsafeCell::new(&[]),
    valid: core::cell::UnsafeCell::new(false),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Index + 1 of the current slot (0: none yet).
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Next free slot.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn builtin(why: Fallback) -> Policy {
    // Validated by build.rs when it was compiled into the library (and by a
    // unit test); re-checking its CRC on every fallback decision would cost
    // more than the decision.
    match Snapshot::from_validated(crate::BUILTIN_SNAPSHOT) {
        Some(s) => Policy::Builtin(s, why),
        // build.rs validated these bytes; if that ever failed, nothing is
        // allowed rather than everything.
        None => Policy::Nothing,
    }
}

/// Read the file at `path` (NUL-terminated) into a private read-only copy.
fn read_copy(path: &[u8]) -> Option<(FileId, Anon)> {
    let fd = sys::open(path, libc::O_RDONLY, 0)?;
    let id = sys::fstat_id(&fd)?;
    if id.size <= 0 || id.size as u64 > MAX_SNAPSHOT as u64 {
        return Some((id, Anon::new(1)?));
    }
    let mut map = Anon::populated(id.size as usize)?;
    let n = sys::read_full(&fd, map.as_mut_slice())?;
    if n != id.size as usize {
        return Some((id, Anon::new(1)?)); // changed under us: invalid this time
    }
    Some((id, map))
}

/// The policy for the next decision.
pub fn current(path: &[u8]) -> Policy {
    let Some(id) = sys::stat_id(path) else {
        return builtin(Fallback::Missing);
    };
    let cur = CURRENT.load(Ordering::Acquire);
    if cur > 0
        && let Some(slot) = TABLE.get(cur - 1)
    {
        // SAFETY: published slots are never written again.
        let (sid, data, valid) = unsafe { (*slot.id.get(), *slot.data.get(), *slot.valid.get()) };
        if sid == id {
            return if valid {
                match Snapshot::from_validated(data) {
                    Some(s) => Policy::Published(s),
                    None => builtin(Fallback::Invalid),
                }
            } else {
                builtin(Fallback::Invalid)
            };
        }
    }
    // A file not seen before.
    let Some((fid, copy)) = read_copy(path) else {
        return builtin(Fallback::Missing);
    };
    let claimed = NEXT.fetch_add(1, Ordering::Relaxed);
    let Some(slot) = TABLE.get(claimed) else {
        // Out of slots: use a transient copy for this decision.
        // SAFETY: the copy lives in the returned value, which outlives the
        // borrow the Snapshot holds (see Policy::Transient's use).
        let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(copy.ptr, copy.len) };
        return match Snapshot::from_bytes_integrity(bytes, crate::crc::crc32c) {
            Ok(s) => Policy::Transient(s, copy),
            Err(_) => builtin(Fallback::Invalid),
        };
    };
    let data = copy.freeze();
    let valid = Snapshot::from_bytes_integrity(data, crate::crc::crc32c).is_ok();
    // SAFETY: `claimed` is ours alone (fetch_add), not yet published.
    unsafe {
        *slot.id.get() = fid;
        *slot.data.get() = data;
        *slot.valid.get() = valid;
    }
    // If the file was replaced between stat and open, the slot records the
    // file actually read; the next decision's stat sees the difference.
    CURRENT.store(claimed + 1, Ordering::Release);
    if valid {
        match Snapshot::from_validated(data) {
            Some(s) => Policy::Published(s),
            None => builtin(Fallback::Invalid),
        }
    } else {
        builtin(Fallback::Invalid)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_builtin_snapshot_is_valid() {
        let s = policy_cache::Snapshot::from_bytes(crate::BUILTIN_SNAPSHOT).expect("valid");
        assert!(s.policy_count() > 0);
        assert_eq!(
            s.flags() & policy_cache::snapshot::FLAG_BUILTIN,
            policy_cache::snapshot::FLAG_BUILTIN
        );
    }
}
