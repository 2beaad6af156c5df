#!/usr/bin/env bash
# Runs every benchmark, then prints each budget of DESIGN.md beside its measured figure.
# Takes about 5 minutes; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench overhead --bench store --bench exporters --bench concurrency
cargo bench --bench memory
python3 scripts/bench_report.py
