#!/bin/sh
# Audit trail throughput (issue 5): ingest >= 50 000 records/s sustained,
# verify >= 200 000 records/s. Follow latency is measured by the e2e test
# `audit::tail_follow_shows_a_new_decision_within_200ms` (printed with --nocapture).
set -eu
cd "$(dirname "$0")/.."
cargo bench -p daemon --bench audit -- "${1:-200000}"
