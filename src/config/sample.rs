//! `[sample]` (for every exporter) and an exporter's own `sample` table.
//!
//! ```toml
//! [sample]                  # exporters without their own policy
//! ratio = 0.05              # of the ordinary calls, chosen per session
//! keep_errors = true        # the default
//! slow_ms = 2000            # also keep every call this slow
//!
//! [exporters.archive]
//! type = "jsonl"
//! path = "traces.jsonl"
//! sample = { ratio = 1.0 }  # this one keeps everything
//! ```

use serde::Serialize;

use super::limits;
use super::reader::{Reader, Table};
use crate::sink::SamplePolicy;

/// A sample policy, as read.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SampleConfig {
    /// Fraction of the ordinary records kept, 0 to 1.
    pub ratio: f64,
    /// Keep every failed call.
    pub keep_errors: bool,
    /// Keep every call at least this slow, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<u64>,
}

impl SampleConfig {
    /// The policy these settings describe.
    pub fn policy(&self) -> SamplePolicy {
        let policy = SamplePolicy::ratio(self.ratio).keep_errors(self.keep_errors);
        match self.slow_ms {
            Some(ms) => policy.slow_ms(ms as f64),
            None => policy,
        }
    }
}

/// Reads the top-level `[sample]`; `None` when absent.
pub(super) fn read(reader: &mut Reader<'_>) -> Option<SampleConfig> {
    let mut table = reader.table("sample");
    if table.keys().is_empty() {
        table.finish("in [sample]");
        return None;
    }
    let config = fields(&mut table);
    table.finish("in [sample]");
    config
}

/// Reads `sample` of an exporter's table (`sample = { ratio = 0.05 }`); `None` when absent.
pub(super) fn read_in(table: &mut Table<'_, '_>) -> Option<SampleConfig> {
    if !table.keys().iter().any(|k| k == "sample") {
        return None;
    }
    let mut sample = table.table("sample");
    let config = fields(&mut sample);
    sample.finish("in sample");
    config
}

/// `ratio`, `keep_errors`, `slow_ms` of `table`; `None` when `ratio` is invalid.
fn fields(table: &mut Table<'_, '_>) -> Option<SampleConfig> {
    let ratio = table.required::<f64>("ratio", "the fraction of calls kept, 0 to 1")?;
    if !(0.0..=1.0).contains(&ratio) {
        table.issue("ratio", format!("must be from 0 to 1, found {ratio}"));
        return None;
    }
    Some(SampleConfig {
        ratio,
        keep_errors: table.get("keep_errors").unwrap_or(true),
        slow_ms: table.get::<u64>("slow_ms").map(|ms| ms.min(limits::MILLIS)),
    })
}
