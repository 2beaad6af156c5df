//! Write your own exporter in Rust (no plugin needed when it lives in your binary): here, one
//! that counts tokens per model and prints them each batch. It runs on its own worker thread,
//! off the request path, like the built-in ones.
//!
//! Run with `cargo run --example custom_exporter`. For exporters loaded from a shared library
//! at run time, see `plugins/README.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use llmtrace::exporter::{Exporter, ExporterError, ExporterOptions, ExporterSink, async_trait};
use llmtrace::{Client, GenerateRequest, TraceRecord};

/// Tokens used per model, printed after every batch.
#[derive(Debug, Default)]
struct TokenLedger {
    per_model: BTreeMap<String, u64>,
}

#[async_trait]
impl Exporter for TokenLedger {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        for record in batch {
            *self.per_model.entry(record.model.clone()).or_default() += record.total_tokens();
        }
        println!(
            "ledger after {} more traces: {:?}",
            batch.len(),
            self.per_model
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = ExporterOptions::default().batch_size(4);
    let exporters = ExporterSink::builder()
        .exporter("ledger", TokenLedger::default(), options)
        .build()?;
    let client = Client::builder().exporters(exporters).build();

    for i in 0..10 {
        client
            .generate(GenerateRequest::new(format!("Question number {i}")))
            .await?;
    }
    client.shutdown().await; // delivers the last, partial batch

    let (name, stats) = &client.exporter_stats()[0];
    println!(
        "{name}: {} exported, {} dropped, {} failed",
        stats.exported, stats.dropped, stats.failed
    );
    Ok(())
}
