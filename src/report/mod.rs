//! One-off reports: render traces as JSONL, JSON or Markdown, and summarize them.
//!
//! (Queued, continuous delivery is [`exporter`](crate::exporter); reading trace files back is
//! [`read`](crate::read).)
//!
//! ```
//! use llmtrace::report::{ReportFormat, export_traces, summarize_traces};
//! use llmtrace::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder().build();
//! client.generate("Test 1").await?;
//! client.generate("Test 2").await?;
//!
//! let traces = client.get_traces(Default::default());
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("reports/traces.jsonl");
//! let jsonl = export_traces(&traces, ReportFormat::Jsonl, Some(&path))?;
//! assert_eq!(jsonl.lines().count(), 2);
//! assert_eq!(std::fs::read_to_string(&path)?, jsonl);
//!
//! let format: ReportFormat = "markdown".parse()?;
//! assert!(export_traces(&traces, format, None)?.starts_with("# LLM Interaction Trace Report"));
//!
//! let summary = summarize_traces(&traces);
//! assert_eq!(summary.total_interactions, 2);
//! assert_eq!(summary.providers, ["echo"]);
//! # Ok(())
//! # }
//! ```

mod compact_json;
pub mod markdown;
mod output;
mod summary;

pub use output::OutputFile;
pub use summary::{DateRange, ModelSummary, Summarizer, TraceSet, TraceSummary, summarize_traces};

use std::borrow::Borrow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::TraceRecord;

/// A file format for traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportFormat {
    /// One JSON record per line, each line ending in `\n`.
    Jsonl,
    /// A pretty-printed JSON array.
    Json,
    /// A human-readable report.
    Markdown,
}

impl ReportFormat {
    /// The name used on the command line and in config (`jsonl`, `json`, `markdown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Jsonl => "jsonl",
            ReportFormat::Json => "json",
            ReportFormat::Markdown => "markdown",
        }
    }
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ReportFormat {
    type Err = ReportError;

    /// Parses `jsonl`, `json` or `markdown`, exactly (no case folding, no aliases).
    fn from_str(format: &str) -> Result<Self, Self::Err> {
        match format {
            "jsonl" => Ok(ReportFormat::Jsonl),
            "json" => Ok(ReportFormat::Json),
            "markdown" => Ok(ReportFormat::Markdown),
            _ => Err(ReportError::UnsupportedFormat(format.to_owned())),
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The format name is not one of `jsonl`, `json`, `markdown`.
    #[error("unsupported format {0:?}: use \"jsonl\", \"json\" or \"markdown\"")]
    UnsupportedFormat(String),
    /// A record could not be serialized.
    #[error("cannot serialize trace: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    #[non_exhaustive]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Renders `traces` in `format` and, when `path` is given, writes the result there too
/// (creating parent directories, replacing an existing file through a temporary file renamed
/// into place, so the file is never seen half-written). Returns the rendered text either way.
///
/// An empty slice gives `""` (jsonl), `"[]"` (json) or a report header (markdown).
///
/// # Errors
/// [`ReportError::Serialize`] or [`ReportError::Write`]; nothing is written when rendering
/// fails.
pub fn export_traces<R: Borrow<TraceRecord>>(
    traces: &[R],
    format: ReportFormat,
    path: Option<&Path>,
) -> Result<String, ReportError> {
    let text = render(traces, format)?;
    if let Some(path) = path {
        write_file(path, &text)?;
    }
    Ok(text)
}

fn render<R: Borrow<TraceRecord>>(
    traces: &[R],
    format: ReportFormat,
) -> Result<String, ReportError> {
    Ok(match format {
        ReportFormat::Jsonl => {
            let mut out = Vec::new();
            for trace in traces {
                write_jsonl_line(&mut out, trace.borrow())?;
            }
            String::from_utf8(out).expect("serde_json writes UTF-8")
        }
        ReportFormat::Json => {
            let records: Vec<&TraceRecord> = traces.iter().map(Borrow::borrow).collect();
            serde_json::to_string_pretty(&records)?
        }
        ReportFormat::Markdown => markdown::render(traces, chrono::Utc::now()),
    })
}

/// Appends one record as a JSONL line (JSON + `\n`) to `out`.
///
/// # Errors
/// When the record cannot be serialized.
pub fn write_jsonl_line(out: &mut Vec<u8>, record: &TraceRecord) -> Result<(), serde_json::Error> {
    compact_json::write(out, record)?;
    out.push(b'\n');
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportError> {
    let mut file = OutputFile::create(path)?;
    file.write_unnamed(text.as_bytes())
        .map_err(|source| ReportError::Write {
            path: path.to_owned(),
            source,
        })?;
    file.commit()
}
