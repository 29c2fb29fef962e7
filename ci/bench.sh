#!/usr/bin/env bash
# Benchmarks. Not part of ci/test.sh (they take minutes and their numbers
# only mean something on a quiet machine); CI proves they compile through
# `cargo build --all-targets`.
#
#   ci/bench.sh            run every section
#   ci/bench.sh SECTION…   run only the named sections (e.g. `policy-cache`)
#
# Each section is a function `section_<name>` with a header comment saying
# what it measures and who owns it; add new ones below and list them in
# SECTIONS. A section prints criterion's full output to target/bench/<name>.log
# and a short summary (benchmark name, median) to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

# Print "name  median" (and the median throughput, when reported) for each
# benchmark in criterion's output on stdin. Criterion prints the name on a
# line of its own (or before `time:` when short), then `time: [low median
# high]`, then optionally `thrpt:` and a `change:` block comparing with the
# previous run, which is skipped.
criterion_medians() {
    awk '
        /^[^ ]/ {
            changes = 0
            if ($0 ~ /time:/) { name = $0; sub(/[ ]+time:.*/, "", name) }
            else if ($0 !~ /^(Benchmarking|Found|Gnuplot|Warning|WARNING|decision:)/) name = $0
        }
        /^[ ]+change:/ { changes = 1 }
        !changes && /(time|thrpt):[ ]+\[/ {
            s = $0; sub(/.*:[ ]+\[/, "", s); split(s, v, " ")
            printf "  %-40s %10s %s\n", ($0 ~ /thrpt:/ ? "" : name), v[3], v[4]
        }
    '
}

# --- policy-cache: evaluate / validate / compile (owner: policy-cache) -------
# The hot path with the built-in default policy: evaluate() on ordinary dev
# commands, denied attacks and 1 KiB–1 MiB `bash -c` scripts (MiB/s should
# stay flat as length grows), Snapshot::from_bytes on the default snapshot,
# and compiling the default policy. About 2–3 minutes on 2 cores.
section_policy_cache() {
    step "policy-cache: cargo bench -p policy-cache --bench evaluate"
    mkdir -p target/bench
    cargo bench -p policy-cache --bench evaluate -- --noplot 2>&1 | tee target/bench/policy-cache.log >/dev/null
    grep '^decision:' target/bench/policy-cache.log | sed 's/^/  /' || true
    echo "  medians (full output: target/bench/policy-cache.log):"
    criterion_medians < target/bench/policy-cache.log
}

# The library (issue 3): µs added per process and per decided exec, with
# and without the library interleaved in one run; stripped size.
section_preload() {
    step "preload: ci/bench-preload.sh"
    bash ci/bench-preload.sh
}

# The daemon (issue 4): preflight requests/s and latency with decisions
# audited (wrk, 16 connections, 10 s).
section_serve() {
    step "serve: ci/bench-serve.sh"
    bash ci/bench-serve.sh
}

# The audit trail (issue 5): ingest and verify records/s.
section_audit() {
    step "audit: ci/bench-audit.sh"
    sh ci/bench-audit.sh
}

# Load (issue 9): 10 000 decisions a second into the spool for a minute
# while the daemon ingests them (every record ingested once, the chain
# verified, the daemon's RSS flat; figures on stderr), and 1 000 processes
# under the library at once with 50 waiting on `ask`. `cargo test` runs
# the same spool test for 10 s.
section_load() {
    step "load: tests/e2e/load.rs with RAMPART_LOAD_SECS=60"
    mkdir -p target/bench
    cargo build --release --locked -p rampart-preload
    # The daemon as shipped (optimised); the test itself is the debug build.
    cargo build --release --locked -p rampart
    RAMPART_BIN="$PWD/target/release/rampart" RAMPART_LOAD_SECS=60 \
        cargo test --locked -p rampart-e2e --test e2e load:: -- \
        --nocapture --test-threads 1 2>&1 | tee target/bench/load.log | grep -E '^(load:|test )'
}

SECTIONS=(policy_cache preload serve audit load)

if [ "$#" -gt 0 ]; then
    SECTIONS=("${@//-/_}")
fi
for s in "${SECTIONS[@]}"; do
    if ! declare -F "section_$s" >/dev/null; then
        echo "unknown bench section: $s" >&2
        exit 2
    fi
    "section_$s"
done
