#!/usr/bin/env bash
# Checks the OTLP exporter against a real Arize Phoenix: installs Phoenix into a venv under
# target/ (once), starts it on 127.0.0.1 with a fresh database, runs the ignored test
# tests/exporters/otlp/phoenix.rs against it (spans filed under the project named by
# service_name, with their gen_ai.* and server.* attributes), and stops it.
#
# Needs python3 with venv and pip, and curl. Usage: scripts/phoenix_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version="${PHOENIX_VERSION:-20.26.1}"
port="${PHOENIX_PORT:-16006}"
grpc_port="${PHOENIX_GRPC_PORT:-14317}"
dir=target/phoenix
started=$(date +%s)

if [ ! -x "$dir/venv/bin/phoenix" ]; then
    echo "== installing arize-phoenix $version into $dir/venv"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet "arize-phoenix==$version"
    echo "   installed in $(($(date +%s) - started)) s"
fi

work="$(mktemp -d "$PWD/$dir/work.XXXXXX")"
echo "== starting Phoenix on 127.0.0.1:$port (log: $dir/server.log)"
# Loopback only; no telemetry, fonts or other requests of its own to the internet.
PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" PHOENIX_GRPC_PORT="$grpc_port" \
    PHOENIX_WORKING_DIR="$work" PHOENIX_TELEMETRY_ENABLED=false \
    PHOENIX_ALLOW_EXTERNAL_RESOURCES=false PHOENIX_DISABLE_AGENT_ASSISTANT=true \
    "$dir/venv/bin/phoenix" serve >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

boot=$(date +%s)
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "Phoenix exited; see $dir/server.log" >&2
        exit 1
    fi
    if [ $(($(date +%s) - boot)) -ge 120 ]; then
        echo "Phoenix not ready after 120 s; see $dir/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "   ready in $(($(date +%s) - boot)) s"

echo "== cargo test --test exporters otlp::phoenix -- --ignored"
LLMTRACE_PHOENIX_URL="http://127.0.0.1:$port" cargo test --test exporters otlp::phoenix -- --ignored
echo "== Phoenix check passed in $(($(date +%s) - started)) s"
