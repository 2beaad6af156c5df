//! A webhook receiver on 127.0.0.1 that answers with scripted statuses, and the servers of a
//! redirect: one that redirects, one that must hear nothing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
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
        let addr = super::serve(app).await;
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

/// A server on 127.0.0.1 answering every request with `status` and `Location: location`;
/// returns the URL to post to.
pub(crate) async fn redirecting(status: u16, location: String) -> String {
    let app = Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                StatusCode::from_u16(status).unwrap(),
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let addr = super::serve(app).await;
    format!("http://{addr}/traces")
}

/// A server on 127.0.0.1 that answers 200 to any method on any path and remembers each
/// request: the place a redirect points to, which must hear nothing.
pub(crate) struct Bystander {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<(Method, HeaderMap)>>>,
}

impl Bystander {
    pub(crate) async fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let app = Router::new().fallback(move |method: Method, headers: HeaderMap| {
            seen.lock().unwrap().push((method, headers));
            async { StatusCode::OK }
        });
        let addr = super::serve(app).await;
        Self { addr, requests }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received, whatever its method.
    pub(crate) fn requests(&self) -> Vec<(Method, HeaderMap)> {
        self.requests.lock().unwrap().clone()
    }
}

/// A server on 127.0.0.1 that answers every request `200 OK` with a body that never ends;
/// returns the URL to post to.
pub(crate) async fn endless_ok() -> String {
    let app = Router::new().fallback(|| async {
        let endless = futures_util::stream::pending::<Result<String, std::convert::Infallible>>();
        (StatusCode::OK, axum::body::Body::from_stream(endless))
    });
    let addr = super::serve(app).await;
    format!("http://{addr}/traces")
}
