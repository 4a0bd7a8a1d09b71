//! Shared ids, value types, limits and configuration for every Stratum crate.
//!
//! This crate owns the vocabulary the other crates speak to each other: validated names
//! ([`BucketName`], [`ObjectKey`]), identifiers ([`VolumeId`], [`UploadId`]), the [`Tier`]s,
//! the [`Location`] of an object's stripes, checksum algorithms, the named limits of the
//! S3 surface, and the configuration structs with their defaults.
//!
//! Invariants: a `BucketName` or `ObjectKey` that exists has passed validation; every
//! limit has a name in [`limits`]; every configuration default lives in [`config`].
//!
//! It never does I/O, never spawns tasks, and depends on no other workspace crate.

pub mod checksum;
pub mod config;
pub mod ids;
pub mod limits;
pub mod location;

pub use checksum::{ChecksumAlgorithm, ChecksumValue};
pub use ids::{BucketName, NameError, ObjectKey, Tier, UploadId, VolumeId};
pub use location::{Extent, Location, StripeRef, PIECE_HEADER_BYTES};
