//! The fakes every test binary shares: real HTTP peers on 127.0.0.1 (an LLM API, a proxy's
//! upstream, a webhook receiver, an OTLP collector), providers over the echo model, and
//! [`eventually`], the one way a test waits for something that happens on another thread.
//!
//! Each binary includes this module with `#[path = "../support/mod.rs"] mod support;` and uses
//! a part of it, hence the `dead_code` and `unused_imports` allowance.
#![allow(dead_code, unused_imports)]

pub(crate) mod collector;
pub(crate) mod llm;
pub(crate) mod receiver;
pub(crate) mod stub;
pub(crate) mod upstream;

use std::net::SocketAddr;
use std::time::Duration;

// The provider tests and the core tests name these unqualified.
pub(crate) use llm::{Part, Reply, SHORT_TIMEOUT, TOO_SLOW, TestServer, refused_base_url};
pub(crate) use stub::{STUB_MODEL, failing, overloaded, rejected, stub, traced};

/// Serves `app` on a free port of 127.0.0.1 until the test's runtime stops; returns the address.
pub(crate) async fn serve(app: axum::Router) -> SocketAddr {
    serve_on("127.0.0.1:0".parse().unwrap(), app).await
}

/// Serves `app` on `addr` (one a test chose, to bring a peer up where a client already points)
/// until the test's runtime stops; returns the bound address.
pub(crate) async fn serve_on(addr: SocketAddr, app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot bind a test server to {addr}: {e}"));
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// How long [`eventually`] waits: long enough for a loaded 2-core CI machine, and only ever
/// reached by a test that is going to fail.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `condition` until it holds, panicking with `what` after [`DEADLINE`].
///
/// The pause between polls only yields the CPU; the test waits as long as it takes and no
/// longer, instead of a fixed number of milliseconds that is too short on a slow machine.
pub(crate) async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still not so after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
