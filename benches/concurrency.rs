//! Budget: 64 concurrent callers on 2 cores keep throughput within 10% of the untraced stack.
//!
//! All clients run on the same multi-threaded runtime (2 workers); the traced one records into
//! the ring buffer and a jsonl exporter, `traced_store_only` into the ring buffer alone, and
//! `otel_span` is the peer: the untraced client inside a hand-written OpenTelemetry SDK span
//! with the same data (batch processor, an exporter that discards). Measured with an instant
//! provider (the worst case: tracing is all the work there is) and with a provider taking 1 ms
//! (a fast real one).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llmtrace::exporter::{ExporterOptions, ExporterSink, JsonlExporter};
use llmtrace::provider::EchoProvider;
use llmtrace::{Client, GenerateRequest};
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

#[path = "support/otel.rs"]
#[allow(dead_code)] // the file exporter is otel_peer's
mod otel;

const CALLERS: u64 = 64;

/// Calls made inside an OpenTelemetry span, to compare with the spans it exported.
static OTEL_CALLS: AtomicUsize = AtomicUsize::new(0);

fn run(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    requests: u64,
    tracer: Option<&SdkTracer>,
) -> Duration {
    let per_caller = requests.div_ceil(CALLERS);
    runtime.block_on(async {
        let started = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let client = client.clone();
                let tracer = tracer.cloned();
                tokio::spawn(async move {
                    for i in 0..per_caller {
                        let prompt = format!("{caller}/{i} {}", "x".repeat(1000));
                        let request = GenerateRequest::new(prompt);
                        match &tracer {
                            None => drop(client.generate(request).await.unwrap()),
                            Some(tracer) => {
                                OTEL_CALLS.fetch_add(1, Ordering::Relaxed);
                                drop(
                                    otel::span_around(tracer, request, async |request| {
                                        client.generate(request).await.unwrap()
                                    })
                                    .await,
                                )
                            }
                        }
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        started.elapsed()
    })
}

fn concurrency(c: &mut Criterion) {
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let spans = Arc::new(AtomicUsize::new(0));
    let otel = SdkTracerProvider::builder()
        .with_batch_exporter(otel::Discard(spans.clone()))
        .build();
    let tracer = otel.tracer("bench");
    let mut group = c.benchmark_group("callers_64");
    group.throughput(Throughput::Elements(1));
    for (latency_name, latency) in [
        ("instant", Duration::ZERO),
        ("1ms", Duration::from_millis(1)),
    ] {
        let provider = EchoProvider::new().latency(latency);
        let untraced = Client::builder()
            .provider(provider.clone())
            .tracing(false)
            .build();
        let exporters = ExporterSink::builder()
            .exporter(
                "jsonl",
                JsonlExporter::new(dir.path().join(format!("{latency_name}.jsonl"))),
                ExporterOptions::default().queue_size(65_536),
            )
            .build()
            .unwrap();
        let traced = Client::builder()
            .provider(provider.clone())
            .exporters(exporters)
            .build();
        let store_only = Client::builder().provider(provider).build();
        group.bench_function(BenchmarkId::new("untraced", latency_name), |b| {
            b.iter_custom(|iters| run(&runtime, &untraced, iters, None))
        });
        group.bench_function(BenchmarkId::new("traced", latency_name), |b| {
            b.iter_custom(|iters| run(&runtime, &traced, iters, None))
        });
        group.bench_function(BenchmarkId::new("traced_store_only", latency_name), |b| {
            b.iter_custom(|iters| run(&runtime, &store_only, iters, None))
        });
        group.bench_function(BenchmarkId::new("otel_span", latency_name), |b| {
            b.iter_custom(|iters| run(&runtime, &untraced, iters, Some(&tracer)))
        });
        runtime.block_on(traced.shutdown());
        eprintln!(
            "{latency_name}: jsonl exporter {:?}",
            traced.exporter_stats()[0].1
        );
    }
    group.finish();
    otel.shutdown().unwrap();
    eprintln!(
        "OpenTelemetry spans exported: {} of {} (the batch processor drops when its queue is full)",
        spans.load(Ordering::Relaxed),
        OTEL_CALLS.load(Ordering::Relaxed)
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = concurrency
}
criterion_main!(benches);
