//! Issue 15: what llmtrace costs beside a hand-written OpenTelemetry SDK span carrying the same
//! data (batch span processor; an exporter that discards, and one that writes JSON lines to a
//! file, as the jsonl exporter does), measured in one process.
//!
//! Each stack makes `CALLS` calls of a 1 KiB prompt to the instant echo provider (so a ~1 KiB
//! answer) from one caller; the stacks take turns, `ROUNDS` times, and the medians are
//! printed. "caller" is wall time per call on the calling thread; "CPU" is the process's CPU
//! time per call, every thread counted (exporter workers, the batch processor), with each
//! sample ending only once its stack has flushed, so no background work escapes it.
//!
//! The last stack is what a user would write by hand to keep the same calls in a file without
//! llmtrace or OpenTelemetry: a `serde_json` line per call (the span's data, an id and the two
//! times) appended to a buffered file on the caller's thread, synced at the end of a sample.
//!
//! `cargo bench --bench otel_peer` (`CALLS=… ROUNDS=…` to change the size; `ONLY=3` runs the
//! fourth stack alone, to profile it; `FILES_IN=/dev/shm` writes both trace files to another
//! file system than the temporary directory's, to tell the file system's share).

use std::cell::RefCell;
use std::fs::File;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmtrace::exporter::{ExporterOptions, ExporterSink, JsonlExporter};
use llmtrace::layer::ServiceBuilderExt;
use llmtrace::provider::EchoProvider;
use llmtrace::sink::TraceStore;
use llmtrace::{Client, GenerateRequest, GenerateResponse, Generation};
use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use rustix::time::{ClockId, clock_gettime};
use tower::{Service, ServiceBuilder, ServiceExt};

#[path = "support/otel.rs"]
mod otel;

use otel::{Discard, JsonLines};

fn request() -> GenerateRequest {
    GenerateRequest::new("x".repeat(1024))
        .temperature(0.2)
        .metadata("user_id", "u-42")
}

/// CPU time of the whole process (all threads).
fn process_cpu() -> Duration {
    let now = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One call of `stack` (the bare provider, or a traced stack over it), its whole answer.
async fn answer<S>(stack: &S) -> GenerateResponse
where
    S: Service<GenerateRequest, Response = Generation> + Clone,
    S::Error: std::fmt::Debug,
{
    let generation = stack.clone().oneshot(request()).await.unwrap();
    generation.into_response().await.unwrap()
}

/// The same call, wrapped in an OpenTelemetry span with what an llmtrace record holds.
async fn otel_span(provider: &EchoProvider, tracer: &impl Tracer) -> GenerateResponse {
    otel::span_around(tracer, request(), |request| async move {
        let generation = provider.clone().oneshot(request).await.unwrap();
        generation.into_response().await.unwrap()
    })
    .await
}

/// The line a user writes by hand for one call: the span's data, an id and the two times.
#[derive(serde::Serialize)]
struct HandWrittenLine<'a> {
    id: uuid::Uuid,
    started: chrono::DateTime<chrono::Utc>,
    ended: chrono::DateTime<chrono::Utc>,
    system: &'a str,
    model: &'a str,
    prompt: &'a str,
    temperature: Option<f64>,
    user_id: &'a str,
    completion: &'a str,
    input_tokens: u64,
    output_tokens: u64,
    finish_reason: Option<&'a str>,
}

/// The same call, written down by hand as a JSON line in `file`.
async fn hand_written(
    provider: &EchoProvider,
    file: &RefCell<BufWriter<File>>,
) -> GenerateResponse {
    let started = chrono::Utc::now();
    let request = request();
    let (prompt, temperature) = (request.prompt.clone(), request.parameters.temperature);
    let generation = provider.clone().oneshot(request).await.unwrap();
    let response = generation.into_response().await.unwrap();
    let usage = response.usage.unwrap_or_default();
    let line = HandWrittenLine {
        id: uuid::Uuid::new_v4(),
        started,
        ended: chrono::Utc::now(),
        system: "echo",
        model: "echo",
        prompt: &prompt,
        temperature,
        user_id: "u-42",
        completion: &response.content,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
        finish_reason: response.finish_reason.as_deref(),
    };
    let mut file = file.borrow_mut();
    serde_json::to_writer(&mut *file, &line).unwrap();
    file.write_all(b"\n").unwrap();
    response
}

/// Medians of one stack's samples, in nanoseconds per call.
#[derive(Default)]
struct Samples {
    caller: Vec<f64>,
    cpu: Vec<f64>,
}

impl Samples {
    fn median(values: &[f64]) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    }
}

/// Runs `calls` calls of `call`, then `flush`, and records time and CPU per call.
async fn sample<F: Future>(
    samples: &mut Samples,
    calls: usize,
    mut call: impl FnMut() -> F,
    flush: impl Future<Output = ()>,
) {
    let (started, cpu) = (Instant::now(), process_cpu());
    for _ in 0..calls {
        std::hint::black_box(call().await);
    }
    let caller = started.elapsed();
    flush.await;
    let cpu = process_cpu() - cpu;
    samples.caller.push(caller.as_nanos() as f64 / calls as f64);
    samples.cpu.push(cpu.as_nanos() as f64 / calls as f64);
}

fn main() {
    let (calls, rounds) = (env("CALLS", 20_000), env("ROUNDS", 11));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = match std::env::var_os("FILES_IN") {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let provider = EchoProvider::new();

    let discarded = Arc::new(AtomicUsize::new(0));
    let otel = SdkTracerProvider::builder()
        .with_batch_exporter(Discard(discarded.clone()))
        .build();
    let tracer = otel.tracer("bench");
    let otel_file = Arc::new(Mutex::new(
        File::create(dir.path().join("spans.jsonl")).unwrap(),
    ));
    // A queue that holds a whole sample: the default (2,048) drops most spans in this loop,
    // and a peer that writes a quarter of the lines would not be doing the same work.
    let lines_processor = BatchSpanProcessor::builder(JsonLines(otel_file.clone()))
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(calls)
                .build(),
        )
        .build();
    let otel_lines = SdkTracerProvider::builder()
        .with_span_processor(lines_processor)
        .build();
    let tracer_lines = otel_lines.tracer("bench");
    let hand_file = RefCell::new(BufWriter::with_capacity(
        64 * 1024,
        File::create(dir.path().join("by_hand.jsonl")).unwrap(),
    ));

    let store = TraceStore::new(100);
    let store_only = ServiceBuilder::new()
        .trace(provider.info(), store.clone())
        .service(provider.clone());
    let exporters = ExporterSink::builder()
        .exporter(
            "jsonl",
            JsonlExporter::new(dir.path().join("traces.jsonl")),
            ExporterOptions::default(),
        )
        .build()
        .unwrap();
    let with_jsonl = ServiceBuilder::new()
        .trace(provider.info(), (store.clone(), exporters.clone()))
        .service(provider.clone());
    let jsonl_only = ServiceBuilder::new()
        .trace(provider.info(), exporters.clone())
        .service(provider.clone());
    let client_off = Client::builder()
        .provider(provider.clone())
        .tracing(false)
        .build();
    let client_on = Client::builder()
        .provider(provider.clone())
        .max_traces(100)
        .build();

    let names = [
        "untraced (bare provider)",
        "Client, tracing off",
        "trace layer + ring buffer",
        "trace layer + ring buffer + jsonl exporter",
        "OpenTelemetry SDK span, batch, discarding exporter",
        "OpenTelemetry SDK span, batch, JSON lines to a file",
        "Client, tracing on (ring buffer)",
        "by hand: a serde_json line per call to a file",
        "trace layer + jsonl exporter (no ring buffer)",
    ];
    let mut results: Vec<Samples> = names.iter().map(|_| Samples::default()).collect();
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    let runs = |stack: usize| only.is_none_or(|only| only == stack);
    runtime.block_on(async {
        for _ in 0..rounds {
            if runs(0) {
                sample(&mut results[0], calls, || answer(&provider), async {}).await;
            }
            if runs(1) {
                sample(
                    &mut results[1],
                    calls,
                    || client_off.generate(request()),
                    async {},
                )
                .await;
            }
            if runs(2) {
                sample(&mut results[2], calls, || answer(&store_only), async {}).await;
            }
            if runs(3) {
                sample(
                    &mut results[3],
                    calls,
                    || answer(&with_jsonl),
                    exporters.flush(),
                )
                .await;
            }
            if runs(4) {
                sample(
                    &mut results[4],
                    calls,
                    || otel_span(&provider, &tracer),
                    async {
                        otel.force_flush().unwrap();
                    },
                )
                .await;
            }
            if runs(6) {
                sample(
                    &mut results[6],
                    calls,
                    || client_on.generate(request()),
                    async {},
                )
                .await;
            }
            if runs(7) {
                sample(
                    &mut results[7],
                    calls,
                    || hand_written(&provider, &hand_file),
                    async {
                        let mut file = hand_file.borrow_mut();
                        file.flush().unwrap();
                        file.get_ref().sync_data().unwrap();
                    },
                )
                .await;
            }
            if runs(8) {
                sample(
                    &mut results[8],
                    calls,
                    || answer(&jsonl_only),
                    exporters.flush(),
                )
                .await;
            }
            if runs(5) {
                sample(
                    &mut results[5],
                    calls,
                    || otel_span(&provider, &tracer_lines),
                    async {
                        otel_lines.force_flush().unwrap();
                        // Durable, as the jsonl exporter's flush makes its file.
                        otel_file.lock().unwrap().sync_data().unwrap();
                    },
                )
                .await;
            }
        }
    });
    runtime.block_on(exporters.shutdown());
    otel.shutdown().unwrap();
    otel_lines.shutdown().unwrap();

    if let Some(only) = only {
        let samples = &results[only];
        let (caller, cpu) = (
            Samples::median(&samples.caller),
            Samples::median(&samples.cpu),
        );
        println!(
            "{}: caller {caller:.0} ns, CPU {cpu:.0} ns per call",
            names[only]
        );
    } else {
        print_table(&names, &results, calls, rounds);
    }
    let stats = &exporters.stats()[0].1;
    println!("jsonl exporter: {stats:?}");
    // The batch span processor drops spans when its queue is full: count what it wrote.
    let written = std::fs::read(dir.path().join("spans.jsonl")).unwrap();
    let lines = written.iter().filter(|&&b| b == b'\n').count();
    let offered = calls * rounds;
    let discarded = discarded.load(Ordering::Relaxed);
    println!(
        "OpenTelemetry spans exported: discarding {discarded} of {offered}, \
         JSON lines {lines} of {offered}"
    );
}

/// The medians of every stack, each against the bare provider and the discarding OTel span.
fn print_table(names: &[&str], results: &[Samples], calls: usize, rounds: usize) {
    let base_caller = Samples::median(&results[0].caller);
    let base_cpu = Samples::median(&results[0].cpu);
    let otel_cpu = Samples::median(&results[4].cpu) - base_cpu;
    println!(
        "{calls} calls x {rounds} rounds, medians; added = minus the bare provider; \
         vs OTel = added CPU / the OTel span's added CPU"
    );
    println!(
        "{:<52} {:>10} {:>10} {:>12} {:>12} {:>8}",
        "stack", "caller ns", "CPU ns", "added caller", "added CPU", "vs OTel"
    );
    for (name, samples) in names.iter().zip(results) {
        let caller = Samples::median(&samples.caller);
        let cpu = Samples::median(&samples.cpu);
        println!(
            "{name:<52} {caller:>10.0} {cpu:>10.0} {:>+12.0} {:>+12.0} {:>8.2}",
            caller - base_caller,
            cpu - base_cpu,
            (cpu - base_cpu) / otel_cpu
        );
    }
}
