//! Build steps the library needs:
//! 1. compile the default policy into a snapshot embedded in the library
//!    (the fallback when no valid snapshot can be mapped);
//! 2. compile the C shim (variadic `execl*`, which stable Rust cannot define);
//! 3. in optimised builds, make any reachable panic a link error: the panic
//!    handler calls an undefined symbol and `-z defs` refuses to link a
//!    shared object with undefined references.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let policy = manifest.join("../policies/standard.yaml");
    println!("cargo:rerun-if-changed={}", policy.display());
    println!("cargo:rerun-if-changed=c/shim.c");
    println!("cargo:rustc-check-cfg=cfg(rampart_macos_check)");
    println!("cargo:rustc-check-cfg=cfg(rampart_no_panic_check)");

    let yaml = std::fs::read_to_string(&policy).expect("read policies/standard.yaml");
    // Home is unknown at build time: patterns keep `~`, which the library
    // matches against commands whose home directory it rewrote to `~`.
    let set = policy_cache::compile::PolicySet::from_sources(
        vec![(
            PathBuf::from(policy_cache::compile::builtin::STANDARD_NAME),
            yaml,
        )],
        "",
    )
    .unwrap_or_else(|e| panic!("default policy does not load: {e}"));
    let bytes = policy_cache::compile::compile_builtin(&set, 0)
        .unwrap_or_else(|e| panic!("default policy does not compile: {e}"));
    std::fs::write(out.join("builtin.snap"), bytes).expect("write builtin.snap");

    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "macos" {
        cc::Build::new()
            .file("c/shim.c")
            .flag_if_supported("-fvisibility=hidden")
            .warnings(true)
            .compile("rampart_shim");
    }
    let optimised = std::env::var("OPT_LEVEL").is_ok_and(|l| l != "0");
    if target_os == "linux" && optimised {
        println!("cargo:rustc-link-arg-cdylib=-Wl,-z,defs");
    } else {
        // Unoptimised builds keep bounds checks the optimiser would remove:
        // their panic handler aborts instead of failing the link.
        println!("cargo:rustc-cfg=rampart_no_panic_check");
    }
}
