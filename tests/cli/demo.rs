//! `llmtrace` with no arguments runs the demo on the embedded default.

use std::process::Command;

use llmtrace::TraceRecord;

#[test]
fn the_default_invocation_runs_the_demo_and_writes_the_traces_it_names() {
    let dir = tempfile::tempdir().unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .current_dir(dir.path())
        .output()
        .unwrap();

    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("interactions  5 (0 failed)"), "{stdout}");
    assert!(stdout.contains("llmtrace-traces/demo.jsonl"), "{stdout}");
    let jsonl = std::fs::read_to_string(dir.path().join("llmtrace-traces/demo.jsonl")).unwrap();
    let records: Vec<TraceRecord> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].metadata["step_type"], "code_generation");
    assert_eq!(records[1].metadata["attempt_number"], 2);
    assert!(records[2].response.as_ref().unwrap().tool_calls.len() == 1);
    assert!(
        records[4]
            .response
            .as_ref()
            .unwrap()
            .time_to_first_token_ms
            .is_some(),
        "the streamed step"
    );
    let report = std::fs::read_to_string(dir.path().join("llmtrace-traces/demo.md")).unwrap();
    assert!(report.contains("**Total Interactions:** 5"));
}
