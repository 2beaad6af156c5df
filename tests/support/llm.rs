//! A real HTTP server on 127.0.0.1 for the provider tests.
//!
//! It records every request (path, headers, JSON body) for the test to check, and answers with
//! a scripted [`Reply`]: a JSON body with a status, raw text, or a streamed body sent in pieces,
//! with pauses, and possibly broken off mid-way.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Recorded {
    /// The value of header `name`, if it was sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A piece of a streamed body.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// Text sent as one write.
    Text(String),
    /// Bytes sent as one write (which need not end on a character boundary).
    Bytes(Vec<u8>),
    /// Wait before the next piece.
    Pause(Duration),
    /// Break the connection: the body ends with an error instead of its proper end.
    Break,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// A complete body.
    Body {
        status: StatusCode,
        content_type: &'static str,
        body: String,
    },
    /// A `200 OK` body streamed piece by piece.
    Stream {
        content_type: &'static str,
        parts: Vec<Part>,
    },
    /// Waits, then answers.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// `200 OK` with a JSON body.
    pub(crate) fn json(body: Value) -> Self {
        Self::status(200, body)
    }

    /// A JSON body with `status`.
    pub(crate) fn status(status: u16, body: Value) -> Self {
        Self::Body {
            status: StatusCode::from_u16(status).expect("a valid status"),
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// `200 OK` with a body that claims to be JSON but is `text`.
    pub(crate) fn raw(status: u16, content_type: &'static str, text: &str) -> Self {
        Self::Body {
            status: StatusCode::from_u16(status).expect("a valid status"),
            content_type,
            body: text.to_owned(),
        }
    }

    /// Server-sent events, one `data:` line per value (each sent as its own write, after a
    /// short pause so the first token has a measurable time), then `tail` verbatim.
    pub(crate) fn sse(events: &[Value], tail: &str) -> Self {
        let mut parts = Vec::new();
        for event in events {
            parts.push(Part::Pause(Duration::from_millis(2)));
            parts.push(Part::Text(format!("data: {event}\n\n")));
        }
        if !tail.is_empty() {
            parts.push(Part::Text(tail.to_owned()));
        }
        Self::Stream {
            content_type: "text/event-stream",
            parts,
        }
    }

    /// Anthropic-style server-sent events: `event: <type>` and `data:` lines.
    pub(crate) fn named_sse(events: &[Value]) -> Self {
        let mut parts = Vec::new();
        for event in events {
            let name = event["type"].as_str().expect("events have a type");
            parts.push(Part::Pause(Duration::from_millis(2)));
            parts.push(Part::Text(format!("event: {name}\ndata: {event}\n\n")));
        }
        Self::Stream {
            content_type: "text/event-stream",
            parts,
        }
    }

    /// Newline-delimited JSON, one line per value, each its own write.
    pub(crate) fn ndjson(lines: &[Value]) -> Self {
        let mut parts = Vec::new();
        for line in lines {
            parts.push(Part::Pause(Duration::from_millis(2)));
            parts.push(Part::Text(format!("{line}\n")));
        }
        Self::Stream {
            content_type: "application/x-ndjson",
            parts,
        }
    }

    /// The same reply, its stream broken off (connection reset) after its pieces.
    pub(crate) fn then_break(self) -> Self {
        match self {
            Self::Stream {
                content_type,
                mut parts,
            } => {
                // Gives the server time to flush what was written, which a break would discard.
                parts.push(Part::Pause(Duration::from_millis(20)));
                parts.push(Part::Break);
                Self::Stream {
                    content_type,
                    parts,
                }
            }
            other => other,
        }
    }

    /// The same reply, after a pause.
    pub(crate) fn after(self, delay: Duration) -> Self {
        Self::Delayed(delay, Box::new(self))
    }
}

#[derive(Clone)]
struct Shared {
    reply: Reply,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// A running server; it stops when the test's runtime does.
#[derive(Debug)]
pub(crate) struct TestServer {
    base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1 that answers every POST with `reply`.
    pub(crate) async fn start(reply: Reply) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            reply,
            requests: requests.clone(),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let address = super::serve(app).await;
        Self {
            base: format!("http://{address}"),
            requests,
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The one request the server received.
    pub(crate) fn request(&self) -> Recorded {
        let requests = self.requests.lock().expect("requests lock");
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests[0].clone()
    }
}

async fn handle(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(Recorded {
            path: uri.path().to_owned(),
            headers,
            body,
        });
    respond(shared.reply).await
}

async fn respond(mut reply: Reply) -> Response {
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    match reply {
        Reply::Body {
            status,
            content_type,
            body,
        } => (status, [(header::CONTENT_TYPE, content_type)], body).into_response(),
        Reply::Stream {
            content_type,
            parts,
        } => {
            let chunks = futures_util::stream::unfold(parts.into_iter(), |mut parts| async move {
                loop {
                    match parts.next()? {
                        Part::Pause(delay) => tokio::time::sleep(delay).await,
                        Part::Text(text) => return Some((Ok(Bytes::from(text)), parts)),
                        Part::Bytes(bytes) => return Some((Ok(Bytes::from(bytes)), parts)),
                        Part::Break => {
                            let error = io::Error::other("the test broke the connection");
                            return Some((Err(error), parts));
                        }
                    }
                }
            });
            (
                [(header::CONTENT_TYPE, content_type)],
                Body::from_stream(chunks),
            )
                .into_response()
        }
        Reply::Delayed(..) => unreachable!("delays were waited for above"),
    }
}

/// A base URL where nothing listens: a port that was bound, then released.
pub(crate) fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = listener.local_addr().expect("a bound address");
    drop(listener);
    format!("http://{address}")
}

/// The timeout the tests give clients that must time out: short, so tests stay fast.
pub(crate) const SHORT_TIMEOUT: Duration = Duration::from_millis(200);

/// Longer than [`SHORT_TIMEOUT`], for servers that must be too slow.
pub(crate) const TOO_SLOW: Duration = Duration::from_millis(1500);
