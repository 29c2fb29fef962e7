//! CRC-32C (Castagnoli), slicing-by-8 with tables built at compile time:
//! the snapshot header's integrity check, computed by every process that
//! loads a snapshot, in `no_std` and without allocation. Eight bytes per
//! step instead of one. CRC-32C rather than zlib's CRC-32 because x86-64
//! (SSE4.2) and AArch64 compute it in hardware: the library uses that
//! (`preload/src/crc.rs`); this is the portable definition both must match.

const TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0x82F6_3B78 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xFF) as usize];
            i += 1;
        }
        s += 1;
    }
    t
};

/// CRC-32C (iSCSI, Castagnoli) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    // Every index below is masked to 0..=255 into 256-entry tables, and the
    // table numbers are constants: the compiler proves them in bounds.
    let [t0, t1, t2, t3, t4, t5, t6, t7] = &TABLES;
    let mut c = 0xFFFF_FFFFu32;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(ch) {
            *d = *s;
        }
        let v = u64::from_le_bytes(w);
        let lo = (v as u32) ^ c;
        let hi = (v >> 32) as u32;
        c = t7[(lo & 0xFF) as usize]
            ^ t6[((lo >> 8) & 0xFF) as usize]
            ^ t5[((lo >> 16) & 0xFF) as usize]
            ^ t4[(lo >> 24) as usize]
            ^ t3[(hi & 0xFF) as usize]
            ^ t2[((hi >> 8) & 0xFF) as usize]
            ^ t1[((hi >> 16) & 0xFF) as usize]
            ^ t0[(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t0[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xE306_9283);
        assert_eq!(super::crc32(b""), 0);
    }

    #[test]
    fn slicing_agrees_with_the_bitwise_definition_at_every_length() {
        fn bitwise(d: &[u8]) -> u32 {
            let mut c = 0xFFFF_FFFFu32;
            for &b in d {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0x82F6_3B78 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            c ^ 0xFFFF_FFFF
        }
        let data: std::vec::Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for n in 0..data.len() {
            assert_eq!(super::crc32(&data[..n]), bitwise(&data[..n]), "length {n}");
        }
    }
}
