//! `llmtrace import` and `llmtrace ui` as a user runs them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use llmtrace::exporter::{Page, SqliteStore};
use llmtrace::report::{ReportFormat, export_traces};

use crate::support::workflow;

fn llmtrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmtrace"))
}

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn import_loads_files_once_and_reports_counts() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let jsonl = dir.path().join("traces.jsonl");
    export_traces(&records, ReportFormat::Jsonl, Some(&jsonl)).unwrap();
    let json = dir.path().join("traces.json");
    export_traces(&records[..2], ReportFormat::Json, Some(&json)).unwrap();
    let reference = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/reference-traces.jsonl"
    );
    let db = dir.path().join("traces.db");

    let output = llmtrace()
        .args([
            "import",
            jsonl.to_str().unwrap(),
            reference,
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let store = SqliteStore::open(&db).unwrap();
    let count = store.count().unwrap();
    let reference_lines = std::fs::read_to_string(reference).unwrap().lines().count() as u64;
    assert_eq!(count, 5 + reference_lines);
    assert!(
        stderr.contains(&format!("imported {count} new trace(s) of {count} read")),
        "{stderr}"
    );

    // The JSON array holds traces already imported: nothing is doubled.
    let output = llmtrace()
        .args([
            "import",
            json.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("imported 0 new trace(s) of 2 read"));
    assert_eq!(store.count().unwrap(), count);
}

/// Starts `llmtrace ui ARGS --listen 127.0.0.1:0`; returns it and its base URL.
fn start_ui(args: &[&str]) -> (Running, String) {
    let mut child = llmtrace()
        .arg("ui")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("ui printed its address");
    let url = line
        .trim()
        .strip_prefix("llmtrace ui: serving ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    (running, url)
}

fn get_page(url: &str) -> Page {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = runtime.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() });
    serde_json::from_str(&body).unwrap()
}

#[test]
fn ui_serves_a_trace_file_and_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let records = workflow();
    let jsonl = dir.path().join("traces.jsonl");
    export_traces(&records, ReportFormat::Jsonl, Some(&jsonl)).unwrap();

    let (_ui, url) = start_ui(&[jsonl.to_str().unwrap()]);
    let page = get_page(&format!("{url}/api/traces?session=s-1"));
    assert_eq!(page.traces.len(), 3);

    let db = dir.path().join("traces.db");
    let status = llmtrace()
        .args([
            "import",
            jsonl.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let (_ui, url) = start_ui(&["--db", db.to_str().unwrap()]);
    assert_eq!(get_page(&format!("{url}/api/traces")).traces.len(), 5);

    // Other metadata keys may name the prompt and its version.
    let (_ui, url) = start_ui(&[
        "--db",
        db.to_str().unwrap(),
        "--prompt-name-key",
        "user",
        "--prompt-version-key",
        "step_type",
    ]);
    let page = get_page(&format!(
        "{url}/api/traces?prompt_name=ann&prompt_version=code_generation"
    ));
    assert_eq!(page.traces.len(), 3);
}

#[test]
fn ui_refuses_a_missing_database_by_name() {
    let output = llmtrace()
        .args([
            "ui",
            "--db",
            "/nonexistent/traces.db",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/traces.db does not exist"),
        "{stderr}"
    );
}
