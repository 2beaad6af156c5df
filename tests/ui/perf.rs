//! Figures for BENCHMARKS.md, ignored by default: run in release,
//! `cargo test --release --test ui perf -- --ignored --nocapture`.
//! `LLMTRACE_PERF_ROWS` sets the store size (default 1,000,000), `LLMTRACE_PERF_BATCH` the
//! pipeline's batch size (default 64, the exporters' default), `LLMTRACE_PERF_RANDOM_IDS=1`
//! random (v4) trace ids instead of the trace layer's time-ordered ones (see `workload`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use llmtrace::TraceRecord;
use llmtrace::exporter::{
    ExporterOptions, ExporterSink, Overflow, SqliteExporter, SqliteStore, TraceFilter,
};
use llmtrace::sink::RecordSink;

use crate::workload::{self, generated};

/// CPU time used so far by the whole process (every thread): on a shared machine, traces per
/// CPU-second move far less with other people's builds than traces per wall-clock second.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time used so far by this thread.
pub(crate) fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Bytes this process has read and written through system calls so far (`rchar`, `wchar`
/// of `/proc/self/io`; zero where there is no such file): SQLite's page reads and its WAL and
/// checkpoint writes, a figure no other process's load changes.
pub(crate) fn io_bytes() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("rchar:"), field("wchar:"))
}

/// `per` traces' reads and writes since `before`, in KiB per trace.
fn io_per_trace(before: (u64, u64), per: usize) -> String {
    let (read, written) = io_bytes();
    let kib = |bytes: u64| bytes as f64 / 1024.0 / per as f64;
    format!(
        "{:.1} KiB read, {:.1} KiB written per trace",
        kib(read - before.0),
        kib(written - before.1)
    )
}

/// The count the environment variable `name` holds, or `default`.
pub(crate) fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
#[ignore = "timing figures: run in release (see BENCHMARKS.md)"]
fn perf_sqlite_store_figures() {
    let rows = env_count("LLMTRACE_PERF_ROWS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let start = workload::start();
    let size = serde_json::to_vec(&generated(0, start)).unwrap().len();
    println!("record size: {size} bytes of JSON");

    // 1. Through the exporter pipeline as a client feeds it: queue, worker, default batches
    // of 64, waiting (not dropping) when the queue is full.
    let warm = 50_000.min(rows);
    let records: Vec<Arc<TraceRecord>> = (0..warm).map(|i| Arc::new(generated(i, start))).collect();
    let batch = env_count("LLMTRACE_PERF_BATCH", 64);
    let options = ExporterOptions::default()
        .overflow(Overflow::Wait)
        .batch_size(batch)
        .queue_size(batch.max(ExporterOptions::default().queue_size));
    let sink = ExporterSink::builder()
        .exporter("local", SqliteExporter::new(&path).open().unwrap(), options)
        .build()
        .unwrap();
    let began = Instant::now();
    let cpu = process_cpu();
    let io = io_bytes();
    for record in &records {
        sink.record(record);
    }
    sink.shutdown_blocking();
    let elapsed = began.elapsed();
    let cpu = process_cpu() - cpu;
    assert_eq!(sink.stats()[0].1.exported, warm as u64);
    println!(
        "pipeline (batch {batch}): {warm} traces in {:.2} s = {:.0} traces/s; {:.2} CPU-s = {:.0} traces/CPU-s; {}",
        elapsed.as_secs_f64(),
        warm as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        warm as f64 / cpu.as_secs_f64(),
        io_per_trace(io, warm)
    );
    drop(records);

    // 2. The rest through the exporter's batch insert, 1,000 per transaction (as `import`).
    let mut exporter = SqliteExporter::new(&path).open().unwrap();
    let mut inserting = Duration::ZERO;
    let mut inserting_cpu = Duration::ZERO;
    let io = io_bytes();
    let mut i = warm;
    while i < rows {
        let batch: Vec<TraceRecord> = (i..(i + 1000).min(rows))
            .map(|j| generated(j, start))
            .collect();
        let began = Instant::now();
        let cpu = thread_cpu();
        exporter.insert(&batch).unwrap();
        inserting += began.elapsed();
        inserting_cpu += thread_cpu() - cpu;
        i += batch.len();
    }
    let bulk = rows - warm;
    if bulk > 0 {
        println!(
            "batch insert (1000): {bulk} traces in {:.2} s = {:.0} traces/s; {:.2} CPU-s = {:.0} traces/CPU-s; {}",
            inserting.as_secs_f64(),
            bulk as f64 / inserting.as_secs_f64(),
            inserting_cpu.as_secs_f64(),
            bulk as f64 / inserting_cpu.as_secs_f64(),
            io_per_trace(io, bulk)
        );
    }
    drop(exporter);
    let file = std::fs::metadata(&path).unwrap().len();
    println!(
        "database: {rows} traces, {:.0} MiB",
        file as f64 / 1048576.0
    );

    // 3. Filtered pages of 50, newest first: the median of 5 runs on a warm store.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.count().unwrap(), rows as u64);
    let session = format!("s-{}", rows / 20);
    let cases: Vec<(&str, TraceFilter)> = vec![
        ("no filter", TraceFilter::default()),
        (
            "model",
            TraceFilter {
                model: Some("claude-sonnet".into()),
                ..Default::default()
            },
        ),
        (
            "session",
            TraceFilter {
                session: Some(session),
                ..Default::default()
            },
        ),
        (
            "outcome=error",
            TraceFilter {
                outcome: Some("error".into()),
                ..Default::default()
            },
        ),
        (
            "meta user=u42",
            TraceFilter {
                meta: Some("user=u42".into()),
                ..Default::default()
            },
        ),
        (
            "full text",
            TraceFilter {
                q: Some("invoice refund".into()),
                ..Default::default()
            },
        ),
        (
            "model+error+time range",
            TraceFilter {
                model: Some("gpt-4o".into()),
                outcome: Some("timeout".into()),
                from: Some("2025-01-01T12:00:00Z".into()),
                to: Some("2025-01-02T00:00:00Z".into()),
                ..Default::default()
            },
        ),
    ];
    for (name, filter) in cases {
        let mut samples = Vec::new();
        let mut found = 0;
        let mut next = None;
        for _ in 0..5 {
            let began = Instant::now();
            let page = store.traces(&filter).unwrap();
            samples.push(began.elapsed());
            found = page.traces.len();
            next = page.next;
        }
        let first = median(samples);
        // The second page, through the cursor.
        let second = TraceFilter {
            cursor: next,
            ..filter.clone()
        };
        let mut samples = Vec::new();
        for _ in 0..5 {
            let began = Instant::now();
            store.traces(&second).unwrap();
            samples.push(began.elapsed());
        }
        println!(
            "page of 50 ({name}): {found} rows, {:.2} ms; next page {:.2} ms",
            first.as_secs_f64() * 1000.0,
            median(samples).as_secs_f64() * 1000.0
        );
    }
    let began = Instant::now();
    let summary = store.summary(&TraceFilter::default()).unwrap();
    println!(
        "summary of {} traces: {:.0} ms",
        summary.calls,
        began.elapsed().as_secs_f64() * 1000.0
    );
}
