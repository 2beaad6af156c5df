//! `llmtrace run` through a configured stack.

use crate::{llmtrace, stderr, stdout};

#[test]
fn run_without_config_answers_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();

    let output = llmtrace(dir.path(), &["run", "hello there"]);

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Echo: hello there\n");
    assert!(
        stderr(&output).contains("provider echo model echo-1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_streams_and_exports_through_the_configured_exporters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[metadata]\napp = \"cli-test\"\n[exporters.archive]\ntype = \"jsonl\"\npath = \"out/traces.jsonl\"\n",
    )
    .unwrap();

    let output = llmtrace(
        dir.path(),
        &[
            "run",
            "--config",
            "app.toml",
            "--stream",
            "--metadata",
            "user=ann",
            "count to three",
        ],
    );

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Echo: count to three\n");
    assert!(stderr(&output).contains("exporter archive: 1 exported, 0 dropped, 0 failed"));
    let line = std::fs::read_to_string(dir.path().join("out/traces.jsonl")).unwrap();
    let record: llmtrace::TraceRecord = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(record.metadata["app"], "cli-test");
    assert_eq!(record.metadata["user"], "ann");
    assert!(record.response.unwrap().time_to_first_token_ms.is_some());
}

#[test]
fn run_with_a_stdout_exporter_prints_the_trace_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[exporters.console]\ntype = \"stdout\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    let text = stdout(&output);
    let trace_line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON trace line");
    let record: llmtrace::TraceRecord = serde_json::from_str(trace_line).unwrap();
    assert_eq!(record.prompt, "hi");
}

#[test]
fn help_reads_well() {
    let dir = tempfile::tempdir().unwrap();

    let output = llmtrace(dir.path(), &["--help"]);

    let help = stdout(&output);
    for command in ["demo", "run", "summarize", "export", "check-config"] {
        assert!(help.contains(command), "{help}");
    }
}

/// A config whose jsonl exporter cannot open its file: its directory is a regular file.
fn unwritable_exporter(dir: &std::path::Path) {
    std::fs::write(dir.join("blocker"), "").unwrap();
    std::fs::write(
        dir.join("app.toml"),
        "[exporters.archive]\ntype = \"jsonl\"\npath = \"blocker/traces.jsonl\"\n",
    )
    .unwrap();
}

#[test]
fn an_exporter_that_fails_is_reported_with_its_reason_and_the_run_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    unwritable_exporter(dir.path());

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "Echo: hi\n", "the answer is still given");
    let text = stderr(&output);
    assert!(
        text.contains("exporter archive: 0 exported, 0 dropped, 1 failed (last error: cannot open")
            && text.contains("blocker/traces.jsonl"),
        "{text}"
    );
    assert!(
        text.contains("Export failed; giving up on this batch."),
        "the library's log is shown by default: {text}"
    );
}

#[test]
fn rust_log_controls_what_the_library_logs() {
    let dir = tempfile::tempdir().unwrap();
    unwritable_exporter(dir.path());

    let quiet = crate::command(dir.path(), &["run", "-c", "app.toml", "hi"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let verbose = crate::command(dir.path(), &["run", "-c", "app.toml", "hi"])
        .env("RUST_LOG", "llmtrace=error")
        .output()
        .unwrap();

    assert!(
        !stderr(&quiet).contains("Export failed"),
        "{}",
        stderr(&quiet)
    );
    assert!(
        stderr(&quiet).contains("1 failed (last error:"),
        "the report is not a log"
    );
    assert!(
        stderr(&verbose).contains("Export failed"),
        "{}",
        stderr(&verbose)
    );
}

#[test]
fn a_failed_generation_still_reports_the_exporters_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was bound, then released: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            "[provider]\ntype = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n\
             [exporters.archive]\ntype = \"jsonl\"\npath = \"traces.jsonl\"\n"
        ),
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    let report = text
        .find("exporter archive: 1 exported, 0 dropped, 0 failed")
        .unwrap_or_else(|| panic!("{text}"));
    let error = text
        .find("error: connection failed")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(report < error, "the report comes before the error: {text}");
    let line = std::fs::read_to_string(dir.path().join("traces.jsonl")).unwrap();
    let record: llmtrace::TraceRecord = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(record.error.unwrap().kind, "connect");
}

#[test]
fn run_help_documents_the_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();

    let help = stdout(&llmtrace(dir.path(), &["run", "--help"]));

    for status in ["3 ", "130", "143", "RUST_LOG"] {
        assert!(help.contains(status), "{help}");
    }
}
