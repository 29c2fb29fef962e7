#!/usr/bin/env bash
# The project's test command (README.md "Run the tests"): build, tests,
# lints, format, docs, and the policy's own test cases. CI runs this through
# .ci/run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "build"
cargo build --workspace --all-targets --locked
# The library is always built optimised: that build is also the proof that
# no panic is reachable (a reachable one fails the link).
cargo build --release --locked -p rampart-preload -p rampart
ls -l target/release/librampart.so

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q

step "default policy tests"
cargo run -q --locked -p rampart -- policy lint policies/standard.yaml
cargo run -q --locked -p rampart -- policy test policies/standard.yaml

step "tests"
cargo test --workspace --locked 2>&1 | tee target/test-output.log
