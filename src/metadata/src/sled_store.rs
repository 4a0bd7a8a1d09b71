//! [`SledStore`]: the metadata store in sled trees, with group commit.
//!
//! Trees (key layouts in [`crate::keys`]): `buckets`, `objects`, `uploads`,
//! `uploads_by_key` (the index `list_uploads` walks), `parts`, `volumes` (live bytes),
//! `access_keys`, `access` (per-object access statistics, opaque bytes), `decisions` (the
//! tiering decision log: opaque rows by id), `decisions_by_object` (its per-object index),
//! and `meta` (the store format byte, the sequence offset, the highest decision id).
//!
//! Atomicity: every step that touches more than one tree is one multi-tree sled transaction.
//! sled transactions cannot scan, so the few steps whose correctness rests on a scan agreeing
//! with the transaction that follows serialize against the writers that could change what the
//! scan saw: `complete_upload` and `abort_upload` against `put_part` of the same upload (a
//! striped per-upload mutex), `delete_bucket`, `recompute_volume_live_bytes` and
//! `clear_index` against every index writer (the `gate`, taken exclusively by them and
//! shared by everyone else). No lock is held while waiting for a flush.
//!
//! Durability (group commit): sled makes writes durable only at `Db::flush`. With
//! `MetadataConfig::flush`, each committer takes a ticket after its transaction commits. If a
//! flush that began after its commit has already covered its ticket, it returns at once; if a
//! flush is under way, it waits for it and looks again; otherwise it leads one flush on behalf
//! of every commit so far. Concurrent committers therefore share flushes instead of queueing
//! one each. sled's flush blocks transactions while it runs (see the crate docs for the
//! measurement), so a leader first waits up to `COMMIT_DELAY_MAX` for calls already in flight.
//!
//! Batches: `put_objects` (and `put_object`, a batch of one) is one transaction over the
//! buckets, objects and volumes trees and one ticket, so a batch costs one commit and one
//! share of a flush however many puts it holds. Items run in order inside the transaction
//! closure; each reads the transaction's own earlier writes, a failed item is a result rather
//! than an abort, and the batch's live-bytes changes are summed and applied once.
//!
//! Decisions: `put_decisions` is one transaction over `decisions`, `decisions_by_object` and
//! `meta` (the highest id) and one ticket, like an access batch. `trim_decisions` removes
//! rows and their index entries in transactions of at most `TRIM_CHUNK` rows (a tree can be
//! too large for one), then takes one ticket: a crash midway leaves a shorter log, which is
//! still a valid one. Readers go from the index to the rows without a transaction, so
//! `object_decisions` skips an index entry whose row a concurrent trim or replacement took.
//!
//! Sequence numbers: `next_seq` is `offset + Db::generate_id() + 1`. sled persists the id
//! generator across restarts (jumping ahead on recovery), and `offset` lives in `meta`, raised
//! (and flushed) by `raise_seq_floor`, so sequence numbers only ever grow.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{
    Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use std::time::{Duration, Instant};

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError, Transactional,
    TransactionalTree,
};
use sled::{IVec, Tree};
use stratum_core::config::MetadataConfig;
use stratum_core::{BucketName, ObjectKey, UploadId, VolumeId};

use crate::keys;
use crate::live::{self, LiveDelta};
use crate::records::{
    self, AccessKeyRecord, BucketRecord, DecisionRow, ObjectRecord, PartRecord, UploadRecord,
    FORMAT_VERSION,
};
use crate::{BatchResults, MetaError, MetadataStore, PutCondition, PutItem, PutOutcome, PutRef};

const BUCKETS: &str = "buckets";
const OBJECTS: &str = "objects";
const UPLOADS: &str = "uploads";
const UPLOADS_BY_KEY: &str = "uploads_by_key";
const PARTS: &str = "parts";
const VOLUMES: &str = "volumes";
const ACCESS_KEYS: &str = "access_keys";
const ACCESS: &str = "access";
const DECISIONS: &str = "decisions";
const DECISIONS_BY_OBJECT: &str = "decisions_by_object";
const META: &str = "meta";

/// `meta` key of the store's format byte, written on first open and checked on every open.
const META_FORMAT: &[u8] = b"format";
/// `meta` key of the sequence offset (u64 big-endian).
const META_SEQ_OFFSET: &[u8] = b"seq_offset";
/// `meta` key of the highest decision id ever stored (u64 big-endian).
const META_DECISIONS_LAST: &[u8] = b"decisions_last";

/// Most decision rows one trim transaction removes.
const TRIM_CHUNK: usize = 4096;

/// Stripes of the per-upload mutex: uploads hashing to one stripe serialize their part
/// writes against each other's completion, which costs little at this width.
const UPLOAD_LOCK_STRIPES: usize = 64;

type Tx<T> = ConflictableTransactionResult<T, MetaError>;

/// Group-commit counters of a [`SledStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Mutating calls committed (a `put_objects` batch counts once).
    pub commits: u64,
    /// `Db::flush` calls made on their behalf (none with `flush` off).
    pub flushes: u64,
}

/// The metadata store in a sled database.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
    buckets: Tree,
    objects: Tree,
    uploads: Tree,
    uploads_by_key: Tree,
    parts: Tree,
    volumes: Tree,
    access_keys: Tree,
    /// Per-object access statistics, keyed `bucket 0x00 key`.
    access: Tree,
    /// Decision-log rows by id.
    decisions: Tree,
    /// The per-object index of `decisions`.
    decisions_by_object: Tree,
    meta: Tree,
    /// Flush after every mutating call (group-committed).
    flush_each: bool,
    /// Commits so far; a committer's ticket is this value just after its commit.
    committed: AtomicU64,
    /// The highest ticket known durable, and whether a flush is under way.
    flush_state: Mutex<FlushState>,
    /// Signalled when a flush ends.
    flush_done: Condvar,
    /// Mutating calls started and not yet committed or failed.
    in_flight: AtomicU64,
    /// `Db::flush` calls made for commits (each may cover many commits).
    flushes: AtomicU64,
    /// Shared by index writers, exclusive for the steps that scan then write (module docs).
    gate: RwLock<()>,
    /// Per-upload mutex stripes (module docs).
    upload_locks: Vec<Mutex<()>>,
    /// Added to sled's generated id to make a sequence number; guards `next_seq` so numbers
    /// are handed out in order.
    seq_offset: Mutex<u64>,
}

/// Longest a flush leader waits for in-flight calls to commit before flushing.
const COMMIT_DELAY_MAX: Duration = Duration::from_micros(200);

/// A mutating call between its start and its commit (see `SledStore::begin`).
#[derive(Debug)]
struct Pending<'a>(&'a AtomicU64);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Group-commit bookkeeping, under `SledStore::flush_state`.
#[derive(Debug, Default)]
struct FlushState {
    /// Every commit with a ticket up to this is durable.
    flushed: u64,
    /// A committer is inside `Db::flush` on behalf of the others.
    flushing: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The mutexes guard no state that a panic could leave half-written (the offset is
    // written after it is made durable), so a poisoned one is still good.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn tx<T>(r: Result<T, MetaError>) -> Tx<T> {
    r.map_err(ConflictableTransactionError::Abort)
}

fn from_tx(e: TransactionError<MetaError>) -> MetaError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

fn decode_opt<T: DeserializeOwned>(
    tree: &'static str,
    v: Option<IVec>,
) -> Result<Option<T>, MetaError> {
    v.map(|v| records::decode(tree, &v)).transpose()
}

fn tx_get<T: DeserializeOwned>(
    t: &TransactionalTree,
    tree: &'static str,
    key: &[u8],
) -> Tx<Option<T>> {
    let v = t.get(key)?;
    tx(decode_opt(tree, v))
}

fn tx_put<T: Serialize>(t: &TransactionalTree, tree: &'static str, key: &[u8], rec: &T) -> Tx<()> {
    let bytes = tx(records::encode(tree, rec))?;
    t.insert(key, bytes)?;
    Ok(())
}

/// Applies the live-byte changes of one step inside its transaction.
fn tx_apply(volumes: &TransactionalTree, delta: &LiveDelta) -> Tx<()> {
    for (vol, d) in delta.changes() {
        let k = keys::volume(vol);
        let old = match volumes.get(k)? {
            Some(v) => tx(keys::read_u64(VOLUMES, &v))?,
            None => 0,
        };
        match live::apply(vol, old, d) {
            0 => {
                volumes.remove(&k[..])?;
            }
            new => {
                volumes.insert(&k[..], &new.to_be_bytes()[..])?;
            }
        }
    }
    Ok(())
}

/// One put (of `put_object`, `put_objects` or `complete_upload`) inside their transaction.
///
/// The outer result is the transaction's own (a conflict, a storage failure); the inner one
/// is the item's: `NoSuchBucket`, `PreconditionFailed` or a `Corrupt` current record. An item
/// that fails writes nothing and adds nothing to `delta`, so a batch can carry on past it.
fn tx_put_object(
    buckets: &TransactionalTree,
    objects: &TransactionalTree,
    put: PutRef<'_>,
    delta: &mut LiveDelta,
) -> Tx<Result<PutOutcome, MetaError>> {
    if buckets.get(put.bucket.as_str().as_bytes())?.is_none() {
        return Ok(Err(MetaError::NoSuchBucket));
    }
    let k = keys::object(put.bucket, put.key.as_str());
    // Reads this transaction's own earlier writes: a later item on the same key sees them.
    let raw = objects.get(&k)?;
    let PutPlan { bytes, current } = match plan_put(raw, put) {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            return Ok(Ok(PutOutcome {
                applied: false,
                replaced: None,
            }))
        }
        Err(e) => return Ok(Err(e)),
    };
    objects.insert(k, bytes)?;
    delta.add_object(put.record);
    if let Some(cur) = &current {
        delta.sub_object(cur);
    }
    Ok(Ok(PutOutcome {
        applied: true,
        replaced: current,
    }))
}

/// A put that will write: the encoded record, and the record it replaces.
struct PutPlan {
    bytes: Vec<u8>,
    current: Option<ObjectRecord>,
}

/// Decides a put against the key's current value, before anything is written: `None` if a
/// newer write already won (the seq rule). Errors: a corrupt current record, a failed
/// condition, an unencodable record.
fn plan_put(raw: Option<IVec>, put: PutRef<'_>) -> Result<Option<PutPlan>, MetaError> {
    let current: Option<ObjectRecord> = decode_opt(OBJECTS, raw)?;
    put.cond.check(current.as_ref())?;
    if current.as_ref().is_some_and(|c| c.seq > put.record.seq) {
        return Ok(None);
    }
    Ok(Some(PutPlan {
        bytes: records::encode(OBJECTS, put.record)?,
        current,
    }))
}

/// How long `open` waits for a previous handle on the same directory to let go of its lock.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the database, retrying while its file lock is held. sled releases the lock only once
/// its background threads drop their handles, a moment after the last `Db` is dropped, so a
/// restart within one process (tests, an engine reopening its store) can find it still held.
/// The lock failure comes back as an `Io` error of kind `Other` or `WouldBlock`; other errors
/// (permissions, a missing disk) fail at once, and a lock held for good fails after the wait.
fn open_waiting_for_lock(config: &sled::Config) -> Result<sled::Db, MetaError> {
    let deadline = Instant::now() + OPEN_LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Other | std::io::ErrorKind::WouldBlock
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

impl SledStore {
    /// Opens (creating if needed) the store at `config.path`. Refuses a database written in
    /// an unknown store format with [`MetaError::Corrupt`].
    pub fn open(config: &MetadataConfig) -> Result<Self, MetaError> {
        let sled_config = sled::Config::new()
            .path(&config.path)
            .cache_capacity(config.cache_capacity_bytes)
            // Many small writes, each flushed: favour write throughput over disk footprint.
            .mode(sled::Mode::HighThroughput);
        let db = open_waiting_for_lock(&sled_config)?;
        let meta = db.open_tree(META)?;
        match meta.get(META_FORMAT)? {
            None => {
                meta.insert(META_FORMAT, &[FORMAT_VERSION][..])?;
            }
            Some(v) if v.as_ref() == [FORMAT_VERSION] => {}
            Some(v) => {
                return Err(MetaError::Corrupt {
                    tree: META,
                    detail: format!("unknown store format {:?}", v.as_ref()),
                })
            }
        }
        let seq_offset = match meta.get(META_SEQ_OFFSET)? {
            Some(v) => keys::read_u64(META, &v)?,
            None => 0,
        };
        let store = Self {
            buckets: db.open_tree(BUCKETS)?,
            objects: db.open_tree(OBJECTS)?,
            uploads: db.open_tree(UPLOADS)?,
            uploads_by_key: db.open_tree(UPLOADS_BY_KEY)?,
            parts: db.open_tree(PARTS)?,
            volumes: db.open_tree(VOLUMES)?,
            access_keys: db.open_tree(ACCESS_KEYS)?,
            access: db.open_tree(ACCESS)?,
            decisions: db.open_tree(DECISIONS)?,
            decisions_by_object: db.open_tree(DECISIONS_BY_OBJECT)?,
            meta,
            db,
            flush_each: config.flush,
            committed: AtomicU64::new(0),
            flush_state: Mutex::new(FlushState::default()),
            flush_done: Condvar::new(),
            in_flight: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            gate: RwLock::new(()),
            upload_locks: (0..UPLOAD_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            seq_offset: Mutex::new(seq_offset),
        };
        store.db.flush()?;
        Ok(store)
    }

    /// Returns once everything committed before the call is durable, sharing the flush with
    /// concurrent committers (group commit). Call it after the commit, holding no lock.
    /// Marks a mutating call as in flight until it commits (or fails): a flush leader waits
    /// briefly for such calls so that one flush covers them too.
    fn begin(&self) -> Pending<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Pending(&self.in_flight)
    }

    fn durable(&self, pending: Pending<'_>) -> Result<(), MetaError> {
        let ticket = self.committed.fetch_add(1, Ordering::SeqCst) + 1;
        drop(pending);
        if !self.flush_each {
            return Ok(());
        }
        let mut state = lock(&self.flush_state);
        loop {
            if state.flushed >= ticket {
                return Ok(());
            }
            if !state.flushing {
                break;
            }
            // A flush is under way, perhaps begun before our commit: wait for it, then look
            // again.
            state = self
                .flush_done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        // Lead a flush. Every commit with a ticket up to `target` (ours included) finished
        // before this load, so the flush covers all of them. The mutex is not held while
        // flushing: committers arriving meanwhile park on the condvar, and are all woken at
        // once rather than handed the mutex one by one.
        state.flushing = true;
        drop(state);
        // sled's flush excludes transactions for its whole length, so a commit that misses
        // this flush waits for it and then needs another: give calls already on their way a
        // moment to commit first (Postgres's commit_delay). A lone writer never waits.
        let wait_start = Instant::now();
        while self.in_flight.load(Ordering::SeqCst) > 0 && wait_start.elapsed() < COMMIT_DELAY_MAX {
            std::thread::yield_now();
        }
        let target = self.committed.load(Ordering::SeqCst);
        let result = self.db.flush();
        let mut state = lock(&self.flush_state);
        state.flushing = false;
        if result.is_ok() {
            state.flushed = state.flushed.max(target);
            self.flushes.fetch_add(1, Ordering::Relaxed);
        }
        drop(state);
        // On failure too: a waiter then leads the next attempt.
        self.flush_done.notify_all();
        result?;
        Ok(())
    }

    /// Commits and the flushes that made them durable, since open: their ratio is how many
    /// commits a flush covers on average (1 with a single writer, more under concurrency).
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.committed.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
        }
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn upload_lock(&self, id: &UploadId) -> MutexGuard<'_, ()> {
        // FNV-1a: any spread will do, it only picks a stripe.
        let hash = id.0.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let stripe = usize::try_from(hash % UPLOAD_LOCK_STRIPES as u64).unwrap_or(0);
        lock(&self.upload_locks[stripe])
    }

    fn bucket_exists(&self, bucket: &BucketName) -> Result<bool, MetaError> {
        Ok(self.buckets.contains_key(bucket.as_str().as_bytes())?)
    }

    /// The keys of every part of an upload, in part-number order.
    fn part_keys(&self, id: &UploadId) -> Result<Vec<IVec>, MetaError> {
        let prefix = keys::part_prefix(&id.0);
        let mut out = Vec::new();
        for entry in self.parts.scan_prefix(&prefix) {
            let (k, _) = entry?;
            if k.len() == prefix.len() + 4 {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// The batched commit under `put_object` and `put_objects`: `first` then `rest`, in
    /// order, in one transaction over the buckets (read only), objects and volumes trees, then
    /// one group-committed flush. The live-bytes changes of the whole batch are summed and
    /// applied once. sled may run the closure more than once (on a conflict), so every run
    /// starts from a fresh delta and builds its results afresh; per-item errors are results,
    /// never an abort, so they cannot undo the other items.
    fn commit_puts<'a, I>(&self, first: PutRef<'_>, rest: I) -> Result<BatchResults, MetaError>
    where
        I: Iterator<Item = PutRef<'a>> + Clone,
    {
        let pending = self.begin();
        let results = {
            let _g = self.shared();
            (&self.buckets, &self.objects, &self.volumes)
                .transaction(|(b, o, v)| {
                    let mut delta = LiveDelta::new();
                    let first = tx_put_object(b, o, first, &mut delta)?;
                    let rest = rest
                        .clone()
                        .map(|put| tx_put_object(b, o, put, &mut delta))
                        .collect::<Tx<Vec<_>>>()?;
                    tx_apply(v, &delta)?;
                    Ok((first, rest))
                })
                .map_err(from_tx)?
        };
        // A batch whose every item failed wrote nothing, and (as a failed `put_object` always
        // has) returns without a flush. One with an item that did not apply (the seq rule)
        // still flushes: its caller is told that a newer write won, which must then be
        // durable.
        if results.0.is_ok() || results.1.iter().any(Result::is_ok) {
            self.durable(pending)?;
        }
        Ok(results)
    }

    /// Removes an upload, its index entry and the parts at `part_keys` inside a transaction,
    /// accounting for the parts in `delta`.
    fn tx_remove_upload(
        uploads: &TransactionalTree,
        index: &TransactionalTree,
        parts: &TransactionalTree,
        up: &UploadRecord,
        part_keys: &[IVec],
        delta: &mut LiveDelta,
    ) -> Tx<Vec<PartRecord>> {
        let id = &up.upload_id.0;
        uploads.remove(id.as_bytes())?;
        index.remove(keys::upload_index(&up.bucket, up.key.as_str(), id))?;
        let mut removed = Vec::with_capacity(part_keys.len());
        for k in part_keys {
            if let Some(p) = tx_get::<PartRecord>(parts, PARTS, k)? {
                delta.sub_part(&p);
                removed.push(p);
            }
            parts.remove(k)?;
        }
        Ok(removed)
    }
}

impl MetadataStore for SledStore {
    fn create_bucket(&self, rec: &BucketRecord) -> Result<(), MetaError> {
        let pending = self.begin();
        {
            let _g = self.shared();
            let bytes = records::encode(BUCKETS, rec)?;
            let swapped = self.buckets.compare_and_swap(
                rec.name.as_str().as_bytes(),
                None as Option<&[u8]>,
                Some(bytes),
            )?;
            if swapped.is_err() {
                return Err(MetaError::BucketAlreadyExists);
            }
        }
        self.durable(pending)
    }

    fn get_bucket(&self, name: &BucketName) -> Result<Option<BucketRecord>, MetaError> {
        decode_opt(BUCKETS, self.buckets.get(name.as_str().as_bytes())?)
    }

    fn delete_bucket(&self, name: &BucketName) -> Result<(), MetaError> {
        let pending = self.begin();
        {
            // Exclusive: no object or upload can appear between the emptiness checks and
            // the removal.
            let _g = self.exclusive();
            if !self.bucket_exists(name)? {
                return Err(MetaError::NoSuchBucket);
            }
            let (start, end) = keys::bucket_range(name);
            if self
                .objects
                .range(start.clone()..end.clone())
                .next()
                .is_some()
                || self.uploads_by_key.range(start..end).next().is_some()
            {
                return Err(MetaError::BucketNotEmpty);
            }
            self.buckets.remove(name.as_str().as_bytes())?;
        }
        self.durable(pending)
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, MetaError> {
        self.buckets
            .iter()
            .map(|e| records::decode(BUCKETS, &e?.1))
            .collect()
    }

    fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        let v = self.objects.get(keys::object(bucket, key.as_str()))?;
        if v.is_none() && !self.bucket_exists(bucket)? {
            return Err(MetaError::NoSuchBucket);
        }
        decode_opt(OBJECTS, v)
    }

    fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<PutOutcome, MetaError> {
        let put = PutRef {
            bucket,
            key,
            record: rec,
            cond,
        };
        self.commit_puts(put, std::iter::empty())?.0
    }

    fn put_objects(
        &self,
        items: &[PutItem],
    ) -> Result<Vec<Result<PutOutcome, MetaError>>, MetaError> {
        let Some((first, rest)) = items.split_first() else {
            return Ok(Vec::new());
        };
        let results = self.commit_puts(first.into(), rest.iter().map(PutRef::from))?;
        Ok(crate::flatten(results))
    }

    fn delete_object_before(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        seq: u64,
        cond: &PutCondition,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        let pending = self.begin();
        let k = keys::object(bucket, key.as_str());
        let removed = {
            let _g = self.shared();
            (&self.buckets, &self.objects, &self.volumes)
                .transaction(|(b, o, v)| {
                    if b.get(bucket.as_str().as_bytes())?.is_none() {
                        return Err(ConflictableTransactionError::Abort(MetaError::NoSuchBucket));
                    }
                    let current: Option<ObjectRecord> = tx_get(o, OBJECTS, &k)?;
                    tx(cond.check(current.as_ref()))?;
                    // A newer write than the delete keeps its place.
                    let current = current.filter(|cur| cur.seq < seq);
                    if let Some(cur) = &current {
                        o.remove(&k[..])?;
                        let mut delta = LiveDelta::new();
                        delta.sub_object(cur);
                        tx_apply(v, &delta)?;
                    }
                    Ok(current)
                })
                .map_err(from_tx)?
        };
        self.durable(pending)?;
        Ok(removed)
    }

    fn replace_object_if_seq(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        expected_seq: u64,
        rec: &ObjectRecord,
    ) -> Result<bool, MetaError> {
        let pending = self.begin();
        let k = keys::object(bucket, key.as_str());
        let mut new = rec.clone();
        new.seq = expected_seq;
        let applied = {
            let _g = self.shared();
            (&self.objects, &self.volumes)
                .transaction(|(o, v)| {
                    let current: Option<ObjectRecord> = tx_get(o, OBJECTS, &k)?;
                    let Some(cur) = current.filter(|c| c.seq == expected_seq) else {
                        return Ok(false);
                    };
                    tx_put(o, OBJECTS, &k, &new)?;
                    let mut delta = LiveDelta::new();
                    delta.add_object(&new);
                    delta.sub_object(&cur);
                    tx_apply(v, &delta)?;
                    Ok(true)
                })
                .map_err(from_tx)?
        };
        if applied {
            self.durable(pending)?;
        }
        Ok(applied)
    }

    fn scan_objects(
        &self,
        bucket: &BucketName,
        start: Bound<&str>,
        limit: usize,
    ) -> Result<Vec<(ObjectKey, ObjectRecord)>, MetaError> {
        if !self.bucket_exists(bucket)? {
            return Err(MetaError::NoSuchBucket);
        }
        let (lower, end) = keys::object_scan(bucket, start);
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in self
            .objects
            .range::<Vec<u8>, _>((lower, Bound::Excluded(end)))
            .take(limit)
        {
            let (k, v) = entry?;
            let key = ObjectKey::new(keys::object_key_of(bucket, &k)?).map_err(|e| {
                MetaError::Corrupt {
                    tree: OBJECTS,
                    detail: e.to_string(),
                }
            })?;
            out.push((key, records::decode(OBJECTS, &v)?));
        }
        Ok(out)
    }

    fn create_upload(&self, rec: &UploadRecord) -> Result<(), MetaError> {
        let pending = self.begin();
        let id = &rec.upload_id;
        {
            let _g = self.shared();
            let _u = self.upload_lock(id);
            (&self.buckets, &self.uploads, &self.uploads_by_key)
                .transaction(|(b, u, i)| {
                    if b.get(rec.bucket.as_str().as_bytes())?.is_none() {
                        return Err(ConflictableTransactionError::Abort(MetaError::NoSuchBucket));
                    }
                    if let Some(old) = tx_get::<UploadRecord>(u, UPLOADS, id.0.as_bytes())? {
                        i.remove(keys::upload_index(&old.bucket, old.key.as_str(), &id.0))?;
                    }
                    tx_put(u, UPLOADS, id.0.as_bytes(), rec)?;
                    i.insert(
                        keys::upload_index(&rec.bucket, rec.key.as_str(), &id.0),
                        id.0.as_bytes(),
                    )?;
                    Ok(())
                })
                .map_err(from_tx)?;
        }
        self.durable(pending)
    }

    fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, MetaError> {
        decode_opt(UPLOADS, self.uploads.get(id.0.as_bytes())?)
    }

    fn list_uploads(
        &self,
        bucket: &BucketName,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, MetaError> {
        if !self.bucket_exists(bucket)? {
            return Err(MetaError::NoSuchBucket);
        }
        let (first, end) = keys::bucket_range(bucket);
        let lower = match after {
            Some((k, id)) => Bound::Excluded(keys::upload_index(bucket, k, id)),
            None => Bound::Included(first),
        };
        let mut out = Vec::new();
        for entry in self
            .uploads_by_key
            .range::<Vec<u8>, _>((lower, Bound::Excluded(end)))
        {
            if out.len() >= limit {
                break;
            }
            let (_, id) = entry?;
            // An upload completed between the index read and this one is simply gone.
            if let Some(up) = decode_opt(UPLOADS, self.uploads.get(&id)?)? {
                out.push(up);
            }
        }
        Ok(out)
    }

    fn put_part(&self, id: &UploadId, part: &PartRecord) -> Result<Option<PartRecord>, MetaError> {
        let pending = self.begin();
        let k = keys::part(&id.0, part.part_number);
        let replaced = {
            let _g = self.shared();
            let _u = self.upload_lock(id);
            (&self.uploads, &self.parts, &self.volumes)
                .transaction(|(u, p, v)| {
                    if u.get(id.0.as_bytes())?.is_none() {
                        return Err(ConflictableTransactionError::Abort(MetaError::NoSuchUpload));
                    }
                    let old: Option<PartRecord> = tx_get(p, PARTS, &k)?;
                    tx_put(p, PARTS, &k, part)?;
                    let mut delta = LiveDelta::new();
                    delta.add_part(part);
                    if let Some(old) = &old {
                        delta.sub_part(old);
                    }
                    tx_apply(v, &delta)?;
                    Ok(old)
                })
                .map_err(from_tx)?
        };
        self.durable(pending)?;
        Ok(replaced)
    }

    fn list_parts(
        &self,
        id: &UploadId,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, MetaError> {
        if !self.uploads.contains_key(id.0.as_bytes())? {
            return Err(MetaError::NoSuchUpload);
        }
        let prefix = keys::part_prefix(&id.0);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let mut out = Vec::new();
        for entry in self.parts.range::<Vec<u8>, _>((
            Bound::Excluded(keys::part(&id.0, after)),
            Bound::Excluded(end),
        )) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = entry?;
            if k.len() == prefix.len() + 4 {
                out.push(records::decode(PARTS, &v)?);
            }
        }
        Ok(out)
    }

    fn complete_upload(
        &self,
        id: &UploadId,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<(PutOutcome, Vec<PartRecord>), MetaError> {
        let pending = self.begin();
        let out = {
            let _g = self.shared();
            // Held from the parts scan to the commit: no part of this upload can be added
            // in between and outlive it.
            let _u = self.upload_lock(id);
            let part_keys = self.part_keys(id)?;
            (
                &self.buckets,
                &self.objects,
                &self.uploads,
                &self.uploads_by_key,
                &self.parts,
                &self.volumes,
            )
                .transaction(|(b, o, u, i, p, v)| {
                    let Some(up) = tx_get::<UploadRecord>(u, UPLOADS, id.0.as_bytes())? else {
                        return Err(ConflictableTransactionError::Abort(MetaError::NoSuchUpload));
                    };
                    let mut delta = LiveDelta::new();
                    let put = PutRef {
                        bucket: &up.bucket,
                        key: &up.key,
                        record: rec,
                        cond,
                    };
                    // Unlike in a batch, the object's failure fails the whole step.
                    let outcome = tx(tx_put_object(b, o, put, &mut delta)?)?;
                    let parts = Self::tx_remove_upload(u, i, p, &up, &part_keys, &mut delta)?;
                    tx_apply(v, &delta)?;
                    Ok((outcome, parts))
                })
                .map_err(from_tx)?
        };
        self.durable(pending)?;
        Ok(out)
    }

    fn abort_upload(&self, id: &UploadId) -> Result<Vec<PartRecord>, MetaError> {
        let pending = self.begin();
        let parts = {
            let _g = self.shared();
            let _u = self.upload_lock(id);
            let part_keys = self.part_keys(id)?;
            (
                &self.uploads,
                &self.uploads_by_key,
                &self.parts,
                &self.volumes,
            )
                .transaction(|(u, i, p, v)| {
                    let Some(up) = tx_get::<UploadRecord>(u, UPLOADS, id.0.as_bytes())? else {
                        return Err(ConflictableTransactionError::Abort(MetaError::NoSuchUpload));
                    };
                    let mut delta = LiveDelta::new();
                    let parts = Self::tx_remove_upload(u, i, p, &up, &part_keys, &mut delta)?;
                    tx_apply(v, &delta)?;
                    Ok(parts)
                })
                .map_err(from_tx)?
        };
        self.durable(pending)?;
        Ok(parts)
    }

    fn volume_live_bytes(&self, id: VolumeId) -> Result<u64, MetaError> {
        match self.volumes.get(keys::volume(id))? {
            Some(v) => keys::read_u64(VOLUMES, &v),
            None => Ok(0),
        }
    }

    fn all_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
        self.volumes
            .iter()
            .map(|e| {
                let (k, v) = e?;
                Ok((
                    VolumeId(keys::read_u64(VOLUMES, &k)?),
                    keys::read_u64(VOLUMES, &v)?,
                ))
            })
            .collect()
    }

    fn recompute_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
        let pending = self.begin();
        let table = {
            let _g = self.exclusive();
            let mut delta = LiveDelta::new();
            for entry in self.objects.iter() {
                delta.add_object(&records::decode(OBJECTS, &entry?.1)?);
            }
            for entry in self.parts.iter() {
                delta.add_part(&records::decode(PARTS, &entry?.1)?);
            }
            let table = delta.into_table();
            // One batch: the table is replaced atomically.
            let mut batch = sled::Batch::default();
            for entry in self.volumes.iter() {
                batch.remove(entry?.0);
            }
            for (vol, n) in &table {
                batch.insert(&keys::volume(*vol)[..], &n.to_be_bytes()[..]);
            }
            self.volumes.apply_batch(batch)?;
            table
        };
        self.durable(pending)?;
        Ok(table)
    }

    fn next_seq(&self) -> Result<u64, MetaError> {
        let offset = lock(&self.seq_offset);
        let id = self.db.generate_id()?;
        offset
            .checked_add(id)
            .and_then(|s| s.checked_add(1))
            .ok_or_else(|| MetaError::Corrupt {
                tree: META,
                detail: "sequence numbers exhausted".to_owned(),
            })
    }

    fn raise_seq_floor(&self, floor: u64) -> Result<(), MetaError> {
        let mut offset = lock(&self.seq_offset);
        // Every later id is > `id`, so `needed + later_id + 1 > floor`.
        let id = self.db.generate_id()?;
        let needed = floor.saturating_sub(id);
        if needed > *offset {
            self.meta
                .insert(META_SEQ_OFFSET, &needed.to_be_bytes()[..])?;
            // Always flushed, whatever the config: a floor lost in a crash would hand out
            // sequence numbers that lose to records already in the index.
            self.db.flush()?;
            *offset = needed;
        }
        Ok(())
    }

    fn put_access_key(&self, rec: &AccessKeyRecord) -> Result<(), MetaError> {
        let pending = self.begin();
        self.access_keys.insert(
            rec.access_key.as_bytes(),
            records::encode(ACCESS_KEYS, rec)?,
        )?;
        self.durable(pending)
    }

    fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>, MetaError> {
        decode_opt(ACCESS_KEYS, self.access_keys.get(access_key.as_bytes())?)
    }

    fn delete_access_key(&self, access_key: &str) -> Result<bool, MetaError> {
        let pending = self.begin();
        let existed = self.access_keys.remove(access_key.as_bytes())?.is_some();
        self.durable(pending)?;
        Ok(existed)
    }

    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, MetaError> {
        self.access_keys
            .iter()
            .map(|e| records::decode(ACCESS_KEYS, &e?.1))
            .collect()
    }

    fn put_access_batch(
        &self,
        entries: &[(BucketName, ObjectKey, Vec<u8>)],
    ) -> Result<(), MetaError> {
        if entries.is_empty() {
            return Ok(());
        }
        let pending = self.begin();
        // One sled batch is applied atomically; one ticket shares one flush.
        let mut batch = sled::Batch::default();
        for (bucket, key, value) in entries {
            batch.insert(keys::object(bucket, key.as_str()), value.as_slice());
        }
        self.access.apply_batch(batch)?;
        self.durable(pending)
    }

    fn get_access(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<Vec<u8>>, MetaError> {
        Ok(self
            .access
            .get(keys::object(bucket, key.as_str()))?
            .map(|v| v.to_vec()))
    }

    fn scan_access(
        &self,
        after: Option<(&BucketName, &ObjectKey)>,
        limit: usize,
    ) -> Result<Vec<(BucketName, ObjectKey, Vec<u8>)>, MetaError> {
        let lower = match after {
            Some((bucket, key)) => Bound::Excluded(keys::object(bucket, key.as_str())),
            None => Bound::Unbounded,
        };
        self.access
            .range::<Vec<u8>, _>((lower, Bound::Unbounded))
            .take(limit)
            .map(|e| {
                let (k, v) = e?;
                let (bucket, key) = keys::access_of(&k)?;
                Ok((bucket, key, v.to_vec()))
            })
            .collect()
    }

    fn delete_access(&self, bucket: &BucketName, key: &ObjectKey) -> Result<bool, MetaError> {
        let pending = self.begin();
        let existed = self
            .access
            .remove(keys::object(bucket, key.as_str()))?
            .is_some();
        self.durable(pending)?;
        Ok(existed)
    }

    fn put_decisions(&self, rows: &[DecisionRow]) -> Result<(), MetaError> {
        let Some(max_id) = rows.iter().map(|r| r.id).max() else {
            return Ok(());
        };
        let pending = self.begin();
        // Encoded once, outside the closure sled may run more than once.
        let encoded = rows
            .iter()
            .map(|r| {
                let obj = keys::object(&r.bucket, r.key.as_str());
                let value = keys::decision_value(&obj, &r.bytes)?;
                Ok((
                    keys::decision(r.id),
                    keys::decision_index(&obj, r.id),
                    value,
                ))
            })
            .collect::<Result<Vec<_>, MetaError>>()?;
        (&self.decisions, &self.decisions_by_object, &self.meta)
            .transaction(|(d, i, m)| {
                for (k, index, value) in &encoded {
                    // A replaced row takes its index entry with it. One whose value is
                    // unreadable leaves its entry behind: readers check that an entry's row
                    // is the object's, so a stale entry is skipped, never misattributed.
                    if let Some(old) = d.insert(&k[..], value.as_slice())? {
                        if let Ok((old_obj, _)) = keys::split_decision_value(&old) {
                            let old_index = keys::decision_index(old_obj, u64::from_be_bytes(*k));
                            if old_index != *index {
                                i.remove(old_index)?;
                            }
                        }
                    }
                    i.insert(index.as_slice(), &[][..])?;
                }
                let last = match m.get(META_DECISIONS_LAST)? {
                    Some(v) => Some(tx(keys::read_u64(META, &v))?),
                    None => None,
                };
                if last.is_none_or(|last| max_id > last) {
                    m.insert(META_DECISIONS_LAST, &max_id.to_be_bytes()[..])?;
                }
                Ok(())
            })
            .map_err(from_tx)?;
        self.durable(pending)
    }

    fn scan_decisions(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(keys::decision(a)));
        self.decisions
            .range::<[u8; 8], _>((lower, Bound::Unbounded))
            .take(limit)
            .map(|e| decision_entry(e?))
            .collect()
    }

    fn scan_decisions_rev(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        let upper = before.map_or(Bound::Unbounded, |b| Bound::Excluded(keys::decision(b)));
        self.decisions
            .range::<[u8; 8], _>((Bound::Unbounded, upper))
            .rev()
            .take(limit)
            .map(|e| decision_entry(e?))
            .collect()
    }

    fn last_decision_id(&self) -> Result<Option<u64>, MetaError> {
        let recorded = match self.meta.get(META_DECISIONS_LAST)? {
            Some(v) => Some(keys::read_u64(META, &v)?),
            None => None,
        };
        // Both are written in one transaction; the max is only belt and braces.
        let stored = match self.decisions.last()? {
            Some((k, _)) => Some(keys::read_u64(DECISIONS, &k)?),
            None => None,
        };
        Ok(recorded.max(stored))
    }

    fn trim_decisions(&self, keep_from: u64) -> Result<u64, MetaError> {
        let pending = self.begin();
        let mut removed = 0u64;
        loop {
            let chunk = self
                .decisions
                .range(..keys::decision(keep_from))
                .keys()
                .take(TRIM_CHUNK)
                .collect::<Result<Vec<IVec>, _>>()?;
            let n = (&self.decisions, &self.decisions_by_object)
                .transaction(|(d, i)| {
                    let mut n = 0u64;
                    for k in &chunk {
                        // The value removed is the row as it is now, so the index entry
                        // removed is the one of the row removed, even if it was replaced
                        // since the scan. An unreadable row goes without its entry, which
                        // readers skip (its row is gone).
                        let Some(old) = d.remove(k)? else { continue };
                        n += 1;
                        if let (Ok((obj, _)), Ok(id)) = (
                            keys::split_decision_value(&old),
                            keys::read_u64(DECISIONS, k),
                        ) {
                            i.remove(keys::decision_index(obj, id))?;
                        }
                    }
                    Ok(n)
                })
                .map_err(from_tx)?;
            removed += n;
            if chunk.len() < TRIM_CHUNK {
                break;
            }
        }
        if removed > 0 {
            self.durable(pending)?;
        }
        Ok(removed)
    }

    fn object_decisions(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        let obj = keys::object(bucket, key.as_str());
        let prefix = keys::decision_index_prefix(&obj);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let mut out = Vec::new();
        for entry in self
            .decisions_by_object
            .range(prefix.clone()..end)
            .keys()
            .rev()
        {
            if out.len() >= limit {
                break;
            }
            let k = entry?;
            // Longer entries belong to keys that extend this one with 0x00 (keys.rs).
            let Some(id) = k.get(prefix.len()..).filter(|id| id.len() == 8) else {
                continue;
            };
            let id = keys::read_u64(DECISIONS_BY_OBJECT, id)?;
            // A concurrent trim or replacement may have taken the row since the index read.
            let Some(value) = self.decisions.get(keys::decision(id))? else {
                continue;
            };
            let (row_obj, bytes) = keys::split_decision_value(&value)?;
            if row_obj == obj.as_slice() {
                out.push((id, bytes.to_vec()));
            }
        }
        Ok(out)
    }

    fn clear_index(&self) -> Result<(), MetaError> {
        let pending = self.begin();
        {
            let _g = self.exclusive();
            // Not one atomic step (a tree can be too large for one transaction): a crash
            // midway leaves part of the index, and the rebuild that called this starts over.
            // Buckets go last so that a partial clear never leaves an object without a bucket.
            // The access, decision, key and meta trees are not the index (trait docs).
            for tree in [
                &self.objects,
                &self.parts,
                &self.uploads_by_key,
                &self.uploads,
                &self.volumes,
                &self.buckets,
            ] {
                tree.clear()?;
            }
        }
        self.durable(pending)
    }

    fn flush(&self) -> Result<(), MetaError> {
        self.db.flush()?;
        Ok(())
    }
}

/// A `decisions` entry as `(id, row bytes)`.
fn decision_entry((k, v): (IVec, IVec)) -> Result<(u64, Vec<u8>), MetaError> {
    let id = keys::read_u64(DECISIONS, &k)?;
    let (_, bytes) = keys::split_decision_value(&v)?;
    Ok((id, bytes.to_vec()))
}
