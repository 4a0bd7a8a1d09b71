//! The PUT path: a body streamed into stripes, then made visible by one metadata commit.
//!
//! The sequence (each step a failpoint for the crash tests):
//! 1. The bucket must exist; nothing is read before that is known.
//! 2. The body streams through the framer. A body that ends within
//!    `shared_object_bytes_max` is small: its frames are hashed, compressed and erasure-coded
//!    in one blocking task and appended to a shared volume with its header record in one
//!    group-committed call. A longer body gets a dedicated volume: frames are compressed and
//!    erasure-coded by up to `pipeline_frames` blocking tasks at once, while one sink task
//!    hashes the original bytes in order (MD5 ETag plus requested checksums) and appends the
//!    stripes. Memory stays bounded by a few frames whatever the object's size.
//! 3. The digests the client sent are checked; a mismatch makes nothing visible.
//! 4. The write takes a global sequence number.
//! 5. Its header record lands in the volume and every shard file is fdatasync'd.
//! 6. The metadata commit (flushed, group-committed) makes it visible; the replaced
//!    version's dedicated volumes are freed once no reader pins them.
//!
//! Steps 4–6 run in a spawned task, so a caller that goes away after its body was read
//! cannot cut the sequence in half. Before that, a dropped request drops the unfinished
//! dedicated volume, whose drop guard deletes its files.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::FuturesOrdered;
use futures::{Stream, StreamExt};
use stratum_codec::FrameCutter;
use stratum_core::{
    limits, BucketName, ChecksumAlgorithm, Extent, Location, ObjectKey, StripeRef, Tier, VolumeId,
};
use stratum_metadata::{ObjectRecord, PutCondition};
use stratum_storage::{DedicatedWriter, EncodedStripe, RecordKind};
use tokio::sync::mpsc;

use crate::error::{EngineError, Result};
use crate::hash::{BodyDigests, BodyHasher};
use crate::records::VolumeRecord;
use crate::tiers::records_tier;
use crate::{blocking, failpoint, now_ms, Engine, ObjectInfo, PutOptions, TrailingChecksums};

/// Bounds on a body being written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Largest acceptable body.
    pub max_bytes: u64,
    /// The announced length, if any.
    pub expected_bytes: Option<u64>,
}

/// A body written as data stripes that nothing references yet.
#[derive(Debug)]
pub(crate) struct WrittenBody {
    pub tier: Tier,
    pub digests: BodyDigests,
    pub sink: Sink,
}

/// Where a written body's stripes are.
#[derive(Debug)]
pub(crate) enum Sink {
    /// A small body: stripes encoded but not appended yet (they go with the header).
    Shared {
        stripes: Vec<EncodedStripe>,
        frame_bytes: Vec<u32>,
    },
    /// A large body: stripes appended to a dedicated volume not yet finished.
    Dedicated {
        writer: DedicatedWriter,
        extents: Vec<Extent>,
    },
}

/// The tier and volume of every stripe of a location (repeats included).
pub(crate) fn location_volumes(location: &Location) -> impl Iterator<Item = (Tier, VolumeId)> + '_ {
    location
        .extents
        .iter()
        .map(|e| (location.tier, e.stripe.volume))
}

/// The tier and volumes a record's bytes occupy, header included, each once.
pub(crate) fn record_volumes(record: &ObjectRecord) -> Vec<(Tier, VolumeId)> {
    let tier = records_tier(record.location.tier);
    let mut v: Vec<(Tier, VolumeId)> = location_volumes(&record.location)
        .chain(record.header_stripe.iter().map(|h| (tier, h.volume)))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn check_received(received: u64, limits: &BodyLimits) -> Result<()> {
    if received > limits.max_bytes {
        return Err(EngineError::EntityTooLarge {
            limit: limits.max_bytes,
        });
    }
    if let Some(expected) = limits.expected_bytes {
        if received > expected {
            return Err(EngineError::IncompleteBody { expected, received });
        }
    }
    Ok(())
}

fn check_complete(received: u64, limits: &BodyLimits) -> Result<()> {
    match limits.expected_bytes {
        Some(expected) if expected != received => {
            Err(EngineError::IncompleteBody { expected, received })
        }
        _ => Ok(()),
    }
}

/// Checks the digests a client sent against those computed over the body.
pub(crate) fn verify_digests(digests: &BodyDigests, opts: &PutOptions) -> Result<()> {
    if let Some(md5) = opts.expected_md5 {
        if md5 != digests.md5 {
            return Err(EngineError::BadDigest { algorithm: "MD5" });
        }
    }
    let trailing = opts
        .trailing_checksums
        .as_ref()
        .map(TrailingChecksums::get)
        .unwrap_or_default();
    for expected in opts.expected_checksums.iter().chain(&trailing) {
        let computed = digests
            .checksums
            .iter()
            .find(|c| c.algorithm == expected.algorithm);
        if computed != Some(expected) {
            return Err(EngineError::bad_checksum(expected.algorithm));
        }
    }
    Ok(())
}

/// Every algorithm to compute: those asked to be stored and those whose value was sent.
pub(crate) fn algorithms_for(opts: &PutOptions) -> Vec<ChecksumAlgorithm> {
    let mut v = opts.checksum_algorithms.clone();
    v.extend(opts.expected_checksums.iter().map(|c| c.algorithm));
    v.sort();
    v.dedup();
    v
}

impl Engine {
    /// Stores an object from a streamed body. Returns once the object is durable and visible.
    pub async fn put_object<S>(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        body: S,
        opts: PutOptions,
    ) -> Result<ObjectInfo>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        // 1. The bucket must exist.
        self.require_bucket(bucket).await?;
        // Fail fast on a conditional write that cannot succeed; the commit checks again.
        if opts.condition != PutCondition::None {
            let current = self.current_record(bucket, key).await?;
            check_condition(current.as_ref(), &opts.condition)?;
        }
        // 2. Body → stripes.
        let limits = BodyLimits {
            max_bytes: limits::PUT_BYTES_MAX,
            expected_bytes: opts.content_length,
        };
        let written = self
            .write_body(opts.tier, body, algorithms_for(&opts), limits)
            .await?;
        // 3. Client digests.
        verify_digests(&written.digests, &opts)?;
        let record = ObjectRecord {
            seq: 0,
            size: written.digests.bytes,
            etag: hex::encode(written.digests.md5),
            last_modified_ms: now_ms(),
            content_type: opts.content_type,
            headers: opts.headers,
            user_metadata: opts.user_metadata,
            checksums: written.digests.checksums.clone(),
            part_sizes: Vec::new(),
            location: stratum_core::Location {
                tier: written.tier,
                extents: Vec::new(),
            },
            header_stripe: None,
        };
        // 4–6 in a task the caller cannot cancel halfway.
        let this = self.clone();
        let (bucket, key, cond) = (bucket.clone(), key.clone(), opts.condition);
        tokio::spawn(async move { this.commit_object(bucket, key, written, record, cond).await })
            .await
            .map_err(|_| EngineError::Unavailable("the commit task panicked"))?
    }

    /// The current record of a key (an inline point read, like `head_bucket`).
    pub(crate) async fn current_record(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<ObjectRecord>> {
        Ok(self.inner.meta.get_object(bucket, key)?)
    }

    /// Step 2: streams `body` into stripes that nothing references yet.
    pub(crate) async fn write_body<S>(
        &self,
        tier: Tier,
        mut body: S,
        algorithms: Vec<ChecksumAlgorithm>,
        limits: BodyLimits,
    ) -> Result<WrittenBody>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        let inner = &self.inner;
        let shared_max = inner.config.shared_object_bytes_max;
        let mut cutter = FrameCutter::new(inner.config.codec.frames.clone());
        let mut frames: VecDeque<Vec<u8>> = VecDeque::new();
        let mut received = 0u64;
        let mut ended = false;

        // Every chunk is counted against the limits and cut into frames.
        let accept = |chunk: Bytes,
                      received: &mut u64,
                      cutter: &mut FrameCutter,
                      frames: &mut VecDeque<Vec<u8>>|
         -> Result<()> {
            *received += chunk.len() as u64;
            check_received(*received, &limits)?;
            frames.extend(cutter.push(&chunk));
            Ok(())
        };

        // Buffer up to the small-object threshold: a body that ends within it is small.
        while received <= shared_max {
            match body.next().await {
                Some(Ok(chunk)) => accept(chunk, &mut received, &mut cutter, &mut frames)?,
                Some(Err(e)) => return Err(EngineError::Body(e)),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            check_complete(received, &limits)?;
            frames.extend(cutter.finish());
            let storage = inner.storage.clone();
            let encoder = inner.encoder.clone();
            return blocking(move || {
                let mut hasher = BodyHasher::new(&algorithms);
                let mut stripes = Vec::with_capacity(frames.len());
                let mut frame_bytes = Vec::with_capacity(frames.len());
                for original in &frames {
                    hasher.update(original);
                    let frame = encoder.encode(original);
                    stripes.push(storage.encode(tier, RecordKind::Frame, &frame)?);
                    frame_bytes.push(original.len() as u32);
                }
                Ok(WrittenBody {
                    tier,
                    digests: hasher.finish(),
                    sink: Sink::Shared {
                        stripes,
                        frame_bytes,
                    },
                })
            })
            .await;
        }

        // A large body: a dedicated volume, a sink that hashes in order and appends, and
        // up to `depth` frames being compressed and erasure-coded at once.
        let storage = inner.storage.clone();
        let writer = blocking(move || Ok(storage.create_dedicated(tier)?)).await?;
        let depth = inner.config.pipeline_frames.max(1);
        let (tx, rx) = mpsc::channel::<(Arc<Vec<u8>>, EncodedStripe)>(depth);
        let sink = tokio::task::spawn_blocking(move || sink_frames(writer, rx, algorithms));
        let mut inflight = FuturesOrdered::new();
        let spawn_encode = |original: Vec<u8>| {
            let storage = inner.storage.clone();
            let encoder = inner.encoder.clone();
            tokio::task::spawn_blocking(move || -> Result<(Arc<Vec<u8>>, EncodedStripe)> {
                let frame = encoder.encode(&original);
                let stripe = storage.encode(tier, RecordKind::Frame, &frame)?;
                Ok((Arc::new(original), stripe))
            })
        };
        let mut sink_failed = false;
        loop {
            while inflight.len() < depth {
                match frames.pop_front() {
                    Some(f) => inflight.push_back(spawn_encode(f)),
                    None => break,
                }
            }
            if ended && frames.is_empty() && inflight.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                done = inflight.next(), if !inflight.is_empty() => {
                    let done = done.expect("inflight is not empty");
                    let item = done.map_err(|_| EngineError::Unavailable("an encode task panicked"))??;
                    if tx.send(item).await.is_err() {
                        sink_failed = true;
                        break;
                    }
                }
                chunk = body.next(), if !ended && frames.len() < depth => match chunk {
                    Some(Ok(chunk)) => accept(chunk, &mut received, &mut cutter, &mut frames)?,
                    Some(Err(e)) => return Err(EngineError::Body(e)),
                    None => {
                        check_complete(received, &limits)?;
                        ended = true;
                        frames.extend(cutter.finish());
                    }
                },
                else => break,
            }
        }
        drop(tx);
        let (writer, extents, digests) = sink
            .await
            .map_err(|_| EngineError::Unavailable("the sink task panicked"))??;
        if sink_failed || digests.bytes != received {
            return Err(EngineError::Unavailable(
                "the volume writer stopped before the body ended",
            ));
        }
        failpoint::hit("put.data_written");
        Ok(WrittenBody {
            tier,
            digests,
            sink: Sink::Dedicated { writer, extents },
        })
    }

    /// Steps 4–6 for an object: sequence, header record, durability, metadata commit.
    pub(crate) async fn commit_object(
        &self,
        bucket: BucketName,
        key: ObjectKey,
        written: WrittenBody,
        mut record: ObjectRecord,
        cond: PutCondition,
    ) -> Result<ObjectInfo> {
        // 4. Sequence.
        record.seq = self.next_seq().await?;
        record.location.tier = written.tier;
        // 5. Header record and durability.
        self.place_with_header(&bucket, &key, written, &mut record)
            .await?;
        failpoint::hit("put.data_durable");
        // 6. Commit.
        let outcome = self.commit_put(&bucket, &key, &record, &cond).await;
        match outcome {
            Err(e) => {
                self.abort_written(&bucket, &key, &record).await;
                Err(e)
            }
            Ok(outcome) => {
                failpoint::hit("put.meta_committed");
                if outcome.applied {
                    self.inner.usage.put(&record, outcome.replaced.as_ref());
                }
                let mut freed = Vec::new();
                if !outcome.applied {
                    // A write with a higher sequence already won: ours is dead on arrival.
                    freed.extend(record_volumes(&record));
                }
                if let Some(old) = &outcome.replaced {
                    freed.extend(record_volumes(old));
                }
                self.free_unreferenced(freed).await;
                Ok(ObjectInfo::from_record(&bucket, &key, &record))
            }
        }
    }

    /// Undoes a write whose commit failed: frees its dedicated volumes and records that its
    /// header (already durable) must not come back on an index rebuild. Best effort: a crash
    /// before the record lands can resurrect the write on a rebuild only.
    pub(crate) async fn abort_written(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        record: &ObjectRecord,
    ) {
        self.free_unreferenced(record_volumes(record)).await;
        let aborted = VolumeRecord::Aborted {
            bucket: bucket.clone(),
            key: key.clone(),
            seq: record.seq,
        };
        if let Err(e) = self
            .append_records(records_tier(record.location.tier), vec![aborted])
            .await
        {
            tracing::warn!(error = %e, "recording an aborted write failed");
        }
    }

    /// Writes the header record with (or after) the data stripes and makes both durable;
    /// fills in `record.location.extents` and `record.header_stripe`.
    pub(crate) async fn place_with_header(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        written: WrittenBody,
        record: &mut ObjectRecord,
    ) -> Result<()> {
        let tier = written.tier;
        let storage = self.inner.storage.clone();
        match written.sink {
            Sink::Shared {
                stripes,
                frame_bytes,
            } => {
                // The header goes first and the data stripes directly after it, in one
                // append: their offsets are only known once appended, so the header records
                // them as "following" (see `VolumeRecord::Object`).
                record.location.extents = placeholder_extents(&stripes, &frame_bytes);
                let header = VolumeRecord::Object {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    record: Box::new(record.clone()),
                    following: true,
                };
                let header = self.encode_record(tier, &header).await?;
                let mut all = Vec::with_capacity(stripes.len() + 1);
                all.push(header);
                all.extend(stripes);
                let refs = storage.append_shared(tier, all).await?;
                record.header_stripe = Some(refs[0].clone());
                for (extent, stripe) in record.location.extents.iter_mut().zip(&refs[1..]) {
                    extent.stripe = stripe.clone();
                }
            }
            Sink::Dedicated {
                mut writer,
                extents,
            } => {
                record.location.extents = extents;
                let header = VolumeRecord::Object {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    record: Box::new(record.clone()),
                    following: false,
                };
                let header_ref = blocking(move || {
                    let stripe = storage.encode(tier, RecordKind::Header, &header.encode())?;
                    let header_ref = writer.append(stripe)?;
                    writer.finish()?;
                    Ok(header_ref)
                })
                .await?;
                record.header_stripe = Some(header_ref);
            }
        }
        Ok(())
    }

    /// Appends a standalone header record for `record`, whose stripes are already placed and
    /// referenced absolutely (`following: false`), durably to a shared volume of its tier,
    /// and points `record.header_stripe` at it. Multipart completion, self-copies and
    /// compaction moves all describe an object this way.
    pub(crate) async fn append_header(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        record: &mut ObjectRecord,
    ) -> Result<()> {
        let header = VolumeRecord::Object {
            bucket: bucket.clone(),
            key: key.clone(),
            record: Box::new(ObjectRecord {
                header_stripe: None,
                ..record.clone()
            }),
            following: false,
        };
        let refs = self
            .append_records(records_tier(record.location.tier), vec![header])
            .await?;
        record.header_stripe = refs.into_iter().next();
        Ok(())
    }

    /// Appends a body's data stripes without a header (multipart parts) and makes them
    /// durable; returns the extents.
    pub(crate) async fn place_data_only(&self, written: WrittenBody) -> Result<Vec<Extent>> {
        let tier = written.tier;
        match written.sink {
            Sink::Shared {
                stripes,
                frame_bytes,
            } => {
                let mut extents = placeholder_extents(&stripes, &frame_bytes);
                if stripes.is_empty() {
                    return Ok(extents);
                }
                let refs = self.inner.storage.append_shared(tier, stripes).await?;
                for (extent, stripe) in extents.iter_mut().zip(refs) {
                    extent.stripe = stripe;
                }
                Ok(extents)
            }
            Sink::Dedicated { writer, extents } => {
                blocking(move || {
                    writer.finish()?;
                    Ok(extents)
                })
                .await
            }
        }
    }
}

/// Extents for encoded stripes whose volume and offset are not known yet.
fn placeholder_extents(stripes: &[EncodedStripe], frame_bytes: &[u32]) -> Vec<Extent> {
    let mut offset = 0u64;
    stripes
        .iter()
        .zip(frame_bytes)
        .map(|(stripe, &len)| {
            let e = Extent {
                logical_offset: offset,
                logical_bytes: len,
                stripe: unplaced_ref(stripe),
            };
            offset += u64::from(len);
            e
        })
        .collect()
}

/// The reference an encoded stripe will have, with volume and offset still unknown (zero).
fn unplaced_ref(stripe: &EncodedStripe) -> StripeRef {
    let (data_pieces, parity_pieces) = stripe.geometry();
    StripeRef {
        volume: VolumeId(0),
        offset: 0,
        piece_bytes: stripe.piece_bytes(),
        payload_bytes: stripe.payload_bytes(),
        data_pieces,
        parity_pieces,
        payload_hash: stripe.payload_hash(),
    }
}

/// Checks a write condition against the current record.
pub(crate) fn check_condition(current: Option<&ObjectRecord>, cond: &PutCondition) -> Result<()> {
    let ok = match cond {
        PutCondition::None => true,
        PutCondition::IfNoneMatch => current.is_none(),
        PutCondition::IfMatch(etag) => current.is_some_and(|r| &r.etag == etag),
    };
    if ok {
        Ok(())
    } else {
        Err(EngineError::PreconditionFailed)
    }
}

/// The sink of a large body: hashes original frames in order and appends their stripes.
fn sink_frames(
    mut writer: DedicatedWriter,
    mut rx: mpsc::Receiver<(Arc<Vec<u8>>, EncodedStripe)>,
    algorithms: Vec<ChecksumAlgorithm>,
) -> Result<(DedicatedWriter, Vec<Extent>, BodyDigests)> {
    let mut hasher = BodyHasher::new(&algorithms);
    let mut extents = Vec::new();
    let mut offset = 0u64;
    while let Some((original, stripe)) = rx.blocking_recv() {
        hasher.update(&original);
        let stripe = writer.append(stripe)?;
        extents.push(Extent {
            logical_offset: offset,
            logical_bytes: original.len() as u32,
            stripe,
        });
        offset += original.len() as u64;
    }
    Ok((writer, extents, hasher.finish()))
}
