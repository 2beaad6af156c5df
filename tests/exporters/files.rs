//! The file exporters, on real files.

use std::path::Path;

use llmtrace::exporter::{Exporter, ExporterSink, JsonExporter, JsonlExporter, MarkdownExporter};
use llmtrace::{Client, TraceQuery, TraceRecord};
use serde_json::Value;

use crate::quick;

async fn generate_through(exporter: impl Exporter, count: usize) -> Client {
    let sink = ExporterSink::builder()
        .exporter("file", exporter, quick())
        .build()
        .unwrap();
    let client = Client::builder().max_traces(1000).exporters(sink).build();
    for i in 0..count {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    client.shutdown().await;
    client
}

fn read_jsonl(path: &Path) -> Vec<TraceRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn n_traces_then_shutdown_all_reach_the_jsonl_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/traces.jsonl");

    let client = generate_through(JsonlExporter::new(&path), 500).await;

    let written = read_jsonl(&path);
    let stored: Vec<TraceRecord> = client
        .get_traces(TraceQuery::all())
        .iter()
        .map(|t| (**t).clone())
        .collect();
    assert_eq!(written.len(), 500);
    assert_eq!(
        written, stored,
        "the file holds exactly the traces, in order"
    );
    assert_eq!(client.exporter_stats()[0].1.exported, 500);
}

#[tokio::test]
async fn jsonl_appends_to_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");

    generate_through(JsonlExporter::new(&path), 3).await;
    generate_through(JsonlExporter::new(&path), 2).await;

    assert_eq!(read_jsonl(&path).len(), 5);
}

#[tokio::test]
async fn jsonl_starts_a_new_line_after_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    generate_through(JsonlExporter::new(&path), 2).await;
    let good = std::fs::read_to_string(&path).unwrap();
    // A crash cut the last write short.
    std::fs::write(&path, format!("{good}{{\"trace_id\": \"0c6")).unwrap();

    generate_through(JsonlExporter::new(&path), 1).await;

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[2], "{\"trace_id\": \"0c6",
        "the torn line stays alone"
    );
    let new: TraceRecord = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(new.prompt, "Test 0");
}

#[tokio::test]
async fn jsonl_rotates_by_size_and_keeps_max_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");
    let line_len = {
        let probe = dir.path().join("probe.jsonl");
        generate_through(JsonlExporter::new(&probe), 1).await;
        std::fs::metadata(&probe).unwrap().len()
    };
    // Batches of up to 64 lines, files of about 3 lines: each batch lands in a fresh file.
    let exporter = JsonlExporter::new(&path)
        .max_bytes(line_len * 3)
        .max_files(2);

    let sink = ExporterSink::builder()
        .exporter("file", exporter, quick().batch_size(2))
        .build()
        .unwrap();
    let client = Client::builder().exporters(sink).build();
    for i in 0..20 {
        client.generate(format!("Test {i:02}")).await.unwrap();
    }
    client.shutdown().await;

    let rotated = |n| dir.path().join(format!("traces.jsonl.{n}"));
    assert!(rotated(1).is_file() && rotated(2).is_file());
    assert!(
        !rotated(3).exists(),
        "only max_files rotated files are kept"
    );
    for file in [path.clone(), rotated(1), rotated(2)] {
        let size = std::fs::metadata(&file).unwrap().len();
        assert!(
            size <= line_len * 3 + 2,
            "{} is {size} bytes",
            file.display()
        );
    }
    let newest = read_jsonl(&path);
    assert_eq!(newest.last().unwrap().prompt, "Test 19");
    let older = read_jsonl(&rotated(1));
    assert!(
        older.last().unwrap().prompt < newest[0].prompt,
        "rotated files hold older traces"
    );
}

#[tokio::test]
async fn json_keeps_a_valid_array_and_continues_it_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");

    generate_through(JsonExporter::new(&path), 3).await;
    let first: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    generate_through(JsonExporter::new(&path), 2).await;
    let both: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();

    assert_eq!(first.len(), 3);
    assert_eq!(both.len(), 5);
    assert_eq!(both[4]["prompt"], "Test 1");
}

#[tokio::test]
async fn json_never_overwrites_a_file_that_is_not_its_array() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.json");
    std::fs::write(&path, "{\"mine\": true}\n").unwrap();

    let client = generate_through(JsonExporter::new(&path), 2).await;

    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"mine\": true}\n"
    );
    assert_eq!(client.exporter_stats()[0].1.failed, 2);
}

#[tokio::test]
async fn markdown_appends_sections_and_continues_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");

    generate_through(MarkdownExporter::new(&path), 2).await;
    generate_through(MarkdownExporter::new(&path), 1).await;

    let report = std::fs::read_to_string(&path).unwrap();
    assert_eq!(report.matches("# LLM Interaction Trace Report").count(), 1);
    assert!(
        report.contains("## Interaction 1:") && report.contains("## Interaction 3:"),
        "{report}"
    );
    assert!(!report.contains("## Interaction 4:"));
}

#[tokio::test]
async fn markdown_starts_its_next_section_on_a_new_line_after_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");
    generate_through(MarkdownExporter::new(&path), 2).await;
    let mut torn = std::fs::read_to_string(&path).unwrap();
    torn.push_str("- **Provi"); // a crash cut the last section short

    std::fs::write(&path, &torn).unwrap();
    generate_through(MarkdownExporter::new(&path), 1).await;

    let report = std::fs::read_to_string(&path).unwrap();
    assert!(
        report.starts_with(&format!("{torn}\n## Interaction 3:")),
        "{report}"
    );
}

#[tokio::test]
async fn an_unwritable_path_fails_the_export_not_the_generation() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();

    let client = generate_through(JsonlExporter::new(blocker.join("traces.jsonl")), 3).await;

    let stats = client.exporter_stats()[0].1.clone();
    assert_eq!((stats.exported, stats.failed), (0, 3));
    assert_eq!(client.get_traces(TraceQuery::all()).len(), 3);
    let reason = stats.last_error.expect("the failure's reason is kept");
    assert!(
        reason.contains("cannot open") && reason.contains("traces.jsonl"),
        "{reason}"
    );
}
