//! A loopback model server for the proxy to call: it answers every POST with a scripted reply
//! and keeps the request bodies it received.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use serde_json::Value;
use tokio::sync::Notify;

/// What the upstream answers.
#[derive(Clone)]
pub(crate) enum Reply {
    /// A JSON body with this status.
    Json(u16, Value),
    /// Server-sent events: the first one at once, the rest after `gate` is notified (when set).
    Sse(Vec<String>, Option<Arc<Notify>>),
    /// Server-sent events written one at a time in quick succession, as a model server sends
    /// its last tokens, the usage and `[DONE]`.
    Burst(Vec<String>),
}

#[derive(Clone)]
struct Shared {
    reply: Reply,
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// A running upstream; it stops with the test's runtime.
pub(crate) struct Upstream {
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Upstream {
    pub(crate) async fn start(reply: Reply) -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            reply,
            bodies: bodies.clone(),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        // Each event leaves as soon as it is written, as from a model server: Nagle's
        // algorithm here would hold events back and hide what the proxy does with them.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        let base = format!("http://{addr}");
        Self { base, bodies }
    }

    /// The body of every request received so far.
    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn handle(State(shared): State<Shared>, body: Bytes) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.bodies.lock().unwrap().push(body);
    match shared.reply {
        Reply::Json(status, body) => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        Reply::Sse(events, gate) => {
            let stream = futures_util::stream::unfold(
                (events.into_iter().enumerate(), gate),
                |(mut events, gate)| async move {
                    let (i, event) = events.next()?;
                    if let (1, Some(gate)) = (i, &gate) {
                        gate.notified().await;
                    }
                    Some((Ok::<_, std::convert::Infallible>(event), (events, gate)))
                },
            );
            sse(Body::from_stream(stream))
        }
        Reply::Burst(events) => {
            let stream = futures_util::stream::unfold(events.into_iter(), |mut events| async {
                let event = events.next()?;
                // Lets the server write the event before the next one is ready.
                tokio::task::yield_now().await;
                Some((Ok::<_, std::convert::Infallible>(event), events))
            });
            sse(Body::from_stream(stream))
        }
    }
}

fn sse(body: Body) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(body)
        .unwrap()
}

/// An OpenAI streaming chunk event carrying `text`.
pub(crate) fn openai_chunk(text: &str, finish: Option<&str>) -> String {
    let chunk = serde_json::json!({
        "id": "chatcmpl-up", "object": "chat.completion.chunk", "model": "gpt-up",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}
