//! The perf test's workload, shared with `benches/sqlite.rs` (included there by path): ~1 KiB
//! traces of 4 models and 2 providers, sessions of 10 steps, 5 % failures, 100 users.
//! Trace ids are UUIDv7 of the trace's time, as the trace layer makes them;
//! `LLMTRACE_PERF_RANDOM_IDS=1` makes them random (v4) instead, as in files that other tools
//! (AbstractCore) wrote.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use llmtrace::TraceRecord;
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

/// Whether `LLMTRACE_PERF_RANDOM_IDS` asks for random (v4) trace ids.
static RANDOM_IDS: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("LLMTRACE_PERF_RANDOM_IDS").is_some_and(|v| v != "0"));

/// A UUIDv7 of `time` with `random`'s other bits: ids that sort by time, as the trace layer
/// makes them, so that the store's `trace_id` index grows at its end instead of on a
/// random page per trace (BENCHMARKS.md, "The speed of light").
pub(crate) fn time_ordered(time: DateTime<Utc>, random: uuid::Uuid) -> uuid::Uuid {
    let millis = time.timestamp_millis() as u128;
    let random = random.as_u128() & ((1 << 76) - 1);
    uuid::Uuid::from_u128((millis << 80) | (0x7 << 76) | random)
}

/// The time of the workload's first trace.
pub(crate) fn start() -> DateTime<Utc> {
    "2025-01-01T00:00:00Z".parse().expect("a time")
}

/// Record `i` of the workload, one trace per 10 ms from `start`.
pub(crate) fn generated(i: usize, start: DateTime<Utc>) -> TraceRecord {
    let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama3"];
    let mut prompt = String::with_capacity(400);
    for k in 0..40 {
        prompt.push_str(WORDS[(i * 7 + k * 3) % WORDS.len()]);
        prompt.push(' ');
    }
    let failed = i % 20 == 19;
    let time = start + chrono::Duration::milliseconds(10 * i as i64);
    let trace_id = if *RANDOM_IDS {
        uuid::Uuid::new_v4()
    } else {
        time_ordered(time, uuid::Uuid::new_v4())
    };
    let value = json!({
        "trace_id": trace_id,
        "timestamp": time.to_rfc3339(),
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
