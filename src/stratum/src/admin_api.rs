//! The admin HTTP API: the tiering transparency surface (`stratum tier explain`,
//! `decisions`, `summary`, `run`) served beside S3 under the reserved path prefix
//! [`ADMIN_PREFIX`].
//!
//! The prefix cannot collide with a path-style S3 request: its first segment would be the
//! bucket `_stratum`, and bucket names never contain `_`. (A virtual-hosted-style request for
//! a key starting `_stratum/admin/` does reach this API instead of S3: such keys are
//! reserved.) The server calls [`is_admin_path`] before S3 routing and hands matching
//! requests to [`AdminApi::handle`].
//!
//! Every request is authenticated the way S3 requests are (`stratum_auth::verify_request`
//! over the same [`CredentialStore`]), but only in the SigV4 `Authorization` header form
//! with no body (`x-amz-content-sha256` of `UNSIGNED-PAYLOAD` or of the empty body), and
//! then authorized by [`AdminKeys`]: only root keys may call it. Errors are JSON
//! (`{"code": .., "message": ..}`), never S3 XML; every code and its status is in
//! [`ErrorCode`].
//!
//! Routes (JSON answers):
//!
//! | method | path under `/_stratum/admin/v1/` | answer |
//! | --- | --- | --- |
//! | GET | `tier/summary` | `Mover::summary` |
//! | GET | `tier/explain?bucket=B&key=K` | `Mover::explain` |
//! | GET | `tier/decisions?bucket=&key=&since_ms=&until_ms=&limit=` | `{"decisions": [{"id", ..entry}]}`, newest first |
//! | POST | `tier/run` | `Mover::run_now`'s report, after the moves |
//!
//! Without a mover (no warm or cold tier configured) the tier routes answer 409
//! `TieringDisabled`. Handlers only parse and serialize; the work is the mover's.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use stratum_auth::canonical::parse_query;
use stratum_auth::signing::EMPTY_SHA256;
use stratum_auth::{
    verify_request, AuthError, AuthMechanism, CredentialStore, PayloadMode, SignedRequest,
    VerifierConfig,
};
use stratum_core::{BucketName, ObjectKey};
use stratum_engine::EngineError;
use stratum_tiering::log::QUERY_LIMIT_MAX;
use stratum_tiering::{DecisionEntry, DecisionFilter, LogError, Mover};

use crate::keys::{KeyError, KeyFile};

/// Every admin path starts with this; no path-style S3 request can (see the module docs).
pub const ADMIN_PREFIX: &str = "/_stratum/admin/";
/// The tier routes of version 1 of the API.
const TIER_V1: &str = "/_stratum/admin/v1/tier/";
/// Decisions returned when the request names no `limit`.
pub const DECISIONS_LIMIT_DEFAULT: usize = 100;
/// The largest `limit` of a decisions query (the decision log's own cap).
pub const DECISIONS_LIMIT_MAX: usize = QUERY_LIMIT_MAX;

/// Whether `path` belongs to the admin API rather than to S3.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with(ADMIN_PREFIX) || path == ADMIN_PREFIX.trim_end_matches('/')
}

/// Which access keys may call the admin API: the root keys.
///
/// A root key is either the in-memory one the server was started with
/// (`STRATUM_ACCESS_KEY`, or `[credentials]` in the config file), or an entry of the key file
/// marked `root` (the one the server generated on its first start). The key file is read at
/// every check, so a root key deleted with `stratum admin key delete` loses admin rights at
/// once; admin calls are rare and the file is a few kilobytes. Keys made by
/// `stratum admin key create` are never admin keys.
///
/// The wiring builds it next to the credential store:
/// `AdminKeys::new(Some(key_file.clone()), root.as_ref().map(|r| r.access_key.clone()))`.
#[derive(Debug, Clone, Default)]
pub struct AdminKeys {
    /// Admitted whatever the key file says.
    fixed: Vec<String>,
    /// Its `root` entries are admitted.
    key_file: Option<KeyFile>,
}

impl AdminKeys {
    /// The root entries of `key_file` (if any) and `root_access_key` (the in-memory root key,
    /// if the server has one).
    pub fn new(key_file: Option<KeyFile>, root_access_key: Option<String>) -> Self {
        AdminKeys {
            fixed: root_access_key.into_iter().collect(),
            key_file,
        }
    }

    /// Exactly these access keys (tests, and setups without a key file).
    pub fn only<I, S>(access_keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AdminKeys {
            fixed: access_keys.into_iter().map(Into::into).collect(),
            key_file: None,
        }
    }

    /// Whether `access_key` is an admin key. Reads the key file (blocking I/O).
    pub fn is_admin(&self, access_key: &str) -> Result<bool, KeyError> {
        if self.fixed.iter().any(|k| k == access_key) {
            return Ok(true);
        }
        match &self.key_file {
            Some(file) => Ok(file
                .read()?
                .iter()
                .any(|k| k.root && k.access_key == access_key)),
            None => Ok(false),
        }
    }
}

/// The admin API's error codes. Each has one HTTP status ([`ErrorCode::status`]); the
/// authentication codes are S3's, so clients can treat them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Not signed, not signed by an admin key, or a presigned URL.
    AccessDenied,
    /// The signature does not match.
    SignatureDoesNotMatch,
    /// The access key does not exist.
    InvalidAccessKeyId,
    /// The `Authorization` header is malformed or scoped to another region or service.
    AuthorizationHeaderMalformed,
    /// The request time is too far from the server's.
    RequestTimeTooSkewed,
    /// The request cannot be served as sent (an unsupported auth scheme, a body).
    InvalidRequest,
    /// A query parameter is missing, unknown, repeated or malformed.
    InvalidArgument,
    /// The `bucket` parameter is not a valid bucket name.
    InvalidBucketName,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The object does not exist.
    NoSuchKey,
    /// No such admin route.
    NotFound,
    /// The route exists for another method.
    MethodNotAllowed,
    /// The tier routes without a warm or cold tier.
    TieringDisabled,
    /// A transient failure (the key file, the cold tier); retry.
    ServiceUnavailable,
    /// Anything else.
    InternalError,
}

impl ErrorCode {
    /// The code as sent in the JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AccessDenied => "AccessDenied",
            ErrorCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ErrorCode::InvalidAccessKeyId => "InvalidAccessKeyId",
            ErrorCode::AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            ErrorCode::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::InvalidArgument => "InvalidArgument",
            ErrorCode::InvalidBucketName => "InvalidBucketName",
            ErrorCode::NoSuchBucket => "NoSuchBucket",
            ErrorCode::NoSuchKey => "NoSuchKey",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::MethodNotAllowed => "MethodNotAllowed",
            ErrorCode::TieringDisabled => "TieringDisabled",
            ErrorCode::ServiceUnavailable => "ServiceUnavailable",
            ErrorCode::InternalError => "InternalError",
        }
    }

    /// The HTTP status it is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::AccessDenied
            | ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidAccessKeyId
            | ErrorCode::RequestTimeTooSkewed => StatusCode::FORBIDDEN,
            ErrorCode::AuthorizationHeaderMalformed
            | ErrorCode::InvalidRequest
            | ErrorCode::InvalidArgument
            | ErrorCode::InvalidBucketName => StatusCode::BAD_REQUEST,
            ErrorCode::NoSuchBucket | ErrorCode::NoSuchKey | ErrorCode::NotFound => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::TieringDisabled => StatusCode::CONFLICT,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An admin request that failed: a code and a sentence for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminError {
    /// What failed.
    pub code: ErrorCode,
    /// Why, in words.
    pub message: String,
}

impl AdminError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AdminError {
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        AdminError::new(ErrorCode::InvalidArgument, message)
    }
}

/// The JSON body of an error.
#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: &'a str,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        if self.code.status().is_server_error() {
            tracing::warn!(code = self.code.as_str(), message = %self.message, "admin request failed");
        }
        json(
            self.code.status(),
            &ErrorBody {
                code: self.code.as_str(),
                message: &self.message,
            },
        )
    }
}

impl From<AuthError> for AdminError {
    fn from(e: AuthError) -> Self {
        use ErrorCode as C;
        let code = match &e {
            AuthError::AuthorizationHeaderMalformed { .. } => C::AuthorizationHeaderMalformed,
            AuthError::CredentialScopeMismatch { .. } => C::AuthorizationHeaderMalformed,
            // Presigned URLs are refused before their parameters matter.
            AuthError::AuthorizationQueryParametersError { .. } => C::AccessDenied,
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
            // Body checks: the admin API reads no body, so these cannot arise.
            AuthError::ContentSha256Mismatch => C::InvalidRequest,
            AuthError::MalformedChunkedBody { .. } => C::InvalidRequest,
            AuthError::IncompleteBody => C::InvalidRequest,
            AuthError::DecodedContentLengthMismatch { .. } => C::InvalidRequest,
            AuthError::CredentialStoreUnavailable(_) => C::ServiceUnavailable,
        };
        AdminError::new(code, e.to_string())
    }
}

impl From<EngineError> for AdminError {
    fn from(e: EngineError) -> Self {
        use ErrorCode as C;
        let code = match &e {
            EngineError::NoSuchBucket => C::NoSuchBucket,
            EngineError::NoSuchKey => C::NoSuchKey,
            EngineError::Unavailable(_) => C::ServiceUnavailable,
            EngineError::Remote(r) if r.is_transient() => C::ServiceUnavailable,
            EngineError::Remote(_) => C::InternalError,
            EngineError::Storage(_) | EngineError::Metadata(_) | EngineError::Corrupt(_) => {
                C::InternalError
            }
            // Write-path errors: the admin API never writes objects, so these mean a bug.
            EngineError::BucketAlreadyOwnedByYou
            | EngineError::BucketNotEmpty
            | EngineError::NoSuchUpload
            | EngineError::PreconditionFailed
            | EngineError::InvalidRange { .. }
            | EngineError::BadDigest { .. }
            | EngineError::IncompleteBody { .. }
            | EngineError::EntityTooLarge { .. }
            | EngineError::EntityTooSmall { .. }
            | EngineError::InvalidPart { .. }
            | EngineError::InvalidPartOrder
            | EngineError::InvalidArgument(_)
            | EngineError::Body(_) => C::InternalError,
        };
        AdminError::new(code, e.to_string())
    }
}

impl From<LogError> for AdminError {
    fn from(e: LogError) -> Self {
        let code = match &e {
            LogError::Meta(_) | LogError::Trim { .. } => ErrorCode::InternalError,
        };
        AdminError::new(code, format!("reading the decision log: {e}"))
    }
}

/// One admin operation, classified once from the method and path (all under `v1/tier/`
/// today).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Summary,
    Explain,
    Decisions,
    Run,
}

impl Route {
    /// The route of `path`, if `method` is the one it takes.
    fn classify(method: &Method, path: &str) -> Result<Route, AdminError> {
        let (route, wants) = match path.strip_prefix(TIER_V1) {
            Some("summary") => (Route::Summary, Method::GET),
            Some("explain") => (Route::Explain, Method::GET),
            Some("decisions") => (Route::Decisions, Method::GET),
            Some("run") => (Route::Run, Method::POST),
            _ => {
                return Err(AdminError::new(
                    ErrorCode::NotFound,
                    format!("no admin route {path}"),
                ))
            }
        };
        if *method != wants {
            return Err(AdminError::new(
                ErrorCode::MethodNotAllowed,
                format!("{path} takes {wants}, not {method}"),
            ));
        }
        Ok(route)
    }
}

/// The decoded query parameters; each name at most once, and only the ones a route knows.
#[derive(Debug)]
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str, allowed: &[&str]) -> Result<Params, AdminError> {
        let pairs = parse_query(query);
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                return Err(AdminError::invalid(format!(
                    "unknown query parameter {name:?} (this route takes {})",
                    allowed.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(AdminError::invalid(format!(
                    "query parameter {name:?} is repeated"
                )));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn bucket(&self) -> Result<Option<BucketName>, AdminError> {
        self.get("bucket")
            .map(|b| {
                BucketName::new(b)
                    .map_err(|e| AdminError::new(ErrorCode::InvalidBucketName, e.to_string()))
            })
            .transpose()
    }

    fn key(&self) -> Result<Option<ObjectKey>, AdminError> {
        self.get("key")
            .map(|k| ObjectKey::new(k).map_err(|e| AdminError::invalid(e.to_string())))
            .transpose()
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, AdminError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    AdminError::invalid(format!("query parameter {name} is not an integer: {v:?}"))
                })
            })
            .transpose()
    }
}

/// `tier/explain`'s object.
fn explain_params(query: &str) -> Result<(BucketName, ObjectKey), AdminError> {
    let p = Params::parse(query, &["bucket", "key"])?;
    let bucket = p
        .bucket()?
        .ok_or_else(|| AdminError::invalid("explain needs the bucket parameter"))?;
    let key = p
        .key()?
        .ok_or_else(|| AdminError::invalid("explain needs the key parameter"))?;
    Ok((bucket, key))
}

/// `tier/decisions`' filter and limit.
fn decisions_params(query: &str) -> Result<(DecisionFilter, usize), AdminError> {
    let p = Params::parse(query, &["bucket", "key", "since_ms", "until_ms", "limit"])?;
    let filter = DecisionFilter {
        bucket: p.bucket()?,
        key: p.key()?,
        since_ms: p.number("since_ms")?,
        until_ms: p.number("until_ms")?,
    };
    let limit = p.number("limit")?.unwrap_or(DECISIONS_LIMIT_DEFAULT);
    if !(1..=DECISIONS_LIMIT_MAX).contains(&limit) {
        return Err(AdminError::invalid(format!(
            "limit must be between 1 and {DECISIONS_LIMIT_MAX}"
        )));
    }
    Ok((filter, limit))
}

/// One decision with its id, as `tier/decisions` sends it.
#[derive(Serialize)]
struct IdentifiedDecision {
    id: u64,
    #[serde(flatten)]
    entry: DecisionEntry,
}

/// `tier/decisions`' body.
#[derive(Serialize)]
struct DecisionsBody {
    decisions: Vec<IdentifiedDecision>,
}

/// A JSON response.
fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut resp = (status, bytes).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "serializing an admin answer failed");
            let mut resp = (
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"code":"InternalError","message":"the answer could not be serialized"}"#,
            )
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
    }
}

/// The admin API; cheap to clone (share one per server).
#[derive(Clone)]
pub struct AdminApi {
    mover: Option<Arc<Mover>>,
    credentials: Arc<dyn CredentialStore>,
    admin_keys: AdminKeys,
    verifier: VerifierConfig,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("tiering", &self.mover.is_some())
            .field("admin_keys", &self.admin_keys)
            .field("region", &self.verifier.region)
            .finish_non_exhaustive()
    }
}

impl AdminApi {
    /// The API over `mover` (`None`: tiering is off), checking signatures against
    /// `credentials` for `region` and admitting the keys `admin_keys` names.
    pub fn new(
        mover: Option<Arc<Mover>>,
        credentials: Arc<dyn CredentialStore>,
        admin_keys: AdminKeys,
        region: String,
    ) -> Self {
        AdminApi {
            mover,
            credentials,
            admin_keys,
            verifier: VerifierConfig::new(region),
        }
    }

    /// Answers one request whose path [`is_admin_path`]. The body is never read.
    pub async fn handle(&self, req: Request<Body>) -> Response {
        let (parts, _body) = req.into_parts();
        match self.answer(&parts).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    }

    async fn answer(&self, parts: &Parts) -> Result<Response, AdminError> {
        // Authentication and permission come before routing: an unauthenticated caller
        // learns nothing, not even which routes exist.
        let access_key = self.authenticate(parts)?;
        self.authorize(access_key).await?;
        let route = Route::classify(&parts.method, parts.uri.path())?;
        let query = parts.uri.query().unwrap_or("");
        let mover = self.mover.clone().ok_or_else(|| {
            AdminError::new(
                ErrorCode::TieringDisabled,
                "tiering is off: no warm or cold tier is configured",
            )
        })?;
        match route {
            Route::Summary => {
                Params::parse(query, &[])?;
                Ok(json(StatusCode::OK, &mover.summary().await?))
            }
            Route::Explain => {
                let (bucket, key) = explain_params(query)?;
                Ok(json(StatusCode::OK, &mover.explain(&bucket, &key).await?))
            }
            Route::Decisions => {
                let (filter, limit) = decisions_params(query)?;
                // The decision log reads the metadata store: blocking I/O, off the reactor.
                let found = tokio::task::spawn_blocking(move || mover.decisions(&filter, limit))
                    .await
                    .map_err(|e| {
                        AdminError::new(ErrorCode::InternalError, format!("decisions query: {e}"))
                    })??;
                let decisions = found
                    .into_iter()
                    .map(|(id, entry)| IdentifiedDecision { id, entry })
                    .collect();
                Ok(json(StatusCode::OK, &DecisionsBody { decisions }))
            }
            Route::Run => {
                Params::parse(query, &[])?;
                Ok(json(StatusCode::OK, &mover.run_now().await?))
            }
        }
    }

    /// The signature check: SigV4 in the `Authorization` header, with no body. Returns the
    /// access key that signed.
    fn authenticate(&self, parts: &Parts) -> Result<String, AdminError> {
        let headers: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
            .collect();
        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
        };
        let verified = verify_request(
            self.credentials.as_ref(),
            &self.verifier,
            &signed,
            SystemTime::now(),
        )?
        .ok_or_else(|| {
            AdminError::new(
                ErrorCode::AccessDenied,
                "the admin API needs a SigV4-signed request (an Authorization header)",
            )
        })?;
        match verified.mechanism {
            AuthMechanism::Header => {}
            AuthMechanism::Presigned | AuthMechanism::PresignedV2 => {
                return Err(AdminError::new(
                    ErrorCode::AccessDenied,
                    "the admin API does not take presigned URLs; sign the Authorization header",
                ))
            }
        }
        let empty = PayloadMode::parse(EMPTY_SHA256).ok();
        if verified.payload != PayloadMode::Unsigned && Some(verified.payload) != empty {
            return Err(AdminError::new(
                ErrorCode::InvalidRequest,
                "admin requests have no body: sign x-amz-content-sha256 as UNSIGNED-PAYLOAD \
                 or the empty body's SHA-256",
            ));
        }
        Ok(verified.access_key)
    }

    /// The permission check: only admin keys.
    async fn authorize(&self, access_key: String) -> Result<(), AdminError> {
        let keys = self.admin_keys.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let admitted = keys.is_admin(&access_key);
            (access_key, admitted)
        })
        .await;
        match checked {
            Ok((_, Ok(true))) => Ok(()),
            Ok((access_key, Ok(false))) => Err(AdminError::new(
                ErrorCode::AccessDenied,
                format!(
                    "access key {access_key} is not a root key; the admin API takes root keys only"
                ),
            )),
            Ok((_, Err(e))) => {
                tracing::warn!(error = %e, "the key file cannot be read for an admin check");
                Err(AdminError::new(
                    ErrorCode::ServiceUnavailable,
                    "the key file cannot be read",
                ))
            }
            Err(e) => Err(AdminError::new(
                ErrorCode::InternalError,
                format!("the admin key check failed: {e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_admin_and_s3_paths_are_not() {
        assert!(is_admin_path("/_stratum/admin/v1/tier/summary"));
        assert!(is_admin_path("/_stratum/admin/"));
        assert!(is_admin_path("/_stratum/admin"));
        assert!(!is_admin_path("/_stratum/administrator"));
        assert!(!is_admin_path("/bucket/_stratum/admin/x"));
        assert!(!is_admin_path("/"));
        // The first segment of a path-style request is a bucket, and `_` is not allowed.
        assert!(BucketName::new("_stratum").is_err());
    }

    #[test]
    fn routes_are_classified_with_their_method() {
        let r = |m: Method, p: &str| Route::classify(&m, p);
        assert_eq!(
            r(Method::GET, "/_stratum/admin/v1/tier/summary"),
            Ok(Route::Summary)
        );
        assert_eq!(
            r(Method::GET, "/_stratum/admin/v1/tier/explain"),
            Ok(Route::Explain)
        );
        assert_eq!(
            r(Method::GET, "/_stratum/admin/v1/tier/decisions"),
            Ok(Route::Decisions)
        );
        assert_eq!(
            r(Method::POST, "/_stratum/admin/v1/tier/run"),
            Ok(Route::Run)
        );
        let code = |m, p| r(m, p).unwrap_err().code;
        assert_eq!(
            code(Method::GET, "/_stratum/admin/v1/tier/run"),
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            code(Method::POST, "/_stratum/admin/v1/tier/summary"),
            ErrorCode::MethodNotAllowed
        );
        for p in [
            "/_stratum/admin/",
            "/_stratum/admin/v2/tier/summary",
            "/_stratum/admin/v1/tier/summary/",
            "/_stratum/admin/v1/tier/",
            "/_stratum/admin/v1/keys",
        ] {
            assert_eq!(code(Method::GET, p), ErrorCode::NotFound, "{p}");
        }
    }

    #[test]
    fn decisions_queries_parse_with_defaults_and_limits() {
        let (f, limit) = decisions_params("").unwrap();
        assert_eq!(f, DecisionFilter::default());
        assert_eq!(limit, DECISIONS_LIMIT_DEFAULT);
        let (f, limit) = decisions_params(
            "bucket=photos&key=a%2Fb%20c%2Bd&since_ms=1000&until_ms=-5&limit=10000",
        )
        .unwrap();
        assert_eq!(f.bucket.unwrap().as_str(), "photos");
        assert_eq!(f.key.unwrap().as_str(), "a/b c+d");
        assert_eq!((f.since_ms, f.until_ms), (Some(1000), Some(-5)));
        assert_eq!(limit, 10_000);
        let code = |q| decisions_params(q).unwrap_err().code;
        assert_eq!(code("limit=0"), ErrorCode::InvalidArgument);
        assert_eq!(code("limit=10001"), ErrorCode::InvalidArgument);
        assert_eq!(code("limit=ten"), ErrorCode::InvalidArgument);
        assert_eq!(code("since_ms=yesterday"), ErrorCode::InvalidArgument);
        assert_eq!(code("bucket=Bad_Name"), ErrorCode::InvalidBucketName);
        assert_eq!(code("key="), ErrorCode::InvalidArgument);
        assert_eq!(code("colour=red"), ErrorCode::InvalidArgument);
        assert_eq!(code("limit=1&limit=2"), ErrorCode::InvalidArgument);
    }

    #[test]
    fn explain_needs_a_bucket_and_a_key() {
        let (b, k) = explain_params("bucket=photos&key=2024%2Fcat.jpg").unwrap();
        assert_eq!((b.as_str(), k.as_str()), ("photos", "2024/cat.jpg"));
        let code = |q| explain_params(q).unwrap_err().code;
        assert_eq!(code("bucket=photos"), ErrorCode::InvalidArgument);
        assert_eq!(code("key=k"), ErrorCode::InvalidArgument);
        assert_eq!(code("bucket=ab&key=k"), ErrorCode::InvalidBucketName);
        assert_eq!(
            code("bucket=photos&key=k&limit=3"),
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn errors_are_json_with_their_status() {
        let resp = AdminError::new(ErrorCode::TieringDisabled, "off").into_response();
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let e: AdminError = AuthError::SignatureDoesNotMatch.into();
        assert_eq!(e.code.status(), StatusCode::FORBIDDEN);
        let e: AdminError = EngineError::NoSuchKey.into();
        assert_eq!(e.code, ErrorCode::NoSuchKey);
        assert_eq!(e.code.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn admin_keys_are_the_root_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path());
        let plain = file.create(None).unwrap();
        let root = file.ensure_root().unwrap().unwrap();
        let keys = AdminKeys::new(Some(file.clone()), Some("ENVROOT".into()));
        assert!(keys.is_admin("ENVROOT").unwrap());
        assert!(keys.is_admin(&root.access_key).unwrap());
        assert!(!keys.is_admin(&plain.access_key).unwrap());
        assert!(!keys.is_admin("UNKNOWN").unwrap());
        // Deleting the stored root key takes its rights at once.
        file.delete(&root.access_key).unwrap();
        assert!(!keys.is_admin(&root.access_key).unwrap());
        let only = AdminKeys::only(["A1"]);
        assert!(only.is_admin("A1").unwrap());
        assert!(!only.is_admin("A2").unwrap());
    }
}
