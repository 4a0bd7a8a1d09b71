//! Erasure-coded, append-only volumes on the disk sets of the hot and warm tiers.
//!
//! `stratum-storage` owns the bytes on local disks. A record — opaque bytes with a
//! [`RecordKind`] tag — is erasure-coded into one *stripe* of `k` data and `m` parity
//! *pieces*; each piece is appended, behind an 80-byte header carrying its BLAKE3, to one
//! *shard file* of a *volume*, and every piece of a stripe sits at the same offset in its
//! shard file, so a [`StripeRef`](stratum_core::StripeRef) (volume, offset, sizes, payload hash) is all a reader needs.
//! Small records share a volume through a group-committing writer thread per tier; a large
//! object gets a dedicated volume ([`DedicatedWriter`]). The byte layout is specified in
//! `docs/format/volume.md`.
//!
//! ```no_run
//! # async fn demo(config: stratum_core::config::StorageConfig) -> Result<(), stratum_storage::StorageError> {
//! use stratum_core::Tier;
//! use stratum_storage::{RecordKind, Storage};
//! let (storage, _report) = Storage::open(&config)?;
//! let stripe = storage.encode(Tier::Hot, RecordKind::Frame, b"hello")?; // CPU: off the reactor
//! let refs = storage.append_shared(Tier::Hot, vec![stripe]).await?;     // durable on return
//! let read = storage.read_stripe(Tier::Hot, &refs[0])?;                 // blocking pread
//! assert_eq!(read.payload, b"hello");
//! # Ok(()) }
//! ```
//!
//! Invariants:
//! - A stripe is acknowledged only after at least [`write_quorum`]`(k, m)` = `min(k + 1, k + m)`
//!   of its pieces are durable — written and fdatasync'd (with `fsync` on): `append_shared`
//!   answers after its round's flush, and a dedicated volume is durable only once
//!   `DedicatedWriter::finish` returned. A shard file that cannot be created, written or
//!   flushed is dropped from its volume (warned) instead of failing the write, as long as the
//!   quorum holds: with up to `m - 1` disks of a tier lost, writes go on, and every
//!   acknowledged stripe still survives one more lost piece. Scrub rebuilds the missing
//!   pieces once the disk is back.
//! - A read returns the exact bytes that were appended or a typed error naming the volume
//!   and offset — never wrong bytes: every piece is checked against its BLAKE3, the decoded
//!   payload against the reference's.
//! - Volume files are append-only: a piece, once acknowledged, is rewritten only by repair,
//!   with identical bytes. The one in-place update is the 64-byte volume header's seal.
//! - The geometry (k, m) is persisted in every volume header; a mismatch refuses to open.
//! - A new volume id is past every id found on disk at open and every id allocated since,
//!   so a volume never reuses the files of another.
//!
//! The cold tier is a remote S3 bucket, reached through [`remote::RemoteStore`] (signed
//! with aws-sigv4, retried, rate- and concurrency-limited); see the [`remote`] module.
//! Objects there are packed into cold volumes, laid out by the [`cold`] module.
//!
//! It never interprets record payloads (no buckets, keys or frames), never touches the
//! metadata store, and never runs Reed-Solomon or hashing on an async reactor thread
//! (`append_shared` takes stripes encoded beforehand).

pub mod cold;
mod dedicated;
mod erasure;
mod error;
pub mod layout;
mod recovery;
pub mod remote;
mod scrub;
mod store;
mod stripe;
mod tier;
mod volume;
mod workers;
mod writer;

pub use dedicated::DedicatedWriter;
pub use erasure::{EncodedStripe, PAYLOAD_BYTES_MAX, PIECES_PER_STRIPE_MAX};
pub use error::StorageError;
pub use store::Storage;

use stratum_core::{Tier, VolumeId};

/// The write quorum: how many pieces of a stripe must be durable before it is acknowledged,
/// and how many shard files a new volume needs. `k + 1` — one piece more than decoding
/// needs, so a stripe written degraded still survives one more lost piece — capped at
/// `k + m`, so with `m = 0` every piece is needed (there is no parity to lose).
pub const fn write_quorum(k: u8, m: u8) -> usize {
    let k = k as usize;
    if m == 0 {
        k
    } else {
        k + 1
    }
}

/// What a record is. Opaque to storage; stored in every piece header so a volume scan can
/// rebuild an index without the metadata store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A codec frame of object data.
    Frame = 1,
    /// An object header record (bucket, key, size, ETag, ...).
    Header = 2,
    /// A deletion marker.
    Tombstone = 3,
}

impl RecordKind {
    /// The kind a piece header's byte encodes, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(RecordKind::Frame),
            2 => Some(RecordKind::Header),
            3 => Some(RecordKind::Tombstone),
            _ => None,
        }
    }
}

/// Whether a volume holds many objects' records or one object's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// Many small objects, appended by the group-commit writer.
    Shared,
    /// One large or streaming object.
    Dedicated,
}

/// A volume as `Storage::volumes` reports it.
#[derive(Debug, Clone)]
pub struct VolumeInfo {
    /// The volume.
    pub id: VolumeId,
    /// Its tier.
    pub tier: Tier,
    /// Shared or dedicated.
    pub kind: VolumeKind,
    /// No writer appends to it: not the active shared volume, nor a dedicated volume whose
    /// writer is alive.
    pub sealed: bool,
    /// Bytes of stripes on disk summed over all shard files (= sum of `StripeRef::disk_bytes`;
    /// volume headers excluded).
    pub stripe_bytes: u64,
}

/// One stripe as read back.
#[derive(Debug)]
pub struct StripeRead {
    /// The record kind from the piece headers.
    pub kind: RecordKind,
    /// The record, exactly as appended.
    pub payload: Vec<u8>,
    /// True if a data piece was lost and the payload was rebuilt from parity: the caller
    /// should schedule `repair_stripe`.
    pub reconstructed: bool,
}

/// What `Storage::open` found and did.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    /// Volumes opened.
    pub volumes: usize,
    /// Stripes in them.
    pub stripes: u64,
    /// Torn bytes cut from shard file tails, summed over files.
    pub torn_bytes_truncated: u64,
    /// Shard files missing or with a damaged header (their pieces count as lost).
    pub shard_files_missing: usize,
    /// Everything worth an operator's attention, also logged with `tracing::warn`.
    pub warnings: Vec<String>,
}

/// What one `Storage::scrub` pass found and did.
#[derive(Debug, Default, Clone)]
pub struct ScrubReport {
    /// Volumes scrubbed.
    pub volumes: usize,
    /// Stripes found.
    pub stripes: u64,
    /// Pieces read and checked.
    pub pieces_checked: u64,
    /// Pieces found lost (missing, bad header or failing BLAKE3).
    pub pieces_lost: u64,
    /// Lost pieces rebuilt and rewritten.
    pub pieces_repaired: u64,
    /// Stripes with more than `m` pieces lost: `(volume, offset)`.
    pub stripes_unrecoverable: Vec<(VolumeId, u64)>,
}

/// Counters since `Storage::open`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StorageStats {
    /// fdatasync rounds (one per group-commit round or dedicated `finish`, when `fsync`).
    pub sync_rounds: u64,
    /// Group-commit rounds written.
    pub commit_batches: u64,
    /// Stripes appended (shared and dedicated).
    pub stripes_appended: u64,
    /// Volumes created.
    pub volumes_created: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Storage>();
        assert_send_sync::<EncodedStripe>();
        fn assert_send<T: Send>() {}
        assert_send::<DedicatedWriter>();
    }

    #[test]
    fn record_kinds_round_trip() {
        for k in [RecordKind::Frame, RecordKind::Header, RecordKind::Tombstone] {
            assert_eq!(RecordKind::from_code(k as u8), Some(k));
        }
        assert_eq!(RecordKind::from_code(0), None);
        assert_eq!(RecordKind::from_code(4), None);
    }

    #[test]
    fn write_quorum_is_k_plus_one_capped_at_the_width() {
        assert_eq!(write_quorum(4, 2), 5);
        assert_eq!(write_quorum(4, 1), 5);
        assert_eq!(write_quorum(4, 0), 4);
        assert_eq!(write_quorum(1, 3), 2);
    }
}
