//! A real OTLP/HTTP trace receiver on 127.0.0.1, standing in for the OpenTelemetry Collector
//! (which no package registry reachable here ships).
//!
//! It accepts `POST /v1/traces` with a binary protobuf body, decodes it with the official OTLP
//! definitions (`opentelemetry-proto`'s `ExportTraceServiceRequest`), records it, and answers
//! as a receiver does: `200` with an encoded `ExportTraceServiceResponse` (possibly a partial
//! success), or an error status with an encoded `google.rpc.Status` body. Answers follow a
//! script, then a standing reply; every answer may be delayed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;

const PROTOBUF: &str = "application/x-protobuf";

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    /// `200 OK`, everything accepted.
    Accept,
    /// `200 OK` with a partial success rejecting `rejected` spans.
    PartialSuccess { rejected: i64 },
    /// This error status (nothing accepted).
    Status(u16),
}

/// One request the receiver decoded.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) request: ExportTraceServiceRequest,
    /// Whether the answer accepted it (`200`).
    pub(crate) accepted: bool,
}

struct Inner {
    script: Mutex<VecDeque<Reply>>,
    then: Reply,
    delay: Duration,
    received: Mutex<Vec<Received>>,
    arrived: AtomicUsize,
    answered: AtomicUsize,
}

/// A running receiver; it stops when the test's runtime does.
pub(crate) struct Collector {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Collector {
    /// Accepts everything.
    pub(crate) async fn accepting() -> Self {
        Self::start(free_addr().await, [], Reply::Accept, Duration::ZERO).await
    }

    /// Answers the first requests as `script` says, then accepts everything.
    pub(crate) async fn scripted(script: impl IntoIterator<Item = Reply>) -> Self {
        Self::start(free_addr().await, script, Reply::Accept, Duration::ZERO).await
    }

    /// Answers every request with `reply`.
    pub(crate) async fn always(reply: Reply) -> Self {
        Self::start(free_addr().await, [], reply, Duration::ZERO).await
    }

    /// Accepts everything, after waiting `delay` each time.
    pub(crate) async fn slow(delay: Duration) -> Self {
        Self::start(free_addr().await, [], Reply::Accept, delay).await
    }

    /// A receiver on `addr` that accepts everything (to bring up a collector that was down).
    pub(crate) async fn accepting_on(addr: SocketAddr) -> Self {
        Self::start(addr, [], Reply::Accept, Duration::ZERO).await
    }

    async fn start(
        addr: SocketAddr,
        script: impl IntoIterator<Item = Reply>,
        then: Reply,
        delay: Duration,
    ) -> Self {
        let inner = Arc::new(Inner {
            script: Mutex::new(script.into_iter().collect()),
            then,
            delay,
            received: Mutex::new(Vec::new()),
            arrived: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/v1/traces", post(export))
            .with_state(inner.clone());
        let addr = super::serve_on(addr, app).await;
        Self { addr, inner }
    }

    /// The base URL to configure as the exporter's endpoint.
    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request decoded so far, accepted or not.
    pub(crate) fn received(&self) -> Vec<Received> {
        lock(&self.inner.received).clone()
    }

    /// The spans of the accepted requests, in arrival order.
    pub(crate) fn spans(&self) -> Vec<Span> {
        self.received()
            .into_iter()
            .filter(|r| r.accepted)
            .flat_map(|r| r.request.resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }

    /// How many requests have arrived, answered or not (a slow collector is still holding
    /// the difference).
    pub(crate) fn arrived(&self) -> usize {
        self.inner.arrived.load(Ordering::SeqCst)
    }

    /// How many requests have been answered.
    pub(crate) fn answered(&self) -> usize {
        self.inner.answered.load(Ordering::SeqCst)
    }
}

/// A port on 127.0.0.1 that nothing listens on (just released by the OS).
pub(crate) async fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

async fn export(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    inner.arrived.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(inner.delay).await;
    let response = answer(&inner, headers, body);
    inner.answered.fetch_add(1, Ordering::SeqCst);
    response
}

fn answer(inner: &Inner, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some(PROTOBUF) {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected protobuf");
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let reply = lock(&inner.script).pop_front().unwrap_or(inner.then);
    let accepted = !matches!(reply, Reply::Status(_));
    lock(&inner.received).push(Received {
        headers,
        request,
        accepted,
    });
    match reply {
        Reply::Accept => ok(ExportTraceServiceResponse::default()),
        Reply::PartialSuccess { rejected } => ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: "span too large".into(),
            }),
        }),
        Reply::Status(status) => error(StatusCode::from_u16(status).unwrap(), "scripted failure"),
    }
}

fn ok(response: ExportTraceServiceResponse) -> Response {
    protobuf(StatusCode::OK, response.encode_to_vec())
}

/// An error answer with a `google.rpc.Status` body, as the OTLP specification asks.
fn error(status: StatusCode, message: &str) -> Response {
    let body = RpcStatus {
        code: 0,
        message: message.to_owned(),
    };
    protobuf(status, body.encode_to_vec())
}

fn protobuf(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, PROTOBUF)], body).into_response()
}

/// `google.rpc.Status`, the fields the OTLP specification uses.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value of attribute `key` of a span, if it is set.
pub(crate) fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// A string attribute.
pub(crate) fn string<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attribute(span, key)? {
        any_value::Value::StringValue(s) => Some(s),
        other => panic!("{key} is not a string: {other:?}"),
    }
}

/// An int attribute.
pub(crate) fn int(span: &Span, key: &str) -> Option<i64> {
    match attribute(span, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        other => panic!("{key} is not an int: {other:?}"),
    }
}

/// A double attribute.
pub(crate) fn double(span: &Span, key: &str) -> Option<f64> {
    match attribute(span, key)? {
        any_value::Value::DoubleValue(d) => Some(*d),
        other => panic!("{key} is not a double: {other:?}"),
    }
}

/// A bool attribute.
pub(crate) fn boolean(span: &Span, key: &str) -> Option<bool> {
    match attribute(span, key)? {
        any_value::Value::BoolValue(b) => Some(*b),
        other => panic!("{key} is not a bool: {other:?}"),
    }
}

/// A string-array attribute.
pub(crate) fn strings(span: &Span, key: &str) -> Option<Vec<String>> {
    match attribute(span, key)? {
        any_value::Value::ArrayValue(array) => Some(
            array
                .values
                .iter()
                .map(|v| match &v.value {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => panic!("{key} holds a non-string: {other:?}"),
                })
                .collect(),
        ),
        other => panic!("{key} is not an array: {other:?}"),
    }
}

/// A string attribute of a resource.
pub(crate) fn resource_string<'a>(
    attributes: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}
