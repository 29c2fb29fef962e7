//! The normaliser's working memory: one caller-supplied byte buffer.
//!
//! Text (words, NUL-terminated while normalising) grows up from the bottom;
//! segment descriptors grow down from the top. When the two would meet, the
//! normaliser stops and reports [`Failure::TooComplex`]: the caller denies,
//! it never truncates.

use crate::bytes::at;

/// Why a command could not be normalised. Each is decided as a deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The scratch buffer filled up (too many words, segments or copies).
    TooComplex,
    /// Shells, substitutions and wrappers nested deeper than
    /// [`super::MAX_DEPTH`].
    TooDeep,
}

impl Failure {
    /// A sentence for the block message.
    pub fn message(self) -> &'static str {
        match self {
            Failure::TooComplex => "command too complex to check",
            Failure::TooDeep => "command nests shells or substitutions too deeply to check",
        }
    }
}

/// Size of one segment descriptor: start, len, program length, names start,
/// names length (little-endian `u32` each).
pub(crate) const DESC: usize = 20;

/// Scratch space sufficient for an input of `input_len` bytes in all but
/// pathological cases (which then fail closed as `TooComplex`). A script of
/// very short commands (`ls\n` × 20 000) needs a 20-byte descriptor plus a
/// copy of the words per 3 input bytes: 16 bytes per input byte covers it.
pub const fn scratch_size(input_len: usize) -> usize {
    input_len.saturating_mul(16).saturating_add(2048)
}

pub(crate) struct Scratch<'a> {
    pub(crate) buf: &'a mut [u8],
    /// End of the text area.
    pub(crate) len: usize,
    /// Start of the descriptor area.
    pub(crate) top: usize,
    pub(crate) fail: Option<Failure>,
}

impl<'a> Scratch<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        let top = buf.len();
        Scratch {
            buf,
            len: 0,
            top,
            fail: None,
        }
    }

    #[inline]
    pub(crate) fn failed(&self) -> bool {
        self.fail.is_some()
    }

    #[inline]
    pub(crate) fn set_fail(&mut self, f: Failure) {
        if self.fail.is_none() {
            self.fail = Some(f);
        }
    }

    #[inline]
    pub(crate) fn byte(&self, i: usize) -> Option<u8> {
        at(self.buf, i)
    }

    #[inline]
    pub(crate) fn push(&mut self, c: u8) {
        if self.len < self.top
            && let Some(slot) = self.buf.get_mut(self.len)
        {
            *slot = c;
            self.len += 1;
            return;
        }
        self.set_fail(Failure::TooComplex);
    }

    pub(crate) fn push_bytes(&mut self, s: &[u8]) {
        for &c in s {
            self.push(c);
        }
    }

    /// Append a copy of `buf[start..end]` (which lies below `len`).
    pub(crate) fn push_copy(&mut self, start: usize, end: usize) {
        let n = end.saturating_sub(start);
        if end > self.len || self.len.saturating_add(n) > self.top {
            self.set_fail(Failure::TooComplex);
            return;
        }
        if let Some((lo, hi)) = self.buf.split_at_mut_checked(self.len)
            && let Some(src) = lo.get(start..end)
        {
            for (d, s) in hi.iter_mut().zip(src) {
                *d = *s;
            }
            self.len += n;
        } else {
            self.set_fail(Failure::TooComplex);
        }
    }

    /// Drop `n` bytes at `pos` from the text, shifting the rest down.
    pub(crate) fn remove(&mut self, pos: usize, n: usize) {
        let mut i = pos;
        while i + n < self.len {
            let c = self.byte(i + n).unwrap_or(0);
            if let Some(slot) = self.buf.get_mut(i) {
                *slot = c;
            }
            i += 1;
        }
        self.len = self.len.saturating_sub(n);
    }

    pub(crate) fn set(&mut self, i: usize, c: u8) {
        if let Some(slot) = self.buf.get_mut(i) {
            *slot = c;
        }
    }

    /// Record a segment (all offsets into the text area).
    pub(crate) fn push_desc(&mut self, fields: [usize; 5]) {
        if self.top < self.len + DESC {
            self.set_fail(Failure::TooComplex);
            return;
        }
        self.top -= DESC;
        for (k, v) in fields.iter().enumerate() {
            let bytes = (*v as u32).to_le_bytes();
            for (j, b) in bytes.iter().enumerate() {
                self.set(self.top + 4 * k + j, *b);
            }
        }
    }

    pub(crate) fn desc_count(&self) -> usize {
        (self.buf.len() - self.top) / DESC
    }
}
