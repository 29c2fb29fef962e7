//! From what the library sees to what a policy matches: argv or shell string
//! in, a list of **segments** out (POLICY.md, "What a command is").
//!
//! ```
//! use policy_cache::normalise::{normalise_shell, scratch_size};
//! let cmd = b"FOO=1 sudo bash -c 'cd /tmp && rm -r -f ~' | tee log";
//! let mut scratch = vec![0u8; scratch_size(cmd.len())];
//! let n = normalise_shell(cmd, b"/home/me", &mut scratch).unwrap();
//! let segs: Vec<_> = n.segments().map(|u| String::from_utf8_lossy(u.text).into_owned()).collect();
//! assert_eq!(segs, ["sudo bash -c cd /tmp && rm -r -f ~", "cd /tmp", "rm -r -f ~", "rm -rf ~", "tee log"]);
//! ```
//!
//! Everything happens in one caller-supplied buffer (stack or anonymous
//! mapping in the library), in time linear in the input for a bounded
//! nesting depth, and with no allocation.

mod find;
mod lex;
mod peel;
mod scratch;

use scratch::{DESC, Scratch};
pub use scratch::{Failure, scratch_size};

use crate::bytes::{at, sub, sub_len};

/// Deepest nesting of `sh -c`, `$(…)`, `eval`, `find -exec` … that is
/// followed; a chain of privilege wrappers (`sudo doas sudo …`) counts one
/// level per wrapper. Deeper input is denied, not guessed at.
pub const MAX_DEPTH: u8 = 8;

/// An argument vector as the library sees it (C `argv`), or as tests build
/// it. Implemented for slices of byte slices.
pub trait Argv {
    /// Number of arguments.
    fn count(&self) -> usize;
    /// Argument `i`, without its NUL terminator.
    fn arg(&self, i: usize) -> &[u8];
}

impl Argv for [&[u8]] {
    fn count(&self) -> usize {
        self.len()
    }
    fn arg(&self, i: usize) -> &[u8] {
        self.get(i).copied().unwrap_or(&[])
    }
}

impl<const N: usize> Argv for [&[u8]; N] {
    fn count(&self) -> usize {
        N
    }
    fn arg(&self, i: usize) -> &[u8] {
        self.get(i).copied().unwrap_or(&[])
    }
}

/// One thing a pattern is matched against: a segment, or the raw command.
#[derive(Clone, Copy, Debug)]
pub struct Unit<'s> {
    /// Words joined by single spaces (for the raw unit: the command as given,
    /// or argv joined by spaces).
    pub text: &'s [u8],
    /// The program word (basename of the first word).
    pub prog: &'s [u8],
    /// Names of environment variables this segment assigns, space-separated.
    pub names: &'s [u8],
}

/// The result of normalising one command.
#[derive(Debug)]
pub struct Normalised<'s> {
    buf: &'s [u8],
    raw_len: usize,
    segs: usize,
}

impl<'s> Normalised<'s> {
    /// The command as a whole (for composite patterns such as `curl * | bash`).
    pub fn raw(&self) -> Unit<'s> {
        let text = sub(self.buf, 0, self.raw_len);
        let prog_end = text.iter().position(|&c| c == b' ').unwrap_or(text.len());
        Unit {
            text,
            prog: sub(text, 0, prog_end),
            names: &[],
        }
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segs
    }

    /// Segment `i`, in the order they were found.
    pub fn segment(&self, i: usize) -> Unit<'s> {
        let field = |k: usize| -> usize {
            let off = self.buf.len().saturating_sub((i + 1) * DESC) + 4 * k;
            crate::bytes::u32_at(self.buf, off) as usize
        };
        let text = sub_len(self.buf, field(0), field(1));
        let prog = sub(text, 0, field(2));
        let names = sub_len(self.buf, field(3), field(4));
        Unit { text, prog, names }
    }

    /// All segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = Unit<'s>> + '_ {
        (0..self.segs).map(move |i| self.segment(i))
    }
}

/// Normalise a shell string (what `system`, `popen` and `sh -c` run).
///
/// `home` is the user's home directory: at the start of a word it, `$HOME`
/// and `${HOME}` are all rewritten to `~`, which is also how the compiler
/// writes home in patterns.
pub fn normalise_shell<'s>(
    script: &[u8],
    home: &[u8],
    scratch: &'s mut [u8],
) -> Result<Normalised<'s>, Failure> {
    let mut s = Scratch::new(scratch);
    s.push_bytes(script);
    // The whole string is matched too (composite patterns): home is `~`
    // there as well.
    lex::raw_home_to_tilde(&mut s, home);
    let raw_len = s.len;
    if !s.failed() {
        let mut p = lex::Parser { s: &mut s, home };
        p.parse_script(0, raw_len, 0, (0, 0));
    }
    finish(s, raw_len)
}

/// Normalise an argument vector (what `execve` and `posix_spawn` get).
pub fn normalise_argv<'s, A: Argv + ?Sized>(
    argv: &A,
    home: &[u8],
    scratch: &'s mut [u8],
) -> Result<Normalised<'s>, Failure> {
    let mut s = Scratch::new(scratch);
    let n = argv.count();
    for i in 0..n {
        let w = s.len;
        s.push_bytes(argv.arg(i));
        lex::home_to_tilde(&mut s, w, home);
        s.push(0);
    }
    let end = s.len;
    if !s.failed() && end > 0 {
        let mut p = lex::Parser { s: &mut s, home };
        p.peel(0, end, 0, (0, 0));
    }
    finish(s, end.saturating_sub(1))
}

fn finish(s: Scratch<'_>, raw_len: usize) -> Result<Normalised<'_>, Failure> {
    if let Some(f) = s.fail {
        return Err(f);
    }
    // Words were NUL-terminated while normalising; a segment is matched as
    // its words joined by single spaces.
    let len = s.len;
    if let Some(text) = s.buf.get_mut(..len) {
        for c in text.iter_mut() {
            if *c == 0 {
                *c = b' ';
            }
        }
    }
    let segs = s.desc_count();
    let buf: &[u8] = s.buf;
    Ok(Normalised { buf, raw_len, segs })
}

/// Lexically normalise a path for path globs: home → `~`, `//` and `/./`
/// collapsed, `..` resolved, trailing `/` dropped. Writes into `out` and
/// returns the normalised path, or `None` when `out` is too small.
pub fn path<'o>(p: &[u8], home: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut len = 0usize;
    let put = |out: &mut [u8], c: u8, len: &mut usize| -> bool {
        match out.get_mut(*len) {
            Some(slot) => {
                *slot = c;
                *len += 1;
                true
            }
            None => false,
        }
    };
    let mut rest = p;
    if home.len() > 1 && p.starts_with(home) && matches!(at(p, home.len()), None | Some(b'/')) {
        if !put(out, b'~', &mut len) {
            return None;
        }
        rest = sub(p, home.len(), p.len());
    } else if let Some(r) = p
        .strip_prefix(b"$HOME")
        .or_else(|| p.strip_prefix(b"${HOME}"))
        && matches!(r.first(), None | Some(b'/'))
    {
        if !put(out, b'~', &mut len) {
            return None;
        }
        rest = r;
    } else if p.first() == Some(&b'/') && !put(out, b'/', &mut len) {
        return None;
    }
    let base = len; // components are never popped below this
    // A component needs a `/` before it unless it starts the path or
    // follows the root `/`.
    let needs_sep =
        |out: &[u8], len: usize| len > base || (base > 0 && out.get(base - 1) != Some(&b'/'));
    for comp in rest.split(|&c| c == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                let cur = out.get(base..len).unwrap_or(&[]);
                let last_start = cur.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
                let last = sub(cur, last_start, cur.len());
                if !cur.is_empty() && last != b".." {
                    // "a/b" → "a"; "a" → "".
                    len = if last_start == 0 {
                        base
                    } else {
                        base + last_start - 1
                    };
                } else if cur.is_empty() && base > 0 && out.first() == Some(&b'/') {
                    // "/.." is "/".
                } else {
                    if needs_sep(out, len) && !put(out, b'/', &mut len) {
                        return None;
                    }
                    for &c in b".." {
                        if !put(out, c, &mut len) {
                            return None;
                        }
                    }
                }
            }
            _ => {
                if needs_sep(out, len) && !put(out, b'/', &mut len) {
                    return None;
                }
                for &c in comp {
                    if !put(out, c, &mut len) {
                        return None;
                    }
                }
            }
        }
    }
    out.get(..len)
}

#[cfg(test)]
mod tests;
