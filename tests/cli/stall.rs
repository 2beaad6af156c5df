//! An OpenAI-compatible server on 127.0.0.1 that takes the request and never finishes its
//! answer, so that a call is surely in flight when the test interrupts it.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// How the server fails to answer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stall {
    /// Sends no response at all.
    Silent,
    /// Starts a `text/event-stream` with one content chunk, then sends nothing more.
    AfterOneChunk,
}

/// A running server; it stops with the test's runtime.
#[derive(Debug)]
pub(crate) struct StallingServer {
    /// `http://127.0.0.1:PORT/v1`, for `base_url`.
    pub(crate) base_url: String,
    requests: mpsc::UnboundedReceiver<()>,
}

impl StallingServer {
    pub(crate) async fn start(stall: Stall) -> Self {
        let (seen, requests) = mpsc::unbounded_channel();
        let app = Router::new().fallback(handle).with_state((stall, seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{address}/v1"),
            requests,
        }
    }

    /// Waits until a request has arrived (and, for [`Stall::AfterOneChunk`], its chunk is
    /// on its way); panics after `deadline`.
    pub(crate) async fn request_seen(&mut self, deadline: Duration) {
        tokio::time::timeout(deadline, self.requests.recv())
            .await
            .expect("the server saw no request in time")
            .expect("the server is running");
    }
}

async fn handle(State((stall, seen)): State<(Stall, mpsc::UnboundedSender<()>)>) -> Response {
    let _ = seen.send(());
    match stall {
        Stall::Silent => std::future::pending().await,
        Stall::AfterOneChunk => {
            let chunk = serde_json::json!({
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "model": "stall-1",
                "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": null}]
            });
            let first = Bytes::from(format!("data: {chunk}\n\n"));
            let body = futures_util::stream::once(async move { Ok::<_, Infallible>(first) })
                .chain(futures_util::stream::pending());
            (
                [(header::CONTENT_TYPE, "text/event-stream")],
                Body::from_stream(body),
            )
                .into_response()
        }
    }
}

/// A config file text: the stalling server as provider, a jsonl exporter to `traces.jsonl`.
pub(crate) fn config(base_url: &str) -> String {
    format!(
        "[provider]\ntype = \"openai\"\nmodel = \"stall-1\"\nbase_url = \"{base_url}\"\n\
         [exporters.archive]\ntype = \"jsonl\"\npath = \"traces.jsonl\"\n"
    )
}
