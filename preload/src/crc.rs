//! CRC-32C for the snapshot's integrity check: the CPU's `crc32`
//! instruction (SSE4.2, detected once in the constructor) when it has one,
//! else the portable slicing-by-8 of `policy_cache::crc32`. Both compute
//! the same function (a unit test checks).

use core::sync::atomic::{AtomicBool, Ordering};

static HARDWARE: AtomicBool = AtomicBool::new(false);

/// Detect the instruction (constructor only).
pub fn detect() {
    #[cfg(target_arch = "x86_64")]
    {
        // CPUID leaf 1, ECX bit 20: SSE4.2.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID is available on every x86-64 processor.
        let r = unsafe { core::arch::x86_64::__cpuid(1) };
        HARDWARE.store(r.ecx & (1 << 20) != 0, Ordering::Relaxed);
    }
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if HARDWARE.load(Ordering::Relaxed) {
        // SAFETY: `detect` saw SSE4.2, which `sse42` requires.
        return unsafe { sse42(data) };
    }
    policy_cache::crc32::crc32(data)
}

/// # Safety
/// The CPU must support SSE4.2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn sse42(data: &[u8]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let mut c: u64 = 0xFFFF_FFFF;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let mut w = [0u8; 8];
        for (d, s) in w.iter_mut().zip(ch) {
            *d = *s;
        }
        c = _mm_crc32_u64(c, u64::from_le_bytes(w));
    }
    let mut c = c as u32;
    for &b in chunks.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    #[test]
    fn hardware_and_portable_crc_agree_at_every_length() {
        super::detect();
        let data: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for n in (0..200).chain([1000, 4095, 4096]) {
            assert_eq!(
                super::crc32c(&data[..n]),
                policy_cache::crc32::crc32(&data[..n]),
                "length {n}"
            );
        }
        assert_eq!(super::crc32c(b"123456789"), 0xE306_9283);
    }
}
