//! Exporter plugins behind an `ExporterSink`, fed by a real `Client`.

use std::time::{Duration, Instant};

use llmtrace::exporter::{Exporter, ExporterOptions, ExporterSink};
use llmtrace::plugin::{PluginError, PluginExporter};
use llmtrace::provider::{EchoProvider, ProviderInfo};
use llmtrace::{Client, ErrorKind, GenerateRequest, Generation, ProviderError};
use serde_json::json;
use tower::{ServiceExt, service_fn};

use super::support::{
    CSV_EXPORTER, TEST_EXPORTER, lines, one_by_one, plugin, plugin_error, some_record,
};

/// A client whose provider echoes, except that the prompt `fail` is rate limited.
fn client_failing_on_fail(exporters: ExporterSink) -> Client {
    let provider = service_fn(|request: GenerateRequest| async move {
        if request.prompt == "fail" {
            return Err::<Generation, _>(ProviderError::new(ErrorKind::RateLimited, "slow down"));
        }
        EchoProvider::new().oneshot(request).await
    });
    Client::builder()
        .service(ProviderInfo::new("flaky", "flaky-1"), provider)
        .exporters(exporters)
        .build()
}

#[tokio::test]
async fn the_csv_plugin_writes_one_row_per_trace_generated_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces/traces.csv");
    let csv = PluginExporter::load(plugin(CSV_EXPORTER), json!({ "path": path })).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("csv", csv, ExporterOptions::default())
        .build()
        .unwrap();
    let client = client_failing_on_fail(exporters);

    let tricky = "Say \"hi\", then\nstop";
    let first = client
        .generate(GenerateRequest::new(tricky).step_type("code_generation"))
        .await
        .unwrap();
    let session = client.session();
    let second = session.generate("In a session").await.unwrap();
    client.generate("fail").await.unwrap_err();
    client.shutdown().await;

    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "trace_id",
            "timestamp",
            "provider",
            "model",
            "session_id",
            "step_type",
            "prompt",
            "content",
            "finish_reason",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "generation_time_ms",
            "error_kind"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);

    let trace = client.get_trace(&first.trace_id().unwrap()).unwrap();
    let usage = first.usage.unwrap();
    let row = &rows[0];
    assert_eq!(&row[0], trace.trace_id.to_string());
    assert_eq!(&row[1], serde_json::to_value(&*trace).unwrap()["timestamp"]);
    assert_eq!((&row[2], &row[3]), ("flaky", "flaky-1"));
    assert_eq!((&row[4], &row[5]), ("", "code_generation"));
    assert_eq!(&row[6], tricky, "quotes, commas and line breaks survive");
    assert_eq!(&row[7], format!("Echo: {tricky}"));
    assert_eq!(&row[8], "stop");
    assert_eq!(&row[9], usage.prompt_tokens.to_string());
    assert_eq!(&row[10], usage.completion_tokens.to_string());
    assert_eq!(&row[11], usage.total_tokens.to_string());
    assert!(row[12].parse::<f64>().unwrap() >= 0.0);
    assert_eq!(&row[13], "");

    assert_eq!(&rows[1][0], second.trace_id().unwrap().to_string());
    assert_eq!(&rows[1][4], session.id());
    assert_eq!(&rows[1][5], "chat");

    assert_eq!(&rows[2][6], "fail");
    assert_eq!((&rows[2][7], &rows[2][11]), ("", ""), "no answer");
    assert_eq!(&rows[2][13], "rate_limited");
}

#[tokio::test]
async fn the_csv_plugin_appends_to_an_existing_file_without_a_second_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.csv");
    for _ in 0..2 {
        let csv = PluginExporter::load(plugin(CSV_EXPORTER), json!({ "path": path })).unwrap();
        let exporters = ExporterSink::builder()
            .exporter("csv", csv, ExporterOptions::default())
            .build()
            .unwrap();
        let client = Client::builder().exporters(exporters).build();
        client.generate("Hello").await.unwrap();
        client.shutdown().await;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("trace_id,timestamp").count(), 1, "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[tokio::test]
async fn a_panicking_exporter_plugin_is_disabled_and_the_other_exporter_gets_every_trace() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    // Two instances of the same library: the panic poisons one instance, not the library.
    let panicking =
        PluginExporter::load(plugin(TEST_EXPORTER), json!({ "mode": "panic" })).unwrap();
    let good = PluginExporter::load(plugin(TEST_EXPORTER), json!({ "path": ids })).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("panicking", panicking, one_by_one())
        .exporter("good", good, one_by_one())
        .build()
        .unwrap();
    let client = Client::builder().exporters(exporters).build();

    let mut expected = Vec::new();
    for n in 0..5 {
        let response = client.generate(format!("prompt {n}")).await.unwrap();
        expected.push(response.trace_id().unwrap().to_string());
    }
    client.shutdown().await;

    assert_eq!(lines(&ids), expected);
    let stats = client.exporter_stats();
    assert_eq!(stats[0].0, "panicking");
    assert_eq!((stats[0].1.exported, stats[0].1.failed), (0, 5));
    assert_eq!(stats[0].1.retries, 0, "a panic is not retried");
    assert_eq!((stats[1].1.exported, stats[1].1.failed), (5, 0));
}

#[tokio::test]
async fn a_poisoned_exporter_fails_every_later_call_naming_the_plugin() {
    let path = plugin(TEST_EXPORTER);
    let mut exporter = PluginExporter::load(path, json!({ "mode": "panic" })).unwrap();
    let batch = [some_record().await];

    let first = exporter.export(&batch).await.unwrap_err();
    assert!(!first.is_retryable());
    assert!(
        matches!(plugin_error(&first), Some(PluginError::Panicked { message, .. })
            if message == "test exporter panicked on purpose"),
        "{first:?}"
    );
    let message = first.to_string();
    assert!(message.contains("llmtrace-test-plugins"), "{message}");
    assert!(
        message.contains(&exporter.info().path.display().to_string()),
        "{message}"
    );

    for error in [
        exporter.export(&batch).await.unwrap_err(),
        exporter.flush().await.unwrap_err(),
    ] {
        assert!(!error.is_retryable());
        assert!(
            matches!(plugin_error(&error), Some(PluginError::Poisoned { .. })),
            "{error:?}"
        );
        assert!(error.to_string().contains("poisoned"), "{error}");
        assert!(
            error.to_string().contains("llmtrace-test-plugins"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn exporter_plugin_errors_are_retryable_or_permanent_as_the_plugin_says() {
    let batch = [some_record().await];
    for retryable in [true, false] {
        let mut exporter = PluginExporter::load(
            plugin(TEST_EXPORTER),
            json!({ "mode": "error", "retryable": retryable }),
        )
        .unwrap();
        let error = exporter.export(&batch).await.unwrap_err();
        assert_eq!(error.is_retryable(), retryable);
        assert!(
            error.to_string().contains("export refused on purpose"),
            "{error}"
        );
        assert!(
            matches!(plugin_error(&error), Some(PluginError::Plugin { .. })),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_exporter_plugin_does_not_slow_down_generation() {
    const GENERATIONS: u32 = 8;
    const DELAY: Duration = Duration::from_millis(100);
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    let slow = PluginExporter::load(
        plugin(TEST_EXPORTER),
        json!({ "delay_ms": DELAY.as_millis() as u64, "path": ids }),
    )
    .unwrap();
    let exporters = ExporterSink::builder()
        .exporter("slow", slow, one_by_one())
        .build()
        .unwrap();
    let client = Client::builder().exporters(exporters).build();

    let started = Instant::now();
    for n in 0..GENERATIONS {
        client.generate(format!("prompt {n}")).await.unwrap();
    }
    let generating = started.elapsed();
    // Exporting takes GENERATIONS x DELAY; generating must not wait for any of it.
    assert!(
        generating < DELAY * GENERATIONS / 4,
        "{GENERATIONS} generations took {generating:?}"
    );

    client.shutdown().await;
    assert_eq!(
        lines(&ids).len(),
        GENERATIONS as usize,
        "all exported in the end"
    );
}

#[tokio::test]
async fn a_plugin_error_message_reaches_the_exporter_stats_verbatim() {
    let refusing = PluginExporter::load(plugin(TEST_EXPORTER), json!({ "mode": "error" })).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("refusing", refusing, one_by_one())
        .build()
        .unwrap();
    let client = Client::builder().exporters(exporters).build();
    client.generate("hello").await.unwrap();
    client.shutdown().await;

    let stats = &client.exporter_stats()[0].1;
    assert_eq!(stats.failed, 1);
    let last_error = stats.last_error.as_deref().unwrap();
    assert!(
        last_error.contains("(internal): export refused on purpose"),
        "{last_error}"
    );
}
