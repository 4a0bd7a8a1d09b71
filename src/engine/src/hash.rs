//! One pass over a body: MD5 for the ETag plus any requested additional checksums.

use md5::Digest as _;
use stratum_core::{ChecksumAlgorithm, ChecksumValue};

/// Computes MD5 and the requested checksums over bytes fed in order.
pub struct BodyHasher {
    md5: md5::Md5,
    extra: Vec<Extra>,
    bytes: u64,
}

impl std::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyHasher")
            .field("bytes", &self.bytes)
            .field("extra", &self.extra.len())
            .finish()
    }
}

enum Extra {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Extra {
    fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Extra::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Extra::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => {
                Extra::Crc64Nvme(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme))
            }
            ChecksumAlgorithm::Sha1 => Extra::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Extra::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Extra::Crc32(h) => h.update(data),
            Extra::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Extra::Crc64Nvme(h) => h.update(data),
            Extra::Sha1(h) => h.update(data),
            Extra::Sha256(h) => h.update(data),
        }
    }

    fn finish(self) -> ChecksumValue {
        let (algorithm, digest) = match self {
            Extra::Crc32(h) => (
                ChecksumAlgorithm::Crc32,
                h.finalize().to_be_bytes().to_vec(),
            ),
            Extra::Crc32c(c) => (ChecksumAlgorithm::Crc32c, c.to_be_bytes().to_vec()),
            Extra::Crc64Nvme(h) => (
                ChecksumAlgorithm::Crc64Nvme,
                h.finalize().to_be_bytes().to_vec(),
            ),
            Extra::Sha1(h) => (ChecksumAlgorithm::Sha1, h.finalize().to_vec()),
            Extra::Sha256(h) => (ChecksumAlgorithm::Sha256, h.finalize().to_vec()),
        };
        ChecksumValue { algorithm, digest }
    }
}

/// The digests of a finished body.
#[derive(Debug, Clone)]
pub struct BodyDigests {
    /// MD5 of the body.
    pub md5: [u8; 16],
    /// The requested additional checksums, in request order.
    pub checksums: Vec<ChecksumValue>,
    /// Bytes hashed.
    pub bytes: u64,
}

impl BodyHasher {
    /// A hasher computing MD5 and each algorithm in `algorithms` (duplicates ignored).
    pub fn new(algorithms: &[ChecksumAlgorithm]) -> Self {
        let mut seen = Vec::new();
        for a in algorithms {
            if !seen.contains(a) {
                seen.push(*a);
            }
        }
        Self {
            md5: md5::Md5::new(),
            extra: seen.into_iter().map(Extra::new).collect(),
            bytes: 0,
        }
    }

    /// Feeds the next bytes of the body.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        for e in &mut self.extra {
            e.update(data);
        }
        self.bytes += data.len() as u64;
    }

    /// The digests of everything fed.
    pub fn finish(self) -> BodyDigests {
        BodyDigests {
            md5: self.md5.finalize().into(),
            checksums: self.extra.into_iter().map(Extra::finish).collect(),
            bytes: self.bytes,
        }
    }
}

/// Computes one checksum of `data` in one call.
pub fn checksum_of(algorithm: ChecksumAlgorithm, data: &[u8]) -> ChecksumValue {
    let mut e = Extra::new(algorithm);
    e.update(data);
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(v: &ChecksumValue) -> String {
        base64::engine::general_purpose::STANDARD.encode(&v.digest)
    }

    #[test]
    fn crc_check_values_from_the_crc_catalogue() {
        // The catalogue's "check" value of each CRC is its digest of "123456789".
        let hex_of = |a| hex::encode(checksum_of(a, b"123456789").digest);
        assert_eq!(hex_of(ChecksumAlgorithm::Crc32), "cbf43926");
        assert_eq!(hex_of(ChecksumAlgorithm::Crc32c), "e3069283");
        assert_eq!(hex_of(ChecksumAlgorithm::Crc64Nvme), "ae8b14860a799888");
    }

    #[test]
    fn digests_of_split_input_match_one_shot_and_references() {
        let data = b"hello world";
        let mut h = BodyHasher::new(&ChecksumAlgorithm::ALL);
        h.update(&data[..5]);
        h.update(&data[5..]);
        let d = h.finish();
        assert_eq!(d.bytes, 11);
        assert_eq!(hex::encode(d.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        for (v, a) in d.checksums.iter().zip(ChecksumAlgorithm::ALL) {
            assert_eq!(v, &checksum_of(a, data));
            assert_eq!(v.digest.len(), a.digest_len());
        }
        assert_eq!(b64(&d.checksums[3]), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(
            b64(&d.checksums[4]),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }
}
