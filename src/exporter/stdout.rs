use std::io::Write;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Exporter, ExporterError};
use crate::TraceRecord;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ExporterComponent};
use crate::report::{markdown, write_jsonl_line};

/// How [`StdoutExporter`] prints records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StdoutFormat {
    /// One JSON record per line. The default.
    #[default]
    Jsonl,
    /// Markdown report sections.
    Markdown,
}

/// Prints records to standard output.
#[derive(Debug, Default)]
pub struct StdoutExporter {
    format: StdoutFormat,
    written: usize,
}

impl StdoutExporter {
    /// Prints in `format`.
    pub fn new(format: StdoutFormat) -> Self {
        Self { format, written: 0 }
    }
}

#[async_trait]
impl Exporter for StdoutExporter {
    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        let mut out = Vec::new();
        for record in batch {
            match self.format {
                StdoutFormat::Jsonl => write_jsonl_line(&mut out, record).map_err(|e| {
                    ExporterError::permanent(format!("cannot serialize trace: {e}"))
                })?,
                StdoutFormat::Markdown => {
                    let mut section = String::new();
                    self.written += 1;
                    markdown::write_interaction(&mut section, self.written, record);
                    out.extend_from_slice(section.as_bytes());
                }
            }
        }
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&out)
            .and_then(|()| stdout.flush())
            .map_err(|e| ExporterError::permanent(format!("cannot write to stdout: {e}")))
    }
}

/// `type = "stdout"`: the options of a [`StdoutExporter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StdoutConfig {
    /// `format`: `jsonl` (the default) or `markdown`.
    pub format: StdoutFormat,
}

impl ExporterComponent for StdoutConfig {
    const TYPE: &'static str = "stdout";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let format = if table.choice("format", &["jsonl", "markdown"], "jsonl")? == "markdown" {
            StdoutFormat::Markdown
        } else {
            StdoutFormat::Jsonl
        };
        Some(Self { format })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        Ok(Box::new(StdoutExporter::new(self.format)))
    }
}
