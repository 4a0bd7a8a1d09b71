//! The GET path: record → pinned volumes → only the frames overlapping the range → stream.
//!
//! Frames are read and decoded on blocking threads, a few ahead of the consumer, so a fast
//! client gets disk and decode parallelism while a slow one holds only a few frames in memory.
//! A stripe that had to be rebuilt from parity is served (after its BLAKE3 check) and queued
//! for the healer.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use stratum_core::{BucketName, Extent, ObjectKey, Tier};
use stratum_metadata::ObjectRecord;

use crate::error::{EngineError, Result};
use crate::put::record_volumes;
use crate::{blocking, Engine, Inner, ObjectInfo};

/// A body being streamed to a caller.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A byte range as S3 clients express it (`Range: bytes=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-last` (inclusive; `last` past the end is clamped).
    FromTo(u64, u64),
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// Resolves against an object size to a half-open `start..end`, or InvalidRange.
    pub fn resolve(self, size: u64) -> Result<(u64, u64)> {
        let invalid = Err(EngineError::InvalidRange { size });
        match self {
            RangeSpec::FromTo(first, last) if first <= last && first < size => {
                Ok((first, last.min(size - 1) + 1))
            }
            RangeSpec::From(first) if first < size => Ok((first, size)),
            RangeSpec::Suffix(n) if n > 0 && size > 0 => Ok((size - n.min(size), size)),
            _ => invalid,
        }
    }
}

/// An object being read.
pub struct GetObject {
    /// Its metadata.
    pub info: ObjectInfo,
    /// The half-open byte range being returned, when a range was asked for.
    pub range: Option<(u64, u64)>,
    /// The bytes.
    pub body: BodyStream,
}

impl std::fmt::Debug for GetObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetObject")
            .field("info", &self.info)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Frames decoded ahead of the consumer.
const PREFETCH_FRAMES: usize = 4;

impl Engine {
    /// An object's metadata.
    pub async fn head_object(&self, bucket: &BucketName, key: &ObjectKey) -> Result<ObjectInfo> {
        let record = self.existing_record(bucket, key).await?;
        Ok(ObjectInfo::from_record(bucket, key, &record))
    }

    pub(crate) async fn existing_record(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<ObjectRecord> {
        match self.current_record(bucket, key).await? {
            Some(r) => Ok(r),
            None => {
                self.require_bucket(bucket).await?;
                Err(EngineError::NoSuchKey)
            }
        }
    }

    /// Streams an object, whole or a byte range. Only the frames overlapping the range are
    /// read and decoded.
    pub async fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        range: Option<RangeSpec>,
    ) -> Result<GetObject> {
        let (record, guard) = self.pinned_record(bucket, key).await?;
        let resolved = range.map(|r| r.resolve(record.size)).transpose()?;
        let (start, end) = resolved.unwrap_or((0, record.size));
        let info = ObjectInfo::from_record(bucket, key, &record);
        let extents: Vec<Extent> = record.location.extents_for_range(start, end).to_vec();
        let tier = record.location.tier;
        let inner = self.inner.clone();
        if tier == Tier::Cold {
            let body = crate::tiers::cold_body(inner, extents, start, end)?.map(move |frame| {
                let _pinned = &guard;
                frame
            });
            return Ok(GetObject {
                info,
                range: resolved,
                body: Box::pin(body),
            });
        }
        let body = futures::stream::iter(extents)
            .map(move |extent| {
                let inner = inner.clone();
                async move { blocking(move || read_frame(&inner, tier, &extent, start, end)).await }
            })
            .buffered(PREFETCH_FRAMES)
            // The pin guard lives as long as the stream: volumes stay until it is dropped.
            .map(move |frame| {
                let _pinned = &guard;
                frame
            });
        Ok(GetObject {
            info,
            range: resolved,
            body: Box::pin(body),
        })
    }

    /// Reads the current record and pins its volumes, retrying if it changed meanwhile, so
    /// the volumes cannot be freed before the returned guard drops.
    pub(crate) async fn pinned_record(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<(ObjectRecord, crate::pins::PinGuard)> {
        loop {
            let record = self.existing_record(bucket, key).await?;
            let weak = Arc::downgrade(&self.inner);
            let guard = self.inner.pins.pin(
                record_volumes(&record),
                Box::new(move |freed| {
                    if let Some(inner) = weak.upgrade() {
                        delete_deferred(inner, freed);
                    }
                }),
            );
            match self.current_record(bucket, key).await? {
                Some(again) if again.seq == record.seq => return Ok((record, guard)),
                _ => continue,
            }
        }
    }
}

/// Deletes volumes whose deletion waited for their last reader.
fn delete_deferred(inner: Arc<Inner>, freed: Vec<(Tier, stratum_core::VolumeId)>) {
    let task = move || {
        for (tier, id) in freed {
            if tier == Tier::Cold {
                // The last reader of a dead cold volume finished: its remote object goes.
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(crate::tiers::delete_remote_volume(inner.clone(), id));
                }
                continue;
            }
            if let Err(e) = inner.storage.delete_volume(tier, id) {
                tracing::warn!(%id, error = %e, "deferred volume deletion failed");
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(task);
        }
        Err(_) => task(),
    }
}

/// Reads one frame's stripe, decodes it, and returns the part inside `start..end`.
fn read_frame(inner: &Inner, tier: Tier, extent: &Extent, start: u64, end: u64) -> Result<Bytes> {
    let read = inner.storage.read_stripe(tier, &extent.stripe)?;
    if read.reconstructed {
        // Served from parity after the hash check; the healer rewrites the lost pieces.
        let _ = inner.repairs.send((tier, extent.stripe.clone()));
    }
    crate::tiers::decode_frame(&read.payload, extent, start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_s3_does() {
        assert_eq!(RangeSpec::FromTo(0, 9).resolve(100).unwrap(), (0, 10));
        assert_eq!(RangeSpec::FromTo(90, 200).resolve(100).unwrap(), (90, 100));
        assert_eq!(RangeSpec::From(99).resolve(100).unwrap(), (99, 100));
        assert_eq!(RangeSpec::Suffix(10).resolve(100).unwrap(), (90, 100));
        assert_eq!(RangeSpec::Suffix(500).resolve(100).unwrap(), (0, 100));
        for bad in [
            RangeSpec::FromTo(100, 200),
            RangeSpec::FromTo(5, 4),
            RangeSpec::From(100),
            RangeSpec::Suffix(0),
        ] {
            assert!(matches!(
                bad.resolve(100),
                Err(EngineError::InvalidRange { size: 100 })
            ));
        }
        assert!(RangeSpec::Suffix(1).resolve(0).is_err());
    }
}
