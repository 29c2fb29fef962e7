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

/// Everything captured at load.
pub struct Settings {
    /// The constructor ran.
    pub loaded: bool,
    /// `RAMPART_MODE`.
    pub mode: Mode,
    /// `RAMPART_DEBUG`: one line per decision on stderr.
    pub debug: bool,
    /// `RAMPART_FAIL_OPEN`: allow an `ask` when the daemon is unreachable.
    pub fail_open: bool,
    /// `RAMPART_ASK_TIMEOUT` (seconds), in milliseconds.
    pub ask_timeout_ms: u64,
    /// `RAMPART_AGENT`.
    pub agent: Fixed<256>,
    /// `RAMPART_SESSION`.
    pub session: Fixed<256>,
    /// The user's home directory.
    pub user_home: Fixed<1024>,
    /// `~/.rampart` or `RAMPART_HOME`.
    pub rampart_home: Fixed<1024>,
    /// The snapshot to map.
    pub snapshot_path: Fixed<1100>,
    /// The spool file records are appended to.
    pub spool_path: Fixed<1100>,
    /// The daemon's socket.
    pub socket_path: Fixed<1100>,
    /// This library's path.
    pub lib_path: Fixed<1024>,
    /// The preload variable's value at load (may list other libraries).
    pub preload_value: Fixed<4096>,
    /// Whether the preload variable was set at load.
    pub preload_set: bool,
    /// `NAME=value` entries for children, each NUL-terminated.
    pub env_entries: Fixed<8192>,
    /// Start offsets of the entries in `env_entries`.
    pub env_offsets: [u16; CONTROLLED.len()],
    /// Number of entries.
    pub env_count: usize,
}

impl Settings {
    /// Defaults before load.
    pub const fn new() -> Self {
        Settings {
            loaded: false,
            mode: Mode::Enforce,
            debug: false,
            fail_open: false,
            ask_timeout_ms: 300_000,
            agent: Fixed::new(),
            session: Fixed::new(),
            user_home: Fixed::new(),
            rampart_home: Fixed::new(),
            snapshot_path: Fixed::new(),
            spool_path: Fixed::new(),
            socket_path: Fixed::new(),
            lib_path: Fixed::new(),
            preload_value: Fixed::new(),
            preload_set: false,
            env_entries: Fixed::new(),
            env_offsets: [0; CONTROLLED.len()],
            env_count: 0,
        }
    }

    /// The `NAME=value` entry `i` (without NUL).
    pub fn env_entry(&self, i: usize) -> &[u8] {
        let all = self.env_entries.bytes();
        let start = self.env_offsets.get(i).copied().unwrap_or(0) as usize;
        let rest = all.get(start..).unwrap_or(&[]);
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        rest.get(..end).unwrap_or(&[])
    }

    /// Pointer to the NUL-terminated entry `i`.
    pub fn env_entry_ptr(&self, i: usize) -> *const c_char {
        let start = self.env_offsets.get(i).copied().unwrap_or(0) as usize;
        match self.env_entries.bytes().get(start..) {
            Some(s) => s.as_ptr().cast(),
            None => c"".as_ptr(),
        }
    }

    fn add_entry(&mut self, name: &[u8], value: &[u8]) {
        let start = self.env_entries.bytes().len();
        let Some(slot) = self.env_offsets.get_mut(self.env_count) else {
            return;
        };
        if start > u16::MAX as usize {
            return;
        }
        // Entries are separated by their NUL terminators (pushed as content).
        let fits = start + name.len() + 1 + value.len() + 2 <= self.env_entries.buf.len();
        if fits
            && self.env_entries.push(name)
            && self.env_entries.push(b"=")
            && self.env_entries.push(value)
            && self.env_entries.push(b"\0")
        {
            *slot = start as u16;
            self.env_count += 1;
        }
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
    s.agent.set(nonempty(b"RAMPART_AGENT").unwrap_or(b""));
    s.session.set(nonempty(b"RAMPART_SESSION").unwrap_or(b""));
    let home = nonempty(b"RAMPART_USER_HOME")
        .or(inp.passwd_home.filter(|h| !h.is_empty()))
        .or(nonempty(b"HOME"))
        .unwrap_or(b"");
    s.user_home.set(home);
    match nonempty(b"RAMPART_HOME") {
        Some(h) => s.rampart_home.set(h),
        None => {
            s.rampart_home.set(home);
            s.rampart_home.push(b"/.rampart");
        }
    }
    match nonempty(b"RAMPART_SNAPSHOT") {
        Some(p) => s.snapshot_path.set(p),
        None => {
            s.snapshot_path.set(s.rampart_home.bytes());
            s.snapshot_path.push(b"/cache/policy.snap");
        }
    }
    s.spool_path.set(s.rampart_home.bytes());
    s.spool_path.push(b"/spool/current.jsonl");
    s.socket_path.set(s.rampart_home.bytes());
    s.socket_path.push(b"/rampart.sock");
    s.lib_path.set(inp.lib_path);
    if let Some(v) = env(PRELOAD_VAR) {
        s.preload_set = true;
        s.preload_value.set(v);
    }
    // What children get back.
    s.env_count = 0;
    let mode = s.mode.as_str().as_bytes();
    s.add_entry(b"RAMPART_MODE", mode);
    let uh = s.user_home;
    s.add_entry(b"RAMPART_USER_HOME", uh.bytes());
    let rh = s.rampart_home;
    s.add_entry(b"RAMPART_HOME", rh.bytes());
    for name in [
        b"RAMPART_AGENT".as_slice(),
        b"RAMPART_SESSION",
        b"RAMPART_SNAPSHOT",
        b"RAMPART_DEBUG",
        b"RAMPART_FAIL_OPEN",
        b"RAMPART_ASK_TIMEOUT",
    ] {
        if let Some(v) = env(name) {
            s.add_entry(name, v);
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
        assert_eq!(s.user_home.bytes(), b"/home/real");
        assert_eq!(
            s.snapshot_path.bytes(),
            b"/home/real/.rampart/cache/policy.snap"
        );
        assert_eq!(
            s.spool_path.c_bytes(),
            b"/home/real/.rampart/spool/current.jsonl\0"
        );
        let s = captured(
            &[("RAMPART_HOME", "/r"), ("RAMPART_SNAPSHOT", "/s.snap")],
            Some("/home/real"),
        );
        assert_eq!(s.snapshot_path.bytes(), b"/s.snap");
        assert_eq!(s.socket_path.bytes(), b"/r/rampart.sock");
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
