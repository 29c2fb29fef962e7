//! Panic-free byte access.
//!
//! The library links this crate with a panic handler that refers to an
//! undefined symbol, so any reachable panic fails the link. Everything the
//! hot path does with slices goes through these helpers, which return an
//! empty slice or zero instead of panicking on a bad range.

/// `b[start..end]`, or empty when the range is out of bounds or reversed.
#[inline]
pub(crate) fn sub(b: &[u8], start: usize, end: usize) -> &[u8] {
    b.get(start..end).unwrap_or(&[])
}

/// `b[start..start + len]`, or empty when out of bounds.
#[inline]
pub(crate) fn sub_len(b: &[u8], start: usize, len: usize) -> &[u8] {
    match start.checked_add(len) {
        Some(end) => sub(b, start, end),
        None => &[],
    }
}

/// `b[i]`, or `None` past the end.
#[inline]
pub(crate) fn at(b: &[u8], i: usize) -> Option<u8> {
    b.get(i).copied()
}

/// Little-endian `u32` at `off`, or 0 when out of bounds.
#[inline]
pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    match off.checked_add(4).and_then(|end| b.get(off..end)) {
        Some(s) => match <[u8; 4]>::try_from(s) {
            Ok(a) => u32::from_le_bytes(a),
            Err(_) => 0,
        },
        None => 0,
    }
}

/// Little-endian `u64` at `off`, or 0 when out of bounds.
#[inline]
pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    match off.checked_add(8).and_then(|end| b.get(off..end)) {
        Some(s) => match <[u8; 8]>::try_from(s) {
            Ok(a) => u64::from_le_bytes(a),
            Err(_) => 0,
        },
        None => 0,
    }
}

/// ASCII case-insensitive equality.
#[inline]
pub(crate) fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Does `hay` contain `needle`, ignoring ASCII case? `needle` must already be
/// lowercase (the compiler stores it that way).
pub(crate) fn contains_ci(hay: &[u8], needle_lower: &[u8]) -> bool {
    let Some(&first) = needle_lower.first() else {
        return true;
    };
    if needle_lower.len() > hay.len() {
        return false;
    }
    let last_start = hay.len() - needle_lower.len();
    let mut i = 0;
    while i <= last_start {
        if at(hay, i).map(|c| c.to_ascii_lowercase()) == Some(first)
            && sub_len(hay, i, needle_lower.len())
                .iter()
                .zip(needle_lower)
                .all(|(h, n)| h.to_ascii_lowercase() == *n)
        {
            return true;
        }
        i += 1;
    }
    false
}

/// The part of `word` after its last `/` (`/usr/bin/rm` → `rm`).
#[inline]
pub(crate) fn basename(word: &[u8]) -> &[u8] {
    match word.iter().rposition(|&c| c == b'/') {
        Some(p) => sub(word, p + 1, word.len()),
        None => word,
    }
}

/// FNV-1a, 64-bit: the program-name filter's hash.
#[inline]
pub(crate) fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The bit a program name sets in a rule's 64-bit program filter.
#[inline]
pub(crate) fn program_bit(prog: &[u8]) -> u64 {
    1u64 << (fnv1a(prog) & 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_access_is_empty_not_a_panic() {
        assert_eq!(sub(b"abc", 2, 10), b"");
        assert_eq!(sub(b"abc", 3, 1), b"");
        assert_eq!(sub_len(b"abc", usize::MAX, 2), b"");
        assert_eq!(u32_at(b"abc", 0), 0);
        assert_eq!(u32_at(&[1, 0, 0, 0], 0), 1);
        assert_eq!(at(b"", 0), None);
    }

    #[test]
    fn contains_ci_ignores_case_of_the_haystack() {
        assert!(contains_ci(b"CURL http://x", b"curl "));
        assert!(!contains_ci(b"cur", b"curl"));
        assert!(contains_ci(b"anything", b""));
    }

    #[test]
    fn basename_strips_directories() {
        assert_eq!(basename(b"/usr/bin/rm"), b"rm");
        assert_eq!(basename(b"rm"), b"rm");
        assert_eq!(basename(b"/usr/bin/"), b"");
    }
}
