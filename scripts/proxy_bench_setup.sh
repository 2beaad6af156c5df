# Sourced by the proxy bench scripts (bench_proxy.sh, proxy_cpu.sh, proxy_instructions.sh,
# proxy_memory.sh): the release binaries, a work directory, the processes to stop on exit, and
# a wait for an HTTP server. NO_BUILD=1 uses the binaries already built; LLMTRACE=path runs
# another llmtrace binary (an older build kept aside, for before/after figures).
[ "${NO_BUILD:-0}" = 1 ] || cargo build --quiet --release --bin llmtrace --example proxy_loadgen
loadgen=target/release/examples/proxy_loadgen
llmtrace="${LLMTRACE:-target/release/llmtrace}"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
export BENCH_UPSTREAM_KEY=sk-bench

wait_http() { # url [seconds, default 60]
    for _ in $(seq 1 $((${2:-60} * 10))); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "nothing answers at $1" >&2
    return 1
}

proxy_config() { # upstream_port listen_port: llmtrace proxy in front of the bench upstream,
    # tracing to the ring buffer and $work/proxy.jsonl
    cat <<TOML
[provider]
type = "openai"
model = "up"
base_url = "http://127.0.0.1:$1/v1"
api_key_env = "BENCH_UPSTREAM_KEY"

[exporters.file]
type = "jsonl"
path = "$work/proxy.jsonl"

[proxy]
listen = "127.0.0.1:$2"
TOML
}
