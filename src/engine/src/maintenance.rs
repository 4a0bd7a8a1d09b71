//! Recovery, healing, compaction, scrubbing and index rebuild.
//!
//! - On open, storage has truncated torn tails; the engine then deletes dedicated volumes
//!   that no record references (writes that died before their commit) and reports them.
//!   If the index is empty while volumes exist, it is rebuilt from the volumes first, so a
//!   lost metadata directory never leads to deleting data.
//! - The healer rewrites pieces that reads had to reconstruct.
//! - Compaction rewrites the live objects of mostly-dead sealed shared volumes into the
//!   active one, carries forward the tombstones and bucket records still needed, and deletes
//!   the old volume once nothing references it.
//! - `rebuild_index` restores buckets and objects from the self-describing volumes:
//!   for each name, the record with the highest sequence number wins.

use std::collections::BTreeMap;
use std::sync::Weak;

use stratum_core::{BucketName, Extent, ObjectKey, StripeRef, Tier, VolumeId};
use stratum_metadata::{BucketRecord, ObjectRecord, PutCondition};
use stratum_storage::{RecordKind, RecoveryReport, ScrubReport, VolumeKind};
use tokio::sync::mpsc;

use crate::error::{EngineError, Result};
use crate::records::{place_following, VolumeRecord};
use crate::{blocking, failpoint, Engine, Inner};

/// What opening a store found and did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// What storage recovery truncated and found missing.
    pub recovery: RecoveryReport,
    /// The index was empty while volumes existed, so it was rebuilt from them.
    pub rebuilt: Option<RebuildReport>,
    /// Dedicated volumes no record referenced (writes that died before their commit).
    pub orphan_volumes_deleted: Vec<VolumeId>,
    /// Bytes those volumes held on disk.
    pub orphan_bytes_reclaimed: u64,
}

/// What an index rebuild restored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Volumes scanned.
    pub volumes: usize,
    /// Engine records read (headers, tombstones, bucket records).
    pub records: u64,
    /// Buckets restored.
    pub buckets: usize,
    /// Objects restored.
    pub objects: usize,
    /// Records that could not be read or parsed (beyond parity, or corrupt).
    pub unreadable: u64,
}

/// What one compaction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Volumes examined whose dead fraction passed the threshold.
    pub volumes_compacted: usize,
    /// Volumes deleted because nothing referenced them any more.
    pub volumes_deleted: usize,
    /// Objects whose header (and data in the volume) moved.
    pub objects_moved: u64,
    /// Tombstones and bucket records carried forward.
    pub records_carried: u64,
    /// Stripe bytes of the deleted volumes.
    pub bytes_reclaimed: u64,
}

/// The background task that rewrites lost pieces of stripes a read reconstructed.
pub(crate) async fn healer(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<(Tier, StripeRef)>) {
    while let Some((tier, stripe)) = rx.recv().await {
        let Some(inner) = inner.upgrade() else {
            break;
        };
        let result =
            tokio::task::spawn_blocking(move || inner.storage.repair_stripe(tier, &stripe)).await;
        match result {
            Ok(Ok(pieces)) => tracing::info!(pieces, "healed a stripe a read reconstructed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "healing a stripe failed"),
            Err(_) => tracing::warn!("the healing task panicked"),
        }
    }
}

impl Engine {
    fn tiers(&self) -> Vec<Tier> {
        let mut t = vec![Tier::Hot];
        if self.inner.config.storage.warm.is_some() {
            t.push(Tier::Warm);
        }
        t
    }

    /// After storage recovery: rebuild a missing index, then delete orphan dedicated volumes.
    pub(crate) async fn reclaim_orphans(&self, recovery: RecoveryReport) -> Result<OpenReport> {
        let mut report = OpenReport {
            recovery,
            ..OpenReport::default()
        };
        let inner = self.inner.clone();
        let tiers = self.tiers();
        let index_missing = blocking(move || {
            let empty = inner.meta.list_buckets()?.is_empty();
            let mut volumes = 0;
            for t in tiers {
                volumes += inner.storage.volumes(t)?.len();
            }
            Ok(empty && volumes > 0)
        })
        .await?;
        if index_missing {
            tracing::warn!("the index is empty but volumes exist: rebuilding it from the volumes");
            report.rebuilt = Some(self.rebuild_index().await?);
        }
        let inner = self.inner.clone();
        let tiers = self.tiers();
        let (deleted, bytes) = blocking(move || {
            let mut deleted = Vec::new();
            let mut bytes = 0;
            for tier in tiers {
                for v in inner.storage.volumes(tier)? {
                    if v.kind == VolumeKind::Dedicated && inner.meta.volume_live_bytes(v.id)? == 0 {
                        inner.storage.delete_volume(tier, v.id)?;
                        deleted.push(v.id);
                        bytes += v.stripe_bytes;
                    }
                }
            }
            Ok((deleted, bytes))
        })
        .await?;
        if !deleted.is_empty() {
            tracing::info!(
                volumes = deleted.len(),
                bytes,
                "reclaimed orphan dedicated volumes"
            );
        }
        report.orphan_volumes_deleted = deleted;
        report.orphan_bytes_reclaimed = bytes;
        Ok(report)
    }

    /// Reads every piece of a tier, verifies it, and rebuilds lost pieces from parity.
    pub async fn scrub(&self, tier: Tier) -> Result<ScrubReport> {
        let inner = self.inner.clone();
        blocking(move || Ok(inner.storage.scrub(tier)?)).await
    }

    /// Compacts the sealed shared volumes of a tier whose dead fraction is at least the
    /// configured `compaction_dead_ratio`.
    pub async fn compact(&self, tier: Tier) -> Result<CompactionReport> {
        let inner = self.inner.clone();
        let ratio = self.inner.config.compaction_dead_ratio;
        let candidates = blocking(move || {
            let mut out = Vec::new();
            for v in inner.storage.volumes(tier)? {
                if v.kind != VolumeKind::Shared
                    || !v.sealed
                    || v.stripe_bytes == 0
                    || inner.pins.is_pinned((tier, v.id))
                {
                    continue;
                }
                let live = inner.meta.volume_live_bytes(v.id)?.min(v.stripe_bytes);
                let dead = (v.stripe_bytes - live) as f64 / v.stripe_bytes as f64;
                if dead >= ratio {
                    out.push((v.id, v.stripe_bytes));
                }
            }
            Ok(out)
        })
        .await?;
        let mut report = CompactionReport::default();
        for (id, bytes) in candidates {
            report.volumes_compacted += 1;
            if self.compact_volume(tier, id, &mut report).await? {
                report.volumes_deleted += 1;
                report.bytes_reclaimed += bytes;
            }
        }
        Ok(report)
    }

    /// Moves what is still needed out of one sealed shared volume; deletes it if nothing
    /// references it afterwards. Returns whether it was deleted.
    async fn compact_volume(
        &self,
        tier: Tier,
        id: VolumeId,
        report: &mut CompactionReport,
    ) -> Result<bool> {
        let records = self.volume_records(tier, id).await?;
        let mut carried = Vec::new();
        for (stripe, record) in records {
            let needed = match &record {
                VolumeRecord::Object {
                    bucket,
                    key,
                    record: object,
                    following,
                } => {
                    let mut object = (**object).clone();
                    if *following {
                        place_following(&stripe, &mut object);
                    }
                    if self.relocate(tier, id, bucket, key, object).await? {
                        report.objects_moved += 1;
                        failpoint::hit("compact.relocated");
                    }
                    false
                }
                // A tombstone is needed while its key is absent: an older header of the key
                // may survive in another volume.
                VolumeRecord::Tombstone { bucket, key, .. } => {
                    self.current_record(bucket, key).await?.is_none()
                }
                // Needed while the key holds no newer committed write.
                VolumeRecord::Aborted { bucket, key, seq } => self
                    .current_record(bucket, key)
                    .await?
                    .is_none_or(|current| current.seq < *seq),
                VolumeRecord::Bucket { name, .. } => self.head_bucket(name).await.is_ok(),
                VolumeRecord::BucketDeleted { name, .. } => self.head_bucket(name).await.is_err(),
            };
            if needed {
                carried.push(record);
            }
        }
        report.records_carried += carried.len() as u64;
        if !carried.is_empty() {
            self.append_records(tier, carried).await?;
        }
        let inner = self.inner.clone();
        blocking(move || {
            if inner.meta.volume_live_bytes(id)? > 0 {
                return Ok(false);
            }
            let now = inner.pins.release_or_defer(vec![(tier, id)]);
            for (t, v) in &now {
                inner.storage.delete_volume(*t, *v)?;
            }
            Ok(true)
        })
        .await
    }

    /// Every engine record of a volume with the stripe it was read from (hash filled in).
    async fn volume_records(
        &self,
        tier: Tier,
        id: VolumeId,
    ) -> Result<Vec<(StripeRef, VolumeRecord)>> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut out = Vec::new();
            for (mut stripe, kind) in inner.storage.scan_volume(tier, id)? {
                if kind == RecordKind::Frame {
                    continue;
                }
                let read = inner.storage.read_stripe(tier, &stripe)?;
                stripe.payload_hash = *blake3::hash(&read.payload).as_bytes();
                out.push((stripe, VolumeRecord::decode(&read.payload)?));
            }
            Ok(out)
        })
        .await
    }

    /// Moves one object out of volume `from` if its current version has its header there.
    async fn relocate(
        &self,
        tier: Tier,
        from: VolumeId,
        bucket: &BucketName,
        key: &ObjectKey,
        record: ObjectRecord,
    ) -> Result<bool> {
        let Some(current) = self.current_record(bucket, key).await? else {
            return Ok(false);
        };
        let header_here = current
            .header_stripe
            .as_ref()
            .is_some_and(|h| h.volume == from);
        // A cold object's header lives in the hot tier: compaction carries it like any other
        // (its frames, in cold volumes, never match a local volume).
        if current.seq != record.seq
            || !header_here
            || crate::tiers::records_tier(current.location.tier) != tier
        {
            return Ok(false);
        }
        // Data stripes in this volume are copied as stored (no decode); others stay.
        let inner = self.inner.clone();
        let extents = current.location.extents.clone();
        let moved: Vec<Extent> = {
            let stripes = blocking(move || {
                let mut out = Vec::new();
                for e in &extents {
                    if e.stripe.volume == from {
                        let read = inner.storage.read_stripe(tier, &e.stripe)?;
                        out.push(
                            inner
                                .storage
                                .encode(tier, RecordKind::Frame, &read.payload)?,
                        );
                    }
                }
                Ok(out)
            })
            .await?;
            let refs = if stripes.is_empty() {
                Vec::new()
            } else {
                self.inner.storage.append_shared(tier, stripes).await?
            };
            let mut refs = refs.into_iter();
            current
                .location
                .extents
                .iter()
                .map(|e| {
                    if e.stripe.volume == from {
                        Extent {
                            stripe: refs.next().expect("one new stripe per moved extent"),
                            ..e.clone()
                        }
                    } else {
                        e.clone()
                    }
                })
                .collect()
        };
        let mut new = current.clone();
        new.location.extents = moved;
        self.append_header(bucket, key, &mut new).await?;
        let inner = self.inner.clone();
        let (b, k, n, seq) = (bucket.clone(), key.clone(), new, current.seq);
        blocking(move || Ok(inner.meta.replace_object_if_seq(&b, &k, seq, &n)?)).await
    }

    /// Rebuilds the index (buckets and objects) from the volumes alone. In-progress
    /// multipart uploads are not restored: their parts carry no header. Run it with no
    /// other traffic: it clears the index first.
    pub async fn rebuild_index(&self) -> Result<RebuildReport> {
        let inner = self.inner.clone();
        let tiers = self.tiers();
        let report = blocking(move || {
            let mut report = RebuildReport::default();
            // Pass 1: every engine record of every volume, and the writes that were aborted
            // (an `Aborted` record may sit in a later volume than the header it voids).
            let mut records = Vec::new();
            let mut aborted = std::collections::BTreeSet::new();
            for tier in tiers {
                for volume in inner.storage.volumes(tier)? {
                    report.volumes += 1;
                    for (mut stripe, kind) in inner.storage.scan_volume(tier, volume.id)? {
                        if kind == RecordKind::Frame {
                            continue;
                        }
                        let parsed = inner
                            .storage
                            .read_stripe(tier, &stripe)
                            .map_err(EngineError::from)
                            .and_then(|read| {
                                stripe.payload_hash = *blake3::hash(&read.payload).as_bytes();
                                VolumeRecord::decode(&read.payload)
                            });
                        match parsed {
                            Ok(record) => {
                                report.records += 1;
                                if let VolumeRecord::Aborted { seq, .. } = &record {
                                    aborted.insert(*seq);
                                }
                                records.push((stripe, record));
                            }
                            Err(e) => {
                                tracing::warn!(volume = %volume.id, offset = stripe.offset, error = %e, "unreadable record skipped");
                                report.unreadable += 1;
                            }
                        }
                    }
                }
            }
            // Pass 2: for every name, the newest record that was not aborted wins.
            let mut buckets: BTreeMap<BucketName, (u64, Option<i64>)> = BTreeMap::new();
            let mut objects: BTreeMap<(BucketName, ObjectKey), (u64, Option<ObjectRecord>)> =
                BTreeMap::new();
            let mut max_seq = 0u64;
            for (stripe, record) in records {
                let seq = record.seq();
                max_seq = max_seq.max(seq);
                match record {
                    VolumeRecord::Object { .. } if aborted.contains(&seq) => {}
                    VolumeRecord::Object {
                        bucket,
                        key,
                        record,
                        following,
                    } => {
                        let mut record = *record;
                        if following {
                            place_following(&stripe, &mut record);
                        }
                        record.header_stripe = Some(stripe);
                        newest(&mut objects, (bucket, key), seq, Some(record));
                    }
                    VolumeRecord::Tombstone { bucket, key, .. } => {
                        newest(&mut objects, (bucket, key), seq, None);
                    }
                    VolumeRecord::Aborted { .. } => {}
                    VolumeRecord::Bucket {
                        name, created_ms, ..
                    } => newest(&mut buckets, name, seq, Some(created_ms)),
                    VolumeRecord::BucketDeleted { name, .. } => {
                        newest(&mut buckets, name, seq, None)
                    }
                }
            }
            inner.meta.clear_index()?;
            for (name, (_, created)) in &buckets {
                if let Some(created_ms) = created {
                    inner.meta.create_bucket(&BucketRecord {
                        name: name.clone(),
                        created_ms: *created_ms,
                    })?;
                    report.buckets += 1;
                }
            }
            for ((bucket, key), (_, record)) in &objects {
                let Some(record) = record else { continue };
                if !matches!(buckets.get(bucket), Some((_, Some(_)))) {
                    continue;
                }
                inner
                    .meta
                    .put_object(bucket, key, record, &PutCondition::None)?;
                report.objects += 1;
            }
            inner.meta.raise_seq_floor(max_seq)?;
            inner.meta.flush()?;
            Ok(report)
        })
        .await?;
        self.recount_usage().await?;
        Ok(report)
    }
}

/// Keeps the entry with the highest sequence number.
fn newest<K: Ord, V>(map: &mut BTreeMap<K, (u64, V)>, key: K, seq: u64, value: V) {
    match map.get(&key) {
        Some((existing, _)) if *existing >= seq => {}
        _ => {
            map.insert(key, (seq, value));
        }
    }
}
