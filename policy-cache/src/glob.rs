//! Glob matching over pre-tokenised patterns.
//!
//! Patterns are compiled once (by the compiler, into the snapshot) to a small
//! byte code, and matched here straight from the mapping:
//!
//! | op | operands | meaning |
//! |---|---|---|
//! | `LIT` | `n: u8`, `n` bytes | literal run |
//! | `ANY` | | one character (a whole UTF-8 sequence) |
//! | `STAR` | | any run of bytes (in a path: not crossing `/`) |
//! | `CLASS` | `flags: u8`, `k: u8`, `k` × (`lo: u32`, `hi: u32`) | one character (a whole UTF-8 sequence) whose code point is in (or, negated, not in) the ranges |
//! | `SEP` | | path only: a `/` between components |
//! | `GLOBSTAR` | | path only: a whole `**` component, zero or more directories |
//!
//! `?`, `*` and classes all work on whole characters: `[é]` matches `é`,
//! `[a-z]` never matches half of one, and `[!/]` matches `é` as one character
//! (not as two bytes). A byte that does not start a valid UTF-8 sequence
//! (a stray continuation byte, a truncated or overlong sequence, a
//! surrogate) is a character no range contains: only a negated class
//! matches it, and it is as long as `?` takes it to be.
//!
//! Command globs match the whole string and `*` crosses everything. Matching
//! keeps one back-track point (the last `*`), so it never recurses and runs in
//! O(text × pattern) at worst, linear in the text for a given policy.
//!
//! Path globs match component by component: a set of live pattern positions
//! (a 64-bit mask, at most 63 components) is advanced once per path
//! component, so `**/a/**/b` cannot blow up either.

use crate::bytes::{at, sub, sub_len};

/// Literal run: `LIT n bytes…`.
pub const LIT: u8 = 1;
/// Any one character.
pub const ANY: u8 = 2;
/// Any run of characters.
pub const STAR: u8 = 3;
/// Character class: `CLASS flags k (lo hi)*k`.
pub const CLASS: u8 = 4;
/// Path component separator.
pub const SEP: u8 = 5;
/// `**` as a whole path component.
pub const GLOBSTAR: u8 = 6;

/// `CLASS` flag: the class is negated (`[!a]`).
pub const CLASS_NEGATED: u8 = 1;

/// Bytes per `CLASS` range: `lo` and `hi` code points, `u32` little-endian.
pub const CLASS_RANGE_LEN: usize = 8;

/// Length of a `CLASS` token with `k` ranges.
#[inline]
pub const fn class_len(k: usize) -> usize {
    3 + CLASS_RANGE_LEN * k
}

/// The code point of a byte sequence that is not valid UTF-8: in no range.
const NOT_A_CHAR: u32 = u32::MAX;

/// Most components a path pattern may have (one bit each in a `u64`, plus
/// the accepting state).
pub const MAX_PATH_COMPONENTS: usize = 63;

/// Length of the UTF-8 sequence starting with `lead` (1 for a stray
/// continuation byte, so `?` always makes progress).
#[inline]
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[inline]
fn lit_eq(text: &[u8], t: usize, lit: &[u8], fold: bool) -> bool {
    let seg = sub_len(text, t, lit.len());
    if seg.len() != lit.len() {
        return false;
    }
    if fold {
        seg.iter()
            .zip(lit)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    } else {
        seg == lit
    }
}

/// The character starting at `t`: its code point ([`NOT_A_CHAR`] when the
/// bytes are not valid UTF-8) and its length, which is always
/// [`char_len`] of the lead byte, as for `?`.
#[inline]
fn char_at(text: &[u8], t: usize) -> Option<(u32, usize)> {
    let lead = at(text, t)?;
    let n = char_len(lead);
    let (mut cp, min) = match (lead, n) {
        (0x00..=0x7F, _) => return Some((u32::from(lead), 1)),
        (0x80..=0xBF | 0xF8..=0xFF, _) => return Some((NOT_A_CHAR, 1)),
        (_, 2) => (u32::from(lead & 0x1F), 0x80),
        (_, 3) => (u32::from(lead & 0x0F), 0x800),
        _ => (u32::from(lead & 0x07), 0x1_0000),
    };
    let mut i = 1;
    while i < n {
        match at(text, t + i) {
            Some(c @ 0x80..=0xBF) => cp = (cp << 6) | u32::from(c & 0x3F),
            _ => return Some((NOT_A_CHAR, n)),
        }
        i += 1;
    }
    let valid = cp >= min && cp <= 0x10_FFFF && !(0xD800..=0xDFFF).contains(&cp);
    Some((if valid { cp } else { NOT_A_CHAR }, n))
}

#[inline]
fn class_match(ranges: &[u8], negated: bool, c: u32, fold: bool) -> bool {
    let c = match u8::try_from(c) {
        Ok(b) if fold => u32::from(b.to_ascii_lowercase()),
        _ => c,
    };
    let mut hit = false;
    for r in ranges.chunks_exact(CLASS_RANGE_LEN) {
        if let (Some(lo), Some(hi)) = (r.first_chunk::<4>(), r.last_chunk::<4>())
            && u32::from_le_bytes(*lo) <= c
            && c <= u32::from_le_bytes(*hi)
        {
            hit = true;
            break;
        }
    }
    hit != negated
}

/// Match a command glob (whole string). `fold` compares ASCII
/// case-insensitively; the pattern must then be lowercase already.
pub fn match_command(tokens: &[u8], text: &[u8], fold: bool) -> bool {
    let mut p = 0usize;
    let mut t = 0usize;
    // Back-track point: (token position after the star, text position).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(op) = at(tokens, p) {
            match op {
                STAR => {
                    // Collapse runs of stars; a trailing star matches the rest.
                    while at(tokens, p) == Some(STAR) {
                        p += 1;
                    }
                    if p >= tokens.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                LIT => {
                    let n = at(tokens, p + 1).unwrap_or(0) as usize;
                    let lit = sub_len(tokens, p + 2, n);
                    if lit_eq(text, t, lit, fold) {
                        p += 2 + n;
                        t += n;
                        continue;
                    }
                }
                ANY => {
                    if let Some(c) = at(text, t) {
                        t += char_len(c);
                        p += 1;
                        continue;
                    }
                }
                CLASS => {
                    let flags = at(tokens, p + 1).unwrap_or(0);
                    let k = at(tokens, p + 2).unwrap_or(0) as usize;
                    let ranges = sub_len(tokens, p + 3, CLASS_RANGE_LEN * k);
                    let ch = match at(text, t) {
                        Some(b @ 0..=0x7F) => Some((u32::from(b), 1)),
                        _ => char_at(text, t),
                    };
                    if let Some((c, n)) = ch
                        && class_match(ranges, flags & CLASS_NEGATED != 0, c, fold)
                    {
                        t += n;
                        p += class_len(k);
                        continue;
                    }
                }
                // SEP / GLOBSTAR / garbage never appear in a validated
                // command pattern; treat them as a mismatch.
                _ => {}
            }
        } else if t >= text.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more byte, skipping ahead
        // to the next place the following literal could start.
        let Some((sp, st)) = star else {
            return false;
        };
        let mut nt = st + 1;
        // A star consumes whole characters: it never stops inside a UTF-8
        // sequence (so `?` after it always starts on a character, and the
        // single back-track point stays exact).
        while matches!(at(text, nt), Some(0x80..=0xBF)) {
            nt += 1;
        }
        if nt > text.len() {
            return false;
        }
        if at(tokens, sp) == Some(LIT)
            && let Some(first) = at(tokens, sp + 2)
        {
            while let Some(c) = at(text, nt) {
                let c = if fold { c.to_ascii_lowercase() } else { c };
                if c == first {
                    break;
                }
                nt += 1;
            }
            if nt >= text.len() {
                return false;
            }
        }
        star = Some((sp, nt));
        p = sp;
        t = nt;
    }
}

/// Match one path component (no `/` inside) against one component pattern
/// (a token run without `SEP`). Same algorithm as [`match_command`].
#[inline]
fn match_component(tokens: &[u8], comp: &[u8]) -> bool {
    match_command(tokens, comp, false)
}

/// Match a path glob. `path` should already be normalised (see
/// [`crate::normalise::path`]); `*`, `?` and classes stay inside one
/// component, `**` spans any number of them, including none.
pub fn match_path(tokens: &[u8], path: &[u8]) -> bool {
    // Split the pattern into components once (offsets into `tokens`).
    let mut comps = [(0u32, 0u32, false); MAX_PATH_COMPONENTS];
    let mut n = 0usize;
    let mut p = 0usize;
    let mut start = 0usize;
    loop {
        let op = at(tokens, p);
        if op.is_none() || op == Some(SEP) {
            let Some(slot) = comps.get_mut(n) else {
                return false; // validated patterns never get here
            };
            let run = sub(tokens, start, p);
            *slot = (start as u32, p as u32, run == [GLOBSTAR]);
            n += 1;
            if op.is_none() {
                break;
            }
            p += 1;
            start = p;
            continue;
        }
        p += match op {
            Some(LIT) => 2 + at(tokens, p + 1).unwrap_or(0) as usize,
            Some(CLASS) => class_len(at(tokens, p + 2).unwrap_or(0) as usize),
            _ => 1,
        };
    }
    let comp_tokens = |i: usize| -> (&[u8], bool) {
        match comps.get(i) {
            Some(&(s, e, gs)) => (sub(tokens, s as usize, e as usize), gs),
            None => (&[], false),
        }
    };
    // Epsilon closure: a globstar may match zero components.
    let close = |mut set: u64| -> u64 {
        let mut i = 0;
        while i < n {
            if set & (1u64 << i) != 0 && comp_tokens(i).1 {
                set |= 1u64 << (i + 1);
            }
            i += 1;
        }
        set
    };
    let mut live = close(1);
    for comp in path.split(|&c| c == b'/') {
        let mut next = 0u64;
        let mut i = 0;
        while i < n {
            if live & (1u64 << i) != 0 {
                let (toks, gs) = comp_tokens(i);
                if gs {
                    next |= 1u64 << i;
                } else if match_component(toks, comp) {
                    next |= 1u64 << (i + 1);
                }
            }
            i += 1;
        }
        live = close(next);
        if live == 0 {
            return false;
        }
    }
    live & (1u64 << n) != 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A tiny tokeniser for tests of this module alone (the real one, with
    /// home handling and limits, is the compiler's).
    pub(crate) fn tok(pat: &str, path: bool) -> Vec<u8> {
        let b = pat.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        let mut lit: Vec<u8> = Vec::new();
        let flush = |out: &mut Vec<u8>, lit: &mut Vec<u8>| {
            for chunk in lit.chunks(255) {
                out.push(LIT);
                out.push(chunk.len() as u8);
                out.extend_from_slice(chunk);
            }
            lit.clear();
        };
        while i < b.len() {
            match b[i] {
                b'*' => {
                    flush(&mut out, &mut lit);
                    let mut j = i;
                    while j < b.len() && b[j] == b'*' {
                        j += 1;
                    }
                    let whole = path
                        && j - i >= 2
                        && (i == 0 || b[i - 1] == b'/')
                        && (j == b.len() || b[j] == b'/');
                    out.push(if whole { GLOBSTAR } else { STAR });
                    i = j;
                }
                b'?' => {
                    flush(&mut out, &mut lit);
                    out.push(ANY);
                    i += 1;
                }
                b'/' if path => {
                    flush(&mut out, &mut lit);
                    out.push(SEP);
                    i += 1;
                }
                c => {
                    lit.push(c);
                    i += 1;
                }
            }
        }
        flush(&mut out, &mut lit);
        out
    }

    fn cmd(p: &str, t: &str) -> bool {
        match_command(&tok(p, false), t.as_bytes(), false)
    }
    fn path(p: &str, t: &str) -> bool {
        match_path(&tok(p, true), t.as_bytes())
    }

    #[test]
    fn command_star_crosses_slashes_and_spaces() {
        assert!(cmd("dd if=* of=*", "dd if=/dev/zero of=/dev/sda"));
        assert!(cmd("rm -rf /*", "rm -rf /"));
        assert!(cmd("*", ""));
        assert!(!cmd("git *", "gitx status"));
        assert!(cmd("git *", "git "));
        assert!(!cmd("git", "git status"));
    }

    #[test]
    fn command_question_mark_takes_one_character() {
        assert!(cmd("a?c", "abc"));
        assert!(cmd("a?c", "aéc"));
        assert!(!cmd("a?c", "ac"));
    }

    #[test]
    fn a_star_never_splits_a_character() {
        // Regression (property tests): `*` could stop inside a UTF-8
        // sequence, letting `?` match single continuation bytes, and the
        // single back-track point then missed or invented matches.
        assert!(!cmd("??*??*?????", "aa𝄞aaaa")); // 7 characters, 9 needed
        assert!(cmd("?*?", "é€"));
        assert!(cmd("a*?b", "a𝄞b"));
        assert!(!cmd("a*??b", "a𝄞b"));
    }

    #[test]
    fn pathological_pattern_answers_quickly() {
        let text = "a".repeat(64 * 1024);
        assert!(!cmd("**a**b**", &text));
        assert!(cmd("*a*a*a*a*a*", &text));
        let mut t2 = text.clone();
        t2.push('b');
        assert!(cmd("**a**b**", &t2));
    }

    #[test]
    fn path_star_stops_at_slash_and_globstar_does_not() {
        assert!(path("/etc/*", "/etc/shadow"));
        assert!(!path("/etc/*", "/etc/ssl/x"));
        assert!(path("/etc/**", "/etc/ssl/x"));
        assert!(path("**/.env", ".env"));
        assert!(path("**/.env", "/home/u/p/.env"));
        assert!(!path("**/.env", "/home/u/p/.envrc"));
        assert!(path("~/.ssh/id_*", "~/.ssh/id_rsa"));
        assert!(path("a/**/b/**/c", "a/x/y/b/c"));
        assert!(!path("a/**/b/**/c", "a/x/y/c"));
    }

    /// `pre`, a class of `ranges`, then `post` (literals).
    fn with_class(pre: &str, negated: bool, ranges: &[(char, char)], post: &str) -> Vec<u8> {
        let mut t = tok(pre, false);
        t.extend([CLASS, u8::from(negated), ranges.len() as u8]);
        for &(lo, hi) in ranges {
            t.extend((lo as u32).to_le_bytes());
            t.extend((hi as u32).to_le_bytes());
        }
        t.extend(tok(post, false));
        t
    }

    #[test]
    fn a_class_matches_one_whole_character() {
        let e_acute = with_class("", false, &[('é', 'é')], "");
        assert!(match_command(&e_acute, "é".as_bytes(), false));
        assert!(!match_command(&e_acute, b"\xc3", false));
        let not_slash = with_class("a", true, &[('/', '/')], "b");
        assert!(match_command(&not_slash, "aéb".as_bytes(), false));
        assert!(match_command(&not_slash, "a𝄞b".as_bytes(), false));
        assert!(!match_command(&not_slash, b"a/b", false));
        let lower = with_class("", false, &[('a', 'z')], "");
        assert!(!match_command(&lower, "é".as_bytes(), false));
        let accents = with_class("", false, &[('à', 'ÿ')], "*");
        assert!(match_command(&accents, "ü-x".as_bytes(), false));
        assert!(!match_command(&accents, "€".as_bytes(), false));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_in_no_class() {
        let any_char = with_class("", false, &[('\0', char::MAX)], "");
        let not_a = with_class("", true, &[('a', 'a')], "");
        for bad in [
            &b"\xff"[..],
            b"\x80",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
        ] {
            assert!(!match_command(&any_char, bad, false), "{bad:?}");
            assert!(match_command(&not_a, bad, false), "{bad:?}");
        }
        // A truncated sequence is as long as `?` takes it to be.
        let tail = with_class("x", true, &[('a', 'a')], "");
        assert!(match_command(&tail, b"x\xe2", false));
        assert!(match_command(&tok("x?", false), b"x\xe2", false));
    }

    #[test]
    fn fold_compares_case_insensitively() {
        assert!(match_command(&tok("bearer *", false), b"Bearer abc", true));
        assert!(!match_command(
            &tok("bearer *", false),
            b"Bearer abc",
            false
        ));
    }
}
