//! Budgets (issue 14): with the built-in detectors on, redaction adds **≤ 3 µs** per 1 KiB
//! trace, and nothing when off; a record an exporter's sample policy leaves out costs
//! **≤ 200 ns** on the record path.
//!
//! Groups: `redact` (one ~1 KiB record masked in place: ordinary text with nothing to mask,
//! and the same text with an e-mail address and a key in it; the record's clone is made
//! outside the measurement), `sample` (`ExporterSink::record` with one exporter whose policy
//! keeps nothing, and the policy's decision alone). `redact/1KiB_clean_only_*` time each
//! detector alone, to show where the time goes.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use llmtrace::exporter::{ExporterOptions, ExporterSink, JsonlExporter};
use llmtrace::redact::{Detector, RedactPolicy};
use llmtrace::sink::{RecordSink, SamplePolicy, estimated_size};
use llmtrace::{Message, TraceRecord, TraceResponse};
use uuid::Uuid;

const PROSE: &str = "The quarterly report shows revenue grew by 12 percent, driven by the \
    new subscription tier launched in March. Order 1234567890123 shipped on 2025-11-08 at \
    12:30:45 from warehouse 7; version 1.2.3 of the app fixed the login issue. ";

fn record(secret: bool) -> TraceRecord {
    let mut prompt = PROSE.repeat(2);
    if secret {
        prompt.push_str("Reply to ana.lopez@example.com using sk-proj-abcdefghijklmnop1234.");
    }
    TraceRecord {
        trace_id: Uuid::new_v4(),
        timestamp: chrono::Utc::now(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        server_address: None,
        server_port: None,
        stream: false,
        system_prompt: Some("You are a helpful assistant.".into()),
        prompt,
        messages: vec![Message::user("Summarize the report.")],
        tools: Vec::new(),
        parameters: Default::default(),
        response: Some(TraceResponse {
            content: PROSE.repeat(2),
            raw_response: None,
            tool_calls: Vec::new(),
            finish_reason: Some("stop".into()),
            usage: None,
            generation_time_ms: 1.0,
            time_to_first_token_ms: None,
            id: None,
            model: None,
        }),
        error: None,
        metadata: [("session_id".to_owned(), "s-1".into())]
            .into_iter()
            .collect(),
        cost_usd: None,
        redactions: 0,
    }
}

fn redact(c: &mut Criterion) {
    let policy = RedactPolicy::all_detectors();
    let mut group = c.benchmark_group("redact");
    for (name, secret) in [("1KiB_clean", false), ("1KiB_two_secrets", true)] {
        let record = record(secret);
        eprintln!("{name}: estimated size {} B", estimated_size(&record));
        group.bench_function(name, |b| {
            b.iter_batched(
                || record.clone(),
                |mut record| {
                    policy.redact_record(&mut record);
                    record
                },
                BatchSize::SmallInput,
            );
        });
    }
    // Where the time goes: each detector alone, on the clean record.
    let clean = record(false);
    for detector in Detector::ALL {
        let alone = RedactPolicy::builder().detector(detector).build().unwrap();
        group.bench_function(format!("1KiB_clean_only_{detector}"), |b| {
            b.iter_batched(
                || clean.clone(),
                |mut record| {
                    alone.redact_record(&mut record);
                    record
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn sample(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let sink = ExporterSink::builder()
        .sampled_exporter(
            "otlp",
            JsonlExporter::new(dir.path().join("t.jsonl")),
            ExporterOptions::default(),
            SamplePolicy::ratio(0.0),
        )
        .build()
        .unwrap();
    let record = Arc::new(record(false));
    let mut group = c.benchmark_group("sample");
    group.bench_function("sampled_out_record", |b| {
        b.iter(|| sink.record(black_box(&record)));
    });
    let policy = SamplePolicy::ratio(0.05).slow_ms(2000.0);
    group.bench_function("decision", |b| {
        b.iter(|| policy.keeps(black_box(&record)));
    });
    group.finish();
    sink.shutdown_blocking();
}

criterion_group!(benches, redact, sample);
criterion_main!(benches);
