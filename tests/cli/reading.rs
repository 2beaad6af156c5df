//! `summarize` and `export` on files as they come: the reference implementation's, JSON arrays,
//! byte order marks, CRLF, broken bytes, absurd numbers; and on stdout that cannot be written.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use llmtrace::report::{ReportFormat, TraceSummary, export_traces};
use llmtrace::{Client, TraceQuery};
use serde_json::Value;

use crate::{llmtrace, stderr, stdout};

const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/reference-traces");

/// `llmtrace args...` in `dir`, with stdout going to `stdout`.
fn llmtrace_to(dir: &Path, args: &[&str], stdout: impl Into<Stdio>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_llmtrace"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLMTRACE_")) {
        command.env_remove(name);
    }
    command
        .args(args)
        .current_dir(dir)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn summary_of(dir: &Path, file: &str) -> TraceSummary {
    let output = llmtrace(dir, &["summarize", file, "--json", "--strict"]);
    assert!(output.status.success(), "{file}: {}", stderr(&output));
    serde_json::from_str(&stdout(&output)).unwrap()
}

/// Our own JSONL lines for `count` traces.
async fn our_lines(count: usize) -> Vec<String> {
    let client = Client::builder().max_traces(count).build();
    for i in 0..count {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    let traces = client.get_traces(TraceQuery::all());
    let jsonl = export_traces(&traces, ReportFormat::Jsonl, None).unwrap();
    jsonl.lines().map(str::to_owned).collect()
}

#[test]
fn reference_files_summarize_and_re_export() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["jsonl", "json"] {
        std::fs::copy(
            format!("{REFERENCE}.{ext}"),
            dir.path().join(format!("ref.{ext}")),
        )
        .unwrap();
    }

    let summary = summary_of(dir.path(), "ref.jsonl");
    assert_eq!(summary.total_interactions, 3);
    assert_eq!(summary.total_tokens, 48);
    assert_eq!(summary.models, ["gpt-4o-mini", "qwen3:4b-instruct"]);
    let range = summary.date_range.unwrap();
    assert_eq!(range.first.to_rfc3339(), "2025-11-08T12:00:00+00:00");
    assert_eq!(summary_of(dir.path(), "ref.json"), summary);

    for (format, out) in [("json", "again.json"), ("markdown", "again.md")] {
        let output = llmtrace(
            dir.path(),
            &[
                "export", "ref.json", "--format", format, "-o", out, "--strict",
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    assert_eq!(summary_of(dir.path(), "again.json"), summary);
    let report = std::fs::read_to_string(dir.path().join("again.md")).unwrap();
    assert!(report.contains("**Total Interactions:** 3"), "{report}");
    assert!(
        report.contains("- **Provider:** OllamaProvider"),
        "{report}"
    );
}

#[tokio::test]
async fn a_json_array_is_read_as_records_with_bad_elements_named() {
    let dir = tempfile::tempdir().unwrap();
    let lines = our_lines(3).await;
    let array = format!("[\n{},\n{{}},\n{},\n{}\n]", lines[0], lines[1], lines[2]);
    std::fs::write(dir.path().join("traces.json"), array).unwrap();

    let output = llmtrace(dir.path(), &["summarize", "traces.json", "--json"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let summary: TraceSummary = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary.total_interactions, 3);
    let warnings = stderr(&output);
    assert!(
        warnings.contains("traces.json:3: malformed trace (array index 1): missing field"),
        "{warnings}"
    );
    assert_eq!(warnings.lines().count(), 2, "{warnings}");
}

#[tokio::test]
async fn bom_crlf_and_a_line_of_broken_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let lines = our_lines(3).await;
    let mut file = b"\xEF\xBB\xBF".to_vec();
    for (i, line) in lines.iter().enumerate() {
        if i == 2 {
            file.extend_from_slice(b"{\"prompt\": \"\xFF\xFE\"}\r\n");
        }
        file.extend_from_slice(line.as_bytes());
        file.extend_from_slice(b"\r\n");
    }
    std::fs::write(dir.path().join("traces.jsonl"), file).unwrap();

    let output = llmtrace(dir.path(), &["summarize", "traces.jsonl", "--json"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let summary: TraceSummary = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary.total_interactions, 3, "the first record is kept");
    assert!(
        stderr(&output).contains("traces.jsonl:3: not valid UTF-8 at column 13"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn huge_token_counts_duplicates_and_negative_times_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let lines = our_lines(2).await;
    let mut records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    records[0]["response"]["usage"]["total_tokens"] = u64::MAX.into();
    records[1]["response"]["usage"]["total_tokens"] = u64::MAX.into();
    records[1]["response"]["generation_time_ms"] = (-3.5).into();
    records.push(records[0].clone());
    let text: Vec<String> = records.iter().map(Value::to_string).collect();
    std::fs::write(dir.path().join("traces.jsonl"), text.join("\n")).unwrap();

    let output = llmtrace(dir.path(), &["summarize", "traces.jsonl"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.contains(&format!("tokens        {} total", u64::MAX)),
        "{table}"
    );
    assert!(table.contains("interactions  2 (0 failed)"), "{table}");
    assert!(table.contains("1 duplicate trace id(s)"), "{table}");
    assert!(
        table.contains("1 negative or non-finite time(s)"),
        "{table}"
    );
    assert!(table.contains("the token total exceeds"), "{table}");
}

#[tokio::test]
async fn a_closed_pipe_ends_the_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let lines = our_lines(20).await;
    std::fs::write(dir.path().join("traces.jsonl"), lines.join("\n")).unwrap();

    for args in [
        &["summarize", "traces.jsonl"][..],
        &["summarize", "traces.jsonl", "--json"],
        &["export", "traces.jsonl", "--format", "json"],
        &["export", "traces.jsonl", "--format", "markdown"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = llmtrace_to(dir.path(), args, writer);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{args:?}");
    }
}

#[tokio::test]
async fn a_full_stdout_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("traces.jsonl"),
        our_lines(2).await.join("\n"),
    )
    .unwrap();

    for args in [
        &["summarize", "traces.jsonl"][..],
        &["export", "traces.jsonl", "--format", "json"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let output = llmtrace_to(dir.path(), args, full);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        let text = stderr(&output);
        assert!(
            text.starts_with("error: cannot write to stdout: No space left on device"),
            "{args:?}: {text}"
        );
        assert!(!text.contains("panicked"), "{text}");
    }
}

#[tokio::test]
async fn warnings_to_a_closed_pipe_do_not_stop_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = our_lines(2).await;
    lines.insert(1, "not a trace".to_owned());
    std::fs::write(dir.path().join("traces.jsonl"), lines.join("\n")).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);

    // As `llmtrace summarize traces.jsonl 2>&1 | head -0`.
    let status = Command::new(env!("CARGO_BIN_EXE_llmtrace"))
        .args(["summarize", "traces.jsonl"])
        .current_dir(dir.path())
        .stderr(writer.try_clone().unwrap())
        .stdout(writer)
        .status()
        .unwrap();

    assert!(status.success(), "{status}");
}
