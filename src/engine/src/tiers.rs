//! Tier moves: rewriting an object's frames into another tier and flipping its location.
//!
//! Every move is copy-then-flip: the frames are written to the target tier (local volumes,
//! or a packed cold volume uploaded to the remote bucket), a header record describing the
//! new location is made durable, and only then does one compare-and-swap on the object's
//! sequence number (`replace_object_if_seq`) make the new location current. Until the flip
//! the old location is the object; a move killed at any point leaves it intact, and what it
//! wrote is unreferenced — local dedicated volumes are reclaimed on the next open, shared
//! ones by compaction, remote cold volumes by [`Engine::reconcile_cold`]. A write or delete
//! that races a move wins: the flip finds another sequence number and does nothing.
//!
//! A move keeps the version's sequence number (it is the same version), so its new header
//! record and the old one carry the same seq; the old one dies with its volume.
//!
//! Cold objects: their frames live in cold volumes (see `stratum_storage::cold`), their
//! header records in the hot tier (the remote holds only frames), so an index rebuild from
//! the local volumes still finds them. Demotion to cold recompresses frames at the cold
//! tier's zstd level, in batches; hot/warm moves copy frames as stored.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use stratum_core::{BucketName, Extent, Location, ObjectKey, StripeRef, Tier, VolumeId};
use stratum_metadata::ObjectRecord;
use stratum_storage::cold::{
    cold_piece, cold_volume_key, parse_cold_volume_key, ColdVolumeBuilder, COLD_VOLUMES_PREFIX,
    COLD_VOLUME_BIT,
};
use stratum_storage::remote::{MultipartUpload, RemoteStore};
use stratum_storage::RecordKind;

use crate::error::{EngineError, Result};
use crate::get::BodyStream;
use crate::put::record_volumes;
use crate::{blocking, failpoint, Engine, Inner};

/// Stored bytes of frames read into memory at once by a move (a batch of frames).
pub(crate) const MOVE_BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes of one ranged GET of a cold volume (frames of one object are contiguous there, so
/// a whole small object is one request; a large one streams in runs of this size).
const COLD_RUN_BYTES: u64 = 8 * 1024 * 1024;
/// Cold runs fetched ahead of the consumer by a GET.
const COLD_PREFETCH_RUNS: usize = 2;

/// The local tier that holds a record's header and tombstones: its own tier, or hot for a
/// cold object (the remote tier holds only frames).
pub(crate) fn records_tier(tier: Tier) -> Tier {
    match tier {
        Tier::Cold => Tier::Hot,
        t => t,
    }
}

/// What one move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveReport {
    /// Whether the location flipped (false: the object changed or went away meanwhile, or
    /// was already in the target tier; nothing was changed).
    pub moved: bool,
    /// The tier the object was in.
    pub from: Tier,
    /// The tier it was asked to go to.
    pub to: Tier,
    /// Logical (original) bytes of the object.
    pub logical_bytes: u64,
    /// Stored frame bytes read from the source tier.
    pub bytes_read: u64,
    /// Stored frame bytes written to the target tier (before parity).
    pub bytes_written: u64,
}

/// One object to demote to cold: its version is named so a newer write is never demoted by
/// a decision taken on an older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdCandidate {
    /// The bucket.
    pub bucket: BucketName,
    /// The key.
    pub key: ObjectKey,
    /// The version's sequence number the decision was taken on.
    pub seq: u64,
}

/// What one packing call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackReport {
    /// The cold volume written, if any object was packed.
    pub volume: Option<VolumeId>,
    /// Objects whose location flipped to cold, with their logical sizes.
    pub moved: Vec<(BucketName, ObjectKey, u64)>,
    /// Objects left where they were, with the reason.
    pub skipped: Vec<(BucketName, ObjectKey, String)>,
    /// Candidates not reached because the volume was full: pack them next.
    pub deferred: Vec<ColdCandidate>,
    /// Stored frame bytes read from the local tiers.
    pub bytes_read: u64,
    /// Bytes of the cold volume uploaded.
    pub bytes_uploaded: u64,
    /// Original bytes of the frames packed.
    pub logical_bytes: u64,
    /// Seconds spent recompressing.
    pub recompress_secs: f64,
}

/// What remote compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColdCompactionReport {
    /// Cold volumes listed.
    pub volumes: u64,
    /// Volumes rewritten (their live objects packed anew).
    pub volumes_rewritten: u64,
    /// Objects moved to new cold volumes.
    pub objects_moved: u64,
    /// Remote objects deleted.
    pub volumes_deleted: u64,
    /// Remote bytes freed by the deletions.
    pub bytes_freed: u64,
}

/// What reconciliation with the remote bucket did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Cold volumes listed.
    pub volumes: u64,
    /// Remote objects that no object references (orphans of a killed move, or volumes
    /// whose every object was deleted), deleted.
    pub orphans_deleted: u64,
    /// Their bytes.
    pub bytes_freed: u64,
    /// Unfinished multipart uploads of cold volumes (a pack killed mid-upload), aborted.
    pub uploads_aborted: u64,
}

/// A cold volume with the bytes it holds and how many of them are live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdVolumeInfo {
    /// The volume.
    pub id: VolumeId,
    /// The remote object's size.
    pub bytes: u64,
    /// Bytes still referenced by objects.
    pub live_bytes: u64,
}

/// A cold volume being uploaded: buffered while it fits one part, a multipart upload
/// (streamed part by part) beyond.
enum ColdUpload {
    Buffer {
        remote: RemoteStore,
        key: String,
        buf: Vec<u8>,
    },
    Multipart(MultipartUpload),
}

impl ColdUpload {
    async fn write(&mut self, bytes: Vec<u8>) -> Result<()> {
        match self {
            ColdUpload::Buffer { remote, key, buf } => {
                buf.extend_from_slice(&bytes);
                let part = usize::try_from(remote.config().part_bytes).unwrap_or(usize::MAX);
                if buf.len() > part {
                    let mut upload = remote.create_multipart_upload(key).await?;
                    upload.write(Bytes::from(std::mem::take(buf))).await?;
                    *self = ColdUpload::Multipart(upload);
                }
            }
            ColdUpload::Multipart(upload) => upload.write(Bytes::from(bytes)).await?,
        }
        Ok(())
    }

    async fn finish(self) -> Result<()> {
        match self {
            ColdUpload::Buffer { remote, key, buf } => {
                remote.put_object(&key, Bytes::from(buf)).await?;
            }
            ColdUpload::Multipart(upload) => {
                upload.finish().await?;
            }
        }
        Ok(())
    }
}

/// The cold volume being written by one pack: recompresses batches of frames (or, for
/// remote compaction, takes them as stored), lays them out and streams them up.
struct Packer {
    recompressor: Option<Arc<stratum_codec::BatchRecompressor>>,
    /// Always `Some` between calls (moved into the blocking task and back).
    builder: Option<ColdVolumeBuilder>,
    upload: ColdUpload,
}

impl Packer {
    /// A packer writing cold volume `id` to `remote`.
    fn new(
        id: VolumeId,
        remote: &RemoteStore,
        recompressor: Option<Arc<stratum_codec::BatchRecompressor>>,
    ) -> Self {
        let (builder, head) = ColdVolumeBuilder::new(id);
        Packer {
            recompressor,
            builder: Some(builder),
            upload: ColdUpload::Buffer {
                remote: remote.clone(),
                key: cold_volume_key(id),
                buf: head,
            },
        }
    }

    fn bytes(&self) -> u64 {
        self.builder.as_ref().map_or(0, ColdVolumeBuilder::bytes)
    }

    fn into_parts(self) -> (ColdVolumeBuilder, ColdUpload) {
        (
            self.builder.expect("the builder is back after every call"),
            self.upload,
        )
    }

    /// Recompresses every frame of `items` (source extents with their stored frames) in one
    /// batch (unless the packer copies as stored), lays them out in order and uploads them;
    /// returns each item's new extents.
    async fn pack_frames(
        &mut self,
        items: Vec<(Vec<Extent>, Vec<Vec<u8>>)>,
        report: &mut PackReport,
    ) -> Result<Vec<Vec<Extent>>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let recompressor = self.recompressor.clone();
        let mut builder = self
            .builder
            .take()
            .expect("the builder is back after every call");
        let (builder, out) = blocking(move || {
            let inputs: Vec<&[u8]> = items
                .iter()
                .flat_map(|(_, frames)| frames.iter().map(Vec::as_slice))
                .collect();
            let mut dense = match &recompressor {
                Some(r) => r.recompress_batch(&inputs),
                None => inputs.iter().map(|f| Ok(f.to_vec())).collect(),
            }
            .into_iter();
            let mut out = Vec::with_capacity(items.len());
            for (extents, _) in &items {
                let mut placed = Vec::with_capacity(extents.len());
                for e in extents {
                    // A frame that fails its checks is corrupt: the pack fails and every
                    // object stays where it is.
                    let frame = dense.next().expect("one result per frame")?;
                    let (stripe, bytes) = builder.append(RecordKind::Frame, &frame)?;
                    placed.push((
                        Extent {
                            logical_offset: e.logical_offset,
                            logical_bytes: e.logical_bytes,
                            stripe,
                        },
                        bytes,
                    ));
                }
                out.push(placed);
            }
            Ok((builder, out))
        })
        .await?;
        self.builder = Some(builder);
        report.recompress_secs += started.elapsed().as_secs_f64();
        let mut result = Vec::with_capacity(out.len());
        for placed in out {
            let mut extents = Vec::with_capacity(placed.len());
            for (extent, bytes) in placed {
                self.upload.write(bytes).await?;
                extents.push(extent);
            }
            result.push(extents);
        }
        Ok(result)
    }

    /// [`Packer::pack_frames`] over a group of whole small objects.
    async fn pack_group(
        &mut self,
        group: Vec<(ColdCandidate, ObjectRecord, Vec<Vec<u8>>)>,
        report: &mut PackReport,
    ) -> Result<Vec<(ColdCandidate, ObjectRecord, Vec<Extent>)>> {
        let mut heads = Vec::with_capacity(group.len());
        let mut items = Vec::with_capacity(group.len());
        for (c, record, frames) in group {
            items.push((record.location.extents.clone(), frames));
            heads.push((c, record));
        }
        let extents = self.pack_frames(items, report).await?;
        Ok(heads
            .into_iter()
            .zip(extents)
            .map(|((c, r), e)| (c, r, e))
            .collect())
    }
}

/// Splits `extents` into batches of at most `max` stored bytes (at least one extent each).
pub(crate) fn batches(extents: &[Extent], max: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, e) in extents.iter().enumerate() {
        let b = u64::from(e.stripe.payload_bytes);
        if i > start && bytes + b > max {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += b;
    }
    if start < extents.len() {
        out.push(start..extents.len());
    }
    out
}

/// Splits cold extents into runs one ranged GET can fetch: same volume, each piece right
/// after the previous one, at most `max` bytes (at least one extent each).
fn cold_runs(extents: &[Extent], max: u64) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=extents.len() {
        let split = i == extents.len() || {
            let (first, prev, next) = (
                &extents[start].stripe,
                &extents[i - 1].stripe,
                &extents[i].stripe,
            );
            next.volume != prev.volume
                || next.offset != prev.end_offset()
                || next.end_offset() - first.offset > max
        };
        if split {
            out.push(start..i);
            start = i;
        }
    }
    out
}

/// Fetches one run of cold pieces and returns their verified payloads (stored frames).
async fn fetch_cold_run(remote: &RemoteStore, stripes: Vec<StripeRef>) -> Result<Vec<Vec<u8>>> {
    let (Some(first), Some(last)) = (stripes.first(), stripes.last()) else {
        return Ok(Vec::new());
    };
    let key = cold_volume_key(first.volume);
    let start = first.offset;
    let bytes = remote.get_range(&key, start..last.end_offset()).await?;
    blocking(move || {
        stripes
            .iter()
            .map(|s| Ok(cold_piece(&bytes, start, s)?.to_vec()))
            .collect()
    })
    .await
}

/// Decodes a stored frame and cuts out the part inside `start..end`.
pub(crate) fn decode_frame(payload: &[u8], extent: &Extent, start: u64, end: u64) -> Result<Bytes> {
    let mut original = Vec::with_capacity(extent.logical_bytes as usize);
    stratum_codec::decode_into(payload, &mut original)?;
    if original.len() != extent.logical_bytes as usize {
        return Err(EngineError::Corrupt(format!(
            "frame at volume {} offset {} decoded to {} bytes, {} expected",
            extent.stripe.volume,
            extent.stripe.offset,
            original.len(),
            extent.logical_bytes
        )));
    }
    let from = start.saturating_sub(extent.logical_offset) as usize;
    let to = (end.min(extent.logical_end()) - extent.logical_offset) as usize;
    let mut bytes = Bytes::from(original);
    if from > 0 || to < bytes.len() {
        bytes = bytes.slice(from..to);
    }
    Ok(bytes)
}

/// The body of a GET from cold: ranged GETs of only the runs of pieces that overlap
/// `start..end`, verified and decoded off the reactor, a couple of runs ahead.
pub(crate) fn cold_body(
    inner: Arc<Inner>,
    extents: Vec<Extent>,
    start: u64,
    end: u64,
) -> Result<BodyStream> {
    let remote = inner.remote.clone().ok_or(EngineError::Unavailable(
        "the object is in the cold tier, which is not configured",
    ))?;
    let runs: Vec<Vec<Extent>> = cold_runs(&extents, COLD_RUN_BYTES)
        .into_iter()
        .map(|r| extents[r].to_vec())
        .collect();
    let body = futures::stream::iter(runs)
        .map(move |run| {
            let remote = remote.clone();
            async move {
                let stripes = run.iter().map(|e| e.stripe.clone()).collect();
                let payloads = fetch_cold_run(&remote, stripes).await?;
                blocking(move || {
                    run.iter()
                        .zip(payloads)
                        .map(|(e, p)| decode_frame(&p, e, start, end))
                        .collect::<Result<Vec<Bytes>>>()
                })
                .await
            }
        })
        .buffered(COLD_PREFETCH_RUNS)
        .flat_map(|run: Result<Vec<Bytes>>| {
            let items: Vec<Result<Bytes>> = match run {
                Ok(frames) => frames.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        });
    Ok(Box::pin(body))
}

impl Engine {
    /// The cold tier's client, if one is configured.
    pub fn cold_tier(&self) -> Option<&RemoteStore> {
        self.inner.remote.as_ref()
    }

    /// Whether this store has `tier` (hot always; warm with a warm disk set; cold with a
    /// remote bucket).
    pub fn has_tier(&self, tier: Tier) -> bool {
        match tier {
            Tier::Hot => true,
            Tier::Warm => self.inner.config.storage.warm.is_some(),
            Tier::Cold => self.inner.remote.is_some(),
        }
    }

    fn remote(&self) -> Result<&RemoteStore> {
        self.inner
            .remote
            .as_ref()
            .ok_or(EngineError::InvalidArgument("no cold tier is configured"))
    }

    /// The verified stored frames of `extents` of a location in `tier` (local stripes read
    /// and checked, reconstructed from parity if needed; cold pieces by ranged GETs).
    pub(crate) async fn stored_frames(
        &self,
        tier: Tier,
        extents: &[Extent],
    ) -> Result<Vec<Vec<u8>>> {
        if tier == Tier::Cold {
            let remote = self.remote()?.clone();
            let mut out = Vec::with_capacity(extents.len());
            for run in cold_runs(extents, COLD_RUN_BYTES) {
                let stripes = extents[run].iter().map(|e| e.stripe.clone()).collect();
                out.extend(fetch_cold_run(&remote, stripes).await?);
            }
            return Ok(out);
        }
        let inner = self.inner.clone();
        let stripes: Vec<StripeRef> = extents.iter().map(|e| e.stripe.clone()).collect();
        blocking(move || {
            let mut out = Vec::with_capacity(stripes.len());
            for s in &stripes {
                let read = inner.storage.read_stripe(tier, s)?;
                if read.reconstructed {
                    let _ = inner.repairs.send((tier, s.clone()));
                }
                out.push(read.payload);
            }
            Ok(out)
        })
        .await
    }

    /// Moves an object's frames to the hot or warm tier (from any tier, cold included) and
    /// flips its location, if its current version is still `seq`. Frames are copied as
    /// stored (no recompression).
    pub async fn move_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        seq: u64,
        to: Tier,
    ) -> Result<MoveReport> {
        if to == Tier::Cold {
            return Err(EngineError::InvalidArgument(
                "moves to cold go through pack_to_cold",
            ));
        }
        if !self.has_tier(to) {
            return Err(EngineError::InvalidArgument(
                "the target tier is not configured",
            ));
        }
        let (current, _guard) = self.pinned_record(bucket, key).await?;
        let mut report = MoveReport {
            moved: false,
            from: current.location.tier,
            to,
            logical_bytes: current.size,
            bytes_read: 0,
            bytes_written: 0,
        };
        if current.seq != seq || current.location.tier == to {
            return Ok(report);
        }
        // 1. The frames, copied into the target tier (nothing references them yet).
        let (written, read) = self.restripe(&current, to).await?;
        report.bytes_read = read;
        report.bytes_written = read;
        failpoint::hit("move.data_written");
        // 2. A header record for the new location, durable with the data.
        let mut record = current.clone();
        record.location.tier = to;
        self.place_with_header(bucket, key, written, &mut record)
            .await?;
        failpoint::hit("move.header_durable");
        // 3. The flip, only over the version the decision was taken on.
        report.moved = self.flip(bucket, key, &current, &record).await?;
        Ok(report)
    }

    /// The compare-and-swap that makes a moved copy current; frees whichever side lost.
    async fn flip(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        current: &ObjectRecord,
        record: &ObjectRecord,
    ) -> Result<bool> {
        let inner = self.inner.clone();
        let (b, k, r, seq) = (bucket.clone(), key.clone(), record.clone(), current.seq);
        let applied =
            blocking(move || Ok(inner.meta.replace_object_if_seq(&b, &k, seq, &r)?)).await?;
        if applied {
            failpoint::hit("move.flipped");
            self.inner
                .usage
                .moved(current.location.tier, record.location.tier, current.size);
            self.free_unreferenced(record_volumes(current)).await;
        } else {
            // The object changed meanwhile: the copy is dead on arrival. No `Aborted`
            // record: it would name the version's own seq and hide it on a rebuild.
            self.free_unreferenced(record_volumes(record)).await;
        }
        Ok(applied)
    }

    /// Demotes objects to cold: packs their frames, recompressed at the cold tier's level,
    /// into one new cold volume (until it reaches `volume_bytes`; the rest come back as
    /// `deferred`), uploads it, then flips each object still at its named version.
    pub async fn pack_to_cold(&self, candidates: Vec<ColdCandidate>) -> Result<PackReport> {
        let remote = self.remote()?.clone();
        let recompressor = self
            .inner
            .recompressor
            .clone()
            .ok_or(EngineError::InvalidArgument("no cold tier is configured"))?;
        let volume_bytes = remote.config().volume_bytes;
        let mut report = PackReport::default();
        // 1. A fresh volume id (a sequence number: never reused, even across restarts).
        let id = VolumeId(COLD_VOLUME_BIT | self.next_seq().await?);
        // 2. Each object's frames, read, recompressed in batches and streamed up. Small
        // objects are grouped so one batch holds many objects' frames (threads and the GPU
        // want many frames at once); a large object goes alone, a batch of frames at a time.
        let mut placed: Vec<(ColdCandidate, ObjectRecord, Vec<Extent>)> = Vec::new();
        let mut group: Vec<(ColdCandidate, ObjectRecord, Vec<Vec<u8>>)> = Vec::new();
        let mut group_bytes = 0u64;
        let mut guards = Vec::new();
        let mut packer = Packer::new(id, &remote, Some(recompressor));
        let mut queue = candidates.into_iter();
        for c in queue.by_ref() {
            let current = match self.pinned_record(&c.bucket, &c.key).await {
                Ok((record, guard)) => {
                    guards.push(guard);
                    record
                }
                Err(EngineError::NoSuchKey | EngineError::NoSuchBucket) => {
                    report.skipped.push((c.bucket, c.key, "deleted".into()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            if current.seq != c.seq {
                report
                    .skipped
                    .push((c.bucket, c.key, "a newer version was written".into()));
                continue;
            }
            if current.location.tier == Tier::Cold {
                report
                    .skipped
                    .push((c.bucket, c.key, "already cold".into()));
                continue;
            }
            let tier = current.location.tier;
            let stored: u64 = current
                .location
                .extents
                .iter()
                .map(|e| u64::from(e.stripe.payload_bytes))
                .sum();
            report.bytes_read += stored;
            report.logical_bytes += current.size;
            if stored <= MOVE_BATCH_BYTES {
                let frames = self.stored_frames(tier, &current.location.extents).await?;
                group.push((c, current, frames));
                group_bytes += stored;
                if group_bytes >= MOVE_BATCH_BYTES {
                    placed.extend(
                        packer
                            .pack_group(std::mem::take(&mut group), &mut report)
                            .await?,
                    );
                    group_bytes = 0;
                }
            } else {
                placed.extend(
                    packer
                        .pack_group(std::mem::take(&mut group), &mut report)
                        .await?,
                );
                group_bytes = 0;
                let mut extents = Vec::with_capacity(current.location.extents.len());
                for batch in batches(&current.location.extents, MOVE_BATCH_BYTES) {
                    let source = current.location.extents[batch].to_vec();
                    let frames = self.stored_frames(tier, &source).await?;
                    extents.extend(
                        packer
                            .pack_frames(vec![(source, frames)], &mut report)
                            .await?
                            .remove(0),
                    );
                }
                placed.push((c, current, extents));
            }
            if packer.bytes() + group_bytes >= volume_bytes {
                break;
            }
        }
        placed.extend(packer.pack_group(group, &mut report).await?);
        let (builder, upload) = packer.into_parts();
        report.deferred = queue.collect();
        if placed.is_empty() {
            // Nothing was written but the volume header: no remote object at all.
            return Ok(report);
        }
        // 3. The volume, durable at the provider.
        report.bytes_uploaded = builder.bytes();
        upload.finish().await?;
        report.volume = Some(id);
        failpoint::hit("cold.volume_uploaded");
        // 4. Each object: a header for its cold location (in the hot tier), then the flip.
        for (c, current, extents) in placed {
            let mut record = current.clone();
            record.location = Location {
                tier: Tier::Cold,
                extents,
            };
            self.append_header(&c.bucket, &c.key, &mut record).await?;
            if self.flip(&c.bucket, &c.key, &current, &record).await? {
                report.moved.push((c.bucket, c.key, current.size));
            } else {
                report
                    .skipped
                    .push((c.bucket, c.key, "changed while it was packed".into()));
            }
        }
        drop(guards);
        if report.moved.is_empty() {
            // Every object changed meanwhile: the volume is an orphan already.
            self.delete_cold_volume(id).await;
            report.volume = None;
        }
        Ok(report)
    }

    /// Deletes a cold volume's remote object, now or when its last reader finishes.
    pub(crate) async fn delete_cold_volume(&self, id: VolumeId) {
        let now = self.inner.pins.release_or_defer(vec![(Tier::Cold, id)]);
        for (_, id) in now {
            delete_remote_volume(self.inner.clone(), id).await;
        }
    }

    /// Every cold volume in the remote bucket with its size and live bytes.
    pub async fn cold_volumes(&self) -> Result<Vec<ColdVolumeInfo>> {
        let remote = self.remote()?.clone();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = remote.list(COLD_VOLUMES_PREFIX, token.as_deref()).await?;
            for o in page.objects {
                if let Some(id) = parse_cold_volume_key(&o.key) {
                    let live = self.inner.meta.volume_live_bytes(id)?;
                    out.push(ColdVolumeInfo {
                        id,
                        bytes: o.size,
                        live_bytes: live,
                    });
                }
            }
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    /// Deletes every cold volume no object references — the orphans of a pack killed
    /// between its upload and its flips, and volumes whose objects were all deleted or
    /// moved while their deletion failed — and aborts the unfinished multipart uploads of
    /// cold volumes (a pack killed mid-upload). Run it when no pack is in flight (the mover runs
    /// it at start and between its own packs): a volume just uploaded is unreferenced
    /// until its flips.
    pub async fn reconcile_cold(&self) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        // Parts of an upload never completed cost storage until aborted.
        let remote = self.remote()?.clone();
        for (key, upload_id) in remote.list_multipart_uploads(COLD_VOLUMES_PREFIX).await? {
            if parse_cold_volume_key(&key).is_some() {
                remote.abort_multipart_upload(&key, &upload_id).await?;
                report.uploads_aborted += 1;
            }
        }
        for v in self.cold_volumes().await? {
            report.volumes += 1;
            if v.live_bytes == 0 && !self.inner.pins.is_pinned((Tier::Cold, v.id)) {
                self.remote()?.delete(&cold_volume_key(v.id)).await?;
                report.orphans_deleted += 1;
                report.bytes_freed += v.bytes;
            }
        }
        if report.orphans_deleted > 0 || report.uploads_aborted > 0 {
            tracing::info!(
                volumes = report.orphans_deleted,
                bytes = report.bytes_freed,
                uploads = report.uploads_aborted,
                "deleted unreferenced cold volumes and aborted unfinished uploads"
            );
        }
        Ok(report)
    }

    /// Remote compaction: every cold volume whose dead share reached
    /// `compaction_dead_percent` has its live objects packed into new volumes (frames as
    /// stored, no recompression), then is deleted. Objects are found by scanning the index.
    pub async fn compact_cold(&self) -> Result<ColdCompactionReport> {
        let remote = self.remote()?.clone();
        let threshold = f64::from(remote.config().compaction_dead_percent) / 100.0;
        let mut report = ColdCompactionReport::default();
        let volumes = self.cold_volumes().await?;
        report.volumes = volumes.len() as u64;
        let victims: std::collections::BTreeSet<VolumeId> = volumes
            .iter()
            .filter(|v| {
                let dead = v.bytes.saturating_sub(v.live_bytes) as f64 / v.bytes.max(1) as f64;
                dead >= threshold && v.live_bytes > 0
            })
            .map(|v| v.id)
            .collect();
        if !victims.is_empty() {
            let mut movers = Vec::new();
            self.for_each_object(|bucket, key, record| {
                if record.location.tier == Tier::Cold
                    && record
                        .location
                        .extents
                        .iter()
                        .any(|e| victims.contains(&e.stripe.volume))
                {
                    movers.push((bucket.clone(), key.clone(), record.clone()));
                }
            })
            .await?;
            for (bucket, key, record) in movers {
                if self.repack_cold(&bucket, &key, &record).await? {
                    report.objects_moved += 1;
                }
            }
            report.volumes_rewritten = victims.len() as u64;
        }
        // The victims' last flips freed them already (unless a reader still pins one);
        // volumes still listed with nothing live go now.
        let after = self.cold_volumes().await?;
        for v in &volumes {
            if victims.contains(&v.id) && !after.iter().any(|a| a.id == v.id) {
                report.volumes_deleted += 1;
                report.bytes_freed += v.bytes;
            }
        }
        for v in after {
            if v.live_bytes == 0 && !self.inner.pins.is_pinned((Tier::Cold, v.id)) {
                remote.delete(&cold_volume_key(v.id)).await?;
                report.volumes_deleted += 1;
                report.bytes_freed += v.bytes;
            }
        }
        Ok(report)
    }

    /// Moves one cold object into a new cold volume of its own frames, as stored.
    async fn repack_cold(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        current: &ObjectRecord,
    ) -> Result<bool> {
        let remote = self.remote()?.clone();
        let id = VolumeId(COLD_VOLUME_BIT | self.next_seq().await?);
        let mut packer = Packer::new(id, &remote, None);
        let mut report = PackReport::default();
        let mut extents = Vec::new();
        for batch in batches(&current.location.extents, MOVE_BATCH_BYTES) {
            let source = current.location.extents[batch].to_vec();
            let frames = self.stored_frames(Tier::Cold, &source).await?;
            extents.extend(
                packer
                    .pack_frames(vec![(source, frames)], &mut report)
                    .await?
                    .remove(0),
            );
        }
        let (_, upload) = packer.into_parts();
        upload.finish().await?;
        let mut record = current.clone();
        record.location.extents = extents;
        self.append_header(bucket, key, &mut record).await?;
        let moved = self.flip(bucket, key, current, &record).await?;
        if !moved {
            self.delete_cold_volume(id).await;
        }
        Ok(moved)
    }

    /// Stored bytes per tier (hot, warm, cold): the live bytes of local volumes (parity and
    /// headers included), and the size of the cold volumes (dead space included, as the
    /// provider bills it).
    pub async fn stored_bytes_by_tier(&self) -> Result<[u64; 3]> {
        let inner = self.inner.clone();
        let mut out = blocking(move || {
            let mut out = [0u64; 3];
            for (id, bytes) in inner.meta.all_volume_live_bytes()? {
                if stratum_storage::cold::is_cold_volume(id) {
                    continue;
                }
                let tier = if inner.storage.volume_info(Tier::Hot, id).is_ok() {
                    Tier::Hot
                } else {
                    Tier::Warm
                };
                out[crate::tier_slot(tier)] += bytes;
            }
            Ok(out)
        })
        .await?;
        if self.inner.remote.is_some() {
            out[2] = self.cold_volumes().await?.iter().map(|v| v.bytes).sum();
        }
        Ok(out)
    }

    /// Calls `f` with every object of every bucket, a page at a time.
    pub async fn for_each_object(
        &self,
        mut f: impl FnMut(&BucketName, &ObjectKey, &ObjectRecord),
    ) -> Result<()> {
        const PAGE: usize = 1000;
        for bucket in self.list_buckets().await? {
            let mut after: Option<ObjectKey> = None;
            loop {
                let inner = self.inner.clone();
                let (name, from) = (bucket.name.clone(), after.clone());
                let page = blocking(move || {
                    let start = match &from {
                        Some(k) => std::ops::Bound::Excluded(k.as_str()),
                        None => std::ops::Bound::Unbounded,
                    };
                    match inner.meta.scan_objects(&name, start, PAGE) {
                        Ok(p) => Ok(p),
                        // Deleted while we walked: nothing left to visit.
                        Err(stratum_metadata::MetaError::NoSuchBucket) => Ok(Vec::new()),
                        Err(e) => Err(e.into()),
                    }
                })
                .await?;
                for (key, record) in &page {
                    f(&bucket.name, key, record);
                }
                match page.last() {
                    Some((key, _)) if page.len() == PAGE => after = Some(key.clone()),
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

/// Deletes a cold volume's remote object; a failure leaves an orphan for reconciliation.
pub(crate) async fn delete_remote_volume(inner: Arc<Inner>, id: VolumeId) {
    let Some(remote) = inner.remote.clone() else {
        return;
    };
    if let Err(e) = remote.delete(&cold_volume_key(id)).await {
        tracing::warn!(%id, error = %e, "deleting a cold volume failed; reconciliation will retry");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(volume: u64, offset: u64, payload: u32) -> Extent {
        Extent {
            logical_offset: 0,
            logical_bytes: payload,
            stripe: StripeRef {
                volume: VolumeId(volume),
                offset,
                piece_bytes: payload,
                payload_bytes: payload,
                data_pieces: 1,
                parity_pieces: 0,
                payload_hash: [0; 32],
            },
        }
    }

    #[test]
    fn cold_runs_join_adjacent_pieces_of_one_volume_up_to_the_cap() {
        // 64 + (80 + 100) = 244, the next piece right after.
        let e = vec![
            extent(1, 64, 100),
            extent(1, 244, 100),
            extent(2, 64, 100),
            extent(2, 1000, 100),
            extent(2, 1180, 100),
        ];
        assert_eq!(cold_runs(&e, 1 << 20), vec![0..2, 2..3, 3..5]);
        // A cap below two pieces splits every run.
        assert_eq!(cold_runs(&e, 200), vec![0..1, 1..2, 2..3, 3..4, 4..5]);
        assert!(cold_runs(&[], 10).is_empty());
    }

    #[test]
    fn batches_hold_at_least_one_extent() {
        let e = vec![
            extent(1, 0, 10),
            extent(1, 0, 10),
            extent(1, 0, 30),
            extent(1, 0, 5),
        ];
        assert_eq!(batches(&e, 20), vec![0..2, 2..3, 3..4]);
        assert_eq!(batches(&e, 1), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(batches(&e, 1000), vec![0..4]);
    }
}
