use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::http::{Endpoint, Protocol};
use super::{Exporter, ExporterError};
use crate::TraceRecord;
use crate::config::reader::Table;
use crate::config::secrets::read_secret;
use crate::config::{ConfigIssue, ExporterComponent, build_issue, fields, limits, validate};

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
        fields::secret_header_vars(&self.secret_headers)
    }

    fn mask(&mut self) {
        fields::mask_http(&mut self.headers, &mut self.url);
    }
}
