#!/usr/bin/env bash
# Black-box tests of `llmtrace proxy` with the official openai and anthropic Python clients.
#
# Creates a venv under target/ (once), builds the binary, starts a loopback upstream and the
# proxy in front of it, runs pytest, then stops the proxy with SIGTERM and checks that it
# exits cleanly. Usage: tests/python/run.sh [pytest args]
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
venv="$root/target/pyenv"
if [ ! -x "$venv/bin/pytest" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet openai anthropic pytest
fi
cargo build --quiet --bin llmtrace

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

python3 tests/python/upstream.py >"$work/upstream.port" &
upstream_pid=$!
pids+=("$upstream_pid")
until [ -s "$work/upstream.port" ]; do
    kill -0 "$upstream_pid" 2>/dev/null || { echo "the test upstream exited" >&2; exit 1; }
    sleep 0.05
done
upstream_port="$(head -1 "$work/upstream.port")"

cat >"$work/llmtrace.toml" <<TOML
[provider]
type = "openai"
model = "upstream-model"
base_url = "http://127.0.0.1:${upstream_port}/v1"
api_key_env = "PYTEST_UPSTREAM_KEY"

[exporters.file]
type = "jsonl"
path = "${work}/traces.jsonl"
batch_interval_ms = 20

[proxy]
client_key_env = "PYTEST_PROXY_KEY"
TOML

export PYTEST_UPSTREAM_KEY="sk-upstream-never-shown"
export PYTEST_PROXY_KEY="proxy-key-$RANDOM$RANDOM"
target/debug/llmtrace proxy -c "$work/llmtrace.toml" --listen 127.0.0.1:0 2>"$work/proxy.log" &
proxy_pid=$!
pids+=("$proxy_pid")
until grep -q "listening on" "$work/proxy.log"; do
    kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.log"; exit 1; }
    sleep 0.05
done
proxy_url="$(grep -o 'http://[0-9.:]*' "$work/proxy.log" | head -1)"
touch "$work/traces.jsonl"

PROXY_URL="$proxy_url" PROXY_KEY="$PYTEST_PROXY_KEY" TRACE_FILE="$work/traces.jsonl" \
    "$venv/bin/pytest" -q tests/python "$@"

kill -TERM "$proxy_pid"
wait "$proxy_pid" || { echo "proxy exited with $? after SIGTERM"; cat "$work/proxy.log"; exit 1; }
if grep -q "$PYTEST_UPSTREAM_KEY" "$work/traces.jsonl" "$work/proxy.log"; then
    echo "the upstream key leaked into the traces or the log"; exit 1
fi
echo "python client tests passed; proxy shut down cleanly"
