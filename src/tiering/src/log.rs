//! [`DecisionLog`]: every decision the tier mover makes (a placement, a move planned, done,
//! failed or skipped) recorded with the policy's [`Inputs`] and reason, persisted in batches
//! to the metadata store's decision tree, and read back newest first for the transparency
//! API (`stratum tier decisions`, `stratum tier explain BUCKET/KEY`).
//!
//! Cost per decision: one mutex and a push onto an in-memory buffer; no metadata write
//! happens where a decision is made. [`DecisionLog::flush`] writes everything buffered as ONE
//! [`MetadataStore::put_decisions`] (one commit, one flush; a backlog over [`BATCH_MAX`] as
//! several), then trims the stored log to the newest `keep` ids (one
//! [`MetadataStore::trim_decisions`], at most once per flush).
//! Whoever owns the log calls `flush` on a timer and once more at shutdown; a crash loses at
//! most the decisions buffered since the last flush. Their ids never reached the store and
//! are handed out again after the restart, so a stored id always names one decision.
//!
//! Ids: every entry gets the next id at [`DecisionLog::record`], continuing after the
//! store's [`MetadataStore::last_decision_id`] (which trimming never lowers), so ids only
//! grow and order entries by when they were recorded. A move's life is several entries
//! (`Planned`, then `Done` or `Failed`), each with its own id. One log per store: two logs
//! on one store would hand out the same ids.
//!
//! Memory: at most `buffer_max` entries wait for a flush ([`BUFFER_MAX_DEFAULT`]). While the
//! store keeps failing, the oldest waiting entries make room for new ones and are counted in
//! [`LogStats::dropped`]: the log is history for operators, and must never grow the process
//! without bound or block the mover.
//!
//! Stored encoding: one format byte ([`ENCODING_V1`]) then the entry in postcard, through a
//! private mirror struct so that a change to [`DecisionEntry`] or to the policy's
//! [`Inputs`] cannot change the stored format silently (a new field means a new format
//! byte, and the old decoder stays). A stored row that does not decode (damaged, or written
//! by a newer version) is skipped by the queries and counted in [`LogStats::undecodable`]:
//! it never fails a query.
//!
//! Queries merge the buffer with the store, newest first, so a decision is visible the
//! moment it is recorded. They read the buffer BEFORE the store, and a flush removes entries
//! from the buffer only AFTER the store has them, so a concurrent flush never hides one.
//! Time is the caller's (`at_ms`): the log reads no clock.
//!
//! The public types serialize to JSON (serde) for the admin API. A non-finite number in
//! [`Inputs`] (a threshold of an empty tier can be infinite) is written by `serde_json` as
//! `null`, which does not parse back into an `f64`: readers of the JSON should treat `null`
//! as "no threshold". The stored (postcard) form keeps such numbers exactly.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use stratum_core::{BucketName, ObjectKey, Tier};
use stratum_metadata::{DecisionRow, MetaError, MetadataStore};

use crate::policy::{Decision, Inputs};

/// Default number of newest ids kept in the store.
pub const KEEP_DEFAULT: usize = 100_000;

/// Default cap on entries waiting for a flush.
pub const BUFFER_MAX_DEFAULT: usize = 65_536;

/// Most entries one `put_decisions` batch holds: a flush with more buffered writes several.
/// Each batch is one sled commit, during which the store commits nothing else; 4096 rows
/// keep that to milliseconds while a normal flush (seconds of decisions) stays one batch.
pub const BATCH_MAX: usize = 4096;

/// Most entries one query returns, whatever limit it asks for.
pub const QUERY_LIMIT_MAX: usize = 10_000;

/// Stored rows read per store call while scanning the log.
const SCAN_PAGE: usize = 1024;

/// The leading byte of every stored entry written by this version.
pub const ENCODING_V1: u8 = 1;

/// How a decision ended, as far as the log knows when the entry is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Decided; the mover has not acted on it yet (or a placement that needs no action).
    Planned,
    /// The mover carried it out.
    Done {
        /// Bytes the move copied.
        bytes: u64,
    },
    /// The mover tried and failed.
    Failed {
        /// What went wrong.
        error: String,
    },
    /// The mover did not act on it.
    Skipped {
        /// Why not (e.g. the object changed since the decision).
        why: String,
    },
}

/// One recorded decision: what was decided about which object version, why, on which
/// numbers, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionEntry {
    /// When the decision was made (or its outcome known), milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The object's bucket.
    pub bucket: BucketName,
    /// The object's key.
    pub key: ObjectKey,
    /// The tier it was in; `None` for the placement of a new version.
    pub from: Option<Tier>,
    /// The tier it goes to.
    pub to: Tier,
    /// The policy's reason code ([`crate::Reason::as_str`], e.g. `capacity_pressure`).
    pub reason: String,
    /// What the policy compared.
    pub inputs: Inputs,
    /// How it ended.
    pub outcome: Outcome,
    /// The object's size, bytes.
    pub size: u64,
    /// The object version's sequence number.
    pub seq: u64,
}

impl DecisionEntry {
    /// The entry of a policy decision about object version `seq` of `bucket`/`key`.
    pub fn from_decision<K>(
        decision: &Decision<K>,
        bucket: BucketName,
        key: ObjectKey,
        at_ms: i64,
        size: u64,
        seq: u64,
        outcome: Outcome,
    ) -> Self {
        DecisionEntry {
            at_ms,
            bucket,
            key,
            from: decision.from,
            to: decision.to,
            reason: decision.reason.as_str().to_owned(),
            inputs: decision.inputs,
            outcome,
            size,
            seq,
        }
    }
}

/// Which entries a query wants; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecisionFilter {
    /// Only this bucket's objects.
    pub bucket: Option<BucketName>,
    /// Only objects with this key (with `bucket`: one object, read through the store's
    /// per-object index; without it: this key in any bucket, a scan of the log).
    pub key: Option<ObjectKey>,
    /// Only entries with `at_ms >= since_ms`.
    pub since_ms: Option<i64>,
    /// Only entries with `at_ms < until_ms`.
    pub until_ms: Option<i64>,
}

impl DecisionFilter {
    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &DecisionEntry) -> bool {
        self.bucket.as_ref().is_none_or(|b| *b == entry.bucket)
            && self.key.as_ref().is_none_or(|k| *k == entry.key)
            && self.since_ms.is_none_or(|t| entry.at_ms >= t)
            && self.until_ms.is_none_or(|t| entry.at_ms < t)
    }
}

/// Why the log could not read or persist decisions.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The metadata store failed; for a flush, nothing was written and every entry is
    /// still buffered.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// A flush wrote its batch (those entries are stored and no longer buffered), but
    /// trimming the stored log failed; the next flush trims again.
    #[error("{written} decisions written, but trimming the log failed: {source}")]
    Trim {
        /// Entries the flush wrote.
        written: usize,
        /// Why the trim failed.
        #[source]
        source: MetaError,
    },
}

/// Counters of a [`DecisionLog`] since it was opened, for the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogStats {
    /// The id the next recorded entry gets.
    pub next_id: u64,
    /// Entries waiting for a flush.
    pub buffered: usize,
    /// Batches written (one per successful flush with entries).
    pub batches: u64,
    /// Entries written.
    pub written: u64,
    /// Stored entries removed by trimming.
    pub trimmed: u64,
    /// Buffered entries dropped unwritten because the buffer was full.
    pub dropped: u64,
    /// Stored rows that queries skipped because they did not decode.
    pub undecodable: u64,
}

/// The part of the log behind the mutex.
#[derive(Debug)]
struct State {
    next_id: u64,
    /// Entries not yet written, ids ascending.
    buffer: VecDeque<(u64, DecisionEntry)>,
    dropped: u64,
}

/// The decision log: thread-safe, cheap to share (`Arc`); see the module docs.
pub struct DecisionLog {
    store: Arc<dyn MetadataStore>,
    /// Newest ids kept in the store (at least 1).
    keep: u64,
    buffer_max: usize,
    state: Mutex<State>,
    /// Serializes flushes, so that two cannot write (and unbuffer) the same entries.
    flush_lock: Mutex<()>,
    batches: AtomicU64,
    written: AtomicU64,
    trimmed: AtomicU64,
    undecodable: AtomicU64,
}

impl std::fmt::Debug for DecisionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionLog")
            .field("keep", &self.keep)
            .field("buffer_max", &self.buffer_max)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these mutexes pushes or pops whole entries and bumps counters: a
    // panic cannot leave the state half-written, so a poisoned mutex is still good.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DecisionLog {
    /// A log over `store`, keeping the newest `keep` ids stored (at least 1; see
    /// [`KEEP_DEFAULT`]). Ids continue after the store's last one.
    pub fn open(store: Arc<dyn MetadataStore>, keep: usize) -> Result<Self, LogError> {
        let next_id = store
            .last_decision_id()?
            .map_or(1, |last| last.saturating_add(1));
        Ok(DecisionLog {
            store,
            keep: u64::try_from(keep.max(1)).unwrap_or(u64::MAX),
            buffer_max: BUFFER_MAX_DEFAULT,
            state: Mutex::new(State {
                next_id,
                buffer: VecDeque::new(),
                dropped: 0,
            }),
            flush_lock: Mutex::new(()),
            batches: AtomicU64::new(0),
            written: AtomicU64::new(0),
            trimmed: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
        })
    }

    /// The same log with at most `buffer_max` (at least 1) entries waiting for a flush.
    pub fn with_buffer_max(mut self, buffer_max: usize) -> Self {
        self.buffer_max = buffer_max.max(1);
        self
    }

    /// Records a decision in memory and returns its id. Never touches the store.
    pub fn record(&self, entry: DecisionEntry) -> u64 {
        let mut s = lock(&self.state);
        let id = s.next_id;
        s.next_id = id.saturating_add(1);
        s.buffer.push_back((id, entry));
        while s.buffer.len() > self.buffer_max {
            s.buffer.pop_front();
            s.dropped += 1;
        }
        id
    }

    /// Writes every entry buffered when it starts, then trims the store to the newest
    /// `keep` ids (once); returns how many entries were written. The entries go as ONE
    /// [`MetadataStore::put_decisions`] batch unless more than [`BATCH_MAX`] are buffered
    /// (a backlog after the store failed for a while), which go as several batches of at
    /// most `BATCH_MAX`, so that no single commit holds the store for long.
    ///
    /// On a write error ([`LogError::Meta`]) the failed batch and every entry after it stay
    /// buffered for the next flush (earlier batches of the same flush were written); on a
    /// trim error ([`LogError::Trim`]) every entry was written.
    pub fn flush(&self) -> Result<usize, LogError> {
        let _flushing = lock(&self.flush_lock);
        // Entries recorded while this flush runs wait for the next one.
        let Some(end) = lock(&self.state).buffer.back().map(|(id, _)| *id) else {
            return Ok(0);
        };
        let mut written = 0;
        let mut last = 0;
        loop {
            let rows: Vec<DecisionRow> = lock(&self.state)
                .buffer
                .iter()
                .take_while(|(id, _)| *id <= end)
                .take(BATCH_MAX)
                .map(|(id, e)| DecisionRow {
                    id: *id,
                    bucket: e.bucket.clone(),
                    key: e.key.clone(),
                    bytes: encode(e),
                })
                .collect();
            let Some(batch_last) = rows.last().map(|r| r.id) else {
                break;
            };
            // Written before it is unbuffered: a query in between finds the entries in one
            // place or both, never in neither.
            self.store.put_decisions(&rows)?;
            {
                let mut s = lock(&self.state);
                // Entries recorded meanwhile have higher ids and stay; the full buffer may
                // have dropped some of the written ones already.
                while s.buffer.front().is_some_and(|(id, _)| *id <= batch_last) {
                    s.buffer.pop_front();
                }
            }
            self.batches.fetch_add(1, Ordering::Relaxed);
            self.written.fetch_add(rows.len() as u64, Ordering::Relaxed);
            written += rows.len();
            last = batch_last;
            if rows.len() < BATCH_MAX {
                break;
            }
        }
        let keep_from = last.saturating_add(1).saturating_sub(self.keep);
        if written > 0 && keep_from > 0 {
            match self.store.trim_decisions(keep_from) {
                Ok(n) => {
                    self.trimmed.fetch_add(n, Ordering::Relaxed);
                }
                Err(source) => return Err(LogError::Trim { written, source }),
            }
        }
        Ok(written)
    }

    /// The newest entries passing `filter`, buffered and stored, newest (highest id) first,
    /// at most `limit` (and at most [`QUERY_LIMIT_MAX`]). Scans the stored log newest first
    /// until `limit` entries match, so a filter that matches little reads up to the whole
    /// stored log (at most `keep` rows); with both `bucket` and `key` set it reads only the
    /// object's rows, through the store's per-object index.
    pub fn recent(
        &self,
        filter: &DecisionFilter,
        limit: usize,
    ) -> Result<Vec<(u64, DecisionEntry)>, LogError> {
        let limit = limit.min(QUERY_LIMIT_MAX);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The buffer first (module docs). The newest `limit` of each source hold the newest
        // `limit` of both; an entry in both (mid-flush) is the same entry under one id.
        let mut found: BTreeMap<u64, DecisionEntry> = lock(&self.state)
            .buffer
            .iter()
            .rev()
            .filter(|(_, e)| filter.matches(e))
            .take(limit)
            .map(|(id, e)| (*id, e.clone()))
            .collect();
        let stored = match (&filter.bucket, &filter.key) {
            (Some(bucket), Some(key)) => self.stored_for_object(bucket, key, filter, limit)?,
            _ => self.stored_scan(filter, limit)?,
        };
        found.extend(stored);
        Ok(found.into_iter().rev().take(limit).collect())
    }

    /// The object's newest entries, buffered and stored, newest first, at most `limit`:
    /// what `tier explain` shows.
    pub fn for_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<(u64, DecisionEntry)>, LogError> {
        let filter = DecisionFilter {
            bucket: Some(bucket.clone()),
            key: Some(key.clone()),
            ..DecisionFilter::default()
        };
        self.recent(&filter, limit)
    }

    /// Counters since open, and the buffer's state now.
    pub fn stats(&self) -> LogStats {
        let (next_id, buffered, dropped) = {
            let s = lock(&self.state);
            (s.next_id, s.buffer.len(), s.dropped)
        };
        LogStats {
            next_id,
            buffered,
            batches: self.batches.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            trimmed: self.trimmed.load(Ordering::Relaxed),
            dropped,
            undecodable: self.undecodable.load(Ordering::Relaxed),
        }
    }

    /// Decodes a stored row, counting (and skipping) one that does not decode.
    fn decode_counted(&self, bytes: &[u8]) -> Option<DecisionEntry> {
        let entry = decode(bytes).ok();
        if entry.is_none() {
            self.undecodable.fetch_add(1, Ordering::Relaxed);
        }
        entry
    }

    /// The newest `limit` stored entries passing `filter`, paging newest first.
    fn stored_scan(
        &self,
        filter: &DecisionFilter,
        limit: usize,
    ) -> Result<Vec<(u64, DecisionEntry)>, LogError> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self.store.scan_decisions_rev(before, SCAN_PAGE)?;
            for (id, bytes) in &page {
                let Some(entry) = self.decode_counted(bytes) else {
                    continue;
                };
                if filter.matches(&entry) {
                    out.push((*id, entry));
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            match page.last() {
                Some((oldest, _)) if page.len() == SCAN_PAGE => before = Some(*oldest),
                _ => return Ok(out),
            }
        }
    }

    /// The newest `limit` stored entries of one object passing `filter`. The index read has
    /// only a limit, so when the time bounds or undecodable rows leave too few, it reads
    /// again with twice the limit, until enough match or the object's rows run out.
    fn stored_for_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        filter: &DecisionFilter,
        limit: usize,
    ) -> Result<Vec<(u64, DecisionEntry)>, LogError> {
        let mut want = limit;
        loop {
            let rows = self.store.object_decisions(bucket, key, want)?;
            let exhausted = rows.len() < want;
            let mut undecodable = 0;
            let mut out = Vec::new();
            for (id, bytes) in &rows {
                match decode(bytes) {
                    Ok(entry) if filter.matches(&entry) => out.push((*id, entry)),
                    Ok(_) => {}
                    Err(_) => undecodable += 1,
                }
                if out.len() >= limit {
                    break;
                }
            }
            if out.len() >= limit || exhausted {
                // Counted once, for the rows of the read that answered.
                self.undecodable.fetch_add(undecodable, Ordering::Relaxed);
                return Ok(out);
            }
            want = want.saturating_mul(2);
        }
    }
}

/// The stored form of [`DecisionEntry`] after the [`ENCODING_V1`] byte (postcard).
#[derive(Debug, Serialize, Deserialize)]
struct StoredV1 {
    at_ms: i64,
    bucket: String,
    key: String,
    from: Option<Tier>,
    to: Tier,
    reason: String,
    score: f64,
    threshold: f64,
    rate_per_day: f64,
    spike_per_day: f64,
    cost_per_day: [f64; 3],
    fill: f64,
    outcome: StoredOutcomeV1,
    size: u64,
    seq: u64,
}

/// The stored form of [`Outcome`] (postcard numbers variants in order: only append).
#[derive(Debug, Serialize, Deserialize)]
enum StoredOutcomeV1 {
    Planned,
    Done(u64),
    Failed(String),
    Skipped(String),
}

/// Encodes an entry as stored: [`ENCODING_V1`], then postcard.
fn encode(e: &DecisionEntry) -> Vec<u8> {
    let stored = StoredV1 {
        at_ms: e.at_ms,
        bucket: e.bucket.as_str().to_owned(),
        key: e.key.as_str().to_owned(),
        from: e.from,
        to: e.to,
        reason: e.reason.clone(),
        score: e.inputs.score,
        threshold: e.inputs.threshold,
        rate_per_day: e.inputs.rate_per_day,
        spike_per_day: e.inputs.spike_per_day,
        cost_per_day: e.inputs.cost_per_day,
        fill: e.inputs.fill,
        outcome: match &e.outcome {
            Outcome::Planned => StoredOutcomeV1::Planned,
            Outcome::Done { bytes } => StoredOutcomeV1::Done(*bytes),
            Outcome::Failed { error } => StoredOutcomeV1::Failed(error.clone()),
            Outcome::Skipped { why } => StoredOutcomeV1::Skipped(why.clone()),
        },
        size: e.size,
        seq: e.seq,
    };
    let mut out = vec![ENCODING_V1];
    // Serializing numbers, strings and plain enums into a Vec cannot fail.
    out.extend(postcard::to_allocvec(&stored).unwrap_or_default());
    out
}

/// Decodes an entry stored by [`encode`]; the error says what was wrong.
fn decode(bytes: &[u8]) -> Result<DecisionEntry, String> {
    let body = match bytes.split_first() {
        Some((&ENCODING_V1, body)) => body,
        Some((other, _)) => return Err(format!("unknown decision encoding {other}")),
        None => return Err("empty decision row".to_owned()),
    };
    let s: StoredV1 = postcard::from_bytes(body).map_err(|e| e.to_string())?;
    Ok(DecisionEntry {
        at_ms: s.at_ms,
        bucket: BucketName::new(s.bucket).map_err(|e| e.to_string())?,
        key: ObjectKey::new(s.key).map_err(|e| e.to_string())?,
        from: s.from,
        to: s.to,
        reason: s.reason,
        inputs: Inputs {
            score: s.score,
            threshold: s.threshold,
            rate_per_day: s.rate_per_day,
            spike_per_day: s.spike_per_day,
            cost_per_day: s.cost_per_day,
            fill: s.fill,
        },
        outcome: match s.outcome {
            StoredOutcomeV1::Planned => Outcome::Planned,
            StoredOutcomeV1::Done(bytes) => Outcome::Done { bytes },
            StoredOutcomeV1::Failed(error) => Outcome::Failed { error },
            StoredOutcomeV1::Skipped(why) => Outcome::Skipped { why },
        },
        size: s.size,
        seq: s.seq,
    })
}

#[cfg(test)]
mod tests {
    use std::ops::Bound;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use stratum_core::config::MetadataConfig;
    use stratum_core::{UploadId, VolumeId};
    use stratum_metadata::{
        AccessKeyRecord, BucketRecord, MemoryStore, ObjectRecord, PartRecord, PutCondition,
        PutItem, PutOutcome, SledStore, UploadRecord,
    };

    use super::*;
    use crate::policy::Reason;

    fn bucket(b: &str) -> BucketName {
        BucketName::new(b).unwrap()
    }

    fn key(k: &str) -> ObjectKey {
        ObjectKey::new(k).unwrap()
    }

    fn inputs() -> Inputs {
        Inputs {
            score: 0.0021,
            threshold: 0.014,
            rate_per_day: 0.35,
            spike_per_day: 0.0,
            cost_per_day: [3.0, 1.0, 2.0],
            fill: 0.86,
        }
    }

    fn entry(b: &str, k: &str, at_ms: i64) -> DecisionEntry {
        DecisionEntry {
            at_ms,
            bucket: bucket(b),
            key: key(k),
            from: Some(Tier::Hot),
            to: Tier::Warm,
            reason: Reason::CapacityPressure.as_str().to_owned(),
            inputs: inputs(),
            outcome: Outcome::Planned,
            size: 4096,
            seq: 7,
        }
    }

    fn ids(entries: &[(u64, DecisionEntry)]) -> Vec<u64> {
        entries.iter().map(|(id, _)| *id).collect()
    }

    fn sled_config(dir: &std::path::Path) -> MetadataConfig {
        MetadataConfig {
            path: dir.join("meta"),
            flush: true,
            cache_capacity_bytes: 8 << 20,
        }
    }

    /// A memory store that counts decision batches and fails them (or trims) on demand.
    #[derive(Debug, Default)]
    struct TestStore {
        inner: MemoryStore,
        fail_puts: AtomicBool,
        fail_trims: AtomicBool,
        put_batches: AtomicUsize,
        trims: AtomicUsize,
    }

    fn injected() -> MetaError {
        MetaError::Corrupt {
            tree: "decisions",
            detail: "injected failure".to_owned(),
        }
    }

    impl MetadataStore for TestStore {
        fn put_decisions(&self, rows: &[DecisionRow]) -> Result<(), MetaError> {
            if self.fail_puts.load(Ordering::SeqCst) {
                return Err(injected());
            }
            self.put_batches.fetch_add(1, Ordering::SeqCst);
            self.inner.put_decisions(rows)
        }
        fn trim_decisions(&self, keep_from: u64) -> Result<u64, MetaError> {
            if self.fail_trims.load(Ordering::SeqCst) {
                return Err(injected());
            }
            self.trims.fetch_add(1, Ordering::SeqCst);
            self.inner.trim_decisions(keep_from)
        }
        fn scan_decisions(
            &self,
            after: Option<u64>,
            limit: usize,
        ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
            self.inner.scan_decisions(after, limit)
        }
        fn scan_decisions_rev(
            &self,
            before: Option<u64>,
            limit: usize,
        ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
            self.inner.scan_decisions_rev(before, limit)
        }
        fn last_decision_id(&self) -> Result<Option<u64>, MetaError> {
            self.inner.last_decision_id()
        }
        fn object_decisions(
            &self,
            b: &BucketName,
            k: &ObjectKey,
            limit: usize,
        ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
            self.inner.object_decisions(b, k, limit)
        }
        fn create_bucket(&self, rec: &BucketRecord) -> Result<(), MetaError> {
            self.inner.create_bucket(rec)
        }
        fn get_bucket(&self, name: &BucketName) -> Result<Option<BucketRecord>, MetaError> {
            self.inner.get_bucket(name)
        }
        fn delete_bucket(&self, name: &BucketName) -> Result<(), MetaError> {
            self.inner.delete_bucket(name)
        }
        fn list_buckets(&self) -> Result<Vec<BucketRecord>, MetaError> {
            self.inner.list_buckets()
        }
        fn get_object(
            &self,
            b: &BucketName,
            k: &ObjectKey,
        ) -> Result<Option<ObjectRecord>, MetaError> {
            self.inner.get_object(b, k)
        }
        fn put_object(
            &self,
            b: &BucketName,
            k: &ObjectKey,
            rec: &ObjectRecord,
            cond: &PutCondition,
        ) -> Result<PutOutcome, MetaError> {
            self.inner.put_object(b, k, rec, cond)
        }
        fn put_objects(
            &self,
            items: &[PutItem],
        ) -> Result<Vec<Result<PutOutcome, MetaError>>, MetaError> {
            self.inner.put_objects(items)
        }
        fn delete_object_before(
            &self,
            b: &BucketName,
            k: &ObjectKey,
            seq: u64,
            cond: &PutCondition,
        ) -> Result<Option<ObjectRecord>, MetaError> {
            self.inner.delete_object_before(b, k, seq, cond)
        }
        fn replace_object_if_seq(
            &self,
            b: &BucketName,
            k: &ObjectKey,
            seq: u64,
            rec: &ObjectRecord,
        ) -> Result<bool, MetaError> {
            self.inner.replace_object_if_seq(b, k, seq, rec)
        }
        fn scan_objects(
            &self,
            b: &BucketName,
            start: Bound<&str>,
            limit: usize,
        ) -> Result<Vec<(ObjectKey, ObjectRecord)>, MetaError> {
            self.inner.scan_objects(b, start, limit)
        }
        fn create_upload(&self, rec: &UploadRecord) -> Result<(), MetaError> {
            self.inner.create_upload(rec)
        }
        fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, MetaError> {
            self.inner.get_upload(id)
        }
        fn list_uploads(
            &self,
            b: &BucketName,
            after: Option<(&str, &str)>,
            limit: usize,
        ) -> Result<Vec<UploadRecord>, MetaError> {
            self.inner.list_uploads(b, after, limit)
        }
        fn put_part(&self, id: &UploadId, p: &PartRecord) -> Result<Option<PartRecord>, MetaError> {
            self.inner.put_part(id, p)
        }
        fn list_parts(
            &self,
            id: &UploadId,
            after: u32,
            limit: usize,
        ) -> Result<Vec<PartRecord>, MetaError> {
            self.inner.list_parts(id, after, limit)
        }
        fn complete_upload(
            &self,
            id: &UploadId,
            rec: &ObjectRecord,
            cond: &PutCondition,
        ) -> Result<(PutOutcome, Vec<PartRecord>), MetaError> {
            self.inner.complete_upload(id, rec, cond)
        }
        fn abort_upload(&self, id: &UploadId) -> Result<Vec<PartRecord>, MetaError> {
            self.inner.abort_upload(id)
        }
        fn volume_live_bytes(&self, id: VolumeId) -> Result<u64, MetaError> {
            self.inner.volume_live_bytes(id)
        }
        fn all_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
            self.inner.all_volume_live_bytes()
        }
        fn recompute_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
            self.inner.recompute_volume_live_bytes()
        }
        fn next_seq(&self) -> Result<u64, MetaError> {
            self.inner.next_seq()
        }
        fn raise_seq_floor(&self, floor: u64) -> Result<(), MetaError> {
            self.inner.raise_seq_floor(floor)
        }
        fn put_access_key(&self, rec: &AccessKeyRecord) -> Result<(), MetaError> {
            self.inner.put_access_key(rec)
        }
        fn get_access_key(&self, ak: &str) -> Result<Option<AccessKeyRecord>, MetaError> {
            self.inner.get_access_key(ak)
        }
        fn delete_access_key(&self, ak: &str) -> Result<bool, MetaError> {
            self.inner.delete_access_key(ak)
        }
        fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, MetaError> {
            self.inner.list_access_keys()
        }
        fn put_access_batch(
            &self,
            entries: &[(BucketName, ObjectKey, Vec<u8>)],
        ) -> Result<(), MetaError> {
            self.inner.put_access_batch(entries)
        }
        fn get_access(&self, b: &BucketName, k: &ObjectKey) -> Result<Option<Vec<u8>>, MetaError> {
            self.inner.get_access(b, k)
        }
        fn scan_access(
            &self,
            after: Option<(&BucketName, &ObjectKey)>,
            limit: usize,
        ) -> Result<Vec<(BucketName, ObjectKey, Vec<u8>)>, MetaError> {
            self.inner.scan_access(after, limit)
        }
        fn delete_access(&self, b: &BucketName, k: &ObjectKey) -> Result<bool, MetaError> {
            self.inner.delete_access(b, k)
        }
        fn clear_index(&self) -> Result<(), MetaError> {
            self.inner.clear_index()
        }
        fn flush(&self) -> Result<(), MetaError> {
            self.inner.flush()
        }
    }

    fn test_log(keep: usize) -> (Arc<TestStore>, DecisionLog) {
        let store = Arc::new(TestStore::default());
        let log = DecisionLog::open(store.clone(), keep).unwrap();
        (store, log)
    }

    #[test]
    fn ids_continue_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = sled_config(dir.path());
        {
            let store = Arc::new(SledStore::open(&cfg).unwrap());
            let log = DecisionLog::open(store, KEEP_DEFAULT).unwrap();
            assert_eq!(log.record(entry("bkt", "a", 1)), 1);
            assert_eq!(log.record(entry("bkt", "b", 2)), 2);
            assert_eq!(log.flush().unwrap(), 2);
            // Never flushed: lost with the process, and its id is handed out again.
            assert_eq!(log.record(entry("bkt", "c", 3)), 3);
        }
        let store = Arc::new(SledStore::open(&cfg).unwrap());
        let log = DecisionLog::open(store, KEEP_DEFAULT).unwrap();
        assert_eq!(log.stats().next_id, 3);
        assert_eq!(log.record(entry("bkt", "d", 4)), 3);
        log.flush().unwrap();
        let all = log.recent(&DecisionFilter::default(), 10).unwrap();
        assert_eq!(ids(&all), [3, 2, 1]);
        assert_eq!(all[0].1, entry("bkt", "d", 4));
        assert_eq!(all[2].1, entry("bkt", "a", 1));
    }

    #[test]
    fn ids_continue_after_everything_was_trimmed() {
        let (store, log) = test_log(1);
        for t in 0..5 {
            log.record(entry("bkt", "a", t));
        }
        log.flush().unwrap();
        store.inner.trim_decisions(u64::MAX).unwrap();
        let log = DecisionLog::open(store, 1).unwrap();
        assert_eq!(log.record(entry("bkt", "a", 9)), 6);
    }

    #[test]
    fn recent_filters_by_bucket_time_and_key_over_buffered_and_stored() {
        let (_store, log) = test_log(KEEP_DEFAULT);
        // Stored: ids 1-4; buffered: ids 5-6.
        log.record(entry("logs", "a", 100));
        log.record(entry("media", "a", 200));
        log.record(entry("logs", "b", 300));
        log.record(entry("logs", "a", 400));
        log.flush().unwrap();
        log.record(entry("media", "b", 500));
        log.record(entry("logs", "a", 600));
        assert_eq!(log.stats().buffered, 2);

        let all = log.recent(&DecisionFilter::default(), 100).unwrap();
        assert_eq!(ids(&all), [6, 5, 4, 3, 2, 1]);
        assert_eq!(
            ids(&log.recent(&DecisionFilter::default(), 3).unwrap()),
            [6, 5, 4]
        );

        let logs = DecisionFilter {
            bucket: Some(bucket("logs")),
            ..DecisionFilter::default()
        };
        assert_eq!(ids(&log.recent(&logs, 100).unwrap()), [6, 4, 3, 1]);
        assert_eq!(ids(&log.recent(&logs, 2).unwrap()), [6, 4]);

        let window = DecisionFilter {
            since_ms: Some(200),
            until_ms: Some(500),
            ..DecisionFilter::default()
        };
        assert_eq!(ids(&log.recent(&window, 100).unwrap()), [4, 3, 2]);
        let logs_window = DecisionFilter {
            bucket: Some(bucket("logs")),
            ..window.clone()
        };
        assert_eq!(ids(&log.recent(&logs_window, 100).unwrap()), [4, 3]);

        // One object, through the store's index, with and without time bounds.
        let object = DecisionFilter {
            bucket: Some(bucket("logs")),
            key: Some(key("a")),
            ..DecisionFilter::default()
        };
        assert_eq!(ids(&log.recent(&object, 100).unwrap()), [6, 4, 1]);
        let object_before = DecisionFilter {
            until_ms: Some(400),
            ..object.clone()
        };
        assert_eq!(ids(&log.recent(&object_before, 1).unwrap()), [1]);
        // A key in any bucket: a scan.
        let any_a = DecisionFilter {
            key: Some(key("a")),
            ..DecisionFilter::default()
        };
        assert_eq!(ids(&log.recent(&any_a, 100).unwrap()), [6, 4, 2, 1]);
        assert!(log.recent(&any_a, 0).unwrap().is_empty());
    }

    #[test]
    fn for_object_is_newest_first_including_buffered() {
        let (_store, log) = test_log(KEEP_DEFAULT);
        for t in 0..5 {
            log.record(entry("bkt", "k", t));
            log.record(entry("bkt", "other", t));
        }
        log.flush().unwrap();
        let mut done = entry("bkt", "k", 9);
        done.outcome = Outcome::Done { bytes: 4096 };
        let id = log.record(done.clone());
        let got = log.for_object(&bucket("bkt"), &key("k"), 3).unwrap();
        assert_eq!(ids(&got), [id, 9, 7]);
        assert_eq!(got[0].1, done);
        assert_eq!(got[1].1, entry("bkt", "k", 4));
        assert!(log
            .for_object(&bucket("bkt"), &key("none"), 3)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn trim_keeps_the_newest() {
        let (store, log) = test_log(5);
        for t in 0..8 {
            log.record(entry("bkt", "k", t));
        }
        assert_eq!(log.flush().unwrap(), 8);
        let stored: Vec<u64> = store
            .scan_decisions(None, 100)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(stored, [4, 5, 6, 7, 8]);
        let explained = log.for_object(&bucket("bkt"), &key("k"), 100).unwrap();
        assert_eq!(ids(&explained), [8, 7, 6, 5, 4]);
        assert_eq!(log.stats().trimmed, 3);
        log.record(entry("bkt", "k", 9));
        log.flush().unwrap();
        assert_eq!(store.scan_decisions(None, 100).unwrap().len(), 5);
        assert_eq!(store.scan_decisions(None, 1).unwrap()[0].0, 5);
        assert_eq!(store.trims.load(Ordering::SeqCst), 2, "one trim per flush");
    }

    #[test]
    fn flush_failure_keeps_entries_buffered_and_visible() {
        let (store, log) = test_log(KEEP_DEFAULT);
        log.record(entry("bkt", "a", 1));
        log.record(entry("bkt", "b", 2));
        store.fail_puts.store(true, Ordering::SeqCst);
        assert!(matches!(log.flush(), Err(LogError::Meta(_))));
        assert_eq!(log.stats().buffered, 2);
        assert_eq!(log.stats().written, 0);
        assert_eq!(
            ids(&log.recent(&DecisionFilter::default(), 10).unwrap()),
            [2, 1]
        );
        log.record(entry("bkt", "c", 3));
        store.fail_puts.store(false, Ordering::SeqCst);
        assert_eq!(log.flush().unwrap(), 3);
        assert_eq!(log.stats().buffered, 0);
        assert_eq!(store.scan_decisions(None, 10).unwrap().len(), 3);
        assert_eq!(log.flush().unwrap(), 0, "nothing left to write");
    }

    #[test]
    fn trim_failure_still_writes_the_batch_once() {
        let (store, log) = test_log(1);
        log.record(entry("bkt", "a", 1));
        log.record(entry("bkt", "b", 2));
        store.fail_trims.store(true, Ordering::SeqCst);
        assert!(matches!(
            log.flush(),
            Err(LogError::Trim { written: 2, .. })
        ));
        assert_eq!(log.stats().buffered, 0);
        assert_eq!(store.scan_decisions(None, 10).unwrap().len(), 2);
        store.fail_trims.store(false, Ordering::SeqCst);
        log.record(entry("bkt", "c", 3));
        assert_eq!(log.flush().unwrap(), 1);
        let stored = store.scan_decisions(None, 10).unwrap();
        assert_eq!(
            stored.len(),
            1,
            "the next flush trims what the failed one left"
        );
        assert_eq!(stored[0].0, 3);
    }

    #[test]
    fn one_flush_is_one_batch() {
        let (store, log) = test_log(KEEP_DEFAULT);
        for t in 0..500 {
            log.record(entry("bkt", &format!("k{}", t % 17), t));
        }
        assert_eq!(log.flush().unwrap(), 500);
        assert_eq!(store.put_batches.load(Ordering::SeqCst), 1);
        assert_eq!(log.stats().batches, 1);
        // An empty flush writes nothing at all.
        assert_eq!(log.flush().unwrap(), 0);
        assert_eq!(store.put_batches.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_backlog_goes_in_bounded_batches_and_a_failure_keeps_the_rest() {
        let (store, log) = test_log(KEEP_DEFAULT);
        for t in 0..(2 * BATCH_MAX + 1) {
            log.record(entry("bkt", "k", t as i64));
        }
        assert_eq!(log.flush().unwrap(), 2 * BATCH_MAX + 1);
        assert_eq!(store.put_batches.load(Ordering::SeqCst), 3);
        assert_eq!(store.trims.load(Ordering::SeqCst), 0, "nothing to trim yet");
        assert_eq!(log.stats().buffered, 0);
        let stored = store.scan_decisions(None, 3 * BATCH_MAX).unwrap();
        assert_eq!(stored.len(), 2 * BATCH_MAX + 1);
        store.fail_puts.store(true, Ordering::SeqCst);
        log.record(entry("bkt", "k", 0));
        assert!(matches!(log.flush(), Err(LogError::Meta(_))));
        assert_eq!(log.stats().buffered, 1);
    }

    #[test]
    fn one_flush_is_one_sled_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(&sled_config(dir.path())).unwrap());
        let log = DecisionLog::open(store.clone(), KEEP_DEFAULT).unwrap();
        for t in 0..200 {
            log.record(entry("bkt", &format!("k{t}"), t));
        }
        let before = store.commit_stats();
        log.flush().unwrap();
        let after = store.commit_stats();
        assert_eq!(after.commits - before.commits, 1);
        assert_eq!(after.flushes - before.flushes, 1);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_entries() {
        let (store, log) = test_log(KEEP_DEFAULT);
        let log = log.with_buffer_max(3);
        store.fail_puts.store(true, Ordering::SeqCst);
        for t in 0..5 {
            log.record(entry("bkt", "k", t));
        }
        assert!(log.flush().is_err());
        let stats = log.stats();
        assert_eq!((stats.buffered, stats.dropped), (3, 2));
        store.fail_puts.store(false, Ordering::SeqCst);
        assert_eq!(log.flush().unwrap(), 3);
        assert_eq!(
            ids(&log.recent(&DecisionFilter::default(), 10).unwrap()),
            [5, 4, 3]
        );
    }

    #[test]
    fn undecodable_rows_are_skipped_and_counted() {
        let (store, log) = test_log(KEEP_DEFAULT);
        log.record(entry("bkt", "k", 1));
        log.flush().unwrap();
        let raw = |id, bytes: Vec<u8>| DecisionRow {
            id,
            bucket: bucket("bkt"),
            key: key("k"),
            bytes,
        };
        let mut future = encode(&entry("bkt", "k", 2));
        future[0] = ENCODING_V1 + 1;
        store
            .put_decisions(&[
                raw(2, vec![ENCODING_V1, 0xff]),
                raw(3, future),
                raw(4, vec![]),
            ])
            .unwrap();
        let log = DecisionLog::open(store, KEEP_DEFAULT).unwrap();
        log.record(entry("bkt", "k", 5));
        let all = log.recent(&DecisionFilter::default(), 10).unwrap();
        assert_eq!(ids(&all), [5, 1]);
        assert_eq!(log.stats().undecodable, 3);
        let explained = log.for_object(&bucket("bkt"), &key("k"), 2).unwrap();
        assert_eq!(ids(&explained), [5, 1]);
        assert_eq!(log.stats().undecodable, 6);
    }

    #[test]
    fn entries_round_trip_through_the_stored_encoding() {
        let mut e = entry("bkt", "a/b\u{0}c", -5);
        e.from = None;
        e.inputs.threshold = f64::INFINITY;
        for outcome in [
            Outcome::Planned,
            Outcome::Done { bytes: 1 << 40 },
            Outcome::Failed {
                error: "disk full".to_owned(),
            },
            Outcome::Skipped {
                why: "object changed".to_owned(),
            },
        ] {
            e.outcome = outcome;
            let bytes = encode(&e);
            assert_eq!(bytes[0], ENCODING_V1);
            assert_eq!(decode(&bytes).unwrap(), e);
        }
    }

    #[test]
    fn entries_and_filters_serialize_to_json_for_the_admin_api() {
        let mut e = entry("bkt", "k", 42);
        e.outcome = Outcome::Done { bytes: 10 };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["bucket"], "bkt");
        assert_eq!(json["from"], "hot");
        assert_eq!(json["to"], "warm");
        assert_eq!(json["reason"], "capacity_pressure");
        assert_eq!(json["inputs"]["fill"], 0.86);
        assert_eq!(
            json["outcome"],
            serde_json::json!({"kind": "done", "bytes": 10})
        );
        let back: DecisionEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
        let f: DecisionFilter = serde_json::from_str(r#"{"bucket":"bkt","since_ms":5}"#).unwrap();
        assert_eq!(f.bucket, Some(bucket("bkt")));
        assert_eq!((f.key, f.since_ms, f.until_ms), (None, Some(5), None));
        assert!(serde_json::from_str::<DecisionFilter>(r#"{"bukket":"x"}"#).is_err());
    }

    #[test]
    fn from_decision_copies_the_policy_fields() {
        let d = Decision {
            object: (),
            from: None,
            to: Tier::Cold,
            reason: Reason::Placement,
            inputs: inputs(),
        };
        let e =
            DecisionEntry::from_decision(&d, bucket("bkt"), key("k"), 7, 100, 3, Outcome::Planned);
        assert_eq!(
            (e.from, e.to, e.reason.as_str()),
            (None, Tier::Cold, "placement")
        );
        assert_eq!((e.at_ms, e.size, e.seq), (7, 100, 3));
        assert_eq!(e.inputs, inputs());
    }

    #[test]
    fn concurrent_records_and_flushes_lose_nothing() {
        let (store, log) = test_log(KEEP_DEFAULT);
        let log = Arc::new(log);
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for t in 0..250 {
                        log.record(entry("bkt", &format!("w{w}"), t));
                        if t % 50 == 0 {
                            log.flush().unwrap();
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        log.flush().unwrap();
        let stored = store.scan_decisions(None, 10_000).unwrap();
        let stored_ids: Vec<u64> = stored.iter().map(|(id, _)| *id).collect();
        assert_eq!(stored_ids, (1..=1000).collect::<Vec<u64>>());
        assert_eq!(
            log.recent(&DecisionFilter::default(), 10_000)
                .unwrap()
                .len(),
            1000
        );
    }
}
