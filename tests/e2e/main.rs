//! End-to-end tests: real programs (bash, sh, python3, perl, node, make, a
//! Rust binary) under the real library (`target/release/librampart.so`),
//! each proving that a denied command did not run and an allowed one did.
//!
//! Build the library first: `cargo build --release -p rampart-preload`
//! (ci/test.sh does).

mod harness;
mod library;
