//! `Storage`: the tiers' disk sets behind one handle, and the public operations on them.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use stratum_core::config::StorageConfig;
use stratum_core::{StripeRef, Tier, VolumeId};
use tokio::sync::oneshot;

use crate::dedicated::DedicatedWriter;
use crate::erasure::{Codec, EncodedStripe};
use crate::error::StorageError;
use crate::layout::shard_path;
use crate::recovery::open_tier;
use crate::tier::{Stats, TierShared};
use crate::volume::lock;
use crate::writer::{Command, Limits, WriterHandle};
use crate::{
    RecordKind, RecoveryReport, ScrubReport, StorageStats, StripeRead, VolumeInfo, VolumeKind,
};

/// One configured tier: its shared state and its (lazily started) writer thread.
#[derive(Debug)]
struct TierState {
    shared: Arc<TierShared>,
    writer: Mutex<Option<WriterHandle>>,
}

/// Erasure-coded append-only volumes on the disk sets of the hot and warm tiers.
/// `Send + Sync`; callers share it through an `Arc`.
#[derive(Debug)]
pub struct Storage {
    hot: TierState,
    warm: Option<TierState>,
    limits: Limits,
    stats: Arc<Stats>,
}

impl Storage {
    /// Creates missing dirs, opens every volume of every configured tier, validates each
    /// volume header against the tier's k/m (`GeometryMismatch` refuses to open), and
    /// recovers torn tails (see the `recovery` module). Fewer dirs than `k + m` is
    /// `TooFewDirs` unless `allow_fewer_dirs` (then a loud warning, also in the report).
    pub fn open(config: &StorageConfig) -> Result<(Storage, RecoveryReport), StorageError> {
        let mut report = RecoveryReport::default();
        let stats = Arc::new(Stats::default());
        let next_id = Arc::new(AtomicU64::new(1));
        let mut opened = Vec::new();
        let mut max_id = 0;
        let tiers = [
            (Tier::Hot, Some(&config.hot)),
            (Tier::Warm, config.warm.as_ref()),
        ];
        for (tier, cfg) in tiers {
            let Some(cfg) = cfg else { continue };
            let codec = Codec::new(tier, cfg.data_pieces, cfg.parity_pieces)?;
            let (volumes, tier_max) = open_tier(tier, cfg, config.fsync, &mut report)?;
            max_id = max_id.max(tier_max);
            opened.push((tier, cfg.dirs.clone(), codec, volumes));
        }
        next_id.store(max_id + 1, std::sync::atomic::Ordering::Release);
        let mut hot = None;
        let mut warm = None;
        for (tier, dirs, codec, volumes) in opened {
            let state = TierState {
                shared: Arc::new(TierShared::new(
                    tier,
                    dirs,
                    codec,
                    config.fsync,
                    volumes,
                    Arc::clone(&next_id),
                    Arc::clone(&stats),
                )),
                writer: Mutex::new(None),
            };
            match tier {
                Tier::Hot => hot = Some(state),
                _ => warm = Some(state),
            }
        }
        let hot = hot.ok_or(StorageError::NoSuchTier(Tier::Hot))?;
        let storage = Storage {
            hot,
            warm,
            limits: Limits {
                records_max: config.group_commit_records_max.max(1),
                bytes_max: config.group_commit_bytes_max.max(1),
                volume_bytes_max: config.shared_volume_bytes_max,
            },
            stats,
        };
        tracing::info!(
            volumes = report.volumes,
            stripes = report.stripes,
            torn_bytes = report.torn_bytes_truncated,
            missing_shard_files = report.shard_files_missing,
            "storage opened"
        );
        Ok((storage, report))
    }

    fn tier(&self, tier: Tier) -> Result<&TierState, StorageError> {
        match tier {
            Tier::Hot => Ok(&self.hot),
            Tier::Warm => self.warm.as_ref().ok_or(StorageError::NoSuchTier(tier)),
            Tier::Cold => Err(StorageError::NoSuchTier(tier)),
        }
    }

    fn shared(&self, tier: Tier) -> Result<&Arc<TierShared>, StorageError> {
        Ok(&self.tier(tier)?.shared)
    }

    /// `(k, m)` of the tier.
    pub fn geometry(&self, tier: Tier) -> Result<(u8, u8), StorageError> {
        Ok(self.shared(tier)?.codec.geometry())
    }

    /// CPU only: split, Reed-Solomon encode, BLAKE3 every piece and the payload. Call from a
    /// blocking thread.
    pub fn encode(
        &self,
        tier: Tier,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<EncodedStripe, StorageError> {
        self.shared(tier)?.codec.encode(kind, payload)
    }

    /// Group commit: appends the stripes contiguously and in order to the tier's active
    /// shared volume and returns once they are durable (if `config.fsync`). See
    /// `writer` module for the round. Never splits one call's stripes across volumes.
    pub async fn append_shared(
        &self,
        tier: Tier,
        stripes: Vec<EncodedStripe>,
    ) -> Result<Vec<StripeRef>, StorageError> {
        if stripes.is_empty() {
            return Ok(Vec::new());
        }
        let state = self.tier(tier)?;
        let expected = state.shared.codec.geometry();
        if let Some(s) = stripes.iter().find(|s| s.geometry() != expected) {
            return Err(StorageError::StripeGeometry {
                tier,
                found: s.geometry(),
                expected,
            });
        }
        let (reply, answer) = oneshot::channel();
        self.writer(state)?
            .send(Command::Append { stripes, reply })
            .map_err(|_| StorageError::WriterGone)?;
        answer.await.map_err(|_| StorageError::WriterGone)?
    }

    /// The sender to the tier's writer thread, starting it on first use.
    fn writer(&self, state: &TierState) -> Result<std::sync::mpsc::Sender<Command>, StorageError> {
        let mut w = lock(&state.writer);
        if w.is_none() {
            *w = Some(WriterHandle::start(Arc::clone(&state.shared), self.limits)?);
        }
        w.as_ref()
            .and_then(WriterHandle::sender)
            .ok_or(StorageError::WriterGone)
    }

    /// A dedicated volume for one large/streaming object (blocking; callers use
    /// `spawn_blocking`).
    pub fn create_dedicated(&self, tier: Tier) -> Result<DedicatedWriter, StorageError> {
        let shared = self.shared(tier)?;
        let volume = shared.create_volume(VolumeKind::Dedicated)?;
        Ok(DedicatedWriter::new(Arc::clone(shared), volume))
    }

    /// Blocking read of one stripe: the `k` data pieces (one pread of header + piece per
    /// shard); on any lost piece the parity pieces too, and reconstruction; then the payload
    /// hash is verified.
    pub fn read_stripe(&self, tier: Tier, stripe: &StripeRef) -> Result<StripeRead, StorageError> {
        let shared = self.shared(tier)?;
        let vf = shared.volume(stripe.volume)?;
        crate::stripe::read(&vf, &shared.codec, stripe)
    }

    /// Rewrites lost pieces of one stripe in place (recreating a missing shard file with its
    /// volume header if needed; pwrite at the same offset; fdatasync). Returns pieces rewritten.
    pub fn repair_stripe(&self, tier: Tier, stripe: &StripeRef) -> Result<u32, StorageError> {
        let shared = self.shared(tier)?;
        let vf = shared.volume(stripe.volume)?;
        crate::stripe::repair_ref(&vf, &shared.codec, stripe)
    }

    /// Every stripe of a volume in offset order, from the piece headers (`payload_hash` all
    /// zeros: the headers do not hold it).
    pub fn scan_volume(
        &self,
        tier: Tier,
        id: VolumeId,
    ) -> Result<Vec<(StripeRef, RecordKind)>, StorageError> {
        let vf = self.shared(tier)?.volume(id)?;
        crate::stripe::scan(&vf)
    }

    /// The tier's volumes, by id.
    pub fn volumes(&self, tier: Tier) -> Result<Vec<VolumeInfo>, StorageError> {
        Ok(self.shared(tier)?.all().iter().map(|v| v.info()).collect())
    }

    /// One volume's information (`NoSuchVolume` if it is not open in this tier): a map lookup,
    /// for callers that would otherwise list every volume to find one.
    pub fn volume_info(&self, tier: Tier, id: VolumeId) -> Result<VolumeInfo, StorageError> {
        Ok(self.shared(tier)?.volume(id)?.info())
    }

    /// Deletes all shard files of a volume and fsyncs their dirs. Refuses a volume being
    /// written (the active shared volume, or a dedicated volume whose writer is alive).
    pub fn delete_volume(&self, tier: Tier, id: VolumeId) -> Result<(), StorageError> {
        let vf = self.shared(tier)?.remove_idle(id)?;
        vf.delete_files()
    }

    /// Seals the active shared volume so the next append opens a new one. Blocks until the
    /// writer has sealed it (after the appends queued before this call).
    pub fn seal_active(&self, tier: Tier) -> Result<(), StorageError> {
        let state = self.tier(tier)?;
        let sender = match lock(&state.writer).as_ref() {
            Some(w) => w.sender().ok_or(StorageError::WriterGone)?,
            // No writer yet means no active volume.
            None => return Ok(()),
        };
        let (reply, answer) = std::sync::mpsc::channel();
        sender
            .send(Command::Seal { reply })
            .map_err(|_| StorageError::WriterGone)?;
        answer.recv().map_err(|_| StorageError::WriterGone)?
    }

    /// Reads every piece of every stripe of every volume of the tier, checks headers and
    /// BLAKE3, rebuilds lost pieces from the others and reports counts.
    pub fn scrub(&self, tier: Tier) -> Result<ScrubReport, StorageError> {
        crate::scrub::scrub_tier(self.shared(tier)?)
    }

    /// The path of shard `index` of volume `id` (for tests and tools): where the open
    /// volume's file is, or where the layout puts it.
    pub fn shard_path(
        &self,
        tier: Tier,
        id: VolumeId,
        index: usize,
    ) -> Result<PathBuf, StorageError> {
        let shared = self.shared(tier)?;
        if index >= shared.codec.width() {
            return Err(StorageError::NoSuchShard { volume: id, index });
        }
        Ok(match shared.volume(id) {
            Ok(vf) => vf.paths[index].clone(),
            Err(_) => shard_path(&shared.dirs, id, index),
        })
    }

    /// Counters since open (group-commit rounds, fdatasync rounds, stripes, volumes).
    pub fn stats(&self) -> StorageStats {
        self.stats.snapshot()
    }
}
