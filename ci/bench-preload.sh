#!/usr/bin/env bash
# Library benchmarks (issue 3): what librampart adds to every process and
# to every decided exec, measured — not timed in a test — with and without
# the library interleaved in one run (tests/src/bin/spawnbench.rs).
#
#   bash ci/bench-preload.sh [N] [ROUNDS]     (defaults: 2000 spawns, 5 rounds)
#
# Also prints the stripped size of the library.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-2000}"
rounds="${2:-5}"
cargo build -q --release --locked -p rampart-preload
cargo build -q --release --locked -p rampart-e2e --bin rampart-spawnbench
lib="$PWD/target/release/librampart.so"
strip -o "${TMPDIR:-/tmp}/librampart.stripped.so" "$lib"
echo "librampart.so: $(stat -c %s "$lib") bytes, stripped $(stat -c %s "${TMPDIR:-/tmp}/librampart.stripped.so") bytes"
# A realistic setup: the default policy published as the snapshot, the
# user's home known (as `rampart preload` arranges for every child).
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
cargo run -q --release --locked -p rampart -- policy compile --policy policies/standard.yaml --out "$home/cache/policy.snap" >/dev/null
RAMPART_BENCH_HOME="$home" RAMPART_USER_HOME="$HOME" ./target/release/rampart-spawnbench "$lib" "$n" "$rounds"
# The floor: the same two runs with an empty shared object preloaded (no
# constructor, no hooks). What it adds is the price of loading any second
# library into every process on this machine, which no preload library
# can go below.
echo "floor, an empty preloaded library:"
echo 'int rampart_bench_empty;' > "$home/empty.c"
cc -O2 -shared -fPIC -o "$home/libempty.so" "$home/empty.c"
RAMPART_BENCH_HOME="$home" ./target/release/rampart-spawnbench "$home/libempty.so" "$n" "$rounds" | sed 's/per decided exec/per exec/; s/; 0 audit records in the last run//'
# The library's whole stay again, after the floor, for the spread.
echo "librampart again:"
RAMPART_BENCH_HOME="$home" RAMPART_USER_HOME="$HOME" ./target/release/rampart-spawnbench "$lib" "$n" "$rounds"
