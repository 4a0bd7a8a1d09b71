//! The typed errors of the storage layer: every failure says where it happened.
//!
//! Callers classify errors by variant, never by message. Corruption carries the volume and
//! offset where it was found.

use std::path::PathBuf;

use stratum_core::{Tier, VolumeId};

/// Everything that can go wrong in `stratum-storage`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file system call failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// More pieces of a stripe are lost than parity can rebuild.
    #[error(
        "stripe {volume}@{offset} is unrecoverable: {lost} pieces lost, {needed} good ones needed"
    )]
    Unrecoverable {
        /// The volume.
        volume: VolumeId,
        /// The stripe's offset.
        offset: u64,
        /// Pieces missing, damaged or failing their BLAKE3.
        lost: usize,
        /// Good pieces needed to decode (k).
        needed: usize,
    },
    /// A stripe's bytes contradict the reference used to read it.
    #[error("stripe {volume}@{offset} is corrupt: {detail}")]
    Corrupt {
        /// The volume.
        volume: VolumeId,
        /// The stripe's offset.
        offset: u64,
        /// What did not match (informational; not for matching).
        detail: String,
    },
    /// The decoded payload does not hash to the reference's BLAKE3.
    #[error("stripe {volume}@{offset}: payload BLAKE3 does not match its reference")]
    HashMismatch {
        /// The volume.
        volume: VolumeId,
        /// The stripe's offset.
        offset: u64,
    },
    /// The tier has no disk set in this configuration (or is the remote cold tier).
    #[error("tier {0} has no disk set")]
    NoSuchTier(Tier),
    /// The volume is not in the tier.
    #[error("no volume {0}")]
    NoSuchVolume(VolumeId),
    /// A shard index outside `0..k+m`.
    #[error("volume {volume} has no shard {index}")]
    NoSuchShard {
        /// The volume.
        volume: VolumeId,
        /// The index asked for.
        index: usize,
    },
    /// A volume on disk was written with another geometry than the tier is configured with.
    #[error("{path}: volume has {found:?} (k, m) but the tier is configured for {expected:?}")]
    GeometryMismatch {
        /// The shard file.
        path: PathBuf,
        /// `(k, m)` in the volume header.
        found: (u8, u8),
        /// `(k, m)` in the configuration.
        expected: (u8, u8),
    },
    /// A stripe encoded for another geometry was handed to a tier.
    #[error("stripe encoded as {found:?} (k, m) cannot go to tier {tier} with {expected:?}")]
    StripeGeometry {
        /// The tier appended to.
        tier: Tier,
        /// The stripe's `(k, m)`.
        found: (u8, u8),
        /// The tier's `(k, m)`.
        expected: (u8, u8),
    },
    /// A configured geometry that cannot be encoded.
    #[error("tier {tier}: invalid geometry k={k} m={m} (need k >= 1 and k + m <= {max})")]
    InvalidGeometry {
        /// The tier.
        tier: Tier,
        /// Configured data pieces.
        k: u8,
        /// Configured parity pieces.
        m: u8,
        /// Most pieces per stripe.
        max: usize,
    },
    /// Fewer directories than pieces per stripe, and the configuration does not allow it.
    #[error("tier {tier} has {have} directories but stripes need {need} (set allow_fewer_dirs to accept)")]
    TooFewDirs {
        /// The tier.
        tier: Tier,
        /// Directories configured.
        have: usize,
        /// Pieces per stripe (k + m).
        need: usize,
    },
    /// A record longer than a piece header can describe.
    #[error("record of {bytes} bytes exceeds the {max}-byte limit")]
    PayloadTooLarge {
        /// The record's length.
        bytes: usize,
        /// [`crate::PAYLOAD_BYTES_MAX`].
        max: u64,
    },
    /// The volume is being written (the active shared volume, or a dedicated volume whose
    /// writer is alive) and cannot be deleted.
    #[error("volume {0} is being written")]
    VolumeActive(VolumeId),
    /// The reference points past the end of the volume's written stripes.
    #[error("stripe {volume}@{offset} lies past the volume's end {end}")]
    OutOfBounds {
        /// The volume.
        volume: VolumeId,
        /// The stripe's offset.
        offset: u64,
        /// Offset just past the last written stripe.
        end: u64,
    },
    /// Fewer pieces could be written than the write quorum (`min(k + 1, k + m)` per stripe):
    /// creating a volume found too few usable shard files, or a write round reached too few
    /// of them. Nothing in the volume (or that round) is acknowledged.
    #[error("volume {volume}: only {written} of {width} shard files written, the write quorum is {needed}")]
    WriteQuorum {
        /// The volume being created or written.
        volume: VolumeId,
        /// Shard files written (created, or written and flushed) successfully.
        written: usize,
        /// Pieces per stripe (k + m).
        width: usize,
        /// The write quorum.
        needed: usize,
        /// The first failure, if one caused the shortfall (absent shard files cause none).
        #[source]
        source: Option<Box<StorageError>>,
    },
    /// The tier's writer thread has stopped (it panicked or the store is shutting down).
    #[error("the volume writer has stopped")]
    WriterGone,
    /// Volume ids ran out (a 64-bit counter: only reachable by corrupt input).
    #[error("volume ids exhausted")]
    IdsExhausted,
}

impl StorageError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// A copy for each request of a failed group-commit batch. `io::Error` is not `Clone`,
    /// so an I/O error is rebuilt from its kind and message; every other variant is copied.
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            StorageError::Io { path, source } => StorageError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            StorageError::Unrecoverable {
                volume,
                offset,
                lost,
                needed,
            } => StorageError::Unrecoverable {
                volume: *volume,
                offset: *offset,
                lost: *lost,
                needed: *needed,
            },
            StorageError::Corrupt {
                volume,
                offset,
                detail,
            } => StorageError::Corrupt {
                volume: *volume,
                offset: *offset,
                detail: detail.clone(),
            },
            StorageError::HashMismatch { volume, offset } => StorageError::HashMismatch {
                volume: *volume,
                offset: *offset,
            },
            StorageError::NoSuchTier(t) => StorageError::NoSuchTier(*t),
            StorageError::NoSuchVolume(v) => StorageError::NoSuchVolume(*v),
            StorageError::NoSuchShard { volume, index } => StorageError::NoSuchShard {
                volume: *volume,
                index: *index,
            },
            StorageError::GeometryMismatch {
                path,
                found,
                expected,
            } => StorageError::GeometryMismatch {
                path: path.clone(),
                found: *found,
                expected: *expected,
            },
            StorageError::StripeGeometry {
                tier,
                found,
                expected,
            } => StorageError::StripeGeometry {
                tier: *tier,
                found: *found,
                expected: *expected,
            },
            StorageError::InvalidGeometry { tier, k, m, max } => StorageError::InvalidGeometry {
                tier: *tier,
                k: *k,
                m: *m,
                max: *max,
            },
            StorageError::TooFewDirs { tier, have, need } => StorageError::TooFewDirs {
                tier: *tier,
                have: *have,
                need: *need,
            },
            StorageError::PayloadTooLarge { bytes, max } => StorageError::PayloadTooLarge {
                bytes: *bytes,
                max: *max,
            },
            StorageError::VolumeActive(v) => StorageError::VolumeActive(*v),
            StorageError::OutOfBounds {
                volume,
                offset,
                end,
            } => StorageError::OutOfBounds {
                volume: *volume,
                offset: *offset,
                end: *end,
            },
            StorageError::WriteQuorum {
                volume,
                written,
                width,
                needed,
                source,
            } => StorageError::WriteQuorum {
                volume: *volume,
                written: *written,
                width: *width,
                needed: *needed,
                source: source.as_ref().map(|e| Box::new(e.duplicate())),
            },
            StorageError::WriterGone => StorageError::WriterGone,
            StorageError::IdsExhausted => StorageError::IdsExhausted,
        }
    }
}
