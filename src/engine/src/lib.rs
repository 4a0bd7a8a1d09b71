//! The object layer of Stratum: buckets and objects over codec, storage and metadata.
//!
//! [`Engine`] is what a Rust caller (the S3 layer, the tier mover, tests) uses to create and
//! delete buckets and to put, get (whole or a byte range), head, delete, copy, list and
//! multipart-upload objects. It runs each operation as a numbered sequence over the crates
//! below it: the body streams through the hasher (MD5 ETag plus requested checksums) and the
//! framer; frames are compressed and erasure-coded on blocking threads; stripes land in a
//! shared volume (small objects, group-committed) or a dedicated one (large or streaming
//! objects); only then does the metadata commit make the object visible.
//!
//! Invariants:
//! - An acknowledged write is durable: its stripes were fdatasync'd before its metadata
//!   commit, and the commit was flushed before the call returned.
//! - A reader sees the old object or the new one, never a mix: records are replaced
//!   atomically, and a volume being read is not deleted until its readers finish.
//! - Every object's header is written into a volume, so `rebuild_index` can restore the
//!   metadata from the volumes alone.
//! - The ETag and length reported are those of the original bytes, whatever compression did.
//!
//! It never speaks HTTP, knows nothing of auth or tiering policy, and runs no CPU-heavy work
//! (compression, Reed-Solomon, hashing) on the async reactor.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stratum_engine::EngineError> {
//! use stratum_core::{config::EngineConfig, BucketName, ObjectKey};
//! use stratum_engine::{Engine, PutOptions};
//! let (engine, _report) = Engine::open(EngineConfig::under("data".as_ref(), 6)).await?;
//! let bucket = BucketName::new("photos").unwrap();
//! engine.create_bucket(&bucket).await?;
//! let key = ObjectKey::new("cat.txt").unwrap();
//! let body = futures::stream::iter([Ok(bytes::Bytes::from_static(b"meow"))]);
//! let info = engine.put_object(&bucket, &key, body, PutOptions::default()).await?;
//! assert_eq!(info.size, 4);
//! # Ok(()) }
//! ```

mod committer;
mod error;
pub mod failpoint;
mod get;
mod hash;
mod maintenance;
mod multipart;
mod objects;
mod pins;
mod put;
mod records;
mod tiers;
mod usage;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use stratum_codec::Encoder;
use stratum_core::config::EngineConfig;
use stratum_core::{BucketName, ChecksumAlgorithm, ChecksumValue, ObjectKey, StripeRef, Tier};
use stratum_metadata::{BucketRecord, MetadataStore, SledStore};
use stratum_storage::{RecordKind, RecoveryReport, Storage, VolumeKind};
use tokio::sync::mpsc;

pub use error::{EngineError, Result};
pub use get::{BodyStream, GetObject, RangeSpec};
pub use hash::{checksum_of, BodyDigests, BodyHasher};
pub use maintenance::{CompactionReport, OpenReport, RebuildReport};
pub use multipart::{CompletedPart, ListPartsPage, ListUploadsPage, PartInfo};
pub use objects::{CopyOptions, MetadataDirective};
pub use records::VolumeRecord;
pub use stratum_metadata::{
    successor, ListPage, ListParams, ObjectRecord, PartRecord, PutCondition, UploadRecord,
};
pub use stratum_storage::ScrubReport;
pub use tiers::{
    ColdCandidate, ColdCompactionReport, ColdVolumeInfo, MoveReport, PackReport, ReconcileReport,
};
pub use usage::{tier_slot, Usage};

/// Engine records up to this size are erasure-coded on the calling task (see
/// `Engine::encode_record`).
const INLINE_RECORD_BYTES_MAX: usize = 64 * 1024;

/// The object layer. Cheap to clone; all clones share one store.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) storage: Arc<Storage>,
    pub(crate) meta: Arc<dyn MetadataStore>,
    pub(crate) encoder: Encoder,
    pub(crate) pins: Arc<pins::Pins>,
    /// Stripes a read had to reconstruct; the healer task rewrites their lost pieces.
    pub(crate) repairs: mpsc::UnboundedSender<(Tier, StripeRef)>,
    /// PUT commits waiting for the next metadata batch.
    pub(crate) commits: std::sync::mpsc::Sender<committer::CommitRequest>,
    /// Objects and logical bytes in the index.
    pub(crate) usage: usage::UsageCounters,
    /// The cold tier's bucket, when one is configured.
    pub(crate) remote: Option<stratum_storage::remote::RemoteStore>,
    /// Recompresses frames in batches on their way to cold (CPU threads, or the GPU).
    pub(crate) recompressor: Option<Arc<stratum_codec::BatchRecompressor>>,
}

/// What a PUT (or CreateMultipartUpload) stores besides the bytes.
#[derive(Debug, Clone)]
pub struct PutOptions {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Other stored headers (`content-encoding`, `content-disposition`, `content-language`,
    /// `cache-control`, `expires`), lowercase names.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` pairs, names without the prefix.
    pub user_metadata: Vec<(String, String)>,
    /// Additional checksums to compute and store.
    pub checksum_algorithms: Vec<ChecksumAlgorithm>,
    /// Content-MD5 the client sent: a mismatch fails with BadDigest and stores nothing.
    pub expected_md5: Option<[u8; 16]>,
    /// `x-amz-checksum-*` values the client sent: each is computed and compared.
    pub expected_checksums: Vec<ChecksumValue>,
    /// The announced body length; a body of another length fails with IncompleteBody.
    pub content_length: Option<u64>,
    /// Conditional write (`If-None-Match: *`, `If-Match`).
    pub condition: PutCondition,
    /// The tier to write to (hot unless the caller says otherwise).
    pub tier: Tier,
    /// Checksums that arrive after the body (`aws-chunked` trailers): the body stream fills
    /// this before it ends, and each value is compared like `expected_checksums`. The
    /// algorithms must also be in `checksum_algorithms` so they are computed.
    pub trailing_checksums: Option<TrailingChecksums>,
}

/// Checksum values a body stream learns only at its end (the `x-amz-checksum-*` trailer of
/// an `aws-chunked` body). Cheap to clone; clones share one slot.
#[derive(Debug, Clone, Default)]
pub struct TrailingChecksums(Arc<std::sync::Mutex<Vec<ChecksumValue>>>);

impl TrailingChecksums {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the values; called by the body stream before it yields its end.
    pub fn set(&self, values: Vec<ChecksumValue>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = values;
    }

    /// The values recorded so far.
    pub fn get(&self) -> Vec<ChecksumValue> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Default for PutOptions {
    fn default() -> Self {
        Self {
            content_type: None,
            headers: Vec::new(),
            user_metadata: Vec::new(),
            checksum_algorithms: Vec::new(),
            expected_md5: None,
            expected_checksums: Vec::new(),
            content_length: None,
            condition: PutCondition::None,
            tier: Tier::Hot,
            trailing_checksums: None,
        }
    }
}

/// An object's metadata as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The bucket.
    pub bucket: BucketName,
    /// The key.
    pub key: ObjectKey,
    /// Length of the original bytes.
    pub size: u64,
    /// Hex MD5 of the original bytes, or `hex-N` for a multipart object (no quotes).
    pub etag: String,
    /// Last-Modified, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// `Content-Type` as stored.
    pub content_type: Option<String>,
    /// Other stored headers.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` pairs.
    pub user_metadata: Vec<(String, String)>,
    /// Stored checksums (composite over parts for multipart objects).
    pub checksums: Vec<ChecksumValue>,
    /// Sizes of the parts of a multipart object (empty for a single PUT).
    pub part_sizes: Vec<u64>,
    /// The tier holding the bytes.
    pub tier: Tier,
    /// Global write sequence of the version.
    pub seq: u64,
}

impl ObjectInfo {
    pub(crate) fn from_record(bucket: &BucketName, key: &ObjectKey, r: &ObjectRecord) -> Self {
        Self {
            bucket: bucket.clone(),
            key: key.clone(),
            size: r.size,
            etag: r.etag.clone(),
            last_modified_ms: r.last_modified_ms,
            content_type: r.content_type.clone(),
            headers: r.headers.clone(),
            user_metadata: r.user_metadata.clone(),
            checksums: r.checksums.clone(),
            part_sizes: r.part_sizes.clone(),
            tier: r.location.tier,
            seq: r.seq,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs blocking work (metadata commits, disk reads, CPU work) off the reactor.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| EngineError::Unavailable("a blocking task panicked or was cancelled"))?
}

impl Engine {
    /// Opens (or creates) a store: storage recovery, the sled metadata store, orphan
    /// reclamation, and the background healer. Must be called inside a tokio runtime.
    pub async fn open(config: EngineConfig) -> Result<(Engine, OpenReport)> {
        let meta_config = config.metadata.clone();
        let meta: Arc<dyn MetadataStore> =
            blocking(move || Ok(Arc::new(SledStore::open(&meta_config)?) as _)).await?;
        Self::open_with_metadata(config, meta).await
    }

    /// Opens a store over a given metadata store (the in-memory one in tests).
    pub async fn open_with_metadata(
        config: EngineConfig,
        meta: Arc<dyn MetadataStore>,
    ) -> Result<(Engine, OpenReport)> {
        let storage_config = config.storage.clone();
        let (storage, recovery): (Storage, RecoveryReport) =
            blocking(move || Ok(Storage::open(&storage_config)?)).await?;
        let remote = config
            .storage
            .cold
            .as_ref()
            .map(stratum_storage::remote::RemoteStore::new)
            .transpose()?;
        let recompressor = config.storage.cold.as_ref().map(|c| {
            let r = stratum_codec::BatchRecompressor::new(stratum_codec::BatchConfig {
                level: c.zstd_level,
                threads: c.recompress_threads,
                gpu: if c.gpu {
                    stratum_codec::GpuMode::Auto
                } else {
                    stratum_codec::GpuMode::Off
                },
                nvcomp_path: c.nvcomp_path.clone(),
            });
            if let Some(why) = r.gpu_unavailable_reason().filter(|_| c.gpu) {
                tracing::warn!(reason = why, "GPU recompression unavailable; using the CPU");
            }
            Arc::new(r)
        });
        let (repairs, repair_rx) = mpsc::unbounded_channel();
        let commits = committer::start(meta.clone())
            .map_err(|_| EngineError::Unavailable("the committer thread could not start"))?;
        let engine = Engine {
            inner: Arc::new(Inner {
                encoder: Encoder::new(&config.codec),
                config,
                storage: Arc::new(storage),
                meta,
                pins: Arc::new(pins::Pins::default()),
                repairs,
                commits,
                usage: usage::UsageCounters::default(),
                remote,
                recompressor,
            }),
        };
        tokio::spawn(maintenance::healer(
            Arc::downgrade(&engine.inner),
            repair_rx,
        ));
        let report = engine.reclaim_orphans(recovery).await?;
        engine.recount_usage().await?;
        Ok((engine, report))
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The storage layer (for maintenance tools and tests).
    pub fn storage(&self) -> &Arc<Storage> {
        &self.inner.storage
    }

    /// The metadata store (for maintenance tools and tests).
    pub fn metadata(&self) -> &Arc<dyn MetadataStore> {
        &self.inner.meta
    }

    /// Objects and logical bytes in the index, without a scan.
    pub fn usage(&self) -> Usage {
        self.inner.usage.snapshot()
    }

    /// Counts the index afresh (on open and after a rebuild).
    pub(crate) async fn recount_usage(&self) -> Result<()> {
        let inner = self.inner.clone();
        let usage = blocking(move || usage::count(inner.meta.as_ref())).await?;
        self.inner.usage.set(usage);
        Ok(())
    }

    /// Creates a bucket. Its creation is recorded in a volume too, for index rebuilds.
    pub async fn create_bucket(&self, name: &BucketName) -> Result<()> {
        let inner = self.inner.clone();
        let n = name.clone();
        if blocking(move || Ok(inner.meta.get_bucket(&n)?))
            .await?
            .is_some()
        {
            return Err(EngineError::BucketAlreadyOwnedByYou);
        }
        let seq = self.next_seq().await?;
        let created_ms = now_ms();
        let record = VolumeRecord::Bucket {
            name: name.clone(),
            created_ms,
            seq,
        };
        self.append_records(Tier::Hot, vec![record]).await?;
        let inner = self.inner.clone();
        let rec = BucketRecord {
            name: name.clone(),
            created_ms,
        };
        blocking(move || Ok(inner.meta.create_bucket(&rec)?)).await
    }

    /// Deletes an empty bucket (BucketNotEmpty if it holds objects or uploads).
    pub async fn delete_bucket(&self, name: &BucketName) -> Result<()> {
        let inner = self.inner.clone();
        let n = name.clone();
        blocking(move || Ok(inner.meta.delete_bucket(&n)?)).await?;
        // Recorded after the metadata commit: a crash in between resurrects an empty bucket
        // on an index rebuild, which is harmless; the other order could hide live objects.
        let seq = self.next_seq().await?;
        self.append_records(
            Tier::Hot,
            vec![VolumeRecord::BucketDeleted {
                name: name.clone(),
                seq,
            }],
        )
        .await?;
        Ok(())
    }

    /// Whether a bucket exists, with its record.
    ///
    /// Point reads of the index are served from memory in microseconds; they run inline
    /// rather than paying a hop to the blocking pool, which under load costs far more.
    pub async fn head_bucket(&self, name: &BucketName) -> Result<BucketRecord> {
        self.inner
            .meta
            .get_bucket(name)?
            .ok_or(EngineError::NoSuchBucket)
    }

    /// All buckets, by name.
    pub async fn list_buckets(&self) -> Result<Vec<BucketRecord>> {
        let inner = self.inner.clone();
        blocking(move || Ok(inner.meta.list_buckets()?)).await
    }

    /// A new sequence number (an in-memory counter; inline like point reads).
    pub(crate) async fn next_seq(&self) -> Result<u64> {
        Ok(self.inner.meta.next_seq()?)
    }

    /// Commits one put through the batching committer (see `committer`).
    pub(crate) async fn commit_put(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        record: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<stratum_metadata::PutOutcome> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let item = stratum_metadata::PutItem {
            bucket: bucket.clone(),
            key: key.clone(),
            record: record.clone(),
            cond: cond.clone(),
        };
        self.inner
            .commits
            .send((item, reply))
            .map_err(|_| EngineError::Unavailable("the committer stopped"))?;
        Ok(answer
            .await
            .map_err(|_| EngineError::Unavailable("the committer dropped a commit"))??)
    }

    pub(crate) async fn require_bucket(&self, bucket: &BucketName) -> Result<()> {
        self.head_bucket(bucket).await.map(|_| ())
    }

    /// Appends engine records (headers, tombstones, bucket records) durably to a shared
    /// volume.
    pub(crate) async fn append_records(
        &self,
        tier: Tier,
        records: Vec<VolumeRecord>,
    ) -> Result<Vec<StripeRef>> {
        let mut stripes = Vec::with_capacity(records.len());
        for r in &records {
            stripes.push(self.encode_record(tier, r).await?);
        }
        Ok(self.inner.storage.append_shared(tier, stripes).await?)
    }

    /// Erasure-codes one engine record. Records are normally a few hundred bytes, which
    /// take microseconds to code, less than a hop to the blocking pool: those are coded in
    /// place. Larger ones (a header listing thousands of parts' extents) go off the reactor.
    pub(crate) async fn encode_record(
        &self,
        tier: Tier,
        record: &VolumeRecord,
    ) -> Result<stratum_storage::EncodedStripe> {
        let kind = match record {
            VolumeRecord::Object { .. } => RecordKind::Header,
            _ => RecordKind::Tombstone,
        };
        let payload = record.encode();
        if payload.len() <= INLINE_RECORD_BYTES_MAX {
            return Ok(self.inner.storage.encode(tier, kind, &payload)?);
        }
        let storage = self.inner.storage.clone();
        blocking(move || Ok(storage.encode(tier, kind, &payload)?)).await
    }

    /// Deletes volumes that no record references any more, once no reader pins them.
    /// Only dedicated volumes are freed here; shared ones are reclaimed by compaction,
    /// which carries their tombstones and bucket records forward.
    pub(crate) async fn free_unreferenced(
        &self,
        mut candidates: Vec<(Tier, stratum_core::VolumeId)>,
    ) {
        candidates.sort();
        candidates.dedup();
        if candidates.is_empty() {
            return;
        }
        let inner = self.inner.clone();
        let result = blocking(move || {
            let mut unreferenced = Vec::new();
            for (tier, id) in candidates {
                if inner.meta.volume_live_bytes(id)? > 0 {
                    continue;
                }
                if tier == Tier::Cold {
                    // A cold volume nothing references is dead whole: its remote object goes.
                    unreferenced.push((tier, id));
                    continue;
                }
                match inner.storage.volume_info(tier, id) {
                    Ok(v) if v.kind == VolumeKind::Dedicated => unreferenced.push((tier, id)),
                    // Shared volumes wait for compaction; a volume already gone needs nothing.
                    Ok(_) | Err(stratum_storage::StorageError::NoSuchVolume(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let mut cold = Vec::new();
            for (tier, id) in inner.pins.release_or_defer(unreferenced) {
                if tier == Tier::Cold {
                    cold.push(id);
                } else {
                    inner.storage.delete_volume(tier, id)?;
                }
            }
            Ok(cold)
        })
        .await;
        match result {
            Ok(cold) => {
                for id in cold {
                    tiers::delete_remote_volume(self.inner.clone(), id).await;
                }
            }
            // The bytes stay as orphans; the next open (or cold reconciliation) reclaims them.
            Err(e) => tracing::warn!(error = %e, "freeing unreferenced volumes failed"),
        }
    }
}
