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
