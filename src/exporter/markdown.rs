use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::file::{append_whole, end_line, io_error, open_append, sync};
use super::{Exporter, ExporterError, Overflow};
use crate::TraceRecord;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ExporterComponent};
use crate::report::markdown;

/// Appends one Markdown section per record to a report file.
///
/// A new file starts with the report title; an existing one is continued, numbering
/// interactions after the ones already in it.
#[derive(Debug)]
pub struct MarkdownExporter {
    path: PathBuf,
    file: Option<File>,
    written: usize,
    buffer: String,
}

impl MarkdownExporter {
    /// Appends to the report at `path` (created with its parent directories if missing).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            file: None,
            written: 0,
            buffer: String::new(),
        }
    }

    fn open(&mut self) -> Result<(), ExporterError> {
        let mut file = open_append(&self.path)?;
        let io = |e| io_error(&self.path, "open", e);
        if end_line(&mut file, &self.path)? == 0 {
            let mut header = String::new();
            markdown::write_log_header(&mut header, chrono::Utc::now());
            append_whole(&mut file, &self.path, header.as_bytes())?;
        } else {
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            self.written = markdown::count_interactions(BufReader::new(&file)).map_err(io)?;
        }
        self.file = Some(file);
        Ok(())
    }
}

#[async_trait]
impl Exporter for MarkdownExporter {
    /// A local file keeps up with any realistic call rate: lose nothing.
    fn default_overflow(&self) -> Overflow {
        Overflow::Wait
    }

    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        if self.file.is_none() {
            self.open()?;
        }
        self.buffer.clear();
        for (offset, record) in batch.iter().enumerate() {
            markdown::write_interaction(&mut self.buffer, self.written + offset + 1, record);
        }
        let Some(file) = self.file.as_mut() else {
            unreachable!("opened above");
        };
        append_whole(file, &self.path, self.buffer.as_bytes())?;
        self.written += batch.len();
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ExporterError> {
        sync(self.file.as_ref(), &self.path)
    }
}

/// `type = "markdown"`: the options of a [`MarkdownExporter`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MarkdownConfig {
    /// `path`: the report to append to (required).
    pub path: PathBuf,
}

impl ExporterComponent for MarkdownConfig {
    const TYPE: &'static str = "markdown";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let path = table.required("path", "the file to append to")?;
        Some(Self { path })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        Ok(Box::new(MarkdownExporter::new(&self.path)))
    }
}
