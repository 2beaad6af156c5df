//! Budget (issue 18): the `sqlite` exporter inserts **≥ 50,000 traces/s** of ~1 KiB.
//!
//! Group `sqlite_insert`: `SqliteExporter::insert` of one batch of 64 (the exporter
//! pipeline's default batch) or 1,000 (what `llmtrace import` writes per transaction) into
//! a store that starts empty (`fresh`) or holds 100,000 traces (`100k`). The store grows by
//! the batches measured. Records are the perf test's workload (tests/ui/perf.rs): 1,176 bytes
//! of JSON, 40-word prompt, 4 models, sessions of 10 steps, 5 % failures, 100 users; they are
//! built outside the measurement.

use chrono::{DateTime, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llmtrace::TraceRecord;
use llmtrace::exporter::SqliteExporter;
use serde_json::json;

const WORDS: [&str; 16] = [
    "revenue",
    "histogram",
    "python",
    "invoice",
    "customer",
    "latency",
    "report",
    "deploy",
    "weather",
    "summary",
    "dataset",
    "refund",
    "matrix",
    "schedule",
    "contract",
    "cluster",
];

/// Record `i` of the perf test's workload, one trace per 10 ms from `start`.
fn generated(i: usize, start: DateTime<Utc>) -> TraceRecord {
    let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama3"];
    let mut prompt = String::with_capacity(400);
    for k in 0..40 {
        prompt.push_str(WORDS[(i * 7 + k * 3) % WORDS.len()]);
        prompt.push(' ');
    }
    let failed = i % 20 == 19;
    let value = json!({
        "trace_id": uuid::Uuid::new_v4(),
        "timestamp": (start + chrono::Duration::milliseconds(10 * i as i64)).to_rfc3339(),
        "provider": if i % 4 == 2 { "anthropic" } else { "openai" },
        "model": models[i % 4],
        "system_prompt": "You are terse.",
        "prompt": prompt,
        "messages": [{"role": "user", "content": "earlier question"},
                     {"role": "assistant", "content": "earlier answer"}],
        "tools": [{"name": "lookup", "description": "Finds things",
                   "parameters": {"type": "object"}}],
        "parameters": {"temperature": 0.2, "max_tokens": 256},
        "response": (!failed).then(|| json!({
            "content": "The figures show a steady rise over the quarter, driven by renewals \
                        and a handful of large contracts; churn stayed flat and support load fell.",
            "tool_calls": [], "finish_reason": "stop",
            "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
            "generation_time_ms": 850.0, "time_to_first_token_ms": 120.0,
        })),
        "error": failed.then(|| json!({"kind": "timeout", "message": "the call failed: timeout",
                                       "retryable": true, "status": 503,
                                       "generation_time_ms": 40.0})),
        "metadata": {"step_type": "generate", "attempt_number": (i % 3) as i64 + 1,
                     "user": format!("u{}", i % 100), "cost_usd": 0.0125,
                     "session_id": format!("s-{}", i / 10)},
    });
    serde_json::from_value(value).expect("a valid record")
}

fn insert(c: &mut Criterion) {
    let start: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().expect("a time");
    let mut group = c.benchmark_group("sqlite_insert");
    for (store, prefill) in [("fresh", 0), ("100k", 100_000)] {
        for batch in [64usize, 1000] {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let mut exporter = SqliteExporter::new(dir.path().join("traces.db"))
                .open()
                .expect("a new store");
            let mut next = 0;
            while next < prefill {
                let records: Vec<_> = (next..next + 1000).map(|i| generated(i, start)).collect();
                exporter.insert(&records).expect("inserted");
                next += records.len();
            }
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(BenchmarkId::new(store, batch), |b| {
                b.iter_batched(
                    || {
                        let records: Vec<_> =
                            (next..next + batch).map(|i| generated(i, start)).collect();
                        next += batch;
                        records
                    },
                    |records| exporter.insert(&records).expect("inserted"),
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, insert);
criterion_main!(benches);
