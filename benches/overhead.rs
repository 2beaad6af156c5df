//! Budget: the full traced stack adds <= 2 µs per request (median) over the same stack without
//! tracing; tracing disabled is indistinguishable from the bare provider.
//!
//! Both stacks run over the in-process echo provider with a 1 KiB prompt (and so a 1 KiB
//! answer), in the same run.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use llmtrace::exporter::{ExporterOptions, ExporterSink, JsonlExporter};
use llmtrace::layer::{ServiceBuilderExt, TraceLayer};
use llmtrace::provider::EchoProvider;
use llmtrace::sink::TraceStore;
use llmtrace::{Client, GenerateRequest, Metadata};
use tower::{Service, ServiceBuilder, ServiceExt};

fn request() -> GenerateRequest {
    GenerateRequest::new("x".repeat(1024))
        .temperature(0.2)
        .metadata("user_id", "u-42")
}

fn metadata() -> Metadata {
    let mut metadata = Metadata::new();
    metadata.insert("environment".into(), "bench".into());
    metadata
}

fn full_stack(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let provider = EchoProvider::new();

    let mut untraced = ServiceBuilder::new()
        .set_session("bench-session")
        .inject_metadata(metadata())
        .service(provider.clone());

    let store = TraceStore::new(100);
    let exporters = ExporterSink::builder()
        .exporter(
            "jsonl",
            JsonlExporter::new(dir.path().join("traces.jsonl")),
            ExporterOptions::default(),
        )
        .build()
        .unwrap();
    let mut traced = ServiceBuilder::new()
        .set_session("bench-session")
        .inject_metadata(metadata())
        .trace(provider.info(), (store.clone(), exporters.clone()))
        .service(provider);

    // The same, recording into the ring buffer only: the cost of capture alone.
    let mut store_only = ServiceBuilder::new()
        .set_session("bench-session")
        .inject_metadata(metadata())
        .trace(EchoProvider::new().info(), store.clone())
        .service(EchoProvider::new());

    let mut group = c.benchmark_group("full_stack");
    group.bench_function("untraced", |b| {
        b.to_async(&runtime).iter(|| {
            let call = untraced.call(request());
            async move { black_box(call.await.unwrap()) }
        })
    });
    group.bench_function("traced", |b| {
        b.to_async(&runtime).iter(|| {
            let call = traced.call(request());
            async move { black_box(call.await.unwrap()) }
        })
    });
    group.bench_function("traced_store_only", |b| {
        b.to_async(&runtime).iter(|| {
            let call = store_only.call(request());
            async move { black_box(call.await.unwrap()) }
        })
    });
    group.finish();
    runtime.block_on(exporters.shutdown());
    let stats = exporters.stats();
    eprintln!("jsonl exporter during the bench: {:?}", stats[0].1);
}

fn tracing_disabled(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = EchoProvider::new();
    let client = Client::builder()
        .provider(provider.clone())
        .tracing(false)
        .build();

    let mut group = c.benchmark_group("tracing_disabled");
    group.bench_function("bare_provider", |b| {
        b.to_async(&runtime).iter(|| {
            let call = provider.clone().oneshot(request());
            async move { black_box(call.await.unwrap().into_response().await.unwrap()) }
        })
    });
    // Tracing switched off where the stack is built: the layer is simply not there.
    let tracing = false;
    let layered = ServiceBuilder::new()
        .option_layer(tracing.then(|| TraceLayer::new(provider.info(), TraceStore::new(100))))
        .service(provider.clone());
    group.bench_function("stack_tracing_off", |b| {
        b.to_async(&runtime).iter(|| {
            let call = layered.clone().oneshot(request());
            async move { black_box(call.await.unwrap().into_response().await.unwrap()) }
        })
    });
    group.bench_function("client_tracing_off", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(client.generate(request()).await.unwrap()) })
    });
    group.finish();
}

criterion_group!(benches, full_stack, tracing_disabled);
criterion_main!(benches);
