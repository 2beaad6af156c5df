//! Exporters end to end: real files, a real HTTP receiver on 127.0.0.1, back-pressure,
//! isolation of failures, and flushing on shutdown; and OTLP spans delivered to a real
//! OTLP/HTTP receiver (`otlp`).

mod files;
mod otlp;
mod pipeline;
mod reliability;
mod sampling;
#[path = "../support/mod.rs"]
mod support;
mod webhook;

use std::time::Duration;

use llmtrace::exporter::{ExporterOptions, RetryPolicy};

/// Options with fast batching and retries, for tests.
fn quick() -> ExporterOptions {
    ExporterOptions::default()
        .batch_interval(Duration::from_millis(20))
        .retry(
            RetryPolicy::default()
                .max_retries(5)
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50)),
        )
}
