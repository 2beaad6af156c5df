//! `[[layers]]` through the binary: `check-config` prints the stack, `run -c` applies it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use llmtrace::TraceRecord;
use serde_json::json;

use crate::{command, llmtrace, stderr, stdout};

/// An OpenAI-compatible server on 127.0.0.1 answering with `statuses` in turn, then 200;
/// returns its base URL (`http://127.0.0.1:PORT/v1`).
async fn server(statuses: &[u16]) -> String {
    let statuses = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<_>>(),
    ));
    let app = Router::new().fallback(answer).with_state(statuses);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

async fn answer(State(statuses): State<Arc<Mutex<VecDeque<u16>>>>) -> (StatusCode, String) {
    let status = statuses.lock().unwrap().pop_front().unwrap_or(200);
    let body = match status {
        200 => {
            json!({"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]})
        }
        _ => json!({"error": {"message": "try later"}}),
    };
    (StatusCode::from_u16(status).unwrap(), body.to_string())
}

/// The records `run` exported to `traces.jsonl` in `dir`.
fn exported(dir: &Path) -> Vec<TraceRecord> {
    let text = std::fs::read_to_string(dir.join("traces.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

const ARCHIVE: &str = "[exporters.archive]\ntype = \"jsonl\"\npath = \"traces.jsonl\"\n";
const RETRY: &str = "[[layers]]\ntype = \"retry\"\nattempts = 3\ninitial_backoff_ms = 1\n";
const TRACE: &str = "[[layers]]\ntype = \"trace\"\n";

/// `run -c app.toml hi` against a server failing twice with 503, `layers` in the file.
async fn run_retried(layers: &str) -> (std::process::Output, Vec<TraceRecord>) {
    let base = server(&[503, 503]).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[provider]\ntype = \"openai\"\nmodel = \"m\"\nbase_url = \"{base}\"\n{ARCHIVE}{layers}"
    );
    std::fs::write(dir.path().join("app.toml"), toml).unwrap();
    let path = dir.path().to_owned();
    let output =
        tokio::task::spawn_blocking(move || llmtrace(&path, &["run", "-c", "app.toml", "hi"]))
            .await
            .unwrap();
    let records = exported(dir.path());
    (output, records)
}

#[test]
fn check_config_prints_the_effective_stack_outermost_first() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            "[[layers]]\ntype = \"session\"\nenv = \"APP_SESSION\"\n[[layers]]\ntype = \"metadata\"\nvalues = {{ a = 1, b = 2 }}\n{RETRY}{TRACE}[[layers]]\ntype = \"timeout\"\ntimeout_ms = 30000\n[[layers]]\ntype = \"concurrency_limit\"\nmax_concurrency = 4\n[[layers]]\ntype = \"rate_limit\"\nrequests = 10\nper_ms = 1000\n"
        ),
    )
    .unwrap();

    let output = command(dir.path(), &["check-config", "app.toml"])
        .env("APP_SESSION", "s-1")
        .output()
        .unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let expected = "session(env APP_SESSION) -> metadata(2 keys) -> retry(3 attempts) -> trace \
        -> timeout(30s) -> concurrency_limit(4) -> rate_limit(10 per 1s) -> provider echo(echo-1)";
    assert!(stdout(&output).contains(expected), "{}", stdout(&output));
}

#[test]
fn check_config_prints_the_default_stack_of_a_file_without_layers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.toml"), "[metadata]\napp = \"x\"\n").unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    let expected = "metadata(1 key) -> trace -> provider echo(echo-1)";
    assert!(stdout(&output).contains(expected), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_retry_before_trace_exports_one_trace_per_attempt() {
    let (output, records) = run_retried(&format!("{RETRY}{TRACE}")).await;

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "ok\n");
    let attempts: Vec<_> = records
        .iter()
        .map(|r| r.metadata["attempt_number"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_retry_after_trace_exports_one_trace_recording_the_attempts() {
    let (output, records) = run_retried(&format!("{TRACE}{RETRY}")).await;

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].metadata["attempts"], 3);
}

#[test]
fn run_with_a_timeout_layer_exports_a_trace_of_kind_timeout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!("[provider]\nlatency_ms = 30000\n{ARCHIVE}[[layers]]\ntype = \"timeout\"\ntimeout_ms = 100\n"),
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("timeout layer's 100ms"),
        "{}",
        stderr(&output)
    );
    let records = exported(dir.path());
    assert_eq!(records[0].error.as_ref().unwrap().kind, "timeout");
}

#[test]
fn run_applies_session_metadata_and_both_limits_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            "{ARCHIVE}[[layers]]\ntype = \"session\"\nenv = \"APP_SESSION\"\n[[layers]]\ntype = \"metadata\"\nvalues = {{ team = \"search\" }}\n[[layers]]\ntype = \"rate_limit\"\nrequests = 5\nper_ms = 1000\n[[layers]]\ntype = \"concurrency_limit\"\nmax_concurrency = 1\n"
        ),
    )
    .unwrap();

    let output = command(dir.path(), &["run", "-c", "app.toml", "hi"])
        .env("APP_SESSION", "s-42")
        .output()
        .unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let record = &exported(dir.path())[0];
    assert_eq!(record.metadata["session_id"], "s-42");
    assert_eq!(record.metadata["team"], "search");
}

#[test]
fn run_names_a_bad_layer_with_its_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[[layers]]\ntype = \"retries\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("layers[0].type: unknown layer type \"retries\""),
        "{text}"
    );
    assert!(text.contains("app.toml"), "{text}");
}

#[test]
fn check_config_names_a_session_variable_that_is_not_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[[layers]]\ntype = \"session\"\nenv = \"APP_SESSION\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("layers[0].env: environment variable APP_SESSION is not set"),
        "{text}"
    );
}
