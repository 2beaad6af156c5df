#!/usr/bin/env bash
# Runs the stream decoders' property tests (src/provider/fuzz.rs) with many arbitrary inputs:
# CASES inputs per target (default 100000), each target stopped after SECONDS_PER_TARGET
# (default 300). Prints, per target, whether it passed and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-100000}
limit=${SECONDS_PER_TARGET:-300}
cargo test --lib --no-run
for target in sse_any_bytes_decode_alike_however_cut \
              sse_events_round_trip_with_any_line_ending \
              ndjson_any_bytes_decode_alike_however_cut; do
    start=$(date +%s)
    if PROPTEST_CASES=$cases timeout "$limit" \
        cargo test --lib --quiet "provider::fuzz::$target" -- --exact >/dev/null; then
        echo "$target: $cases cases passed in $(( $(date +%s) - start )) s"
    else
        echo "$target: FAILED or timed out after $(( $(date +%s) - start )) s (rerun for details)"
        exit 1
    fi
done
