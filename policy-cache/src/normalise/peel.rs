//! Peeling wrappers off a raw segment, and the derived segments
//! (privilege wrappers' inner commands, canonical `rm`; `find`'s actions
//! are in `find.rs`).

use super::MAX_DEPTH;
use super::lex::{Parser, SHELLS};
use super::scratch::Failure;
use crate::bytes::{basename, sub};

/// Is `w` a `NAME=value` (or `NAME+=value`) assignment? Returns the name.
pub(crate) fn assignment_name(w: &[u8]) -> Option<&[u8]> {
    let first = *w.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    let eq = w.iter().position(|&c| c == b'=')?;
    let name = sub(w, 0, eq);
    let name = name.strip_suffix(b"+").unwrap_or(name);
    if name.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_') {
        Some(name)
    } else {
        None
    }
}

/// Words that are shell syntax, not programs: skipped at the start of a
/// segment (`then rm -rf /` is `rm -rf /`).
const KEYWORDS: [&[u8]; 15] = [
    b"then", b"do", b"else", b"elif", b"if", b"while", b"until", b"!", b"{", b"}", b"done", b"fi",
    b"esac", b"time", b"coproc",
];

/// Wrappers and how many of their leading words are options (and which of
/// those take a value).
enum Wrapper {
    /// No options worth knowing: `nohup`, `builtin`, `busybox`.
    Plain,
    /// Options, some taking a separate value (`-n 5`); then the command.
    Opts(&'static [&'static [u8]]),
    /// Options, then one positional argument (`timeout 5 cmd`), then the command.
    OptsThenArg(&'static [&'static [u8]]),
}

fn wrapper(prog: &[u8]) -> Option<Wrapper> {
    Some(match prog {
        b"nohup" | b"builtin" | b"busybox" | b"noglob" | b"nocorrect" | b"unbuffer" => {
            Wrapper::Plain
        }
        b"command" => Wrapper::Opts(&[]),
        b"exec" => Wrapper::Opts(&[b"-a"]),
        b"nice" => Wrapper::Opts(&[b"-n", b"--adjustment"]),
        b"ionice" => Wrapper::Opts(&[
            b"-c",
            b"-n",
            b"-p",
            b"-P",
            b"-u",
            b"--class",
            b"--classdata",
        ]),
        b"setsid" => Wrapper::Opts(&[]),
        b"stdbuf" => Wrapper::Opts(&[b"-i", b"-o", b"-e"]),
        b"timeout" => Wrapper::OptsThenArg(&[b"-s", b"-k", b"--signal", b"--kill-after"]),
        b"xargs" => Wrapper::Opts(&[
            b"-I",
            b"-n",
            b"-P",
            b"-d",
            b"-E",
            b"-L",
            b"-s",
            b"-a",
            b"--arg-file",
            b"--delimiter",
            b"--max-args",
            b"--max-procs",
            b"--max-lines",
            b"--max-chars",
            b"--eof",
            b"--replace",
            b"--process-slot-var",
        ]),
        b"chrt" => Wrapper::OptsThenArg(&[]),
        b"taskset" => Wrapper::OptsThenArg(&[]),
        _ => return None,
    })
}

/// Privilege wrappers: options that take a separate value.
fn privilege_opts(prog: &[u8]) -> Option<&'static [&'static [u8]]> {
    Some(match prog {
        b"sudo" => &[
            b"-u",
            b"-g",
            b"-C",
            b"-D",
            b"-h",
            b"-p",
            b"-r",
            b"-t",
            b"-T",
            b"-U",
            b"--user",
            b"--group",
            b"--chdir",
            b"--host",
            b"--prompt",
            b"--role",
            b"--type",
            b"--command-timeout",
            b"--other-user",
            b"--close-from",
        ],
        b"doas" => &[b"-u", b"-C"],
        b"pkexec" => &[b"--user"],
        b"run0" => &[
            b"-u",
            b"--user",
            b"--unit",
            b"--property",
            b"-D",
            b"--chdir",
        ],
        _ => return None,
    })
}

impl Parser<'_, '_> {
    /// The word at `s` in the NUL-separated region ending at `e`:
    /// `(start, end)` without the terminator.
    pub(super) fn word_at(&self, s: usize, e: usize) -> Option<(usize, usize)> {
        if s >= e {
            return None;
        }
        let mut k = s;
        while k < e && self.s.byte(k) != Some(0) {
            k += 1;
        }
        Some((s, k))
    }

    pub(super) fn text(&self, w: (usize, usize)) -> &[u8] {
        sub(self.s.buf, w.0, w.1)
    }

    /// Do the option words in `[s, e)` include xargs' `-a FILE` /
    /// `--arg-file`?
    fn reads_arg_file(&self, mut s: usize, e: usize) -> bool {
        while let Some(w) = self.word_at(s, e) {
            let t = self.text(w);
            if t.starts_with(b"--arg-file") || (t.starts_with(b"-a") && !t.starts_with(b"--")) {
                return true;
            }
            s = w.1 + 1;
        }
        false
    }

    /// Skip options of a wrapper starting at word `s`; returns the position
    /// of the first non-option word. `with_value` lists options whose value
    /// is the next word (unless written `--opt=value` or `-nVALUE`).
    fn skip_opts(&self, mut s: usize, e: usize, with_value: &[&[u8]]) -> usize {
        while let Some(w) = self.word_at(s, e) {
            let t = self.text(w);
            if t == b"--" {
                return w.1 + 1;
            }
            if t.first() != Some(&b'-') || t.len() < 2 {
                return s;
            }
            s = w.1 + 1;
            if with_value.contains(&t)
                && let Some(v) = self.word_at(s, e)
            {
                s = v.1 + 1;
            }
        }
        s
    }

    /// Peel the raw segment `[s, e)` (NUL-terminated words) and emit its
    /// segments. `inherit` are names assigned by an enclosing segment.
    pub(super) fn peel(&mut self, mut s: usize, e: usize, depth: u8, inherit: (usize, usize)) {
        if depth > MAX_DEPTH {
            self.s.set_fail(Failure::TooDeep);
            return;
        }
        // This segment's assigned names: inherited ones first.
        let names_start = self.s.len;
        self.s.push_copy(inherit.0, inherit.0 + inherit.1);
        let first = s;
        let mut saw_program = false;
        let mut privileged = 0u8;
        // A wrapper with nothing after it (`env`, `nohup`) is the program.
        let mut last_wrapper: Option<(usize, usize)> = None;
        while let Some(w) = self.word_at(s, e) {
            if self.s.failed() {
                return;
            }
            let t = self.text(w);
            let next = w.1 + 1;
            if let Some(name) = assignment_name(t) {
                let name = (w.0, w.0 + name.len());
                self.push_name(name);
                s = next;
                continue;
            }
            let prog = basename(t);
            if KEYWORDS.contains(&prog) && !saw_program {
                s = next;
                if prog == b"time" {
                    s = self.skip_opts(s, e, &[]);
                }
                continue;
            }
            saw_program = true;
            let names = (names_start, self.s.len - names_start);
            if prog == b"env" {
                last_wrapper = Some(w);
                s = self.peel_env(next, e, names_start);
                continue;
            }
            if let Some(wr) = wrapper(prog) {
                last_wrapper = Some(w);
                s = match wr {
                    Wrapper::Plain => next,
                    Wrapper::Opts(v) => self.skip_opts(next, e, v),
                    Wrapper::OptsThenArg(v) => {
                        let a = self.skip_opts(next, e, v);
                        self.word_at(a, e).map_or(e, |w| w.1 + 1)
                    }
                };
                // `xargs -a FILE cmd` reads FILE into cmd's arguments: the
                // wrapper stays visible, as a privilege wrapper does, so
                // that rules about FILE still see it.
                if prog == b"xargs" && self.reads_arg_file(next, s) {
                    self.emit(w, e, names, depth);
                }
                // `command -v x` and `xargs` with no command run nothing new.
                continue;
            }
            if SHELLS.contains(&prog) {
                self.peel_shell(w, next, e, depth, names);
                return;
            }
            if let Some(opts) = privilege_opts(prog) {
                // Each wrapper's segment runs to the end of the region, so a
                // chain of them (`sudo sudo … ls`) costs the matcher the
                // square of its length: count the chain as nesting.
                privileged += 1;
                if depth.saturating_add(privileged) > MAX_DEPTH {
                    self.s.set_fail(Failure::TooDeep);
                    return;
                }
                // The wrapper stays visible; the command inside is a segment too.
                self.emit(w, e, names, depth);
                let inner = self.skip_opts(next, e, opts);
                if self.word_at(inner, e).is_none() {
                    return;
                }
                s = inner;
                continue;
            }
            match prog {
                b"su" => {
                    self.emit(w, e, names, depth);
                    self.peel_su(next, e, depth, names);
                    return;
                }
                b"eval" => {
                    self.emit(w, e, names, depth);
                    if next < e {
                        self.parse_script(next, e, depth + 1, names);
                    }
                    return;
                }
                b"export" | b"declare" | b"typeset" | b"local" | b"readonly" | b"unset" => {
                    let mut k = next;
                    while let Some(a) = self.word_at(k, e) {
                        let at = self.text(a);
                        if at.first() != Some(&b'-') {
                            let n = assignment_name(at).map_or(at.len(), <[u8]>::len);
                            self.push_name((a.0, a.0 + n));
                        }
                        k = a.1 + 1;
                    }
                    let names = (names_start, self.s.len - names_start);
                    self.emit(w, e, names, depth);
                    return;
                }
                _ => {
                    self.emit(w, e, names, depth);
                    return;
                }
            }
        }
        if let Some(w) = last_wrapper {
            let names = (names_start, self.s.len - names_start);
            self.emit(w, e, names, depth);
            return;
        }
        // Only assignments (`LD_PRELOAD=x`): a segment of its own, so that
        // patterns and `command_env_assignments` still see it.
        if !saw_program && let Some(w) = self.word_at(first, e) {
            let names = (names_start, self.s.len - names_start);
            if names.1 > 0 {
                self.emit(w, e, names, depth);
            }
        }
    }

    fn push_name(&mut self, w: (usize, usize)) {
        self.s.push_copy(w.0, w.1);
        self.s.push(0);
    }

    /// `env [-i] [-u NAME] [-C DIR] [-S STRING] [NAME=value…] cmd`.
    fn peel_env(&mut self, mut s: usize, e: usize, _names_start: usize) -> usize {
        while let Some(w) = self.word_at(s, e) {
            let t = self.text(w);
            let next = w.1 + 1;
            match t {
                b"--" => return next,
                b"-u" | b"--unset" => {
                    if let Some(v) = self.word_at(next, e) {
                        self.push_name(v);
                        s = v.1 + 1;
                    } else {
                        s = next;
                    }
                }
                b"-C" | b"--chdir" => s = self.word_at(next, e).map_or(next, |v| v.1 + 1),
                b"-S" | b"--split-string" => {
                    // The string is split into words that start the command:
                    // the rest of the region, re-lexed, is what runs.
                    return next;
                }
                _ if t.starts_with(b"--unset=") => {
                    self.push_name((w.0 + 8, w.1));
                    s = next;
                }
                _ if t.starts_with(b"-u") && t.len() > 2 => {
                    self.push_name((w.0 + 2, w.1));
                    s = next;
                }
                _ if t.first() == Some(&b'-') && t.len() > 1 => s = next,
                _ => {
                    if let Some(name) = assignment_name(t) {
                        let n = (w.0, w.0 + name.len());
                        self.push_name(n);
                        s = next;
                    } else {
                        return s;
                    }
                }
            }
        }
        s
    }

    /// `bash [opts] -c SCRIPT [name args…]`: the script replaces the segment.
    /// Without `-c` (`bash script.sh`) the segment stays as it is.
    fn peel_shell(
        &mut self,
        w: (usize, usize),
        mut s: usize,
        e: usize,
        depth: u8,
        names: (usize, usize),
    ) {
        let mut has_c = false;
        while let Some(o) = self.word_at(s, e) {
            let t = self.text(o);
            if t == b"--" || t == b"-" {
                s = o.1 + 1;
                break;
            }
            let is_opt = matches!(t.first(), Some(b'-' | b'+')) && t.len() > 1;
            if !is_opt {
                break;
            }
            s = o.1 + 1;
            if t.starts_with(b"--") {
                if matches!(t, b"--rcfile" | b"--init-file") {
                    s = self.word_at(s, e).map_or(s, |v| v.1 + 1);
                }
                continue;
            }
            if t.contains(&b'c') {
                has_c = true;
            }
            if matches!(t, b"-o" | b"+o" | b"-O" | b"+O") {
                s = self.word_at(s, e).map_or(s, |v| v.1 + 1);
            }
        }
        match self.word_at(s, e) {
            Some(script) if has_c => {
                self.parse_script(script.0, script.1, depth + 1, names);
                // Words after the script (`$0 $1…`, or the shell's own
                // redirections: `bash -c 'ls' > ~/.bash_history`) are in no
                // segment of the script: the shell stays visible too.
                if self.word_at(script.1 + 1, e).is_some() {
                    self.emit(w, e, names, depth);
                }
            }
            _ => self.emit(w, e, names, depth),
        }
    }

    /// `su [opts] [-c CMD | --command=CMD] [user]`.
    fn peel_su(&mut self, mut s: usize, e: usize, depth: u8, names: (usize, usize)) {
        while let Some(w) = self.word_at(s, e) {
            let t = self.text(w);
            let next = w.1 + 1;
            if t == b"-c" || t == b"--command" {
                if let Some(c) = self.word_at(next, e) {
                    self.parse_script(c.0, c.1, depth + 1, names);
                }
                return;
            }
            if let Some(rest) = t.strip_prefix(b"--command=") {
                let start = w.1 - rest.len();
                self.parse_script(start, w.1, depth + 1, names);
                return;
            }
            s = next;
        }
    }

    /// Record a segment starting at program word `w` and running to the end
    /// of the region, then its derived segments.
    fn emit(&mut self, w: (usize, usize), e: usize, names: (usize, usize), depth: u8) {
        let t = self.text(w);
        let prog_start = w.1 - basename(t).len();
        let (is_rm, is_find) = (basename(t) == b"rm", basename(t) == b"find");
        let end = e.saturating_sub(1).max(prog_start);
        self.s.push_desc([
            prog_start,
            end - prog_start,
            w.1 - prog_start,
            names.0,
            names.1,
        ]);
        if is_rm {
            self.canonical_rm(w.1 + 1, e, names);
        } else if is_find {
            self.find_actions(w.1 + 1, e, names, depth);
        }
    }

    /// `rm` with any spelling of recursive (and force) flags is also seen as
    /// `rm -rf <operands>`. Recursive without force counts too: an agent has
    /// no terminal to answer rm's prompts, so `-r` deletes what `-rf` would.
    fn canonical_rm(&mut self, mut s: usize, e: usize, names: (usize, usize)) {
        let mut recursive = false;
        let mut flags = 0usize;
        let mut exact = true;
        let mut ends_opts = false;
        let mut k = s;
        while let Some(w) = self.word_at(k, e) {
            let t = self.text(w);
            if !ends_opts && t == b"--" {
                ends_opts = true;
                exact = false;
            } else if !ends_opts && t.first() == Some(&b'-') && t.len() > 1 {
                flags += 1;
                if t != b"-rf" {
                    exact = false;
                }
                if t == b"--recursive"
                    || (!t.starts_with(b"--") && t.iter().any(|&c| c == b'r' || c == b'R'))
                {
                    recursive = true;
                }
            }
            k = w.1 + 1;
        }
        if !recursive || (exact && flags == 1) {
            return;
        }
        let start = self.s.len;
        self.s.push_bytes(b"rm\0-rf");
        let mut ends_opts = false;
        while let Some(w) = self.word_at(s, e) {
            let t = self.text(w);
            let is_flag = !ends_opts && t.first() == Some(&b'-') && t.len() > 1;
            if !ends_opts && t == b"--" {
                ends_opts = true;
            } else if !is_flag {
                self.s.push(0);
                self.s.push_copy(w.0, w.1);
            }
            s = w.1 + 1;
        }
        let end = self.s.len;
        self.s.push(0);
        self.s.push_desc([start, end - start, 2, names.0, names.1]);
    }
}
