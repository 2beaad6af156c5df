//! Budget: the jsonl exporter writes >= 500,000 traces/s of ~1 KiB to a local file on one core,
//! off the request path. Measured for the exporters alone (batches of 64; in wall time, which
//! includes waiting for the disk in the final `flush`, and in the thread's CPU time, which is
//! what a core spends) and end to end through the export queue and worker thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use llmtrace::exporter::{
    Exporter, ExporterOptions, ExporterSink, JsonlExporter, MarkdownExporter, Overflow,
};
use llmtrace::report::write_jsonl_line;
use llmtrace::sink::RecordSink;
use llmtrace::{Client, GenerateRequest, TraceQuery, TraceRecord};
use rustix::time::{ClockId, clock_gettime};

const BATCH: usize = 64;

/// Real records: 1 KiB prompts through the echo provider, so ~1 KiB answers too.
fn records(count: usize) -> Vec<Arc<TraceRecord>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::builder().max_traces(count).build();
    runtime.block_on(async {
        for i in 0..count {
            let prompt = format!("{i:04} {}", "x".repeat(1019));
            client
                .generate(GenerateRequest::new(prompt).metadata("user_id", "u-42"))
                .await
                .unwrap();
        }
    });
    client.get_traces(TraceQuery::all())
}

/// What a sample's time is measured with.
#[derive(Clone, Copy)]
enum Clock {
    /// Wall time: the final `flush` waits for the disk.
    Wall,
    /// The exporting thread's CPU time: what the exporter costs a core, I/O waits left out.
    ThreadCpu,
}

impl Clock {
    fn now(self) -> Duration {
        match self {
            Clock::Wall => WALL_START.elapsed(),
            Clock::ThreadCpu => {
                let now = clock_gettime(ClockId::ThreadCPUTime);
                Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
            }
        }
    }
}

static WALL_START: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

fn exporter_alone<E: Exporter>(
    c: &mut Criterion,
    name: &str,
    make: impl Fn(&std::path::Path) -> E,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let batch = records(BATCH);
    for (group, clock) in [
        ("exporter_alone", Clock::Wall),
        ("exporter_cpu", Clock::ThreadCpu),
    ] {
        let mut group = c.benchmark_group(group);
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // A fresh file per sample keeps the disk use bounded.
                let dir = tempfile::tempdir().unwrap();
                let mut exporter = make(dir.path());
                let started = clock.now();
                for _ in 0..iters {
                    runtime.block_on(exporter.export(&batch)).unwrap();
                }
                runtime.block_on(exporter.flush()).unwrap();
                clock.now() - started
            })
        });
        group.finish();
    }
}

fn jsonl(c: &mut Criterion) {
    exporter_alone(c, "jsonl", |dir| JsonlExporter::new(dir.join("t.jsonl")));
}

/// The jsonl line writer against `serde_json::to_writer` (what it replaced, same output), in
/// the same run, on the same 1 KiB records.
fn jsonl_line(c: &mut Criterion) {
    let batch = records(BATCH);
    let mut group = c.benchmark_group("jsonl_line");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut out = Vec::with_capacity(1 << 20);
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            out.clear();
            for record in &batch {
                serde_json::to_writer(&mut out, &**record).unwrap();
                out.push(b'\n');
            }
        })
    });
    group.bench_function("llmtrace", |b| {
        b.iter(|| {
            out.clear();
            for record in &batch {
                write_jsonl_line(&mut out, record).unwrap();
            }
        })
    });
    group.finish();
}

fn markdown(c: &mut Criterion) {
    exporter_alone(c, "markdown", |dir| MarkdownExporter::new(dir.join("t.md")));
}

/// Records handed to the sink on one thread, written by the worker thread; timed until
/// shutdown has flushed the last one.
fn jsonl_through_the_queue(c: &mut Criterion) {
    let pool = records(1024);
    let mut group = c.benchmark_group("exporter_pipeline");
    group.throughput(Throughput::Elements(1));
    group.bench_function("jsonl", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let options = ExporterOptions::default().overflow(Overflow::Wait);
            let sink = ExporterSink::builder()
                .exporter(
                    "jsonl",
                    JsonlExporter::new(dir.path().join("t.jsonl")),
                    options,
                )
                .build()
                .unwrap();
            let started = Instant::now();
            for i in 0..iters as usize {
                sink.record(&pool[i % pool.len()]);
            }
            sink.shutdown_blocking();
            let elapsed = started.elapsed();
            assert_eq!(sink.stats()[0].1.exported, iters);
            elapsed
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = jsonl_line, jsonl, markdown, jsonl_through_the_queue
}
criterion_main!(benches);
