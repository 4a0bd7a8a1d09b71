//! Request bodies: the raw HTTP body turned into the decoded, verified byte stream the engine
//! consumes, without ever holding the whole body.
//!
//! - A body declared by SHA-256 is hashed as it passes; a mismatch fails the stream at its end.
//! - An `aws-chunked` body is decoded chunk by chunk ([`ChunkedDecoder`]), each chunk signature
//!   checked; at the end the trailer is parsed and its `x-amz-checksum-*` value handed to the
//!   engine through [`TrailingChecksums`], which compares it with the checksum it computed.
//!
//! Every failure travels inside the stream as an `io::Error` wrapping a [`BodyError`], so the
//! engine aborts the write (nothing is committed before the stream ends cleanly) and the
//! error mapping recovers the exact S3 code from `EngineError::Body`.

use std::fmt;
use std::io;

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use stratum_auth::{
    parse_decoded_content_length, AuthError, BodyHashCheck, ChunkedDecoder, ChunkedLimits,
    Trailers, Verified,
};
use stratum_core::{ChecksumAlgorithm, ChecksumValue};
use stratum_engine::TrailingChecksums;

use crate::error::{S3Error, S3ErrorCode};

/// Why a request body failed while streaming.
#[derive(Debug)]
pub enum BodyError {
    /// A signature, hash, framing or length check of stratum-auth failed.
    Auth(AuthError),
    /// The trailer announced in `x-amz-trailer` is missing or not a valid checksum.
    Trailer(&'static str),
    /// The body is larger than this operation accepts.
    TooLarge(u64),
    /// The connection failed or the client went away.
    Transport(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::Auth(e) => write!(f, "{e}"),
            BodyError::Trailer(why) => write!(f, "bad trailer: {why}"),
            BodyError::TooLarge(limit) => write!(f, "body exceeds {limit} bytes"),
            BodyError::Transport(e) => write!(f, "reading the body failed: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

impl BodyError {
    /// The S3 error this body failure answers with.
    pub fn to_s3(&self) -> S3Error {
        match self {
            BodyError::Auth(e) => S3Error::from(clone_auth(e)),
            BodyError::Trailer(why) => S3Error::new(S3ErrorCode::InvalidRequest, *why),
            BodyError::TooLarge(limit) => S3Error::new(
                S3ErrorCode::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with("MaxSizeAllowed", limit.to_string()),
            BodyError::Transport(e) => S3Error::new(
                S3ErrorCode::RequestTimeout,
                format!("Your socket connection to the server was not read from or written to within the timeout period: {e}"),
            ),
        }
    }

    fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// A copy of the auth errors a body can raise (AuthError is not Clone: it may hold a source).
fn clone_auth(e: &AuthError) -> AuthError {
    match e {
        AuthError::SignatureDoesNotMatch => AuthError::SignatureDoesNotMatch,
        AuthError::ContentSha256Mismatch => AuthError::ContentSha256Mismatch,
        AuthError::MalformedChunkedBody { reason } => AuthError::MalformedChunkedBody { reason },
        AuthError::IncompleteBody => AuthError::IncompleteBody,
        AuthError::DecodedContentLengthMismatch { declared, decoded } => {
            AuthError::DecodedContentLengthMismatch {
                declared: *declared,
                decoded: *decoded,
            }
        }
        // The remaining variants come from the request line and headers, never from a body.
        _ => AuthError::MalformedChunkedBody {
            reason: "the body was rejected",
        },
    }
}

/// What the headers say about a body before it is read.
#[derive(Debug, Clone, Default)]
pub struct BodyInfo {
    /// The payload length: `x-amz-decoded-content-length` for `aws-chunked` bodies,
    /// `Content-Length` otherwise.
    pub length: Option<u64>,
    /// The algorithm announced in `x-amz-trailer` and the slot its value lands in.
    pub trailing: Option<(ChecksumAlgorithm, TrailingChecksums)>,
}

/// The decoded, verified request body.
pub type RequestBody = std::pin::Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

enum Check {
    None,
    Sha256(BodyHashCheck),
    Chunked {
        decoder: Box<ChunkedDecoder>,
        trailing: Option<(ChecksumAlgorithm, TrailingChecksums)>,
    },
}

/// Wraps a raw body in the checks its payload mode asks for.
pub fn request_body(
    body: Body,
    verified: &Verified,
    headers: &HeaderMap,
) -> Result<(RequestBody, BodyInfo), S3Error> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let mode = verified.payload;
    let (check, info) = if mode.is_chunked() {
        let length = header("x-amz-decoded-content-length")
            .map(parse_decoded_content_length)
            .transpose()?;
        let trailing = if mode.has_trailer() {
            match header("x-amz-trailer") {
                Some(name) => Some((trailer_algorithm(name)?, TrailingChecksums::new())),
                None => None,
            }
        } else {
            None
        };
        let mut decoder =
            ChunkedDecoder::new(mode, verified.chunk_verifier(), ChunkedLimits::default())?;
        if let Some(len) = length {
            decoder = decoder.with_decoded_content_length(len);
        }
        let info = BodyInfo {
            length,
            trailing: trailing.clone(),
        };
        (
            Check::Chunked {
                decoder: Box::new(decoder),
                trailing,
            },
            info,
        )
    } else {
        let check = match verified.body_check() {
            Some(c) => Check::Sha256(c),
            None => Check::None,
        };
        (
            check,
            BodyInfo {
                length: content_length,
                trailing: None,
            },
        )
    };
    let raw = body.into_data_stream();
    let stream = futures::stream::unfold(Some((raw, check)), |state| async move {
        let (mut raw, mut check) = state?;
        loop {
            match raw.next().await {
                Some(Ok(bytes)) => match &mut check {
                    Check::None => return Some((Ok(bytes), Some((raw, check)))),
                    Check::Sha256(c) => {
                        c.update(&bytes);
                        return Some((Ok(bytes), Some((raw, check))));
                    }
                    Check::Chunked { decoder, .. } => {
                        let mut out = Vec::with_capacity(bytes.len());
                        match decoder.push(&bytes, &mut out) {
                            Ok(0) => continue,
                            Ok(_) => return Some((Ok(Bytes::from(out)), Some((raw, check)))),
                            Err(e) => return Some((Err(BodyError::Auth(e).into_io()), None)),
                        }
                    }
                },
                Some(Err(e)) => {
                    return Some((Err(BodyError::Transport(e.to_string()).into_io()), None))
                }
                None => {
                    return match finish(check) {
                        Ok(()) => None,
                        Err(e) => Some((Err(e.into_io()), None)),
                    }
                }
            }
        }
    });
    Ok((Box::pin(stream), info))
}

/// The end-of-body checks: the declared SHA-256, or the chunked framing and its trailer.
fn finish(check: Check) -> Result<(), BodyError> {
    match check {
        Check::None => Ok(()),
        Check::Sha256(c) => c.finish().map_err(BodyError::Auth),
        Check::Chunked { decoder, trailing } => {
            let trailers = decoder.finish().map_err(BodyError::Auth)?;
            if let Some((algorithm, slot)) = trailing {
                slot.set(vec![trailer_value(&trailers, algorithm)?]);
            }
            Ok(())
        }
    }
}

/// The checksum algorithm of an `x-amz-trailer` header value (`x-amz-checksum-crc32`, …).
fn trailer_algorithm(name: &str) -> Result<ChecksumAlgorithm, S3Error> {
    name.trim()
        .to_ascii_lowercase()
        .strip_prefix("x-amz-checksum-")
        .and_then(ChecksumAlgorithm::from_aws_name)
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidRequest,
                "x-amz-trailer must name one x-amz-checksum-* header",
            )
        })
}

/// The trailer's checksum for `algorithm`, decoded from base64.
fn trailer_value(
    trailers: &Trailers,
    algorithm: ChecksumAlgorithm,
) -> Result<ChecksumValue, BodyError> {
    let name = format!(
        "x-amz-checksum-{}",
        algorithm.aws_name().to_ascii_lowercase()
    );
    let value = trailers.get(&name).ok_or(BodyError::Trailer(
        "the trailer announced in x-amz-trailer is missing",
    ))?;
    parse_checksum(algorithm, value).ok_or(BodyError::Trailer(
        "the trailing checksum is not valid base64 of the right length",
    ))
}

/// A base64 checksum header value, checked for the algorithm's digest length.
pub fn parse_checksum(algorithm: ChecksumAlgorithm, value: &str) -> Option<ChecksumValue> {
    let digest = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    (digest.len() == algorithm.digest_len()).then_some(ChecksumValue { algorithm, digest })
}

/// Reads a whole (small) request body, e.g. an XML document, refusing more than `limit` bytes.
pub async fn collect(mut body: RequestBody, limit: u64) -> Result<Vec<u8>, S3Error> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(io_to_s3)?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge(limit).to_s3());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The S3 error carried by a body stream's `io::Error`.
pub fn io_to_s3(e: io::Error) -> S3Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<BodyError>())
    {
        Some(body) => body.to_s3(),
        None => BodyError::Transport(e.to_string()).to_s3(),
    }
}
