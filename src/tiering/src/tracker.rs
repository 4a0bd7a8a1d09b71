//! [`AccessTracker`]: the live per-object [`AccessStats`], updated in memory on every GET,
//! range GET and HEAD and persisted in batches to the metadata store's access tree.
//!
//! Cost per request: one hash of (bucket, key) to pick a shard, one uncontended-in-practice
//! mutex, one map update. No metadata write happens on the request path: dirty entries are
//! written together by [`AccessTracker::flush`] (one [`MetadataStore::put_access_batch`],
//! so one commit and one flush), which the binary calls every `tiering.access_flush_secs`
//! and once more at graceful shutdown. A crash loses at most the accesses of one interval.
//!
//! Loading is lazy: the first touch of an object not in memory reads its stored statistics
//! (one metadata read, no write) and continues from them; nothing is scanned at start, so
//! start-up cost does not grow with the number of objects.
//!
//! Memory is bounded by `capacity` entries plus the objects first touched within one flush
//! interval: when a shard is over its share of `capacity`, clean entries (already persisted)
//! are evicted, and a flush evicts clean entries beyond the cap too. An evicted entry is
//! simply reloaded from the store on its next touch. Dirty entries are never evicted, so
//! nothing recorded is lost to the cap.
//!
//! Time is an argument (`now_s`, seconds): the tracker, like the policy, reads no clock.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use stratum_core::{BucketName, ObjectKey, Tier};
use stratum_metadata::{MetaError, MetadataStore};

use crate::policy::PolicyConfig;
use crate::stats::{AccessStats, Hint};

/// Shards of the in-memory map: requests for different objects rarely share a mutex.
const SHARDS: usize = 64;

/// Default cap on statistics kept in memory (about 200 bytes each with the key).
pub const CAPACITY_DEFAULT: usize = 1 << 20;

/// The stored encoding's version, the first field of every stored record.
const STORED_VERSION: u8 = 2;

/// One access, as the S3 API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    /// A GET or range GET that returned `bytes` (the range's length for a range GET).
    Get {
        /// Bytes actually requested.
        bytes: u64,
    },
    /// A HEAD.
    Head,
}

/// Why the tracker could not load or persist statistics.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The metadata store failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// A stored record could not be decoded; names the object.
    #[error("corrupt access statistics for {bucket}/{key}: {detail}")]
    Corrupt {
        /// The object's bucket.
        bucket: String,
        /// The object's key.
        key: String,
        /// What was wrong.
        detail: String,
    },
}

/// The persisted form of [`AccessStats`] (postcard). Kept apart from `AccessStats` so that
/// the policy's struct can change without changing the stored format silently: a new field
/// means a new `STORED_VERSION`. Version 1 is this struct alone; version 2 appends
/// [`StoredLong`]. Both decode.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    version: u8,
    size: u64,
    created_s: f64,
    tier: Tier,
    pinned: Option<Tier>,
    last_access_s: Option<f64>,
    last_head_s: Option<f64>,
    last_move_s: Option<f64>,
    frequency: f64,
    burst: f64,
    decayed_at_s: f64,
    gets: u64,
    heads: u64,
    bytes_read: u64,
    class: u32,
    prior_reads: f64,
    window_gets: u32,
    prior_closed: bool,
}

/// What version 2 appends to [`Stored`]: the long prior window.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredLong {
    long_prior_reads: f64,
    long_window_gets: u32,
    long_prior_closed: bool,
}

/// Encodes statistics as stored in the access tree.
pub fn encode(s: &AccessStats) -> Vec<u8> {
    let stored = Stored {
        version: STORED_VERSION,
        size: s.size,
        created_s: s.created_s,
        tier: s.tier,
        pinned: s.hint.pinned(),
        last_access_s: s.last_access_s,
        last_head_s: s.last_head_s,
        last_move_s: s.last_move_s,
        frequency: s.frequency,
        burst: s.burst,
        decayed_at_s: s.decayed_at_s,
        gets: s.gets,
        heads: s.heads,
        bytes_read: s.bytes_read,
        class: s.class,
        prior_reads: s.prior_reads,
        window_gets: s.window_gets,
        prior_closed: s.prior_closed,
    };
    let long = StoredLong {
        long_prior_reads: s.long_prior_reads,
        long_window_gets: s.long_window_gets,
        long_prior_closed: s.long_prior_closed,
    };
    // Serializing plain numbers and enums into a Vec cannot fail.
    let mut out = postcard::to_allocvec(&stored).unwrap_or_default();
    out.extend(postcard::to_allocvec(&long).unwrap_or_default());
    out
}

/// Decodes statistics stored by [`encode`]; the error says what was wrong.
pub fn decode(bytes: &[u8]) -> Result<AccessStats, String> {
    let (s, rest): (Stored, &[u8]) = postcard::take_from_bytes(bytes).map_err(|e| e.to_string())?;
    let long = match s.version {
        1 => StoredLong::default(),
        STORED_VERSION => postcard::from_bytes(rest).map_err(|e| e.to_string())?,
        v => return Err(format!("unknown version {v}")),
    };
    Ok(AccessStats {
        size: s.size,
        created_s: s.created_s,
        tier: s.tier,
        hint: s.pinned.map_or(Hint::Auto, Hint::Pinned),
        last_access_s: s.last_access_s,
        last_head_s: s.last_head_s,
        last_move_s: s.last_move_s,
        frequency: s.frequency,
        burst: s.burst,
        decayed_at_s: s.decayed_at_s,
        gets: s.gets,
        heads: s.heads,
        bytes_read: s.bytes_read,
        class: s.class,
        prior_reads: s.prior_reads,
        window_gets: s.window_gets,
        prior_closed: s.prior_closed,
        long_prior_reads: long.long_prior_reads,
        long_window_gets: long.long_window_gets,
        long_prior_closed: long.long_prior_closed,
    })
}

type ObjectId = (BucketName, ObjectKey);

/// One object's statistics and whether they are persisted.
#[derive(Debug)]
struct Entry {
    stats: AccessStats,
    /// Bumped by every change.
    version: u64,
    /// The version last written to the store; the entry is dirty while they differ.
    flushed: u64,
}

impl Entry {
    fn dirty(&self) -> bool {
        self.version != self.flushed
    }
}

/// What one [`AccessTracker::flush`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlushReport {
    /// Entries written (all in one batch).
    pub written: usize,
    /// Clean entries evicted because memory was over the cap.
    pub evicted: usize,
}

/// Live access statistics of every recently touched object. Thread-safe and cheap to
/// share (`Arc`); see the module docs for loading, flushing and the memory bound.
pub struct AccessTracker {
    store: Arc<dyn MetadataStore>,
    config: PolicyConfig,
    shards: Vec<Mutex<HashMap<ObjectId, Entry>>>,
    hasher: std::collections::hash_map::RandomState,
    /// Entries allowed per shard before clean ones are evicted.
    shard_capacity: usize,
    /// Serializes flushes with each other and with `forget`, so a flush that read an entry
    /// before `forget` removed it cannot write it back afterwards.
    flush_lock: Mutex<()>,
    /// Batches written so far.
    batches: AtomicU64,
    /// Objects read by a GET since the mover last asked ([`AccessTracker::take_touched`]),
    /// sharded like the statistics (a GET never takes a global lock), at most
    /// `TOUCHED_MAX` in all: the mover checks them for promotion.
    touched: Vec<Mutex<HashSet<ObjectId>>>,
}

/// Objects remembered as touched between two mover ticks; beyond it, the periodic pass
/// still sees every access through the statistics.
const TOUCHED_MAX: usize = 100_000;

impl std::fmt::Debug for AccessTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTracker")
            .field("shard_capacity", &self.shard_capacity)
            .field("batches", &self.batches.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update computes and then assigns whole values: a panic cannot leave an entry
    // half-written, so a poisoned shard is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AccessTracker {
    /// A tracker persisting into `store`, updating statistics with `config`'s half-lives,
    /// keeping about `capacity` entries in memory (at least one per shard).
    pub fn new(store: Arc<dyn MetadataStore>, config: PolicyConfig, capacity: usize) -> Self {
        AccessTracker {
            store,
            config,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            shard_capacity: (capacity / SHARDS).max(1),
            flush_lock: Mutex::new(()),
            batches: AtomicU64::new(0),
            touched: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
        }
    }

    fn shard_index(&self, bucket: &BucketName, key: &ObjectKey) -> usize {
        let mut h = self.hasher.build_hasher();
        bucket.hash(&mut h);
        key.hash(&mut h);
        usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0)
    }

    fn shard(&self, bucket: &BucketName, key: &ObjectKey) -> &Mutex<HashMap<ObjectId, Entry>> {
        &self.shards[self.shard_index(bucket, key)]
    }

    fn load(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<AccessStats>, TrackerError> {
        match self.store.get_access(bucket, key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|detail| TrackerError::Corrupt {
                    bucket: bucket.as_str().to_owned(),
                    key: key.as_str().to_owned(),
                    detail,
                }),
        }
    }

    /// Records one access of the object (`size` = its current size) at `now_s`. The first
    /// touch of an object not in memory loads its stored statistics; an object never seen
    /// starts afresh, as does one whose size changed (an overwrite is a new version). On an
    /// error nothing is recorded: the stored statistics are never replaced by fresh ones
    /// because a read failed.
    pub fn record(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        kind: AccessKind,
        size: u64,
        now_s: f64,
    ) -> Result<(), TrackerError> {
        let index = self.shard_index(bucket, key);
        let shard = &self.shards[index];
        let id = (bucket.clone(), key.clone());
        let mut map = lock(shard);
        if !map.contains_key(&id) {
            // Read without holding the shard: a metadata read must not stall other objects.
            drop(map);
            let loaded = self.load(bucket, key)?;
            map = lock(shard);
            if !map.contains_key(&id) {
                let stats = loaded.unwrap_or_else(|| fresh(size, now_s));
                // Loaded entries start clean; a fresh one is dirtied by the update below.
                map.insert(
                    id.clone(),
                    Entry {
                        stats,
                        version: 0,
                        flushed: 0,
                    },
                );
                if map.len() > self.shard_capacity {
                    evict_clean(&mut map, self.shard_capacity, Some(&id));
                }
            }
        }
        let Some(entry) = map.get_mut(&id) else {
            // Unreachable: inserted above under the same lock.
            return Ok(());
        };
        if entry.stats.size != size {
            entry.stats = fresh(size, now_s);
        }
        match kind {
            AccessKind::Get { bytes } => entry.stats.record_get(now_s, bytes, &self.config),
            AccessKind::Head => entry.stats.record_head(now_s, &self.config),
        }
        entry.version += 1;
        drop(map);
        if matches!(kind, AccessKind::Get { .. }) {
            let mut touched = lock(&self.touched[index]);
            if touched.len() < TOUCHED_MAX / SHARDS {
                touched.insert(id);
            }
        }
        Ok(())
    }

    /// The object's statistics: from memory, else from the store (without caching them);
    /// `None` if it has none.
    pub fn stats(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<AccessStats>, TrackerError> {
        let id = (bucket.clone(), key.clone());
        if let Some(e) = lock(self.shard(bucket, key)).get(&id) {
            return Ok(Some(e.stats.clone()));
        }
        self.load(bucket, key)
    }

    /// Drops the object's statistics, in memory and in the store (its last version was
    /// deleted).
    pub fn forget(&self, bucket: &BucketName, key: &ObjectKey) -> Result<(), TrackerError> {
        let _flushing = lock(&self.flush_lock);
        lock(self.shard(bucket, key)).remove(&(bucket.clone(), key.clone()));
        self.store.delete_access(bucket, key)?;
        Ok(())
    }

    /// Writes every dirty entry in ONE `put_access_batch`, then evicts clean entries beyond
    /// the cap. An entry changed while the batch was being written stays dirty for the next
    /// flush; on error every entry stays dirty.
    pub fn flush(&self) -> Result<FlushReport, TrackerError> {
        let _flushing = lock(&self.flush_lock);
        let mut batch = Vec::new();
        let mut versions = Vec::new();
        for shard in &self.shards {
            let map = lock(shard);
            for (id, e) in map.iter().filter(|(_, e)| e.dirty()) {
                batch.push((id.0.clone(), id.1.clone(), encode(&e.stats)));
                versions.push(e.version);
            }
        }
        if !batch.is_empty() {
            self.store.put_access_batch(&batch)?;
            self.batches.fetch_add(1, Ordering::Relaxed);
        }
        let mut report = FlushReport {
            written: batch.len(),
            evicted: 0,
        };
        for ((bucket, key, _), version) in batch.into_iter().zip(versions) {
            let mut map = lock(self.shard(&bucket, &key));
            if let Some(e) = map.get_mut(&(bucket, key)) {
                e.flushed = e.flushed.max(version);
            }
        }
        for shard in &self.shards {
            let mut map = lock(shard);
            if map.len() > self.shard_capacity {
                report.evicted += evict_clean(&mut map, self.shard_capacity, None);
            }
        }
        Ok(report)
    }

    /// The objects read by a GET since the last call (each once), for the mover's
    /// on-access promotion checks.
    pub fn take_touched(&self) -> Vec<(BucketName, ObjectKey)> {
        self.touched
            .iter()
            .flat_map(|t| lock(t).drain().collect::<Vec<_>>())
            .collect()
    }

    /// Replaces the policy-owned fields of an object's statistics (its tier, pinned hint,
    /// class, creation time and last move), which the tracker cannot know: the mover sets
    /// them after each move. An object not in memory gets `stats` as its entry. Either way
    /// the entry is dirty, so the next flush persists the move (and `min_residency_s`
    /// survives a restart).
    pub fn set_placement(&self, bucket: &BucketName, key: &ObjectKey, stats: &AccessStats) {
        let id = (bucket.clone(), key.clone());
        let shard = self.shard(bucket, key);
        let mut map = lock(shard);
        match map.get_mut(&id) {
            Some(e) if e.stats.size == stats.size => {
                e.stats.tier = stats.tier;
                e.stats.hint = stats.hint;
                e.stats.class = stats.class;
                e.stats.created_s = stats.created_s;
                e.stats.last_move_s = stats.last_move_s;
                e.version += 1;
            }
            Some(_) => {}
            None => {
                map.insert(
                    id.clone(),
                    Entry {
                        stats: stats.clone(),
                        version: 1,
                        flushed: 0,
                    },
                );
                if map.len() > self.shard_capacity {
                    evict_clean(&mut map, self.shard_capacity, Some(&id));
                }
            }
        }
    }

    /// Entries in memory now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no entry is in memory.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dirty entries in memory now (what the next flush would write).
    pub fn dirty(&self) -> usize {
        self.shards
            .iter()
            .map(|s| lock(s).values().filter(|e| e.dirty()).count())
            .sum()
    }

    /// Batches written since the tracker was made.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
}

/// Statistics for an object first seen at `now_s`. The tracker does not know when it was
/// written, its tier or its hint: the PUT path and the mover own those and will set them;
/// until then it counts as written now, in the hot tier, unpinned, with no prior.
fn fresh(size: u64, now_s: f64) -> AccessStats {
    AccessStats::new(now_s, size, Tier::Hot, Hint::Auto, 0, 0.0)
}

/// Evicts clean entries (never `keep`) until `map` holds at most `cap`; returns how many.
fn evict_clean(map: &mut HashMap<ObjectId, Entry>, cap: usize, keep: Option<&ObjectId>) -> usize {
    let excess = map.len().saturating_sub(cap);
    let victims: Vec<ObjectId> = map
        .iter()
        .filter(|(id, e)| !e.dirty() && Some(*id) != keep)
        .map(|(id, _)| id.clone())
        .take(excess)
        .collect();
    for id in &victims {
        map.remove(id);
    }
    victims.len()
}
