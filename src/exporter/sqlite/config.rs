//! `type = "sqlite"`: the options of a [`SqliteExporter`], read with the durations of every
//! other key (`max_age_ms`, an integer of milliseconds); the older `max_age = "30d"` is still
//! read.

use std::path::PathBuf;
use std::time::Duration;

use super::{Retention, SqliteExporter};
use crate::config::fields::optional_in;
use crate::config::reader::Table;
use crate::config::{ConfigIssue, ExporterComponent, build_issue, limits};
use crate::exporter::Exporter;

/// `type = "sqlite"`: `path`, `max_rows`, `max_age_ms`, `prompt_name_key`, `prompt_version_key`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SqliteConfig {
    /// `path`: the database file (required).
    pub path: PathBuf,
    /// `max_rows`: traces kept at most (the newest); absent: all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// `max_age_ms`: traces older than this many milliseconds are deleted; absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// `prompt_name_key`: metadata key of a prompt's name, for the viewer (default
    /// `prompt_name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_name_key: Option<String>,
    /// `prompt_version_key`: metadata key of a prompt's version, for the viewer (default
    /// `prompt_version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_version_key: Option<String>,
}

impl ExporterComponent for SqliteConfig {
    const TYPE: &'static str = "sqlite";

    /// A commit writes every page the batch touched to the WAL: batches of 1,000 write 6 KiB
    /// per trace where batches of 64 write 15.5, and cost about a third less CPU per trace
    /// (BENCHMARKS.md, "SQLite store and trace viewer").
    const BATCH_SIZE: usize = 1000;

    fn read(table: &mut Table<'_, '_>) -> Option<Self> {
        let path = table.required::<PathBuf>("path", "the database file");
        let max_rows = optional_in(table, "max_rows", limits::MAX_ROWS);
        let max_age_ms = optional_in(table, "max_age_ms", limits::STORE_MAX_AGE_MS);
        let old_form = table
            .get::<String>("max_age")
            .and_then(|text| old_max_age(table, &text));
        if max_age_ms.is_some() && old_form.is_some() {
            table.issue(
                "max_age",
                "set max_age_ms (milliseconds, like every duration) or the older max_age, not both",
            );
        }
        let prompt_name_key = table.get::<String>("prompt_name_key");
        let prompt_version_key = table.get::<String>("prompt_version_key");
        Some(Self {
            path: path?,
            max_rows,
            max_age_ms: max_age_ms.or(old_form),
            prompt_name_key,
            prompt_version_key,
        })
    }

    fn build(&self) -> Result<Box<dyn Exporter>, ConfigIssue> {
        let retention = Retention {
            max_rows: self.max_rows,
            max_age: self.max_age_ms.map(Duration::from_millis),
        };
        // Opened now: a bad path or a file from a newer llmtrace fails the build, named.
        let exporter = (SqliteExporter::new(&self.path).retention(retention).open())
            .map_err(|e| build_issue("path", e.to_string()))?;
        Ok(Box::new(exporter))
    }
}

/// `max_age = "30d"`, the form of earlier versions, in milliseconds; `None` when invalid
/// (recorded).
fn old_max_age(table: &mut Table<'_, '_>, text: &str) -> Option<u64> {
    let millis = parse_age(text).map(|seconds| seconds.saturating_mul(1000));
    match millis {
        None => table.issue(
            "max_age",
            format!("expected a positive number and a unit (s, m, h, d), like \"30d\"; found {text:?} (or use max_age_ms)"),
        ),
        Some(millis) if millis > limits::STORE_MAX_AGE_MS => table.issue(
            "max_age",
            format!("must be at most {}d, found {text:?}", limits::STORE_MAX_AGE_MS / 86_400_000),
        ),
        Some(_) => {}
    }
    millis.filter(|&millis| millis <= limits::STORE_MAX_AGE_MS)
}

/// `"30d"` -> seconds; `None` unless a positive whole number and one of s, m, h, d.
fn parse_age(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let number: u64 = text[..text.len() - 1].trim().parse().ok()?;
    (number > 0).then(|| number.saturating_mul(unit))
}
