#!/usr/bin/env bash
# The project's test command (README.md "Run the tests"): format, build,
# lints, docs, the default policy's own test cases, unit and end-to-end
# tests. CI runs this through .ci/run on a fresh machine.
#
# The library (rampart-preload) is always built by itself: built together
# with the CLI, Cargo would unify features and pull std into the no_std
# cdylib. Its optimised build is also the proof that no panic is reachable
# (a reachable one fails the link).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }
ALL=(--workspace --exclude rampart-preload --locked)

step "format"
cargo fmt --all -- --check

step "build"
cargo build --release --locked -p rampart-preload
ls -l target/release/librampart.so
# Also builds target/debug/rampart, which the daemon's end-to-end tests run
# (`cargo test` does not build another package's binary).
cargo build "${ALL[@]}" --all-targets
ls -l target/debug/rampart

step "clippy"
cargo clippy "${ALL[@]}" --all-targets -- -D warnings
cargo clippy --locked -p rampart-preload --all-targets -- -D warnings

step "macOS back end, type-checked on Linux (preload/MACOS.md: never linked or run here)"
# Its own target directory: a different RUSTFLAGS would otherwise throw
# away the normal build cache.
RUSTFLAGS="--cfg rampart_macos_check" cargo check --locked -p rampart-preload \
    --target-dir target/macos-check
RUSTFLAGS="--cfg rampart_macos_check" cargo clippy --locked -p rampart-preload \
    --target-dir target/macos-check --all-targets -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc "${ALL[@]}" --no-deps -q

step "default policy"
cargo run -q --locked -p rampart -- policy lint policies/standard.yaml
cargo run -q --locked -p rampart -- policy test policies/standard.yaml

step "tests"
cargo test --locked -p rampart-preload
cargo test "${ALL[@]}"

step "dashboard in a browser (chromium + playwright-core; screenshots in target/browser-screenshots)"
node tests/browser/dashboard.test.mjs

step "fuzz smoke (the targets build and run; ci/fuzz.sh runs them longer)"
bash ci/fuzz.sh 10
