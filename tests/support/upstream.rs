//! A loopback model server for the proxy to call: it answers every POST with a scripted reply
//! and keeps the request bodies it received.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::Notify;

/// What the upstream answers.
#[derive(Clone)]
pub(crate) enum Reply {
    /// A JSON body with this status.
    Json(u16, Value),
    /// Server-sent events: the first one at once, the rest after `gate` is notified (when set).
    Sse(Vec<String>, Option<Arc<Notify>>),
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
        let base = format!("http://{}", super::serve(app).await);
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
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// An OpenAI streaming chunk event carrying `text`.
pub(crate) fn openai_chunk(text: &str, finish: Option<&str>) -> String {
    let chunk = serde_json::json!({
        "id": "chatcmpl-up", "object": "chat.completion.chunk", "model": "gpt-up",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    });
    format!("data: {chunk}\n\n")
}
