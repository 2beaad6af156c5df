#!/usr/bin/env bash
# CPU time per request of `llmtrace proxy`, and of the bare forwarder beside it, at a fixed
# rate against the loopback upstream of `proxy_loadgen` (0 ms latency): the proxy's user +
# system time (`/proc/PID/stat`, all threads) over the run, divided by the requests sent.
# The forwarder's figure is the HTTP hop alone; the difference is llmtrace's own work.
#
# Knobs (environment): RATE=1000 (or `max`: a closed loop of 32 connections)  SECS=10
#   MODES="plain stream"  ROUNDS=1
#   FORWARD=0 skips the forwarder; NO_BUILD=1 uses the release binaries already built;
#   LLMTRACE=path measures another llmtrace binary (an older build kept aside);
#   PERF=prefix also records the proxy's profile per mode (`perf record $PERF_ARGS`, into
#   PREFIX.MODE; PERF_ARGS="--call-graph dwarf" for call graphs).
# Prints one line per target and mode: `target mode requests cpu_us_per_request`. The figure
# moves by +-20 us from run to run on a shared 2-vCPU machine (the kernel's share follows how
# often threads sleep and wake): compare binaries interleaved, over several rounds.
set -euo pipefail
cd "$(dirname "$0")/.."

rate="${RATE:-1000}"
secs="${SECS:-10}"
modes="${MODES:-plain stream}"
rounds="${ROUNDS:-1}"
source scripts/proxy_bench_setup.sh

ticks() { # pid -> utime + stime, in clock ticks (fields 14 and 15, after the `(comm)`)
    sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

measure() { # name pid url
    local name="$1" pid="$2" url="$3" hz
    hz=$(getconf CLK_TCK)
    for mode in $modes; do
        local flag=()
        [ "$mode" = stream ] && flag=(--stream)
        local load=(load "$url" --rate "$rate")
        [ "$rate" = max ] && load=(max "$url" --connections 32)
        # A short warm-up: connections, allocator arenas, the jsonl file.
        "$loadgen" "${load[@]}" --seconds 1 "${flag[@]}" >/dev/null
        local before after out requests
        local perf_pid=
        if [ -n "${PERF:-}" ] && [ "$name" = llmtrace ]; then
            perf record -q ${PERF_ARGS:-} -p "$pid" -o "$PERF.$mode" 2>/dev/null &
            perf_pid=$!
        fi
        before=$(ticks "$pid")
        out="$("$loadgen" "${load[@]}" --seconds "$secs" "${flag[@]}")"
        after=$(ticks "$pid")
        if [ -n "$perf_pid" ]; then
            kill -INT "$perf_pid"
            wait "$perf_pid" || true
        fi
        # "rate=1000 ok=.. failed=.. ..."
        requests=$(echo "$out" | sed -E 's/.* ok=([0-9]+) failed=([0-9]+).*/\1 \2/' | awk '{print $1 + $2}')
        awk -v n="$name" -v m="$mode" -v r="$requests" -v t=$((after - before)) -v hz="$hz" \
            'BEGIN { printf "%s %s %d %.1f\n", n, m, r, t * 1e6 / hz / r }'
    done
}

"$loadgen" upstream --port 4300 &
pids+=("$!")
proxy_config 4300 4100 >"$work/proxy.toml"
"$llmtrace" proxy -c "$work/proxy.toml" 2>"$work/proxy.log" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_http http://127.0.0.1:4100/health
if [ "${FORWARD:-1}" = 1 ]; then
    "$loadgen" forward --port 4400 --to http://127.0.0.1:4300/v1/chat/completions &
    forward_pid=$!
    pids+=("$forward_pid")
    wait_http http://127.0.0.1:4400/
fi

echo "uptime: $(uptime)" >&2
for _ in $(seq 1 "$rounds"); do
    [ "${FORWARD:-1}" = 1 ] && measure forward "$forward_pid" http://127.0.0.1:4400/v1/chat/completions
    measure llmtrace "$proxy_pid" http://127.0.0.1:4100/v1/chat/completions
done
