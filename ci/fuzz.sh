#!/usr/bin/env bash
# Fuzz the targets in fuzz/ (policy-cache's three, and the daemon's API
# request handling), each for SECONDS (default 60).
#
#   ci/fuzz.sh [SECONDS] [TARGET…]
#
# cargo-fuzz needs nightly flags (-Z sanitizer); on the stable toolchain they
# are unlocked with RUSTC_BOOTSTRAP=1. New corpus entries go to
# fuzz/target/corpus/<target> (the seeds in fuzz/corpus/<target> stay as
# committed); crashes go to fuzz/target/artifacts/<target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
    TARGETS=(load_policy snapshot normalise_evaluate api_bodies)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
cd fuzz
# One build for all targets (cargo fuzz run would otherwise build each).
cargo fuzz build

status=0
for t in "${TARGETS[@]}"; do
    printf '\n=== fuzz %s for %ss\n' "$t" "$SECONDS_EACH"
    work="target/corpus/$t"
    artifacts="target/artifacts/$t/"
    mkdir -p "$work" "$artifacts"
    if cargo fuzz run "$t" "$work" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -artifact_prefix="$artifacts" -print_final_stats=1 \
        2>"target/$t.log"; then
        grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)' "target/$t.log" || true
        echo "  $t: no crash ($(ls "$work" | wc -l) corpus entries)"
    else
        status=1
        tail -n 40 "target/$t.log"
        echo "  $t: CRASH, input in fuzz/$artifacts"
    fi
done
exit "$status"
