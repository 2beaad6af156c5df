use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use super::file::{append_whole, end_line, io_error, open_append, sync};
use super::{Exporter, ExporterError, Overflow};
use crate::TraceRecord;
use crate::config::limits;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ExporterComponent};
use crate::report::write_jsonl_line;

/// Appends records to a JSON Lines file, one record per line, optionally rotating by size.
///
/// With [`max_bytes`](Self::max_bytes) set, a batch that would grow the file past the limit
/// first moves `traces.jsonl` to `traces.jsonl.1` (`.1` to `.2`, and so on, keeping
/// [`max_files`](Self::max_files) old files). Each batch is appended whole or not at all (a
/// write cut short is truncated back off), so a crash loses at most the batch in flight, and a
/// partial line left by a crash is closed before the next record is written.
#[derive(Debug)]
pub struct JsonlExporter {
    path: PathBuf,
    max_bytes: Option<u64>,
    max_files: u32,
    file: Option<(File, u64)>,
    buffer: Vec<u8>,
}

impl JsonlExporter {
    /// Appends to `path` (created with its parent directories if missing).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            max_bytes: None,
            max_files: 5,
            file: None,
            buffer: Vec::new(),
        }
    }

    /// Rotates the file before it would grow past `max_bytes`. Defaults to no rotation.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// How many rotated files to keep. Defaults to 5.
    pub fn max_files(mut self, max_files: u32) -> Self {
        self.max_files = max_files;
        self
    }

    /// Opens the file if it is not open; returns its size.
    ///
    /// A file whose last line is torn (a crash or a full disk cut a write short) is first
    /// given the missing newline, so that the torn line stays one malformed line and the next
    /// record starts a line of its own instead of being glued onto it.
    fn open(&mut self) -> Result<u64, ExporterError> {
        if let Some((_, size)) = &self.file {
            return Ok(*size);
        }
        let mut file = open_append(&self.path)?;
        let size = end_line(&mut file, &self.path)?;
        self.file = Some((file, size));
        Ok(size)
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        name.into()
    }

    fn rotate(&mut self) -> Result<(), ExporterError> {
        self.file = None;
        let rename = |from: &Path, to: &Path| match std::fs::rename(from, to) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(io_error(from, "rotate", error))
            }
            _ => Ok(()),
        };
        if self.max_files == 0 {
            return std::fs::remove_file(&self.path).map_err(|e| io_error(&self.path, "rotate", e));
        }
        for n in (1..self.max_files).rev() {
            rename(&self.rotated(n), &self.rotated(n + 1))?;
        }
        rename(&self.path, &self.rotated(1))
    }
}

#[async_trait]
impl Exporter for JsonlExporter {
    /// A local file keeps up with any realistic call rate: lose nothing.
    fn default_overflow(&self) -> Overflow {
        Overflow::Wait
    }

    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        self.buffer.clear();
        for record in batch {
            write_jsonl_line(&mut self.buffer, record)
                .map_err(|e| ExporterError::permanent(format!("cannot serialize trace: {e}")))?;
        }
        let size = self.open()?;
        if let Some(limit) = self.max_bytes
            && size > 0
            && size + self.buffer.len() as u64 > limit
        {
            self.rotate()?;
            self.open()?;
        }
        let Some((file, size)) = self.file.as_mut() else {
            unreachable!("open() succeeded");
        };
        append_whole(file, &self.path, &self.buffer)?;
        *size += self.buffer.len() as u64;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ExporterError> {
        sync(self.file.as_ref().map(|(file, _)| file), &self.path)
    }
}

/// `type = "jsonl"`: the options of a [`JsonlExporter`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JsonlConfig {
    /// `path`: the file to append to (required).
    pub path: PathBuf,
    /// `max_bytes`: rotate before the file grows past this size; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// `max_files`: rotated files kept (default 5).
    pub max_files: u32,
}

impl ExporterComponent for JsonlConfig {
    const TYPE: &'static str = "jsonl";

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let path = table.required::<PathBuf>("path", "the file to append to");
        let max_bytes = table.get::<i64>("max_bytes").and_then(|n| {
            if n < 1 {
                table.issue("max_bytes", format!("must be at least 1, found {n}"));
            }
            (n >= 1).then_some(n as u64)
        });
        // At most MAX_FILES, so the cast cannot truncate.
        let max_files = table.int_in("max_files", 0, limits::MAX_FILES, 5) as u32;
        Some(Self {
            path: path?,
            max_bytes,
            max_files,
        })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        let exporter = JsonlExporter::new(&self.path).max_files(self.max_files);
        Ok(Box::new(match self.max_bytes {
            Some(max_bytes) => exporter.max_bytes(max_bytes),
            None => exporter,
        }))
    }
}
