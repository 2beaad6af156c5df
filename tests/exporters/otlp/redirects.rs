//! A collector endpoint that redirects: the exporter does not follow, so the target hears
//! nothing (no body-less GET, no secret header sent to another origin), and the batch counts
//! as failed with a reason naming the status and the target.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use llmtrace::exporter::OtlpOptions;
use tokio::net::TcpListener;

use super::{exporting, fast_export};

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Answers every request with `status` and `Location: location`.
async fn redirecting(status: u16, location: String) -> SocketAddr {
    serve(Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                StatusCode::from_u16(status).unwrap(),
                [(header::LOCATION, location)],
            )
        }
    }))
    .await
}

type Heard = Arc<Mutex<Vec<(Method, HeaderMap)>>>;

/// Answers 200 to anything and remembers every request.
async fn bystander() -> (SocketAddr, Heard) {
    let heard = Heard::default();
    let seen = heard.clone();
    let addr = serve(
        Router::new().fallback(move |method: Method, headers: HeaderMap| {
            seen.lock().unwrap().push((method, headers));
            async { StatusCode::OK }
        }),
    )
    .await;
    (addr, heard)
}

#[tokio::test]
async fn a_redirecting_endpoint_gets_a_failed_batch_and_its_target_nothing() {
    for status in [301, 302, 307, 308] {
        let (target, heard) = bystander().await;
        let location = format!("http://{target}/v1/traces?token=s3cret");
        let endpoint = redirecting(status, location).await;
        let options = OtlpOptions::new(format!("http://{endpoint}")).header("x-api-key", "k3y");
        let client = exporting(options, fast_export()).build();

        client.generate("hello").await.unwrap();
        client.shutdown().await;
        let stats = client.exporter_stats()[0].1.clone();
        assert_eq!(
            (stats.exported, stats.failed, stats.retries),
            (0, 1, 0),
            "{status}: {stats:?}"
        );

        // The reason is kept in the stats: the status and the target, without its query.
        let reason = stats.last_error.expect("the failure's reason");
        assert!(reason.contains(&format!("HTTP {status}")), "{reason}");
        assert!(
            reason.contains(&format!("Location http://{target}/v1/traces")),
            "{reason}"
        );
        assert!(!reason.contains("s3cret"), "{reason}");
        let heard = heard.lock().unwrap().clone();
        assert!(heard.is_empty(), "{status}: the target got {heard:?}");
    }
}
