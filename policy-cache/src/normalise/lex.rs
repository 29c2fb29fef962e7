//! Splitting a shell string into raw segments of dequoted words.
//!
//! Not a shell: it recognises what decides which programs run — command
//! separators, quoting, substitutions, here-documents, redirections — and
//! leaves the rest (expansions of variables, globs) as literal text.

use super::MAX_DEPTH;
use super::scratch::{Failure, Scratch};
use crate::bytes::sub;

/// What to do with a queued range of text once its segment is finished.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pending {
    /// Parse as a script: `$(…)`, backticks, `<(…)`, here-docs fed to a shell.
    Script,
    /// Only look for substitutions: an unquoted here-doc fed to another program.
    SubstOnly,
}

const MAX_PENDING: usize = 16;
const MAX_HEREDOCS: usize = 4;
pub(super) const SHELLS: [&[u8]; 7] = [b"sh", b"bash", b"dash", b"zsh", b"ksh", b"mksh", b"fish"];

struct Heredoc {
    delim: (usize, usize),
    strip_tabs: bool,
    quoted: bool,
    shell: bool,
}

/// Per-segment queue of nested scripts, parsed after the segment itself.
pub(super) struct Queue {
    items: [(usize, usize, Pending); MAX_PENDING],
    n: usize,
}

impl Queue {
    pub(super) fn new() -> Self {
        Queue {
            items: [(0, 0, Pending::Script); MAX_PENDING],
            n: 0,
        }
    }
}

pub(super) struct Parser<'p, 'a> {
    pub(super) s: &'p mut Scratch<'a>,
    pub(super) home: &'p [u8],
}

#[inline]
fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | 0)
}

/// Ends an unquoted word.
#[inline]
fn is_meta(c: u8) -> bool {
    is_blank(c) || matches!(c, b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>')
}

/// Rewrite a word starting with the home directory, `$HOME` or `${HOME}`
/// (followed by `/` or the end of the word) to start with `~`.
pub(super) fn home_to_tilde(s: &mut Scratch<'_>, w: usize, home: &[u8]) {
    let word = sub(s.buf, w, s.len);
    let mut cut = 0usize;
    for prefix in [home, b"$HOME".as_slice(), b"${HOME}".as_slice()] {
        if prefix.len() > 1
            && word.starts_with(prefix)
            && matches!(word.get(prefix.len()), None | Some(b'/'))
        {
            cut = prefix.len();
            break;
        }
    }
    if cut > 0 {
        s.set(w, b'~');
        s.remove(w + 1, cut - 1);
    }
}

/// In a whole shell string, rewrite home (the directory, `$HOME`,
/// `${HOME}`) at the start of every word to `~`, in place.
pub(super) fn raw_home_to_tilde(s: &mut Scratch<'_>, home: &[u8]) {
    let boundary = |c: Option<u8>| match c {
        None => true,
        Some(c) => is_meta(c) || matches!(c, b'/' | b'\'' | b'"' | b'`' | b'='),
    };
    let len = s.len;
    let mut r = 0usize;
    let mut w = 0usize;
    while r < len {
        let word_start = r == 0
            || s.byte(r - 1)
                .is_some_and(|c| is_meta(c) || matches!(c, b'\'' | b'"' | b'='));
        let mut cut = 0usize;
        if word_start {
            for prefix in [home, b"$HOME".as_slice(), b"${HOME}".as_slice()] {
                if prefix.len() > 1
                    && sub(s.buf, r, len).starts_with(prefix)
                    && boundary(s.byte(r + prefix.len()).filter(|_| r + prefix.len() < len))
                {
                    cut = prefix.len();
                    break;
                }
            }
        }
        if cut > 0 {
            s.set(w, b'~');
            w += 1;
            r += cut;
        } else {
            let c = s.byte(r).unwrap_or(0);
            s.set(w, c);
            w += 1;
            r += 1;
        }
    }
    s.len = w;
}

impl Parser<'_, '_> {
    #[inline]
    fn b(&self, i: usize) -> Option<u8> {
        self.s.byte(i)
    }

    fn enqueue(&mut self, q: &mut Queue, start: usize, end: usize, kind: Pending) {
        match q.items.get_mut(q.n) {
            Some(slot) => {
                *slot = (start, end, kind);
                q.n += 1;
            }
            None => self.s.set_fail(Failure::TooComplex),
        }
    }

    /// Parse `buf[start..end]` as a script: every simple command becomes a
    /// raw segment that is peeled into segments. `names` are variable names
    /// assigned by an enclosing segment (`FOO=1 bash -c '…'`).
    pub(super) fn parse_script(
        &mut self,
        start: usize,
        end: usize,
        depth: u8,
        names: (usize, usize),
    ) {
        if depth > MAX_DEPTH {
            self.s.set_fail(Failure::TooDeep);
            return;
        }
        let mut i = start;
        while i < end && !self.s.failed() {
            let seg_start = self.s.len;
            let mut q = Queue::new();
            let mut heredocs: [Option<Heredoc>; MAX_HEREDOCS] = [None, None, None, None];
            let mut nh = 0usize;
            // Lex one simple command.
            loop {
                if self.s.failed() {
                    return;
                }
                // Blanks and line continuations.
                while i < end {
                    match self.b(i) {
                        Some(c) if is_blank(c) => i += 1,
                        Some(b'\\') if self.b(i + 1) == Some(b'\n') => i += 2,
                        // A lone trailing backslash continues nothing.
                        Some(b'\\') if i + 1 >= end => i += 1,
                        _ => break,
                    }
                }
                let Some(c) = self.b(i).filter(|_| i < end) else {
                    break;
                };
                match c {
                    b'\n' => {
                        i += 1;
                        // Here-document bodies start on the next line.
                        for h in heredocs.iter_mut().take(nh) {
                            if let Some(h) = h.take() {
                                i = self.heredoc_body(i, end, &h, &mut q);
                            }
                        }
                        break;
                    }
                    b';' | b'(' | b')' => {
                        i += 1;
                        break;
                    }
                    b'&' if self.b(i + 1) == Some(b'>') => {
                        i = self.redirect(i, end, seg_start, &mut q, &mut heredocs, &mut nh);
                    }
                    b'&' | b'|' => {
                        i += 1;
                        if matches!(self.b(i), Some(b'&') | Some(b'|')) {
                            i += 1;
                        }
                        break;
                    }
                    b'#' => {
                        while i < end && self.b(i) != Some(b'\n') {
                            i += 1;
                        }
                    }
                    b'<' | b'>' => {
                        if self.b(i + 1) == Some(b'(') {
                            // Process substitution: a word of its own.
                            i = self.word(i, end, &mut q);
                        } else {
                            i = self.redirect(i, end, seg_start, &mut q, &mut heredocs, &mut nh);
                        }
                    }
                    b'0'..=b'9' if self.is_fd_redirect(i, end) => {
                        i = self.redirect(i, end, seg_start, &mut q, &mut heredocs, &mut nh);
                    }
                    _ => {
                        i = self.word(i, end, &mut q);
                    }
                }
            }
            let seg_end = self.s.len;
            if seg_end > seg_start {
                self.peel(seg_start, seg_end, depth, names);
            }
            for k in 0..q.n {
                let Some(&(ps, pe, kind)) = q.items.get(k) else {
                    break;
                };
                match kind {
                    Pending::Script => self.parse_script(ps, pe, depth + 1, (0, 0)),
                    Pending::SubstOnly => self.subst_only(ps, pe, depth + 1),
                }
            }
        }
    }

    /// `2>`, `10>&1`, `0<`: digits directly followed by a redirection.
    fn is_fd_redirect(&self, mut i: usize, end: usize) -> bool {
        while i < end && matches!(self.b(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        i < end && matches!(self.b(i), Some(b'<') | Some(b'>'))
    }

    /// Lex a redirection operator as a word of its own (`>`, `2>&1`, `<<-`),
    /// then handle what it introduces (here-docs, here-strings).
    fn redirect(
        &mut self,
        mut i: usize,
        end: usize,
        seg_start: usize,
        q: &mut Queue,
        heredocs: &mut [Option<Heredoc>; MAX_HEREDOCS],
        nh: &mut usize,
    ) -> usize {
        let op_start = self.s.len;
        while i < end && matches!(self.b(i), Some(b'0'..=b'9')) {
            self.s.push(self.b(i).unwrap_or(0));
            i += 1;
        }
        if self.b(i) == Some(b'&') {
            self.s.push(b'&');
            i += 1;
        }
        let mut heredoc = false;
        let mut strip_tabs = false;
        let mut herestring = false;
        match self.b(i) {
            Some(b'<') => {
                self.s.push(b'<');
                i += 1;
                match self.b(i) {
                    Some(b'<') => {
                        self.s.push(b'<');
                        i += 1;
                        if self.b(i) == Some(b'<') {
                            self.s.push(b'<');
                            i += 1;
                            herestring = true;
                        } else {
                            heredoc = true;
                            if self.b(i) == Some(b'-') {
                                self.s.push(b'-');
                                i += 1;
                                strip_tabs = true;
                            }
                        }
                    }
                    Some(c @ (b'>' | b'&')) => {
                        self.s.push(c);
                        i += 1;
                    }
                    _ => {}
                }
            }
            Some(b'>') => {
                self.s.push(b'>');
                i += 1;
                if let Some(c @ (b'>' | b'&' | b'|')) = self.b(i) {
                    self.s.push(c);
                    i += 1;
                }
            }
            _ => {}
        }
        // `>&2`, `<&-`: the duplicated descriptor belongs to the operator.
        if sub(self.s.buf, op_start, self.s.len).last() == Some(&b'&') {
            while i < end && matches!(self.b(i), Some(b'0'..=b'9' | b'-')) {
                self.s.push(self.b(i).unwrap_or(0));
                i += 1;
            }
        }
        self.s.push(0);
        if !(heredoc || herestring) {
            return i;
        }
        while i < end && matches!(self.b(i), Some(c) if is_blank(c)) {
            i += 1;
        }
        let w_start = self.s.len;
        let quoted = (i..end)
            .take_while(|&k| !self.b(k).is_some_and(is_meta))
            .any(|k| matches!(self.b(k), Some(b'\'' | b'"' | b'\\')));
        i = self.word(i, end, q);
        let w_end = self.s.len.saturating_sub(1);
        let shell = self.segment_runs_shell(seg_start, op_start);
        if herestring {
            if shell {
                self.enqueue(q, w_start, w_end, Pending::Script);
            }
        } else if let Some(slot) = heredocs.get_mut(*nh) {
            *slot = Some(Heredoc {
                delim: (w_start, w_end),
                strip_tabs,
                quoted,
                shell,
            });
            *nh += 1;
        } else {
            self.s.set_fail(Failure::TooComplex);
        }
        i
    }

    /// Does a word of the segment so far name a shell (`bash <<EOF`)?
    fn segment_runs_shell(&self, seg_start: usize, seg_end: usize) -> bool {
        sub(self.s.buf, seg_start, seg_end)
            .split(|&c| c == 0)
            .any(|w| SHELLS.contains(&crate::bytes::basename(w)))
    }

    /// Consume a here-document body starting at `i`; queue what must be
    /// looked into. Returns the position after the delimiter line.
    fn heredoc_body(&mut self, mut i: usize, end: usize, h: &Heredoc, q: &mut Queue) -> usize {
        let body_start = i;
        let mut body_end = end;
        while i < end {
            let mut line_end = i;
            while line_end < end && self.b(line_end) != Some(b'\n') {
                line_end += 1;
            }
            let mut ls = i;
            if h.strip_tabs {
                while ls < line_end && self.b(ls) == Some(b'\t') {
                    ls += 1;
                }
            }
            let line = sub(self.s.buf, ls, line_end);
            let delim = sub(self.s.buf, h.delim.0, h.delim.1);
            if line == delim {
                body_end = i;
                i = (line_end + 1).min(end);
                break;
            }
            i = (line_end + 1).min(end);
            if line_end >= end {
                break;
            }
        }
        if h.shell {
            self.enqueue(q, body_start, body_end, Pending::Script);
        } else if !h.quoted {
            self.enqueue(q, body_start, body_end, Pending::SubstOnly);
        }
        i
    }

    /// Find `$(…)` and backticks in text that is otherwise data.
    fn subst_only(&mut self, start: usize, end: usize, depth: u8) {
        let mut i = start;
        while i < end && !self.s.failed() {
            match (self.b(i), self.b(i + 1), self.b(i + 2)) {
                (Some(b'\\'), _, _) => i += 2,
                (Some(b'$'), Some(b'('), Some(b'(')) => i = self.skip_parens(i + 3, end, 2),
                (Some(b'$'), Some(b'('), _) => {
                    let (close, body_end) = self.skip_parens_body(i + 2, end, 1);
                    self.parse_script(i + 2, body_end, depth, (0, 0));
                    i = close;
                }
                (Some(b'`'), _, _) => {
                    let (close, body_end) = self.skip_backtick_body(i + 1, end);
                    self.parse_script(i + 1, body_end, depth, (0, 0));
                    i = close;
                }
                _ => i += 1,
            }
        }
    }

    /// From just inside `depth` open parentheses, return the position just
    /// past the one that closes them (or `end`). Quote-aware.
    fn skip_parens(&self, i: usize, end: usize, depth: u32) -> usize {
        self.skip_parens_body(i, end, depth).0
    }

    /// Like [`Self::skip_parens`], also returning where the body ends (before
    /// the closing parenthesis, or `end` when there is none).
    fn skip_parens_body(&self, mut i: usize, end: usize, mut depth: u32) -> (usize, usize) {
        while i < end {
            match self.b(i) {
                Some(b'\\') => i += 2,
                Some(b'\'') => {
                    i += 1;
                    while i < end && self.b(i) != Some(b'\'') {
                        i += 1;
                    }
                    i += 1;
                }
                Some(b'"') => {
                    i += 1;
                    while i < end && self.b(i) != Some(b'"') {
                        if self.b(i) == Some(b'\\') {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                Some(b'`') => i = self.skip_backtick(i + 1, end),
                Some(b'(') => {
                    depth += 1;
                    i += 1;
                }
                Some(b')') => {
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        return (i, i - 1);
                    }
                }
                _ => i += 1,
            }
        }
        (end, end)
    }

    /// From just inside a backtick, the position just past its closing one.
    fn skip_backtick(&self, i: usize, end: usize) -> usize {
        self.skip_backtick_body(i, end).0
    }

    /// Position past the closing backtick, and where the body ends.
    fn skip_backtick_body(&self, mut i: usize, end: usize) -> (usize, usize) {
        while i < end {
            match self.b(i) {
                Some(b'\\') => i += 2,
                Some(b'`') => return (i + 1, i),
                _ => i += 1,
            }
        }
        (end, end)
    }

    /// Lex one word starting at `i`; append it dequoted and NUL-terminated.
    /// Substitutions inside it are queued and kept as literal text.
    fn word(&mut self, mut i: usize, end: usize, q: &mut Queue) -> usize {
        let w = self.s.len;
        // A process substitution opens the word.
        if matches!(self.b(i), Some(b'<' | b'>')) && self.b(i + 1) == Some(b'(') {
            let (close, body_end) = self.skip_parens_body(i + 2, end, 1);
            self.enqueue(q, i + 2, body_end, Pending::Script);
            self.s.push_copy(i, close);
            i = close;
        }
        while i < end && !self.s.failed() {
            let Some(c) = self.b(i) else { break };
            if is_meta(c) {
                break;
            }
            match c {
                b'\\' => {
                    match self.b(i + 1) {
                        Some(b'\n') => {}
                        Some(n) if i + 1 < end => self.s.push(n),
                        _ => {}
                    }
                    i += 2;
                }
                b'\'' => {
                    i += 1;
                    while i < end && self.b(i) != Some(b'\'') {
                        self.s.push(self.b(i).unwrap_or(0));
                        i += 1;
                    }
                    i += 1;
                }
                b'"' => i = self.dquoted(i + 1, end, q, b'"'),
                b'$' => i = self.dollar(i, end, q),
                b'`' => {
                    let (close, body_end) = self.skip_backtick_body(i + 1, end);
                    self.enqueue(q, i + 1, body_end, Pending::Script);
                    self.s.push_copy(i, close);
                    i = close;
                }
                _ => {
                    self.s.push(c);
                    i += 1;
                }
            }
        }
        home_to_tilde(self.s, w, self.home);
        self.s.push(0);
        i.min(end)
    }

    /// Inside double quotes (or `${…}` when `close` is `}`): only `\`, `$`
    /// and backticks are special. Returns the position after the closing
    /// character.
    fn dquoted(&mut self, mut i: usize, end: usize, q: &mut Queue, close: u8) -> usize {
        let mut braces = 0u32;
        while i < end && !self.s.failed() {
            let Some(c) = self.b(i) else { break };
            if c == close && braces == 0 {
                return i + 1;
            }
            match c {
                b'\\' => {
                    match self.b(i + 1) {
                        Some(b'\n') => {}
                        Some(n @ (b'$' | b'`' | b'"' | b'\\')) => self.s.push(n),
                        Some(n) => {
                            self.s.push(b'\\');
                            self.s.push(n);
                        }
                        None => {}
                    }
                    i += 2;
                }
                b'$' => i = self.dollar(i, end, q),
                b'`' => {
                    let (close_at, body_end) = self.skip_backtick_body(i + 1, end);
                    self.enqueue(q, i + 1, body_end, Pending::Script);
                    self.s.push_copy(i, close_at);
                    i = close_at;
                }
                b'"' if close == b'}' => i = self.dquoted(i + 1, end, q, b'"'),
                b'{' if close == b'}' => {
                    braces += 1;
                    self.s.push(c);
                    i += 1;
                }
                b'}' => {
                    braces = braces.saturating_sub(1);
                    self.s.push(c);
                    i += 1;
                }
                _ => {
                    self.s.push(c);
                    i += 1;
                }
            }
        }
        end
    }

    /// `$(…)`, `$((…))`, `${…}`, `$'…'`, `$"…"` or a plain `$`.
    fn dollar(&mut self, i: usize, end: usize, q: &mut Queue) -> usize {
        match (self.b(i + 1), self.b(i + 2)) {
            (Some(b'('), Some(b'(')) => {
                let close = self.skip_parens(i + 3, end, 2);
                self.s.push_copy(i, close);
                close
            }
            (Some(b'('), _) => {
                let (close, body_end) = self.skip_parens_body(i + 2, end, 1);
                self.enqueue(q, i + 2, body_end, Pending::Script);
                self.s.push_copy(i, close);
                close
            }
            (Some(b'{'), _) => {
                self.s.push(b'$');
                self.s.push(b'{');
                let after = self.dquoted(i + 2, end, q, b'}');
                self.s.push(b'}');
                after
            }
            (Some(b'\''), _) => self.ansi_c(i + 2, end),
            (Some(b'"'), _) => self.dquoted(i + 2, end, q, b'"'),
            _ => {
                self.s.push(b'$');
                i + 1
            }
        }
    }

    /// `$'…'`: backslash escapes decoded (`\n`, `\t`, `\xHH`, `\NNN`, `\'`).
    fn ansi_c(&mut self, mut i: usize, end: usize) -> usize {
        let hex = |c: u8| -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        };
        while i < end {
            match self.b(i) {
                Some(b'\'') => return i + 1,
                Some(b'\\') => {
                    let n = self.b(i + 1).unwrap_or(0);
                    i += 2;
                    match n {
                        b'n' => self.s.push(b'\n'),
                        b't' => self.s.push(b'\t'),
                        b'r' => self.s.push(b'\r'),
                        b'a' => self.s.push(7),
                        b'e' | b'E' => self.s.push(0x1b),
                        b'x' => {
                            let mut v = 0u8;
                            let mut k = 0;
                            while k < 2 {
                                match self.b(i).and_then(hex) {
                                    Some(d) => {
                                        v = v.wrapping_mul(16).wrapping_add(d);
                                        i += 1;
                                    }
                                    None => break,
                                }
                                k += 1;
                            }
                            if v != 0 {
                                self.s.push(v);
                            }
                        }
                        b'0'..=b'7' => {
                            let mut v = n - b'0';
                            let mut k = 0;
                            while k < 2 {
                                match self.b(i) {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v.wrapping_mul(8).wrapping_add(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                                k += 1;
                            }
                            if v != 0 {
                                self.s.push(v);
                            }
                        }
                        other => self.s.push(other),
                    }
                }
                Some(c) => {
                    self.s.push(c);
                    i += 1;
                }
                None => break,
            }
        }
        end
    }
}
