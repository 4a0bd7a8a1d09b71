//! One signed S3 request with its retries: URL building (path-style or virtual-hosted),
//! SigV4 signing with aws-sigv4, the concurrency permit and rate slot, the per-attempt
//! timeout, exponential backoff with jitter, metrics, and mapping an error response to a
//! [`RemoteError`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};
use stratum_core::config::ColdTierConfig;
use tokio::sync::Semaphore;

use super::error::{is_throttle, verdict, Verdict};
use super::limit::{backoff, RateLimiter};
use super::xml;
use super::{RemoteCredentials, RemoteError};

/// Bodies up to this size are always signed with their SHA-256 (hashed inline: microseconds).
/// Larger bodies over TLS are sent as `UNSIGNED-PAYLOAD` — TLS already protects them in
/// transit, and B2 and R2 accept it — and over plain http are hashed on a blocking thread.
pub(crate) const INLINE_HASH_BYTES_MAX: usize = 64 * 1024;
/// The largest non-GET response body read (XML documents: a 1000-key listing is ~300 KiB).
pub(crate) const XML_RESPONSE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// The longest object key S3 accepts, prefix included.
pub(crate) const KEY_BYTES_MAX: usize = 1024;
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);
/// SHA-256 of the empty body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How a body is covered by the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Its lowercase hex SHA-256.
    Sha256(String),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
}

/// The payload mode for a body of `len` bytes: see [`INLINE_HASH_BYTES_MAX`].
pub(crate) fn payload_mode_for(tls: bool, len: usize) -> PayloadMode {
    if len <= INLINE_HASH_BYTES_MAX {
        PayloadMode::HashInline
    } else if tls {
        PayloadMode::Unsigned
    } else {
        PayloadMode::HashBlocking
    }
}

/// Where a body's signature payload comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadMode {
    /// Hash it here (small).
    HashInline,
    /// Hash it on a blocking thread (large, plain http).
    HashBlocking,
    /// Send `UNSIGNED-PAYLOAD` (large, TLS).
    Unsigned,
}

/// One request before signing. Values in `query` and `headers` are raw (not encoded).
#[derive(Debug)]
pub(crate) struct Req<'a> {
    pub op: &'static str,
    pub method: Method,
    /// The key relative to the configured prefix; `None` for a bucket-level request.
    pub key: Option<&'a str>,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    pub payload: Payload,
    /// The most response body bytes to read.
    pub response_bytes_max: usize,
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why one attempt failed before a response.
#[derive(Debug)]
enum AttemptError {
    Timeout,
    Connection(Box<dyn std::error::Error + Send + Sync>),
    /// The body was longer than the limit: a provider bug, not worth a retry.
    TooLarge(usize),
}

/// The signed-request machinery shared by every clone of a `RemoteStore`.
pub(crate) struct Transport {
    pub config: ColdTierConfig,
    scheme: &'static str,
    authority: String,
    credentials: Credentials,
    client: HttpClient,
    limiter: RateLimiter,
    permits: Semaphore,
    timeout: Duration,
    backoff_base: Duration,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.config.endpoint)
            .field("bucket", &self.config.bucket)
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

/// Percent-encodes `s` for a URL: every byte but RFC 3986's unreserved ones, and `/` when
/// `keep_slash` (a key's path separators stay as they are, as S3 signs them).
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lowercase hex SHA-256 of `body`.
pub(crate) fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

impl Transport {
    /// A transport for `config` (validated here) signing with `credentials`.
    pub fn new(
        config: &ColdTierConfig,
        credentials: RemoteCredentials,
    ) -> Result<Self, RemoteError> {
        config.validate()?;
        let authority = config
            .endpoint_authority()
            .map(str::to_owned)
            .ok_or_else(|| RemoteError::InvalidRequest {
                op: "connect",
                reason: "endpoint has no host".into(),
            })?;
        let timeout = Duration::from_secs(config.request_timeout_secs);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| RemoteError::Connection {
                op: "connect",
                attempts: 0,
                source: Box::new(e),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(https);
        Ok(Transport {
            scheme: if config.tls() { "https" } else { "http" },
            authority,
            credentials: Credentials::new(
                credentials.access_key(),
                credentials.secret_key(),
                None,
                None,
                "stratum-cold-tier",
            ),
            client,
            limiter: RateLimiter::new(config.max_requests_per_sec),
            permits: Semaphore::new(config.max_concurrency),
            timeout,
            backoff_base: Duration::from_millis(config.retry_backoff_ms),
            config: config.clone(),
        })
    }

    /// The stored key for a key relative to the prefix.
    pub fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.config.prefix)
    }

    /// The request URL.
    pub fn url(&self, key: Option<&str>, query: &[(&'static str, String)]) -> String {
        let c = &self.config;
        let path = key.map(|k| encode(&self.full_key(k), true));
        let mut url = if c.path_style {
            match path {
                Some(p) => format!("{}://{}/{}/{p}", self.scheme, self.authority, c.bucket),
                None => format!("{}://{}/{}", self.scheme, self.authority, c.bucket),
            }
        } else {
            format!(
                "{}://{}.{}/{}",
                self.scheme,
                c.bucket,
                self.authority,
                path.unwrap_or_default()
            )
        };
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            if !v.is_empty() {
                url.push('=');
                url.push_str(&encode(v, false));
            }
        }
        url
    }

    /// Whether the endpoint is https.
    pub fn tls(&self) -> bool {
        self.scheme == "https"
    }

    /// The payload to sign for `body`, hashing large bodies off the reactor.
    pub async fn payload(&self, body: &Bytes) -> Payload {
        if body.is_empty() {
            return Payload::Sha256(EMPTY_SHA256.to_owned());
        }
        match payload_mode_for(self.tls(), body.len()) {
            PayloadMode::HashInline => Payload::Sha256(sha256_hex(body)),
            PayloadMode::Unsigned => Payload::Unsigned,
            PayloadMode::HashBlocking => {
                let b = body.clone();
                match tokio::task::spawn_blocking(move || sha256_hex(&b)).await {
                    Ok(h) => Payload::Sha256(h),
                    // The blocking pool is shutting down: hash here rather than fail.
                    Err(_) => Payload::Sha256(sha256_hex(body)),
                }
            }
        }
    }

    /// Builds and signs one attempt's request.
    fn signed(&self, req: &Req<'_>) -> Result<http::Request<Full<Bytes>>, RemoteError> {
        let url = self.url(req.key, &req.query);
        let bad = |reason: String| RemoteError::InvalidRequest { op: req.op, reason };
        let identity = self.credentials.clone().into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.config.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| bad(format!("signing parameters: {e}")))?
            .into();
        let body = match &req.payload {
            Payload::Sha256(h) => SignableBody::Precomputed(h.clone()),
            Payload::Unsigned => SignableBody::UnsignedPayload,
        };
        let signable = SignableRequest::new(
            req.method.as_str(),
            &url,
            req.headers.iter().map(|(k, v)| (*k, v.as_str())),
            body,
        )
        .map_err(|e| bad(format!("unsignable request: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| bad(format!("signing: {e}")))?
            .into_parts();
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(&url);
        for (k, v) in &req.headers {
            builder = builder.header(*k, v.as_str());
        }
        if req.method == Method::PUT || req.method == Method::POST {
            builder = builder.header(http::header::CONTENT_LENGTH, req.body.len());
        }
        let mut request = builder
            .body(Full::new(req.body.clone()))
            .map_err(|e| bad(format!("request: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// One attempt: send, and read the whole response body within the per-attempt timeout:
    /// at most `limit` bytes of a 2xx body, at most [`XML_RESPONSE_BYTES_MAX`] of an error
    /// document.
    async fn attempt(
        &self,
        request: http::Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<Resp, AttemptError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| AttemptError::Connection(Box::new(e)))?;
            let (parts, body) = response.into_parts();
            let limit = if parts.status.is_success() {
                limit
            } else {
                XML_RESPONSE_BYTES_MAX
            };
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        AttemptError::TooLarge(limit)
                    } else {
                        AttemptError::Connection(e)
                    }
                })?
                .to_bytes();
            Ok(Resp {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(AttemptError::Timeout))
    }

    /// Sends `req` with retries; a 2xx comes back, anything else becomes a [`RemoteError`].
    pub async fn send(&self, req: &Req<'_>) -> Result<Resp, RemoteError> {
        let result = self.send_retrying(req).await;
        if let Err(e) = &result {
            metrics::counter!("stratum_remote_errors_total", "op" => req.op, "kind" => e.kind())
                .increment(1);
        }
        result
    }

    async fn send_retrying(&self, req: &Req<'_>) -> Result<Resp, RemoteError> {
        let attempts_max = self.config.retries.saturating_add(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let request = self.signed(req)?;
            let outcome = {
                // The semaphore is never closed; `ok()` only avoids an unwrap.
                let _permit = self.permits.acquire().await.ok();
                self.limiter.acquire().await;
                metrics::counter!("stratum_remote_bytes_total", "direction" => "out")
                    .increment(req.body.len() as u64);
                self.attempt(request, req.response_bytes_max).await
            };
            let status_label = match &outcome {
                Ok(r) => r.status.as_str().to_owned(),
                Err(AttemptError::Timeout) => "timeout".to_owned(),
                Err(AttemptError::Connection(_)) => "connection_error".to_owned(),
                Err(AttemptError::TooLarge(_)) => "too_large".to_owned(),
            };
            metrics::counter!("stratum_remote_requests_total", "op" => req.op, "status" => status_label)
                .increment(1);
            let last = attempt >= attempts_max;
            let failure = match outcome {
                Ok(resp) => {
                    metrics::counter!("stratum_remote_bytes_total", "direction" => "in")
                        .increment(resp.body.len() as u64);
                    if resp.status.is_success() {
                        return Ok(resp);
                    }
                    let status = resp.status.as_u16();
                    if verdict(status) == Verdict::Fail || last {
                        return Err(self.error_response(req, &resp, attempt));
                    }
                    format!("HTTP {status}")
                }
                Err(AttemptError::TooLarge(limit)) => {
                    return Err(RemoteError::InvalidResponse {
                        op: req.op,
                        reason: format!("response body over {limit} bytes"),
                    })
                }
                Err(AttemptError::Timeout) if last => {
                    return Err(RemoteError::Timeout {
                        op: req.op,
                        after: self.timeout,
                        attempts: attempt,
                    })
                }
                Err(AttemptError::Connection(source)) if last => {
                    return Err(RemoteError::Connection {
                        op: req.op,
                        attempts: attempt,
                        source,
                    })
                }
                Err(AttemptError::Timeout) => "timeout".to_owned(),
                Err(AttemptError::Connection(e)) => format!("connection: {e}"),
            };
            let wait = backoff(self.backoff_base, attempt - 1);
            tracing::debug!(
                op = req.op,
                attempt,
                ?wait,
                failure,
                "cold tier request retried"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// The error an unsuccessful final response stands for.
    pub fn error_response(&self, req: &Req<'_>, resp: &Resp, attempts: u32) -> RemoteError {
        let status = resp.status.as_u16();
        let (code, message) = xml::error_code(&resp.body).unwrap_or_default();
        let key = || req.key.unwrap_or_default().to_owned();
        match status {
            404 if matches!(code.as_str(), "NoSuchKey" | "NoSuchUpload")
                || (code.is_empty() && req.key.is_some()) =>
            {
                RemoteError::NotFound {
                    op: req.op,
                    key: key(),
                }
            }
            401 | 403 => RemoteError::Auth {
                op: req.op,
                status,
                code,
                message,
            },
            _ if is_throttle(status, &code) => RemoteError::Throttled {
                op: req.op,
                status,
                code,
                attempts,
            },
            _ => RemoteError::Http {
                op: req.op,
                status,
                code,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(endpoint: &str, path_style: bool) -> Transport {
        let mut c = ColdTierConfig::new(endpoint, "bkt");
        c.path_style = path_style;
        c.prefix = "pre fix/".into();
        Transport::new(&c, RemoteCredentials::new("AK", "SK")).unwrap()
    }

    #[tokio::test]
    async fn urls_for_both_addressing_styles() {
        let t = transport("http://127.0.0.1:9000", true);
        assert_eq!(
            t.url(Some("v/1+2"), &[]),
            "http://127.0.0.1:9000/bkt/pre%20fix/v/1%2B2"
        );
        let q = [
            ("list-type", "2".to_owned()),
            ("prefix", "pre fix/a/".to_owned()),
        ];
        assert_eq!(
            t.url(None, &q),
            "http://127.0.0.1:9000/bkt?list-type=2&prefix=pre%20fix%2Fa%2F"
        );
        let t = transport("https://s3.us-west-004.backblazeb2.com", false);
        assert_eq!(
            t.url(Some("k"), &[("uploads", String::new())]),
            "https://bkt.s3.us-west-004.backblazeb2.com/pre%20fix/k?uploads"
        );
    }

    #[test]
    fn large_bodies_go_unsigned_only_over_tls() {
        assert_eq!(payload_mode_for(true, 1024), PayloadMode::HashInline);
        assert_eq!(payload_mode_for(false, 1024), PayloadMode::HashInline);
        assert_eq!(payload_mode_for(true, 1 << 20), PayloadMode::Unsigned);
        assert_eq!(payload_mode_for(false, 1 << 20), PayloadMode::HashBlocking);
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[tokio::test]
    async fn signed_requests_carry_no_checksum_headers() {
        let t = transport("http://127.0.0.1:9000", true);
        let req = Req {
            op: "PutObject",
            method: Method::PUT,
            key: Some("k"),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::from_static(b"abc"),
            payload: Payload::Sha256(sha256_hex(b"abc")),
            response_bytes_max: 1024,
        };
        let r = t.signed(&req).unwrap();
        let names: Vec<_> = r.headers().keys().map(|k| k.as_str().to_owned()).collect();
        assert!(names.contains(&"authorization".to_owned()), "{names:?}");
        assert!(names.contains(&"x-amz-content-sha256".to_owned()));
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("x-amz-checksum") || n == "x-amz-sdk-checksum-algorithm"),
            "{names:?}"
        );
    }
}
