//! The additional checksum algorithms S3 clients may request.

use serde::{Deserialize, Serialize};

/// A checksum algorithm a client may ask the server to compute and store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC), as `x-amz-checksum-crc32`.
    Crc32,
    /// CRC-32C (Castagnoli), as `x-amz-checksum-crc32c`.
    Crc32c,
    /// CRC-64/NVME, as `x-amz-checksum-crc64nvme`.
    Crc64Nvme,
    /// SHA-1, as `x-amz-checksum-sha1`.
    Sha1,
    /// SHA-256, as `x-amz-checksum-sha256`.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The AWS name (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`).
    pub fn aws_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Parses an AWS name, case-insensitively.
    pub fn from_aws_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.aws_name().eq_ignore_ascii_case(name))
    }

    /// The length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }
}

/// A computed checksum: the algorithm and its raw big-endian digest bytes
/// (S3 transmits them base64-encoded).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChecksumValue {
    /// Which algorithm produced the digest.
    pub algorithm: ChecksumAlgorithm,
    /// The raw digest, `algorithm.digest_len()` bytes.
    pub digest: Vec<u8>,
}
