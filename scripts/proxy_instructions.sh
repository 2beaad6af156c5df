#!/usr/bin/env bash
# User-space instructions per request of `llmtrace proxy` in front of the loopback upstream of
# `proxy_loadgen` (0 ms), counted by valgrind's callgrind: unlike CPU time, the count does not
# move with the machine's load or with how often threads sleep and wake, so it can tell a
# change of a few microseconds of llmtrace's own work. Kernel time is not counted.
#
# The proxy runs under callgrind (some 50 times slower); after a warm-up the counters are
# zeroed, REQUESTS requests are sent at a low fixed rate, and the counters are dumped.
#
# Knobs (environment): REQUESTS=500  RATE=50  MODES="plain stream"
#   NO_BUILD=1 uses the release binaries already built; LLMTRACE=path measures another binary;
#   TARGET=forward measures `proxy_loadgen forward` instead: the HTTP hop alone, the same
#   stack (axum in, reqwest out) with no work of llmtrace's;
#   KEEP=dir keeps each mode's callgrind file there (`callgrind_annotate` shows where the
#   instructions go).
# Prints one line per mode: `mode requests instructions_per_request`.
set -euo pipefail
cd "$(dirname "$0")/.."

requests="${REQUESTS:-500}"
rate="${RATE:-50}"
modes="${MODES:-plain stream}"
source scripts/proxy_bench_setup.sh

"$loadgen" upstream --port 4301 &
pids+=("$!")
proxy_config 4301 4101 >"$work/proxy.toml"
target=("$llmtrace" proxy -c "$work/proxy.toml")
if [ "${TARGET:-llmtrace}" = forward ]; then
    target=("$loadgen" forward --port 4101 --to http://127.0.0.1:4301/v1/chat/completions)
fi
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" "${target[@]}" \
    2>"$work/valgrind.log" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_http http://127.0.0.1:4101/ 120 # callgrind starts slowly
url=http://127.0.0.1:4101/v1/chat/completions

for mode in $modes; do
    flag=()
    [ "$mode" = stream ] && flag=(--stream)
    # Warm-up: connections, allocator arenas, the jsonl file.
    "$loadgen" load "$url" --rate "$rate" --seconds 2 "${flag[@]}" --timeout-ms 20000 >/dev/null
    callgrind_control -z "$proxy_pid" >/dev/null 2>&1
    out="$("$loadgen" load "$url" --rate "$rate" --seconds $((requests / rate)) "${flag[@]}" --timeout-ms 20000)"
    dumps=$(find "$work" -name 'callgrind.*' | wc -l)
    callgrind_control -d "$mode" "$proxy_pid" >/dev/null 2>&1
    # The dump is written when valgrind next looks at its commands.
    for _ in $(seq 1 300); do
        [ "$(find "$work" -name 'callgrind.*' | wc -l)" -gt "$dumps" ] && break
        sleep 0.1
    done
    file=$(ls -t "$work"/callgrind.* | head -1)
    # Its summary line is written last.
    for _ in $(seq 1 300); do
        grep -q '^summary:' "$file" && break
        sleep 0.1
    done
    sent=$(echo "$out" | sed -E 's/.* ok=([0-9]+) failed=([0-9]+).*/\1 \2/' | awk '{print $1 + $2}')
    total=$(awk '/^summary:/ {print $2}' "$file")
    echo "$mode $sent $((total / sent))"
    if [ -n "${KEEP:-}" ]; then cp "$file" "$KEEP/callgrind.$mode"; fi
done
