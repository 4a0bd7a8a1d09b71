//! The metadata store: buckets, objects, multipart uploads and their parts, per-volume live
//! bytes, the write sequence, access keys, per-object access statistics and the tiering
//! decision log, behind the [`MetadataStore`] trait.
//!
//! What it keeps (as sled trees in [`SledStore`]; key layouts in `keys.rs`):
//!
//! | tree | what | cleared by `clear_index` |
//! | --- | --- | --- |
//! | `buckets`, `objects` | buckets, the current version of each object | yes |
//! | `uploads`, `uploads_by_key`, `parts` | in-progress multipart uploads and their parts | yes |
//! | `volumes` | live bytes per volume | yes |
//! | `access_keys` | credentials | no |
//! | `access` | per-object access statistics (opaque bytes of the tiering crate) | no |
//! | `decisions`, `decisions_by_object` | the tiering decision log (opaque rows by id) and its per-object index | no: history |
//! | `meta` | the store format byte, the sequence offset, the highest decision id | no |
//!
//! Two implementations: [`SledStore`] (sled trees, flushed with group commit) and
//! [`MemoryStore`] (BTreeMaps under one mutex, for tests and simulation). One conformance
//! suite (`tests/metadata/conformance.rs`) runs against both. [`list_objects`] implements S3
//! listing (prefix, delimiter, `start-after`, paging) over any store. Many small puts commit
//! together, as one atomic and durable step, with [`MetadataStore::put_objects`].
//!
//! Invariants:
//! - Every mutating call is one atomic step: a crash leaves the state before it or after it.
//!   With `MetadataConfig::flush`, the call returns only once the step is durable.
//! - A volume's live bytes equal the disk bytes of every stripe referenced by an object
//!   (location and header stripe) or by a part, counting a stripe once per reference;
//!   `recompute_volume_live_bytes` rebuilds exactly the table the incremental updates keep.
//! - Of two writes to one key, the one with the higher `seq` wins, whatever order they commit in.
//! - A bucket with an object or an in-progress upload is never deleted.
//! - A stored value that cannot be decoded is reported as [`MetaError::Corrupt`], never a panic.
//! - A decision row and its per-object index entry are written and removed in one atomic
//!   step (only a row too damaged to name its object leaves its entry behind, and readers
//!   skip an entry whose row is gone). [`MetadataStore::last_decision_id`] never goes down,
//!   whatever was trimmed.
//!
//! It never holds object bytes and knows nothing of storage, codecs or HTTP: a [`Location`](stratum_core::Location)
//! is an opaque list of stripe references to it, only summed for accounting.
//!
//! ```
//! use stratum_metadata::{BucketRecord, MemoryStore, MetadataStore};
//! use stratum_core::BucketName;
//!
//! let store = MemoryStore::new();
//! let name = BucketName::new("photos").unwrap();
//! store.create_bucket(&BucketRecord { name: name.clone(), created_ms: 0 }).unwrap();
//! assert!(store.get_bucket(&name).unwrap().is_some());
//! ```
//!
//! # The cost of a durable commit
//!
//! Measured with `cargo run --release -p stratum-metadata --example flush_cost` (4-KiB
//! one-stripe object records, on the 2-core development VM's virtual disk). Single-put rows:
//! three runs before `put_objects` existed and two after; batched rows: the two later runs,
//! one of them beside other benchmarks on the VM. Numbers vary about ±30%:
//!
//! | writers | commit | `flush` | median latency | durable puts/s | puts per `Db::flush` |
//! | --- | --- | --- | --- | --- | --- |
//! | 1  | `put_object` | on  | 160–220 µs | 3,000–5,000 | 1 |
//! | 4  | `put_object` | on  | 390–540 µs | 4,000–6,400 | 1.7–2 |
//! | 32 | `put_object` | on  | 1.5–3.2 ms | 5,300–8,400 | 6–12 |
//! | 1  | `put_object` | off | 5–12 µs | 45,000–120,000 (not durable) | – |
//! | 1  | `put_objects`, batches of 8 | on | 290–340 µs a batch | 20,000–26,000 | 8 |
//! | 1  | `put_objects`, batches of 32 | on | 480 µs a batch | 52,000–64,000 | 32 |
//! | 1  | `put_objects`, batches of 128 | on | 1.2–1.3 ms a batch | 71,000–96,000 | 128 |
//! | 32 | one put at a time each, queued; `put_objects` of what has queued (≤ 64) | on | 740–810 µs | 25,000–38,000 | ~27 |
//!
//! Group commit of separate calls works (one flush covers up to a dozen commits) but buys
//! little throughput: sled 0.34's `Db::flush` holds sled's process-wide concurrency-control
//! lock in read mode for its whole length, and every transaction takes it in write mode, so
//! no transaction commits while a flush runs. A flush leader therefore waits up to
//! `COMMIT_DELAY_MAX` (200 µs) for calls already in flight before flushing.
//!
//! [`MetadataStore::put_objects`] lifts the ceiling: a batch is one transaction and one
//! flush however many puts it holds, so the flush's cost is paid once per batch rather than
//! once per put. Writers that must each wait for their own durable put reach the batched
//! rate when one committer thread gathers what has queued up into a batch (the example's
//! `run_queued`, a sketch of the commit queue a caller would keep; the last row: 32
//! writers, 25,000–38,000 durable puts/s, each acknowledged only after the flush that
//! covered it, against 5,300–8,400 for the same writers calling `put_object`).

use std::ops::Bound;

use stratum_core::{BucketName, ObjectKey, UploadId, VolumeId};

mod keys;
mod list;
mod live;
mod memory;
pub mod records;
mod sled_store;

pub use list::{list_objects, successor, ListPage, ListParams, LIST_SCAN_PAGE};
pub use memory::MemoryStore;
pub use records::{
    AccessKeyRecord, BucketRecord, DecisionRow, ObjectRecord, PartRecord, UploadRecord,
};
pub use sled_store::{CommitStats, SledStore};

/// A condition on the current version of an object, checked atomically with the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// No condition.
    None,
    /// The object must not exist (`If-None-Match: *`).
    IfNoneMatch,
    /// The object must exist and its ETag (unquoted) must equal this one; `*` matches any
    /// existing object (`If-Match`).
    IfMatch(String),
}

impl PutCondition {
    /// Checks the condition against the current record: `Err(PreconditionFailed)` if it fails.
    pub fn check(&self, current: Option<&ObjectRecord>) -> Result<(), MetaError> {
        let ok = match (self, current) {
            (PutCondition::None, _) => true,
            (PutCondition::IfNoneMatch, current) => current.is_none(),
            (PutCondition::IfMatch(_), None) => false,
            (PutCondition::IfMatch(etag), Some(cur)) => etag == "*" || *etag == cur.etag,
        };
        if ok {
            Ok(())
        } else {
            Err(MetaError::PreconditionFailed)
        }
    }
}

/// What a `put_object` (or the object half of `complete_upload`) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// False when the current record has a higher seq: a newer write already won, and the
    /// caller's bytes are dead.
    pub applied: bool,
    /// The record this write replaced (None if there was none, or if not applied).
    pub replaced: Option<ObjectRecord>,
}

/// One put in a batch ([`MetadataStore::put_objects`]).
#[derive(Debug, Clone)]
pub struct PutItem {
    /// The bucket to write in.
    pub bucket: BucketName,
    /// The object's key.
    pub key: ObjectKey,
    /// The new current version.
    pub record: ObjectRecord,
    /// The condition on the version it replaces.
    pub cond: PutCondition,
}

/// A borrowed put: what both stores' batched commit works on, so that `put_object` (a batch
/// of one) and `put_objects` share one code path without copying records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PutRef<'a> {
    pub(crate) bucket: &'a BucketName,
    pub(crate) key: &'a ObjectKey,
    pub(crate) record: &'a ObjectRecord,
    pub(crate) cond: &'a PutCondition,
}

impl<'a> From<&'a PutItem> for PutRef<'a> {
    fn from(item: &'a PutItem) -> Self {
        Self {
            bucket: &item.bucket,
            key: &item.key,
            record: &item.record,
            cond: &item.cond,
        }
    }
}

/// Per-item results of a batch: the first item's, then the others' in order. Split so that
/// `put_object` (a batch of one) gets its result without a length check that could fail.
pub(crate) type BatchResults = (
    Result<PutOutcome, MetaError>,
    Vec<Result<PutOutcome, MetaError>>,
);

/// Flattens [`BatchResults`] into the one-per-item list `put_objects` returns.
pub(crate) fn flatten(results: BatchResults) -> Vec<Result<PutOutcome, MetaError>> {
    let (first, rest) = results;
    let mut out = Vec::with_capacity(rest.len() + 1);
    out.push(first);
    out.extend(rest);
    out
}

/// A failure of the storage engine under the store (I/O, the engine's own corruption checks).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// sled failed.
    #[error(transparent)]
    Sled(#[from] sled::Error),
}

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The bucket does not exist.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// A bucket with that name already exists.
    #[error("the bucket already exists")]
    BucketAlreadyExists,
    /// The bucket still holds an object or an in-progress multipart upload.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// The multipart upload does not exist (never did, completed, or aborted).
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    /// The write's [`PutCondition`] did not hold.
    #[error("the precondition did not hold")]
    PreconditionFailed,
    /// A stored value could not be read; `tree` names where it was found.
    #[error("corrupt metadata in {tree}: {detail}")]
    Corrupt {
        /// The tree (table) holding the value.
        tree: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The storage engine under the store failed.
    #[error("metadata backend failed: {0}")]
    Backend(#[from] BackendError),
}

impl From<sled::Error> for MetaError {
    fn from(e: sled::Error) -> Self {
        MetaError::Backend(BackendError::Sled(e))
    }
}

/// The metadata store. Every method is safe to call concurrently; every mutating method is
/// one atomic step and, when the store is configured to flush, durable when it returns.
pub trait MetadataStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a bucket: `BucketAlreadyExists` if the name is taken.
    fn create_bucket(&self, rec: &BucketRecord) -> Result<(), MetaError>;
    /// The bucket, if it exists.
    fn get_bucket(&self, name: &BucketName) -> Result<Option<BucketRecord>, MetaError>;
    /// Deletes a bucket: `NoSuchBucket`; `BucketNotEmpty` if it holds any object or in-progress
    /// upload (checked atomically with the delete).
    fn delete_bucket(&self, name: &BucketName) -> Result<(), MetaError>;
    /// Every bucket, sorted by name.
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, MetaError>;

    /// The object's current record; `NoSuchBucket` if the bucket does not exist.
    fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<ObjectRecord>, MetaError>;
    /// One atomic, durable step: bucket must exist (NoSuchBucket); check `cond` against the
    /// current record (PreconditionFailed); if the current record has a HIGHER seq than `rec`,
    /// do nothing and return applied=false (a newer write already won; the caller treats its
    /// bytes as dead); otherwise replace it, and adjust volume live bytes: + rec's location
    /// and header_stripe, − the replaced record's. Return the replaced record. A batch of one
    /// [`put_objects`](Self::put_objects): both run the same code.
    fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<PutOutcome, MetaError>;
    /// Applies the puts IN ORDER as ONE atomic, durable step (for [`SledStore`]: one sled
    /// transaction over the objects and volumes trees, then one flush shared with concurrent
    /// committers). Each item has exactly the semantics of [`put_object`](Self::put_object)
    /// (NoSuchBucket, PreconditionFailed, the seq rule, live-bytes accounting) evaluated
    /// against the state left by the items before it in the batch; an item's error fails only
    /// that item (the others still apply). Returns one result per item, in order.
    ///
    /// The outer `Err` is for failures of the store itself (the backend, or a corrupt
    /// live-bytes entry), and then nothing applied. An undecodable current record fails only
    /// its item, as [`MetaError::Corrupt`]. An empty batch does nothing and returns at once.
    ///
    /// This is how to commit many small objects quickly: a batch costs one commit and one
    /// flush however many items it holds (see the crate docs for the figures).
    fn put_objects(
        &self,
        items: &[PutItem],
    ) -> Result<Vec<Result<PutOutcome, MetaError>>, MetaError>;
    /// Atomic, durable: remove the object if present (cond checked; IfMatch on a missing
    /// object → PreconditionFailed), subtract its live bytes. Returns the removed record (None
    /// if there was none). `NoSuchBucket` if the bucket does not exist.
    fn delete_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        cond: &PutCondition,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        self.delete_object_before(bucket, key, u64::MAX, cond)
    }
    /// `delete_object` for a delete with sequence number `seq`: the current record is removed
    /// only if its seq is lower. A record with a higher seq is a write that began after the
    /// delete and committed first: it wins (as it does on an index rebuild), nothing is
    /// removed and `Ok(None)` is returned. `cond` is checked first either way.
    fn delete_object_before(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        seq: u64,
        cond: &PutCondition,
    ) -> Result<Option<ObjectRecord>, MetaError>;
    /// Compare-and-swap used by compaction and the tier mover: replace only if the current
    /// record exists and has seq == expected_seq (the new record is stored with that seq,
    /// whatever `rec.seq` says); adjusts live bytes. Returns whether it applied.
    fn replace_object_if_seq(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        expected_seq: u64,
        rec: &ObjectRecord,
    ) -> Result<bool, MetaError>;
    /// Objects with key >= start (Included) / > start (Excluded) / from the first
    /// (Unbounded), in byte order, at most `limit`. `NoSuchBucket` if the bucket does not exist.
    fn scan_objects(
        &self,
        bucket: &BucketName,
        start: Bound<&str>,
        limit: usize,
    ) -> Result<Vec<(ObjectKey, ObjectRecord)>, MetaError>;

    /// Records a new multipart upload: `NoSuchBucket`. Upload ids come from the engine and are
    /// unique; a record with an id already in use replaces the old record (its parts stay).
    fn create_upload(&self, rec: &UploadRecord) -> Result<(), MetaError>;
    /// The upload, if it is in progress.
    fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, MetaError>;
    /// In-progress uploads of a bucket ordered by (key, upload_id), strictly after `after` if
    /// given, at most `limit`. `NoSuchBucket` if the bucket does not exist.
    fn list_uploads(
        &self,
        bucket: &BucketName,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, MetaError>;
    /// Atomic, durable: upload must exist (NoSuchUpload); insert or replace the part; live
    /// bytes + new − replaced. Returns the replaced part.
    fn put_part(&self, id: &UploadId, part: &PartRecord) -> Result<Option<PartRecord>, MetaError>;
    /// Parts with part_number > after, ascending, at most limit. NoSuchUpload if the upload is
    /// gone.
    fn list_parts(
        &self,
        id: &UploadId,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, MetaError>;
    /// One atomic, durable step: the upload must exist (NoSuchUpload); remove the upload and
    /// ALL its parts; put the object at the upload's bucket and key exactly as put_object
    /// would (cond, seq rule); live bytes: + object's location and header_stripe (if
    /// applied), − every removed part's location. Returns (outcome, removed parts). If `cond`
    /// fails, nothing changes (the upload stays).
    fn complete_upload(
        &self,
        id: &UploadId,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<(PutOutcome, Vec<PartRecord>), MetaError>;
    /// Atomic, durable: remove upload and parts (NoSuchUpload), subtract parts' live bytes;
    /// return the removed parts.
    fn abort_upload(&self, id: &UploadId) -> Result<Vec<PartRecord>, MetaError>;

    /// Referenced bytes per volume (a stripe referenced by two objects — server-side copy —
    /// counts twice). Missing = 0.
    fn volume_live_bytes(&self, id: VolumeId) -> Result<u64, MetaError>;
    /// Every volume with live bytes, sorted by volume id (volumes at zero are absent).
    fn all_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError>;
    /// Recomputes every volume's live bytes from the objects and parts trees (recovery /
    /// verification), replaces the table with the result, and returns it.
    fn recompute_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError>;

    /// Strictly increasing across calls and restarts.
    fn next_seq(&self) -> Result<u64, MetaError>;
    /// Ensures every later next_seq() returns > floor (used after an index rebuild).
    fn raise_seq_floor(&self, floor: u64) -> Result<(), MetaError>;

    /// Stores an access key, replacing one with the same id.
    fn put_access_key(&self, rec: &AccessKeyRecord) -> Result<(), MetaError>;
    /// The access key, if it exists.
    fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>, MetaError>;
    /// Deletes an access key; whether it existed.
    fn delete_access_key(&self, access_key: &str) -> Result<bool, MetaError>;
    /// Every access key, sorted by id.
    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, MetaError>;

    /// Stores per-object access statistics, opaque bytes to the store (the tiering crate
    /// encodes them), replacing any entry under the same (bucket, key). The whole batch is ONE
    /// atomic step and, with `flush` configured, costs one flush however many entries it holds:
    /// statistics are written in batches, never once per request. An empty batch does nothing.
    /// The bucket need not exist (statistics are not part of the index).
    fn put_access_batch(
        &self,
        entries: &[(BucketName, ObjectKey, Vec<u8>)],
    ) -> Result<(), MetaError>;
    /// The access statistics stored for the object, if any.
    fn get_access(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<Vec<u8>>, MetaError>;
    /// Stored access statistics ordered by (bucket, key), strictly after `after` if given, at
    /// most `limit`.
    fn scan_access(
        &self,
        after: Option<(&BucketName, &ObjectKey)>,
        limit: usize,
    ) -> Result<Vec<(BucketName, ObjectKey, Vec<u8>)>, MetaError>;
    /// Removes the object's access statistics; whether there were any.
    fn delete_access(&self, bucket: &BucketName, key: &ObjectKey) -> Result<bool, MetaError>;

    /// Stores decision-log rows (opaque bytes to the store: the tiering crate encodes them)
    /// under their ids, each with an entry in the per-object index. The whole batch is ONE
    /// atomic step and, with `flush` configured, costs one flush however many rows it holds
    /// (as [`put_access_batch`](Self::put_access_batch)): decisions are written in batches,
    /// never once per request. An empty batch does nothing.
    ///
    /// Ids are the caller's (a counter continued from [`last_decision_id`](Self::last_decision_id));
    /// a row whose id is already stored replaces it, index entry included, and of two rows
    /// with one id in a batch the later wins. Neither the bucket nor the object need exist:
    /// the log is history, kept after the object is gone.
    fn put_decisions(&self, rows: &[DecisionRow]) -> Result<(), MetaError>;
    /// Stored rows with ids strictly greater than `after` (all if `None`), ascending, at most
    /// `limit`, as `(id, bytes)`.
    fn scan_decisions(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError>;
    /// Stored rows with ids strictly less than `before` (all if `None`), DESCENDING (newest
    /// first), at most `limit`, as `(id, bytes)`.
    fn scan_decisions_rev(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError>;
    /// The highest id ever stored by [`put_decisions`](Self::put_decisions), even if its row
    /// has since been trimmed (so a counter continued from it never reuses a stored id);
    /// `None` if no row was ever stored.
    fn last_decision_id(&self) -> Result<Option<u64>, MetaError>;
    /// Deletes every row with an id below `keep_from`, and its index entry; returns how many
    /// rows went. Trimming does not lower [`last_decision_id`](Self::last_decision_id).
    fn trim_decisions(&self, keep_from: u64) -> Result<u64, MetaError>;
    /// The object's stored rows, newest (highest id) first, at most `limit`, as `(id, bytes)`,
    /// read through the per-object index: the cost is the object's rows, not the log's.
    fn object_decisions(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError>;

    /// Removes every bucket, object, upload, part and volume entry; used by index rebuild.
    /// Access keys, access statistics, the decision log and the seq floor stay: none of them
    /// can be rebuilt from the volumes, and the decision log is history that must outlive a
    /// rebuild of what it describes.
    fn clear_index(&self) -> Result<(), MetaError>;
    /// Makes everything committed so far durable.
    fn flush(&self) -> Result<(), MetaError>;
}

/// A type check that the trait stays object-safe: the engine holds `Arc<dyn MetadataStore>`.
#[allow(dead_code)]
fn _object_safe(_: &dyn MetadataStore) {}
