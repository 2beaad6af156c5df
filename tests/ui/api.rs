//! The JSON API over HTTP, on a store filled by the real exporter.

use llmtrace::TraceRecord;
use llmtrace::exporter::{Page, SessionView, Summary};
use serde::de::DeserializeOwned;

use crate::support::{serve, store_with, workflow};

async fn get<T: DeserializeOwned>(url: &str) -> (u16, T) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, value)
}

#[tokio::test]
async fn api_lists_filters_and_returns_traces_sessions_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let base = serve(store_with(dir.path(), &records)).await;

    let (status, page): (_, Page) = get(&format!("{base}/api/traces?session=s-1&outcome=ok")).await;
    assert_eq!(status, 200);
    let ids: Vec<_> = page.traces.iter().map(|t| t.trace_id.clone()).collect();
    assert_eq!(
        ids,
        [
            records[2].trace_id.to_string(),
            records[0].trace_id.to_string()
        ]
    );

    let (_, page): (_, Page) =
        get(&format!("{base}/api/traces?model=claude-sonnet&q=report")).await;
    assert_eq!(page.traces.len(), 1);
    assert_eq!(page.traces[0].provider, "anthropic");

    let (_, page): (_, Page) = get(&format!("{base}/api/traces?limit=2")).await;
    assert_eq!(page.traces.len(), 2);
    let next = page.next.expect("more pages");
    let (_, older): (_, Page) = get(&format!("{base}/api/traces?limit=2&cursor={next}")).await;
    assert_eq!(older.traces[0].trace_id, records[2].trace_id.to_string());

    let id = records[1].trace_id;
    let (status, record): (_, TraceRecord) = get(&format!("{base}/api/traces/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(record, records[1]);

    let (status, session): (_, SessionView) = get(&format!("{base}/api/sessions/s-1")).await;
    assert_eq!(status, 200);
    assert_eq!(session.traces.len(), 3);
    assert_eq!(session.traces[1].attempt, Some(2));

    let (status, summary): (_, Summary) = get(&format!("{base}/api/summary?provider=openai")).await;
    assert_eq!(status, 200);
    assert_eq!((summary.calls, summary.errors), (4, 1));
}

#[tokio::test]
async fn api_errors_are_json_with_a_status() {
    let dir = tempfile::tempdir().unwrap();
    let base = serve(store_with(dir.path(), &workflow())).await;
    for (path, status, words) in [
        (
            "/api/traces/00000000-0000-0000-0000-000000000000",
            404,
            "trace 00000000",
        ),
        ("/api/sessions/nobody", 404, "session nobody"),
        ("/api/traces?from=last-week", 400, "from"),
        ("/api/summary?meta=novalue", 400, "meta"),
    ] {
        let (found, body): (_, serde_json::Value) = get(&format!("{base}{path}")).await;
        assert_eq!(found, status, "{path}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(words), "{path}: {message}");
    }
}
