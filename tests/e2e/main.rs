//! End-to-end tests: real programs (bash, sh, python3, perl, node, make, a
//! Rust binary) under the real library (`target/release/librampart.so`),
//! each proving that a denied command did not run and an allowed one did.
//!
//! Build the library first: `cargo build --release -p rampart-preload`,
//! and for the daemon tests the `rampart` binary: `cargo build -p rampart`
//! (ci/test.sh does both).

mod audit;
mod codex;
mod daemon;
mod dashboard;
mod faults;
mod harness;
mod library;
mod load;
mod policy_fixes;
mod preload_cli;
mod security;
mod watch;
