//! Reading trace files back: ours (JSONL and JSON arrays) and the reference implementation's.
//!
//! `tests/data/reference-traces.{jsonl,json}` were written the way AbstractCore's
//! `export_traces` writes (`json.dumps(trace, ensure_ascii=False)` joined by `\n` with no final
//! newline; `json.dumps(traces, indent=2, ensure_ascii=False)`), with the record layout of its
//! `_capture_trace`: naive local timestamps, `null` lists, class names as providers, the
//! context window as `max_tokens`.

use std::io::Cursor;

use chrono::{TimeZone, Utc};
use llmtrace::read::{ReadError, TraceFileFormat, TraceFileReader, read_traces};
use llmtrace::report::{ReportFormat, export_traces, summarize_traces};
use llmtrace::sink::TraceQuery;
use llmtrace::{ErrorKind, TraceRecord, Usage};
use serde_json::json;

use crate::support::traced;

const REFERENCE_JSONL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/reference-traces.jsonl"
);
const REFERENCE_JSON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/reference-traces.json"
);

fn read_all(bytes: &[u8]) -> (Vec<TraceRecord>, Vec<ReadError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for item in TraceFileReader::new(Cursor::new(bytes)).with_path("t") {
        match item {
            Ok(record) => records.push(record),
            Err(error) => errors.push(error),
        }
    }
    (records, errors)
}

fn records_of(path: &str) -> Vec<TraceRecord> {
    read_traces(path)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

async fn our_jsonl(count: usize) -> (Vec<TraceRecord>, String) {
    let client = traced(count);
    for i in 0..count {
        client.generate(format!("Test {i}")).await.unwrap();
    }
    let traces = client.get_traces(TraceQuery::all());
    let jsonl = export_traces(&traces, ReportFormat::Jsonl, None).unwrap();
    (traces.iter().map(|t| (**t).clone()).collect(), jsonl)
}

#[test]
fn reference_jsonl_loads_with_every_value_mapped() {
    let records = records_of(REFERENCE_JSONL);

    assert_eq!(records.len(), 3);
    let [stub, ollama, openai] = &records[..] else {
        unreachable!()
    };
    // Naive timestamps are read as UTC, with or without a fraction.
    assert_eq!(
        stub.timestamp,
        Utc.with_ymd_and_hms(2025, 11, 8, 12, 34, 56).unwrap()
            + chrono::Duration::milliseconds(789)
    );
    assert_eq!(
        ollama.timestamp,
        Utc.with_ymd_and_hms(2025, 11, 8, 12, 0, 0).unwrap()
    );
    assert_eq!(stub.provider, "TracingProviderStub");
    assert!(stub.messages.is_empty() && stub.tools.is_empty());
    let response = stub.response.as_ref().unwrap();
    assert!(response.tool_calls.is_empty() && response.raw_response.is_none());
    assert_eq!(response.usage, Some(Usage::new(5, 5)));
    assert_eq!(response.generation_time_ms, 1234.5678);
    assert_eq!(stub.parameters.max_tokens, Some(131072));
    assert_eq!(stub.parameters.temperature, Some(0.0));

    // input/output token names, a null time, parameters that do not fit, any metadata value.
    let response = ollama.response.as_ref().unwrap();
    assert_eq!(response.usage, Some(Usage::new(7, 3)));
    assert_eq!(response.generation_time_ms, 0.0);
    assert_eq!(ollama.prompt, "How are you? — très bien");
    assert_eq!(ollama.messages.len(), 2);
    assert_eq!(ollama.parameters.seed, Some(42));
    assert_eq!(ollama.parameters.max_tokens, None);
    assert_eq!(
        ollama.metadata["unmapped_parameters"],
        json!({"max_tokens": 99999999999u64, "prompt_cache_key": "abc"})
    );
    assert_eq!(ollama.metadata["cost"], json!(0.25));
    assert_eq!(ollama.metadata["flags"], json!({"beta": true}));
    assert_eq!(ollama.metadata["note"], json!(null));
    assert_eq!(
        ollama.session_id(),
        Some("b7a1c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    );

    assert_eq!(openai.tools[0].name, "add");
    let call = &openai.response.as_ref().unwrap().tool_calls[0];
    assert_eq!(
        (call.name.as_str(), &call.arguments),
        ("add", &json!({"a": 1, "b": 2}))
    );
    assert_eq!(openai.parameters.top_k, Some(40));
    assert!(!openai.metadata.contains_key("unmapped_parameters"));
}

#[test]
fn the_reference_json_array_holds_the_same_records() {
    let mut reader = read_traces(REFERENCE_JSON).unwrap();
    let records = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();

    assert_eq!(reader.format(), Some(TraceFileFormat::JsonArray));
    assert_eq!(records, records_of(REFERENCE_JSONL));
}

#[test]
fn reference_traces_summarize_and_re_export_without_loss() {
    let records = records_of(REFERENCE_JSONL);

    let summary = summarize_traces(&records);
    assert_eq!(summary.total_interactions, 3);
    assert_eq!(summary.total_tokens, 10 + 10 + 28);
    assert_eq!(
        summary.providers,
        ["OllamaProvider", "OpenAIProvider", "TracingProviderStub"]
    );

    for format in [ReportFormat::Jsonl, ReportFormat::Json] {
        let text = export_traces(&records, format, None).unwrap();
        let (again, errors) = read_all(text.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(again, records, "{format}");
    }
}

#[tokio::test]
async fn our_json_array_export_reads_back_as_records() {
    let (records, _) = our_jsonl(3).await;
    let json = export_traces(&records, ReportFormat::Json, None).unwrap();

    let (read, errors) = read_all(json.as_bytes());

    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(read, records);
    assert_eq!(read_all(b" [ ] \n").0.len(), 0);
    assert!(read_all(b"").1.is_empty());
}

#[tokio::test]
async fn a_bad_array_element_is_named_by_index_and_line_and_the_rest_is_read() {
    let (records, _) = our_jsonl(2).await;
    let good: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let file = format!(
        "[\n{},\n{{\"trace_id\": 7}},\n\"text, with ] and {{\",\n{}\n]\n",
        good[0], good[1]
    );

    let (read, errors) = read_all(file.as_bytes());

    assert_eq!(read, records);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(ReadError::is_recoverable));
    assert!(
        matches!(
            errors[0],
            ReadError::Malformed {
                line: 3,
                index: Some(1),
                ..
            }
        ),
        "{:?}",
        errors[0]
    );
    assert!(
        errors[0]
            .to_string()
            .starts_with("t:3: malformed trace (array index 1): "),
        "{}",
        errors[0]
    );
    assert_eq!(errors[1].line(), Some(4));
}

#[tokio::test]
async fn a_truncated_array_yields_its_records_then_says_so() {
    let (records, _) = our_jsonl(2).await;
    let json = export_traces(&records, ReportFormat::Json, None).unwrap();
    let cut = &json[..json.rfind('}').unwrap() + 1];

    let (read, errors) = read_all(cut.as_bytes());

    assert_eq!(read, records);
    assert!(
        matches!(&errors[..], [ReadError::UnclosedArray { .. }]),
        "{errors:?}"
    );
    let (_, errors) = read_all(b"[1, 2] x");
    assert!(
        matches!(
            errors.last(),
            Some(ReadError::ArraySyntax { column: 8, .. })
        ),
        "{errors:?}"
    );
}

#[tokio::test]
async fn bom_crlf_blank_lines_and_invalid_utf8_lines() {
    let (records, jsonl) = our_jsonl(3).await;
    let lines: Vec<&str> = jsonl.lines().collect();
    let mut file = b"\xEF\xBB\xBF".to_vec();
    file.extend_from_slice(lines[0].as_bytes());
    file.extend_from_slice(b"\r\n\r\n{\"prompt\": \"caf\xE9\"}\r\n");
    file.extend_from_slice(lines[1].as_bytes());
    file.extend_from_slice(b"\r\n");
    file.extend_from_slice(lines[2].as_bytes());

    let (read, errors) = read_all(&file);

    assert_eq!(read, records);
    assert!(
        matches!(
            &errors[..],
            [ReadError::InvalidUtf8 {
                line: 3,
                column: 16,
                index: None,
                ..
            }]
        ),
        "{errors:?}"
    );
}

#[test]
fn a_malformed_line_is_named_with_its_line_and_column() {
    let (_, errors) = read_all(b"\n\n{\"trace_id\": }\n  {\"trace_id\": }");

    let error = &errors[0];
    assert!(
        matches!(
            error,
            ReadError::Malformed {
                line: 3,
                column: 14,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "t:3: malformed trace: expected value (column 14)"
    );
    assert!(
        matches!(
            errors[1],
            ReadError::Malformed {
                line: 4,
                column: 16,
                ..
            }
        ),
        "{:?}",
        errors[1]
    );
    let (_, errors) = read_all(b"  \t{\"trace_id\": }");
    assert_eq!(
        errors[0].to_string(),
        "t:1: malformed trace: expected value (column 17)"
    );
}

#[test]
fn a_missing_file_is_an_open_error_naming_it() {
    let error = read_traces("no/such/file.jsonl").err().unwrap();

    assert!(matches!(error, ReadError::Open { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot open no/such/file.jsonl: ")
    );
}

#[test]
fn deep_nesting_is_a_malformed_record_not_a_stack_overflow() {
    // In metadata, where any JSON value is welcome: only serde_json's depth limit stops it.
    let deep = format!("{{\"metadata\": {{\"a\": {}", "[".repeat(100_000));

    for input in [format!("[{deep}"), format!("{deep}\n")] {
        let (records, errors) = read_all(input.as_bytes());
        assert!(records.is_empty());
        assert!(
            matches!(&errors[0], ReadError::Malformed { reason, .. } if reason.contains("recursion limit")),
            "{errors:?}"
        );
    }
}

/// Every optional field we write comes back: reading is lenient, never lossy.
#[tokio::test]
async fn every_optional_field_survives_a_write_and_a_read() {
    let (mut records, _) = our_jsonl(1).await;
    let record = &mut records[0];
    record.server_address = Some("127.0.0.1".into());
    record.server_port = Some(8080);
    record.stream = true;
    let response = record.response.as_mut().unwrap();
    response.id = Some("chatcmpl-1".into());
    response.model = Some("gpt-4o-2024-08-06".into());
    response.time_to_first_token_ms = Some(1.5);

    for format in [ReportFormat::Jsonl, ReportFormat::Json] {
        let text = export_traces(&records, format, None).unwrap();
        let (read, errors) = read_all(text.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(read, records, "{format:?}");
    }
}

#[tokio::test]
async fn error_kinds_read_as_typed_kinds_and_write_back_as_they_were() {
    let (records, _) = our_jsonl(1).await;
    let mut value = serde_json::to_value(&records[0]).unwrap();
    let mut lines = String::new();
    for kind in ["rate_limited", "APIConnectionError"] {
        value["error"] = json!({
            "kind": kind, "message": "m", "retryable": true, "generation_time_ms": 1.0
        });
        lines += &format!("{value}\n");
    }

    let (read, errors) = read_all(lines.as_bytes());

    assert!(errors.is_empty(), "{errors:?}");
    let kinds: Vec<_> = read
        .iter()
        .map(|r| r.error.as_ref().unwrap().kind.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            ErrorKind::RateLimited,
            ErrorKind::Unknown("APIConnectionError".into())
        ]
    );
    let written = export_traces(&read, ReportFormat::Jsonl, None).unwrap();
    let written: Vec<serde_json::Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(written[0]["error"]["kind"], "rate_limited");
    assert_eq!(written[1]["error"]["kind"], "APIConnectionError");
}
