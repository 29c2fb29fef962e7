//! Globs → byte code (see [`crate::glob`]), with the checks that make a bad
//! pattern a load error instead of a surprise at match time.

use crate::glob::{
    ANY, CLASS, CLASS_NEGATED, GLOBSTAR, LIT, MAX_PATH_COMPONENTS, SEP, STAR, class_len,
};
use std::string::String;
use std::vec::Vec;

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN: usize = 4096;

/// Rewrite `$HOME`, `${HOME}` and the compiling user's home directory at the
/// start of a word to `~`, as the normaliser does for commands.
pub(crate) fn home_words(pat: &str, home: &str) -> String {
    let mut out = String::with_capacity(pat.len());
    for (i, word) in pat.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&home_prefix(word, home));
    }
    out
}

pub(crate) fn home_prefix(word: &str, home: &str) -> String {
    for prefix in [home, "$HOME", "${HOME}"] {
        if prefix.len() > 1
            && let Some(rest) = word.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return std::format!("~{rest}");
        }
    }
    word.into()
}

fn flush(out: &mut Vec<u8>, lit: &mut Vec<u8>) {
    for chunk in lit.chunks(255) {
        out.push(LIT);
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    lit.clear();
}

/// Parse a `[…]` class starting at `pat[i] == '['`. Returns the byte code
/// and the byte index after `]`. Members are characters (code points), so
/// `[é-ü]` is one range and a class always matches one whole character.
fn class(pat: &str, i: usize, fold: bool) -> Result<(Vec<u8>, usize), String> {
    const UNCLOSED: &str = "unclosed character class `[` (write `[[]` for a literal `[`)";
    let body = pat.get(i + 1..).ok_or(UNCLOSED)?;
    let mut chars = body.char_indices().peekable();
    let mut negated = false;
    if let Some(&(_, '!' | '^')) = chars.peek() {
        negated = true;
        chars.next();
    }
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut first = true;
    let end = loop {
        let Some((at, c)) = chars.next() else {
            return Err(UNCLOSED.into());
        };
        if c == ']' && !first {
            break i + 1 + at + 1;
        }
        first = false;
        let lo = if c == '\\' {
            chars.next().ok_or(UNCLOSED)?.1
        } else {
            c
        };
        let mut ahead = chars.clone();
        match (ahead.next(), ahead.next()) {
            (Some((_, '-')), Some((_, hi))) if hi != ']' => {
                chars.next();
                chars.next();
                if hi < lo {
                    return Err(std::format!(
                        "character class range `{lo}-{hi}` is reversed"
                    ));
                }
                ranges.push((lo as u32, hi as u32));
            }
            _ => ranges.push((lo as u32, lo as u32)),
        }
    };
    if fold {
        let mut extra = Vec::new();
        for &(lo, hi) in &ranges {
            let (l, h) = (lo.max(u32::from(b'A')), hi.min(u32::from(b'Z')));
            if l <= h {
                extra.push((l + 32, h + 32));
            }
        }
        ranges.extend(extra);
    }
    if ranges.len() > 255 {
        return Err("character class too large".into());
    }
    let mut out = std::vec![
        CLASS,
        if negated { CLASS_NEGATED } else { 0 },
        ranges.len() as u8
    ];
    for (lo, hi) in ranges {
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&hi.to_le_bytes());
    }
    Ok((out, end))
}

/// Tokenise a glob segment (no `/` handling). `fold` lowercases literals for
/// case-insensitive matching.
fn tokens(pat: &str, fold: bool, out: &mut Vec<u8>) -> Result<(), String> {
    let b = pat.as_bytes();
    let mut lit = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'*' => {
                flush(out, &mut lit);
                while b.get(i) == Some(&b'*') {
                    i += 1;
                }
                out.push(STAR);
            }
            b'?' => {
                flush(out, &mut lit);
                out.push(ANY);
                i += 1;
            }
            b'[' => {
                flush(out, &mut lit);
                let (code, next) = class(pat, i, fold)?;
                out.extend_from_slice(&code);
                i = next;
            }
            b'\\' if b.get(i + 1).is_some() => {
                let n = b[i + 1];
                lit.push(if fold { n.to_ascii_lowercase() } else { n });
                i += 2;
            }
            _ => {
                lit.push(if fold { c.to_ascii_lowercase() } else { c });
                i += 1;
            }
        }
    }
    flush(out, &mut lit);
    Ok(())
}

fn check_len(pat: &str) -> Result<(), String> {
    if pat.is_empty() {
        return Err("empty pattern (use `*` to match anything)".into());
    }
    if pat.len() > MAX_PATTERN {
        return Err(std::format!("pattern longer than {MAX_PATTERN} bytes"));
    }
    Ok(())
}

/// A command glob: whole-string, `*` crosses everything. Runs of spaces are
/// one space (segments are words joined by single spaces).
pub(crate) fn command(pat: &str, home: &str, fold: bool) -> Result<Vec<u8>, String> {
    check_len(pat)?;
    let mut squeezed = String::with_capacity(pat.len());
    for w in pat.split(' ').filter(|w| !w.is_empty()) {
        if !squeezed.is_empty() {
            squeezed.push(' ');
        }
        squeezed.push_str(w);
    }
    if squeezed.is_empty() {
        return Err("pattern is only spaces".into());
    }
    let pat = home_words(&squeezed, home);
    let mut out = Vec::new();
    tokens(&pat, fold, &mut out)?;
    Ok(out)
}

/// A path glob: `*`, `?` and classes stay within a component, `**` as a
/// whole component spans directories, `~/` and `$HOME/` mean home.
pub(crate) fn path(pat: &str, home: &str) -> Result<Vec<u8>, String> {
    check_len(pat)?;
    let pat = home_prefix(pat, home);
    let mut out = Vec::new();
    let comps: Vec<&str> = pat.split('/').collect();
    if comps.len() > MAX_PATH_COMPONENTS {
        return Err(std::format!(
            "path pattern has more than {MAX_PATH_COMPONENTS} components"
        ));
    }
    for (k, comp) in comps.iter().enumerate() {
        if k > 0 {
            out.push(SEP);
        }
        if *comp == "**" {
            out.push(GLOBSTAR);
        } else {
            tokens(comp, false, &mut out)?;
        }
    }
    // A trailing "/" means "this directory": drop the empty last component.
    if pat.len() > 1 && pat.ends_with('/') {
        out.pop();
    }
    Ok(out)
}

/// The longest literal run a glob requires (ASCII-lowercased), for the
/// rule index: any text the glob matches contains it.
pub(crate) fn longest_literal(toks: &[u8]) -> Vec<u8> {
    let mut best: Vec<u8> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut p = 0;
    while let Some(&op) = toks.get(p) {
        let size = match op {
            LIT => {
                let n = toks.get(p + 1).copied().unwrap_or(0) as usize;
                cur.extend(
                    toks.get(p + 2..p + 2 + n)
                        .unwrap_or(&[])
                        .iter()
                        .map(u8::to_ascii_lowercase),
                );
                2 + n
            }
            _ => {
                if cur.len() > best.len() {
                    best = std::mem::take(&mut cur);
                }
                cur.clear();
                match op {
                    CLASS => class_len(toks.get(p + 2).copied().unwrap_or(0) as usize),
                    _ => 1,
                }
            }
        };
        p += size;
    }
    if cur.len() > best.len() {
        best = cur;
    }
    best
}

/// The n-gram of `lit` to index a pattern by: the least common-looking
/// trigram (punctuation and digits are rarer in commands than letters and
/// spaces), or the bigram when `lit` has two bytes; `None` when shorter.
pub(crate) fn rarest_ngram(lit: &[u8]) -> Option<Vec<u8>> {
    match lit.len() {
        0 | 1 => None,
        2 => Some(lit.to_vec()),
        _ => {
            let weight = |c: u8| match c {
                b'a'..=b'z' => 0,
                b' ' => 1,
                _ => 2,
            };
            lit.windows(3)
                .enumerate()
                .max_by_key(|(i, w)| {
                    (
                        w.iter().map(|&c| weight(c)).sum::<u32>(),
                        std::cmp::Reverse(*i),
                    )
                })
                .map(|(_, w)| w.to_vec())
        }
    }
}

/// The program a command pattern can only match, when its first word is
/// literal (`git *` → `git`; `*rm*` → none).
pub(crate) fn program_key(toks: &[u8]) -> Option<Vec<u8>> {
    let mut key = Vec::new();
    let mut p = 0;
    while let Some(&op) = toks.get(p) {
        if op != LIT {
            return None; // a wildcard before the first space
        }
        let n = *toks.get(p + 1)? as usize;
        let lit = toks.get(p + 2..p + 2 + n)?;
        if let Some(sp) = lit.iter().position(|&c| c == b' ') {
            key.extend_from_slice(&lit[..sp]);
            return (!key.is_empty()).then_some(key);
        }
        key.extend_from_slice(lit);
        p += 2 + n;
    }
    (!key.is_empty()).then_some(key)
}

/// Does a command pattern span several segments (`curl * | bash`,
/// `make && make install`)? Only those may grant on the whole string.
pub(crate) fn is_composite(pat: &str) -> bool {
    ["|", ";", "&&", "$(", "`", "\n", " & "]
        .iter()
        .any(|op| pat.contains(op))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glob::{match_command, match_path};

    #[test]
    fn home_spellings_at_word_starts_become_tilde() {
        assert_eq!(
            home_words("rm -rf $HOME ${HOME}/x /home/u /home/uu", "/home/u"),
            "rm -rf ~ ~/x ~ /home/uu"
        );
    }

    #[test]
    fn classes_and_escapes_compile_and_match() {
        let t = command("ls [a-c]x \\*", "/h", false).unwrap();
        assert!(match_command(&t, b"ls bx *", false));
        assert!(!match_command(&t, b"ls dx *", false));
        let t = command("rm [!-]*", "/h", false).unwrap();
        assert!(match_command(&t, b"rm a", false));
        assert!(!match_command(&t, b"rm -f", false));
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(command("ls [abc", "/h", false).is_err());
        assert!(command("", "/h", false).is_err());
        assert!(command("   ", "/h", false).is_err());
        assert!(command("[z-a]", "/h", false).is_err());
        assert!(command(&"a".repeat(MAX_PATTERN + 1), "/h", false).is_err());
        assert!(path(&"a/".repeat(70), "/h").is_err());
    }

    #[test]
    fn spaces_are_squeezed() {
        let t = command("git   push  *", "/h", false).unwrap();
        assert!(match_command(&t, b"git push origin", false));
    }

    #[test]
    fn folded_patterns_are_lowercase() {
        let t = command("Bearer [A-Z]*", "/h", true).unwrap();
        assert!(match_command(&t, b"BEARER Xyz", true));
    }

    #[test]
    fn path_patterns_expand_home_and_respect_components() {
        let t = path("$HOME/.ssh/*", "/home/u").unwrap();
        assert!(match_path(&t, b"~/.ssh/id_rsa"));
        let t = path("/etc/", "/home/u").unwrap();
        assert!(match_path(&t, b"/etc"));
    }

    #[test]
    fn program_keys_are_literal_first_words() {
        let key = |p: &str| program_key(&command(p, "/h", false).unwrap());
        assert_eq!(key("git push *"), Some(b"git".to_vec()));
        assert_eq!(key("shred"), Some(b"shred".to_vec()));
        assert_eq!(key("python* -c *"), None);
        assert_eq!(key("* | bash"), None);
    }
}
