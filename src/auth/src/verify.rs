//! The signature check for whole requests: the SigV4 `Authorization` header form, the SigV4
//! presigned query-string form, the legacy SigV2 presigned query-string form, and the dispatch
//! between them.
//!
//! The check needs only the request line and headers, never the body: it returns a
//! [`Verified`] that says how the body is protected ([`PayloadMode`]) and hands out the
//! streaming checks ([`ChunkVerifier`], [`BodyHashCheck`]) the S3 layer runs as bytes arrive.
//!
//! SigV2 decisions (see [`crate::sigv2`] for the canonicalization):
//!
//! * Only presigned URLs (`?AWSAccessKeyId=..&Signature=..&Expires=..`) are accepted; they are
//!   what boto3's `generate_presigned_url` and `aws s3 presign` (awscli v1) make by default.
//!   A SigV2 `Authorization: AWS <key>:<signature>` header stays refused with
//!   [`AuthError::UnsupportedAuthScheme`], as in every AWS region opened since 2014: no default
//!   client sends it (they sign headers with SigV4), and refusing it keeps the HMAC-SHA1 surface
//!   to the one form that needs it.
//! * `Expires` is an absolute unix time. The URL is valid while `now <= Expires`; after that,
//!   [`AuthError::PresignedExpired`]. AWS sets no upper bound on a v2 `Expires`; we refuse one
//!   more than [`PRESIGNED_EXPIRES_MAX_SECS`] (seven days, the SigV4 limit) plus the allowed
//!   clock skew after `now`, with [`AuthError::AuthorizationQueryParametersError`], so that no
//!   presigned URL of either version outlives seven days. A v2 URL carries no signing time, so
//!   the bound is on `Expires - now`: a URL made to last 30 days is refused until its last
//!   seven days.
//! * The payload is never signed ([`PayloadMode::Unsigned`]) and there is no chunk signing.
//! * A virtual-hosted-style request's bucket is found only for the domains listed in
//!   [`VerifierConfig::virtual_host_domains`]; elsewhere the path is taken as path-style.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, parse_query,
    CanonicalParts,
};
use crate::chunk::{BodyHashCheck, ChunkVerifier};
use crate::signing::{
    check_signature, is_signature, string_to_sign, AmzDate, Credential, Scope, SigningKey,
    ALGORITHM,
};
use crate::sigv2::{self, PresignedV2Params};
use crate::{AuthError, CredentialStore};

/// The largest allowed difference between a request's time and the server clock.
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(15 * 60);
/// The largest `X-Amz-Expires` of a presigned URL: seven days.
pub const PRESIGNED_EXPIRES_MAX_SECS: u64 = 604_800;

/// What the signature check needs from an HTTP request; plain strings, no HTTP crate.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// The method, upper case (`GET`, `PUT`).
    pub method: &'a str,
    /// The path exactly as in the request target (percent-encoded as the client sent it).
    pub path: &'a str,
    /// The raw query string without `?`; empty if none.
    pub query: &'a str,
    /// Every header, names in any case; a repeated header appears once per value.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> SignedRequest<'a> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// The region and service this server answers for, the clock skew it tolerates, and the
/// domains of virtual-hosted-style addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The region clients must sign for, e.g. `us-east-1`.
    pub region: String,
    /// The service clients must sign for; `s3`.
    pub service: String,
    /// The largest difference between request time and server time.
    pub clock_skew_max: Duration,
    /// Base domains of virtual-hosted-style requests (`Host: <bucket>.<domain>`), the same list
    /// the S3 layer routes by. Only SigV2 needs it: its canonical resource names the bucket,
    /// which such a request carries in `Host`. Empty: every request is taken as path-style.
    pub virtual_host_domains: Vec<String>,
}

impl VerifierConfig {
    /// Service `s3`, skew [`CLOCK_SKEW_MAX`], no virtual-hosted domains.
    pub fn new(region: impl Into<String>) -> Self {
        VerifierConfig {
            region: region.into(),
            service: "s3".to_owned(),
            clock_skew_max: CLOCK_SKEW_MAX,
            virtual_host_domains: Vec::new(),
        }
    }

    /// Sets [`VerifierConfig::virtual_host_domains`]; returns `self` for chaining.
    pub fn with_virtual_host_domains(mut self, domains: impl Into<Vec<String>>) -> Self {
        self.virtual_host_domains = domains.into();
        self
    }
}

/// How the request body is protected, from `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// The body's SHA-256 is declared up front; check it with [`Verified::body_check`].
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: `aws-chunked`, each chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: `aws-chunked`, unsigned chunks, unsigned trailer.
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// Parses an `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        Ok(match value {
            "UNSIGNED-PAYLOAD" => PayloadMode::Unsigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => PayloadMode::StreamingSigned,
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => PayloadMode::StreamingSignedTrailer,
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => PayloadMode::StreamingUnsignedTrailer,
            hash => {
                let mut digest = [0u8; 32];
                hex::decode_to_slice(hash, &mut digest)
                    .map_err(|_| AuthError::InvalidContentSha256)?;
                PayloadMode::Sha256(digest)
            }
        })
    }

    /// Whether the body is `aws-chunked` framed.
    pub fn is_chunked(self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned
                | PayloadMode::StreamingSignedTrailer
                | PayloadMode::StreamingUnsignedTrailer
        )
    }

    /// Whether a trailer follows the final chunk.
    pub fn has_trailer(self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSignedTrailer | PayloadMode::StreamingUnsignedTrailer
        )
    }
}

/// Which form authenticated the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// SigV4 `Authorization: AWS4-HMAC-SHA256 ...`.
    Header,
    /// SigV4 presigned, `?X-Amz-Algorithm=AWS4-HMAC-SHA256&...`.
    Presigned,
    /// SigV2 presigned, `?AWSAccessKeyId=...&Signature=...&Expires=...`: the payload is always
    /// [`PayloadMode::Unsigned`] and there is no chunk signing.
    PresignedV2,
}

/// A request whose signature checked out. The body may still fail its own checks.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The access key that signed; the permission seam decides what it may do.
    pub access_key: String,
    /// Header, presigned or SigV2 presigned.
    pub mechanism: AuthMechanism,
    /// How the body is protected.
    pub payload: PayloadMode,
    /// The request signature: for SigV4 the seed of the chunk signature chain (hex); for
    /// SigV2 the base64 signature, which seeds nothing.
    pub seed_signature: String,
    /// The SigV4 signing key; `None` exactly for [`AuthMechanism::PresignedV2`], whose payload
    /// is always [`PayloadMode::Unsigned`].
    signer: Option<Signer>,
}

/// The signing key with the timestamp and scope it signs under.
#[derive(Debug, Clone)]
struct Signer {
    key: SigningKey,
    date: AmzDate,
    scope: Scope,
}

impl Verified {
    /// The chunk-signature chain for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` bodies;
    /// `None` for every other payload mode.
    /// Always `None` for [`AuthMechanism::PresignedV2`].
    pub fn chunk_verifier(&self) -> Option<ChunkVerifier> {
        let signer = self.signer.as_ref()?;
        match self.payload {
            PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer => {
                Some(ChunkVerifier::new(
                    signer.key.clone(),
                    signer.date.clone(),
                    &signer.scope,
                    &self.seed_signature,
                ))
            }
            PayloadMode::Sha256(_)
            | PayloadMode::Unsigned
            | PayloadMode::StreamingUnsignedTrailer => None,
        }
    }

    /// The SHA-256 check of a body declared by hash; `None` for every other payload mode.
    pub fn body_check(&self) -> Option<BodyHashCheck> {
        match self.payload {
            PayloadMode::Sha256(expected) => Some(BodyHashCheck::new(expected)),
            PayloadMode::Unsigned
            | PayloadMode::StreamingSigned
            | PayloadMode::StreamingSignedTrailer
            | PayloadMode::StreamingUnsignedTrailer => None,
        }
    }
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// The access key and scope.
    pub credential: Credential,
    /// The scope terminator as sent (checked to be `aws4_request` later).
    pub terminator: String,
    /// The signed header names, lower case, in the order sent.
    pub signed_headers: Vec<String>,
    /// The declared signature, 64 lower-case hex digits.
    pub signature: String,
}

fn malformed(reason: &'static str) -> AuthError {
    AuthError::AuthorizationHeaderMalformed { reason }
}

/// Splits `host;range;x-amz-date`; `None` if empty, not lower case, or without `host`.
fn parse_signed_headers(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text.split(';').map(str::to_owned).collect();
    let valid = names.iter().all(|n| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_graphic() && !b.is_ascii_uppercase())
    });
    (valid && names.iter().any(|n| n == "host")).then_some(names)
}

impl AuthorizationHeader {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .filter(|r| r.starts_with(' '))
            .ok_or(malformed("the algorithm must be AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for field in rest.split(',') {
            let (name, val) = field
                .trim()
                .split_once('=')
                .ok_or(malformed("a field is not name=value"))?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(malformed("unknown field")),
            };
            if slot.replace(val).is_some() {
                return Err(malformed("a field appears twice"));
            }
        }
        let (credential, terminator) =
            Credential::parse(credential.ok_or(malformed("missing Credential"))?).ok_or(
                malformed("Credential is not <key>/<date>/<region>/<service>/aws4_request"),
            )?;
        let signed_headers =
            parse_signed_headers(signed.ok_or(malformed("missing SignedHeaders"))?).ok_or(
                malformed("SignedHeaders must be lower-case names including host"),
            )?;
        let signature = signature.ok_or(malformed("missing Signature"))?;
        if !is_signature(signature) {
            return Err(malformed("Signature is not 64 lower-case hex digits"));
        }
        Ok(AuthorizationHeader {
            credential,
            terminator: terminator.to_owned(),
            signed_headers,
            signature: signature.to_owned(),
        })
    }
}

/// Checks `date` against `now` within `skew`.
fn within_skew(date: &AmzDate, now: SystemTime, skew: Duration) -> bool {
    let difference = match date.at().duration_since(now) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    difference <= skew
}

fn lookup(store: &dyn CredentialStore, access_key: &str) -> Result<crate::SecretKey, AuthError> {
    store
        .secret_for(access_key)?
        .ok_or(AuthError::InvalidAccessKeyId)
}

/// Builds the canonical request, signs it and compares with `declared`.
fn check(
    req: &SignedRequest<'_>,
    query: &str,
    signed_headers: &[String],
    payload_hash: &str,
    signer: &Signer,
    declared: &str,
) -> Result<(), AuthError> {
    let names: Vec<&str> = signed_headers.iter().map(String::as_str).collect();
    let headers = canonical_headers(&names, req.headers)?;
    let canonical = canonical_request(&CanonicalParts {
        method: req.method,
        uri: &canonical_uri(req.path),
        query,
        headers: &headers,
        signed_headers: &names.join(";"),
        payload_hash,
    });
    let to_sign = string_to_sign(&canonical, &signer.date, &signer.scope);
    check_signature(&signer.key.sign(&to_sign), declared)
}

/// Verifies a request signed with the `Authorization` header.
pub fn verify_header(
    store: &dyn CredentialStore,
    config: &VerifierConfig,
    req: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let auth = AuthorizationHeader::parse(
        req.header("authorization")
            .ok_or(malformed("missing Authorization header"))?,
    )?;
    let date = match (req.header("x-amz-date"), req.header("date")) {
        (Some(amz), _) => AmzDate::parse(amz)?,
        (None, Some(http)) => AmzDate::parse_http_date(http)?,
        (None, None) => return Err(AuthError::MissingOrInvalidDate),
    };
    auth.credential
        .check_scope(&auth.terminator, &date, &config.region, &config.service)?;
    if !within_skew(&date, now, config.clock_skew_max) {
        return Err(AuthError::RequestTimeTooSkewed);
    }
    let payload_hash = req
        .header("x-amz-content-sha256")
        .ok_or(AuthError::MissingContentSha256)?;
    let payload = PayloadMode::parse(payload_hash)?;
    let secret = lookup(store, &auth.credential.access_key)?;
    let scope = auth.credential.scope;
    let signer = Signer {
        key: SigningKey::derive(&secret, &scope),
        date,
        scope,
    };
    let query = canonical_query(&parse_query(req.query), None);
    check(
        req,
        &query,
        &auth.signed_headers,
        payload_hash,
        &signer,
        &auth.signature,
    )?;
    Ok(Verified {
        access_key: auth.credential.access_key,
        mechanism: AuthMechanism::Header,
        payload,
        seed_signature: auth.signature,
        signer: Some(signer),
    })
}

fn query_error(reason: &'static str) -> AuthError {
    AuthError::AuthorizationQueryParametersError { reason }
}

/// Verifies a presigned (query-string) request.
pub fn verify_presigned(
    store: &dyn CredentialStore,
    config: &VerifierConfig,
    req: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let pairs = parse_query(req.query);
    let param = |name: &'static str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .ok_or(query_error("a required X-Amz-* parameter is missing"))
    };
    if param("X-Amz-Algorithm")? != ALGORITHM {
        return Err(query_error("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
    }
    let (credential, terminator) = Credential::parse(param("X-Amz-Credential")?).ok_or(
        query_error("X-Amz-Credential is not <key>/<date>/<region>/<service>/aws4_request"),
    )?;
    let date = AmzDate::parse(param("X-Amz-Date")?)
        .map_err(|_| query_error("X-Amz-Date must be in the ISO8601 long format"))?;
    let expires: u64 = param("X-Amz-Expires")?
        .parse()
        .map_err(|_| query_error("X-Amz-Expires must be a non-negative integer"))?;
    if expires > PRESIGNED_EXPIRES_MAX_SECS {
        return Err(query_error("X-Amz-Expires must be at most 604800 seconds"));
    }
    let signed_headers = parse_signed_headers(param("X-Amz-SignedHeaders")?).ok_or(query_error(
        "X-Amz-SignedHeaders must be lower-case names including host",
    ))?;
    let signature = param("X-Amz-Signature")?;
    if !is_signature(signature) {
        return Err(query_error(
            "X-Amz-Signature is not 64 lower-case hex digits",
        ));
    }
    credential.check_scope(terminator, &date, &config.region, &config.service)?;
    if date.at() > now + config.clock_skew_max {
        return Err(AuthError::PresignedNotYetValid);
    }
    if now > date.at() + Duration::from_secs(expires) {
        return Err(AuthError::PresignedExpired);
    }
    // Presigned URLs sign `UNSIGNED-PAYLOAD` unless the client put a hash in the query.
    let payload_hash = pairs
        .iter()
        .find(|(n, _)| n == "X-Amz-Content-Sha256")
        .map_or("UNSIGNED-PAYLOAD", |(_, v)| v.as_str());
    let payload = PayloadMode::parse(payload_hash)?;
    let secret = lookup(store, &credential.access_key)?;
    let signer = Signer {
        key: SigningKey::derive(&secret, &credential.scope),
        date,
        scope: credential.scope,
    };
    let query = canonical_query(&pairs, Some("X-Amz-Signature"));
    check(
        req,
        &query,
        &signed_headers,
        payload_hash,
        &signer,
        signature,
    )?;
    Ok(Verified {
        access_key: credential.access_key,
        mechanism: AuthMechanism::Presigned,
        payload,
        seed_signature: signature.to_owned(),
        signer: Some(signer),
    })
}

/// Verifies a SigV2 presigned (query-string) request: `?AWSAccessKeyId=..&Signature=..&Expires=..`.
///
/// Checks, in order: the three parameters are present once each and `Expires` is an integer,
/// `Expires` is not past and not more than [`PRESIGNED_EXPIRES_MAX_SECS`] plus the clock skew
/// ahead, the access key exists, and the HMAC-SHA1 signature matches (compared in constant
/// time). See the module documentation for the decisions.
pub fn verify_presigned_v2(
    store: &dyn CredentialStore,
    config: &VerifierConfig,
    req: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let params = PresignedV2Params::parse(req.query)?;
    let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if now_secs > params.expires {
        return Err(AuthError::PresignedExpired);
    }
    let latest = now_secs
        .saturating_add(PRESIGNED_EXPIRES_MAX_SECS)
        .saturating_add(config.clock_skew_max.as_secs());
    if params.expires > latest {
        return Err(query_error(
            "Expires must be at most seven days (604800 seconds) in the future",
        ));
    }
    let secret = lookup(store, &params.access_key)?;
    let amz_headers = sigv2::canonical_amz_headers(req.headers, &parse_query(req.query));
    let subresources = sigv2::canonical_subresources(req.query);
    let bucket = sigv2::virtual_host_bucket(req.header("host"), &config.virtual_host_domains);
    let mut matched = false;
    for path in sigv2::resource_paths(req.path, bucket.as_deref()) {
        let to_sign = sigv2::string_to_sign(&sigv2::StringToSignParts {
            method: req.method,
            content_md5: req.header("content-md5").map_or("", str::trim),
            content_type: req.header("content-type").map_or("", str::trim),
            expires: &params.expires_text,
            amz_headers: &amz_headers,
            resource: &format!("{path}{subresources}"),
        });
        matched |= check_signature(&sigv2::sign(&secret, &to_sign), &params.signature).is_ok();
    }
    if !matched {
        return Err(AuthError::SignatureDoesNotMatch);
    }
    Ok(Verified {
        access_key: params.access_key,
        mechanism: AuthMechanism::PresignedV2,
        payload: PayloadMode::Unsigned,
        seed_signature: params.signature,
        signer: None,
    })
}

/// Verifies whichever form the request uses (SigV4 header, SigV4 presigned, SigV2
/// presigned); `Ok(None)` for an anonymous request (the permission seam decides whether
/// anonymous access is allowed).
///
/// A request is SigV4 presigned if its query has `X-Amz-Algorithm`, SigV2 presigned if it
/// has `AWSAccessKeyId` or `Signature`. Two mechanisms at once (a header and a query, or
/// both query forms) is [`AuthError::MultipleAuthMechanisms`]; an `Authorization` header other
/// than `AWS4-HMAC-SHA256` (SigV2's `AWS key:sig` included) is
/// [`AuthError::UnsupportedAuthScheme`].
pub fn verify_request(
    store: &dyn CredentialStore,
    config: &VerifierConfig,
    req: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<Option<Verified>, AuthError> {
    let pairs = parse_query(req.query);
    let has = |name: &str| pairs.iter().any(|(n, _)| n == name);
    let presigned = has("X-Amz-Algorithm");
    let presigned_v2 = has(sigv2::ACCESS_KEY_PARAM) || has(sigv2::SIGNATURE_PARAM);
    let header = req.header("authorization");
    let mechanisms =
        usize::from(header.is_some()) + usize::from(presigned) + usize::from(presigned_v2);
    if mechanisms > 1 {
        return Err(AuthError::MultipleAuthMechanisms);
    }
    match header {
        Some(value) if value.starts_with(ALGORITHM) => {
            verify_header(store, config, req, now).map(Some)
        }
        Some(_) => Err(AuthError::UnsupportedAuthScheme),
        None if presigned => verify_presigned(store, config, req, now).map(Some),
        None if presigned_v2 => verify_presigned_v2(store, config, req, now).map(Some),
        None => Ok(None),
    }
}
