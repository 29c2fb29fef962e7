//! The body every hook shares: decide, record, enforce.

use crate::ask::{self, Answer};
use crate::out::Out;
use crate::record::{self, CommandText, Fields};
use crate::retry;
use crate::settings::{self, Mode};
use crate::snap;
use crate::sys::{self, Anon, cstr};
use core::ffi::c_char;
use policy_cache::normalise::Argv;
use policy_cache::{Action, Call, Command, Decision, Snapshot, evaluate, scratch_needed};

/// Which libc entry point was called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Entry {
    Execve,
    Execv,
    Execvp,
    Execvpe,
    Execl,
    Execlp,
    Execle,
    Fexecve,
    PosixSpawn,
    PosixSpawnp,
    System,
    Popen,
}

impl Entry {
    /// The function's name (for records and messages).
    pub fn name(self) -> &'static str {
        match self {
            Entry::Execve => "execve",
            Entry::Execv => "execv",
            Entry::Execvp => "execvp",
            Entry::Execvpe => "execvpe",
            Entry::Execl => "execl",
            Entry::Execlp => "execlp",
            Entry::Execle => "execle",
            Entry::Fexecve => "fexecve",
            Entry::PosixSpawn => "posix_spawn",
            Entry::PosixSpawnp => "posix_spawnp",
            Entry::System => "system",
            Entry::Popen => "popen",
        }
    }
}

/// Most arguments counted; a longer argv is denied as too long.
const MAX_ARGS: usize = 1 << 22;

/// A C argument vector, with the program path standing in for `argv[0]`
/// (what runs is the path, whatever `argv[0]` claims).
pub struct CArgv {
    path: *const c_char,
    argv: *const *const c_char,
    n: usize,
}

impl CArgv {
    /// Wrap `argv` (NULL allowed), counting it once.
    ///
    /// # Safety
    /// `path` is NULL or a C string; `argv` is NULL or a NULL-terminated
    /// array of C strings; both outlive the value.
    pub unsafe fn new(path: *const c_char, argv: *const *const c_char) -> CArgv {
        let mut n = 0usize;
        if !argv.is_null() {
            // SAFETY: NULL-terminated per the contract.
            while n < MAX_ARGS && !unsafe { *argv.add(n) }.is_null() {
                n += 1;
            }
        }
        CArgv { path, argv, n }
    }
}

impl Argv for CArgv {
    fn count(&self) -> usize {
        if self.path.is_null() {
            self.n
        } else {
            self.n.max(1)
        }
    }
    fn arg(&self, i: usize) -> &[u8] {
        if i == 0 && !self.path.is_null() {
            // SAFETY: a C string per `new`'s contract.
            return unsafe { cstr(self.path) };
        }
        if i >= self.n {
            return &[];
        }
        // SAFETY: i < n, within the NULL-terminated array.
        unsafe { cstr(*self.argv.add(i)) }
    }
}

impl CommandText for CArgv {
    fn each(&self, f: &mut dyn FnMut(&[u8])) {
        for i in 0..self.count() {
            if i > 0 {
                f(b" ");
            }
            f(self.arg(i));
        }
    }
}

/// What is being run.
pub enum Input<'a> {
    /// exec/spawn.
    Argv(&'a CArgv),
    /// system/popen.
    Shell(&'a [u8]),
}

/// Go ahead, or fail the call as its caller expects.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Call the real function.
    Run,
    /// Fail with EPERM (or status 126 for `system`).
    Block,
    /// The program does not exist: fail with ENOENT, as libc would.
    Missing,
}

impl Verdict {
    /// How an exec-family call fails on this verdict (`None`: go ahead):
    /// `-1` with `errno` set, as libc's own failures.
    pub fn exec_failure(self) -> Option<core::ffi::c_int> {
        let errno = match self {
            Verdict::Run => return None,
            Verdict::Block => libc::EPERM,
            Verdict::Missing => libc::ENOENT,
        };
        sys::set_errno(errno);
        Some(-1)
    }
}

const UNREACHABLE: &[u8] = b"needs approval, and rampart serve is not reachable";

/// Decide `input`, write the audit record, and say what to do.
pub fn check(entry: Entry, input: Input<'_>) -> Verdict {
    let s = settings::get();
    if s.mode == Mode::Disabled {
        return Verdict::Run;
    }
    let policy = snap::current(s.snapshot_path_c());
    let text: &dyn CommandText = match &input {
        Input::Argv(a) => *a,
        Input::Shell(sh) => sh,
    };
    let Some(snapshot) = policy.snapshot() else {
        let msg: &[u8] = b"no valid policy is available";
        if s.mode == Mode::Enforce {
            blocked_line(text, msg, b"");
            return Verdict::Block;
        }
        return Verdict::Run;
    };
    let call = Call {
        tool: b"exec",
        agent: s.agent(),
        session: s.session(),
        command: Some(match &input {
            Input::Argv(a) => Command::Argv(*a),
            Input::Shell(sh) => Command::Shell(sh),
        }),
        path: None,
        url: None,
        params: &[],
        home: s.user_home(),
    };
    let start = sys::monotonic_ns();
    let d = decide(snapshot, &call);
    let eval_ns = sys::monotonic_ns().saturating_sub(start);
    // An exec of a path that does not exist runs nothing: no record, and
    // the caller sees libc's ENOENT (PATH searches try many of these).
    if let Input::Argv(a) = &input
        && entry != Entry::Execvp
        && entry != Entry::Execlp
        && entry != Entry::PosixSpawnp
        && sys::missing(a.arg(0))
    {
        return Verdict::Missing;
    }

    // The same call again, moments after it was refused: a PATH search
    // moving on to the next directory (see `retry`).
    if let Input::Argv(a) = &input
        && s.mode == Mode::Enforce
        && retry::refused_just_now(a, start)
    {
        return Verdict::Block;
    }
    let verdict = record_and_enforce(s, entry, text, &policy, snapshot, &d, eval_ns);
    if let Input::Argv(a) = &input
        && verdict == Verdict::Block
    {
        retry::remember(a, sys::monotonic_ns());
    }
    verdict
}

/// Evaluate with scratch space sized to the call. Kept out of
/// [`check`]'s frame (and the larger tiers out of this one): a freshly
/// forked child takes a page fault for every stack page it touches, and a
/// frame over a page is probed page by page on entry whether the big
/// buffer is used or not.
#[inline(never)]
fn decide<'s>(snapshot: &Snapshot<'s>, call: &Call<'_>) -> Decision<'s> {
    let need = scratch_needed(call);
    if need <= SMALL_SCRATCH {
        return evaluate(snapshot, call, &mut [0u8; SMALL_SCRATCH]);
    }
    decide_large(snapshot, call, need)
}

/// Enough scratch for a command of up to 128 bytes (most of them).
const SMALL_SCRATCH: usize = 4096;

#[cold]
#[inline(never)]
fn decide_large<'s>(snapshot: &Snapshot<'s>, call: &Call<'_>, need: usize) -> Decision<'s> {
    if need <= 16 * 1024 {
        return evaluate(snapshot, call, &mut [0u8; 16 * 1024]);
    }
    match Anon::new(need) {
        Some(mut m) => evaluate(snapshot, call, m.as_mut_slice()),
        // No memory for the scratch space: evaluating with too little
        // refuses the call as too complex (never allows it).
        None => evaluate(snapshot, call, &mut [0u8; 16 * 1024]),
    }
}

/// Write the audit record (asking the daemon first for an `ask`), print
/// the block or debug line, and say what to do. Its 4 KiB record buffer
/// reuses the stack that [`decide`] used.
#[inline(never)]
fn record_and_enforce(
    s: &settings::Settings,
    entry: Entry,
    text: &dyn CommandText,
    policy: &snap::Policy,
    snapshot: &Snapshot<'static>,
    d: &Decision<'_>,
    eval_ns: u64,
) -> Verdict {
    let mut line = [0u8; 4 * 1024];
    let mut fields = Fields {
        entry: entry.name(),
        command: text,
        decision: d,
        snapshot: Some(snapshot),
        policy_source: policy.source(),
        outcome: "allowed",
        approval: None,
        eval_ns,
    };
    let mut message = d.message;
    let verdict = match (s.mode, d.action) {
        (Mode::Enforce, Action::Deny) => Verdict::Block,
        (Mode::Enforce, Action::Ask) => {
            fields.outcome = "pending";
            let mut o = Out::new(&mut line);
            record::write(&mut o, s, &fields);
            let answer = ask::ask(s, o.as_bytes());
            let (v, how) = match answer {
                Answer::Approved => (Verdict::Run, "approved"),
                Answer::Denied => (Verdict::Block, "denied"),
                Answer::Timeout => (Verdict::Block, "timeout"),
                Answer::Unreachable if s.fail_open => (Verdict::Run, "unreachable-fail-open"),
                Answer::Unreachable => (Verdict::Block, "unreachable"),
            };
            if answer == Answer::Unreachable && !s.fail_open {
                message = UNREACHABLE;
            }
            fields.approval = Some(how);
            v
        }
        _ => Verdict::Run,
    };
    fields.outcome = if verdict == Verdict::Block {
        "blocked"
    } else {
        "allowed"
    };
    let mut o = Out::new(&mut line);
    record::write(&mut o, s, &fields);
    o.byte(b'\n');
    if !o.overflowed {
        record::append(s, o.as_bytes());
    }
    let policy_name = d
        .policy
        .map_or(&[][..], |p| snapshot.policy_name(p as usize));
    if verdict == Verdict::Block {
        blocked_line(text, message, policy_name);
    }
    if s.debug {
        debug_line(
            entry,
            text,
            d.action,
            verdict,
            policy_name,
            snapshot.generation(),
            policy.source(),
            eval_ns,
        );
    }
    verdict
}

/// `rampart: blocked <command> — <message> [<policy>]` on stderr.
fn blocked_line(text: &dyn CommandText, message: &[u8], policy: &[u8]) {
    let mut buf = [0u8; 1024];
    let mut o = Out::new(&mut buf);
    o.bytes(b"rampart: blocked ");
    command_preview(&mut o, text);
    o.bytes(" \u{2014} ".as_bytes());
    o.bytes(if message.is_empty() {
        b"denied by policy"
    } else {
        message
    });
    if !policy.is_empty() {
        o.bytes(b" [");
        o.bytes(policy);
        o.byte(b']');
    }
    o.byte(b'\n');
    sys::write_all(2, o.as_bytes());
}

fn command_preview(o: &mut Out<'_>, text: &dyn CommandText) {
    let mut budget = 200usize;
    text.each(&mut |p| {
        for &c in p {
            if budget == 0 {
                return;
            }
            o.byte(if c == b'\n' || c == b'\r' { b' ' } else { c });
            budget -= 1;
        }
    });
    if budget == 0 {
        o.bytes("\u{2026}".as_bytes());
    }
}

#[allow(clippy::too_many_arguments)]
fn debug_line(
    entry: Entry,
    text: &dyn CommandText,
    action: Action,
    verdict: Verdict,
    policy: &[u8],
    generation: u64,
    source: &str,
    eval_ns: u64,
) {
    let mut buf = [0u8; 1024];
    let mut o = Out::new(&mut buf);
    o.bytes(b"rampart[");
    o.i64(i64::from(sys::ids().0));
    o.bytes(b"]: ");
    o.bytes(action.as_str().as_bytes());
    if verdict == Verdict::Block {
        o.bytes(b" (blocked)");
    }
    o.byte(b' ');
    o.bytes(entry.name().as_bytes());
    o.byte(b' ');
    command_preview(&mut o, text);
    if !policy.is_empty() {
        o.bytes(b" [");
        o.bytes(policy);
        o.byte(b']');
    }
    o.bytes(b" gen=");
    o.u64(generation);
    o.bytes(b" policy=");
    o.bytes(source.as_bytes());
    o.bytes(b" eval=");
    o.u64(eval_ns / 1000);
    o.bytes(b"us\n");
    sys::write_all(2, o.as_bytes());
}
