//! The engine's typed errors. The S3 layer maps each variant to an S3 code in one match.

use stratum_core::ChecksumAlgorithm;
use stratum_metadata::MetaError;
use stratum_storage::StorageError;

/// Everything an object-layer operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The bucket does not exist.
    #[error("the bucket does not exist")]
    NoSuchBucket,
    /// CreateBucket on a bucket that exists (single-tenant: it is always the caller's own).
    #[error("the bucket already exists")]
    BucketAlreadyOwnedByYou,
    /// DeleteBucket on a bucket that holds objects or in-progress uploads.
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    /// The object does not exist.
    #[error("the object does not exist")]
    NoSuchKey,
    /// The multipart upload does not exist (completed, aborted or never created).
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    /// A conditional write or copy found the object in another state.
    #[error("a precondition did not hold")]
    PreconditionFailed,
    /// The requested range starts at or beyond the object's end.
    #[error("the range is not satisfiable for an object of {size} bytes")]
    InvalidRange {
        /// The object's size.
        size: u64,
    },
    /// A digest the client sent (Content-MD5 or an `x-amz-checksum-*`) does not match the body.
    #[error("the {algorithm} digest of the body does not match the one sent")]
    BadDigest {
        /// Which digest: `MD5` or an additional checksum's AWS name.
        algorithm: &'static str,
    },
    /// The body ended before the announced length, or ran past it.
    #[error("the body had {received} bytes, {expected} were announced")]
    IncompleteBody {
        /// Bytes announced (Content-Length or decoded length).
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The body exceeds the limit for this operation.
    #[error("the body exceeds the limit of {limit} bytes")]
    EntityTooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// A part other than the last is smaller than 5 MiB.
    #[error("part {part_number} is smaller than the minimum part size")]
    EntityTooSmall {
        /// The offending part.
        part_number: u32,
    },
    /// CompleteMultipartUpload named a part that was not uploaded or whose ETag differs.
    #[error("part {part_number} was not found or its ETag does not match")]
    InvalidPart {
        /// The offending part.
        part_number: u32,
    },
    /// CompleteMultipartUpload listed parts out of ascending order.
    #[error("the parts are not in ascending order")]
    InvalidPartOrder,
    /// An argument is out of its valid range; the message names it.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Reading the request body failed (the client went away or sent a broken stream).
    #[error("reading the request body failed: {0}")]
    Body(#[source] std::io::Error),
    /// The storage layer failed; corruption beyond parity names its volume and offset.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Metadata(#[source] MetaError),
    /// The cold tier's remote bucket failed (after the client's retries).
    #[error("cold tier: {0}")]
    Remote(#[from] stratum_storage::remote::RemoteError),
    /// Stored bytes decoded to something inconsistent: never served.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A background task died or the engine is shutting down; retrying may work.
    #[error("the engine is unavailable: {0}")]
    Unavailable(&'static str),
}

impl EngineError {
    /// Stable name of the variant for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::NoSuchBucket => "NoSuchBucket",
            EngineError::BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            EngineError::BucketNotEmpty => "BucketNotEmpty",
            EngineError::NoSuchKey => "NoSuchKey",
            EngineError::NoSuchUpload => "NoSuchUpload",
            EngineError::PreconditionFailed => "PreconditionFailed",
            EngineError::InvalidRange { .. } => "InvalidRange",
            EngineError::BadDigest { .. } => "BadDigest",
            EngineError::IncompleteBody { .. } => "IncompleteBody",
            EngineError::EntityTooLarge { .. } => "EntityTooLarge",
            EngineError::EntityTooSmall { .. } => "EntityTooSmall",
            EngineError::InvalidPart { .. } => "InvalidPart",
            EngineError::InvalidPartOrder => "InvalidPartOrder",
            EngineError::InvalidArgument(_) => "InvalidArgument",
            EngineError::Body(_) => "Body",
            EngineError::Storage(_) => "Storage",
            EngineError::Metadata(_) => "Metadata",
            EngineError::Corrupt(_) => "Corrupt",
            EngineError::Remote(_) => "Remote",
            EngineError::Unavailable(_) => "Unavailable",
        }
    }

    /// The digest name used in BadDigest for a checksum algorithm.
    pub(crate) fn bad_checksum(algorithm: ChecksumAlgorithm) -> Self {
        EngineError::BadDigest {
            algorithm: algorithm.aws_name(),
        }
    }
}

impl From<MetaError> for EngineError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchBucket => EngineError::NoSuchBucket,
            MetaError::BucketAlreadyExists => EngineError::BucketAlreadyOwnedByYou,
            MetaError::BucketNotEmpty => EngineError::BucketNotEmpty,
            MetaError::NoSuchUpload => EngineError::NoSuchUpload,
            MetaError::PreconditionFailed => EngineError::PreconditionFailed,
            other => EngineError::Metadata(other),
        }
    }
}

impl From<stratum_codec::CodecError> for EngineError {
    fn from(e: stratum_codec::CodecError) -> Self {
        EngineError::Corrupt(format!("frame failed to decode: {e}"))
    }
}

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
