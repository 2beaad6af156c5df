//! A webhook receiver on 127.0.0.1 that answers with scripted statuses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

#[derive(Default)]
struct Shared {
    /// Statuses for the next requests; 200 once exhausted.
    script: VecDeque<u16>,
    /// Bodies answered with 200 (each a JSON array of records).
    accepted: Vec<Vec<Value>>,
    /// Every request's headers, in arrival order.
    headers: Vec<HeaderMap>,
    attempts: usize,
}

/// A running receiver.
pub(crate) struct Receiver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Receiver {
    /// Starts a receiver answering `script` in turn, then 200.
    pub(crate) async fn start(script: &[u16]) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.iter().copied().collect(),
            ..Shared::default()
        }));
        let app = Router::new()
            .route("/traces", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, shared }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/traces", self.addr)
    }

    /// Every record accepted, in order.
    pub(crate) fn records(&self) -> Vec<Value> {
        self.shared
            .lock()
            .unwrap()
            .accepted
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    pub(crate) fn attempts(&self) -> usize {
        self.shared.lock().unwrap().attempts
    }

    pub(crate) fn headers(&self) -> Vec<HeaderMap> {
        self.shared.lock().unwrap().headers.clone()
    }
}

async fn receive(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let mut shared = shared.lock().unwrap();
    shared.attempts += 1;
    shared.headers.push(headers);
    let status = shared.script.pop_front().unwrap_or(200);
    if status == 200 {
        let batch: Vec<Value> = serde_json::from_str(&body).expect("a JSON array of records");
        shared.accepted.push(batch);
    }
    (
        StatusCode::from_u16(status).unwrap(),
        format!("scripted {status}"),
    )
}
