//! Delete, copy and list.
//!
//! A delete records a tombstone in a volume before the metadata commit, so an index rebuild
//! does not bring the object back. A copy re-stripes the source's stored frames into new
//! stripes of the destination without decoding or recompressing them; a copy of an object
//! onto itself (new metadata) rewrites only its header record.

use stratum_core::{limits, BucketName, Extent, ObjectKey, Tier};
use stratum_metadata::{ListPage, ListParams, ObjectRecord, PutCondition};
use stratum_storage::RecordKind;

use crate::error::{EngineError, Result};
use crate::hash::BodyDigests;
use crate::put::{check_condition, record_volumes, Sink, WrittenBody};
use crate::records::VolumeRecord;
use crate::tiers::records_tier;
use crate::{blocking, failpoint, now_ms, Engine, ObjectInfo};

/// What a copy does with the source's metadata (`x-amz-metadata-directive`).
#[derive(Debug, Clone, Default)]
pub enum MetadataDirective {
    /// Keep the source's content type, headers and user metadata.
    #[default]
    Copy,
    /// Replace them with these.
    Replace {
        /// New `Content-Type`.
        content_type: Option<String>,
        /// New stored headers.
        headers: Vec<(String, String)>,
        /// New user metadata.
        user_metadata: Vec<(String, String)>,
    },
}

/// Options of a server-side copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// What to do with the source's metadata.
    pub metadata: MetadataDirective,
    /// The source's ETag must equal this (`x-amz-copy-source-if-match`); checked against the
    /// exact version copied.
    pub source_etag: Option<String>,
    /// Condition on the destination.
    pub condition: PutCondition,
    /// The local tier the copy's bytes are written to (the tiering policy's placement);
    /// `None`, cold or a tier not configured: the source's tier (hot for a cold source). A
    /// copy onto itself keeps its stripes where they are.
    pub tier: Option<Tier>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            metadata: MetadataDirective::Copy,
            source_etag: None,
            condition: PutCondition::None,
            tier: None,
        }
    }
}

impl Engine {
    /// Deletes an object. Deleting a missing key succeeds (as in S3) and writes nothing.
    /// Returns whether an object was removed.
    pub async fn delete_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        cond: PutCondition,
    ) -> Result<bool> {
        let current = self.current_record(bucket, key).await?;
        if current.is_none() {
            self.require_bucket(bucket).await?;
        }
        check_condition(
            current.as_ref(),
            &match &cond {
                // A delete without a condition of a missing key is a no-op.
                PutCondition::IfNoneMatch => PutCondition::None,
                c => c.clone(),
            },
        )?;
        let Some(current) = current else {
            return Ok(false);
        };
        // 1. The tombstone is durable before the object disappears from the index.
        let seq = self.next_seq().await?;
        self.append_records(
            records_tier(current.location.tier),
            vec![VolumeRecord::Tombstone {
                bucket: bucket.clone(),
                key: key.clone(),
                seq,
            }],
        )
        .await?;
        failpoint::hit("delete.tombstone_durable");
        // 2. The commit; 3. the freed dedicated volumes.
        let inner = self.inner.clone();
        let (b, k) = (bucket.clone(), key.clone());
        // Only a version older than the tombstone goes: a write that began after this delete
        // and committed first wins here as it does on an index rebuild.
        let removed =
            blocking(move || Ok(inner.meta.delete_object_before(&b, &k, seq, &cond)?)).await?;
        if let Some(old) = &removed {
            self.inner.usage.removed(old);
            self.free_unreferenced(record_volumes(old)).await;
        }
        Ok(removed.is_some())
    }

    /// Server-side copy. Stored frames are copied as they are (no decode, no recompression).
    pub async fn copy_object(
        &self,
        src_bucket: &BucketName,
        src_key: &ObjectKey,
        dst_bucket: &BucketName,
        dst_key: &ObjectKey,
        opts: CopyOptions,
    ) -> Result<ObjectInfo> {
        let source = self.existing_record(src_bucket, src_key).await?;
        if let Some(etag) = &opts.source_etag {
            if &source.etag != etag {
                return Err(EngineError::PreconditionFailed);
            }
        }
        self.require_bucket(dst_bucket).await?;
        let mut record = source.clone();
        record.last_modified_ms = now_ms();
        if let MetadataDirective::Replace {
            content_type,
            headers,
            user_metadata,
        } = opts.metadata.clone()
        {
            record.content_type = content_type;
            record.headers = headers;
            record.user_metadata = user_metadata;
        }
        let same_object = src_bucket == dst_bucket && src_key == dst_key;
        let this = self.clone();
        let (b, k) = (dst_bucket.clone(), dst_key.clone());
        if same_object {
            // Only the metadata changes: a new header over the same stripes, committed only
            // if the object is still the version we read.
            return tokio::spawn(async move { this.rewrite_header(b, k, source, record).await })
                .await
                .map_err(|_| EngineError::Unavailable("the copy task panicked"))?;
        }
        // A copy of a cold object lands in hot (its frames are downloaded), unless placed.
        let to = opts
            .tier
            .filter(|t| *t != Tier::Cold && self.has_tier(*t))
            .unwrap_or(records_tier(source.location.tier));
        let (written, _) = self.restripe(&source, to).await?;
        tokio::spawn(async move {
            this.commit_object(b, k, written, record, opts.condition)
                .await
        })
        .await
        .map_err(|_| EngineError::Unavailable("the copy task panicked"))?
    }

    /// A new header record for the same stripes; commits only over the exact version read.
    async fn rewrite_header(
        &self,
        bucket: BucketName,
        key: ObjectKey,
        source: ObjectRecord,
        mut record: ObjectRecord,
    ) -> Result<ObjectInfo> {
        record.seq = self.next_seq().await?;
        self.append_header(&bucket, &key, &mut record).await?;
        let inner = self.inner.clone();
        let (b, k, r) = (bucket.clone(), key.clone(), record.clone());
        let applied =
            blocking(move || Ok(inner.meta.replace_object_if_seq(&b, &k, source.seq, &r)?)).await?;
        if !applied {
            self.abort_written(&bucket, &key, &record).await;
            return Err(EngineError::PreconditionFailed);
        }
        // The rewritten record keeps the version's sequence number in the index.
        let mut info = ObjectInfo::from_record(&bucket, &key, &record);
        info.seq = source.seq;
        Ok(info)
    }

    /// Copies a record's stored frames (as stored: no decode, no recompression) into new
    /// stripes of tier `to`, as a written body that nothing references yet. Reads the
    /// source a batch of frames at a time, from any tier (cold by ranged GETs). Returns the
    /// body and the stored bytes read.
    pub(crate) async fn restripe(
        &self,
        source: &ObjectRecord,
        to: Tier,
    ) -> Result<(WrittenBody, u64)> {
        let inner = self.inner.clone();
        let shared = source.size <= inner.config.shared_object_bytes_max;
        let digests = BodyDigests {
            md5: [0; 16],
            checksums: Vec::new(),
            bytes: source.size,
        };
        let mut writer = if shared {
            None
        } else {
            let storage = inner.storage.clone();
            Some(blocking(move || Ok(storage.create_dedicated(to)?)).await?)
        };
        let mut stripes = Vec::new();
        let mut frame_bytes = Vec::new();
        let mut extents = Vec::new();
        let mut read_bytes = 0u64;
        let from = source.location.tier;
        for batch in crate::tiers::batches(&source.location.extents, crate::tiers::MOVE_BATCH_BYTES)
        {
            let batch = source.location.extents[batch].to_vec();
            let frames = self.stored_frames(from, &batch).await?;
            read_bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
            let storage = inner.storage.clone();
            let (w, encoded) = blocking(move || {
                let mut w = writer;
                let mut encoded = Vec::new();
                for (e, frame) in batch.iter().zip(frames) {
                    let stripe = storage.encode(to, RecordKind::Frame, &frame)?;
                    match w.as_mut() {
                        None => encoded.push((e.logical_bytes, Some(stripe), None)),
                        Some(w) => encoded.push((
                            e.logical_bytes,
                            None,
                            Some(Extent {
                                logical_offset: e.logical_offset,
                                logical_bytes: e.logical_bytes,
                                stripe: w.append(stripe)?,
                            }),
                        )),
                    }
                }
                Ok((w, encoded))
            })
            .await?;
            writer = w;
            for (bytes, stripe, extent) in encoded {
                if let Some(s) = stripe {
                    stripes.push(s);
                    frame_bytes.push(bytes);
                }
                extents.extend(extent);
            }
        }
        let sink = match writer {
            None => Sink::Shared {
                stripes,
                frame_bytes,
            },
            Some(writer) => Sink::Dedicated { writer, extents },
        };
        Ok((
            WrittenBody {
                tier: to,
                digests,
                sink,
            },
            read_bytes,
        ))
    }

    /// Lists objects in key order (prefix, delimiter, start-after, max-keys). The S3 layer
    /// turns `next_start_after` into continuation tokens.
    pub async fn list_objects(&self, bucket: &BucketName, params: ListParams) -> Result<ListPage> {
        if params.max_keys > limits::LIST_KEYS_MAX {
            return Err(EngineError::InvalidArgument("max-keys above 1000"));
        }
        let inner = self.inner.clone();
        let b = bucket.clone();
        blocking(move || {
            if inner.meta.get_bucket(&b)?.is_none() {
                return Err(EngineError::NoSuchBucket);
            }
            Ok(stratum_metadata::list_objects(
                inner.meta.as_ref(),
                &b,
                &params,
            )?)
        })
        .await
    }
}
