//! The streaming checks run while the body arrives: the chunk-signature chain of
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies, the signed trailer, and the SHA-256
//! check of bodies declared by hash.
//!
//! Each chunk's string to sign is
//! `AWS4-HMAC-SHA256-PAYLOAD\n<timestamp>\n<scope>\n<previous signature>\n<hash of "">\n<hash of chunk>`,
//! seeded by the request signature; the final chunk is empty. Nothing here buffers a body: the
//! caller hashes a chunk as it streams (with [`PayloadHasher`]) and hands over the digest.

use sha2::{Digest, Sha256};

use crate::canonical::canonical_header_value;
use crate::signing::{
    check_signature, AmzDate, Scope, SigningKey, CHUNK_ALGORITHM, EMPTY_SHA256, TRAILER_ALGORITHM,
};
use crate::AuthError;

/// An incremental SHA-256, for hashing a chunk or a body as it streams.
#[derive(Debug, Clone, Default)]
pub struct PayloadHasher(Sha256);

impl PayloadHasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything fed.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// Checks a body against the SHA-256 declared in `x-amz-content-sha256`.
#[derive(Debug, Clone)]
pub struct BodyHashCheck {
    expected: [u8; 32],
    hasher: PayloadHasher,
}

impl BodyHashCheck {
    /// A check expecting `expected`.
    pub fn new(expected: [u8; 32]) -> Self {
        BodyHashCheck {
            expected,
            hasher: PayloadHasher::new(),
        }
    }

    /// Feeds the next body bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Ends the body: `ContentSha256Mismatch` if the digest differs. The S3 layer must call
    /// this before committing the object.
    pub fn finish(self) -> Result<(), AuthError> {
        if self.hasher.finish() == self.expected {
            Ok(())
        } else {
            Err(AuthError::ContentSha256Mismatch)
        }
    }
}

/// Where the chunk chain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChainState {
    /// Data chunks are still coming.
    Open,
    /// The empty final chunk has been verified; a trailer may follow.
    Finished,
    /// The trailer has been verified; nothing more may follow.
    Closed,
}

/// Verifies the chain of chunk signatures of an `aws-chunked` body, in order.
#[derive(Debug, Clone)]
pub struct ChunkVerifier {
    key: SigningKey,
    date: AmzDate,
    scope: String,
    previous: String,
    state: ChainState,
}

impl ChunkVerifier {
    /// A chain seeded with the request's `seed_signature`.
    pub fn new(key: SigningKey, date: AmzDate, scope: &Scope, seed_signature: &str) -> Self {
        ChunkVerifier {
            key,
            date,
            scope: scope.to_string(),
            previous: seed_signature.to_owned(),
            state: ChainState::Open,
        }
    }

    /// The signature of the last verified chunk (the seed before any).
    pub fn previous_signature(&self) -> &str {
        &self.previous
    }

    /// Whether the final (empty) chunk has been verified.
    pub fn is_finished(&self) -> bool {
        self.state != ChainState::Open
    }

    /// The string to sign of the next chunk, whose data hashes to `data_sha256`.
    pub fn chunk_string_to_sign(&self, data_sha256: &[u8; 32]) -> String {
        format!(
            "{CHUNK_ALGORITHM}\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.date.as_str(),
            self.scope,
            self.previous,
            hex::encode(data_sha256)
        )
    }

    /// Verifies the next chunk given its declared signature and the SHA-256 of its data.
    /// The digest of the empty string marks the final chunk; nothing may follow it but a
    /// trailer.
    pub fn verify_chunk_digest(
        &mut self,
        declared: &str,
        data_sha256: &[u8; 32],
    ) -> Result<(), AuthError> {
        if self.state != ChainState::Open {
            return Err(AuthError::MalformedChunkedBody {
                reason: "a chunk follows the final chunk",
            });
        }
        let computed = self.key.sign(&self.chunk_string_to_sign(data_sha256));
        check_signature(&computed, declared)?;
        if hex::encode(data_sha256) == EMPTY_SHA256 {
            self.state = ChainState::Finished;
        }
        self.previous = computed;
        Ok(())
    }

    /// Verifies the next chunk given its declared signature and its whole data.
    pub fn verify_chunk(&mut self, declared: &str, data: &[u8]) -> Result<(), AuthError> {
        self.verify_chunk_digest(declared, &Sha256::digest(data).into())
    }

    /// Verifies the final, empty chunk.
    pub fn verify_final_chunk(&mut self, declared: &str) -> Result<(), AuthError> {
        self.verify_chunk(declared, b"")
    }

    /// The string to sign of the trailer: `AWS4-HMAC-SHA256-TRAILER`, timestamp, scope, the
    /// final chunk's signature, and the hash of the trailer headers, each `name:value\n` with
    /// the name lower-cased and the value trimmed.
    pub fn trailer_string_to_sign(&self, trailers: &[(&str, &str)]) -> String {
        let mut canonical = String::new();
        for (name, value) in trailers {
            canonical.push_str(&name.to_ascii_lowercase());
            canonical.push(':');
            canonical.push_str(&canonical_header_value(value));
            canonical.push('\n');
        }
        format!(
            "{TRAILER_ALGORITHM}\n{}\n{}\n{}\n{}",
            self.date.as_str(),
            self.scope,
            self.previous,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        )
    }

    /// Verifies the `x-amz-trailer-signature` after the final chunk.
    pub fn verify_trailer(
        &mut self,
        declared: &str,
        trailers: &[(&str, &str)],
    ) -> Result<(), AuthError> {
        if self.state != ChainState::Finished {
            return Err(AuthError::MalformedChunkedBody {
                reason: "the trailer must follow the final chunk, once",
            });
        }
        let computed = self.key.sign(&self.trailer_string_to_sign(trailers));
        check_signature(&computed, declared)?;
        self.previous = computed;
        self.state = ChainState::Closed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretKey;

    fn chain() -> ChunkVerifier {
        let scope = Scope {
            date: "20130524".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let key = SigningKey::derive(&SecretKey::new("secret"), &scope);
        ChunkVerifier::new(
            key,
            AmzDate::parse("20130524T000000Z").unwrap(),
            &scope,
            "seed",
        )
    }

    #[test]
    fn body_hash_check_accepts_only_the_declared_body() {
        let mut check = BodyHashCheck::new(Sha256::digest(b"hello world").into());
        check.update(b"hello ");
        check.update(b"world");
        assert!(check.finish().is_ok());
        let mut check = BodyHashCheck::new(Sha256::digest(b"hello world").into());
        check.update(b"hello w0rld");
        assert!(matches!(
            check.finish(),
            Err(AuthError::ContentSha256Mismatch)
        ));
    }

    #[test]
    fn signed_trailer_round_trips_and_only_after_the_final_chunk() {
        let mut signer = chain();
        let trailers = [("x-amz-checksum-crc32", " sOO8/Q== ")];
        assert!(matches!(
            signer.verify_trailer(&"0".repeat(64), &trailers),
            Err(AuthError::MalformedChunkedBody { .. })
        ));
        let data_sig = signer
            .key
            .sign(&signer.chunk_string_to_sign(&Sha256::digest(b"abc").into()));
        signer.verify_chunk(&data_sig, b"abc").unwrap();
        let final_sig = signer
            .key
            .sign(&signer.chunk_string_to_sign(&Sha256::digest(b"").into()));
        signer.verify_final_chunk(&final_sig).unwrap();
        assert!(signer.is_finished());
        assert!(matches!(
            signer.clone().verify_chunk(&final_sig, b""),
            Err(AuthError::MalformedChunkedBody { .. })
        ));
        let trailer_sig = signer.key.sign(&signer.trailer_string_to_sign(&trailers));
        let mut wrong = signer.clone();
        assert!(matches!(
            wrong.verify_trailer(&trailer_sig, &[("x-amz-checksum-crc32", "AAAAAA==")]),
            Err(AuthError::SignatureDoesNotMatch)
        ));
        signer.verify_trailer(&trailer_sig, &trailers).unwrap();
        assert!(signer.verify_trailer(&trailer_sig, &trailers).is_err());
    }
}
