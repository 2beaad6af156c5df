use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Exporter, ExporterError, http};
use crate::TraceRecord;
use crate::config::reader::Table;
use crate::config::secrets::read_secret;
use crate::config::{ConfigIssue, ExporterComponent, MASK, build_issue, fields, limits, validate};

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

/// `type = "webhook"`: the options of a [`WebhookExporter`]. Header names and values, and the
/// names of the secret headers' variables, are checked when read; the secrets themselves are
/// read when the exporter is built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookConfig {
    /// `url`: where to POST (required; http or https).
    pub url: String,
    /// `headers`: sent as written.
    pub headers: BTreeMap<String, String>,
    /// `secret_headers`: header -> NAME of the environment variable holding its value.
    pub secret_headers: BTreeMap<String, String>,
    /// `timeout_ms`: per-request timeout (default 10000).
    pub timeout_ms: u64,
}

impl ExporterComponent for WebhookConfig {
    const TYPE: &'static str = "webhook";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let url = table.required::<String>("url", "where to POST the traces");
        let url = table.checked("url", url, validate::http_url);
        let headers = fields::headers(table);
        let secret_headers = fields::secret_headers(table);
        let timeout_ms = table.int_in("timeout_ms", 1, limits::MILLIS, 10_000);
        Some(Self {
            url: url?,
            headers,
            secret_headers,
            timeout_ms,
        })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        let timeout = Duration::from_millis(self.timeout_ms);
        let mut webhook =
            WebhookExporter::new(&self.url, timeout).map_err(|e| build_issue("url", e.message))?;
        for (header, value) in &self.headers {
            let key = format!("headers.{header}");
            webhook =
                (webhook.header(header, value, false)).map_err(|e| build_issue(&key, e.message))?;
        }
        for (header, var) in &self.secret_headers {
            let key = format!("secret_headers.{header}");
            let value = read_secret(var).map_err(|message| build_issue(&key, message))?;
            webhook =
                (webhook.header(header, &value, true)).map_err(|e| build_issue(&key, e.message))?;
        }
        Ok(Box::new(webhook))
    }

    fn secret_vars(&self) -> Vec<(String, String)> {
        (self.secret_headers.iter())
            .map(|(header, var)| (format!("secret_headers.{header}"), var.clone()))
            .collect()
    }

    fn mask(&mut self) {
        self.headers
            .values_mut()
            .for_each(|value| MASK.clone_into(value));
        self.url = crate::scrub_secrets(&self.url).into_owned();
    }
}
