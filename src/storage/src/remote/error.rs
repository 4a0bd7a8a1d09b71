//! `RemoteError`: every way a cold-tier request can fail, typed so callers branch on the
//! variant (never on a message), and classified once into retryable or not.

use std::time::Duration;

use stratum_core::config::InvalidKey;

/// Why a request to the cold tier failed (after its retries, for the retryable kinds).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The object (or the multipart upload) does not exist: 404 `NoSuchKey`,
    /// `NoSuchUpload`, or a 404 HEAD.
    #[error("{op}: not found: {key}")]
    NotFound {
        /// The S3 operation, e.g. `GetObject`.
        op: &'static str,
        /// The key relative to the configured prefix.
        key: String,
    },
    /// The provider refused the credentials or the signature (401/403: `AccessDenied`,
    /// `InvalidAccessKeyId`, `SignatureDoesNotMatch`, ...). Never retried.
    #[error("{op}: refused ({status} {code}): {message}")]
    Auth {
        /// The S3 operation.
        op: &'static str,
        /// The HTTP status.
        status: u16,
        /// The S3 error code, empty if the body had none.
        code: String,
        /// The provider's message.
        message: String,
    },
    /// Still throttled (429, or 503 `SlowDown`) after every retry.
    #[error("{op}: throttled ({status} {code}) after {attempts} attempts")]
    Throttled {
        /// The S3 operation.
        op: &'static str,
        /// The HTTP status of the last attempt.
        status: u16,
        /// The S3 error code of the last attempt.
        code: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Any other error response (after retries, for 5xx).
    #[error("{op}: HTTP {status} {code}: {message}")]
    Http {
        /// The S3 operation.
        op: &'static str,
        /// The HTTP status.
        status: u16,
        /// The S3 error code, empty if the body had none.
        code: String,
        /// The provider's message.
        message: String,
    },
    /// An attempt took longer than `request_timeout_secs`, on every attempt.
    #[error("{op}: timed out after {after:?} ({attempts} attempts)")]
    Timeout {
        /// The S3 operation.
        op: &'static str,
        /// The per-attempt limit.
        after: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection failed (refused, reset, TLS), on every attempt.
    #[error("{op}: connection failed ({attempts} attempts): {source}")]
    Connection {
        /// The S3 operation.
        op: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The transport's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The provider answered 2xx with something we cannot use (bad XML, a missing element,
    /// a body of the wrong length).
    #[error("{op}: unexpected response: {reason}")]
    InvalidResponse {
        /// The S3 operation.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The credentials could not be loaded (an unset variable, an unreadable or malformed
    /// file). Never carries the secret.
    #[error("cold tier credentials: {reason}")]
    Credentials {
        /// What is missing or malformed.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid cold tier config: {0}")]
    Config(#[from] InvalidKey),
    /// A key or argument the client refuses before sending anything (an empty key, a part
    /// number out of range, an empty range).
    #[error("{op}: invalid request: {reason}")]
    InvalidRequest {
        /// The S3 operation.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl RemoteError {
    /// A short stable name for the `kind` label of `stratum_remote_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteError::NotFound { .. } => "not_found",
            RemoteError::Auth { .. } => "auth",
            RemoteError::Throttled { .. } => "throttled",
            RemoteError::Http { .. } => "http",
            RemoteError::Timeout { .. } => "timeout",
            RemoteError::Connection { .. } => "connection",
            RemoteError::InvalidResponse { .. } => "invalid_response",
            RemoteError::Credentials { .. } => "credentials",
            RemoteError::Config(_) => "config",
            RemoteError::InvalidRequest { .. } => "invalid_request",
        }
    }

    /// Whether the failure is transient: a later try may succeed (the client already
    /// retried; this tells a caller such as the mover whether to try again later).
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Throttled { .. }
            | RemoteError::Timeout { .. }
            | RemoteError::Connection { .. } => true,
            RemoteError::Http { status, .. } => *status >= 500,
            RemoteError::NotFound { .. }
            | RemoteError::Auth { .. }
            | RemoteError::InvalidResponse { .. }
            | RemoteError::Credentials { .. }
            | RemoteError::Config(_)
            | RemoteError::InvalidRequest { .. } => false,
        }
    }
}

/// What one attempt's error response means for the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Retry it (5xx, 429, 503 SlowDown).
    Retry,
    /// Give up at once (every other 4xx).
    Fail,
}

/// The retry verdict for an error status: 5xx and 429 are retried, nothing else.
pub(crate) fn verdict(status: u16) -> Verdict {
    if status >= 500 || status == 429 {
        Verdict::Retry
    } else {
        Verdict::Fail
    }
}

/// Whether an error response is throttling rather than a fault.
pub(crate) fn is_throttle(status: u16, code: &str) -> bool {
    status == 429 || (status == 503 && matches!(code, "SlowDown" | "" | "ServiceUnavailable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_5xx_and_429_are_retried() {
        for s in [500, 502, 503, 504, 429] {
            assert_eq!(verdict(s), Verdict::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 409, 412, 416] {
            assert_eq!(verdict(s), Verdict::Fail, "{s}");
        }
    }

    #[test]
    fn throttling_is_429_or_503_slowdown() {
        assert!(is_throttle(429, "TooManyRequests"));
        assert!(is_throttle(503, "SlowDown"));
        assert!(!is_throttle(500, "InternalError"));
        assert!(!is_throttle(503, "InternalError"));
    }
}
