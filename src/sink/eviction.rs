//! What a [`TraceStore`](super::TraceStore) keeps: the eviction policy, the clock its age bound
//! reads, the record size estimate its byte bound sums, and its counters.

use std::fmt;
use std::mem::size_of;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::{Message, Tool, ToolCall, TraceError, TraceRecord};

/// The bounds of a trace store, in any combination: the oldest records are evicted until all
/// of them hold.
///
/// - `max_traces`: at most this many records (0 keeps none).
/// - `max_bytes`: the records' [estimated size](estimated_size) sums to at most this; a record
///   larger than the bound on its own is not kept at all.
/// - `max_age`: records whose `timestamp` is older than this are dropped lazily, when the
///   store is next appended to or read; reads never return them.
///
/// ```
/// use std::time::Duration;
/// use llmtrace::sink::{EvictionPolicy, TraceStore};
///
/// let policy = EvictionPolicy::new(10_000)
///     .max_bytes(64 << 20)
///     .max_age(Duration::from_secs(3600));
/// let store = TraceStore::with_policy(policy);
/// assert_eq!(store.policy(), policy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictionPolicy {
    /// Most records kept.
    pub max_traces: usize,
    /// Most estimated bytes kept; `None`: no byte bound.
    pub max_bytes: Option<u64>,
    /// Oldest record kept, by its `timestamp`; `None`: no age bound.
    pub max_age: Option<Duration>,
}

impl EvictionPolicy {
    /// A policy keeping the `max_traces` most recent records, with no byte or age bound.
    pub const fn new(max_traces: usize) -> Self {
        Self {
            max_traces,
            max_bytes: None,
            max_age: None,
        }
    }

    /// Sets the count bound.
    pub const fn max_traces(mut self, max_traces: usize) -> Self {
        self.max_traces = max_traces;
        self
    }

    /// Adds a bound on the records' estimated size.
    pub const fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// Adds a bound on the records' age.
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Records with a timestamp before this are expired at `now`; `None` when nothing expires.
    pub(crate) fn cutoff(&self, clock: &dyn Clock) -> Option<DateTime<Utc>> {
        let max_age = TimeDelta::from_std(self.max_age?).ok()?;
        clock.now().checked_sub_signed(max_age)
    }
}

impl Default for EvictionPolicy {
    /// 100 records, no byte or age bound.
    fn default() -> Self {
        Self::new(100)
    }
}

/// Where a store reads the time its age bound is measured at.
///
/// [`SystemClock`] outside tests; [`ManualClock`] lets a test age records without sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, `Utc::now()`: the time trace timestamps are taken from.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use llmtrace::sink::{Clock, ManualClock};
///
/// let clock = ManualClock::new(chrono::Utc::now());
/// let start = clock.now();
/// clock.advance(Duration::from_secs(60));
/// assert_eq!((clock.now() - start).num_seconds(), 60);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A store's contents and what its policy has evicted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Records held (an expired record behind a younger one is held until it reaches the
    /// front, though reads no longer return it).
    pub held: usize,
    /// Their [estimated size](estimated_size), summed.
    pub bytes: u64,
    /// Records evicted by the `max_traces` bound.
    pub evicted_by_count: u64,
    /// Records evicted (or not kept) by the `max_bytes` bound.
    pub evicted_by_bytes: u64,
    /// Records dropped by the `max_age` bound.
    pub evicted_by_age: u64,
}

/// Fixed cost of one stored record: the record itself, its `Arc`, its ring slot and index entry.
const RECORD_OVERHEAD: usize = size_of::<TraceRecord>() + 96;
/// Fixed cost of one map entry or JSON node besides its strings.
const ENTRY_OVERHEAD: usize = 48;

/// A record's estimated size in memory, in bytes, as the `max_bytes` bound counts it.
///
/// It is the length of every string the record holds (prompt, system prompt, messages, tool
/// definitions and calls, response, error, metadata keys and values, the raw response, and JSON
/// values walked node by node), plus a fixed overhead per record, message, tool, tool call,
/// metadata entry and JSON node. It reads the record once, allocates nothing and serializes
/// nothing; allocator slack is not counted, so the real footprint is somewhat larger.
pub fn estimated_size(record: &TraceRecord) -> u64 {
    let mut size = RECORD_OVERHEAD
        + record.provider.len()
        + record.model.len()
        + record.server_address.as_ref().map_or(0, String::len)
        + record.system_prompt.as_ref().map_or(0, String::len)
        + record.prompt.len()
        + record.messages.iter().map(message_size).sum::<usize>()
        + record.tools.iter().map(tool_size).sum::<usize>()
        + record
            .parameters
            .stop
            .iter()
            .map(|stop| ENTRY_OVERHEAD + stop.len())
            .sum::<usize>()
        + record
            .metadata
            .iter()
            .map(|(key, value)| ENTRY_OVERHEAD + key.len() + value_size(value))
            .sum::<usize>();
    if let Some(response) = &record.response {
        size += response.content.len()
            + response
                .tool_calls
                .iter()
                .map(tool_call_size)
                .sum::<usize>()
            + response.finish_reason.as_ref().map_or(0, String::len)
            + response.id.as_ref().map_or(0, String::len)
            + response.model.as_ref().map_or(0, String::len)
            + response.raw_response.as_deref().map_or(0, value_size);
    }
    if let Some(error) = &record.error {
        size += size_of::<TraceError>() + error.kind.as_str().len() + error.message.len();
    }
    size as u64
}

fn message_size(message: &Message) -> usize {
    size_of::<Message>()
        + message.content.len()
        + message.tool_calls.iter().map(tool_call_size).sum::<usize>()
        + message.tool_call_id.as_ref().map_or(0, String::len)
}

fn tool_size(tool: &Tool) -> usize {
    size_of::<Tool>() + tool.name.len() + tool.description.len() + value_size(&tool.parameters)
}

fn tool_call_size(call: &ToolCall) -> usize {
    size_of::<ToolCall>()
        + call.id.as_ref().map_or(0, String::len)
        + call.name.len()
        + value_size(&call.arguments)
}

fn value_size(value: &Value) -> usize {
    ENTRY_OVERHEAD
        + match value {
            Value::String(text) => text.len(),
            Value::Array(items) => items.iter().map(value_size).sum(),
            Value::Object(map) => map.iter().map(|(key, v)| key.len() + value_size(v)).sum(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
}
