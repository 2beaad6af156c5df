#!/usr/bin/env bash
# Runs the property tests of the stream decoders (src/provider/fuzz.rs) and of scrub_secrets
# (src/scrub.rs) with many arbitrary inputs:
# CASES inputs per target (default 100000), each target stopped after SECONDS_PER_TARGET
# (default 300). Prints, per target, whether it passed and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-100000}
limit=${SECONDS_PER_TARGET:-300}
cargo test --lib --no-run
for target in provider::fuzz::sse_any_bytes_decode_alike_however_cut \
              provider::fuzz::sse_events_round_trip_with_any_line_ending \
              provider::fuzz::ndjson_any_bytes_decode_alike_however_cut \
              scrub::tests::any_text_is_scrubbed_without_panic_and_a_query_token_never_survives; do
    start=$(date +%s)
    # A name that matches no test would run nothing and pass: "1 passed" is required.
    if out=$(PROPTEST_CASES=$cases timeout "$limit" \
            cargo test --lib "$target" -- --exact 2>&1) && grep -q " 1 passed" <<<"$out"; then
        echo "$target: $cases cases passed in $(( $(date +%s) - start )) s"
    else
        echo "$target: FAILED or timed out after $(( $(date +%s) - start )) s (rerun for details)"
        exit 1
    fi
done
