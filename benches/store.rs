//! Budget: the ring buffer appends in O(1) amortised under every eviction policy; lookups by id
//! and last N stay cheap at any size.
//!
//! Groups: `store` (count bound only, as before), `store_max_bytes` (a byte bound that holds
//! the same number of records), `store_max_age` (records 1 ms apart, the clock moving 1 ms per
//! append, so every append evicts one by age), `store_all` (the three bounds at once).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use llmtrace::sink::{EvictionPolicy, ManualClock, TraceStore, estimated_size};
use llmtrace::{TraceRecord, TraceResponse};
use uuid::Uuid;

fn record_at(timestamp: DateTime<Utc>) -> Arc<TraceRecord> {
    Arc::new(TraceRecord {
        trace_id: Uuid::new_v4(),
        timestamp,
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
        cost_usd: None,
        error: None,
        metadata: Default::default(),
        redactions: 0,
    })
}

fn record() -> Arc<TraceRecord> {
    record_at(Utc::now())
}

/// Records `step` apart from `start`, and the clock that sees them age.
struct Timeline {
    start: DateTime<Utc>,
    next: AtomicI64,
    clock: ManualClock,
}

impl Timeline {
    fn new() -> Self {
        let start = Utc::now();
        Self {
            start,
            next: AtomicI64::new(0),
            clock: ManualClock::new(start),
        }
    }

    /// The next record, 1 ms after the previous one.
    fn record(&self) -> Arc<TraceRecord> {
        let ms = self.next.fetch_add(1, Ordering::Relaxed);
        record_at(self.start + TimeDelta::milliseconds(ms))
    }

    /// Appends `record`, the clock first moving 1 ms when the policy reads it (an uncontended
    /// lock, about what reading the system clock costs).
    fn push(&self, store: &TraceStore, aging: bool, record: Arc<TraceRecord>) {
        if aging {
            self.clock.advance(Duration::from_millis(1));
        }
        store.push(record);
    }
}

fn bench_policy(c: &mut Criterion, group: &str, policy: fn(usize, u64) -> EvictionPolicy) {
    let mut group = c.benchmark_group(group);
    let one = estimated_size(&record());
    for size in [100usize, 100_000] {
        let timeline = Timeline::new();
        let policy = policy(size, one);
        let store = TraceStore::with_clock(policy, Arc::new(timeline.clock.clone()));
        let aging = policy.max_age.is_some();
        for _ in 0..size {
            timeline.push(&store, aging, timeline.record());
        }
        assert_eq!(
            store.len(),
            size,
            "{policy:?} holds {size} records when full"
        );
        group.bench_with_input(BenchmarkId::new("append_full", size), &size, |b, _| {
            // A full buffer: every append also evicts one record.
            b.iter_batched(
                || timeline.record(),
                |r| timeline.push(&store, aging, r),
                BatchSize::SmallInput,
            )
        });
        let present = store.all()[store.len() / 2].trace_id;
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

fn store(c: &mut Criterion) {
    bench_policy(c, "store", |size, _| EvictionPolicy::new(size));
    bench_policy(c, "store_max_bytes", |size, one| {
        EvictionPolicy::new(usize::MAX).max_bytes(size as u64 * one)
    });
    bench_policy(c, "store_max_age", |size, _| {
        EvictionPolicy::new(usize::MAX).max_age(Duration::from_millis(size as u64))
    });
    bench_policy(c, "store_all", |size, one| {
        EvictionPolicy::new(size)
            .max_bytes(size as u64 * one)
            .max_age(Duration::from_millis(size as u64))
    });
}

criterion_group!(benches, store);
criterion_main!(benches);
