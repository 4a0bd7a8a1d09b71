//! The records the metadata store keeps, and their versioned binary encoding.
//!
//! Every stored value is one format-version byte ([`FORMAT_VERSION`]) followed by the
//! record encoded with postcard. A value with any other leading byte, or one that does not
//! decode, is refused as [`MetaError::Corrupt`] naming the tree it came from: the store never
//! guesses at a record it cannot read, and never panics on one.
//!
//! Adding a field is a format change: bump [`FORMAT_VERSION`] and teach [`decode`] the old one.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use stratum_core::{
    BucketName, ChecksumAlgorithm, ChecksumValue, Location, ObjectKey, StripeRef, UploadId,
};

use crate::MetaError;

/// The leading byte of every encoded record.
pub const FORMAT_VERSION: u8 = 1;

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// The bucket's name.
    pub name: BucketName,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// The current version of one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Global write sequence number; of two writes to one key, the higher seq wins.
    pub seq: u64,
    /// Size of the original object, in bytes.
    pub size: u64,
    /// Hex MD5 of the body, or `hex-N` for a multipart object (no quotes).
    pub etag: String,
    /// Last-Modified, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// Content-Type, if the client sent one.
    pub content_type: Option<String>,
    /// Other stored headers (content-encoding, content-disposition, ...), lowercase names.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` headers without the prefix.
    pub user_metadata: Vec<(String, String)>,
    /// Additional checksums computed over the body.
    pub checksums: Vec<ChecksumValue>,
    /// For multipart objects, the size of each part in order; empty otherwise.
    pub part_sizes: Vec<u64>,
    /// Where the object's frames are.
    pub location: Location,
    /// The object's self-describing header record in a volume, if it has one.
    pub header_stripe: Option<StripeRef>,
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The upload's id.
    pub upload_id: UploadId,
    /// The bucket the object will land in.
    pub bucket: BucketName,
    /// The key the object will land at.
    pub key: ObjectKey,
    /// Initiation time, milliseconds since the Unix epoch.
    pub initiated_ms: i64,
    /// Content-Type given at initiation.
    pub content_type: Option<String>,
    /// Other stored headers given at initiation, lowercase names.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` headers given at initiation, without the prefix.
    pub user_metadata: Vec<(String, String)>,
    /// The checksum algorithm the client asked for at initiation.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// The part number the client gave (1..=10,000).
    pub part_number: u32,
    /// Size of the part's original bytes.
    pub size: u64,
    /// Hex MD5 of the part (no quotes).
    pub etag: String,
    /// Upload time, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// Additional checksums computed over the part.
    pub checksums: Vec<ChecksumValue>,
    /// Where the part's frames are.
    pub location: Location,
}

/// An S3 access key and its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// The access key id.
    pub access_key: String,
    /// The secret key.
    pub secret_key: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// A human-readable name, if one was given.
    pub name: Option<String>,
}

/// One row of the tiering decision log ([`MetadataStore::put_decisions`](crate::MetadataStore::put_decisions)).
///
/// The store does not read `bytes` (the tiering crate encodes and versions them); it keeps
/// `bucket` and `key` beside them to maintain the per-object index. Not encoded with
/// [`encode`]: the stored layout is in `keys.rs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRow {
    /// The row's id: unique, assigned by the caller in increasing order.
    pub id: u64,
    /// The bucket of the object the decision is about.
    pub bucket: BucketName,
    /// The object's key.
    pub key: ObjectKey,
    /// The encoded decision.
    pub bytes: Vec<u8>,
}

/// Encodes `rec` behind the format-version byte. `tree` names where it will be stored, for
/// the error should encoding ever fail.
pub fn encode<T: Serialize>(tree: &'static str, rec: &T) -> Result<Vec<u8>, MetaError> {
    let mut out = vec![FORMAT_VERSION];
    let body = postcard::to_allocvec(rec).map_err(|e| MetaError::Corrupt {
        tree,
        detail: format!("cannot encode record: {e}"),
    })?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a value written by [`encode`], refusing unknown versions, undecodable bodies and
/// trailing bytes.
pub fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, MetaError> {
    let corrupt = |detail: String| MetaError::Corrupt { tree, detail };
    match bytes.split_first() {
        None => Err(corrupt("empty value".to_owned())),
        Some((&FORMAT_VERSION, body)) => {
            let (rec, rest) = postcard::take_from_bytes(body)
                .map_err(|e| corrupt(format!("cannot decode record: {e}")))?;
            if rest.is_empty() {
                Ok(rec)
            } else {
                Err(corrupt(format!(
                    "{} trailing bytes after record",
                    rest.len()
                )))
            }
        }
        Some((v, _)) => Err(corrupt(format!("unknown format version {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> BucketRecord {
        BucketRecord {
            name: BucketName::new("photos").unwrap(),
            created_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn records_round_trip_behind_the_version_byte() {
        let bytes = encode("buckets", &bucket()).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<BucketRecord>("buckets", &bytes).unwrap(), bucket());
    }

    #[test]
    fn unknown_version_is_corrupt_not_a_panic() {
        let mut bytes = encode("buckets", &bucket()).unwrap();
        bytes[0] = 2;
        assert!(matches!(
            decode::<BucketRecord>("buckets", &bytes),
            Err(MetaError::Corrupt {
                tree: "buckets",
                ..
            })
        ));
    }

    #[test]
    fn truncated_garbage_and_empty_values_are_corrupt() {
        let bytes = encode("buckets", &bucket()).unwrap();
        for bad in [&bytes[..0], &bytes[..3], &[1, 0xff, 0xff, 0xff][..]] {
            assert!(matches!(
                decode::<BucketRecord>("buckets", bad),
                Err(MetaError::Corrupt { .. })
            ));
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode::<BucketRecord>("buckets", &long),
            Err(MetaError::Corrupt { .. })
        ));
    }

    #[test]
    fn invalid_bucket_name_inside_a_record_is_corrupt() {
        // A record whose name fails validation must not come back as a BucketName.
        let mut bytes = vec![FORMAT_VERSION];
        bytes.extend(postcard::to_allocvec(&("A_B".to_owned(), 5i64)).unwrap());
        assert!(matches!(
            decode::<BucketRecord>("buckets", &bytes),
            Err(MetaError::Corrupt { .. })
        ));
    }
}
