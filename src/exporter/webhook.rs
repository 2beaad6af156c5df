use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::http::{Endpoint, Protocol};
use super::{Exporter, ExporterError};
use crate::TraceRecord;

/// A JSON array POSTed; 408, 429 and 5xx retried; an error answer quoted as text.
const JSON: Protocol = Protocol {
    content_type: "application/json",
    retryable: is_retryable,
    detail: text,
    reads_answer: false,
};

/// POSTs each batch as a JSON array of records to an HTTP endpoint.
///
/// Connection failures, timeouts, HTTP 408, 429 and 5xx are retryable (the worker retries the
/// same batch with backoff); other statuses are permanent. Header values marked secret are
/// never printed (`Debug` shows them as `Sensitive`).
///
/// Redirects are not followed: a 3xx answer is a failed delivery whose reason names the status
/// and the `Location` (without its query or userinfo), since following one would either drop
/// the body (301, 302, 303) or send the headers to another origin (307, 308).
#[derive(Clone, Debug)]
pub struct WebhookExporter {
    endpoint: Endpoint,
}

impl WebhookExporter {
    /// Posts to `url`, waiting at most `timeout` per request.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, ExporterError> {
        Ok(Self {
            endpoint: Endpoint::new(url.into(), timeout)?,
        })
    }

    /// Adds a header sent with every request; `secret` hides its value from `Debug` and logs.
    ///
    /// # Errors
    /// When the name or value is not a valid HTTP header (the error names the header, never
    /// the value).
    pub fn header(mut self, name: &str, value: &str, secret: bool) -> Result<Self, ExporterError> {
        self.endpoint.header(name, value, secret)?;
        Ok(self)
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 408 | 429)
}

fn text(_: &HeaderMap, body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[async_trait]
impl Exporter for WebhookExporter {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        let records: Vec<&TraceRecord> = batch.iter().map(|r| &**r).collect();
        let body = serde_json::to_vec(&records)
            .map_err(|e| ExporterError::permanent(format!("cannot serialize traces: {e}")))?;
        self.endpoint.post(&JSON, body).await.map(drop)
    }
}
