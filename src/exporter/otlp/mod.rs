//! [`OtlpExporter`]: traces as OpenTelemetry GenAI spans over OTLP/HTTP.

mod content;
mod options;
mod semconv;
mod span;

pub use options::OtlpOptions;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};

use super::http::{Endpoint, Protocol};
use super::{Exporter, ExporterError};
use crate::TraceRecord;

const PROTOBUF: &str = "application/x-protobuf";

/// OTLP/HTTP binary: protobuf both ways, the specification's retryable statuses.
const OTLP: Protocol = Protocol {
    content_type: PROTOBUF,
    retryable: is_retryable,
    detail: error_detail,
    // A partial success is reported in the answer.
    reads_answer: true,
};

/// Sends traces as OpenTelemetry spans over OTLP/HTTP (binary protobuf), to the OpenTelemetry
/// Collector, Jaeger, Grafana Tempo, Langfuse, Arize Phoenix or any other OTLP receiver.
///
/// # Example
///
/// ```no_run
/// use llmtrace::Client;
/// use llmtrace::exporter::{ExporterOptions, ExporterSink, OtlpExporter, OtlpOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let collector = OtlpExporter::new(
///     OtlpOptions::new("http://127.0.0.1:4318").service_name("checkout"),
/// )?;
/// let exporters = ExporterSink::builder()
///     .exporter("collector", collector, ExporterOptions::default())
///     .build()?;
/// let client = Client::builder().exporters(exporters).build();
///
/// client.generate("Hello").await?;
/// client.shutdown().await; // delivers every queued span
/// # Ok(())
/// # }
/// ```
///
/// # Spans
///
/// Each [`TraceRecord`] becomes one span of the OpenTelemetry GenAI semantic conventions
/// (inference span, "latest experimental" attribute names):
///
/// - name `chat {model}`, kind `CLIENT`, start = the record's timestamp, end = start + the
///   measured duration (of the answer or of the failure);
/// - trace id = the 128 bits of the record's `trace_id` UUID, span id = its low 64 bits, so the
///   same record always maps to the same span and a backend shows the UUID (without dashes);
/// - `gen_ai.operation.name` = `chat`, `gen_ai.provider.name`, `gen_ai.request.model`,
///   `gen_ai.request.{temperature, max_tokens, top_p, top_k, seed, stop_sequences}` (the ones
///   set), `gen_ai.response.finish_reasons`, `gen_ai.usage.{input_tokens, output_tokens}`,
///   `gen_ai.response.{id, model}` (the record's `response.id` / `response.model`: whenever
///   the provider returned them, streams included), `server.{address, port}` (the provider's
///   base URL; HTTP providers), `gen_ai.request.stream` = `true` for every streamed request
///   (also one that failed before its first chunk) and `gen_ai.response.time_to_first_chunk`
///   (seconds; streams that got a chunk);
/// - the session id as `session.id` and `gen_ai.conversation.id`; every metadata entry as
///   `llmtrace.metadata.<key>`; the UUID as `llmtrace.trace_id`;
/// - a failure: status `ERROR` with the error message, `error.type` = the error kind
///   (`server`, `timeout`, ...), `http.response.status_code` when there is one,
///   `llmtrace.error.retryable`, and finish reason `error`;
/// - with [`capture_content`](OtlpOptions::capture_content) only: `gen_ai.system_instructions`,
///   `gen_ai.input.messages`, `gen_ai.output.messages` and `gen_ai.tool.definitions`, as JSON
///   strings in the structure of the conventions' JSON schemas.
///
/// The resource carries `service.name`, `openinference.project.name` (and any extra resource
/// attributes); the instrumentation scope is `llmtrace` with the crate version.
///
/// # Projects (Arize Phoenix and other OpenInference backends)
///
/// Phoenix files spans under the project named by the `openinference.project.name` resource
/// attribute, and under `default` without one. The exporter always sends it:
/// [`project_name`](OtlpOptions::project_name) when set, else an `openinference.project.name`
/// entry of the resource attributes, else the `service_name` (so a service's spans land in a
/// project of its name). Phoenix reads the GenAI attributes above as they are.
///
/// # Delivery
///
/// One batch is one `ExportTraceServiceRequest`, protobuf-encoded and POSTed to
/// `{endpoint}/v1/traces` with `content-type: application/x-protobuf`. As the OTLP
/// specification says, transport failures (refused, reset, timed out) and HTTP 429, 502, 503
/// and 504 are retryable: the exporter worker retries the batch with its backoff. Every other
/// status, 400 and 500 included, is permanent and the batch counts as failed. The wait between
/// attempts is the worker's [`RetryPolicy`](super::RetryPolicy) (a `Retry-After` header is not
/// read). A partial success (spans rejected by the receiver) is logged and not retried.
///
/// Redirects are not followed (a 3xx would turn the POST into a body-less GET, or send the
/// headers to another origin): a 3xx is a permanent failure whose reason names the status and
/// the `Location`, without its query or userinfo.
///
/// Header values are never printed (`Debug` shows each as `Sensitive`).
#[derive(Debug)]
pub struct OtlpExporter {
    endpoint: Endpoint,
    resource: Resource,
    scope: InstrumentationScope,
    capture_content: bool,
}

impl OtlpExporter {
    /// An exporter sending as `options` says.
    ///
    /// # Errors
    /// When the endpoint is not an `http`/`https` URL, the timeout is zero, a header name or
    /// value is invalid, a `secret_headers` variable is not set, or the HTTP client cannot be
    /// built. Errors name headers and variables, never their values.
    pub fn new(options: OtlpOptions) -> Result<Self, ExporterError> {
        let url = options.traces_url();
        match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
            _ => {
                return Err(ExporterError::permanent(format!(
                    "invalid otlp endpoint {:?}: expected an http or https url",
                    options.endpoint
                )));
            }
        }
        if options.timeout_ms == 0 {
            return Err(ExporterError::permanent(
                "otlp timeout_ms must be at least 1",
            ));
        }
        let mut endpoint = Endpoint::new(url, Duration::from_millis(options.timeout_ms))?;
        // Every value is kept out of `Debug`: OTLP headers are mostly credentials.
        for (name, value) in &options.headers {
            endpoint.header(name, value, true)?;
        }
        for (name, var) in &options.secret_headers {
            let value = std::env::var(var).map_err(|_| {
                ExporterError::permanent(format!(
                    "header {name:?}: environment variable {var} is not set (or not unicode)"
                ))
            })?;
            endpoint.header(name, &value, true)?;
        }

        let mut resource_attributes = vec![
            string_attribute(semconv::SERVICE_NAME, &options.service_name),
            string_attribute(
                semconv::OPENINFERENCE_PROJECT_NAME,
                options.effective_project_name(),
            ),
        ];
        resource_attributes.extend(
            options
                .resource_attributes
                .iter()
                .filter(|(key, _)| {
                    ![semconv::SERVICE_NAME, semconv::OPENINFERENCE_PROJECT_NAME]
                        .contains(&key.as_str())
                })
                .map(|(key, value)| string_attribute(key, value)),
        );
        Ok(Self {
            endpoint,
            resource: Resource {
                attributes: resource_attributes,
                ..Resource::default()
            },
            scope: InstrumentationScope {
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..InstrumentationScope::default()
            },
            capture_content: options.capture_content,
        })
    }

    /// The export request carrying `batch`: one resource, one scope, one span per record.
    fn request(&self, batch: &[Arc<TraceRecord>]) -> ExportTraceServiceRequest {
        let spans = batch
            .iter()
            .map(|record| span::span(record, self.capture_content))
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

/// Whether the OTLP specification says a request answered with `status` should be retried
/// ("Retryable Response Codes": 429, 502, 503, 504; all other 4xx and 5xx MUST NOT be).
fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// The `google.rpc.Status` an OTLP receiver puts in the body of an error response (only the
/// fields we read).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// What an error response says: the `Status.message` of a protobuf body, else the body as
/// text (cut, after scrubbing, by the shared HTTP delivery).
fn error_detail(headers: &HeaderMap, body: &[u8]) -> String {
    let protobuf = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROTOBUF));
    if protobuf && let Ok(status) = RpcStatus::decode(body) {
        return status.message;
    }
    String::from_utf8_lossy(body).into_owned()
}

#[async_trait]
impl Exporter for OtlpExporter {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        if batch.is_empty() {
            return Ok(());
        }
        let body = self.request(batch).encode_to_vec();
        let answer = self.endpoint.post(&OTLP, body).await?;
        // A partial success is never retried: the specification forbids it.
        if let Ok(answer) = ExportTraceServiceResponse::decode(answer.as_slice())
            && let Some(partial) = answer.partial_success
            && (partial.rejected_spans > 0 || !partial.error_message.is_empty())
        {
            tracing::warn!(
                url = %self.endpoint.url(),
                rejected_spans = partial.rejected_spans,
                error_message = %partial.error_message,
                "OTLP receiver rejected part of a batch."
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_the_status_codes_the_specification_lists_are_retried() {
        let retried: Vec<u16> = (400..600)
            .filter(|code| is_retryable(StatusCode::from_u16(*code).unwrap()))
            .collect();
        assert_eq!(retried, [429, 502, 503, 504]);
    }

    #[test]
    fn a_protobuf_error_body_gives_its_status_message() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        let body = RpcStatus {
            code: 3,
            message: "bad span".into(),
        }
        .encode_to_vec();
        assert_eq!(error_detail(&headers, &body), "bad span");
        assert_eq!(error_detail(&HeaderMap::new(), b"plain text"), "plain text");
    }

    #[test]
    fn a_missing_env_header_is_an_error_naming_the_variable() {
        let options = OtlpOptions::default()
            .secret_header("authorization", "LLMTRACE_TEST_SURELY_UNSET_VARIABLE");
        let error = OtlpExporter::new(options).unwrap_err();
        assert!(!error.is_retryable());
        assert!(
            error
                .to_string()
                .contains("LLMTRACE_TEST_SURELY_UNSET_VARIABLE"),
            "{error}"
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let options = OtlpOptions::default().timeout(Duration::ZERO);
        let error = OtlpExporter::new(options).unwrap_err();
        assert!(error.to_string().contains("timeout_ms"), "{error}");
    }

    #[test]
    fn a_non_http_endpoint_is_refused() {
        let error = OtlpExporter::new(OtlpOptions::new("127.0.0.1:4318")).unwrap_err();
        assert!(
            error.to_string().contains("invalid otlp endpoint"),
            "{error}"
        );
    }
}
