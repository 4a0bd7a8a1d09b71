//! AWS request authentication for Stratum (Signature Version 4, and Signature Version 2
//! presigned URLs): the signature check and the key-lookup seam.
//!
//! This crate owns the first two of the three auth seams. The *signature check* rebuilds a
//! request's canonical form exactly as S3 does ([`canonical`]), derives the signing key and
//! compares signatures ([`signing`]), for the `Authorization` header and presigned URLs
//! ([`verify`]), and for `aws-chunked` bodies while they stream ([`chunk`], decoded by [`chunked`]).
//! Legacy SigV2 presigned URLs (`?AWSAccessKeyId=..&Signature=..&Expires=..`, the default of
//! boto3's `generate_presigned_url` and awscli v1's `presign`) are checked too ([`sigv2`]);
//! the SigV2 `Authorization` header is refused. The decisions (no payload signing, a seven-day
//! bound on `Expires`) are written down in [`verify`]. *Key lookup* is
//! the [`CredentialStore`] trait, implemented by the binary over the metadata keys tree.
//! The third seam, *permission*, belongs to the S3 layer: this crate says who signed, never
//! what they may do.
//!
//! Invariants: signatures are compared in constant time; no clock is read (callers pass `now`);
//! a [`Verified`] exists only for a request whose signature matched; the body is never
//! buffered — [`Verified`] hands out the incremental checks the body must still pass.
//!
//! It never knows buckets' contents, never touches sled or the network, and takes no HTTP
//! types: requests arrive as plain strings ([`SignedRequest`]).
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use stratum_auth::{verify_request, MemoryCredentialStore, SignedRequest, VerifierConfig};
//!
//! let store = MemoryCredentialStore::new()
//!     .with_key("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
//! let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
//! let headers = [
//!     ("Host", "examplebucket.s3.amazonaws.com"),
//!     ("Range", "bytes=0-9"),
//!     ("x-amz-content-sha256", empty),
//!     ("x-amz-date", "20130524T000000Z"),
//!     ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
//! ];
//! let req = SignedRequest { method: "GET", path: "/test.txt", query: "", headers: &headers };
//! let now = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
//! let verified = verify_request(&store, &VerifierConfig::new("us-east-1"), &req, now)
//!     .unwrap()
//!     .expect("signed, not anonymous");
//! assert_eq!(verified.access_key, "AKIAIOSFODNN7EXAMPLE");
//! ```

pub mod canonical;
pub mod chunk;
pub mod chunked;
pub mod credentials;
pub mod error;
pub mod signing;
pub mod sigv2;
pub mod verify;

pub use chunk::{BodyHashCheck, ChunkVerifier, PayloadHasher};
pub use chunked::{
    parse_decoded_content_length, ChunkedDecoder, ChunkedLimits, Trailers, MAX_CHUNK_HEADER_LINE,
    MAX_CHUNK_SIZE, MAX_TRAILER_LINES, MAX_TRAILER_SECTION,
};
pub use credentials::{CredentialStore, MemoryCredentialStore, SecretKey};
pub use error::{AuthError, ScopePart};
pub use sigv2::PresignedV2Params;
pub use verify::{
    verify_header, verify_presigned, verify_presigned_v2, verify_request, AuthMechanism,
    AuthorizationHeader, PayloadMode, SignedRequest, Verified, VerifierConfig, CLOCK_SKEW_MAX,
    PRESIGNED_EXPIRES_MAX_SECS,
};
