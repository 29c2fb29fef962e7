//! Arbitrary bytes as a policy file: load, compile, validate what the
//! compiler wrote, then decide with it. Whatever loads must compile to a
//! snapshot that validates.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use policy_cache::Snapshot;
use policy_cache::compile::{PolicySet, compile, run_tests};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(set) = PolicySet::from_str("fuzz.yaml", text) else {
        return;
    };
    let Ok(bytes) = compile(&set, 1) else { return };
    let snap = Snapshot::from_bytes(&bytes).expect("the compiler's output validates");
    common::exercise(&snap, true);
    let _ = run_tests(&set, &snap);
});
