#!/usr/bin/env bash
# Resident memory of `llmtrace proxy` over a long run (issue 17: "memory flat over 1,000,000
# requests"): a loopback upstream answering at once, the proxy in front of it tracing every
# request to its ring buffer and a jsonl file (as in scripts/bench_proxy.sh), and the load
# generator's closed loop in chunks of CHUNK_SECS; after each chunk, the proxy's VmRSS.
# Prints a Markdown table: requests served so far, VmRSS.
#
# Knobs (environment): REQUESTS=1000000  CHUNK_SECS=15  CONNECTIONS=16  STREAM=0
#   NO_BUILD=1 uses the release binaries already built; LLMTRACE=path another llmtrace binary.
set -euo pipefail
cd "$(dirname "$0")/.."

requests="${REQUESTS:-1000000}"
chunk="${CHUNK_SECS:-15}"
connections="${CONNECTIONS:-16}"
stream=()
[ "${STREAM:-0}" = 1 ] && stream=(--stream)

source scripts/proxy_bench_setup.sh
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

"$loadgen" upstream --port 4300 --latency-ms 0 &
pids+=("$!")
wait_http http://127.0.0.1:4300/
proxy_config 4300 4100 >"$work/proxy.toml"
"$llmtrace" proxy -c "$work/proxy.toml" 2>"$work/proxy.log" &
proxy=$!
pids+=("$proxy")
wait_http http://127.0.0.1:4100/health

echo "| requests | failed | VmRSS MiB | chunk req/s |"
echo "|---|---|---|---|"
echo "| 0 | 0 | $(rss_mib "$proxy") | |"
served=0
failed=0
while [ "$served" -lt "$requests" ]; do
    # "max connections=16 ok=.. failed=.. throughput=../s p50_ms=.."
    out="$("$loadgen" max http://127.0.0.1:4100/v1/chat/completions \
        --connections "$connections" --seconds "$chunk" --key bench "${stream[@]}")"
    ok="$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')"
    bad="$(echo "$out" | sed -n 's/.* failed=\([0-9]*\).*/\1/p')"
    rate="$(echo "$out" | sed -n 's/.* throughput=\([0-9]*\).*/\1/p')"
    served=$((served + ok))
    failed=$((failed + bad))
    echo "| $served | $failed | $(rss_mib "$proxy") | $rate |"
done
echo "traces written: $(wc -l <"$work/proxy.jsonl")" >&2
