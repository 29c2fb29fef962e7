//! Settings captured when the library loads, from the environment and the
//! password database, and never re-read: a process cannot change them by
//! editing its environment, and every child gets them back (see [`crate::envp`]).

use crate::global::Global;
use core::ffi::c_char;

/// Enforcement mode (`RAMPART_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Deny blocks, ask waits for a human.
    Enforce,
    /// Record what would happen; never block.
    Monitor,
    /// Do nothing (no decision, no record).
    Disabled,
}

impl Mode {
    /// Parse; anything unknown is `Enforce` (fail closed).
    pub fn parse(v: &[u8]) -> Mode {
        match v {
            b"monitor" | b"audit" => Mode::Monitor,
            b"disabled" | b"off" => Mode::Disabled,
            _ => Mode::Enforce,
        }
    }
    /// The spelling used in records and the environment.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
            Mode::Disabled => "disabled",
        }
    }
}

/// A fixed-capacity byte string.
#[derive(Clone, Copy)]
pub struct Fixed<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Fixed<N> {
    /// Empty.
    pub const fn new() -> Self {
        Fixed {
            buf: [0; N],
            len: 0,
        }
    }
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
    /// The bytes plus a NUL terminator (for C calls).
    pub fn c_bytes(&self) -> &[u8] {
        self.buf.get(..self.len + 1).unwrap_or(&[])
    }
    /// Append; returns false (and leaves it unchanged) if it does not fit
    /// with room for a NUL.
    pub fn push(&mut self, s: &[u8]) -> bool {
        if self.len + s.len() + 1 > N {
            return false;
        }
        for &c in s {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = c;
                self.len += 1;
            }
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = 0;
        }
        true
    }
    /// Reset to `s` (truncating to capacity).
    pub fn set(&mut self, s: &[u8]) {
        self.len = 0;
        let take = s.len().min(N.saturating_sub(1));
        self.push(s.get(..take).unwrap_or(&[]));
    }
    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for Fixed<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Environment variables the library owns: children always get the values
/// captured here (or none, when unset at load), whatever environment their
/// parent passes.
pub const CONTROLLED: [&[u8]; 10] = [
    b"LD_PRELOAD",
    b"RAMPART_MODE",
    b"RAMPART_AGENT",
    b"RAMPART_SESSION",
    b"RAMPART_HOME",
    b"RAMPART_SNAPSHOT",
    b"RAMPART_DEBUG",
    b"RAMPART_FAIL_OPEN",
    b"RAMPART_USER_HOME",
    b"RAMPART_ASK_TIMEOUT",
];

/// The variable that loads the library.
#[cfg(not(target_os = "macos"))]
pub const PRELOAD_VAR: &[u8] = b"LD_PRELOAD";
/// The variable that loads the library.
#[cfg(target_os = "macos")]
pub const PRELOAD_VAR: &[u8] = b"DYLD_INSERT_LIBRARIES";

/// A string kept in [`Settings`]' arena: offset and length (without the
/// NUL terminator that follows it there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    off: u16,
    len: u16,
}

/// A piece of a string being stored: bytes from outside, or a string
/// already in the arena (paths derived from home are built from it).
#[derive(Clone, Copy)]
enum Part<'a> {
    Bytes(&'a [u8]),
    Stored(Span),
}

impl Part<'_> {
    fn len(&self) -> usize {
        match self {
            Part::Bytes(b) => b.len(),
            Part::Stored(s) => s.len as usize,
        }
    }
}

/// Room for every string captured at load: the most the individual limits
/// below allow, together.
const ARENA: usize = 20 * 1024;
const MAX_NAME: usize = 255;
const MAX_DIR: usize = 1023;
const MAX_PATH: usize = 1099;
const MAX_PRELOAD: usize = 4095;

/// Everything captured at load.
///
/// The strings live in one arena, written front to back, so a process
/// touches one page or two of it at load rather than one per field (each
/// page of `.bss` written is a page fault, in every process the library
/// loads into).
#[repr(C)]
pub struct Settings {
    /// The constructor ran.
    pub loaded: bool,
    /// `RAMPART_MODE`.
    pub mode: Mode,
    /// `RAMPART_DEBUG`: one line per decision on stderr.
    pub debug: bool,
    /// `RAMPART_FAIL_OPEN`: allow an `ask` when the daemon is unreachable.
    pub fail_open: bool,
    /// Whether the preload variable was set at load.
    pub preload_set: bool,
    /// `RAMPART_ASK_TIMEOUT` (seconds), in milliseconds.
    pub ask_timeout_ms: u64,
    /// Number of `NAME=value` entries for children.
    pub env_count: usize,
    env_spans: [Span; CONTROLLED.len()],
    agent: Span,
    session: Span,
    user_home: Span,
    rampart_home: Span,
    snapshot_path: Span,
    spool_path: Span,
    socket_path: Span,
    lib_path: Span,
    preload_value: Span,
    /// Bytes of `arena` in use.
    used: usize,
    arena: [u8; ARENA],
}

impl Settings {
    /// Defaults before load.
    pub const fn new() -> Self {
        const NONE: Span = Span { off: 0, len: 0 };
        Settings {
            loaded: false,
            mode: Mode::Enforce,
            debug: false,
            fail_open: false,
            preload_set: false,
            ask_timeout_ms: 300_000,
            env_count: 0,
            env_spans: [NONE; CONTROLLED.len()],
            agent: NONE,
            session: NONE,
            user_home: NONE,
            rampart_home: NONE,
            snapshot_path: NONE,
            spool_path: NONE,
            socket_path: NONE,
            lib_path: NONE,
            preload_value: NONE,
            used: 0,
            arena: [0; ARENA],
        }
    }

    fn text(&self, s: Span) -> &[u8] {
        let start = s.off as usize;
        self.arena.get(start..start + s.len as usize).unwrap_or(&[])
    }

    /// The bytes plus their NUL terminator (for C calls).
    fn text_c(&self, s: Span) -> &[u8] {
        let start = s.off as usize;
        if s.len == 0 {
            return b"\0";
        }
        self.arena
            .get(start..start + s.len as usize + 1)
            .unwrap_or(b"\0")
    }

    /// Store the concatenation of `parts` (NUL-terminated) and return it;
    /// empty when it is longer than `max` or does not fit (every path
    /// derived from an empty one is empty too: nothing is looked up in a
    /// place nobody configured).
    fn store(&mut self, parts: &[Part<'_>], max: usize) -> Span {
        let len: usize = parts.iter().map(Part::len).sum();
        let start = self.used;
        if len == 0 || len > max || start + len + 1 > ARENA || start > u16::MAX as usize {
            return Span::default();
        }
        let mut w = start;
        for p in parts {
            match *p {
                Part::Bytes(b) => {
                    if let Some(dst) = self.arena.get_mut(w..w + b.len()) {
                        dst.copy_from_slice(b);
                    }
                }
                // Stored earlier, so wholly before `start`: a forward copy
                // within the arena, byte by byte (no temporary buffer).
                Part::Stored(sp) => {
                    for i in 0..sp.len as usize {
                        let c = self.arena.get(sp.off as usize + i).copied().unwrap_or(0);
                        if let Some(d) = self.arena.get_mut(w + i) {
                            *d = c;
                        }
                    }
                }
            }
            w += p.len();
        }
        if let Some(nul) = self.arena.get_mut(w) {
            *nul = 0;
        }
        self.used = w + 1;
        Span {
            off: start as u16,
            len: len as u16,
        }
    }

    /// `RAMPART_AGENT`.
    pub fn agent(&self) -> &[u8] {
        self.text(self.agent)
    }
    /// `RAMPART_SESSION`.
    pub fn session(&self) -> &[u8] {
        self.text(self.session)
    }
    /// The user's home directory.
    pub fn user_home(&self) -> &[u8] {
        self.text(self.user_home)
    }
    /// `~/.rampart` or `RAMPART_HOME`.
    pub fn rampart_home(&self) -> &[u8] {
        self.text(self.rampart_home)
    }
    /// The snapshot to map.
    pub fn snapshot_path(&self) -> &[u8] {
        self.text(self.snapshot_path)
    }
    /// [`Settings::snapshot_path`], NUL-terminated.
    pub fn snapshot_path_c(&self) -> &[u8] {
        self.text_c(self.snapshot_path)
    }
    /// The spool file records are appended to.
    pub fn spool_path(&self) -> &[u8] {
        self.text(self.spool_path)
    }
    /// [`Settings::spool_path`], NUL-terminated.
    pub fn spool_path_c(&self) -> &[u8] {
        self.text_c(self.spool_path)
    }
    /// The daemon's socket.
    pub fn socket_path(&self) -> &[u8] {
        self.text(self.socket_path)
    }
    /// This library's path.
    pub fn lib_path(&self) -> &[u8] {
        self.text(self.lib_path)
    }
    /// The preload variable's value at load (may list other libraries).
    pub fn preload_value(&self) -> &[u8] {
        self.text(self.preload_value)
    }

    /// The `NAME=value` entry `i` (without NUL).
    pub fn env_entry(&self, i: usize) -> &[u8] {
        match self.env_spans.get(i) {
            Some(&s) if i < self.env_count => self.text(s),
            _ => &[],
        }
    }

    /// Pointer to the NUL-terminated entry `i`.
    pub fn env_entry_ptr(&self, i: usize) -> *const c_char {
        match self.env_spans.get(i) {
            Some(&s) if i < self.env_count => self.text_c(s).as_ptr().cast(),
            _ => c"".as_ptr(),
        }
    }

    fn add_entry(&mut self, name: &[u8], value: Part<'_>) {
        if self.env_count >= self.env_spans.len() {
            return;
        }
        let span = self.store(&[Part::Bytes(name), Part::Bytes(b"="), value], ARENA);
        if let Some(slot) = self.env_spans.get_mut(self.env_count)
            && span.len > 0
        {
            *slot = span;
            self.env_count += 1;
        }
    }

    /// `base` + `suffix`, empty when `base` is.
    fn derive(&mut self, base: Span, suffix: &[u8], max: usize) -> Span {
        if base.len == 0 {
            return Span::default();
        }
        self.store(&[Part::Stored(base), Part::Bytes(suffix)], max)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide settings.
pub static SETTINGS: Global<Settings> = Global::new(Settings::new());

/// Access the captured settings.
pub fn get() -> &'static Settings {
    SETTINGS.get()
}

/// Inputs to [`capture`], separated from the process for tests.
pub struct Inputs<'a> {
    /// Look up an environment variable as it was at load.
    pub env: &'a dyn Fn(&[u8]) -> Option<&'a [u8]>,
    /// The home directory from the password database.
    pub passwd_home: Option<&'a [u8]>,
    /// This library's own path.
    pub lib_path: &'a [u8],
}

/// Fill `s` from `inp`.
pub fn capture(s: &mut Settings, inp: &Inputs<'_>) {
    let env = inp.env;
    let nonempty = |n: &[u8]| env(n).filter(|v| !v.is_empty());
    s.mode = nonempty(b"RAMPART_MODE").map_or(Mode::Enforce, Mode::parse);
    s.debug = nonempty(b"RAMPART_DEBUG").is_some_and(|v| v != b"0");
    s.fail_open = nonempty(b"RAMPART_FAIL_OPEN").is_some_and(|v| v != b"0");
    if let Some(t) = nonempty(b"RAMPART_ASK_TIMEOUT") {
        let mut secs: u64 = 0;
        let mut ok = true;
        for &c in t {
            if c.is_ascii_digit() {
                secs = secs.saturating_mul(10).saturating_add(u64::from(c - b'0'));
            } else {
                ok = false;
            }
        }
        if ok && secs > 0 {
            s.ask_timeout_ms = secs.saturating_mul(1000);
        }
    }
    s.used = 0;
    s.agent = s.store(
        &[Part::Bytes(nonempty(b"RAMPART_AGENT").unwrap_or(b""))],
        MAX_NAME,
    );
    s.session = s.store(
        &[Part::Bytes(nonempty(b"RAMPART_SESSION").unwrap_or(b""))],
        MAX_NAME,
    );
    let home = nonempty(b"RAMPART_USER_HOME")
        .or(inp.passwd_home.filter(|h| !h.is_empty()))
        .or(nonempty(b"HOME"))
        .unwrap_or(b"");
    s.user_home = s.store(&[Part::Bytes(home)], MAX_DIR);
    s.rampart_home = match nonempty(b"RAMPART_HOME") {
        Some(h) => s.store(&[Part::Bytes(h)], MAX_DIR),
        None => {
            let uh = s.user_home;
            s.derive(uh, b"/.rampart", MAX_DIR)
        }
    };
    let rh = s.rampart_home;
    s.snapshot_path = match nonempty(b"RAMPART_SNAPSHOT") {
        Some(p) => s.store(&[Part::Bytes(p)], MAX_PATH),
        None => s.derive(rh, b"/cache/policy.snap", MAX_PATH),
    };
    s.spool_path = s.derive(rh, b"/spool/current.jsonl", MAX_PATH);
    s.socket_path = s.derive(rh, b"/rampart.sock", MAX_PATH);
    s.lib_path = s.store(&[Part::Bytes(inp.lib_path)], MAX_DIR);
    if let Some(v) = env(PRELOAD_VAR) {
        s.preload_set = true;
        s.preload_value = s.store(&[Part::Bytes(v)], MAX_PRELOAD);
    }
    // What children get back.
    s.env_count = 0;
    let mode = s.mode.as_str().as_bytes();
    s.add_entry(b"RAMPART_MODE", Part::Bytes(mode));
    let uh = s.user_home;
    s.add_entry(b"RAMPART_USER_HOME", Part::Stored(uh));
    s.add_entry(b"RAMPART_HOME", Part::Stored(rh));
    for name in [
        b"RAMPART_AGENT".as_slice(),
        b"RAMPART_SESSION",
        b"RAMPART_SNAPSHOT",
        b"RAMPART_DEBUG",
        b"RAMPART_FAIL_OPEN",
        b"RAMPART_ASK_TIMEOUT",
    ] {
        if let Some(v) = env(name) {
            s.add_entry(name, Part::Bytes(v));
        }
    }
    s.loaded = true;
}

/// Test fixture: settings captured from `vars`, the password database's
/// home `passwd`, and the library at `/lib/librampart.so`.
#[cfg(test)]
pub(crate) fn captured(vars: &[(&str, &str)], passwd: Option<&str>) -> Box<Settings> {
    let vars: Vec<(Vec<u8>, Vec<u8>)> = vars
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    let lookup = |n: &[u8]| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_slice());
    let mut s = Box::new(Settings::new());
    capture(
        &mut s,
        &Inputs {
            env: &lookup,
            passwd_home: passwd.map(str::as_bytes),
            lib_path: b"/lib/librampart.so",
        },
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_modes_enforce() {
        assert_eq!(
            captured(&[("RAMPART_MODE", "bogus")], None).mode,
            Mode::Enforce
        );
        assert_eq!(
            captured(&[("RAMPART_MODE", "monitor")], None).mode,
            Mode::Monitor
        );
        assert_eq!(captured(&[], None).mode, Mode::Enforce);
    }

    #[test]
    fn paths_derive_from_the_password_database_home_before_home_env() {
        let s = captured(&[("HOME", "/tmp/fake")], Some("/home/real"));
        assert_eq!(s.user_home(), b"/home/real");
        assert_eq!(s.snapshot_path(), b"/home/real/.rampart/cache/policy.snap");
        assert_eq!(
            s.spool_path_c(),
            b"/home/real/.rampart/spool/current.jsonl\0"
        );
        let s = captured(
            &[("RAMPART_HOME", "/r"), ("RAMPART_SNAPSHOT", "/s.snap")],
            Some("/home/real"),
        );
        assert_eq!(s.snapshot_path(), b"/s.snap");
        assert_eq!(s.socket_path(), b"/r/rampart.sock");
    }

    #[test]
    fn a_home_too_long_to_hold_leaves_derived_paths_empty_not_rooted_elsewhere() {
        let long = format!("/{}", "h".repeat(MAX_DIR));
        let s = captured(&[("RAMPART_AGENT", "codex")], Some(&long));
        assert_eq!(s.user_home(), b"");
        assert_eq!(s.rampart_home(), b"");
        assert_eq!(s.snapshot_path(), b"");
        assert_eq!(s.snapshot_path_c(), b"\0");
        assert_eq!(s.spool_path(), b"");
        assert_eq!(s.socket_path(), b"");
        assert_eq!(s.agent(), b"codex");
        // The longest that fits is kept whole.
        let ok = format!("/{}", "h".repeat(MAX_DIR - 10 - "/.rampart".len()));
        let s = captured(&[], Some(&ok));
        assert_eq!(s.user_home(), ok.as_bytes());
        assert_eq!(s.rampart_home(), format!("{ok}/.rampart").as_bytes());
        assert!(s.spool_path().ends_with(b"/.rampart/spool/current.jsonl"));
    }

    #[test]
    fn every_string_sits_in_the_first_page_of_the_arena_for_ordinary_values() {
        let s = captured(
            &[
                ("RAMPART_AGENT", "codex"),
                ("RAMPART_SESSION", "s1"),
                ("LD_PRELOAD", "/home/u/.rampart/lib/librampart.so"),
            ],
            Some("/home/u"),
        );
        assert!(s.used < 1024, "{} bytes used", s.used);
        assert_eq!(s.preload_value(), b"/home/u/.rampart/lib/librampart.so");
        let entries: Vec<&[u8]> = (0..s.env_count).map(|i| s.env_entry(i)).collect();
        assert!(entries.contains(&b"RAMPART_HOME=/home/u/.rampart".as_slice()));
        // SAFETY: the pointer is to a NUL-terminated entry in `s`.
        let first = unsafe { crate::sys::cstr(s.env_entry_ptr(0)) };
        assert_eq!(first, entries[0]);
    }

    #[test]
    fn children_always_get_the_effective_mode() {
        let s = captured(&[("RAMPART_AGENT", "codex")], Some("/h"));
        let entries: Vec<&[u8]> = (0..s.env_count).map(|i| s.env_entry(i)).collect();
        assert!(
            entries.contains(&b"RAMPART_MODE=enforce".as_slice()),
            "{entries:?}"
        );
        assert!(entries.contains(&b"RAMPART_AGENT=codex".as_slice()));
        assert!(entries.contains(&b"RAMPART_USER_HOME=/h".as_slice()));
        assert!(!entries.iter().any(|e| e.starts_with(b"RAMPART_SNAPSHOT=")));
    }
}
