//! The records the engine writes into volumes so that volumes describe themselves.
//!
//! Storage treats these payloads as opaque bytes tagged `RecordKind::Header` or
//! `RecordKind::Tombstone`. Each carries the global sequence number of the write, so an index
//! rebuild can order records from different volumes: for every name, the record with the
//! highest sequence wins. Encoding: one format-version byte, then postcard
//! (`docs/format/volume.md`, "Engine records").

use serde::{Deserialize, Serialize};
use stratum_core::{BucketName, ObjectKey, StripeRef};
use stratum_metadata::ObjectRecord;

use crate::error::{EngineError, Result};

/// Version byte in front of every engine record.
const RECORD_VERSION: u8 = 1;

/// An engine record stored in a volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VolumeRecord {
    /// An object's header: everything its metadata record holds.
    ///
    /// When `following` is true, the object's data stripes were appended in the same call,
    /// directly after this header and in extent order: their `volume` and `offset` in
    /// `record.location` are placeholders (zero) and are derived from the header's own
    /// position on rebuild, because a shared volume assigns offsets only when it appends.
    Object {
        /// The bucket.
        bucket: BucketName,
        /// The key.
        key: ObjectKey,
        /// The metadata record (its `header_stripe` is `None`).
        record: Box<ObjectRecord>,
        /// Whether the data stripes directly follow this header.
        following: bool,
    },
    /// The object was deleted by the write with sequence `seq`.
    Tombstone {
        /// The bucket.
        bucket: BucketName,
        /// The key.
        key: ObjectKey,
        /// Sequence number of the delete.
        seq: u64,
    },
    /// The write with sequence `seq` wrote its header but its commit failed (a condition
    /// did not hold, the bucket vanished): that header must not come back on a rebuild.
    Aborted {
        /// The bucket.
        bucket: BucketName,
        /// The key.
        key: ObjectKey,
        /// Sequence number of the write that never committed.
        seq: u64,
    },
    /// The bucket was created.
    Bucket {
        /// The bucket.
        name: BucketName,
        /// Creation time, milliseconds since the Unix epoch.
        created_ms: i64,
        /// Sequence number of the creation.
        seq: u64,
    },
    /// The bucket was deleted.
    BucketDeleted {
        /// The bucket.
        name: BucketName,
        /// Sequence number of the deletion.
        seq: u64,
    },
}

impl VolumeRecord {
    /// Serialises the record with its version byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        // Serialising plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).expect("volume record serialises"));
        out
    }

    /// Parses a record written by [`VolumeRecord::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        match bytes.split_first() {
            Some((&RECORD_VERSION, rest)) => postcard::from_bytes(rest)
                .map_err(|e| EngineError::Corrupt(format!("volume record does not parse: {e}"))),
            Some((v, _)) => Err(EngineError::Corrupt(format!(
                "volume record has unknown version {v}"
            ))),
            None => Err(EngineError::Corrupt("empty volume record".into())),
        }
    }

    /// The record's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            VolumeRecord::Object { record, .. } => record.seq,
            VolumeRecord::Tombstone { seq, .. }
            | VolumeRecord::Aborted { seq, .. }
            | VolumeRecord::Bucket { seq, .. }
            | VolumeRecord::BucketDeleted { seq, .. } => *seq,
        }
    }
}

/// Fills in the placeholder `volume`/`offset` of stripes that directly follow `header`.
pub fn place_following(header: &StripeRef, record: &mut ObjectRecord) {
    let mut offset = header.end_offset();
    for extent in &mut record.location.extents {
        extent.stripe.volume = header.volume;
        extent.stripe.offset = offset;
        offset = extent.stripe.end_offset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_unknown_versions() {
        let r = VolumeRecord::Tombstone {
            bucket: BucketName::new("bkt").unwrap(),
            key: ObjectKey::new("a/b").unwrap(),
            seq: 42,
        };
        let bytes = r.encode();
        assert_eq!(VolumeRecord::decode(&bytes).unwrap(), r);
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(VolumeRecord::decode(&other).is_err());
        assert!(VolumeRecord::decode(&[]).is_err());
        assert!(VolumeRecord::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
