//! Builders for records and stores shared by the test modules.

use std::ops::Bound;

use stratum_core::config::MetadataConfig;
use stratum_core::{BucketName, Extent, Location, ObjectKey, StripeRef, Tier, UploadId, VolumeId};
use stratum_metadata::{
    BucketRecord, MemoryStore, MetadataStore, ObjectRecord, PartRecord, SledStore, UploadRecord,
};

/// Data pieces of every test stripe.
pub const K: u8 = 4;
/// Parity pieces of every test stripe.
pub const M: u8 = 2;

pub fn bucket(name: &str) -> BucketName {
    BucketName::new(name).unwrap()
}

pub fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

pub fn upload_id(id: &str) -> UploadId {
    UploadId(id.to_owned())
}

/// A 4+2 stripe in `volume` whose pieces hold `piece_bytes` each.
pub fn stripe(volume: u64, offset: u64, piece_bytes: u32) -> StripeRef {
    StripeRef {
        volume: VolumeId(volume),
        offset,
        piece_bytes,
        payload_bytes: piece_bytes * u32::from(K),
        data_pieces: K,
        parity_pieces: M,
        payload_hash: [7; 32],
    }
}

/// What `stripe(_, _, piece_bytes)` occupies on disk.
pub fn disk(piece_bytes: u32) -> u64 {
    stripe(0, 0, piece_bytes).disk_bytes()
}

/// A location of one frame per stripe.
pub fn location(stripes: &[StripeRef]) -> Location {
    let mut offset = 0;
    let extents = stripes
        .iter()
        .map(|s| {
            let e = Extent {
                logical_offset: offset,
                logical_bytes: s.payload_bytes,
                stripe: s.clone(),
            };
            offset += u64::from(s.payload_bytes);
            e
        })
        .collect();
    Location {
        tier: Tier::Hot,
        extents,
    }
}

pub fn object(
    seq: u64,
    etag: &str,
    stripes: &[StripeRef],
    header: Option<StripeRef>,
) -> ObjectRecord {
    let location = location(stripes);
    ObjectRecord {
        seq,
        size: location.logical_bytes(),
        etag: etag.to_owned(),
        last_modified_ms: 1_700_000_000_000 + seq as i64,
        content_type: Some("text/plain".to_owned()),
        headers: vec![("content-encoding".to_owned(), "identity".to_owned())],
        user_metadata: vec![("colour".to_owned(), "blue".to_owned())],
        checksums: vec![],
        part_sizes: vec![],
        location,
        header_stripe: header,
    }
}

pub fn part(number: u32, stripes: &[StripeRef]) -> PartRecord {
    let location = location(stripes);
    PartRecord {
        part_number: number,
        size: location.logical_bytes(),
        etag: format!("etag-{number}"),
        last_modified_ms: 1_700_000_000_000,
        checksums: vec![],
        location,
    }
}

pub fn upload(id: &str, b: &str, k: &str) -> UploadRecord {
    UploadRecord {
        upload_id: upload_id(id),
        bucket: bucket(b),
        key: key(k),
        initiated_ms: 1_700_000_000_000,
        content_type: None,
        headers: vec![],
        user_metadata: vec![],
        checksum_algorithm: None,
    }
}

pub fn create_bucket(s: &dyn MetadataStore, name: &str) -> BucketName {
    let b = bucket(name);
    s.create_bucket(&BucketRecord {
        name: b.clone(),
        created_ms: 1,
    })
    .unwrap();
    b
}

/// Every key of a bucket, through scan_objects.
pub fn all_keys(s: &dyn MetadataStore, b: &BucketName) -> Vec<String> {
    s.scan_objects(b, Bound::Unbounded, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k.as_str().to_owned())
        .collect()
}

/// The incremental live-byte table agrees with one recomputed from the records.
pub fn assert_live_bytes_consistent(s: &dyn MetadataStore) {
    let incremental = s.all_volume_live_bytes().unwrap();
    let recomputed = s.recompute_volume_live_bytes().unwrap();
    assert_eq!(incremental, recomputed, "incremental table drifted");
    assert_eq!(s.all_volume_live_bytes().unwrap(), recomputed);
}

pub fn memory_store() -> MemoryStore {
    MemoryStore::new()
}

pub fn sled_config(dir: &std::path::Path, flush: bool) -> MetadataConfig {
    MetadataConfig {
        path: dir.join("meta"),
        flush,
        cache_capacity_bytes: 8 << 20,
    }
}

/// A flushing sled store in a fresh directory (kept alive by the returned guard).
pub fn sled_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(&sled_config(dir.path(), true)).unwrap();
    (dir, store)
}
