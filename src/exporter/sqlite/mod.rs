//! The `sqlite` exporter: an embedded, queryable store of traces in one file.
//!
//! Each batch is inserted in one transaction (WAL mode, so the viewer reads while a service
//! writes). The record is stored whole, as JSON, beside the columns the viewer filters on
//! (time, provider, model, session, step, attempt, error kind, tokens, latency), its scalar
//! metadata entries (for `key=value` filters) and a full-text index of prompts and answers.
//! [`SqliteStore`] reads the file back.

mod config;
mod schema;
mod score;
mod store;

pub use config::SqliteConfig;
pub use score::{Score, ScoreValue};
pub use store::{
    Page, PromptGroup, PromptKeys, SessionView, SqliteStore, Summary, SummaryBucket, SummaryGroup,
    TraceFilter, TraceRow,
};

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, Transaction, params};

use super::{Exporter, ExporterError, Overflow};
use crate::TraceRecord;

/// Why the store could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite refused an operation on the file.
    #[error("trace database {path}: {source}")]
    #[non_exhaustive]
    Sql {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file to read does not exist.
    #[error("trace database {path} does not exist")]
    #[non_exhaustive]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// The file was written by a newer llmtrace.
    #[error(
        "trace database {path} has schema version {found}; this llmtrace reads up to {supported}: upgrade llmtrace"
    )]
    #[non_exhaustive]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A record could not be turned into JSON.
    #[error("cannot serialize trace {trace_id}: {source}")]
    #[non_exhaustive]
    Serialize {
        /// The trace.
        trace_id: uuid::Uuid,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The store holds no trace with this id (yet: one still in an exporter's queue is not
    /// stored).
    #[error("no trace {0} in the store")]
    UnknownTrace(String),
    /// A score has a name or value the store cannot keep.
    #[error("score {key} {value:?}: {reason}")]
    BadScore {
        /// `name` or `value`.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A filter has a value the store cannot use.
    #[error("filter {key}={value:?}: {reason}")]
    #[non_exhaustive]
    BadFilter {
        /// The filter's name (`from`, `cursor`, `meta`, ...).
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How much the store keeps: the oldest traces beyond either limit are deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Traces kept at most.
    pub max_rows: Option<u64>,
    /// Traces older than this (by start time) are deleted.
    pub max_age: Option<Duration>,
}

impl Retention {
    /// Keeps at most `max_rows` traces.
    pub const fn max_rows(mut self, max_rows: u64) -> Self {
        self.max_rows = Some(max_rows);
        self
    }

    /// Deletes traces older than `max_age`.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }
}

/// Writes batches of traces into a SQLite file (created, with its parent directories, on the
/// first batch), applying [`Retention`] after each batch.
///
/// A trace already in the file (same `trace_id`, as when a file is imported twice) is skipped.
/// Retention deletes at most a bounded number of rows per batch (twice the batch, plus 1,000),
/// so a store that was far over its limit catches up over a few batches instead of stalling one.
#[derive(Debug)]
pub struct SqliteExporter {
    path: PathBuf,
    retention: Retention,
    connection: Option<Connection>,
    /// Rows in the file, counted once on open and kept up to date, for `max_rows`.
    rows: u64,
}

impl SqliteExporter {
    /// Writes to the database at `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            retention: Retention::default(),
            connection: None,
            rows: 0,
        }
    }

    /// Keeps at most `max_rows` traces (the newest).
    pub fn max_rows(mut self, max_rows: u64) -> Self {
        self.retention.max_rows = Some(max_rows);
        self
    }

    /// Deletes traces that started more than `max_age` ago.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.retention.max_age = Some(max_age);
        self
    }

    /// Applies `retention` (both limits at once).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Opens (creating and migrating) the file now rather than on the first batch, so that a
    /// bad path or a file from a newer llmtrace is reported at once.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub fn open(mut self) -> Result<Self, StoreError> {
        self.connection()?;
        Ok(self)
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn connection(&mut self) -> Result<&mut Connection, StoreError> {
        if self.connection.is_none() {
            let connection = open(&self.path)?;
            connection
                .execute_batch(WRITER_PRAGMAS)
                .map_err(self.sql())?;
            self.rows = connection
                .query_row("SELECT count(*) FROM traces", [], |row| row.get(0))
                .map_err(self.sql())?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("opened above"))
    }

    /// Inserts `batch` in one transaction, then applies retention; returns how many traces
    /// were new.
    ///
    /// # Errors
    /// When the file cannot be opened or written; nothing of the batch is kept then.
    pub fn insert<R: Borrow<TraceRecord>>(&mut self, batch: &[R]) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let retention = self.retention;
        // Opened (and its traces counted) before the count is read: the first batch of an
        // exporter opened by its worker must see the traces already in the file.
        self.connection()?;
        let mut rows = self.rows;
        let connection = self.connection()?;
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = connection.transaction().map_err(sql)?;
        let inserted = insert_all(&tx, batch).map_err(|e| e.at(&path))?;
        rows += inserted;
        let bound = 2 * batch.len() as u64 + 1000;
        let deleted = apply_retention(&tx, retention, rows, bound).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.rows = rows - deleted;
        Ok(inserted)
    }
}

/// Settings of the writer's connection, on top of those of every connection (see `open`).
///
/// - `cache_size` 16 MiB (the default is 2 MiB): the index pages an insert walks stay in
///   SQLite's own cache instead of being read back from the file on every batch. Not more:
///   each commit scans the whole cache's hash table (`pcache1TruncateUnsafe`, 8 % of a profiled
///   run's samples with 64 MiB and batches of 64), and the memory map serves the rest.
/// - `wal_autocheckpoint` 10,000 pages (40 MiB; the default is 1,000): pages that every batch
///   changes (index ends, full-text segments) are copied into the database once per
///   checkpoint, not once per few batches.
///
/// With both (and the memory map of every connection), a batch of 1,000 traces reads 3.3 KiB
/// and writes 10.0 KiB per trace instead of 19.3 and 15.0 (BENCHMARKS.md).
const WRITER_PRAGMAS: &str = "PRAGMA cache_size = -16384; PRAGMA wal_autocheckpoint = 10000;";

/// Opens and migrates the database at `path`, creating it and its directory if missing.
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // A failure shows up, named, when SQLite opens the file.
        let _ = std::fs::create_dir_all(parent);
    }
    let mut connection = Connection::open(path).map_err(|source| StoreError::Sql {
        path: path.to_owned(),
        source,
    })?;
    schema::prepare(&mut connection, path)?;
    Ok(connection)
}

/// An insert failure before the path is known.
enum InsertError {
    Sql(rusqlite::Error),
    Serialize(uuid::Uuid, serde_json::Error),
}

impl InsertError {
    fn at(self, path: &Path) -> StoreError {
        match self {
            InsertError::Sql(source) => StoreError::Sql {
                path: path.to_owned(),
                source,
            },
            InsertError::Serialize(trace_id, source) => StoreError::Serialize { trace_id, source },
        }
    }
}

impl From<rusqlite::Error> for InsertError {
    fn from(error: rusqlite::Error) -> Self {
        InsertError::Sql(error)
    }
}

fn insert_all<R: Borrow<TraceRecord>>(
    tx: &Transaction<'_>,
    batch: &[R],
) -> Result<u64, InsertError> {
    let mut trace = tx.prepare_cached(
        "INSERT OR IGNORE INTO traces (trace_id, ts, provider, model, session_id, step_type,
            attempt, error_kind, prompt_tokens, completion_tokens, total_tokens, cost,
            latency_ms, ttft_ms, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let mut metadata = tx.prepare_cached(
        "INSERT OR IGNORE INTO trace_metadata (trace, key, value) VALUES (?1, ?2, ?3)",
    )?;
    let mut text =
        tx.prepare_cached("INSERT INTO traces_text (rowid, prompt, answer) VALUES (?1, ?2, ?3)")?;
    let mut inserted = 0;
    let mut json = Vec::new();
    for record in batch {
        let record = record.borrow();
        json.clear();
        // The jsonl exporter's writer: serde_json's bytes, twice as fast on long strings.
        crate::report::write_jsonl_line(&mut json, record)
            .map_err(|e| InsertError::Serialize(record.trace_id, e))?;
        json.pop(); // the line's `\n`
        let json = std::str::from_utf8(&json).expect("JSON is UTF-8");
        let meta = &record.metadata;
        let usage = record.response.as_ref().and_then(|r| r.usage);
        let changed = trace.execute(params![
            record.trace_id.to_string(),
            record.timestamp.timestamp_micros(),
            record.provider,
            record.model,
            record.session_id(),
            meta.get("step_type").and_then(|v| v.as_str()),
            meta.get("attempt_number").and_then(|v| v.as_i64()),
            record.error.as_ref().map(|e| e.kind.as_str()),
            usage.map(|u| u.prompt_tokens.min(i64::MAX as u64) as i64),
            usage.map(|u| u.completion_tokens.min(i64::MAX as u64) as i64),
            usage.map(|u| u.total_tokens.min(i64::MAX as u64) as i64),
            cost(record),
            record.duration_ms(),
            record
                .response
                .as_ref()
                .and_then(|r| r.time_to_first_token_ms),
            json,
        ])?;
        if changed == 0 {
            continue; // already stored
        }
        let id = tx.last_insert_rowid();
        inserted += 1;
        for (key, value) in meta {
            if in_column(key, value) {
                continue;
            }
            if let Some(value) = scalar_text(value) {
                metadata.execute(params![id, key, value])?;
            }
        }
        let answer = record.response.as_ref().map_or("", |r| r.content.as_str());
        text.execute(params![id, searchable_prompt(record), answer])?;
    }
    Ok(inserted)
}

/// What full-text search sees of the input: system prompt, history and prompt.
fn searchable_prompt(record: &TraceRecord) -> String {
    let mut text = String::new();
    for part in record
        .system_prompt
        .iter()
        .map(String::as_str)
        .chain(record.messages.iter().map(|m| m.content.as_str()))
        .chain([record.prompt.as_str()])
    {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(part);
    }
    text
}

/// The cost of the call: the record's own `cost_usd` (priced by the trace layer), else what
/// a caller recorded in metadata (`cost_usd` or `cost`), as records made before pricing did.
pub(crate) fn cost(record: &TraceRecord) -> Option<f64> {
    record.cost_usd.or_else(|| {
        ["cost_usd", "cost"]
            .iter()
            .find_map(|key| record.metadata.get(*key)?.as_f64())
    })
}

/// Whether the entry `key: value` is exactly what its column holds, so that it needs no
/// metadata row: these were four of a typical trace's five rows (two index entries each),
/// and a `key=value` filter on them reads the column (see `store::meta_condition`).
/// A value of another type (a numeric `session_id`, a fractional `attempt_number`) keeps
/// its row, since the column does not hold it.
fn in_column(key: &str, value: &serde_json::Value) -> bool {
    match key {
        "session_id" | "step_type" => value.is_string(),
        "attempt_number" => value.as_i64().is_some(),
        _ => false,
    }
}

/// A metadata value as the text a `key=value` filter matches; `None` for arrays and objects.
pub(crate) fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Deletes the oldest traces beyond the limits, at most `bound` of them; returns how many.
fn apply_retention(
    tx: &Transaction<'_>,
    retention: Retention,
    rows: u64,
    bound: u64,
) -> rusqlite::Result<u64> {
    let mut deleted = 0;
    if let Some(max_age) = retention.max_age {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        deleted += tx.execute(
            "DELETE FROM traces WHERE id IN
                (SELECT id FROM traces WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
            params![cutoff.timestamp_micros(), bound as i64],
        )? as u64;
    }
    if let Some(max_rows) = retention.max_rows {
        let excess = (rows - deleted)
            .saturating_sub(max_rows)
            .min(bound - deleted.min(bound));
        if excess > 0 {
            deleted += tx.execute(
                "DELETE FROM traces WHERE id IN (SELECT id FROM traces ORDER BY ts, id LIMIT ?1)",
                [excess as i64],
            )? as u64;
        }
    }
    Ok(deleted)
}

#[async_trait]
impl Exporter for SqliteExporter {
    /// A local file keeps up with any realistic call rate: lose nothing.
    fn default_overflow(&self) -> Overflow {
        Overflow::Wait
    }

    async fn export(&mut self, batch: &[Arc<TraceRecord>]) -> Result<(), ExporterError> {
        // SQLite's "database is locked" (another writer holds it past the busy timeout) may
        // pass; anything else (a full disk, a file from a newer llmtrace) will not.
        self.insert(batch).map(drop).map_err(|error| {
            let busy = matches!(&error, StoreError::Sql { source, .. }
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy));
            let message = error.to_string();
            let error_out = if busy {
                ExporterError::retryable(message)
            } else {
                ExporterError::permanent(message)
            };
            error_out.with_source(error)
        })
    }
}
