//! The last refusal in this process, so that a program retrying the same
//! command along its `PATH` is refused once, not asked (or told) once per
//! directory.
//!
//! dash, for one, calls `execve` for every `PATH` entry that has the
//! program, whatever the first attempt's error: refused at
//! `/usr/bin/touch`, it tries `/bin/touch` (on a merged-/usr system, the
//! same file). Without this, an `ask` that a human refused would be asked
//! again, and wait again, for each directory.
//!
//! A refusal is remembered as a fingerprint of (pid, the program file's
//! device and inode, the arguments after `argv[0]`) and a time. The next
//! exec-family call in the same process within [`WINDOW_NS`] whose
//! fingerprint matches is refused without a new decision, record or
//! message. Lock-free: two atomics, written by the refusing thread; a torn
//! read only makes a match less likely (the call is then decided as
//! usual).

use crate::hook::CArgv;
use crate::sys;
use core::sync::atomic::{AtomicU64, Ordering};
use policy_cache::normalise::Argv;

/// How long a refusal is remembered: a `PATH` search is microseconds.
pub const WINDOW_NS: u64 = 1_000_000_000;

static KEY: AtomicU64 = AtomicU64::new(0);
static AT_NS: AtomicU64 = AtomicU64::new(0);

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &c in b {
            self.0 ^= u64::from(c);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
}

/// The fingerprint of running `a` in this process; `None` when the
/// program file cannot be identified.
fn fingerprint(a: &CArgv) -> Option<u64> {
    let id = sys::id_of(a.arg(0))?;
    let mut h = Fnv::new();
    h.u64(sys::ids().0 as u64);
    h.u64(id.dev);
    h.u64(id.ino);
    for i in 1..a.count() {
        h.u64(a.arg(i).len() as u64);
        h.bytes(a.arg(i));
    }
    // 0 means "nothing remembered".
    Some(h.0 | 1)
}

/// Was this very call refused a moment ago in this process? Costs one
/// clock read unless a refusal is recent.
pub fn refused_just_now(a: &CArgv, now_ns: u64) -> bool {
    let at = AT_NS.load(Ordering::Acquire);
    if at == 0 || now_ns.saturating_sub(at) > WINDOW_NS {
        return false;
    }
    let key = KEY.load(Ordering::Acquire);
    key != 0 && fingerprint(a) == Some(key)
}

/// Remember that `a` was refused at `now_ns`.
pub fn remember(a: &CArgv, now_ns: u64) {
    if let Some(key) = fingerprint(a) {
        KEY.store(key, Ordering::Release);
        AT_NS.store(now_ns.max(1), Ordering::Release);
    }
}
