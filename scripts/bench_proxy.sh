#!/usr/bin/env bash
# `llmtrace proxy` beside direct calls and the LiteLLM proxy, on this machine.
#
#   1. no upstream: llmtrace on the echo provider vs LiteLLM answering with mock_response;
#   2. a loopback upstream with a fixed latency (0 and 20 ms): direct calls, llmtrace proxy
#      (tracing to the ring buffer and a jsonl file) and LiteLLM in front of it.
#
# Each at fixed request rates (open model, latency from the scheduled start), streaming and
# not, plus each one's maximum throughput (closed loop). Prints a Markdown table, and each
# llmtrace proxy's resident memory before and after its runs.
#
# Installs litellm[proxy] into target/litellm-venv once. Knobs (environment):
#   RATES="500 1000 2000"   LITELLM_RATES="100"   SECS=5   LATENCIES="0 20"   CONNECTIONS=32
#   LITELLM=0 skips LiteLLM, ECHO=0 the no-upstream set-up (quick runs of the 0 ms budget).
#   NO_BUILD=1 uses the release binaries already built; LLMTRACE=path runs another llmtrace
#   binary (an older build kept aside, for before/after figures in one session).
set -euo pipefail
cd "$(dirname "$0")/.."

rates="${RATES:-500 1000 2000}"
litellm_rates="${LITELLM_RATES:-100}"
secs="${SECS:-5}"
latencies="${LATENCIES:-0 20}"
connections="${CONNECTIONS:-32}"
litellm="${LITELLM:-1}"
echo_setup="${ECHO:-1}"

if [ "$litellm" = 1 ] && [ ! -x target/litellm-venv/bin/litellm ]; then
    python3 -m venv target/litellm-venv
    target/litellm-venv/bin/pip install --quiet 'litellm[proxy]'
fi
source scripts/proxy_bench_setup.sh
export LITELLM_LOG=ERROR
# LiteLLM refuses to start without a strong master key; the others ignore the header.
bench_key=sk-bench-3f9a1c2e7d5b4a60e8c1

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

row() { # setup target mode load-args...
    local setup="$1" target="$2" mode="$3"
    shift 3
    local flag=()
    [ "$mode" = stream ] && flag=(--stream)
    local out
    out="$("$loadgen" "$@" "${flag[@]}" --key "$bench_key")"
    # "rate=500 ok=.. failed=.. throughput=../s p50_ms=.. p99_ms=.. p999_ms=.."
    echo "$out" | awk -v s="$setup" -v t="$target" -v m="$mode" '{
        load=$1; if ($1 == "max") load="max (" $2 ")";
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            s, t, m, load, v["ok"], v["failed"], v["throughput"], v["p50_ms"], v["p99_ms"], v["p999_ms"]
    }'
}

runs() { # setup target url rates
    local setup="$1" target="$2" url="$3" target_rates="$4"
    for mode in plain stream; do
        for rate in $target_rates; do
            row "$setup" "$target" "$mode" load "$url" --rate "$rate" --seconds "$secs"
        done
        row "$setup" "$target" "$mode" max "$url" --connections "$connections" --seconds "$secs"
    done
}

start_llmtrace() { # name provider-toml -> sets proxy_pid, port 4100
    cat >"$work/$1.toml" <<TOML
$2

[exporters.file]
type = "jsonl"
path = "$work/$1.jsonl"

[proxy]
listen = "127.0.0.1:4100"
TOML
    "$llmtrace" proxy -c "$work/$1.toml" 2>"$work/$1.log" &
    proxy_pid=$!
    pids+=("$proxy_pid")
    wait_http http://127.0.0.1:4100/health
}

start_litellm() { # name litellm_params-yaml -> sets litellm_pid, port 4200
    cat >"$work/$1.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
$2
litellm_settings:
  set_verbose: false
  telemetry: false
general_settings:
  master_key: $bench_key
YAML
    target/litellm-venv/bin/litellm --config "$work/$1.yaml" --host 127.0.0.1 --port 4200 \
        >"$work/$1.litellm.log" 2>&1 &
    litellm_pid=$!
    pids+=("$litellm_pid")
    wait_http http://127.0.0.1:4200/health/liveliness
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

echo "| setup | target | mode | load (req/s) | ok | failed | achieved req/s | p50 ms | p99 ms | p99.9 ms |"
echo "|---|---|---|---|---|---|---|---|---|---|"

# 1. No upstream.
if [ "$echo_setup" = 1 ]; then
    start_llmtrace echo $'[provider]\ntype = "echo"'
    before=$(rss_kib "$proxy_pid")
    runs "no upstream" "llmtrace proxy (echo)" http://127.0.0.1:4100/v1/chat/completions "$rates"
    echo "llmtrace proxy (echo) RSS: ${before} KiB before, $(rss_kib "$proxy_pid") KiB after, $(wc -l <"$work/echo.jsonl") traces written" >&2
    stop "$proxy_pid"
    if [ "$litellm" = 1 ]; then
        start_litellm mock '      model: openai/bench-model
      api_key: sk-none
      mock_response: "Hello from upstream"'
        runs "no upstream" "LiteLLM (mock_response)" http://127.0.0.1:4200/v1/chat/completions "$litellm_rates"
        stop "$litellm_pid"
    fi
fi

# 2. A loopback upstream with a fixed latency: direct, through a bare forwarder, through
#    llmtrace proxy, through LiteLLM.
for latency in $latencies; do
    "$loadgen" upstream --port 4300 --latency-ms "$latency" &
    upstream_pid=$!
    pids+=("$upstream_pid")
    wait_http http://127.0.0.1:4300/
    setup="upstream ${latency} ms"
    runs "$setup" "direct" http://127.0.0.1:4300/v1/chat/completions "$rates"
    # The floor under any proxy's added latency: one more hop on the same HTTP stack.
    "$loadgen" forward --port 4400 --to http://127.0.0.1:4300/v1/chat/completions &
    forward_pid=$!
    pids+=("$forward_pid")
    wait_http http://127.0.0.1:4400/
    runs "$setup" "forward (the floor)" http://127.0.0.1:4400/v1/chat/completions "$rates"
    stop "$forward_pid"
    start_llmtrace "up$latency" $'[provider]\ntype = "openai"\nmodel = "up"\nbase_url = "http://127.0.0.1:4300/v1"\napi_key_env = "BENCH_UPSTREAM_KEY"'
    before=$(rss_kib "$proxy_pid")
    runs "$setup" "llmtrace proxy" http://127.0.0.1:4100/v1/chat/completions "$rates"
    echo "llmtrace proxy (upstream $latency ms) RSS: ${before} KiB before, $(rss_kib "$proxy_pid") KiB after, $(wc -l <"$work/up$latency.jsonl") traces written" >&2
    stop "$proxy_pid"
    if [ "$litellm" = 1 ]; then
        start_litellm "up$latency" '      model: openai/up
      api_base: http://127.0.0.1:4300/v1
      api_key: sk-bench'
        runs "$setup" "LiteLLM" http://127.0.0.1:4200/v1/chat/completions "$litellm_rates"
        stop "$litellm_pid"
    fi
    stop "$upstream_pid"
done
