//! `[tracing]` eviction bounds through the binary: shown by `check-config`, applied by `run`.

use crate::{llmtrace, stderr, stdout};

const BOUNDS: &str = "[tracing]\nmax_traces = 50\nmax_bytes = 1048576\nmax_age_ms = 3600000\n";

#[test]
fn check_config_shows_every_eviction_bound() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.toml"), BOUNDS).unwrap();

    let output = llmtrace(dir.path(), &["check-config", "app.toml"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for line in [
        "max_traces = 50",
        "max_bytes = 1048576",
        "max_age_ms = 3600000",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
}

#[test]
fn run_with_a_byte_bound_below_any_trace_still_exports_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        "[tracing]\nmax_bytes = 1\nmax_age_ms = 1\n[exporters.archive]\ntype = \"jsonl\"\npath = \"traces.jsonl\"\n",
    )
    .unwrap();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("exporter archive: 1 exported, 0 dropped, 0 failed"));
    // The bound applied: the buffer no longer holds the trace `run` would summarize.
    assert!(
        !stderr(&output).contains(" tokens, "),
        "{}",
        stderr(&output)
    );
    let line = std::fs::read_to_string(dir.path().join("traces.jsonl")).unwrap();
    let record: llmtrace::TraceRecord = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(record.prompt, "hi");
}

#[test]
fn run_refuses_a_zero_byte_bound_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.toml"), "[tracing]\nmax_bytes = 0\n").unwrap();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "hi"]);

    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("tracing.max_bytes"), "{text}");
    assert!(text.contains("must be at least 1, found 0"), "{text}");
}
