//! One tier's disk set at run time: its directories, its code, and its open volumes.
//!
//! The volume map is the file-handle cache: every volume of the tier is opened once (at
//! open or creation) and its handles are shared by every reader, so reads never reopen files.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use stratum_core::{Tier, VolumeId};

use crate::erasure::Codec;
use crate::error::StorageError;
use crate::volume::VolumeFiles;
use crate::{StorageStats, VolumeKind};

/// Counters shared by every tier of a store.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) sync_rounds: AtomicU64,
    pub(crate) commit_batches: AtomicU64,
    pub(crate) stripes_appended: AtomicU64,
    pub(crate) volumes_created: AtomicU64,
}

impl Stats {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> StorageStats {
        StorageStats {
            sync_rounds: self.sync_rounds.load(Ordering::Relaxed),
            commit_batches: self.commit_batches.load(Ordering::Relaxed),
            stripes_appended: self.stripes_appended.load(Ordering::Relaxed),
            volumes_created: self.volumes_created.load(Ordering::Relaxed),
        }
    }
}

/// What the writer thread, dedicated writers and the store share about one tier.
#[derive(Debug)]
pub(crate) struct TierShared {
    pub(crate) tier: Tier,
    pub(crate) dirs: Vec<PathBuf>,
    pub(crate) codec: Codec,
    pub(crate) fsync: bool,
    volumes: RwLock<HashMap<VolumeId, Arc<VolumeFiles>>>,
    /// The next volume id, shared by every tier so ids are unique across the store.
    next_id: Arc<AtomicU64>,
    pub(crate) stats: Arc<Stats>,
}

impl TierShared {
    pub(crate) fn new(
        tier: Tier,
        dirs: Vec<PathBuf>,
        codec: Codec,
        fsync: bool,
        volumes: Vec<VolumeFiles>,
        next_id: Arc<AtomicU64>,
        stats: Arc<Stats>,
    ) -> Self {
        let volumes = volumes.into_iter().map(|v| (v.id, Arc::new(v))).collect();
        Self {
            tier,
            dirs,
            codec,
            fsync,
            volumes: RwLock::new(volumes),
            next_id,
            stats,
        }
    }

    /// The open volume `id`.
    pub(crate) fn volume(&self, id: VolumeId) -> Result<Arc<VolumeFiles>, StorageError> {
        let map = self.volumes.read().unwrap_or_else(|p| p.into_inner());
        map.get(&id).cloned().ok_or(StorageError::NoSuchVolume(id))
    }

    /// Every open volume, by id.
    pub(crate) fn all(&self) -> Vec<Arc<VolumeFiles>> {
        let map = self.volumes.read().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = map.values().cloned().collect();
        v.sort_by_key(|v| v.id);
        v
    }

    /// Allocates an id, creates the volume's files durably and registers it (writing).
    pub(crate) fn create_volume(&self, kind: VolumeKind) -> Result<Arc<VolumeFiles>, StorageError> {
        let id = self.next_id.fetch_add(1, Ordering::AcqRel);
        if id == u64::MAX {
            return Err(StorageError::IdsExhausted);
        }
        let vf = Arc::new(VolumeFiles::create(
            &self.dirs,
            VolumeId(id),
            self.tier,
            kind,
            self.codec.geometry(),
        )?);
        Stats::bump(&self.stats.volumes_created, 1);
        let mut map = self.volumes.write().unwrap_or_else(|p| p.into_inner());
        map.insert(vf.id, Arc::clone(&vf));
        Ok(vf)
    }

    /// Forgets a volume (its files are the caller's to delete).
    pub(crate) fn remove(&self, id: VolumeId) -> Option<Arc<VolumeFiles>> {
        let mut map = self.volumes.write().unwrap_or_else(|p| p.into_inner());
        map.remove(&id)
    }

    /// Removes a volume only if no writer appends to it, atomically with that check.
    pub(crate) fn remove_idle(&self, id: VolumeId) -> Result<Arc<VolumeFiles>, StorageError> {
        let mut map = self.volumes.write().unwrap_or_else(|p| p.into_inner());
        let vf = map.get(&id).ok_or(StorageError::NoSuchVolume(id))?;
        if vf.is_writing() {
            return Err(StorageError::VolumeActive(id));
        }
        map.remove(&id).ok_or(StorageError::NoSuchVolume(id))
    }
}
