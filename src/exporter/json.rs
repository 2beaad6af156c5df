use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::file::{append_whole, io_error, open_append, sync};
use super::{Exporter, ExporterError, Overflow};
use crate::TraceRecord;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ExporterComponent};

/// The closing of the array, which each batch rewrites.
const END: &[u8] = b"\n]";

/// Keeps a JSON file holding an array of every record, valid after every batch.
///
/// Each batch replaces the closing `]` with the new records and a new `]`, so the file never
/// has to be rewritten and always parses. An existing file is continued when it is such an
/// array; anything else is an error rather than a file overwritten.
#[derive(Debug)]
pub struct JsonExporter {
    path: PathBuf,
    file: Option<Open>,
    buffer: Vec<u8>,
}

#[derive(Debug)]
struct Open {
    file: File,
    len: u64,
    has_records: bool,
}

impl JsonExporter {
    /// Writes the array to `path` (created with its parent directories if missing).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            file: None,
            buffer: Vec::new(),
        }
    }

    fn open(&self) -> Result<Open, ExporterError> {
        let mut file = open_append(&self.path)?;
        let io = |e| io_error(&self.path, "open", e);
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            file.write_all(b"[\n]").map_err(io)?;
            return Ok(Open {
                file,
                len: 3,
                has_records: false,
            });
        }
        let mut first = [0u8; 1];
        let mut last = [0u8; 2];
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_exact(&mut first))
            .map_err(io)?;
        file.seek(SeekFrom::End(-2))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(io)?;
        if first != *b"[" || last != *END {
            return Err(ExporterError::permanent(format!(
                "cannot append to {}: it is not a JSON array written by llmtrace",
                self.path.display()
            )));
        }
        Ok(Open {
            file,
            len,
            has_records: len > 3,
        })
    }
}

#[async_trait]
impl Exporter for JsonExporter {
    /// A local file keeps up with any realistic call rate: lose nothing.
    fn default_overflow(&self) -> Overflow {
        Overflow::Wait
    }

    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        if self.file.is_none() {
            self.file = Some(self.open()?);
        }
        let Some(open) = self.file.as_mut() else {
            unreachable!("opened above");
        };
        // Committed to `open` only once the batch is written.
        let mut has_records = open.has_records;
        self.buffer.clear();
        for record in batch {
            self.buffer
                .extend_from_slice(if has_records { b",\n  " } else { b"\n  " });
            serde_json::to_writer(&mut self.buffer, &**record)
                .map_err(|e| ExporterError::permanent(format!("cannot serialize trace: {e}")))?;
            has_records = true;
        }
        self.buffer.extend_from_slice(END);
        let path = &self.path;
        // The file is opened for appending: after the truncation the write lands at the new end.
        open.file
            .set_len(open.len - END.len() as u64)
            .map_err(|e| io_error(path, "write", e))?;
        if let Err(error) = append_whole(&mut open.file, path, &self.buffer) {
            // Close the array again: the file stays valid, without this batch. If even that
            // fails, the next batch reopens the file and reports it.
            if append_whole(&mut open.file, path, END).is_err() {
                self.file = None;
            }
            return Err(error);
        }
        open.len += (self.buffer.len() - END.len()) as u64;
        open.has_records = has_records;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ExporterError> {
        sync(self.file.as_ref().map(|open| &open.file), &self.path)
    }
}

/// `type = "json"`: the options of a [`JsonExporter`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JsonConfig {
    /// `path`: the file to write (required).
    pub path: PathBuf,
}

impl ExporterComponent for JsonConfig {
    const TYPE: &'static str = "json";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let path = table.required("path", "the file to write")?;
        Some(Self { path })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        Ok(Box::new(JsonExporter::new(&self.path)))
    }
}
