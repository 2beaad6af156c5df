use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::TraceRecord;

/// Totals and averages over a set of traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// How many traces (a trace id seen again is counted once: see `duplicate_trace_ids`).
    pub total_interactions: usize,
    /// How many of them failed (or were cancelled).
    pub failed_interactions: usize,
    /// Sum of `response.usage.total_tokens` (traces without usage count 0), stopping at
    /// `u64::MAX` (see `tokens_saturated`).
    pub total_tokens: u64,
    /// Sum of call durations in milliseconds, failed calls included; negative or non-finite
    /// durations are left out (see `invalid_times`).
    pub total_time_ms: f64,
    /// `total_tokens / total_interactions` (0 when there are none).
    pub avg_tokens_per_interaction: f64,
    /// `total_time_ms` over the interactions it sums (0 when there are none).
    pub avg_time_ms: f64,
    /// Distinct provider names, sorted.
    pub providers: Vec<String>,
    /// Distinct models, sorted.
    pub models: Vec<String>,
    /// Earliest and latest timestamps; `None` when there are no traces.
    pub date_range: Option<DateRange>,
    /// Records whose trace id came earlier (the same trace written twice, or files
    /// concatenated): left out of every other figure.
    #[serde(default)]
    pub duplicate_trace_ids: usize,
    /// Records with a negative or non-finite duration (or one that would make the sum
    /// infinite): counted as interactions, left out of the time figures.
    #[serde(default)]
    pub invalid_times: usize,
    /// True when the token sum went past `u64::MAX`, so `total_tokens` is that maximum.
    #[serde(default)]
    pub tokens_saturated: bool,
    /// How many traces have a cost (`cost_usd`): the others' model had no price, or their
    /// provider reported no usage.
    #[serde(default)]
    pub priced_interactions: usize,
    /// Sum of `cost_usd` in US dollars; absent (not 0) when no trace has a cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    /// `total_cost_usd / priced_interactions`: the mean over the traces that have a cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_cost_usd: Option<f64>,
    /// The same figures per model (the configured one), by name.
    #[serde(default)]
    pub by_model: BTreeMap<String, ModelSummary>,
}

/// The traces of one model, in a [`TraceSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// How many traces.
    pub interactions: usize,
    /// Sum of their `total_tokens` (saturating).
    pub total_tokens: u64,
    /// How many have a cost.
    pub priced_interactions: usize,
    /// Sum of their `cost_usd`; absent when none has a cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    /// `total_cost_usd / priced_interactions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_cost_usd: Option<f64>,
}

/// Running cost of a set of traces.
#[derive(Debug, Clone, Copy, Default)]
struct CostSum {
    priced: usize,
    dollars: f64,
}

impl CostSum {
    fn add(&mut self, cost_usd: Option<f64>) {
        // A file may hold anything: a negative or infinite cost would poison every total.
        if let Some(cost) = cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
            self.priced += 1;
            self.dollars += cost;
        }
    }

    /// Total and mean, rounded to 1e-10 dollars (sums of floats gather noise far below that).
    fn figures(self) -> (Option<f64>, Option<f64>) {
        let round = |dollars: f64| (dollars * 1e10).round() / 1e10;
        if self.priced == 0 {
            return (None, None);
        }
        (
            Some(round(self.dollars)),
            Some(round(self.dollars / self.priced as f64)),
        )
    }
}

#[derive(Debug, Clone, Default)]
struct ModelTotals {
    interactions: usize,
    tokens: u64,
    cost: CostSum,
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
///
/// `traces` is a slice, a `Vec` or an array of records or of `Arc`s of records, as
/// [`Client::get_traces`](crate::Client::get_traces) and
/// [`read_traces`](crate::read::read_traces) return them; an empty `&[]` needs no type.
///
/// ```
/// let summary = llmtrace::summarize_traces(&[]);
/// assert_eq!(summary.total_interactions, 0);
/// ```
pub fn summarize_traces(traces: &(impl TraceSet + ?Sized)) -> TraceSummary {
    let mut summarizer = Summarizer::default();
    for trace in traces.records() {
        summarizer.add(trace);
    }
    summarizer.finish()
}

/// A set of traces [`summarize_traces`] reads.
pub trait TraceSet {
    /// The records, in order.
    fn records(&self) -> impl Iterator<Item = &TraceRecord>;
}

impl<R: Borrow<TraceRecord>> TraceSet for [R] {
    fn records(&self) -> impl Iterator<Item = &TraceRecord> {
        self.iter().map(Borrow::borrow)
    }
}

impl<R: Borrow<TraceRecord>> TraceSet for Vec<R> {
    fn records(&self) -> impl Iterator<Item = &TraceRecord> {
        self.as_slice().records()
    }
}

/// A reference to a set, as `summarize_traces(&traces)` passes when `traces` is one already.
impl<T: TraceSet + ?Sized> TraceSet for &T {
    fn records(&self) -> impl Iterator<Item = &TraceRecord> {
        (**self).records()
    }
}

/// For arrays of records only: it is what lets `&[]` be summarized without naming a type.
impl<const N: usize> TraceSet for [TraceRecord; N] {
    fn records(&self) -> impl Iterator<Item = &TraceRecord> {
        self.iter()
    }
}

/// Builds a [`TraceSummary`] one record at a time, for inputs too large to hold in memory
/// (it keeps each trace id, 16 bytes, to spot duplicates).
#[derive(Debug, Clone, Default)]
pub struct Summarizer {
    total: usize,
    failed: usize,
    tokens: u64,
    tokens_saturated: bool,
    time_ms: f64,
    timed: usize,
    invalid_times: usize,
    seen: HashSet<Uuid>,
    duplicates: usize,
    providers: BTreeSet<String>,
    models: BTreeMap<String, ModelTotals>,
    cost: CostSum,
    range: Option<DateRange>,
}

impl Summarizer {
    /// Counts one record.
    pub fn add(&mut self, trace: &TraceRecord) {
        if !self.seen.insert(trace.trace_id) {
            self.duplicates += 1;
            return;
        }
        self.total += 1;
        self.failed += usize::from(trace.is_error());
        match self.tokens.checked_add(trace.total_tokens()) {
            Some(tokens) => self.tokens = tokens,
            None => {
                self.tokens = u64::MAX;
                self.tokens_saturated = true;
            }
        }
        let time_ms = self.time_ms + trace.duration_ms();
        if trace.duration_ms() >= 0.0 && time_ms.is_finite() {
            self.time_ms = time_ms;
            self.timed += 1;
        } else {
            self.invalid_times += 1;
        }
        if !self.providers.contains(&trace.provider) {
            self.providers.insert(trace.provider.clone());
        }
        if !self.models.contains_key(&trace.model) {
            self.models
                .insert(trace.model.clone(), ModelTotals::default());
        }
        if let Some(model) = self.models.get_mut(&trace.model) {
            model.interactions += 1;
            model.tokens = model.tokens.saturating_add(trace.total_tokens());
            model.cost.add(trace.cost_usd);
        }
        self.cost.add(trace.cost_usd);
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
        let average = |sum: f64, count: usize| {
            if count == 0 { 0.0 } else { sum / count as f64 }
        };
        let (total_cost_usd, avg_cost_usd) = self.cost.figures();
        let by_model: BTreeMap<String, ModelSummary> = (self.models.into_iter())
            .map(|(name, totals)| {
                let (total_cost_usd, avg_cost_usd) = totals.cost.figures();
                let summary = ModelSummary {
                    interactions: totals.interactions,
                    total_tokens: totals.tokens,
                    priced_interactions: totals.cost.priced,
                    total_cost_usd,
                    avg_cost_usd,
                };
                (name, summary)
            })
            .collect();
        TraceSummary {
            total_interactions: self.total,
            failed_interactions: self.failed,
            total_tokens: self.tokens,
            total_time_ms: micros(self.time_ms),
            avg_tokens_per_interaction: average(self.tokens as f64, self.total),
            avg_time_ms: micros(average(self.time_ms, self.timed)),
            providers: self.providers.into_iter().collect(),
            models: by_model.keys().cloned().collect(),
            date_range: self.range,
            duplicate_trace_ids: self.duplicates,
            invalid_times: self.invalid_times,
            tokens_saturated: self.tokens_saturated,
            priced_interactions: self.cost.priced,
            total_cost_usd,
            avg_cost_usd,
            by_model,
        }
    }
}
