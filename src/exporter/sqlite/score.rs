//! Scores: named judgements (a number or a label) attached to a stored trace after the fact,
//! kept in their own table so that records stay as they were written.

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::store::SqliteStore;

/// A score's value: a number (`0.8`) or a label (`"correct"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScoreValue {
    /// A number, compared with `<`, `<=`, `>`, `>=`, `=`, `!=` in filters and averaged per
    /// prompt version.
    Number(f64),
    /// A label, matched with `=` and `!=`.
    Label(String),
}

/// A named score on a trace: `helpfulness = 0.8`, set by `ann` with a comment.
///
/// ```
/// use llmtrace::exporter::Score;
///
/// let score = Score::number("helpfulness", 0.8).comment("clear answer").source("ann");
/// assert_eq!(score.name, "helpfulness");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// What is judged (`helpfulness`, `correct`).
    pub name: String,
    /// The judgement.
    pub value: ScoreValue,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who or what set it (a person, `eval-v2`, `user-feedback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Score {
    /// A numeric score.
    pub fn number(name: impl Into<String>, value: f64) -> Self {
        Self::new(name, ScoreValue::Number(value))
    }

    /// A label score.
    pub fn label(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, ScoreValue::Label(value.into()))
    }

    fn new(name: impl Into<String>, value: ScoreValue) -> Self {
        Self {
            name: name.into(),
            value,
            comment: None,
            source: None,
        }
    }

    /// With a comment.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// With who or what set it.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Checks what the store cannot keep meaningfully: an empty or odd name (filters read
    /// `score:NAME<0.5`), a number that is not finite.
    fn check(&self) -> Result<(), StoreError> {
        let name = &self.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "_-.".contains(c))
        {
            return Err(bad_score(
                "name",
                name,
                "expected letters, digits, '_', '-' or '.'",
            ));
        }
        if let ScoreValue::Number(n) = self.value
            && !n.is_finite()
        {
            return Err(bad_score("value", &n.to_string(), "not a finite number"));
        }
        Ok(())
    }
}

fn bad_score(key: &str, value: &str, reason: &str) -> StoreError {
    StoreError::BadScore {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

impl SqliteStore {
    /// Sets score `score.name` on trace `trace_id` (a score of the same name is replaced).
    ///
    /// A trace still in an exporter's queue is not stored yet: flush the client first
    /// ([`Client::flush`](crate::Client::flush)).
    ///
    /// # Errors
    /// [`StoreError::UnknownTrace`] when the store does not hold the trace;
    /// [`StoreError::BadScore`] for an empty name or a number that is not finite; SQLite
    /// failures.
    pub fn score(&self, trace_id: &str, score: &Score) -> Result<(), StoreError> {
        score.check()?;
        let (number, label) = match &score.value {
            ScoreValue::Number(n) => (Some(*n), None),
            ScoreValue::Label(l) => (None, Some(l.as_str())),
        };
        let now = chrono::Utc::now().timestamp_micros();
        let changed = self.with(|c| {
            c.execute(
                "INSERT INTO trace_scores (trace_id, name, number, label, comment, source, ts)
                 SELECT trace_id, ?2, ?3, ?4, ?5, ?6, ?7 FROM traces WHERE trace_id = ?1
                 ON CONFLICT (trace_id, name) DO UPDATE SET number = excluded.number,
                    label = excluded.label, comment = excluded.comment,
                    source = excluded.source, ts = excluded.ts",
                rusqlite::params![
                    trace_id,
                    score.name,
                    number,
                    label,
                    score.comment,
                    score.source,
                    now
                ],
            )
        })?;
        if changed == 0 {
            return Err(StoreError::UnknownTrace(trace_id.to_owned()));
        }
        Ok(())
    }

    /// The scores of trace `trace_id`, by name.
    ///
    /// # Errors
    /// When SQLite fails.
    pub fn scores(&self, trace_id: &str) -> Result<Vec<Score>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT name, number, label, comment, source FROM trace_scores
                 WHERE trace_id = ?1 ORDER BY name",
            )?;
            let rows = statement.query_map([trace_id], |r| {
                Ok(Score {
                    name: r.get(0)?,
                    value: value(r.get(1)?, r.get(2)?),
                    comment: r.get(3)?,
                    source: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Whether the store holds trace `trace_id`.
    ///
    /// # Errors
    /// When SQLite fails.
    pub fn contains(&self, trace_id: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT 1 FROM traces WHERE trace_id = ?1",
                [trace_id],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
        })
    }
}

fn value(number: Option<f64>, label: Option<String>) -> ScoreValue {
    match number {
        Some(n) => ScoreValue::Number(n),
        None => ScoreValue::Label(label.unwrap_or_default()),
    }
}

/// The scores of the traces with the given row ids, by trace id then name.
pub(super) fn scores_of(
    c: &rusqlite::Connection,
    trace_ids: &[&str],
) -> rusqlite::Result<BTreeMap<String, BTreeMap<String, ScoreValue>>> {
    let mut scores: BTreeMap<String, BTreeMap<String, ScoreValue>> = BTreeMap::new();
    if trace_ids.is_empty() {
        return Ok(scores);
    }
    let marks = vec!["?"; trace_ids.len()].join(", ");
    let mut statement = c.prepare(&format!(
        "SELECT trace_id, name, number, label FROM trace_scores WHERE trace_id IN ({marks})"
    ))?;
    let rows = statement.query_map(rusqlite::params_from_iter(trace_ids), |r| {
        Ok((r.get(0)?, r.get(1)?, value(r.get(2)?, r.get(3)?)))
    })?;
    for row in rows {
        let (trace, name, value): (String, String, ScoreValue) = row?;
        scores.entry(trace).or_default().insert(name, value);
    }
    Ok(scores)
}

/// A score filter, `helpfulness<0.5` or `correct=yes` (optionally written `score:...`), as
/// a SQL condition on `traces.trace_id` and its parameters.
pub(super) fn condition(text: &str) -> Result<(&'static str, Vec<Value>), StoreError> {
    let spec = text.trim();
    let spec = spec.strip_prefix("score:").unwrap_or(spec);
    let bad = || {
        bad_filter_error(
            text,
            "expected NAME<NUMBER (also <=, >, >=, =, !=) or NAME=LABEL",
        )
    };
    let at = spec.find(['<', '>', '=', '!']).ok_or_else(bad)?;
    let (name, rest) = spec.split_at(at);
    let (op, operand) = ["<=", ">=", "!=", "<", ">", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|v| (*op, v.trim())))
        .ok_or_else(bad)?;
    let name = name.trim();
    if name.is_empty() || operand.is_empty() {
        return Err(bad());
    }
    let name = Value::from(name.to_owned());
    if let Ok(number) = operand.parse::<f64>() {
        let clause = match op {
            "<" => "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND number < ?)",
            "<=" => {
                "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND number <= ?)"
            }
            ">" => "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND number > ?)",
            ">=" => {
                "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND number >= ?)"
            }
            "=" => "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND number = ?)",
            _ => "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND number != ?)",
        };
        return Ok((clause, vec![name, Value::from(number)]));
    }
    let clause = match op {
        "=" => "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND label = ?)",
        "!=" => "trace_id IN (SELECT trace_id FROM trace_scores WHERE name = ? AND label != ?)",
        _ => return Err(bad()),
    };
    Ok((clause, vec![name, Value::from(operand.to_owned())]))
}

fn bad_filter_error(value: &str, reason: &str) -> StoreError {
    StoreError::BadFilter {
        key: "score".to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}
