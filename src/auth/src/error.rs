//! The one error type of stratum-auth: every way a request can fail authentication.
//!
//! Each variant is one S3 outcome; the S3 layer maps them to error codes in a single
//! exhaustive `match`. Nothing here is ever classified by its message.

use std::fmt;

/// Which part of a credential scope (`<date>/<region>/<service>/aws4_request`) was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopePart {
    /// The date does not match the date of `X-Amz-Date`.
    Date,
    /// The region is not the region this server answers for.
    Region,
    /// The service is not `s3`.
    Service,
    /// The terminator is not `aws4_request`.
    Terminator,
}

impl fmt::Display for ScopePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopePart::Date => "date",
            ScopePart::Region => "region",
            ScopePart::Service => "service",
            ScopePart::Terminator => "terminator",
        })
    }
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not a well-formed SigV4 header (S3 `AuthorizationHeaderMalformed`).
    #[error("malformed Authorization header: {reason}")]
    AuthorizationHeaderMalformed {
        /// What was wrong, for the error message.
        reason: &'static str,
    },
    /// The credential scope names another date, region or service (S3 `AuthorizationHeaderMalformed`,
    /// or `AuthorizationQueryParametersError` for presigned URLs).
    #[error("credential scope {part} is {found:?}, expected {expected:?}")]
    CredentialScopeMismatch {
        /// Which part of the scope was wrong.
        part: ScopePart,
        /// The value in the request.
        found: String,
        /// The value this server expects.
        expected: String,
    },
    /// The presigned query parameters (SigV4 `X-Amz-*`, or SigV2 `AWSAccessKeyId`,
    /// `Signature`, `Expires`) are missing, malformed or out of range
    /// (S3 `AuthorizationQueryParametersError`).
    #[error("malformed presigned query parameters: {reason}")]
    AuthorizationQueryParametersError {
        /// What was wrong, for the error message.
        reason: &'static str,
    },
    /// The request carries both header and query authentication (S3 `InvalidArgument`).
    #[error("only one auth mechanism allowed")]
    MultipleAuthMechanisms,
    /// The `Authorization` header uses a scheme other than SigV4, e.g. the SigV2 header
    /// `AWS key:signature` (S3 `InvalidRequest`). SigV2 presigned URLs are supported.
    #[error("unsupported authorization scheme; use AWS4-HMAC-SHA256")]
    UnsupportedAuthScheme,
    /// No valid `X-Amz-Date` (or `Date`) header (S3 `AccessDenied`).
    #[error("AWS authentication requires a valid Date or x-amz-date header")]
    MissingOrInvalidDate,
    /// A header named in `SignedHeaders` is absent from the request (S3 `AccessDenied`).
    #[error("signed header {0:?} is missing from the request")]
    SignedHeaderMissing(String),
    /// `x-amz-content-sha256` is absent (S3 `InvalidRequest`).
    #[error("missing required header x-amz-content-sha256")]
    MissingContentSha256,
    /// `x-amz-content-sha256` is neither a hex SHA-256 nor a known mode (S3 `InvalidArgument`).
    #[error("invalid x-amz-content-sha256 value")]
    InvalidContentSha256,
    /// The access key is unknown (S3 `InvalidAccessKeyId`).
    #[error("the access key id does not exist")]
    InvalidAccessKeyId,
    /// The signature (request, chunk or trailer) does not match (S3 `SignatureDoesNotMatch`).
    #[error("the request signature does not match")]
    SignatureDoesNotMatch,
    /// The request time is more than the allowed skew from the server clock (S3 `RequestTimeTooSkewed`).
    #[error("the difference between the request time and the server time is too large")]
    RequestTimeTooSkewed,
    /// A presigned URL whose `X-Amz-Date + X-Amz-Expires` (SigV4) or `Expires` (SigV2) is past
    /// (S3 `AccessDenied`, "Request has expired").
    #[error("request has expired")]
    PresignedExpired,
    /// A presigned URL dated in the future beyond the allowed skew (S3 `AccessDenied`, "Request is not valid yet").
    #[error("request is not valid yet")]
    PresignedNotYetValid,
    /// The body's SHA-256 differs from `x-amz-content-sha256` (S3 `XAmzContentSHA256Mismatch`).
    #[error("the provided x-amz-content-sha256 does not match the computed hash")]
    ContentSha256Mismatch,
    /// The `aws-chunked` body is malformed or a chunk came after the final one (S3 `InvalidRequest`).
    #[error("malformed aws-chunked body: {reason}")]
    MalformedChunkedBody {
        /// What was wrong, for the error message.
        reason: &'static str,
    },
    /// The `aws-chunked` body ended before its final chunk (S3 `IncompleteBody`).
    #[error("the aws-chunked body ended before its final chunk")]
    IncompleteBody,
    /// The decoded `aws-chunked` body's length differs from `x-amz-decoded-content-length`
    /// (S3 `IncompleteBody`).
    #[error("decoded body length {decoded} differs from x-amz-decoded-content-length {declared}")]
    DecodedContentLengthMismatch {
        /// The length the request declared.
        declared: u64,
        /// The bytes decoded when the mismatch was found (at least this many if longer).
        decoded: u64,
    },
    /// The credential store failed; transient (S3 `ServiceUnavailable`).
    #[error("credential store unavailable")]
    CredentialStoreUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}
