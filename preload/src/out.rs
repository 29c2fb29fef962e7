//! A bounded writer over a byte buffer: numbers, JSON strings, and the
//! truncation the audit record and messages need. Never panics; text past
//! the end is dropped and `overflowed` says so.

/// Writer into a fixed buffer.
pub struct Out<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Something did not fit.
    pub overflowed: bool,
}

impl<'a> Out<'a> {
    /// Wrap `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Out {
            buf,
            len: 0,
            overflowed: false,
        }
    }
    /// Bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Nothing written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Room left.
    pub fn room(&self) -> usize {
        self.buf.len() - self.len
    }
    /// One byte.
    pub fn byte(&mut self, c: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = c;
                self.len += 1;
            }
            None => self.overflowed = true,
        }
    }
    /// Raw bytes.
    pub fn bytes(&mut self, s: &[u8]) {
        for &c in s {
            self.byte(c);
        }
    }
    /// Unsigned decimal.
    pub fn u64(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            if let Some(slot) = tmp.get_mut(i) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        self.bytes(tmp.get(i..).unwrap_or(&[]));
    }
    /// Signed decimal.
    pub fn i64(&mut self, v: i64) {
        if v < 0 {
            self.byte(b'-');
        }
        self.u64(v.unsigned_abs());
    }
    /// Zero-padded decimal of `width` digits.
    pub fn padded(&mut self, v: u64, width: usize) {
        let mut digits = 1;
        let mut x = v;
        while x >= 10 {
            x /= 10;
            digits += 1;
        }
        for _ in digits..width {
            self.byte(b'0');
        }
        self.u64(v);
    }
    /// Lowercase hex of `b`.
    pub fn hex(&mut self, b: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &c in b {
            self.byte(HEX.get(usize::from(c >> 4)).copied().unwrap_or(b'0'));
            self.byte(HEX.get(usize::from(c & 15)).copied().unwrap_or(b'0'));
        }
    }
    /// The body of a JSON string (no quotes): escapes, and invalid UTF-8 as
    /// U+FFFD. Stops before `max` output bytes; returns whether all of `s`
    /// was written.
    pub fn json_str(&mut self, s: &[u8], max: usize) -> bool {
        let limit = self.len.saturating_add(max);
        for chunk in s.utf8_chunks() {
            for ch in chunk.valid().chars() {
                let mut enc = [0u8; 12];
                let piece: &[u8] = match ch {
                    '"' => b"\\\"",
                    '\\' => b"\\\\",
                    '\n' => b"\\n",
                    '\r' => b"\\r",
                    '\t' => b"\\t",
                    c if (c as u32) < 0x20 || c == '\u{7f}' => {
                        let v = c as u32;
                        enc = *b"\\u0000\0\0\0\0\0\0";
                        const HEX: &[u8; 16] = b"0123456789abcdef";
                        if let Some(s) = enc.get_mut(4) {
                            *s = HEX.get(((v >> 4) & 15) as usize).copied().unwrap_or(b'0');
                        }
                        if let Some(s) = enc.get_mut(5) {
                            *s = HEX.get((v & 15) as usize).copied().unwrap_or(b'0');
                        }
                        enc.get(..6).unwrap_or(&[])
                    }
                    c => c.encode_utf8(&mut enc).as_bytes(),
                };
                if self.len + piece.len() > limit {
                    return false;
                }
                self.bytes(piece);
            }
            if !chunk.invalid().is_empty() {
                if self.len + 3 > limit {
                    return false;
                }
                self.bytes("\u{fffd}".as_bytes());
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_and_invalid_utf8_replaced() {
        let mut b = [0u8; 64];
        let mut o = Out::new(&mut b);
        assert!(o.json_str(b"a\"b\\c\n\x01\xff", 64));
        assert_eq!(o.as_bytes(), "a\\\"b\\\\c\\n\\u0001\u{fffd}".as_bytes());
    }

    #[test]
    fn json_strings_stop_at_the_limit_on_a_character_boundary() {
        let mut b = [0u8; 64];
        let mut o = Out::new(&mut b);
        assert!(!o.json_str("ééé".as_bytes(), 5));
        assert_eq!(o.as_bytes(), "éé".as_bytes());
    }

    #[test]
    fn numbers_and_overflow() {
        let mut b = [0u8; 8];
        let mut o = Out::new(&mut b);
        o.u64(0);
        o.i64(-42);
        o.padded(7, 3);
        assert_eq!(o.as_bytes(), b"0-42007");
        o.bytes(b"xyz");
        assert!(o.overflowed);
    }
}
