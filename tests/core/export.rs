//! Export and summary: the reference's `TestTraceExport`, then what it leaves out.

use std::collections::BTreeSet;
use std::time::Duration;

use llmtrace::exporter::{Exporter, MarkdownExporter};
use llmtrace::report::{ReportError, ReportFormat, export_traces, markdown, summarize_traces};
use llmtrace::sink::TraceQuery;
use llmtrace::{GenerateRequest, TraceRecord, Usage};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};
use serde_json::Value;

use crate::support::{failing, overloaded, traced};

async fn traces_of(prompts: &[&str]) -> Vec<std::sync::Arc<TraceRecord>> {
    let client = traced(10);
    for prompt in prompts {
        client.generate(*prompt).await.unwrap();
    }
    client.get_traces(TraceQuery::all())
}

#[tokio::test]
async fn jsonl_export_writes_one_record_per_line() {
    let traces = traces_of(&["Test 1", "Test 2"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.jsonl");

    export_traces(&traces, ReportFormat::Jsonl, Some(&path)).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    let prompts: Vec<String> = lines
        .iter()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["prompt"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(prompts, ["Test 1", "Test 2"]);
    assert!(text.ends_with('\n'), "every JSONL line is terminated");
}

#[tokio::test]
async fn json_export_writes_an_array() {
    let traces = traces_of(&["Test"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.json");

    export_traces(&traces, ReportFormat::Json, Some(&path)).unwrap();

    let parsed: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0]["prompt"], "Test");
}

#[tokio::test]
async fn markdown_export_writes_a_report() {
    let traces = traces_of(&["Test"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");

    export_traces(&traces, ReportFormat::Markdown, Some(&path)).unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# LLM Interaction Trace Report"));
    assert!(text.contains("## Interaction 1:"));
    assert!(text.contains("Test"));
    assert!(text.contains("- **Provider:** echo"));
    assert!(text.contains("**Total Interactions:** 1"));
}

#[tokio::test]
async fn a_single_trace_exports_as_a_one_element_array() {
    let client = traced(10);
    let response = client.generate("Test").await.unwrap();
    let trace = client.get_trace(&response.trace_id().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.json");

    export_traces(&[trace], ReportFormat::Json, Some(&path)).unwrap();

    let parsed: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(parsed.len(), 1);
}

#[tokio::test]
async fn export_without_a_path_returns_the_string() {
    let traces = traces_of(&["Test"]).await;

    let text = export_traces(&traces, ReportFormat::Json, None).unwrap();

    assert_eq!(serde_json::from_str::<Vec<Value>>(&text).unwrap().len(), 1);
}

#[tokio::test]
async fn the_file_equals_the_returned_string_and_parent_directories_are_created() {
    let traces = traces_of(&["Test"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c/traces.md");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "old content that is longer than nothing").unwrap();

    for format in [
        ReportFormat::Jsonl,
        ReportFormat::Json,
        ReportFormat::Markdown,
    ] {
        let text = export_traces(&traces, format, Some(&path)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{format}");
    }
    let fresh = dir.path().join("x/y/traces.jsonl");
    export_traces(&traces, ReportFormat::Jsonl, Some(&fresh)).unwrap();
    assert!(fresh.is_file());
}

#[test]
fn empty_exports_are_well_formed() {
    let none: [TraceRecord; 0] = [];

    assert_eq!(export_traces(&none, ReportFormat::Jsonl, None).unwrap(), "");
    assert_eq!(
        export_traces(&none, ReportFormat::Json, None).unwrap(),
        "[]"
    );
    let markdown = export_traces(&none, ReportFormat::Markdown, None).unwrap();
    assert!(markdown.starts_with("# LLM Interaction Trace Report\n"));
    assert!(markdown.ends_with("**Total Interactions:** 0\n\n"));
}

#[test]
fn unsupported_formats_are_typed_errors_naming_the_value() {
    for format in ["JSON", "csv", "md", ""] {
        let error = format.parse::<ReportFormat>().unwrap_err();
        assert!(
            matches!(&error, ReportError::UnsupportedFormat(f) if f == format),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&format!("{format:?}")), "{message}");
        assert!(
            message.contains("jsonl") && message.contains("markdown"),
            "{message}"
        );
    }
    assert_eq!(
        "jsonl".parse::<ReportFormat>().unwrap(),
        ReportFormat::Jsonl
    );
}

#[tokio::test]
async fn an_unwritable_path_is_an_error_naming_the_file() {
    let traces = traces_of(&["Test"]).await;
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let path = blocker.join("traces.jsonl");

    let error = export_traces(&traces, ReportFormat::Jsonl, Some(&path)).unwrap_err();

    assert!(matches!(error, ReportError::Write { .. }), "{error:?}");
    assert!(error.to_string().contains("not-a-dir"), "{error}");
}

#[tokio::test]
async fn serialized_records_have_exactly_the_documented_fields() {
    let client = traced(10);
    client
        .generate(
            GenerateRequest::new("Test")
                .system_prompt("System")
                .temperature(0.7)
                .seed(42),
        )
        .await
        .unwrap();
    let ok = export_traces(
        &client.get_traces(TraceQuery::all()),
        ReportFormat::Json,
        None,
    )
    .unwrap();
    let failing_client = failing(overloaded(), Duration::ZERO);
    failing_client.generate("Test").await.unwrap_err();
    let failed = export_traces(
        &failing_client.get_traces(TraceQuery::all()),
        ReportFormat::Json,
        None,
    )
    .unwrap();

    let keys = |value: &Value| {
        value
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let ok: Vec<Value> = serde_json::from_str(&ok).unwrap();
    let record_fields = [
        "trace_id",
        "timestamp",
        "provider",
        "model",
        "system_prompt",
        "prompt",
        "messages",
        "tools",
        "parameters",
        "response",
        "metadata",
    ];
    assert_eq!(keys(&ok[0]), set(&record_fields));
    assert_eq!(
        keys(&ok[0]["response"]),
        set(&[
            "content",
            "tool_calls",
            "finish_reason",
            "usage",
            "generation_time_ms",
            // The model the echo provider says answered.
            "model"
        ])
    );
    assert_eq!(
        keys(&ok[0]["response"]["usage"]),
        set(&["prompt_tokens", "completion_tokens", "total_tokens"])
    );
    assert_eq!(
        keys(&ok[0]["parameters"]),
        set(&["temperature", "seed"]),
        "only set parameters"
    );

    let failed: Vec<Value> = serde_json::from_str(&failed).unwrap();
    let mut with_error = set(&record_fields);
    with_error.insert("error".into());
    assert_eq!(keys(&failed[0]), with_error);
    assert!(failed[0]["response"].is_null());
    assert_eq!(
        keys(&failed[0]["error"]),
        set(&[
            "kind",
            "message",
            "retryable",
            "status",
            "generation_time_ms"
        ])
    );
}

#[tokio::test]
async fn timestamps_are_rfc3339_with_a_utc_offset_and_records_round_trip() {
    let traces = traces_of(&["Test"]).await;
    let jsonl = export_traces(&traces, ReportFormat::Jsonl, None).unwrap();

    let value: Value = serde_json::from_str(jsonl.trim_end()).unwrap();
    let timestamp = value["timestamp"].as_str().unwrap();
    assert!(timestamp.ends_with("+00:00"), "{timestamp}");
    assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok());
    let read_back: TraceRecord = serde_json::from_str(jsonl.trim_end()).unwrap();
    assert_eq!(read_back, *traces[0]);
}

#[tokio::test]
async fn markdown_stays_valid_when_prompts_contain_code_fences() {
    let prompt = "Fix this:\n```python\nprint(x)\n```\n### not a heading\n````\nmore";
    let client = traced(10);
    client
        .generate(GenerateRequest::new(prompt).system_prompt("use ``` fences"))
        .await
        .unwrap();
    let report = export_traces(
        &client.get_traces(TraceQuery::all()),
        ReportFormat::Markdown,
        None,
    )
    .unwrap();

    let mut headings = Vec::new();
    let mut blocks = Vec::new();
    let mut in_heading = None;
    let mut in_block = None::<String>;
    for event in Parser::new(&report) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => in_heading = Some((level, String::new())),
            Event::End(TagEnd::Heading(_)) => headings.push(in_heading.take().unwrap()),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                in_block = Some(String::new())
            }
            Event::End(TagEnd::CodeBlock) => blocks.push(in_block.take().unwrap()),
            Event::Text(text) => {
                if let Some(block) = &mut in_block {
                    block.push_str(&text);
                } else if let Some((_, heading)) = &mut in_heading {
                    heading.push_str(&text);
                }
            }
            _ => {}
        }
    }
    let level3: Vec<&str> = headings
        .iter()
        .filter(|(level, _)| *level == HeadingLevel::H3)
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(
        level3,
        ["Metadata", "Input", "Response"],
        "the prompt's heading stayed in its block"
    );
    assert!(blocks.contains(&format!("{prompt}\n")), "{blocks:#?}");
    assert!(blocks.contains(&"use ``` fences\n".to_owned()));
    assert!(blocks.contains(&format!("Echo: {prompt}\n")));
}

#[tokio::test]
async fn summary_of_traces() {
    let traces = traces_of(&["Test 1", "Test 2", "Test 3"]).await;

    let summary = summarize_traces(&traces);

    assert_eq!(summary.total_interactions, 3);
    let tokens: u64 = traces
        .iter()
        .map(|t| t.response.as_ref().unwrap().usage.unwrap().total_tokens)
        .sum();
    assert!(tokens > 0);
    assert_eq!(summary.total_tokens, tokens);
    assert_eq!(summary.avg_tokens_per_interaction, tokens as f64 / 3.0);
    assert_eq!(summary.providers, ["echo"]);
    assert_eq!(summary.models, [crate::support::STUB_MODEL]);
    let range = summary.date_range.unwrap();
    assert_eq!(range.first, traces[0].timestamp);
    assert_eq!(range.last, traces[2].timestamp);
    let time: f64 = traces
        .iter()
        .map(|t| t.response.as_ref().unwrap().generation_time_ms)
        .sum();
    // Reported to the microsecond.
    assert!((summary.total_time_ms - time).abs() < 5e-4);
    assert!((summary.avg_time_ms - time / 3.0).abs() < 5e-4);
}

#[test]
fn summary_of_nothing() {
    // No type to name: `&[]` is a set of no records.
    let summary = summarize_traces(&[]);

    assert_eq!(summary.total_interactions, 0);
    assert_eq!(summary.total_tokens, 0);
    assert_eq!(summary.avg_tokens_per_interaction, 0.0);
    assert_eq!(summary.avg_time_ms, 0.0);
    assert!(summary.providers.is_empty());
    assert!(summary.models.is_empty());
    assert!(summary.date_range.is_none());
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["providers"], serde_json::json!([]));
}

#[tokio::test]
async fn summary_counts_failures_and_their_time_and_sorts_providers() {
    let mut traces = traces_of(&["ok"]).await;
    let broken = failing(overloaded(), Duration::from_millis(10));
    broken.generate("boom").await.unwrap_err();
    traces.extend(broken.get_traces(TraceQuery::all()));

    let summary = summarize_traces(&traces);

    assert_eq!(summary.total_interactions, 2);
    assert_eq!(summary.failed_interactions, 1);
    assert_eq!(summary.total_tokens, traces[0].total_tokens());
    assert!(summary.total_time_ms >= 10.0);
    assert_eq!(summary.providers, ["echo", "flaky"]);
    assert_eq!(summary.models, ["flaky-1", crate::support::STUB_MODEL]);
    let slice: &[_] = &traces;
    assert_eq!(
        summarize_traces(&slice),
        summary,
        "a slice is taken by reference too"
    );
}

#[test]
fn usage_totals_saturate_instead_of_wrapping() {
    assert_eq!(Usage::new(u64::MAX, 1).total_tokens, u64::MAX);
    assert_eq!(Usage::new(2, 3).total_tokens, 5);
}

#[tokio::test]
async fn summary_saturates_tokens_and_reports_bad_times_and_duplicate_ids() {
    let traces = traces_of(&["a", "b", "c", "d"]).await;
    let mut records: Vec<TraceRecord> = traces.iter().map(|t| (**t).clone()).collect();
    for record in &mut records[..2] {
        record.response.as_mut().unwrap().usage = Some(Usage::new(u64::MAX, 0));
    }
    records[2].response.as_mut().unwrap().generation_time_ms = -5.0;
    records[3].response.as_mut().unwrap().generation_time_ms = f64::NAN;
    let good_time = records[0].duration_ms() + records[1].duration_ms();
    records.push(records[0].clone());

    let summary = summarize_traces(&records);

    assert_eq!(summary.total_tokens, u64::MAX);
    assert!(summary.tokens_saturated);
    assert_eq!(summary.duplicate_trace_ids, 1);
    assert_eq!(
        summary.total_interactions, 4,
        "the duplicate is counted once"
    );
    assert_eq!(summary.invalid_times, 2);
    assert!((summary.total_time_ms - good_time).abs() < 5e-4);
    assert!((summary.avg_time_ms - good_time / 2.0).abs() < 1e-3);
    let json = serde_json::to_string(&summary).unwrap();
    assert_eq!(
        serde_json::from_str::<llmtrace::report::TraceSummary>(&json).unwrap(),
        summary
    );
}

#[tokio::test]
async fn appending_to_a_report_counts_real_headings_not_quoted_ones() {
    let quoting = "Why does my report say\n```\n## Interaction 7: abc\n```\n?";
    let client = traced(10);
    client.generate(quoting).await.unwrap();
    client.generate("second").await.unwrap();
    let traces = client.get_traces(TraceQuery::all());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");

    MarkdownExporter::new(&path)
        .export(&traces[..1])
        .await
        .unwrap();
    MarkdownExporter::new(&path)
        .export(&traces[1..])
        .await
        .unwrap();

    let report = std::fs::read_to_string(&path).unwrap();
    let headings: Vec<String> = Parser::new(&report)
        .scan(None, |heading: &mut Option<String>, event| {
            Some(match event {
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H2,
                    ..
                }) => {
                    *heading = Some(String::new());
                    None
                }
                Event::Text(text) => {
                    if let Some(h) = heading {
                        h.push_str(&text);
                    }
                    None
                }
                Event::End(TagEnd::Heading(HeadingLevel::H2)) => heading.take(),
                _ => None,
            })
        })
        .flatten()
        .collect();
    assert_eq!(
        headings,
        [
            format!("Interaction 1: {}", traces[0].trace_id),
            format!("Interaction 2: {}", traces[1].trace_id)
        ]
    );
    assert_eq!(markdown::count_interactions(report.as_bytes()).unwrap(), 2);
}

/// Records of two models: three of `gpt-4o` (two priced), one of an unpriced model.
async fn priced_records() -> Vec<TraceRecord> {
    let traces = traces_of(&["a", "b", "c", "d"]).await;
    let mut records: Vec<TraceRecord> = traces.iter().map(|t| (**t).clone()).collect();
    let costs = [Some(0.25), Some(0.5), None, None];
    for (record, cost) in records.iter_mut().zip(costs) {
        record.model = "gpt-4o".into();
        record.cost_usd = cost;
    }
    records[3].model = "local-llama".into();
    records
}

#[tokio::test]
async fn summary_totals_and_averages_cost_over_priced_traces_and_per_model() {
    let records = priced_records().await;

    let summary = summarize_traces(&records);

    assert_eq!(summary.priced_interactions, 2);
    assert_eq!(summary.total_cost_usd, Some(0.75));
    assert_eq!(
        summary.avg_cost_usd,
        Some(0.375),
        "over the 2 priced traces"
    );
    let gpt = &summary.by_model["gpt-4o"];
    assert_eq!((gpt.interactions, gpt.priced_interactions), (3, 2));
    assert_eq!(gpt.total_cost_usd, Some(0.75));
    assert_eq!(
        gpt.total_tokens,
        records[..3].iter().map(|r| r.total_tokens()).sum::<u64>()
    );
    let llama = &summary.by_model["local-llama"];
    assert_eq!((llama.interactions, llama.priced_interactions), (1, 0));
    assert_eq!(llama.total_cost_usd, None, "unknown, not 0");
    assert_eq!(summary.models, ["gpt-4o", "local-llama"]);

    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["total_cost_usd"], 0.75);
    assert_eq!(json["by_model"]["gpt-4o"]["avg_cost_usd"], 0.375);
    assert!(
        json["by_model"]["local-llama"]
            .get("total_cost_usd")
            .is_none()
    );
}

#[tokio::test]
async fn a_summary_without_any_cost_says_none_rather_than_zero() {
    let traces = traces_of(&["a"]).await;

    let summary = summarize_traces(&traces);

    assert_eq!(summary.priced_interactions, 0);
    assert_eq!(summary.total_cost_usd, None);
    assert_eq!(summary.avg_cost_usd, None);
}

#[tokio::test]
async fn the_markdown_report_shows_cost_per_model_and_per_interaction() {
    let mut records = priced_records().await;
    if let Some(usage) = records[0].response.as_mut().unwrap().usage.as_mut() {
        usage.cached_prompt_tokens = Some(1);
    }

    let report = export_traces(&records, ReportFormat::Markdown, None).unwrap();

    assert!(
        report.contains("**Total Cost:** $0.750000 (2 of 4 interactions priced)"),
        "{report}"
    );
    assert!(report.contains("| `gpt-4o` | 3 |"), "{report}");
    assert!(report.contains("| 0.750000 | 0.375000 |"), "{report}");
    assert!(report.contains("| `local-llama` | 1 |"), "{report}");
    assert!(report.contains("- Cost: $0.250000\n"), "{report}");
    assert!(report.contains("- Cached input tokens: 1\n"), "{report}");
    assert_eq!(report.matches("- Cost: $").count(), 2, "only priced calls");
}
