//! The HTTP side: routes, client authentication, trace headers, and relaying answers.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Shared;
use super::anthropic::Anthropic;
use super::api::{Api, Encoder, extra_fields, status_of};
use super::openai::OpenAi;
use crate::{Client, GenerateRequest, ResponseStream};

/// Response header naming the trace of the request.
pub const TRACE_ID_HEADER: &str = "x-llmtrace-trace-id";
const METADATA_PREFIX: &str = "x-llmtrace-metadata-";

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.max_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(generate::<OpenAi>))
        .route("/v1/messages", post(generate::<Anthropic>))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

/// Constant-time comparison, so response timing does not reveal how much of a key matched.
fn same_key(sent: &[u8], expected: &[u8]) -> bool {
    sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected)
            .fold(0, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether the request carries the client key (`Authorization: Bearer` as OpenAI clients send
/// it, or `x-api-key` as Anthropic clients do). Always true without a configured key.
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(expected) = &shared.client_key else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let api_key = headers.get("x-api-key").map(HeaderValue::as_bytes);
    [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|sent| same_key(sent, expected.as_bytes()))
}

fn error_response<A: Api>(status: u16, message: &str, trace_id: Option<Uuid>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, axum::Json(A::error(status.as_u16(), message))).into_response();
    set_trace_header(&mut response, trace_id);
    response
}

fn set_trace_header(response: &mut Response, trace_id: Option<Uuid>) {
    let Some(id) = trace_id else {
        return;
    };
    // Written on the stack: no `String` or formatter per response.
    let mut text = Uuid::encode_buffer();
    if let Ok(value) = HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)) {
        response.headers_mut().insert(TRACE_ID_HEADER, value);
    }
}

/// Trace metadata from the `x-llmtrace-*` request headers.
fn header_metadata(headers: &HeaderMap, request: &mut GenerateRequest) -> Result<(), String> {
    for (name, value) in headers {
        let name = name.as_str();
        let key = match name {
            "x-llmtrace-session-id" => "session_id",
            "x-llmtrace-step-type" => "step_type",
            "x-llmtrace-attempt" => "attempt_number",
            _ => match name.strip_prefix(METADATA_PREFIX) {
                Some(key) if !key.is_empty() => key,
                _ => continue,
            },
        };
        let text = value
            .to_str()
            .map_err(|_| format!("header {name} is not visible ASCII"))?;
        let value = if key == "attempt_number" {
            let attempt: u32 = text
                .parse()
                .map_err(|_| format!("header {name} must be a whole number, found {text:?}"))?;
            Value::from(attempt)
        } else {
            Value::from(text)
        };
        request.metadata.insert(key.to_owned(), value);
    }
    Ok(())
}

async fn generate<A: Api>(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !authorized(&shared, &headers) {
        return error_response::<A>(401, "missing or wrong proxy key", None);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error_response::<A>(rejection.status().as_u16(), &rejection.body_text(), None);
        }
    };
    let parsed = serde_json::from_slice::<A::Body>(&body)
        .and_then(|typed| Ok((typed, extra_fields(&body, A::FIELDS)?)));
    let (body, extra) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => {
            return error_response::<A>(400, &format!("invalid request body: {error}"), None);
        }
    };
    let (mut request, model) = A::request(body);
    if let Err(message) = header_metadata(&headers, &mut request) {
        return error_response::<A>(400, &message, None);
    }
    request
        .metadata
        .insert("requested_model".into(), model.clone().into());
    let client = shared.client_for(&model);
    // Parameters we have no field for go upstream as written (and are traced with the
    // others) when the upstream speaks the client's API; to another one they would be
    // unknown, so they are only traced.
    if client.provider().name == A::PROVIDER {
        request.parameters.extra = extra;
    } else if !extra.is_empty() {
        request
            .metadata
            .insert("unforwarded_parameters".into(), Value::Object(extra));
    }
    // Chosen here so that errors, which carry no trace id, can still name their trace.
    let trace_id =
        (client.tracing_enabled()).then(|| crate::types::new_trace_id(chrono::Utc::now()));
    if let Some(id) = trace_id {
        request
            .metadata
            .insert("trace_id".into(), id.to_string().into());
    }
    if request.stream {
        match client.stream(request).await {
            Ok(stream) => relay::<A>(stream, &model, trace_id),
            Err(error) => error_response::<A>(status_of(&error), error.message(), trace_id),
        }
    } else {
        match client.generate(request).await {
            Ok(response) => {
                let mut http = axum::Json(A::response(&response, &model)).into_response();
                set_trace_header(&mut http, trace_id);
                http
            }
            Err(error) => error_response::<A>(status_of(&error), error.message(), trace_id),
        }
    }
}

/// Room for the events of one chunk: most fit (an OpenAI chunk is some 250 bytes), so the
/// buffer is not grown several times per event.
const EVENT_BYTES: usize = 512;

/// Sends each chunk to the client as soon as it arrives. Dropping the body (the client went
/// away) drops the upstream stream, which records the trace as cancelled.
fn relay<A: Api>(stream: ResponseStream, model: &str, trace_id: Option<Uuid>) -> Response {
    let encoder = A::encoder(model);
    let events = futures_util::stream::unfold(Some((stream, encoder)), |state| async move {
        let (mut stream, mut encoder) = state?;
        let mut out = Vec::with_capacity(EVENT_BYTES);
        let next = match stream.next().await {
            Some(Ok(chunk)) => {
                encoder.chunk(&chunk, &mut out);
                Some((stream, encoder))
            }
            Some(Err(error)) => {
                encoder.error(&error, status_of(&error), &mut out);
                None
            }
            None => {
                encoder.end(&mut out);
                None
            }
        };
        Some((Ok::<_, Infallible>(out), next))
    });
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    set_trace_header(&mut response, trace_id);
    response
}

/// `GET /v1/models`: the routed models, then the default stack's.
async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !authorized(&shared, &headers) {
        return error_response::<OpenAi>(401, "missing or wrong proxy key", None);
    }
    let default = shared.default.provider().model.to_string();
    let data: Vec<Value> = shared
        .routes
        .keys()
        .map(String::as_str)
        .chain([default.as_str()])
        .map(|id| json!({ "id": id, "object": "model", "created": 0, "owned_by": "llmtrace" }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

impl Shared {
    fn client_for(&self, model: &str) -> &Client {
        self.routes.get(model).unwrap_or(&self.default)
    }
}
