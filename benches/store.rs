//! Budget: the ring buffer appends in O(1); lookups by id and last N stay cheap at any size.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use llmtrace::sink::TraceStore;
use llmtrace::{TraceRecord, TraceResponse};
use uuid::Uuid;

fn record() -> Arc<TraceRecord> {
    Arc::new(TraceRecord {
        trace_id: Uuid::new_v4(),
        timestamp: chrono::Utc::now(),
        provider: "echo".into(),
        model: "echo-1".into(),
        server_address: None,
        server_port: None,
        stream: false,
        system_prompt: None,
        prompt: "x".repeat(1024),
        messages: Vec::new(),
        tools: Vec::new(),
        parameters: Default::default(),
        response: Some(TraceResponse {
            content: "y".repeat(1024),
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
        metadata: Default::default(),
    })
}

fn store(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    for size in [100usize, 100_000] {
        let store = TraceStore::new(size);
        let records: Vec<_> = (0..size).map(|_| record()).collect();
        for r in &records {
            store.push(r.clone());
        }
        group.bench_with_input(BenchmarkId::new("append_full", size), &size, |b, _| {
            // A full buffer: every append also evicts the oldest.
            b.iter_batched(record, |r| store.push(r), BatchSize::SmallInput)
        });
        let present = store.all()[size / 2].trace_id;
        group.bench_with_input(BenchmarkId::new("get_by_id", size), &size, |b, _| {
            b.iter(|| black_box(store.get(black_box(&present))))
        });
        group.bench_with_input(BenchmarkId::new("get_unknown_id", size), &size, |b, _| {
            let unknown = Uuid::new_v4();
            b.iter(|| black_box(store.get(black_box(&unknown))))
        });
        group.bench_with_input(BenchmarkId::new("last_10", size), &size, |b, _| {
            b.iter(|| black_box(store.last(10)))
        });
    }
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);
