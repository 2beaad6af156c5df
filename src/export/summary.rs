use std::borrow::Borrow;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TraceRecord;

/// Totals and averages over a set of traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// How many traces.
    pub total_interactions: usize,
    /// How many of them failed (or were cancelled).
    pub failed_interactions: usize,
    /// Sum of `response.usage.total_tokens` (traces without usage count 0).
    pub total_tokens: u64,
    /// Sum of call durations in milliseconds, failed calls included.
    pub total_time_ms: f64,
    /// `total_tokens / total_interactions` (0 when there are none).
    pub avg_tokens_per_interaction: f64,
    /// `total_time_ms / total_interactions` (0 when there are none).
    pub avg_time_ms: f64,
    /// Distinct provider names, sorted.
    pub providers: Vec<String>,
    /// Distinct models, sorted.
    pub models: Vec<String>,
    /// Earliest and latest timestamps; `None` when there are no traces.
    pub date_range: Option<DateRange>,
}

/// The span of time a set of traces covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateRange {
    /// The earliest timestamp.
    #[serde(with = "crate::types::rfc3339")]
    pub first: DateTime<Utc>,
    /// The latest timestamp.
    #[serde(with = "crate::types::rfc3339")]
    pub last: DateTime<Utc>,
}

/// Summarizes `traces`; see [`TraceSummary`] for what each figure means.
pub fn summarize_traces<R: Borrow<TraceRecord>>(traces: &[R]) -> TraceSummary {
    let mut summarizer = Summarizer::default();
    for trace in traces {
        summarizer.add(trace.borrow());
    }
    summarizer.finish()
}

/// Builds a [`TraceSummary`] one record at a time, for inputs too large to hold in memory.
#[derive(Debug, Clone, Default)]
pub struct Summarizer {
    total: usize,
    failed: usize,
    tokens: u64,
    time_ms: f64,
    providers: BTreeSet<String>,
    models: BTreeSet<String>,
    range: Option<DateRange>,
}

impl Summarizer {
    /// Counts one record.
    pub fn add(&mut self, trace: &TraceRecord) {
        self.total += 1;
        self.failed += usize::from(trace.is_error());
        self.tokens += trace.total_tokens();
        self.time_ms += trace.duration_ms();
        if !self.providers.contains(&trace.provider) {
            self.providers.insert(trace.provider.clone());
        }
        if !self.models.contains(&trace.model) {
            self.models.insert(trace.model.clone());
        }
        let t = trace.timestamp;
        self.range = Some(match self.range {
            None => DateRange { first: t, last: t },
            Some(r) => DateRange {
                first: r.first.min(t),
                last: r.last.max(t),
            },
        });
    }

    /// The summary of everything added so far.
    pub fn finish(self) -> TraceSummary {
        // Durations are measured in whole microseconds; rounding to them keeps sums free of
        // float noise (0.073, not 0.07300000000000001).
        let micros = |ms: f64| (ms * 1000.0).round() / 1000.0;
        let average = |sum: f64| {
            if self.total == 0 {
                0.0
            } else {
                sum / self.total as f64
            }
        };
        TraceSummary {
            total_interactions: self.total,
            failed_interactions: self.failed,
            total_tokens: self.tokens,
            total_time_ms: micros(self.time_ms),
            avg_tokens_per_interaction: average(self.tokens as f64),
            avg_time_ms: micros(average(self.time_ms)),
            providers: self.providers.into_iter().collect(),
            models: self.models.into_iter().collect(),
            date_range: self.range,
        }
    }
}
