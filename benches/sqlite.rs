//! Budget (issue 18): the `sqlite` exporter inserts **≥ 50,000 traces/s** of ~1 KiB.
//!
//! Group `sqlite_insert`: `SqliteExporter::insert` of one batch of 64 (the exporter
//! pipeline's default batch) or 1,000 (what `llmtrace import` writes per transaction) into
//! a store that starts empty (`fresh`) or holds 100,000 traces (`100k`). The store grows by
//! the batches measured. Records are the perf test's workload (tests/ui/workload.rs): 1,180 bytes
//! of JSON, 40-word prompt, 4 models, sessions of 10 steps, 5 % failures, 100 users; they are
//! built outside the measurement.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llmtrace::exporter::SqliteExporter;

#[path = "../tests/ui/workload.rs"]
mod workload;

use workload::generated;

fn insert(c: &mut Criterion) {
    let start = workload::start();
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
