//! An llmtrace exporter plugin that appends one CSV row per trace.
//!
//! ```toml
//! [exporters.csv]
//! type = "plugin"
//! path = "target/debug/libllmtrace_csv_exporter.so"
//! [exporters.csv.options]
//! path = "traces/traces.csv"   # created with its parent directories; appended to
//! ```
//!
//! Columns, in order (a header row is written when the file is new or empty):
//! `trace_id, timestamp, provider, model, session_id, step_type, prompt, content,
//! finish_reason, prompt_tokens, completion_tokens, total_tokens, generation_time_ms,
//! error_kind`. Fields are quoted as RFC 4180 requires (commas, quotes, line breaks). A relative
//! `path` is relative to the host process's working directory.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use llmtrace_plugin_abi::{ExporterPlugin, PluginError, TraceRecord};
use serde_json::Value;

llmtrace_plugin_abi::export_exporter!(CsvExporter);

/// The header row.
const HEADER: [&str; 14] = [
    "trace_id",
    "timestamp",
    "provider",
    "model",
    "session_id",
    "step_type",
    "prompt",
    "content",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "generation_time_ms",
    "error_kind",
];

/// Appends rows to one CSV file.
struct CsvExporter {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl ExporterPlugin for CsvExporter {
    fn create(options: Value) -> Result<Self, PluginError> {
        let path = path_option(&options)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| {
                PluginError::invalid_request(format!(
                    "cannot create directory {}: {error}",
                    parent.display()
                ))
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|error| {
                PluginError::invalid_request(format!("cannot open {}: {error}", path.display()))
            })?;
        let is_new = file.metadata().map(|m| m.len() == 0).unwrap_or(true);
        // The header is written by hand, once per file, not by the csv crate once per writer:
        // the file outlives the writer (appends across runs).
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        let mut exporter = CsvExporter { path, writer };
        if is_new {
            exporter
                .writer
                .write_record(HEADER)
                .map_err(|error| exporter.write_error(&error))?;
            exporter.flush()?;
        }
        Ok(exporter)
    }

    fn export(&mut self, records: Vec<TraceRecord>) -> Result<(), PluginError> {
        for record in &records {
            self.writer
                .write_record(row(record))
                .map_err(|error| self.write_error(&error))?;
        }
        // Each batch reaches the file before the call returns, so a crash of the host loses
        // at most the batch in flight.
        self.flush()
    }

    fn flush(&mut self) -> Result<(), PluginError> {
        self.writer
            .flush()
            .map_err(|error| self.write_error(&error))
    }
}

impl CsvExporter {
    /// A failed write. Not retryable: the rows before the failure may be in the file
    /// already, and a retry would write them twice.
    fn write_error(&self, error: &dyn std::fmt::Display) -> PluginError {
        PluginError::internal(format!("cannot write {}: {error}", self.path.display()))
    }
}

/// The `path` option; any other option is a mistake worth reporting.
fn path_option(options: &Value) -> Result<PathBuf, PluginError> {
    let invalid = |message: String| PluginError::invalid_request(message);
    let missing = || invalid("missing option \"path\" (the CSV file to append to)".to_owned());
    let options = match options {
        Value::Object(options) => options,
        Value::Null => return Err(missing()),
        other => return Err(invalid(format!("options must be a table, not {other}"))),
    };
    if let Some(unknown) = options.keys().find(|key| *key != "path") {
        return Err(invalid(format!(
            "unknown option {unknown:?} (the only option is \"path\")"
        )));
    }
    match options.get("path") {
        Some(Value::String(path)) if !path.is_empty() => Ok(PathBuf::from(path)),
        Some(other) => Err(invalid(format!(
            "option \"path\" must be a non-empty string, not {other}"
        ))),
        None => Err(missing()),
    }
}

/// The CSV fields of one record, in [`HEADER`] order.
fn row(record: &TraceRecord) -> [String; 14] {
    let response = record.response.as_ref();
    let usage = response.and_then(|r| r.usage);
    let tokens = |count: fn(&llmtrace_plugin_abi::Usage) -> u64| {
        usage
            .as_ref()
            .map(count)
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    [
        record.trace_id.clone(),
        record.timestamp.clone(),
        record.provider.clone(),
        record.model.clone(),
        metadata_field(record, "session_id"),
        metadata_field(record, "step_type"),
        record.prompt.clone(),
        response.map(|r| r.content.clone()).unwrap_or_default(),
        response
            .and_then(|r| r.finish_reason.clone())
            .unwrap_or_default(),
        tokens(|u| u.prompt_tokens),
        tokens(|u| u.completion_tokens),
        tokens(|u| u.total_tokens),
        format!("{:.3}", record.generation_time_ms()),
        record
            .error
            .as_ref()
            .map(|e| e.kind.clone())
            .unwrap_or_default(),
    ]
}

/// A metadata entry as text: strings as they are, other values as JSON, absent as empty.
fn metadata_field(record: &TraceRecord, key: &str) -> String {
    match record.metadata.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(value: Value) -> TraceRecord {
        serde_json::from_value(value).unwrap()
    }

    fn successful() -> TraceRecord {
        record(json!({
            "trace_id": "6f1c4c34-2f0e-4f7a-9b1e-0d6c1e2a3b4c",
            "timestamp": "2026-05-01T10:00:00.000000+00:00",
            "provider": "echo",
            "model": "echo-1",
            "prompt": "Say \"hi\", then stop\nplease",
            "response": {
                "content": "Echo: hi, there",
                "finish_reason": "stop",
                "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
                "generation_time_ms": 1.23456,
            },
            "metadata": {"session_id": "s-1", "step_type": "chat", "attempt_number": 2},
        }))
    }

    fn to_csv(rows: &[[String; 14]]) -> String {
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        for row in rows {
            writer.write_record(row).unwrap();
        }
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn a_successful_trace_fills_every_column_but_the_error() {
        assert_eq!(
            row(&successful()),
            [
                "6f1c4c34-2f0e-4f7a-9b1e-0d6c1e2a3b4c",
                "2026-05-01T10:00:00.000000+00:00",
                "echo",
                "echo-1",
                "s-1",
                "chat",
                "Say \"hi\", then stop\nplease",
                "Echo: hi, there",
                "stop",
                "7",
                "4",
                "11",
                "1.235",
                "",
            ]
            .map(String::from)
        );
    }

    #[test]
    fn a_failed_trace_has_no_answer_and_names_its_error_kind() {
        let failed = record(json!({
            "trace_id": "t-2",
            "prompt": "hi",
            "response": null,
            "error": {"kind": "rate_limited", "message": "slow down", "retryable": true,
                      "generation_time_ms": 12.5},
            "metadata": {},
        }));
        let row = row(&failed);
        assert_eq!(
            &row[7..],
            ["", "", "", "", "", "12.500", "rate_limited"].map(String::from)
        );
        assert_eq!(row[4], "", "no session");
    }

    #[test]
    fn non_string_metadata_is_written_as_json() {
        let mut record = successful();
        record
            .metadata
            .insert("step_type".into(), json!({"phase": 2}));
        assert_eq!(row(&record)[5], r#"{"phase":2}"#);
    }

    #[test]
    fn commas_quotes_and_line_breaks_are_quoted() {
        let csv = to_csv(&[row(&successful())]);
        assert!(
            csv.contains("\"Say \"\"hi\"\", then stop\nplease\",\"Echo: hi, there\",stop"),
            "{csv}"
        );
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv.as_bytes());
        let back = reader.records().next().unwrap().unwrap();
        assert_eq!(&back[6], "Say \"hi\", then stop\nplease");
    }

    #[test]
    fn the_header_is_written_once_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/traces.csv");
        let options = json!({"path": path.to_str().unwrap()});
        for _ in 0..2 {
            let mut exporter = CsvExporter::create(options.clone()).unwrap();
            exporter.export(vec![successful()]).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER.join(","));
        assert_eq!(text.matches("trace_id,timestamp").count(), 1);
        assert_eq!(text.matches("6f1c4c34").count(), 2);
    }

    #[test]
    fn options_are_checked() {
        let message = |options: Value| CsvExporter::create(options).err().unwrap().message;
        assert!(message(Value::Null).contains("missing option \"path\""));
        assert!(message(json!({"pth": "x.csv"})).contains("unknown option \"pth\""));
        assert!(message(json!({"path": 3})).contains("non-empty string"));
    }
}
