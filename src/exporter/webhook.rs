use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Exporter, ExporterError, http};
use crate::TraceRecord;

/// POSTs each batch as a JSON array of records to an HTTP endpoint.
///
/// Connection failures, timeouts, HTTP 408, 429 and 5xx are retryable (the worker retries the
/// same batch with backoff); other statuses are permanent. Header values marked secret are
/// never printed (`Debug` shows them as `Sensitive`).
///
/// Redirects are not followed: a 3xx answer is a failed delivery whose reason names the status
/// and the `Location` (without its query or userinfo), since following one would either drop
/// the body (301, 302, 303) or send the headers to another origin (307, 308).
#[derive(Clone)]
pub struct WebhookExporter {
    url: String,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl WebhookExporter {
    /// Posts to `url`, waiting at most `timeout` per request.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(url: impl Into<String>, timeout: Duration) -> Result<Self, ExporterError> {
        Ok(Self {
            url: url.into(),
            headers: HeaderMap::new(),
            client: http::client(timeout)?,
        })
    }

    /// Adds a header sent with every request; `secret` hides its value from `Debug` and logs.
    ///
    /// # Errors
    /// When the name or value is not a valid HTTP header (the error names the header, never
    /// the value).
    pub fn header(mut self, name: &str, value: &str, secret: bool) -> Result<Self, ExporterError> {
        let invalid =
            |what: &str| ExporterError::permanent(format!("invalid header {name:?}: bad {what}"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| invalid("value"))?;
        value.set_sensitive(secret);
        self.headers.append(name, value);
        Ok(self)
    }
}

impl fmt::Debug for WebhookExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookExporter")
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Exporter for WebhookExporter {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        let records: Vec<&TraceRecord> = batch.iter().map(|r| &**r).collect();
        let body = serde_json::to_vec(&records)
            .map_err(|e| ExporterError::permanent(format!("cannot serialize traces: {e}")))?;
        let response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let message = format!("cannot POST to {}: {e}", self.url);
                // Every transport failure (refused, reset, timed out) may be transient.
                ExporterError::retryable(message).with_source(e)
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_redirection() {
            return Err(http::redirect_error(&self.url, status, response.headers()));
        }
        let body = response.text().await.unwrap_or_default();
        let retryable = status.is_server_error() || matches!(status.as_u16(), 408 | 429);
        Err(http::rejection(&self.url, status, &body, retryable))
    }
}
