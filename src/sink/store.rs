use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::RecordSink;
use super::eviction::{Clock, EvictionPolicy, StoreStats, SystemClock, estimated_size};
use crate::TraceRecord;

/// The in-memory ring buffer of recent traces.
///
/// What it keeps is an [`EvictionPolicy`]: at most `max_traces` records, optionally at most
/// `max_bytes` of them by estimated size and none older than `max_age`; appending evicts the
/// oldest records until every bound holds, and [`stats`](Self::stats) counts what each bound
/// evicted. A store of capacity 0 keeps nothing (trace ids are still issued and exporters still
/// see every record). Cloning a `TraceStore` gives another handle to the same buffer; all
/// handles are `Send + Sync` and readers never see a half-written record.
///
/// Appending is O(1) amortised (each record is evicted once) and lookup by id is O(1).
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
    /// Fixed for the store's life, so it is read (and the clock with it) outside the lock.
    policy: EvictionPolicy,
    clock: Arc<dyn Clock>,
}

struct Ring {
    records: VecDeque<Entry>,
    /// trace id -> sequence number; position in `records` = seq - `front_seq`.
    index: HashMap<Uuid, u64>,
    front_seq: u64,
    stats: StoreStats,
}

struct Entry {
    record: Arc<TraceRecord>,
    /// Its [`estimated_size`], computed once on append.
    size: u64,
}

/// Records evicted under the lock, freed after it is released so that concurrent callers do
/// not wait for their dozen deallocations each. The common case, one eviction, allocates
/// nothing.
#[derive(Default)]
struct Evicted {
    first: Option<Arc<TraceRecord>>,
    rest: Vec<Arc<TraceRecord>>,
}

impl Evicted {
    fn add(&mut self, record: Arc<TraceRecord>) {
        match self.first {
            None => self.first = Some(record),
            Some(_) => self.rest.push(record),
        }
    }
}

/// Which bound evicted a record.
#[derive(Clone, Copy)]
enum Bound {
    Count,
    Bytes,
    Age,
}

impl Ring {
    fn count(&mut self, bound: Bound) {
        let counter = match bound {
            Bound::Count => &mut self.stats.evicted_by_count,
            Bound::Bytes => &mut self.stats.evicted_by_bytes,
            Bound::Age => &mut self.stats.evicted_by_age,
        };
        *counter += 1;
    }

    /// Evicts the oldest record.
    fn pop_front(&mut self, bound: Bound, evicted: &mut Evicted) {
        let Some(oldest) = self.records.pop_front() else {
            return;
        };
        // The same record may have been pushed twice: only forget the id if this was its
        // latest copy.
        if self.index.get(&oldest.record.trace_id) == Some(&self.front_seq) {
            self.index.remove(&oldest.record.trace_id);
        }
        self.front_seq += 1;
        self.stats.bytes -= oldest.size;
        self.count(bound);
        evicted.add(oldest.record);
    }

    /// Drops expired records from the front (records are in append order, which is timestamp
    /// order but for calls that overlapped; a younger record in front stops the sweep).
    fn expire(&mut self, cutoff: Option<DateTime<Utc>>, evicted: &mut Evicted) {
        let Some(cutoff) = cutoff else { return };
        while self
            .records
            .front()
            .is_some_and(|oldest| oldest.record.timestamp < cutoff)
        {
            self.pop_front(Bound::Age, evicted);
        }
    }

    /// The records reads may return: the held ones minus those expired at `cutoff`.
    fn live(
        &self,
        cutoff: Option<DateTime<Utc>>,
    ) -> impl DoubleEndedIterator<Item = &Arc<TraceRecord>> {
        self.records
            .iter()
            .map(|entry| &entry.record)
            .filter(move |record| cutoff.is_none_or(|cutoff| record.timestamp >= cutoff))
    }
}

impl TraceStore {
    /// A store keeping the `max_traces` most recent records.
    pub fn new(max_traces: usize) -> Self {
        Self::with_policy(EvictionPolicy::new(max_traces))
    }

    /// A store keeping what `policy` allows, measuring age on the system clock.
    pub fn with_policy(policy: EvictionPolicy) -> Self {
        Self::with_clock(policy, Arc::new(SystemClock))
    }

    /// A store keeping what `policy` allows, measuring age on `clock` (a
    /// [`ManualClock`](super::ManualClock) in tests).
    pub fn with_clock(policy: EvictionPolicy, clock: Arc<dyn Clock>) -> Self {
        let capacity = policy.max_traces.min(1024);
        Self {
            ring: Arc::new(Mutex::new(Ring {
                records: VecDeque::with_capacity(capacity),
                index: HashMap::with_capacity(capacity),
                front_seq: 0,
                stats: StoreStats::default(),
            })),
            policy,
            clock,
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock cannot leave the ring half-updated in a way that
        // matters to readers (every mutation is a push/pop pair), so keep serving.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ring, with expired records swept from its front, and the expiry cutoff. The clock
    /// is read only when the policy has an age bound, and before taking the lock.
    fn swept(&self, evicted: &mut Evicted) -> (MutexGuard<'_, Ring>, Option<DateTime<Utc>>) {
        let cutoff = self.policy.cutoff(&*self.clock);
        let mut ring = self.ring();
        ring.expire(cutoff, evicted);
        (ring, cutoff)
    }

    /// Adds a record, evicting the oldest ones until the policy holds.
    pub fn push(&self, record: Arc<TraceRecord>) {
        let size = estimated_size(&record);
        let mut evicted = Evicted::default();
        let (mut ring, cutoff) = self.swept(&mut evicted);
        let policy = self.policy;
        let refused = if policy.max_traces == 0 {
            Some(Bound::Count)
        } else if policy.max_bytes.is_some_and(|max| size > max) {
            Some(Bound::Bytes)
        } else if cutoff.is_some_and(|cutoff| record.timestamp < cutoff) {
            Some(Bound::Age)
        } else {
            None
        };
        if let Some(bound) = refused {
            ring.count(bound);
            drop(ring);
            return;
        }
        while ring.records.len() >= policy.max_traces {
            ring.pop_front(Bound::Count, &mut evicted);
        }
        if let Some(max) = policy.max_bytes {
            while ring.stats.bytes + size > max {
                ring.pop_front(Bound::Bytes, &mut evicted);
            }
        }
        let seq = ring.front_seq + ring.records.len() as u64;
        ring.index.insert(record.trace_id, seq);
        ring.records.push_back(Entry { record, size });
        ring.stats.bytes += size;
        drop(ring);
        drop(evicted);
    }

    /// The record with this id, if it is still stored (and not expired).
    pub fn get(&self, trace_id: &Uuid) -> Option<Arc<TraceRecord>> {
        let mut evicted = Evicted::default();
        let (ring, cutoff) = self.swept(&mut evicted);
        let seq = *ring.index.get(trace_id)?;
        let record = &ring.records.get((seq - ring.front_seq) as usize)?.record;
        cutoff
            .is_none_or(|cutoff| record.timestamp >= cutoff)
            .then(|| record.clone())
    }

    /// The `n` most recent records, oldest first (all of them when fewer are stored).
    pub fn last(&self, n: usize) -> Vec<Arc<TraceRecord>> {
        let mut evicted = Evicted::default();
        let (ring, cutoff) = self.swept(&mut evicted);
        // Sized up front: this is the dashboard's poll, keep it to one allocation.
        let mut found = Vec::with_capacity(n.min(ring.records.len()));
        found.extend(ring.live(cutoff).rev().take(n).cloned());
        found.reverse();
        found
    }

    /// Every stored record, oldest first.
    pub fn all(&self) -> Vec<Arc<TraceRecord>> {
        self.last(usize::MAX)
    }

    /// The stored records matching `query`, oldest first.
    pub fn query(&self, query: &TraceQuery) -> Vec<Arc<TraceRecord>> {
        let mut evicted = Evicted::default();
        let (ring, cutoff) = self.swept(&mut evicted);
        let limit = query.last.unwrap_or(usize::MAX);
        let mut found: Vec<_> = ring
            .live(cutoff)
            .rev()
            .filter(|record| query.matches(record))
            .take(limit)
            .cloned()
            .collect();
        found.reverse();
        found
    }

    /// How many records are held (see [`StoreStats::held`]).
    pub fn len(&self) -> usize {
        self.stats().held
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most records this store keeps.
    pub fn capacity(&self) -> usize {
        self.policy.max_traces
    }

    /// What this store keeps.
    pub fn policy(&self) -> EvictionPolicy {
        self.policy
    }

    /// What is held, and what each bound has evicted since the store was made.
    pub fn stats(&self) -> StoreStats {
        let mut evicted = Evicted::default();
        let (ring, _) = self.swept(&mut evicted);
        StoreStats {
            held: ring.records.len(),
            ..ring.stats
        }
    }

    /// Removes every record (not counted as evictions).
    pub fn clear(&self) {
        let mut ring = self.ring();
        let removed = ring.records.len() as u64;
        ring.records.clear();
        ring.index.clear();
        ring.front_seq += removed;
        ring.stats.bytes = 0;
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
            .field("policy", &self.policy)
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
