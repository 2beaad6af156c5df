//! The speed of light of issue 18's insert budget (≥ 50,000 traces/s), ignored by default:
//! `cargo test --release --test ui perf_sqlite_ladder -- --ignored --nocapture`
//! (`LLMTRACE_PERF_ROWS` traces per rung, default 200,000).
//!
//! The same rusqlite build and writer settings as the exporter (WAL, `synchronous = NORMAL`,
//! 1 GiB memory map, 16 MiB cache, 10,000-page autocheckpoint), batches of 1,000 rows in one
//! transaction with cached statements, and the perf workload's records, serialized before the
//! clock starts, into a ladder of schemas that ends with the exporter's own: what each part of
//! the store costs, and what SQLite alone can do on this machine. Rungs use random (v4) trace
//! ids unless their name says v7.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use llmtrace::TraceRecord;
use llmtrace::exporter::SqliteExporter;
use rusqlite::{Connection, params};

use crate::perf::{env_count, io_bytes, thread_cpu};
use crate::workload::{self, generated, time_ordered};

/// The time `micros` microseconds after the Unix epoch.
fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap()
}

/// One trace as the exporter's statements bind it, built before the clock starts.
struct Row {
    trace_id: String,
    ts: i64,
    provider: String,
    model: String,
    session_id: Option<String>,
    step_type: Option<String>,
    attempt: Option<i64>,
    error_kind: Option<String>,
    tokens: Option<(i64, i64, i64)>,
    cost: Option<f64>,
    latency_ms: f64,
    ttft_ms: Option<f64>,
    record: String,
    /// The metadata entries that no column holds (`user`, `cost_usd` in this workload).
    metadata: Vec<(String, String)>,
    prompt: String,
    answer: String,
}

impl Row {
    fn of(record: &TraceRecord) -> Self {
        let meta = &record.metadata;
        let usage = record.response.as_ref().and_then(|r| r.usage);
        let mut prompt = String::new();
        for part in (record.system_prompt.iter())
            .chain(record.messages.iter().map(|m| &m.content))
            .chain([&record.prompt])
        {
            prompt.push_str(part);
            prompt.push('\n');
        }
        Self {
            trace_id: record.trace_id.to_string(),
            ts: record.timestamp.timestamp_micros(),
            provider: record.provider.clone(),
            model: record.model.clone(),
            session_id: record.session_id().map(str::to_owned),
            step_type: meta
                .get("step_type")
                .and_then(|v| Some(v.as_str()?.to_owned())),
            attempt: meta.get("attempt_number").and_then(|v| v.as_i64()),
            error_kind: record.error.as_ref().map(|e| e.kind.as_str().to_owned()),
            tokens: usage.map(|u| {
                let n = |t: u64| t as i64;
                (
                    n(u.prompt_tokens),
                    n(u.completion_tokens),
                    n(u.total_tokens),
                )
            }),
            cost: record.cost_usd.or_else(|| meta.get("cost_usd")?.as_f64()),
            latency_ms: record.duration_ms(),
            ttft_ms: (record.response.as_ref()).and_then(|r| r.time_to_first_token_ms),
            record: serde_json::to_string(record).unwrap(),
            metadata: (meta.iter())
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "session_id" | "step_type" | "attempt_number")
                })
                .map(|(k, v)| (k.clone(), v.to_string().trim_matches('"').to_owned()))
                .collect(),
            prompt,
            answer: (record.response.as_ref()).map_or(String::new(), |r| r.content.clone()),
        }
    }
}

/// A rung of the ladder: a schema (parts of the exporter's) and the statements it needs.
struct Rung<'a> {
    name: &'static str,
    pragmas: &'static str,
    schema: &'a [&'static str],
    /// Whether the rows are the extracted columns (else the record alone).
    columns: bool,
    metadata: bool,
    full_text: bool,
    /// Time-ordered trace ids (UUIDv7 of the trace's time, as the trace layer makes them)
    /// instead of random ones (v4, as in files other tools wrote).
    ordered_ids: bool,
}

impl<'a> Rung<'a> {
    /// A rung of the extracted columns and `schema` (parts of the exporter's, from `SCHEMA_COLUMNS`).
    const fn columns(name: &'static str, schema: &'a [&'static str]) -> Self {
        Self {
            name,
            pragmas: PRODUCT_PRAGMAS,
            schema,
            columns: true,
            metadata: false,
            full_text: false,
            ordered_ids: false,
        }
    }
}

const SCHEMA_RECORD: &str = "CREATE TABLE traces (id INTEGER PRIMARY KEY, record TEXT NOT NULL);";

/// The columns of schema 4's `traces` (src/exporter/sqlite/schema.rs), without `UNIQUE`.
const SCHEMA_COLUMNS: &str = "CREATE TABLE traces (
    id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, ts INTEGER NOT NULL,
    provider TEXT NOT NULL, model TEXT NOT NULL, session_id TEXT, step_type TEXT,
    attempt INTEGER, error_kind TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,
    total_tokens INTEGER, cost REAL, latency_ms REAL NOT NULL, ttft_ms REAL,
    record TEXT NOT NULL);";

const SCHEMA_UNIQUE_ID: &str = "CREATE UNIQUE INDEX traces_trace_id ON traces (trace_id);";

const SCHEMA_INDEXES: &str = "CREATE INDEX traces_ts ON traces (ts);
    CREATE INDEX traces_session ON traces (session_id, ts);
    CREATE INDEX traces_model ON traces (model, ts);
    CREATE INDEX traces_provider ON traces (provider, ts);
    CREATE INDEX traces_error_kind ON traces (error_kind, ts);";

const SCHEMA_METADATA: &str = "CREATE TABLE trace_metadata (
        trace INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (key, value, trace)) WITHOUT ROWID;
    CREATE INDEX trace_metadata_trace ON trace_metadata (trace);";

const SCHEMA_FULL_TEXT: &str = "CREATE VIRTUAL TABLE traces_text USING fts5 (
    prompt, answer, content = '', contentless_delete = 1);";

/// The settings of the exporter's writer (`schema::prepare` and `WRITER_PRAGMAS`).
const PRODUCT_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
    PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384;
    PRAGMA wal_autocheckpoint = 10000;";

/// No journal, no sync: not a product setting, the floor of the engine itself.
const FLOOR_PRAGMAS: &str = "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
    PRAGMA mmap_size = 1073741824; PRAGMA cache_size = -16384;";

/// Inserts `rows` in one transaction, as `insert_all` does for `rung`'s schema.
fn insert(connection: &mut Connection, rung: &Rung<'_>, rows: &[Row]) {
    let tx = connection.transaction().unwrap();
    {
        if !rung.columns {
            let mut insert = tx
                .prepare_cached("INSERT INTO traces (record) VALUES (?1)")
                .unwrap();
            for row in rows {
                insert.execute([&row.record]).unwrap();
            }
        } else {
            let or_ignore = if rung.schema.contains(&SCHEMA_UNIQUE_ID) {
                "OR IGNORE"
            } else {
                ""
            };
            let mut trace = tx
                .prepare_cached(&format!(
                    "INSERT {or_ignore} INTO traces (trace_id, ts, provider, model, session_id,
                        step_type, attempt, error_kind, prompt_tokens, completion_tokens,
                        total_tokens, cost, latency_ms, ttft_ms, record)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ))
                .unwrap();
            let mut metadata = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO trace_metadata (trace, key, value) VALUES (?1, ?2, ?3)",
                )
                .ok()
                .filter(|_| rung.metadata);
            let mut text = tx
                .prepare_cached(
                    "INSERT INTO traces_text (rowid, prompt, answer) VALUES (?1, ?2, ?3)",
                )
                .ok()
                .filter(|_| rung.full_text);
            for row in rows {
                let tokens = row.tokens.unzip3();
                trace
                    .execute(params![
                        row.trace_id,
                        row.ts,
                        row.provider,
                        row.model,
                        row.session_id,
                        row.step_type,
                        row.attempt,
                        row.error_kind,
                        tokens.0,
                        tokens.1,
                        tokens.2,
                        row.cost,
                        row.latency_ms,
                        row.ttft_ms,
                        row.record,
                    ])
                    .unwrap();
                let id = tx.last_insert_rowid();
                if let Some(metadata) = metadata.as_mut() {
                    for (key, value) in &row.metadata {
                        metadata.execute(params![id, key, value]).unwrap();
                    }
                }
                if let Some(text) = text.as_mut() {
                    text.execute(params![id, row.prompt, row.answer]).unwrap();
                }
            }
        }
    }
    tx.commit().unwrap();
}

/// `Option<(a, b, c)>` as three options, for binding.
trait Unzip3 {
    fn unzip3(self) -> (Option<i64>, Option<i64>, Option<i64>);
}

impl Unzip3 for Option<(i64, i64, i64)> {
    fn unzip3(self) -> (Option<i64>, Option<i64>, Option<i64>) {
        self.map_or((None, None, None), |(a, b, c)| (Some(a), Some(b), Some(c)))
    }
}

/// How one rung went: time and CPU time of the inserts only, bytes written, file size.
struct Figures {
    elapsed: Duration,
    cpu: Duration,
    written: u64,
    /// The database and its WAL.
    file: u64,
}

impl Figures {
    fn print(&self, name: &str, traces: usize) {
        let per_s = |d: Duration| traces as f64 / d.as_secs_f64();
        println!(
            "{name:<44} {:>8.0} traces/s {:>8.0} traces/CPU-s {:>5.1} KiB written/trace {:>5.0} MiB",
            per_s(self.elapsed),
            per_s(self.cpu),
            self.written as f64 / 1024.0 / traces as f64,
            self.file as f64 / 1048576.0
        );
    }
}

/// Times `insert` of each batch of 1,000 of `traces`, the batch built by `build` beforehand.
fn timed<B>(
    traces: usize,
    path: &std::path::Path,
    build: impl Fn(std::ops::Range<usize>) -> B,
    mut insert: impl FnMut(&B),
) -> Figures {
    let (mut elapsed, mut cpu, mut written) = (Duration::ZERO, Duration::ZERO, 0);
    let mut i = 0;
    while i < traces {
        let batch = build(i..(i + 1000).min(traces));
        let (began, began_cpu, began_io) = (Instant::now(), thread_cpu(), io_bytes());
        insert(&batch);
        elapsed += began.elapsed();
        cpu += thread_cpu() - began_cpu;
        written += io_bytes().1 - began_io.1;
        i += 1000;
    }
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let file = size(path) + size(&path.with_extension("db-wal"));
    Figures {
        elapsed,
        cpu,
        written,
        file,
    }
}

#[test]
#[ignore = "timing figures: run in release (see BENCHMARKS.md)"]
fn perf_sqlite_ladder() {
    let traces = env_count("LLMTRACE_PERF_ROWS", 200_000);
    let start = workload::start();
    let rows = |range: std::ops::Range<usize>| -> Vec<Row> {
        range.map(|i| Row::of(&generated(i, start))).collect()
    };
    println!(
        "{traces} traces per rung, batches of 1,000, record {} bytes of JSON",
        rows(0..1)[0].record.len()
    );
    let all = [
        SCHEMA_COLUMNS,
        SCHEMA_UNIQUE_ID,
        SCHEMA_INDEXES,
        SCHEMA_METADATA,
        SCHEMA_FULL_TEXT,
    ];
    let c2 = [all[0], all[2]];
    let record_only = Rung {
        columns: false,
        ..Rung::columns("(a) record only", &[SCHEMA_RECORD])
    };
    let rungs = [
        Rung {
            name: "(a) record only, journal and sync off",
            pragmas: FLOOR_PRAGMAS,
            ..record_only
        },
        record_only,
        Rung::columns("(b) + columns", &all[..1]),
        Rung::columns("(c1) + unique trace_id only (random v4 ids)", &all[..2]),
        Rung::columns("(c2) + 5 other indexes only", &c2),
        Rung::columns("(c) + 6 indexes", &all[..3]),
        Rung {
            metadata: true,
            ..Rung::columns("(d) + metadata rows", &all[..4])
        },
        Rung {
            metadata: true,
            full_text: true,
            ..Rung::columns("(e) + contentless FTS5", &all)
        },
        Rung {
            ordered_ids: true,
            ..Rung::columns("(c1) with time-ordered trace ids (v7)", &all[..2])
        },
        Rung {
            metadata: true,
            full_text: true,
            ordered_ids: true,
            ..Rung::columns("(e) with time-ordered trace ids (v7)", &all)
        },
    ];
    for rung in rungs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ladder.db");
        let mut connection = Connection::open(&path).unwrap();
        connection.execute_batch(rung.pragmas).unwrap();
        connection.execute_batch(&rung.schema.concat()).unwrap();
        let build = |range| {
            let mut rows = rows(range);
            for row in &mut rows {
                let random = uuid::Uuid::new_v4();
                row.trace_id = match rung.ordered_ids {
                    true => time_ordered(time(row.ts), random).to_string(),
                    false => random.to_string(),
                };
            }
            rows
        };
        let figures = timed(traces, &path, build, |batch| {
            insert(&mut connection, &rung, batch)
        });
        figures.print(rung.name, traces);
    }
    // The exporter itself: (e) plus serializing each record and reading its fields.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.db");
    let mut exporter = SqliteExporter::new(&path).open().unwrap();
    let records = |range: std::ops::Range<usize>| -> Vec<TraceRecord> {
        range.map(|i| generated(i, start)).collect()
    };
    let figures = timed(traces, &path, records, |batch| {
        exporter.insert(batch).unwrap();
    });
    figures.print("(f) SqliteExporter::insert", traces);
}
