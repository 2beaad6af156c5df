//! The example exporter written in plain C against `llmtrace_plugin.h`, loaded for real.

use std::process::Command;

use llmtrace::Client;
use llmtrace::exporter::{Exporter, ExporterOptions, ExporterSink};
use llmtrace::plugin::{PluginError, PluginExporter, inspect};
use serde_json::{Value, json};

use super::support::{c_exporter, lines, some_record};

#[tokio::test]
async fn the_c_exporter_receives_every_record_through_a_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batches.jsonl");
    let exporter = PluginExporter::load(c_exporter(), json!({ "path": path })).unwrap();
    let exporters = ExporterSink::builder()
        .exporter("c", exporter, ExporterOptions::default().batch_size(2))
        .build()
        .unwrap();
    let client = Client::builder().exporters(exporters).build();
    let mut expected = Vec::new();
    for n in 0..5 {
        let response = client.generate(format!("prompt {n}")).await.unwrap();
        expected.push(response.trace_id().unwrap().to_string());
    }
    client.shutdown().await;

    let mut received = Vec::new();
    for line in lines(&path) {
        let batch: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(batch["schema"], "1.0");
        for record in batch["records"].as_array().unwrap() {
            received.push(record["trace_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(received, expected);
    let stats = &client.exporter_stats()[0].1;
    assert_eq!((stats.exported, stats.failed), (5, 0));
}

#[test]
fn a_c_plugin_loads_without_claiming_a_rust_crate_version() {
    let info = inspect(c_exporter()).unwrap();
    assert_eq!(info.name, "c-batch-file-exporter");
    assert_eq!(info.api_version, None);

    let output = Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .args(["plugin", "check"])
        .arg(c_exporter())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("kind            exporter"), "{stdout}");
    assert!(stdout.contains("api version     none"), "{stdout}");
}

#[test]
fn a_text_error_from_c_keeps_its_message() {
    // The C plugin answers BAD_INPUT with plain text, not JSON.
    let error = PluginExporter::load(c_exporter(), json!({})).unwrap_err();
    assert!(
        matches!(&error, PluginError::Plugin { kind, message, retryable: false, .. }
            if kind == "invalid_request"
                && message == "option `path` (a string without escapes) is required"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_c_error_without_retryable_is_retried_by_kind_and_reaches_the_exporter_error_verbatim() {
    // Writes to /dev/full are buffered, then fail at flush with ENOSPC: the plugin reports
    // `{"kind": "unavailable", "message": ...}` and says nothing about retrying.
    let mut exporter = PluginExporter::load(c_exporter(), json!({ "path": "/dev/full" })).unwrap();
    exporter.export(&[some_record().await]).await.unwrap();
    let error = exporter.flush().await.unwrap_err();
    assert!(error.is_retryable(), "unavailable is retried by default");
    assert!(
        error
            .to_string()
            .contains("cannot flush: No space left on device"),
        "{error}"
    );
}
