//! Traces leaving for the observability systems users already run: OTLP spans delivered to a
//! real OTLP/HTTP receiver on 127.0.0.1 (what arrives, and how delivery survives a failing,
//! down or slow collector), and `tracing` events for in-process subscribers.

mod config;
mod delivery;
mod phoenix;
mod redirects;
mod served;
mod spans;
mod tracing_events;

use std::time::Duration;

use llmtrace::exporter::{ExporterOptions, ExporterSink, OtlpExporter, OtlpOptions, RetryPolicy};
use llmtrace::provider::EchoProvider;
use llmtrace::{Client, ClientBuilder};

/// The model the echo provider reports in these tests.
const MODEL: &str = "gpt-4o-mini";

/// Small batches and short, many retries: a test waits milliseconds, not seconds.
fn fast_export() -> ExporterOptions {
    ExporterOptions::default()
        .batch_interval(Duration::from_millis(5))
        .retry(
            RetryPolicy::default()
                .max_retries(200)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(40)),
        )
}

/// A builder over the echo provider, exporting to an OTLP receiver as `options` says.
fn exporting(options: OtlpOptions, export: ExporterOptions) -> ClientBuilder {
    let exporter = OtlpExporter::new(options).expect("a valid exporter");
    let exporters = ExporterSink::builder()
        .exporter("collector", exporter, export)
        .build()
        .expect("the export worker starts");
    Client::builder()
        .provider(EchoProvider::new().model(MODEL))
        .exporters(exporters)
}
