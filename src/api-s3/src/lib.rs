//! The S3 HTTP API of Stratum: every request goes through one path —
//! addressing → authentication → classification into one closed [`Operation`] → its handler
//! → a response or S3 error XML — with one access-log line and its metrics at the end.
//!
//! - [`request`]: path-style and virtual-hosted-style addressing, the query, [`Operation`].
//! - [`body`]: the raw body turned into the decoded, verified stream the engine consumes
//!   (`aws-chunked` signatures and trailers checked while it streams).
//! - [`error`]: the S3 error codes and the one exhaustive mapping from engine and auth errors.
//! - [`headers`]: object headers in and out, conditional requests, time formats.
//! - [`xml`]: typed XML documents in and out (quick-xml with serde).
//! - `ops`: one module per family of operations.
//!
//! Invariants: anonymous requests are refused (AccessDenied); a request body is never
//! buffered whole except XML documents under [`xml::XML_BODY_MAX`]; the handlers only call
//! the engine, never storage or metadata directly. Permission is single-tenant: every valid
//! key may do everything (the permission seam is `S3Service::authorize`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use http::{HeaderMap, HeaderValue, Method, Request};
use stratum_auth::{verify_request, CredentialStore, SignedRequest, Verified, VerifierConfig};
use stratum_engine::Engine;
use stratum_tiering::{AccessTracker, Mover};

mod access;
pub mod body;
pub mod error;
pub mod headers;
mod ops;
pub mod request;
pub mod xml;

pub use error::{S3Error, S3ErrorCode};
pub use request::Operation;

/// How the S3 API answers.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The region clients sign for (`us-east-1` by default).
    pub region: String,
    /// Base domains for virtual-hosted-style requests: `Host: <bucket>.<domain>`.
    pub domains: Vec<String>,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            region: "us-east-1".to_owned(),
            domains: vec!["localhost".to_owned()],
        }
    }
}

/// The S3 API over one engine. Cheap to clone.
#[derive(Clone)]
pub struct S3Service {
    inner: Arc<Inner>,
    /// Where GET, range GET and HEAD report accesses (none: not tracked).
    access: Option<Arc<AccessTracker>>,
    /// The tiering worker that places new versions (none: PUTs land in hot, or warm when
    /// pinned there).
    placement: Option<Arc<Mover>>,
}

impl std::fmt::Debug for S3Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Service")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    engine: Engine,
    credentials: Arc<dyn CredentialStore>,
    config: S3Config,
    verifier: VerifierConfig,
}

/// Everything a handler knows about its request.
pub(crate) struct Ctx {
    pub engine: Engine,
    pub target: request::Target,
    pub query: request::Query,
    pub headers: HeaderMap,
    pub verified: Verified,
    /// The region this server answers for (`S3Config::region`).
    pub region: String,
    /// The access tracker, if accesses are tracked.
    pub access: Option<Arc<AccessTracker>>,
    /// The tiering worker that places new versions, if tiering is on.
    pub placement: Option<Arc<Mover>>,
}

impl S3Service {
    /// The API over `engine`, checking signatures against `credentials`.
    pub fn new(engine: Engine, credentials: Arc<dyn CredentialStore>, config: S3Config) -> Self {
        let verifier = VerifierConfig::new(config.region.clone())
            .with_virtual_host_domains(config.domains.clone());
        S3Service {
            inner: Arc::new(Inner {
                engine,
                credentials,
                config,
                verifier,
            }),
            access: None,
            placement: None,
        }
    }

    /// The same API, reporting every successful GetObject (whole or range) and HeadObject
    /// to `tracker` (the tiering policy's access statistics; in memory, flushed in batches).
    pub fn with_access_tracker(mut self, tracker: Arc<AccessTracker>) -> Self {
        self.access = Some(tracker);
        self
    }

    /// The same API, asking `mover` where each PutObject's new version goes (the
    /// tiering policy's placement, as in replay) and telling it once the version is stored.
    pub fn with_placement(mut self, mover: Arc<Mover>) -> Self {
        self.placement = Some(mover);
        self
    }

    /// A router that sends every request to [`S3Service::handle`].
    pub fn router(&self) -> Router {
        let svc = self.clone();
        Router::new().fallback(move |req: Request<Body>| {
            let svc = svc.clone();
            async move { svc.handle(req).await }
        })
    }

    /// The permission seam: what an authenticated key may do. Single-tenant today: every key
    /// may do everything.
    fn authorize(&self, _verified: &Verified, _op: Operation) -> Result<(), S3Error> {
        Ok(())
    }

    /// Answers one S3 request.
    pub async fn handle(&self, req: Request<Body>) -> Response {
        let started = Instant::now();
        let request_id = request_id();
        let (parts, body) = req.into_parts();
        let bytes_in = Arc::new(AtomicU64::new(0));
        let body = Body::new(access::Counted::new(body, bytes_in.clone()));
        let resource = parts.uri.path().to_owned();
        let is_head = parts.method == Method::HEAD;
        let expects_continue = parts
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let mut operation = "Unknown";
        let mut bucket = String::new();
        let mut key = String::new();
        let result = async {
            let host = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(parts.uri.host());
            let target = request::target(host, parts.uri.path(), &self.inner.config.domains)?;
            bucket = target
                .bucket
                .as_ref()
                .map(|b| b.to_string())
                .unwrap_or_default();
            key = target
                .key
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_default();
            let raw_query = parts.uri.query().unwrap_or("");
            let query = request::Query::parse(raw_query);
            let has_copy_source = parts.headers.contains_key("x-amz-copy-source");
            // Classified before authentication so the access log names the operation even
            // when authentication fails; authentication errors still take precedence.
            let op = request::classify(&parts.method, &target, &query, has_copy_source);
            if let Ok(op) = &op {
                operation = op.name();
            }
            let verified =
                self.authenticate(&parts.method, parts.uri.path(), raw_query, &parts.headers)?;
            let op = op?;
            self.authorize(&verified, op)?;
            let headers = effective_headers(&parts.headers, &query, &verified);
            let ctx = Ctx {
                engine: self.inner.engine.clone(),
                target,
                query,
                headers,
                verified,
                region: self.inner.config.region.clone(),
                access: self.access.clone(),
                placement: self.placement.clone(),
            };
            ops::dispatch(&ctx, op, body).await
        }
        .await;
        let resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                if e.code.status().is_server_error() {
                    tracing::warn!(request_id = %request_id, error = %e, "request failed");
                }
                e.into_response(&resource, &request_id, is_head)
            }
        };
        let (mut head, body) = resp.into_parts();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            head.headers.insert("x-amz-request-id", v.clone());
            head.headers.insert("x-amz-id-2", v);
        }
        head.headers
            .insert(http::header::SERVER, HeaderValue::from_static("Stratum"));
        if expects_continue && bytes_in.load(Ordering::Relaxed) == 0 {
            // The client waited for `100 Continue` and got the final answer instead. Some
            // clients (botocore before 1.44, boto/botocore#3755) then misread the next
            // response on the same connection, so this one is the connection's last.
            head.headers
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        let bytes_out = Arc::new(AtomicU64::new(0));
        let record = access::AccessRecord {
            request_id,
            operation,
            method: parts.method,
            bucket,
            key,
            status: head.status.as_u16(),
            started,
            bytes_in,
            bytes_out: bytes_out.clone(),
        };
        let body = access::Logged::new(access::Counted::new(body, bytes_out), record);
        Response::from_parts(head, Body::new(body))
    }

    fn authenticate(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
    ) -> Result<Verified, S3Error> {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
            .collect();
        let signed = SignedRequest {
            method: method.as_str(),
            path,
            query,
            headers: &pairs,
        };
        let verified = verify_request(
            self.inner.credentials.as_ref(),
            &self.inner.verifier,
            &signed,
            SystemTime::now(),
        )?;
        verified.ok_or_else(|| S3Error::new(S3ErrorCode::AccessDenied, "Access Denied"))
    }
}

/// A request id: 16 upper-case hex digits, unique enough to find one line in the logs.
fn request_id() -> String {
    let id = uuid::Uuid::new_v4();
    hex::encode_upper(&id.as_bytes()[..8])
}

/// The headers a handler sees. A presigned URL may carry `x-amz-*` headers (user metadata,
/// storage class, ACL) as query parameters, as botocore does when presigning a PUT with
/// metadata; S3 applies them as headers, and so does this, unless the header itself is sent.
fn effective_headers(
    headers: &HeaderMap,
    query: &request::Query,
    verified: &Verified,
) -> HeaderMap {
    let mut out = headers.clone();
    if verified.mechanism == stratum_auth::AuthMechanism::Header {
        return out;
    }
    const AUTH_PARAMS: [&str; 7] = [
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
        "x-amz-security-token",
    ];
    for (name, value) in query.pairs() {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("x-amz-") || AUTH_PARAMS.contains(&lower.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.entry(n).or_insert(v);
        }
    }
    out
}
