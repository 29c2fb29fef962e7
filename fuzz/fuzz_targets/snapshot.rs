//! Arbitrary bytes as a snapshot file. Taken as they are, almost every input
//! stops at the header or the checksum, so each is also tried re-sealed:
//! magic, version, schema, length and CRC rewritten to be right, which
//! sends the mutated payload through the structure checks to the evaluator.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use policy_cache::Snapshot;
use policy_cache::crc32::crc32;
use policy_cache::snapshot::{FORMAT_VERSION, HEADER_LEN, MAGIC, schema_hash};

fuzz_target!(|data: &[u8]| {
    if let Ok(snap) = Snapshot::from_bytes(data) {
        common::exercise(&snap, false);
    }
    if data.len() < HEADER_LEN {
        return;
    }
    let mut b = data.to_vec();
    let payload_len = (b.len() - HEADER_LEN) as u64;
    let crc = crc32(&b[HEADER_LEN..]);
    b[0..8].copy_from_slice(&MAGIC);
    b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    b[16..24].copy_from_slice(&schema_hash().to_le_bytes());
    b[32..40].copy_from_slice(&payload_len.to_le_bytes());
    b[40..44].copy_from_slice(&crc.to_le_bytes());
    if let Ok(snap) = Snapshot::from_bytes(&b) {
        common::exercise(&snap, false);
    }
});
