//! Trace files after a crash or a full disk: no record is lost or glued onto another.

use std::path::Path;
use std::process::{Command, Output};

use llmtrace::report::TraceSummary;

use crate::{command, llmtrace, stderr, stdout};

/// A config with one file exporter of `kind` writing `file`.
fn file_exporter(dir: &Path, kind: &str, file: &str) {
    std::fs::write(
        dir.join("app.toml"),
        format!("[exporters.archive]\ntype = \"{kind}\"\npath = \"{file}\"\n"),
    )
    .unwrap();
}

#[test]
fn a_torn_last_line_is_closed_before_the_next_record() {
    let dir = tempfile::tempdir().unwrap();
    file_exporter(dir.path(), "jsonl", "traces.jsonl");
    for prompt in ["one", "two"] {
        let output = llmtrace(dir.path(), &["run", "-c", "app.toml", prompt]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    // What a kill -9 (or a full disk) in the middle of a write leaves: half a record.
    let path = dir.path().join("traces.jsonl");
    let good = std::fs::read_to_string(&path).unwrap();
    let torn = &good[..good.len() / 4];
    std::fs::write(&path, format!("{good}{torn}")).unwrap();
    let torn_at = (good.len() + torn.len()).to_string();

    let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "three"]);

    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&format!("{good}{torn}\n")), "{text}");
    let summary = llmtrace(dir.path(), &["summarize", "--json", "traces.jsonl"]);
    let summary: TraceSummary = serde_json::from_str(&stdout(&summary)).unwrap();
    assert_eq!(
        summary.total_interactions, 3,
        "the old records and the new one"
    );
    let last: llmtrace::TraceRecord = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last.prompt, "three");
    let warning = stderr(&output);
    assert!(
        warning.contains("partial line")
            && warning.contains("traces.jsonl")
            && warning.contains(&torn_at),
        "the torn tail is reported with its offset: {warning}"
    );
}

/// Runs `llmtrace args...` in `dir` with files limited to `max_bytes` (rounded down to 512):
/// a write past the limit is cut short and then fails, as on a full disk.
pub(crate) fn with_file_size_limit(dir: &Path, max_bytes: u64, args: &[&str]) -> Output {
    let binary = command(dir, args);
    // `ulimit -f` counts 512-byte blocks; ignoring SIGXFSZ makes the write fail with EFBIG
    // instead of killing the process, and the ignored disposition survives exec.
    let script = format!(
        "trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"",
        max_bytes / 512
    );
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(script)
        .arg(binary.get_program())
        .args(binary.get_args())
        .current_dir(dir);
    for (name, value) in binary.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    shell.output().unwrap()
}

#[test]
fn a_write_cut_short_leaves_the_file_as_it_was_and_fails_the_run() {
    for (kind, file) in [
        ("jsonl", "traces.jsonl"),
        ("json", "traces.json"),
        ("markdown", "report.md"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        file_exporter(dir.path(), kind, file);
        let output = llmtrace(dir.path(), &["run", "-c", "app.toml", "a first record"]);
        assert!(output.status.success(), "{kind}: {}", stderr(&output));
        let before = std::fs::read(dir.path().join(file)).unwrap();
        // Room for part of the next record only: the prompt alone is longer than the room.
        let limit = (before.len() as u64 / 512 + 1) * 512;
        let prompt = "x".repeat(2048);

        let output = with_file_size_limit(dir.path(), limit, &["run", "-c", "app.toml", &prompt]);

        assert_eq!(output.status.code(), Some(3), "{kind}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("1 failed (last error: cannot write"),
            "{kind}: {}",
            stderr(&output)
        );
        let after = std::fs::read(dir.path().join(file)).unwrap();
        assert!(
            after == before,
            "{kind}: the file is unchanged, not torn: {}",
            String::from_utf8_lossy(&after[before.len().min(after.len())..])
        );
    }
}
