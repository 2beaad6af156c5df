//! Reading the store back: filtered pages of traces, one trace, a session, a summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::score::{self, ScoreValue};
use super::{SqliteConfig, StoreError};
use crate::TraceRecord;

/// The most traces one page holds.
pub(crate) const MAX_PAGE: usize = 500;
/// Traces per page when the filter does not say.
pub(crate) const DEFAULT_PAGE: usize = 50;

/// Which traces to list. Every field is optional; an empty string counts as absent (an empty
/// form field). Deserializes from a URL query string (`?session=s-1&outcome=error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TraceFilter {
    /// `session_id` metadata.
    pub session: Option<String>,
    /// Configured model.
    pub model: Option<String>,
    /// Provider name.
    pub provider: Option<String>,
    /// `ok`, `error` (any failure), or an error kind (`timeout`, `rate_limited`, ...).
    pub outcome: Option<String>,
    /// A metadata entry, `key=value` (`user=ann`, `attempt_number=2`).
    pub meta: Option<String>,
    /// Started at or after: RFC 3339 or a date (`2025-11-08`, midnight UTC).
    pub from: Option<String>,
    /// Started before: RFC 3339 or a date (that date's midnight UTC).
    pub to: Option<String>,
    /// The prompt's name, from the `prompt_name` metadata entry.
    pub prompt_name: Option<String>,
    /// The prompt's version, from the `prompt_version` metadata entry.
    pub prompt_version: Option<String>,
    /// A score condition: `helpfulness<0.5` (also `<=`, `>`, `>=`, `=`, `!=`) or
    /// `correct=yes` (a label).
    pub score: Option<String>,
    /// Words that must all occur in the prompt (with system prompt and history) or the answer;
    /// a word `score:NAME<0.5` is a score condition instead.
    pub q: Option<String>,
    /// Traces per page (default 50, at most 500).
    pub limit: Option<usize>,
    /// Where the page starts: the `next` of the previous page.
    pub cursor: Option<String>,
}

/// One trace, as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRow {
    /// The trace id.
    pub trace_id: String,
    /// Start time, RFC 3339 UTC.
    pub timestamp: String,
    /// Provider name.
    pub provider: String,
    /// Configured model.
    pub model: String,
    /// Session, if any.
    pub session_id: Option<String>,
    /// Workflow step type, if any.
    pub step_type: Option<String>,
    /// Attempt number, if any.
    pub attempt: Option<i64>,
    /// `ok`, or the error kind.
    pub outcome: String,
    /// Input tokens, when reported.
    pub prompt_tokens: Option<i64>,
    /// Output tokens, when reported.
    pub completion_tokens: Option<i64>,
    /// Total tokens, when reported.
    pub total_tokens: Option<i64>,
    /// Cost in dollars: the record's `cost_usd`, else a `cost_usd` or `cost` metadata entry.
    pub cost: Option<f64>,
    /// Duration of the call.
    pub latency_ms: f64,
    /// Time to the first streamed chunk.
    pub ttft_ms: Option<f64>,
    /// Scores set on the trace, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scores: BTreeMap<String, ScoreValue>,
}

/// A page of traces, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The traces.
    pub traces: Vec<TraceRow>,
    /// The cursor of the next (older) page; `None` on the last page.
    pub next: Option<String>,
}

/// A session's traces, in the order they started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// The session id.
    pub session_id: String,
    /// Its steps, oldest first.
    pub traces: Vec<TraceRow>,
}

/// Figures over the traces a filter selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Tokens, all calls.
    pub total_tokens: i64,
    /// Summed cost of the calls that have one.
    pub cost: Option<f64>,
    /// Mean duration.
    pub latency_avg_ms: Option<f64>,
    /// Median duration.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile duration.
    pub latency_p95_ms: Option<f64>,
    /// First start time.
    pub first: Option<String>,
    /// Last start time.
    pub last: Option<String>,
    /// Per provider and model, most calls first.
    pub by_model: Vec<SummaryGroup>,
    /// Per prompt name and version (traces with a `prompt_name` metadata entry), to compare
    /// versions.
    pub by_prompt: Vec<PromptGroup>,
    /// Calls per latency range: `(upper bound in ms, calls)`, the last bound `null` (open).
    pub latency_histogram: Vec<(Option<f64>, u64)>,
    /// Calls and tokens over time, oldest first, in equal buckets of `bucket_seconds`.
    pub over_time: Vec<SummaryBucket>,
    /// Width of the `over_time` buckets.
    pub bucket_seconds: i64,
}

/// Figures of one provider and model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryGroup {
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Tokens.
    pub total_tokens: i64,
    /// Mean duration.
    pub latency_avg_ms: f64,
}

/// Figures of one prompt version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptGroup {
    /// `prompt_name` metadata.
    pub name: String,
    /// `prompt_version` metadata, if any.
    pub version: Option<String>,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Tokens.
    pub total_tokens: i64,
    /// Mean duration.
    pub latency_avg_ms: f64,
    /// Summed cost of the calls that have one.
    pub cost: Option<f64>,
    /// Mean of each numeric score, by score name.
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
}

/// Calls in one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryBucket {
    /// Bucket start, RFC 3339 UTC.
    pub start: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Tokens.
    pub total_tokens: i64,
}

/// The metadata keys naming a prompt and its version, for the `prompt_name` and
/// `prompt_version` filters and the summary's comparison of versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptKeys {
    /// The key of the prompt's name (default `prompt_name`).
    pub name: String,
    /// The key of the prompt's version (default `prompt_version`).
    pub version: String,
}

impl Default for PromptKeys {
    fn default() -> Self {
        Self {
            name: "prompt_name".to_owned(),
            version: "prompt_version".to_owned(),
        }
    }
}

/// Upper bounds of the latency histogram, in milliseconds.
const LATENCY_BOUNDS: [f64; 9] = [
    50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];

/// Reads a trace database (written by [`SqliteExporter`](super::SqliteExporter)).
///
/// Cheap to clone; connections are pooled. Every method blocks on SQLite: call it from a
/// blocking context (`tokio::task::spawn_blocking`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: Arc<Path>,
    pool: Arc<Mutex<Vec<Connection>>>,
    prompt_keys: Arc<PromptKeys>,
}

const COLUMNS: &str = "id, trace_id, ts, provider, model, session_id, step_type, attempt, \
    error_kind, prompt_tokens, completion_tokens, total_tokens, cost, latency_ms, ttft_ms";

impl SqliteStore {
    /// Opens an existing database (migrating it to this version's schema).
    ///
    /// # Errors
    /// When the file does not exist, is not a trace database, or is from a newer llmtrace.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let connection = super::open(path)?;
        Ok(Self {
            path: Arc::from(path),
            pool: Arc::new(Mutex::new(vec![connection])),
            prompt_keys: Arc::default(),
        })
    }

    /// The store of the first `sqlite` exporter of `config` (by exporter name), with its
    /// prompt keys; `None` when it has none. This is how a program whose client was built
    /// from a config file scores its traces:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use llmtrace::config::Config;
    /// use llmtrace::exporter::{Score, SqliteStore};
    ///
    /// let config = Config::load(Some("llmtrace.toml".as_ref()))?;
    /// let store = SqliteStore::from_config(&config)?.expect("a sqlite exporter");
    /// store.score("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", &Score::number("helpfulness", 0.9))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`open`](Self::open) (build the client first: it creates the file).
    pub fn from_config(config: &crate::config::Config) -> Result<Option<Self>, StoreError> {
        let found =
            (config.exporters.values()).find_map(|exporter| exporter.options::<SqliteConfig>());
        let Some(sqlite) = found else {
            return Ok(None);
        };
        let defaults = PromptKeys::default();
        let keys = PromptKeys {
            name: sqlite.prompt_name_key.clone().unwrap_or(defaults.name),
            version: sqlite
                .prompt_version_key
                .clone()
                .unwrap_or(defaults.version),
        };
        let path = &sqlite.path;
        Ok(Some(Self::open(path)?.with_prompt_keys(keys)))
    }

    /// Reads a prompt's name and version from these metadata keys instead of `prompt_name`
    /// and `prompt_version`.
    pub fn with_prompt_keys(mut self, keys: PromptKeys) -> Self {
        self.prompt_keys = Arc::new(keys);
        self
    }

    /// The metadata keys naming a prompt and its version.
    pub fn prompt_keys(&self) -> &PromptKeys {
        &self.prompt_keys
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: PathBuf::from(&*self.path),
            source,
        }
    }

    /// Runs `f` on a pooled connection.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let pooled = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => super::open(&self.path)?,
        };
        let result = f(&connection).map_err(|e| self.sql(e));
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connection);
        result
    }

    /// How many traces the file holds.
    ///
    /// # Errors
    /// When SQLite fails.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.with(|c| c.query_row("SELECT count(*) FROM traces", [], |row| row.get(0)))
    }

    /// A page of the traces `filter` selects, newest first.
    ///
    /// # Errors
    /// [`StoreError::BadFilter`] for a value that cannot be read (a bad date, cursor or
    /// `meta`); SQLite failures.
    pub fn traces(&self, filter: &TraceFilter) -> Result<Page, StoreError> {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let mut conditions = Conditions::from_filter(filter, &self.prompt_keys)?;
        if let Some(cursor) = present(&filter.cursor) {
            let bad = || bad_filter("cursor", cursor, "not a cursor this store returned");
            let (ts, id) = cursor.split_once('_').ok_or_else(bad)?;
            let ts: i64 = ts.parse().map_err(|_| bad())?;
            let id: i64 = id.parse().map_err(|_| bad())?;
            conditions.push("(ts, id) < (?, ?)", [Value::from(ts), Value::from(id)]);
        }
        let mut rows: Vec<(i64, i64, TraceRow)> = self.with(|c| {
            let mut clause = conditions.where_clause();
            if let Some(text) = conditions.text.take() {
                if is_common(c, &text)? {
                    let ids = common_matches(c, &conditions, &text, limit + 1)?;
                    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                    // Row ids from the store itself: numbers, safe to write into the query.
                    clause = format!("WHERE id IN ({})", ids.join(", "));
                    conditions.params.clear();
                } else {
                    conditions.push_text(text);
                    clause = conditions.where_clause();
                }
            }
            let sql = format!(
                "SELECT {COLUMNS} FROM traces {clause} ORDER BY ts DESC, id DESC LIMIT {}",
                limit + 1
            );
            let mut statement = c.prepare(&sql)?;
            let rows =
                statement.query_map(rusqlite::params_from_iter(&conditions.params), read_row)?;
            let mut rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            add_scores(c, rows.iter_mut().map(|(_, _, row)| row))?;
            Ok(rows)
        })?;
        let next = (rows.len() > limit).then(|| {
            rows.truncate(limit);
            let (id, ts, _) = &rows[limit - 1];
            format!("{ts}_{id}")
        });
        Ok(Page {
            traces: rows.into_iter().map(|(_, _, row)| row).collect(),
            next,
        })
    }

    /// The whole record of trace `trace_id`, if stored.
    ///
    /// # Errors
    /// When SQLite fails or the stored JSON is not a record.
    pub fn trace(&self, trace_id: &str) -> Result<Option<TraceRecord>, StoreError> {
        let json: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT record FROM traces WHERE trace_id = ?1",
                [trace_id],
                |row| row.get(0),
            )
            .optional()
        })?;
        json.map(|json| {
            serde_json::from_str(&json).map_err(|source| StoreError::Serialize {
                trace_id: trace_id.parse().unwrap_or_default(),
                source,
            })
        })
        .transpose()
    }

    /// The traces of session `session_id`, oldest first (`None` when it has none).
    ///
    /// # Errors
    /// When SQLite fails.
    pub fn session(&self, session_id: &str) -> Result<Option<SessionView>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM traces WHERE session_id = ?1 ORDER BY ts, id");
        let traces: Vec<TraceRow> = self.with(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map([session_id], |row| read_row(row).map(|r| r.2))?;
            let mut rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            add_scores(c, rows.iter_mut())?;
            Ok(rows)
        })?;
        Ok((!traces.is_empty()).then(|| SessionView {
            session_id: session_id.to_owned(),
            traces,
        }))
    }

    /// Figures over the traces `filter` selects (its `limit` and `cursor` are ignored).
    ///
    /// # Errors
    /// As [`traces`](Self::traces).
    pub fn summary(&self, filter: &TraceFilter) -> Result<Summary, StoreError> {
        let mut conditions = Conditions::from_filter(filter, &self.prompt_keys)?;
        if let Some(text) = conditions.text.take() {
            // Every match counts: read them all.
            conditions.push_text(text);
        }
        let clause = conditions.where_clause();
        let params = || rusqlite::params_from_iter(&conditions.params);
        // The prompt queries bind the two keys before the filter's parameters.
        let keys = &*self.prompt_keys;
        let prompt_params: Vec<Value> = [keys.name.clone(), keys.version.clone()]
            .into_iter()
            .map(Value::from)
            .chain(conditions.params.iter().cloned())
            .collect();
        let prompt_params = || rusqlite::params_from_iter(&prompt_params);
        self.with(|c| {
            let (calls, errors, total_tokens, cost, latency_avg_ms, first, last): Totals = c.query_row(
                &format!(
                    "SELECT count(*), sum(error_kind IS NOT NULL), sum(total_tokens), sum(cost),
                        avg(latency_ms), min(ts), max(ts) FROM traces {clause}"
                ),
                params(),
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )?;
            let percentile = |p: f64| -> rusqlite::Result<Option<f64>> {
                if calls == 0 {
                    return Ok(None);
                }
                let offset = ((calls - 1) as f64 * p).round() as i64;
                c.query_row(
                    &format!(
                        "SELECT latency_ms FROM traces {clause} ORDER BY latency_ms LIMIT 1 OFFSET {offset}"
                    ),
                    params(),
                    |r| r.get(0),
                )
                .optional()
            };
            let latency_p50_ms = percentile(0.5)?;
            let latency_p95_ms = percentile(0.95)?;
            let mut statement = c.prepare(&format!(
                "SELECT provider, model, count(*), sum(error_kind IS NOT NULL),
                    coalesce(sum(total_tokens), 0), avg(latency_ms)
                 FROM traces {clause} GROUP BY provider, model ORDER BY count(*) DESC, model"
            ))?;
            let by_model = statement
                .query_map(params(), |r| {
                    Ok(SummaryGroup {
                        provider: r.get(0)?,
                        model: r.get(1)?,
                        calls: r.get(2)?,
                        errors: r.get(3)?,
                        total_tokens: r.get(4)?,
                        latency_avg_ms: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut statement = c.prepare(&format!(
                "SELECT n.value, v.value, count(*), sum(error_kind IS NOT NULL),
                    coalesce(sum(total_tokens), 0), avg(latency_ms), sum(cost)
                 FROM traces
                 JOIN trace_metadata n ON n.trace = traces.id AND n.key = ?
                 LEFT JOIN trace_metadata v ON v.trace = traces.id AND v.key = ?
                 {clause} GROUP BY n.value, v.value ORDER BY n.value, v.value"
            ))?;
            let mut by_prompt: Vec<PromptGroup> = statement
                .query_map(prompt_params(), |r| {
                    Ok(PromptGroup {
                        name: r.get(0)?,
                        version: r.get(1)?,
                        calls: r.get(2)?,
                        errors: r.get(3)?,
                        total_tokens: r.get(4)?,
                        latency_avg_ms: r.get(5)?,
                        cost: r.get(6)?,
                        scores: BTreeMap::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut statement = c.prepare(&format!(
                "SELECT n.value, v.value, s.name, avg(s.number)
                 FROM traces
                 JOIN trace_metadata n ON n.trace = traces.id AND n.key = ?
                 LEFT JOIN trace_metadata v ON v.trace = traces.id AND v.key = ?
                 JOIN trace_scores s ON s.trace_id = traces.trace_id AND s.number IS NOT NULL
                 {clause} GROUP BY n.value, v.value, s.name"
            ))?;
            let averages = statement.query_map(prompt_params(), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get(2)?, r.get(3)?))
            })?;
            for average in averages {
                let (name, version, score, mean) = average?;
                if let Some(group) = by_prompt
                    .iter_mut()
                    .find(|g| g.name == name && g.version == version)
                {
                    group.scores.insert(score, mean);
                }
            }
            let buckets = LATENCY_BOUNDS
                .iter()
                .map(|b| format!("sum(latency_ms < {b:.1})"))
                .collect::<Vec<_>>()
                .join(", ");
            let cumulative: Vec<Option<u64>> = c.query_row(
                &format!("SELECT {buckets} FROM traces {clause}"),
                params(),
                |r| (0..LATENCY_BOUNDS.len()).map(|i| r.get(i)).collect(),
            )?;
            let mut latency_histogram = Vec::new();
            let mut below = 0;
            for (bound, cumulative) in LATENCY_BOUNDS.iter().zip(&cumulative) {
                let cumulative = cumulative.unwrap_or(0);
                latency_histogram.push((Some(*bound), cumulative - below));
                below = cumulative;
            }
            latency_histogram.push((None, calls - below));
            let span = last.unwrap_or(0) - first.unwrap_or(0);
            let bucket_seconds = bucket_seconds(span / 1_000_000);
            let width = bucket_seconds * 1_000_000;
            let mut statement = c.prepare(&format!(
                "SELECT ts / {width} * {width} AS bucket, count(*), sum(error_kind IS NOT NULL),
                    coalesce(sum(total_tokens), 0)
                 FROM traces {clause} GROUP BY bucket ORDER BY bucket"
            ))?;
            let over_time = statement
                .query_map(params(), |r| {
                    Ok(SummaryBucket {
                        start: rfc3339(r.get(0)?),
                        calls: r.get(1)?,
                        errors: r.get(2)?,
                        total_tokens: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Summary {
                calls,
                errors: errors.unwrap_or(0),
                total_tokens: total_tokens.unwrap_or(0),
                cost,
                latency_avg_ms,
                latency_p50_ms,
                latency_p95_ms,
                first: first.map(rfc3339),
                last: last.map(rfc3339),
                by_model,
                by_prompt,
                latency_histogram,
                over_time,
                bucket_seconds,
            })
        })
    }
}

/// Calls, errors, tokens, cost, mean latency, first and last start time.
type Totals = (
    u64,
    Option<u64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
);

/// A bucket width giving at most about 60 buckets over `span` seconds.
fn bucket_seconds(span: i64) -> i64 {
    const WIDTHS: [i64; 9] = [
        1,
        60,
        300,
        900,
        3600,
        6 * 3600,
        86400,
        7 * 86400,
        30 * 86400,
    ];
    WIDTHS
        .iter()
        .copied()
        .find(|w| span / w < 60)
        .unwrap_or(365 * 86400)
}

fn rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, false)
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn bad_filter(key: &str, value: &str, reason: &str) -> StoreError {
    StoreError::BadFilter {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A `WHERE` clause and its parameters.
#[derive(Default)]
struct Conditions {
    clauses: Vec<&'static str>,
    params: Vec<Value>,
    /// A full-text query, not yet a clause: how to apply it depends on how common it is.
    text: Option<String>,
}

/// Metadata keys a column holds (see `in_column` in the exporter), each with the condition
/// that reads the column or, for rows written before schema 3 or of another type, the
/// metadata row.
const COLUMN_KEYS: [(&str, &str); 3] = [
    (
        "session_id",
        "(session_id = ? OR id IN (SELECT trace FROM trace_metadata WHERE key = ? AND value = ?))",
    ),
    (
        "step_type",
        "(step_type = ? OR id IN (SELECT trace FROM trace_metadata WHERE key = ? AND value = ?))",
    ),
    (
        "attempt_number",
        "(attempt = ? OR id IN (SELECT trace FROM trace_metadata WHERE key = ? AND value = ?))",
    ),
];

/// Matches beyond which a full-text query counts as common (see [`common_matches`]).
const COMMON_MATCHES: i64 = 5_000;

/// Whether full-text query `text` matches at least [`COMMON_MATCHES`] traces (reading no
/// more than that many matches).
fn is_common(c: &Connection, text: &str) -> rusqlite::Result<bool> {
    let found: i64 = c
        .prepare_cached(
            "SELECT count(*) FROM
                (SELECT 1 FROM traces_text WHERE traces_text MATCH ?1 LIMIT ?2)",
        )?
        .query_row(rusqlite::params![text, COMMON_MATCHES], |r| r.get(0))?;
    Ok(found >= COMMON_MATCHES)
}

/// The first `wanted` traces, newest first, that match `conditions` and the common full-text
/// query `text`.
///
/// Reading every match of a common word first (most of a million traces) took seconds, and
/// checking the words trace by trace costs a full-text query each. Instead the time-ordered
/// walk is read in chunks (growing from 256), and one full-text query per chunk returns the
/// matches within the chunk's row-id range: the page is usually full after the first chunk.
fn common_matches(
    c: &Connection,
    conditions: &Conditions,
    text: &str,
    wanted: usize,
) -> rusqlite::Result<Vec<i64>> {
    let mut matches = c.prepare_cached(
        "SELECT rowid FROM traces_text WHERE traces_text MATCH ?1 AND rowid BETWEEN ?2 AND ?3",
    )?;
    let mut found = Vec::new();
    let mut after: Option<(i64, i64)> = None;
    let mut chunk = 256;
    loop {
        let mut clauses = conditions.clauses.clone();
        let mut params = conditions.params.clone();
        if let Some((ts, id)) = after {
            clauses.push("(ts, id) < (?, ?)");
            params.extend([Value::from(ts), Value::from(id)]);
        }
        let clause = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let candidates: Vec<(i64, i64)> = c
            .prepare(&format!(
                "SELECT id, ts FROM traces {clause} ORDER BY ts DESC, id DESC LIMIT {chunk}"
            ))?
            .query_map(rusqlite::params_from_iter(&params), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last_id, last_ts)) = candidates.last() else {
            break;
        };
        let low = candidates
            .iter()
            .map(|(id, _)| *id)
            .min()
            .unwrap_or(last_id);
        let high = candidates
            .iter()
            .map(|(id, _)| *id)
            .max()
            .unwrap_or(last_id);
        let matched: std::collections::HashSet<i64> = matches
            .query_map(rusqlite::params![text, low, high], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, _) in &candidates {
            if matched.contains(id) {
                found.push(*id);
                if found.len() == wanted {
                    return Ok(found);
                }
            }
        }
        if candidates.len() < chunk {
            break;
        }
        after = Some((last_ts, last_id));
        chunk = (chunk * 2).min(65_536);
    }
    Ok(found)
}

impl Conditions {
    /// Applies full-text query `text` by reading its matching ids first: right for a rare
    /// query and for summaries; pages of a common one use [`common_matches`].
    fn push_text(&mut self, text: String) {
        self.push(
            "id IN (SELECT rowid FROM traces_text WHERE traces_text MATCH ?)",
            [Value::from(text)],
        );
    }

    /// Traces whose metadata entry `key` reads `value`. Entries a column holds have no
    /// metadata row since schema 3 (older rows have both), so for those keys the column
    /// is read too; its value must print as `value` exactly, as the row's text would.
    fn meta(&mut self, key: &str, value: &str) {
        let pair = [Value::from(key.to_owned()), Value::from(value.to_owned())];
        let Some((_, clause)) = COLUMN_KEYS.iter().find(|(k, _)| *k == key) else {
            return self.push(
                "id IN (SELECT trace FROM trace_metadata WHERE key = ? AND value = ?)",
                pair,
            );
        };
        let typed = if key == "attempt_number" {
            (value.parse::<i64>().ok())
                .filter(|n| n.to_string() == value)
                .map_or(Value::Null, Value::from)
        } else {
            Value::from(value.to_owned())
        };
        self.push(clause, std::iter::once(typed).chain(pair));
    }

    fn push(&mut self, clause: &'static str, params: impl IntoIterator<Item = Value>) {
        self.clauses.push(clause);
        self.params.extend(params);
    }

    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn from_filter(filter: &TraceFilter, keys: &PromptKeys) -> Result<Self, StoreError> {
        let mut conditions = Self::default();
        let text = |v: &str| Value::from(v.to_owned());
        if let Some(session) = present(&filter.session) {
            conditions.push("session_id = ?", [text(session)]);
        }
        if let Some(model) = present(&filter.model) {
            conditions.push("model = ?", [text(model)]);
        }
        if let Some(provider) = present(&filter.provider) {
            conditions.push("provider = ?", [text(provider)]);
        }
        match present(&filter.outcome) {
            None => {}
            Some("ok") => conditions.push("error_kind IS NULL", []),
            Some("error") => conditions.push("error_kind IS NOT NULL", []),
            Some(kind) => conditions.push("error_kind = ?", [text(kind)]),
        }
        if let Some(meta) = present(&filter.meta) {
            let (key, value) = meta
                .split_once('=')
                .ok_or_else(|| bad_filter("meta", meta, "expected key=value"))?;
            conditions.meta(key.trim(), value.trim());
        }
        for (key, value) in [
            (&keys.name, &filter.prompt_name),
            (&keys.version, &filter.prompt_version),
        ] {
            if let Some(value) = present(value) {
                conditions.meta(key, value);
            }
        }
        if let Some(from) = present(&filter.from) {
            conditions.push("ts >= ?", [Value::from(parse_time("from", from)?)]);
        }
        if let Some(to) = present(&filter.to) {
            conditions.push("ts < ?", [Value::from(parse_time("to", to)?)]);
        }
        if let Some(spec) = present(&filter.score) {
            let (clause, params) = score::condition(spec)?;
            conditions.push(clause, params);
        }
        if let Some(q) = present(&filter.q) {
            let (scores, words): (Vec<&str>, Vec<&str>) = q
                .split_whitespace()
                .partition(|word| word.starts_with("score:"));
            for spec in scores {
                let (clause, params) = score::condition(spec)?;
                conditions.push(clause, params);
            }
            if !words.is_empty() {
                conditions.text = Some(fts_query(&words));
            }
        }
        Ok(conditions)
    }
}

/// Each word as a quoted FTS5 string, so that user text is never FTS syntax.
fn fts_query(words: &[&str]) -> String {
    words
        .iter()
        .map(|word| format!("\"{}\"", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// RFC 3339, or a date (midnight UTC), as microseconds since the epoch.
fn parse_time(key: &str, value: &str) -> Result<i64, StoreError> {
    crate::types::rfc3339::parse(value)
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
        .map(|t| t.timestamp_micros())
        .ok_or_else(|| {
            bad_filter(
                key,
                value,
                "expected an RFC 3339 time (2025-11-08T12:00:00Z) or a date (2025-11-08)",
            )
        })
}

/// A row of [`COLUMNS`]: `(id, ts, row)`.
fn read_row(row: &Row<'_>) -> rusqlite::Result<(i64, i64, TraceRow)> {
    let ts: i64 = row.get(2)?;
    let error_kind: Option<String> = row.get(8)?;
    Ok((
        row.get(0)?,
        ts,
        TraceRow {
            trace_id: row.get(1)?,
            timestamp: rfc3339(ts),
            provider: row.get(3)?,
            model: row.get(4)?,
            session_id: row.get(5)?,
            step_type: row.get(6)?,
            attempt: row.get(7)?,
            outcome: error_kind.unwrap_or_else(|| "ok".to_owned()),
            prompt_tokens: row.get(9)?,
            completion_tokens: row.get(10)?,
            total_tokens: row.get(11)?,
            cost: row.get(12)?,
            latency_ms: row.get(13)?,
            ttft_ms: row.get(14)?,
            scores: BTreeMap::new(),
        },
    ))
}

/// Fills in the scores of `rows` (one query for all of them).
fn add_scores<'a>(
    c: &Connection,
    rows: impl Iterator<Item = &'a mut TraceRow>,
) -> rusqlite::Result<()> {
    let mut rows: Vec<&mut TraceRow> = rows.collect();
    let mut scores = {
        let ids: Vec<&str> = rows.iter().map(|r| r.trace_id.as_str()).collect();
        score::scores_of(c, &ids)?
    };
    for row in &mut rows {
        if let Some(found) = scores.remove(&row.trace_id) {
            row.scores = found;
        }
    }
    Ok(())
}
