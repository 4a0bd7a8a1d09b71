//! S3 errors: the closed set of codes this server answers with, their HTTP statuses, the
//! error XML, and the one exhaustive mapping from [`EngineError`] and [`AuthError`].
//!
//! Nothing is classified by message: every engine and auth variant maps to a code in a single
//! `match`, so a new variant is a compile error here until someone decides its code.

use std::borrow::Cow;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use stratum_auth::AuthError;
use stratum_core::NameError;
use stratum_engine::EngineError;

use crate::body::BodyError;

/// Every S3 error code this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The variant names are the S3 codes; AWS documents each.
pub enum S3ErrorCode {
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    EntityTooLarge,
    EntityTooSmall,
    IncompleteBody,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRange,
    InvalidRequest,
    InvalidStorageClass,
    InvalidURI,
    KeyTooLongError,
    MalformedXML,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingRequestBodyError,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotImplemented,
    NotModified,
    PreconditionFailed,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
}

impl S3ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        use S3ErrorCode::*;
        match self {
            AccessDenied => "AccessDenied",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadDigest => "BadDigest",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IncompleteBody => "IncompleteBody",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidDigest => "InvalidDigest",
            InvalidPart => "InvalidPart",
            InvalidPartNumber => "InvalidPartNumber",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidStorageClass => "InvalidStorageClass",
            InvalidURI => "InvalidURI",
            KeyTooLongError => "KeyTooLongError",
            MalformedXML => "MalformedXML",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            MissingRequestBodyError => "MissingRequestBodyError",
            NoSuchBucket => "NoSuchBucket",
            NoSuchKey => "NoSuchKey",
            NoSuchUpload => "NoSuchUpload",
            NotImplemented => "NotImplemented",
            NotModified => "NotModified",
            PreconditionFailed => "PreconditionFailed",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 sends with this code.
    pub fn status(self) -> StatusCode {
        use S3ErrorCode::*;
        match self {
            NotModified => StatusCode::NOT_MODIFIED,
            AccessDenied | InvalidAccessKeyId | RequestTimeTooSkewed | SignatureDoesNotMatch => {
                StatusCode::FORBIDDEN
            }
            NoSuchBucket | NoSuchKey | NoSuchUpload => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            BucketAlreadyOwnedByYou | BucketNotEmpty => StatusCode::CONFLICT,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            InvalidRange | InvalidPartNumber => StatusCode::RANGE_NOT_SATISFIABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthorizationHeaderMalformed
            | AuthorizationQueryParametersError
            | BadDigest
            | EntityTooLarge
            | EntityTooSmall
            | IncompleteBody
            | InvalidArgument
            | InvalidBucketName
            | InvalidDigest
            | InvalidPart
            | InvalidPartOrder
            | InvalidRequest
            | InvalidStorageClass
            | InvalidURI
            | KeyTooLongError
            | MalformedXML
            | MetadataTooLarge
            | MissingRequestBodyError
            | RequestTimeout
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
        }
    }
}

/// An S3 error response: a code, a human message, and extra XML elements some codes carry
/// (`ActualObjectSize` for InvalidRange, `PartNumber` for InvalidPart, …).
#[derive(Debug, Clone)]
pub struct S3Error {
    /// The code.
    pub code: S3ErrorCode,
    /// The message.
    pub message: Cow<'static, str>,
    /// Extra `<Name>value</Name>` elements after `Message`.
    pub extra: Vec<(&'static str, String)>,
}

impl S3Error {
    /// An error with a message.
    pub fn new(code: S3ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        S3Error {
            code,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    /// Adds an extra element.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// MalformedXML with the standard message.
    pub fn malformed_xml() -> Self {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    /// InvalidArgument naming the argument.
    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        S3Error::new(S3ErrorCode::InvalidArgument, message)
    }

    /// The error as an HTTP response. HEAD responses and 304 carry no body.
    pub fn into_response(self, resource: &str, request_id: &str, is_head: bool) -> Response {
        let status = self.code.status();
        let body = if is_head || status == StatusCode::NOT_MODIFIED {
            Body::empty()
        } else {
            Body::from(self.to_xml(resource, request_id))
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        if !is_head && status != StatusCode::NOT_MODIFIED {
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
        }
        resp
    }

    /// The `<Error>` document.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        use crate::xml::escape;
        let mut s = String::with_capacity(256);
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        s.push_str(self.code.as_str());
        s.push_str("</Code><Message>");
        s.push_str(&escape(&self.message));
        s.push_str("</Message>");
        for (name, value) in &self.extra {
            s.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        }
        s.push_str("<Resource>");
        s.push_str(&escape(resource));
        s.push_str("</Resource><RequestId>");
        s.push_str(request_id);
        s.push_str("</RequestId><HostId>");
        s.push_str(request_id);
        s.push_str("</HostId></Error>");
        s
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> Self {
        use S3ErrorCode as C;
        let code = match &e {
            AuthError::AuthorizationHeaderMalformed { .. } => C::AuthorizationHeaderMalformed,
            AuthError::CredentialScopeMismatch { .. } => C::AuthorizationHeaderMalformed,
            AuthError::AuthorizationQueryParametersError { .. } => {
                C::AuthorizationQueryParametersError
            }
            AuthError::MultipleAuthMechanisms => C::InvalidArgument,
            AuthError::UnsupportedAuthScheme => C::InvalidRequest,
            AuthError::MissingOrInvalidDate => C::AccessDenied,
            AuthError::SignedHeaderMissing(_) => C::AccessDenied,
            AuthError::MissingContentSha256 => C::InvalidRequest,
            AuthError::InvalidContentSha256 => C::InvalidArgument,
            AuthError::InvalidAccessKeyId => C::InvalidAccessKeyId,
            AuthError::SignatureDoesNotMatch => C::SignatureDoesNotMatch,
            AuthError::RequestTimeTooSkewed => C::RequestTimeTooSkewed,
            AuthError::PresignedExpired => C::AccessDenied,
            AuthError::PresignedNotYetValid => C::AccessDenied,
            AuthError::ContentSha256Mismatch => C::XAmzContentSHA256Mismatch,
            AuthError::MalformedChunkedBody { .. } => C::InvalidRequest,
            AuthError::IncompleteBody => C::IncompleteBody,
            AuthError::DecodedContentLengthMismatch { .. } => C::IncompleteBody,
            AuthError::CredentialStoreUnavailable(_) => C::ServiceUnavailable,
        };
        let message = match &e {
            AuthError::PresignedExpired => "Request has expired".to_owned(),
            AuthError::PresignedNotYetValid => "Request is not valid yet".to_owned(),
            AuthError::SignatureDoesNotMatch => "The request signature we calculated does not \
                match the signature you provided. Check your key and signing method."
                .to_owned(),
            other => other.to_string(),
        };
        S3Error::new(code, message)
    }
}

impl From<EngineError> for S3Error {
    fn from(e: EngineError) -> Self {
        use S3ErrorCode as C;
        match e {
            EngineError::NoSuchBucket => {
                S3Error::new(C::NoSuchBucket, "The specified bucket does not exist")
            }
            EngineError::BucketAlreadyOwnedByYou => S3Error::new(
                C::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it.",
            ),
            EngineError::BucketNotEmpty => S3Error::new(
                C::BucketNotEmpty,
                "The bucket you tried to delete is not empty",
            ),
            EngineError::NoSuchKey => {
                S3Error::new(C::NoSuchKey, "The specified key does not exist.")
            }
            EngineError::NoSuchUpload => S3Error::new(
                C::NoSuchUpload,
                "The specified upload does not exist. The upload ID may be invalid, or the \
                 upload may have been aborted or completed.",
            ),
            EngineError::PreconditionFailed => S3Error::new(
                C::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ),
            EngineError::InvalidRange { size } => {
                S3Error::new(C::InvalidRange, "The requested range is not satisfiable")
                    .with("ActualObjectSize", size.to_string())
            }
            EngineError::BadDigest { algorithm } => S3Error::new(
                C::BadDigest,
                format!("The {algorithm} you specified did not match the calculated checksum."),
            ),
            EngineError::IncompleteBody { expected, received } => S3Error::new(
                C::IncompleteBody,
                format!(
                    "You did not provide the number of bytes specified by the Content-Length \
                     HTTP header ({received} of {expected})."
                ),
            ),
            EngineError::EntityTooLarge { limit } => S3Error::new(
                C::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed object size.",
            )
            .with("MaxSizeAllowed", limit.to_string()),
            EngineError::EntityTooSmall { part_number } => S3Error::new(
                C::EntityTooSmall,
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
            .with("PartNumber", part_number.to_string()),
            EngineError::InvalidPart { part_number } => S3Error::new(
                C::InvalidPart,
                "One or more of the specified parts could not be found. The part may not have \
                 been uploaded, or the specified entity tag may not match the part's entity tag.",
            )
            .with("PartNumber", part_number.to_string()),
            EngineError::InvalidPartOrder => S3Error::new(
                C::InvalidPartOrder,
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
            ),
            EngineError::InvalidArgument(what) => S3Error::new(C::InvalidArgument, what),
            EngineError::Body(io) => match io.get_ref().and_then(|e| e.downcast_ref::<BodyError>())
            {
                Some(body) => body.to_s3(),
                None => S3Error::new(
                    C::RequestTimeout,
                    format!("Reading the request body failed: {io}"),
                ),
            },
            EngineError::Storage(e) => internal(&e),
            EngineError::Metadata(e) => internal(&e),
            EngineError::Corrupt(e) => internal(&e),
            // The cold tier's provider failed: a transient failure (5xx, 429, timeouts
            // after retries) is the client's to retry, anything else is ours.
            EngineError::Remote(e) if e.is_transient() => {
                tracing::warn!(error = %e, "cold tier unavailable");
                S3Error::new(
                    C::ServiceUnavailable,
                    "The cold tier is unavailable; please retry.",
                )
            }
            EngineError::Remote(e) => internal(&e),
            EngineError::Unavailable(what) => S3Error::new(
                C::ServiceUnavailable,
                format!("Please reduce your request rate or retry: {what}"),
            ),
        }
    }
}

impl From<NameError> for S3Error {
    fn from(e: NameError) -> Self {
        match e {
            NameError::InvalidBucketName(why) => S3Error::new(
                S3ErrorCode::InvalidBucketName,
                format!("The specified bucket is not valid: {why}"),
            ),
            NameError::KeyTooLong(_) => {
                S3Error::new(S3ErrorCode::KeyTooLongError, "Your key is too long")
            }
            NameError::EmptyKey => S3Error::new(
                S3ErrorCode::InvalidArgument,
                "The object key must not be empty",
            ),
        }
    }
}

/// InternalError for a failure the client cannot fix; the detail goes to the log, not the
/// client.
fn internal(e: &dyn std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "internal error");
    S3Error::new(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_has_code_message_resource_and_request_id() {
        let xml = S3Error::new(S3ErrorCode::NoSuchKey, "gone <here>").to_xml("/b/k&1", "REQ1");
        assert!(xml.contains("<Code>NoSuchKey</Code>"));
        assert!(xml.contains("<Message>gone &lt;here&gt;</Message>"));
        assert!(xml.contains("<Resource>/b/k&amp;1</Resource>"));
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
    }

    #[test]
    fn engine_errors_map_to_s3_codes() {
        let e: S3Error = EngineError::InvalidRange { size: 10 }.into();
        assert_eq!(e.code, S3ErrorCode::InvalidRange);
        assert_eq!(e.code.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        let e: S3Error = EngineError::BadDigest { algorithm: "MD5" }.into();
        assert_eq!(e.code, S3ErrorCode::BadDigest);
        let e: S3Error = AuthError::PresignedExpired.into();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        assert_eq!(e.message, "Request has expired");
    }
}
