//! The database layout and its forward migrations.
//!
//! `schema_version` holds one row: the version the file is at. Opening a file applies, in one
//! transaction each, the migrations it has not had yet; a file written by a newer llmtrace (a
//! version this build does not know) is refused rather than misread.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// Migration `n` (from 1) brings a file from version `n - 1` to `n`. Append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: traces with the columns the viewer filters and sorts on, the record whole as JSON,
    // metadata entries for `key=value` filters, and a full-text index of prompts and answers.
    r#"
    CREATE TABLE traces (
        id INTEGER PRIMARY KEY,
        trace_id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,             -- start time, microseconds since the Unix epoch (UTC)
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        session_id TEXT,
        step_type TEXT,
        attempt INTEGER,
        error_kind TEXT,                 -- NULL when the call succeeded
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        total_tokens INTEGER,
        cost REAL,
        latency_ms REAL NOT NULL,
        ttft_ms REAL,
        record TEXT NOT NULL             -- the TraceRecord, as JSON
    );
    CREATE INDEX traces_ts ON traces (ts);
    CREATE INDEX traces_session ON traces (session_id, ts);
    CREATE INDEX traces_model ON traces (model, ts);
    CREATE INDEX traces_provider ON traces (provider, ts);
    CREATE INDEX traces_error_kind ON traces (error_kind, ts);
    CREATE TABLE trace_metadata (
        trace INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (key, value, trace)
    ) WITHOUT ROWID;
    CREATE INDEX trace_metadata_trace ON trace_metadata (trace);
    CREATE VIRTUAL TABLE traces_fts USING fts5 (prompt, answer);
    CREATE TRIGGER traces_delete AFTER DELETE ON traces BEGIN
        DELETE FROM trace_metadata WHERE trace = old.id;
        DELETE FROM traces_fts WHERE rowid = old.id;
    END;
    "#,
    // 2: scores set after the fact, beside the (immutable) records; one per trace and name.
    // Keyed by trace_id so a score reads without the row id; deleted with its trace.
    r#"
    CREATE TABLE trace_scores (
        trace_id TEXT NOT NULL,
        name TEXT NOT NULL,
        number REAL,                     -- a numeric score, or NULL for a label
        label TEXT,                      -- a label score, or NULL for a number
        comment TEXT,
        source TEXT,                     -- who or what set it
        ts INTEGER NOT NULL,             -- when, microseconds since the Unix epoch (UTC)
        PRIMARY KEY (trace_id, name)
    ) WITHOUT ROWID;
    CREATE INDEX trace_scores_name ON trace_scores (name, number);
    CREATE TRIGGER traces_delete_scores AFTER DELETE ON traces BEGIN
        DELETE FROM trace_scores WHERE trace_id = old.trace_id;
    END;
    "#,
    // 3: metadata entries that a column holds exactly (a string `session_id` or `step_type`,
    // an integer `attempt_number`) are no longer written as metadata rows, and filters read
    // the column. No table changes; the version keeps an older llmtrace, which reads only the
    // rows, from missing those traces.
    "",
    // 4: the full-text index keeps no copy of the text it indexes (nothing reads it back: the
    // record holds it): a third fewer bytes per trace and faster inserts. `contentless_delete`
    // keeps rows deletable by row id, so retention's trigger stays as it was. The index is
    // rebuilt from the copy the old table kept.
    r#"
    DROP TRIGGER traces_delete;
    CREATE VIRTUAL TABLE traces_text USING fts5 (
        prompt, answer, content = '', contentless_delete = 1
    );
    INSERT INTO traces_text (rowid, prompt, answer) SELECT rowid, prompt, answer FROM traces_fts;
    DROP TABLE traces_fts;
    CREATE TRIGGER traces_delete AFTER DELETE ON traces BEGIN
        DELETE FROM trace_metadata WHERE trace = old.id;
        DELETE FROM traces_text WHERE rowid = old.id;
    END;
    "#,
];

/// The version this build writes.
pub(crate) const VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets the connection up (WAL, a busy timeout) and migrates the file to [`VERSION`].
pub(crate) fn prepare(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql = |source| StoreError::Sql {
        path: path.to_owned(),
        source,
    };
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    // WAL: the viewer reads while a service writes. NORMAL sync is durable across process
    // crashes (not power loss) and keeps batched inserts fast. Pages are read through a
    // memory map (up to 1 GiB of the file) rather than copied by a system call each.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 1073741824;",
        )
        .map_err(sql)?;
    let tx = connection.transaction().map_err(sql)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        .map_err(sql)?;
    let found: Option<i64> = tx
        .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
        .optional()
        .map_err(sql)?;
    let found = found.unwrap_or(0);
    if found > VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: VERSION,
        });
    }
    for migration in &MIGRATIONS[found as usize..] {
        tx.execute_batch(migration).map_err(sql)?;
    }
    if found != VERSION {
        tx.execute("DELETE FROM schema_version", []).map_err(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [VERSION],
        )
        .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}
