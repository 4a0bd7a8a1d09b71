//! Multipart uploads: parts are written like bodies (without headers) and tracked in the
//! metadata; completing stitches the parts' extents into one location without copying data.
//!
//! S3's rules: part numbers 1..=10,000; a part may be uploaded again (the last one wins); the
//! completion lists parts in strictly ascending order, each with the ETag it was uploaded
//! with; every part but the last is at least 5 MiB; the ETag is the MD5 of the parts' binary
//! MD5s followed by `-N`. Parts left out of the completion are freed.

use md5::Digest as _;
use stratum_core::{limits, BucketName, ChecksumAlgorithm, Extent, Location, ObjectKey, UploadId};
use stratum_metadata::{ObjectRecord, PartRecord, PutCondition, UploadRecord};

use crate::error::{EngineError, Result};
use crate::hash::checksum_of;
use crate::put::{algorithms_for, location_volumes, record_volumes, verify_digests, BodyLimits};
use crate::records::VolumeRecord;
use crate::{blocking, failpoint, now_ms, Engine, ObjectInfo, PutOptions, RangeSpec};

/// A part as UploadPart reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// The part number.
    pub part_number: u32,
    /// Hex MD5 of the part (no quotes).
    pub etag: String,
    /// Its size.
    pub size: u64,
    /// Checksums computed over the part.
    pub checksums: Vec<stratum_core::ChecksumValue>,
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// The part number.
    pub part_number: u32,
    /// The ETag the client got for it (quotes are ignored).
    pub etag: String,
}

/// One page of ListParts.
#[derive(Debug, Clone)]
pub struct ListPartsPage {
    /// The upload.
    pub upload: UploadRecord,
    /// Parts after the marker, ascending.
    pub parts: Vec<PartRecord>,
    /// Whether more parts follow.
    pub is_truncated: bool,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Clone)]
pub struct ListUploadsPage {
    /// Uploads ordered by key, then upload id.
    pub uploads: Vec<UploadRecord>,
    /// Whether more uploads follow.
    pub is_truncated: bool,
}

fn part_etag_bytes(etag: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(etag.trim_matches('"'), &mut out).ok()?;
    Some(out)
}

impl Engine {
    /// Starts a multipart upload; `opts` carries the object's future metadata and the
    /// checksum algorithm of its parts.
    pub async fn create_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        opts: PutOptions,
    ) -> Result<UploadRecord> {
        let rec = UploadRecord {
            upload_id: UploadId(uuid::Uuid::new_v4().simple().to_string()),
            bucket: bucket.clone(),
            key: key.clone(),
            initiated_ms: now_ms(),
            content_type: opts.content_type,
            headers: opts.headers,
            user_metadata: opts.user_metadata,
            checksum_algorithm: opts.checksum_algorithms.first().copied(),
        };
        let inner = self.inner.clone();
        let r = rec.clone();
        blocking(move || Ok(inner.meta.create_upload(&r)?)).await?;
        Ok(rec)
    }

    async fn upload_of(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &UploadId,
    ) -> Result<UploadRecord> {
        let inner = self.inner.clone();
        let i = id.clone();
        let upload = blocking(move || Ok(inner.meta.get_upload(&i)?)).await?;
        match upload {
            Some(u) if &u.bucket == bucket && &u.key == key => Ok(u),
            _ => Err(EngineError::NoSuchUpload),
        }
    }

    /// Uploads (or replaces) one part. `opts` carries the digests the client sent and the
    /// announced length; its metadata fields are ignored.
    pub async fn upload_part<S>(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &UploadId,
        part_number: u32,
        body: S,
        opts: PutOptions,
    ) -> Result<PartInfo>
    where
        S: futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Unpin,
    {
        if !(1..=limits::PART_NUMBER_MAX).contains(&part_number) {
            return Err(EngineError::InvalidArgument(
                "part number must be between 1 and 10000",
            ));
        }
        let upload = self.upload_of(bucket, key, id).await?;
        let mut algorithms = algorithms_for(&opts);
        algorithms.extend(upload.checksum_algorithm);
        algorithms.sort();
        algorithms.dedup();
        let limits = BodyLimits {
            max_bytes: limits::PART_BYTES_MAX,
            expected_bytes: opts.content_length,
        };
        let written = self.write_body(opts.tier, body, algorithms, limits).await?;
        verify_digests(&written.digests, &opts)?;
        let digests = written.digests.clone();
        let tier = written.tier;
        let this = self.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let extents = this.place_data_only(written).await?;
            failpoint::hit("multipart.part_durable");
            let part = PartRecord {
                part_number,
                size: digests.bytes,
                etag: hex::encode(digests.md5),
                last_modified_ms: now_ms(),
                checksums: digests.checksums.clone(),
                location: Location { tier, extents },
            };
            let inner = this.inner.clone();
            let p = part.clone();
            let replaced = blocking(move || Ok(inner.meta.put_part(&id, &p)?)).await;
            match replaced {
                Err(e) => {
                    let ours = location_volumes(&part.location).collect();
                    this.free_unreferenced(ours).await;
                    Err(e)
                }
                Ok(old) => {
                    if let Some(old) = old {
                        let theirs = location_volumes(&old.location).collect();
                        this.free_unreferenced(theirs).await;
                    }
                    Ok(PartInfo {
                        part_number,
                        etag: part.etag,
                        size: part.size,
                        checksums: part.checksums,
                    })
                }
            }
        })
        .await
        .map_err(|_| EngineError::Unavailable("the part task panicked"))?
    }

    /// UploadPartCopy: a part made from a byte range (or all) of an existing object. With
    /// `source_etag`, the version read must carry that ETag (the copy-source conditions were
    /// checked against it), else PreconditionFailed.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &UploadId,
        part_number: u32,
        src_bucket: &BucketName,
        src_key: &ObjectKey,
        range: Option<RangeSpec>,
        source_etag: Option<&str>,
    ) -> Result<PartInfo> {
        self.upload_of(bucket, key, id).await?;
        let source = self.get_object(src_bucket, src_key, range).await?;
        if source_etag.is_some_and(|etag| etag != source.info.etag) {
            return Err(EngineError::PreconditionFailed);
        }
        let len = source
            .range
            .map_or(source.info.size, |(start, end)| end - start);
        let body = futures::StreamExt::map(source.body, |r| {
            r.map_err(|e| std::io::Error::other(e.to_string()))
        });
        let opts = PutOptions {
            content_length: Some(len),
            ..PutOptions::default()
        };
        self.upload_part(bucket, key, id, part_number, Box::pin(body), opts)
            .await
    }

    /// Completes an upload: checks the parts, stitches their extents (no data is copied),
    /// writes the object's header record, and commits in one atomic metadata step.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &UploadId,
        parts: Vec<CompletedPart>,
        cond: PutCondition,
    ) -> Result<ObjectInfo> {
        let upload = self.upload_of(bucket, key, id).await?;
        if parts.is_empty() {
            return Err(EngineError::InvalidArgument(
                "a multipart upload needs at least one part",
            ));
        }
        if parts
            .windows(2)
            .any(|w| w[0].part_number >= w[1].part_number)
        {
            return Err(EngineError::InvalidPartOrder);
        }
        let stored = self.all_parts(id).await?;
        let mut chosen = Vec::with_capacity(parts.len());
        for p in &parts {
            let found = stored
                .binary_search_by_key(&p.part_number, |s| s.part_number)
                .ok()
                .map(|at| &stored[at])
                .filter(|s| part_etag_bytes(&s.etag) == part_etag_bytes(&p.etag));
            let Some(found) = found else {
                return Err(EngineError::InvalidPart {
                    part_number: p.part_number,
                });
            };
            chosen.push(found.clone());
        }
        // Sizes only once every part is known to exist, as S3 reports InvalidPart first.
        if let Some(small) = chosen[..chosen.len() - 1]
            .iter()
            .find(|p| p.size < limits::PART_BYTES_MIN)
        {
            return Err(EngineError::EntityTooSmall {
                part_number: small.part_number,
            });
        }
        let size: u64 = chosen.iter().map(|p| p.size).sum();
        if size > limits::OBJECT_BYTES_MAX {
            return Err(EngineError::EntityTooLarge {
                limit: limits::OBJECT_BYTES_MAX,
            });
        }
        let mut md5 = md5::Md5::new();
        let mut extents = Vec::new();
        let mut offset = 0u64;
        for p in &chosen {
            md5.update(part_etag_bytes(&p.etag).expect("stored part ETags are hex MD5s"));
            for e in &p.location.extents {
                extents.push(Extent {
                    logical_offset: offset + e.logical_offset,
                    ..e.clone()
                });
            }
            offset += p.size;
        }
        let checksums = composite_checksums(upload.checksum_algorithm, &chosen);
        let tier = chosen[0].location.tier;
        let mut record = ObjectRecord {
            seq: 0,
            size,
            etag: format!("{}-{}", hex::encode(md5.finalize()), chosen.len()),
            last_modified_ms: now_ms(),
            content_type: upload.content_type,
            headers: upload.headers,
            user_metadata: upload.user_metadata,
            checksums,
            part_sizes: chosen.iter().map(|p| p.size).collect(),
            location: Location { tier, extents },
            header_stripe: None,
        };
        let this = self.clone();
        let (bucket, key, id) = (bucket.clone(), key.clone(), id.clone());
        tokio::spawn(async move {
            record.seq = this.next_seq().await?;
            this.append_header(&bucket, &key, &mut record).await?;
            failpoint::hit("multipart.complete_header_durable");
            let inner = this.inner.clone();
            let r = record.clone();
            let completed = blocking(move || Ok(inner.meta.complete_upload(&id, &r, &cond)?)).await;
            let (outcome, removed) = match completed {
                Ok(done) => done,
                Err(e) => {
                    // The parts stay with the upload; only the header is void.
                    let aborted = VolumeRecord::Aborted {
                        bucket: bucket.clone(),
                        key: key.clone(),
                        seq: record.seq,
                    };
                    if let Err(e) = this.append_records(tier, vec![aborted]).await {
                        tracing::warn!(error = %e, "recording an aborted completion failed");
                    }
                    return Err(e);
                }
            };
            if outcome.applied {
                this.inner.usage.put(&record, outcome.replaced.as_ref());
            }
            let mut freed: Vec<_> = removed
                .iter()
                .flat_map(|p| location_volumes(&p.location))
                .collect();
            if let Some(old) = &outcome.replaced {
                freed.extend(record_volumes(old));
            }
            if !outcome.applied {
                freed.extend(record_volumes(&record));
            }
            this.free_unreferenced(freed).await;
            Ok(ObjectInfo::from_record(&bucket, &key, &record))
        })
        .await
        .map_err(|_| EngineError::Unavailable("the completion task panicked"))?
    }

    async fn all_parts(&self, id: &UploadId) -> Result<Vec<PartRecord>> {
        let inner = self.inner.clone();
        let id = id.clone();
        blocking(move || {
            let mut out = Vec::new();
            loop {
                let after = out.last().map_or(0, |p: &PartRecord| p.part_number);
                let page = inner.meta.list_parts(&id, after, 1000)?;
                if page.is_empty() {
                    return Ok(out);
                }
                out.extend(page);
            }
        })
        .await
    }

    /// Aborts an upload and frees its parts.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &UploadId,
    ) -> Result<()> {
        self.upload_of(bucket, key, id).await?;
        let inner = self.inner.clone();
        let i = id.clone();
        let removed = blocking(move || Ok(inner.meta.abort_upload(&i)?)).await?;
        let freed = removed
            .iter()
            .flat_map(|p| location_volumes(&p.location))
            .collect();
        self.free_unreferenced(freed).await;
        Ok(())
    }

    /// Lists an upload's parts after `marker`, at most `max_parts`.
    pub async fn list_parts(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        id: &UploadId,
        marker: u32,
        max_parts: usize,
    ) -> Result<ListPartsPage> {
        let upload = self.upload_of(bucket, key, id).await?;
        let inner = self.inner.clone();
        let i = id.clone();
        let mut parts =
            blocking(move || Ok(inner.meta.list_parts(&i, marker, max_parts + 1)?)).await?;
        let is_truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        Ok(ListPartsPage {
            upload,
            parts,
            is_truncated,
        })
    }

    /// Lists a bucket's in-progress uploads with keys under `prefix`, after the
    /// `(key, upload id)` marker, at most `max_uploads`.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &BucketName,
        prefix: &str,
        after: Option<(String, String)>,
        max_uploads: usize,
    ) -> Result<ListUploadsPage> {
        self.require_bucket(bucket).await?;
        let inner = self.inner.clone();
        let b = bucket.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let mut uploads = Vec::new();
            let mut after = after;
            // Pages of the index until enough uploads under the prefix are found.
            loop {
                let page = inner.meta.list_uploads(
                    &b,
                    after.as_ref().map(|(k, u)| (k.as_str(), u.as_str())),
                    256,
                )?;
                let done = page.len() < 256;
                for u in page {
                    after = Some((u.key.as_str().to_string(), u.upload_id.0.clone()));
                    if u.key.as_str().starts_with(&prefix) {
                        if uploads.len() == max_uploads {
                            return Ok(ListUploadsPage {
                                uploads,
                                is_truncated: true,
                            });
                        }
                        uploads.push(u);
                    }
                }
                if done {
                    return Ok(ListUploadsPage {
                        uploads,
                        is_truncated: false,
                    });
                }
            }
        })
        .await
    }
}

/// S3's composite checksum of a multipart object: the algorithm over the concatenated
/// binary checksums of the parts (reported with a `-N` suffix by the S3 layer).
fn composite_checksums(
    algorithm: Option<ChecksumAlgorithm>,
    parts: &[PartRecord],
) -> Vec<stratum_core::ChecksumValue> {
    let Some(algorithm) = algorithm else {
        return Vec::new();
    };
    let mut joined = Vec::new();
    for p in parts {
        match p.checksums.iter().find(|c| c.algorithm == algorithm) {
            Some(c) => joined.extend_from_slice(&c.digest),
            // A part without the upload's checksum: no composite can be stated honestly.
            None => return Vec::new(),
        }
    }
    vec![checksum_of(algorithm, &joined)]
}
