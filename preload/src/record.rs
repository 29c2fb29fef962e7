//! The audit record: one JSON line per decision, appended to the spool with
//! a single `write(2)` on an `O_APPEND` file **before** the real call (exec
//! replaces the process; a record written after would be lost).
//!
//! Format (one object per line, keys always in this order; see
//! `preload/SPOOL.md`):
//!
//! ```text
//! {"v":1,"ts":"2026-11-21T23:10:05.123456Z","pid":4242,"ppid":4241,"uid":1000,
//!  "cwd":"/home/me/project","agent":"codex","session":"","entry":"execve",
//!  "tool":"exec","command":"rm -rf /","command_len":8,"decision":"deny",
//!  "outcome":"blocked","policies":["destructive-filesystem"],
//!  "message":"…","generation":3,"policy_source":"snapshot","mode":"enforce",
//!  "eval_ns":2100}
//! ```
//!
//! A command longer than [`MAX_COMMAND`] bytes is cut (on a character
//! boundary) and the record adds `"command_truncated":true` and
//! `"command_sha256"` of the full text. `approval` is present for `ask`
//! decisions (`approved`, `denied`, `timeout`, `unreachable`,
//! `unreachable-fail-open`).

use crate::out::Out;
use crate::settings::{Mode, Settings};
use crate::sys;
use policy_cache::{Action, Decision, Snapshot};
use sha2::{Digest, Sha256};

/// Most command bytes a record carries.
pub const MAX_COMMAND: usize = 2048;

/// Something that yields the command text in pieces (argv words with
/// separating spaces, or a shell string).
pub trait CommandText {
    /// Call `f` with each piece, in order.
    fn each(&self, f: &mut dyn FnMut(&[u8]));
    /// Total length.
    fn total_len(&self) -> usize {
        let mut n = 0;
        self.each(&mut |p| n += p.len());
        n
    }
}

impl CommandText for &[u8] {
    fn each(&self, f: &mut dyn FnMut(&[u8])) {
        f(self)
    }
}

/// Everything a record says.
pub struct Fields<'a> {
    /// The hooked function.
    pub entry: &'a str,
    /// The command.
    pub command: &'a dyn CommandText,
    /// The policy's verdict.
    pub decision: &'a Decision<'a>,
    /// The snapshot decided against.
    pub snapshot: Option<&'a Snapshot<'a>>,
    /// `snapshot`, `builtin:missing`, `builtin:invalid`.
    pub policy_source: &'a str,
    /// `allowed`, `blocked` or `pending` (an approval request).
    pub outcome: &'a str,
    /// For `ask`: how it was resolved.
    pub approval: Option<&'a str>,
    /// Evaluation time.
    pub eval_ns: u64,
}

/// Write the civil date-time for `secs` since the epoch (UTC).
pub fn timestamp(o: &mut Out<'_>, secs: i64, nanos: i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    o.padded(y.max(0) as u64, 4);
    o.byte(b'-');
    o.padded(m as u64, 2);
    o.byte(b'-');
    o.padded(d as u64, 2);
    o.byte(b'T');
    o.padded((rem / 3600) as u64, 2);
    o.byte(b':');
    o.padded((rem % 3600 / 60) as u64, 2);
    o.byte(b':');
    o.padded((rem % 60) as u64, 2);
    o.byte(b'.');
    o.padded((nanos / 1000).clamp(0, 999_999) as u64, 6);
    o.byte(b'Z');
}

fn key(o: &mut Out<'_>, k: &str) {
    o.bytes(b",\"");
    o.bytes(k.as_bytes());
    o.bytes(b"\":");
}

fn string(o: &mut Out<'_>, k: &str, v: &[u8]) {
    key(o, k);
    o.byte(b'"');
    o.json_str(v, 1024);
    o.byte(b'"');
}

/// Write the JSON object (no newline) for `f`.
pub fn write(o: &mut Out<'_>, s: &Settings, f: &Fields<'_>) {
    let (secs, nanos) = sys::now();
    let (pid, ppid, uid) = sys::ids();
    o.bytes(b"{\"v\":1,\"ts\":\"");
    timestamp(o, secs, nanos);
    o.byte(b'"');
    key(o, "pid");
    o.i64(i64::from(pid));
    key(o, "ppid");
    o.i64(i64::from(ppid));
    key(o, "uid");
    o.u64(u64::from(uid));
    let mut cwd_buf = [0u8; 1024];
    string(o, "cwd", sys::cwd(&mut cwd_buf));
    string(o, "agent", s.agent());
    string(o, "session", s.session());
    string(o, "entry", f.entry.as_bytes());
    string(o, "tool", b"exec");
    key(o, "command");
    o.byte(b'"');
    let total = f.command.total_len();
    let mut complete = true;
    let mut budget = MAX_COMMAND;
    f.command.each(&mut |piece| {
        if !complete {
            return;
        }
        let before = o.len();
        complete = o.json_str(piece, budget);
        budget = budget.saturating_sub(o.len() - before);
    });
    o.byte(b'"');
    key(o, "command_len");
    o.u64(total as u64);
    if !complete {
        key(o, "command_truncated");
        o.bytes(b"true");
        let mut h = Sha256::new();
        f.command.each(&mut |p| h.update(p));
        key(o, "command_sha256");
        o.byte(b'"');
        o.hex(&h.finalize());
        o.byte(b'"');
    }
    string(o, "decision", f.decision.action.as_str().as_bytes());
    string(o, "outcome", f.outcome.as_bytes());
    if let Some(a) = f.approval {
        string(o, "approval", a.as_bytes());
    }
    key(o, "policies");
    o.byte(b'[');
    if let Some(snap) = f.snapshot {
        for (i, &p) in f.decision.fired().iter().enumerate() {
            if i > 0 {
                o.byte(b',');
            }
            o.byte(b'"');
            o.json_str(snap.policy_name(p as usize), 256);
            o.byte(b'"');
        }
    }
    o.byte(b']');
    string(o, "message", f.decision.message);
    key(o, "generation");
    o.u64(f.snapshot.map_or(0, |s| s.generation()));
    string(o, "policy_source", f.policy_source.as_bytes());
    string(o, "mode", s.mode.as_str().as_bytes());
    key(o, "eval_ns");
    o.u64(f.eval_ns);
    o.byte(b'}');
}

/// Append one line to the spool with a single write. Failure (read-only
/// sandbox, missing directory, full disk) is ignored: the decision stands.
pub fn append(s: &Settings, line: &[u8]) -> bool {
    let path = s.spool_path_c();
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT;
    let fd = match sys::open(path, flags, 0o600) {
        Some(fd) => fd,
        None if sys::errno() == libc::ENOENT => {
            // First record: create spool/ (0700) and try once more.
            let mut dir = [0u8; 1200];
            let mut o = Out::new(&mut dir);
            let p = s.spool_path();
            let cut = p.iter().rposition(|&c| c == b'/').unwrap_or(0);
            o.bytes(p.get(..cut).unwrap_or(&[]));
            o.byte(0);
            // SAFETY: NUL-terminated path in a local buffer.
            unsafe { crate::sys::os::mkdir(o.as_bytes().as_ptr().cast(), 0o700) };
            match sys::open(path, flags, 0o600) {
                Some(fd) => fd,
                None => return false,
            }
        }
        None => return false,
    };
    // Under a file-size limit (`ulimit -f`) a write past it raises
    // SIGXFSZ, which kills the host: a record that would cross it is
    // dropped instead (the decision stands).
    if let Some(limit) = sys::file_size_limit() {
        let room = sys::fstat_id(&fd).map_or(0, |id| limit.saturating_sub(id.size.max(0) as u64));
        if (line.len() as u64) > room {
            return false;
        }
    }
    // One write: a short one (the disk filled up) is not continued, as a
    // second write could be the one that crosses a limit.
    sys::write_once(fd.0, line)
}

/// The action that is enforced under `mode` before any approval.
pub fn blocks(mode: Mode, a: Action) -> bool {
    mode == Mode::Enforce && a == Action::Deny
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut b = [0u8; 64];
        let mut o = Out::new(&mut b);
        timestamp(&mut o, 1_795_305_005, 123_456_789);
        assert_eq!(
            std::str::from_utf8(o.as_bytes()).unwrap(),
            "2026-11-21T23:50:05.123456Z"
        );
        let mut b = [0u8; 64];
        let mut o = Out::new(&mut b);
        timestamp(&mut o, 951_782_400, 0); // leap day
        assert_eq!(
            std::str::from_utf8(o.as_bytes()).unwrap(),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
