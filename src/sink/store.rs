use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use uuid::Uuid;

use super::RecordSink;
use crate::TraceRecord;

/// The in-memory ring buffer of recent traces.
///
/// Holds at most `max_traces` records; appending to a full store evicts the oldest. A store of
/// capacity 0 keeps nothing (trace ids are still issued and exporters still see every record).
/// Cloning a `TraceStore` gives another handle to the same buffer; all handles are
/// `Send + Sync` and readers never see a half-written record.
///
/// Appending and lookup by id are O(1).
///
/// ```
/// use llmtrace::sink::{TraceQuery, TraceStore};
///
/// let store = TraceStore::new(2);
/// assert!(store.is_empty());
/// assert!(store.query(&TraceQuery::last(5)).is_empty());
/// ```
#[derive(Clone)]
pub struct TraceStore {
    ring: Arc<Mutex<Ring>>,
}

struct Ring {
    capacity: usize,
    records: VecDeque<Arc<TraceRecord>>,
    /// trace id -> sequence number; position in `records` = seq - `front_seq`.
    index: HashMap<Uuid, u64>,
    front_seq: u64,
}

impl TraceStore {
    /// A store keeping the `max_traces` most recent records.
    pub fn new(max_traces: usize) -> Self {
        Self {
            ring: Arc::new(Mutex::new(Ring {
                capacity: max_traces,
                records: VecDeque::with_capacity(max_traces.min(1024)),
                index: HashMap::with_capacity(max_traces.min(1024)),
                front_seq: 0,
            })),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring half-updated in a way that
        // matters to readers (every mutation is a push/pop pair), so keep serving.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a record, evicting the oldest when full.
    pub fn push(&self, record: Arc<TraceRecord>) {
        let mut ring = self.ring();
        if ring.capacity == 0 {
            return;
        }
        let mut evicted = None;
        if ring.records.len() == ring.capacity {
            evicted = ring.records.pop_front();
            if let Some(oldest) = &evicted {
                // The same record may have been pushed twice: only forget the id if this was
                // its latest copy.
                let front_seq = ring.front_seq;
                if ring.index.get(&oldest.trace_id) == Some(&front_seq) {
                    ring.index.remove(&oldest.trace_id);
                }
            }
            ring.front_seq += 1;
        }
        let seq = ring.front_seq + ring.records.len() as u64;
        ring.index.insert(record.trace_id, seq);
        ring.records.push_back(record);
        // Free the evicted record (a dozen allocations) after releasing the lock, so that
        // concurrent callers do not wait for it.
        drop(ring);
        drop(evicted);
    }

    /// The record with this id, if it is still stored.
    pub fn get(&self, trace_id: &Uuid) -> Option<Arc<TraceRecord>> {
        let ring = self.ring();
        let seq = *ring.index.get(trace_id)?;
        ring.records.get((seq - ring.front_seq) as usize).cloned()
    }

    /// The `n` most recent records, oldest first (all of them when fewer are stored).
    pub fn last(&self, n: usize) -> Vec<Arc<TraceRecord>> {
        let ring = self.ring();
        let skip = ring.records.len().saturating_sub(n);
        ring.records.iter().skip(skip).cloned().collect()
    }

    /// Every stored record, oldest first.
    pub fn all(&self) -> Vec<Arc<TraceRecord>> {
        self.ring().records.iter().cloned().collect()
    }

    /// The stored records matching `query`, oldest first.
    pub fn query(&self, query: &TraceQuery) -> Vec<Arc<TraceRecord>> {
        let ring = self.ring();
        let limit = query.last.unwrap_or(usize::MAX);
        let mut found: Vec<_> = ring
            .records
            .iter()
            .rev()
            .filter(|record| query.matches(record))
            .take(limit)
            .cloned()
            .collect();
        found.reverse();
        found
    }

    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.ring().records.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most records this store keeps.
    pub fn capacity(&self) -> usize {
        self.ring().capacity
    }

    /// Removes every record.
    pub fn clear(&self) {
        let mut ring = self.ring();
        let removed = ring.records.len() as u64;
        ring.records.clear();
        ring.index.clear();
        ring.front_seq += removed;
    }
}

impl RecordSink for TraceStore {
    fn record(&self, record: &Arc<TraceRecord>) {
        self.push(record.clone());
    }
}

impl fmt::Debug for TraceStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.ring();
        f.debug_struct("TraceStore")
            .field("capacity", &ring.capacity)
            .field("len", &ring.records.len())
            .finish()
    }
}

/// Which traces to read back: filters, then the most recent `last` of the matches.
///
/// ```
/// use llmtrace::sink::TraceQuery;
///
/// // The last 10 traces of one session that were tagged with user_id = "u1".
/// let query = TraceQuery::all()
///     .session("5d1f...")
///     .metadata("user_id", "u1")
///     .last_n(10);
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    session_id: Option<String>,
    metadata: Vec<(String, Value)>,
    errors_only: bool,
    last: Option<usize>,
}

impl TraceQuery {
    /// Every trace.
    pub fn all() -> Self {
        Self::default()
    }

    /// The `n` most recent traces.
    pub fn last(n: usize) -> Self {
        Self::all().last_n(n)
    }

    /// Keeps only the `n` most recent matches.
    pub fn last_n(mut self, n: usize) -> Self {
        self.last = Some(n);
        self
    }

    /// Keeps traces whose `session_id` metadata is `session_id`.
    pub fn session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Keeps traces whose metadata has `key` equal to `value` (several calls: all must match).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Keeps failed calls only.
    pub fn errors(mut self) -> Self {
        self.errors_only = true;
        self
    }

    /// Whether `record` passes the filters (`last` is not a filter).
    pub fn matches(&self, record: &TraceRecord) -> bool {
        self.session_id
            .as_deref()
            .is_none_or(|id| record.session_id() == Some(id))
            && self
                .metadata
                .iter()
                .all(|(key, value)| record.metadata.get(key) == Some(value))
            && (!self.errors_only || record.is_error())
    }
}
