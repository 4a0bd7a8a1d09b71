//! The signature check for whole requests: the `Authorization` header form and the presigned
//! query-string form, and the dispatch between them.
//!
//! The check needs only the request line and headers, never the body: it returns a
//! [`Verified`] that says how the body is protected ([`PayloadMode`]) and hands out the
//! streaming checks ([`ChunkVerifier`], [`BodyHashCheck`]) the S3 layer runs as bytes arrive.

use std::time::{Duration, SystemTime};

use crate::canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, parse_query,
    CanonicalParts,
};
use crate::chunk::{BodyHashCheck, ChunkVerifier};
use crate::signing::{
    check_signature, is_signature, string_to_sign, AmzDate, Credential, Scope, SigningKey,
    ALGORITHM,
};
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

/// The region and service this server answers for, and the clock skew it tolerates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The region clients must sign for, e.g. `us-east-1`.
    pub region: String,
    /// The service clients must sign for; `s3`.
    pub service: String,
    /// The largest difference between request time and server time.
    pub clock_skew_max: Duration,
}

impl VerifierConfig {
    /// Service `s3`, skew [`CLOCK_SKEW_MAX`].
    pub fn new(region: impl Into<String>) -> Self {
        VerifierConfig {
            region: region.into(),
            service: "s3".to_owned(),
            clock_skew_max: CLOCK_SKEW_MAX,
        }
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

/// Which of the two SigV4 forms authenticated the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `Authorization: AWS4-HMAC-SHA256 ...`.
    Header,
    /// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&...`.
    Presigned,
}

/// A request whose signature checked out. The body may still fail its own checks.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The access key that signed; the permission seam decides what it may do.
    pub access_key: String,
    /// Header or presigned.
    pub mechanism: AuthMechanism,
    /// How the body is protected.
    pub payload: PayloadMode,
    /// The request signature: the seed of the chunk signature chain.
    pub seed_signature: String,
    signer: Signer,
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
    pub fn chunk_verifier(&self) -> Option<ChunkVerifier> {
        match self.payload {
            PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer => {
                Some(ChunkVerifier::new(
                    self.signer.key.clone(),
                    self.signer.date.clone(),
                    &self.signer.scope,
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
        signer,
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
        signer,
    })
}

/// Verifies whichever SigV4 form the request uses; `Ok(None)` for an anonymous request
/// (the permission seam decides whether anonymous access is allowed).
pub fn verify_request(
    store: &dyn CredentialStore,
    config: &VerifierConfig,
    req: &SignedRequest<'_>,
    now: SystemTime,
) -> Result<Option<Verified>, AuthError> {
    let pairs = parse_query(req.query);
    let has = |name: &str| pairs.iter().any(|(n, _)| n == name);
    let presigned = has("X-Amz-Algorithm");
    let presigned_v2 = has("AWSAccessKeyId") && has("Signature");
    match (req.header("authorization"), presigned || presigned_v2) {
        (Some(_), true) => Err(AuthError::MultipleAuthMechanisms),
        (Some(value), false) if value.starts_with(ALGORITHM) => {
            verify_header(store, config, req, now).map(Some)
        }
        (Some(_), false) => Err(AuthError::UnsupportedAuthScheme),
        (None, true) if presigned => verify_presigned(store, config, req, now).map(Some),
        (None, true) => Err(AuthError::UnsupportedAuthScheme),
        (None, false) => Ok(None),
    }
}
