//! The webhook exporter against a real HTTP receiver.

use llmtrace::exporter::{ExporterSink, WebhookExporter};
use llmtrace::{Client, GenerateRequest};
use serde_json::Value;
use std::time::Duration;

use crate::quick;
use crate::support::eventually;
use crate::support::receiver::{Bystander, Receiver, endless_ok, redirecting};

fn client(exporter: WebhookExporter) -> Client {
    let sink = ExporterSink::builder()
        .exporter("hook", exporter, quick())
        .build()
        .unwrap();
    Client::builder().exporters(sink).build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_that_fails_twice_then_recovers_gets_every_trace_exactly_once() {
    let receiver = Receiver::start(&[500, 503]).await;
    let client = client(WebhookExporter::new(receiver.url(), Duration::from_secs(2)).unwrap());

    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            client
                .generate(format!("Test {i}"))
                .await
                .unwrap()
                .trace_id()
                .unwrap()
                .to_string(),
        );
    }
    client.shutdown().await;

    let received: Vec<String> = receiver
        .records()
        .iter()
        .map(|r| r["trace_id"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = received.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), received.len(), "no trace twice");
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sorted, expected, "every trace once");
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!(stats.exported, 10);
    assert_eq!(stats.failed, 0);
    assert!(stats.retries >= 2, "{stats:?}");
    assert!(receiver.attempts() >= 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_rejection_is_counted_as_failed_without_retrying() {
    let receiver = Receiver::start(&[400]).await;
    let client = client(WebhookExporter::new(receiver.url(), Duration::from_secs(2)).unwrap());

    client.generate("Test").await.unwrap();
    client.shutdown().await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!(
        (stats.exported, stats.failed, stats.retries),
        (0, 1, 0),
        "{stats:?}"
    );
    assert_eq!(receiver.attempts(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_is_delivered_without_waiting_for_the_end_of_its_body() {
    // The timeout is far beyond the deadline: only not reading the answer passes.
    let url = endless_ok().await;
    let client = client(WebhookExporter::new(url, Duration::from_secs(60)).unwrap());

    client.generate("Test").await.unwrap();

    eventually("the batch counted as exported", || {
        client.exporter_stats()[0].1.exported == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_receiver_costs_the_generation_nothing() {
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/traces", listener.local_addr().unwrap())
    };
    let client = client(WebhookExporter::new(unreachable, Duration::from_millis(200)).unwrap());

    let started = std::time::Instant::now();
    for i in 0..20 {
        client
            .generate(GenerateRequest::new(format!("Test {i}")))
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    client.shutdown().await;

    assert!(
        elapsed < Duration::from_millis(100),
        "generations waited on the exporter: {elapsed:?}"
    );
    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!(stats.failed, 20, "{stats:?}");
    assert!(
        stats.retries >= 5 && stats.retries.is_multiple_of(5),
        "each batch retried to the limit: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_are_sent_and_secret_ones_stay_out_of_debug_output() {
    let receiver = Receiver::start(&[]).await;
    let exporter = WebhookExporter::new(receiver.url(), Duration::from_secs(2))
        .unwrap()
        .header("X-Team", "search", false)
        .unwrap()
        .header("Authorization", "Bearer s3cret-token", true)
        .unwrap();
    let debug = format!("{exporter:?}");
    let client = client(exporter);

    client.generate("Test").await.unwrap();
    client.shutdown().await;

    let headers = &receiver.headers()[0];
    assert_eq!(headers["x-team"], "search");
    assert_eq!(headers["authorization"], "Bearer s3cret-token");
    assert_eq!(headers["content-type"], "application/json");
    assert!(!debug.contains("s3cret-token"), "{debug}");
    assert!(debug.contains("search"), "{debug}");
    let record: &Value = &receiver.records()[0];
    assert_eq!(record["prompt"], "Test");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_a_failed_delivery_and_its_target_hears_nothing() {
    for status in [301, 302, 307, 308] {
        let target = Bystander::start().await;
        let url = redirecting(status, format!("{}/elsewhere?token=s3cret", target.url())).await;
        let exporter = WebhookExporter::new(url, Duration::from_secs(2))
            .unwrap()
            .header("X-Api-Key", "k3y", true)
            .unwrap();
        let client = client(exporter);

        client.generate("Test").await.unwrap();
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
            reason.contains(&format!("Location {}/elsewhere", target.url())),
            "{reason}"
        );
        assert!(!reason.contains("s3cret"), "{reason}");
        let heard = target.requests();
        assert!(heard.is_empty(), "{status}: the target got {heard:?}");
    }
}
