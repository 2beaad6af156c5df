//! Exporters: where traces go to outlive the process.
//!
//! An [`Exporter`] receives batches of records. It never runs on the request path: each
//! exporter added to an [`ExporterSink`] gets a bounded queue and a worker thread of its own,
//! which batches records (by size and interval), calls the exporter, retries retryable
//! failures with exponential backoff, and counts what was exported, dropped and failed. A slow
//! or failing exporter delays and fails only itself.
//!
//! ```
//! use llmtrace::exporter::{ExporterOptions, ExporterSink, JsonlExporter};
//! use llmtrace::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("traces.jsonl");
//! let exporters = ExporterSink::builder()
//!     .exporter("archive", JsonlExporter::new(&path), ExporterOptions::default())
//!     .build()?;
//! let client = Client::builder().exporters(exporters).build();
//!
//! client.generate("Hello").await?;
//! client.shutdown().await; // flushes every queued trace
//!
//! assert_eq!(std::fs::read_to_string(&path)?.lines().count(), 1);
//! assert_eq!(client.exporter_stats()[0].1.exported, 1);
//! # Ok(())
//! # }
//! ```

mod file;
mod http;
mod json;
mod jsonl;
mod markdown;
mod options;
mod otlp;
mod sqlite;
mod stdout;
mod webhook;
pub(crate) mod worker;

pub use crate::sink::{ExporterSink, ExporterSinkBuilder, ExporterStats};
pub use json::{JsonConfig, JsonExporter};
pub use jsonl::{JsonlConfig, JsonlExporter};
pub use markdown::{MarkdownConfig, MarkdownExporter};
pub use options::{DEFAULT_BATCH_SIZE, ExporterOptions, Overflow, RetryPolicy};
pub use otlp::{OtlpExporter, OtlpOptions};
pub use sqlite::{
    Page, PromptGroup, PromptKeys, Retention, Score, ScoreValue, SessionView, SqliteConfig,
    SqliteExporter, SqliteStore, StoreError, Summary, SummaryBucket, SummaryGroup, TraceFilter,
    TraceRow,
};
pub use stdout::{StdoutConfig, StdoutExporter, StdoutFormat};
pub use webhook::{WebhookConfig, WebhookExporter};

use std::sync::Arc;

/// The attribute [`Exporter`] implementations use (re-exported so that implementing one needs
/// no extra dependency).
pub use async_trait::async_trait;

use crate::{BoxError, TraceRecord};

/// A destination for batches of trace records.
///
/// Methods run on the exporter's own worker thread (inside a current-thread tokio runtime),
/// one call at a time, so an exporter may block briefly (file I/O) or await (network I/O).
#[async_trait]
pub trait Exporter: Send + 'static {
    /// Delivers one batch, oldest record first.
    ///
    /// # Errors
    /// A [retryable](ExporterError::retryable) error makes the worker retry the same batch
    /// after a backoff; a [permanent](ExporterError::permanent) one counts the batch as failed.
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError>;

    /// Makes everything exported so far durable. Called on flush and shutdown.
    ///
    /// # Errors
    /// When buffered data cannot be written.
    async fn flush(&mut self) -> Result<(), ExporterError> {
        Ok(())
    }

    /// What a full queue does when the options say [`Overflow::Auto`]. Exporters writing
    /// local files return [`Overflow::Wait`] (losing nothing costs little: the disk keeps
    /// up); the default, [`Overflow::Drop`], suits exporters whose destination may be down.
    fn default_overflow(&self) -> Overflow {
        Overflow::Drop
    }
}

#[async_trait]
impl<E: Exporter + ?Sized> Exporter for Box<E> {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        (**self).export(batch).await
    }

    async fn flush(&mut self) -> Result<(), ExporterError> {
        (**self).flush().await
    }

    fn default_overflow(&self) -> Overflow {
        (**self).default_overflow()
    }
}

/// Why an exporter could not deliver a batch, and whether trying again may help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExporterError {
    message: String,
    retryable: bool,
    #[source]
    source: Option<BoxError>,
}

impl ExporterError {
    /// A failure that may go away (connection refused, timeout, HTTP 5xx or 429).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            source: None,
        }
    }

    /// A failure that retrying will not fix (bad request, unwritable file, bad data).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Whether the worker should try the batch again.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}
