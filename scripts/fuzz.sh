#!/usr/bin/env bash
# Runs every property test over arbitrary input with many cases: the stream decoders
# (src/provider/fuzz.rs), scrub_secrets (src/scrub.rs), the trace-file reader
# (tests/core/read_fuzz.rs) and the configuration loader (tests/config/fuzz.rs).
# CASES inputs per target (default 100000), each target stopped after SECONDS_PER_TARGET
# (default 300). Prints, per target, whether it passed and how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${CASES:-100000}
limit=${SECONDS_PER_TARGET:-300}
cargo test --lib --test core --test config --no-run
# "where target": where is --lib or a test binary's name.
for entry in "--lib provider::fuzz::sse_any_bytes_decode_alike_however_cut" \
             "--lib provider::fuzz::sse_events_round_trip_with_any_line_ending" \
             "--lib provider::fuzz::ndjson_any_bytes_decode_alike_however_cut" \
             "--lib scrub::tests::any_text_is_scrubbed_without_panic_and_a_query_token_never_survives" \
             "core read_fuzz::arbitrary_bytes_never_panic_or_hang" \
             "core read_fuzz::damaged_files_never_panic_or_hang" \
             "core read_fuzz::jsonl_keeps_every_good_line_and_names_every_bad_one" \
             "config fuzz::generated_configs_load_or_every_problem_is_named" \
             "config fuzz::toml_ish_lines_load_or_every_problem_is_named" \
             "config fuzz::arbitrary_environment_variables_load_or_are_named" \
             "config fuzz::arbitrary_bytes_in_a_file_load_or_are_named" \
             "config fuzz::generated_configs_in_a_file_name_the_file"; do
    read -r where target <<<"$entry"
    [ "$where" = --lib ] || where="--test $where"
    start=$(date +%s)
    # A name that matches no test would run nothing and pass: "1 passed" is required.
    # shellcheck disable=SC2086
    if out=$(PROPTEST_CASES=$cases timeout "$limit" \
            cargo test $where "$target" -- --exact 2>&1) && grep -q " 1 passed" <<<"$out"; then
        echo "$target: $cases cases passed in $(( $(date +%s) - start )) s"
    else
        echo "$target: FAILED or timed out after $(( $(date +%s) - start )) s (rerun for details)"
        exit 1
    fi
done
