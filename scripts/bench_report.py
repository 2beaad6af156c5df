#!/usr/bin/env python3
"""Prints the figures of the last `cargo bench` run against the budgets in DESIGN.md.

Reads criterion's estimates (target/criterion/<group>/<bench>/new/estimates.json): medians,
in nanoseconds.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def median(*path):
    file = ROOT.joinpath(*path, "new", "estimates.json")
    try:
        return json.loads(file.read_text())["median"]["point_estimate"]
    except FileNotFoundError:
        sys.exit(f"missing {file}: run scripts/bench.sh (or cargo bench) first")


def verdict(ok):
    return "meets budget" if ok else "MISSES budget"


def main():
    untraced = median("full_stack", "untraced")
    traced = median("full_stack", "traced")
    store_only = median("full_stack", "traced_store_only")
    added = traced - untraced
    print("Full stack (session + metadata + capture + store + jsonl exporter), 1 KiB prompt and answer")
    print(f"  untraced {untraced:8.0f} ns   traced {traced:8.0f} ns   ratio {traced / untraced:.2f}x")
    print(f"  added    {added:8.0f} ns per request (budget <= 2000 ns): {verdict(added <= 2000)}")
    print(f"  added    {added / 1e6 * 100:8.3f} % of a 1 ms provider call (budget <= 1 %): {verdict(added <= 10_000)}")
    print(f"  capture + ring buffer only: +{store_only - untraced:.0f} ns ({store_only / untraced:.2f}x)")

    bare = median("tracing_disabled", "bare_provider")
    stack = median("tracing_disabled", "stack_tracing_off")
    off = median("tracing_disabled", "client_tracing_off")
    print("\nTracing disabled vs the bare provider")
    print(f"  bare provider            {bare:8.0f} ns")
    print(f"  stack, trace layer off   {stack:8.0f} ns   ratio {stack / bare:.2f}x ({stack - bare:+.0f} ns)")
    print(f"  Client, tracing off      {off:8.0f} ns   ratio {off / bare:.2f}x ({off - bare:+.0f} ns: the Client's boxed stack)")

    print("\nRing buffer (O(1) append)")
    for size in ("100", "100000"):
        figures = "   ".join(
            f"{name} {median('store', name, size):6.0f} ns"
            for name in ("append_full", "get_by_id", "get_unknown_id", "last_10")
        )
        print(f"  {size:>6} traces: {figures}")

    print("\nExporters (~1 KiB traces, local file)")
    for name in ("jsonl", "markdown"):
        per_second = 64 / (median("exporter_alone", name) / 1e9)
        ok = per_second >= 200_000 if name == "jsonl" else True
        budget = " (budget >= 200,000/s): " + verdict(ok) if name == "jsonl" else ""
        print(f"  {name:9} alone          {per_second:10,.0f} traces/s{budget}")
    pipeline = 1 / (median("exporter_pipeline", "jsonl") / 1e9)
    print(f"  jsonl via queue+worker {pipeline:10,.0f} traces/s (one producer thread, end to end)")

    print("\n64 concurrent callers, 2 worker threads (throughput, traced vs untraced)")
    for latency in ("instant", "1ms"):
        u = 1 / (median("callers_64", "untraced", latency) / 1e9)
        t = 1 / (median("callers_64", "traced", latency) / 1e9)
        s = 1 / (median("callers_64", "traced_store_only", latency) / 1e9)
        loss = (1 - t / u) * 100
        print(f"  provider {latency:7}: untraced {u:10,.0f}/s   traced {t:10,.0f}/s   "
              f"-{loss:.1f} % (budget <= 10 %): {verdict(loss <= 10)}")
        print(f"  {'':16}  ring buffer only {s:10,.0f}/s   -{(1 - s / u) * 100:.1f} %")


if __name__ == "__main__":
    main()
