//! AWS Signature Version 2 for presigned URLs: S3's legacy "query string request
//! authentication" (`?AWSAccessKeyId=..&Signature=..&Expires=..`), which boto3's
//! `generate_presigned_url` and awscli v1's `aws s3 presign` still produce by default.
//!
//! The string to sign is
//!
//! ```text
//! HTTP-Verb \n Content-MD5 \n Content-Type \n Expires \n CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! and the signature is `base64(HMAC-SHA1(secret, string_to_sign))`. Every piece is built the
//! way botocore's `HmacV1Auth`/`HmacV1QueryAuth` build it, since that is the client that matters:
//!
//! * `Content-MD5` and `Content-Type` are the request's headers, trimmed, or empty.
//! * `CanonicalizedAmzHeaders`: every `x-amz-*` header, name lower-cased, values trimmed and a
//!   repeated header's values joined with `,`, sorted by name, one `name:value\n` each. botocore
//!   moves the `x-amz-*` headers it signed into the URL's query string, so an `x-amz-*` query
//!   parameter counts as that header when the request does not send the header itself (this is
//!   also how S3 carries `x-amz-security-token` in a v2 URL).
//! * `CanonicalizedResource`: `/bucket/key` with the key exactly as the client percent-encoded it
//!   in the request path (never decoded and re-encoded), then the [`SUBRESOURCES`] present in
//!   the query, sorted by name, `?name` or `?name=value` joined with `&`, each value
//!   percent-decoded (but `+` kept, as Python's `unquote` does). A bucket-only path-style request
//!   (`/bucket`) is signed by botocore as `/bucket/`; both forms name the same resource, so both
//!   are accepted. A virtual-hosted-style request's bucket comes from `Host` (see
//!   [`virtual_host_bucket`]).
//!
//! Pure functions of their inputs; the verification itself lives in
//! [`crate::verify::verify_presigned_v2`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use sha1::Sha1;

use crate::{AuthError, SecretKey};

/// The query parameter naming the access key of a SigV2 presigned URL.
pub const ACCESS_KEY_PARAM: &str = "AWSAccessKeyId";
/// The query parameter carrying the base64 signature of a SigV2 presigned URL.
pub const SIGNATURE_PARAM: &str = "Signature";
/// The query parameter carrying the expiry (unix seconds) of a SigV2 presigned URL.
pub const EXPIRES_PARAM: &str = "Expires";

/// The query parameters that are part of the canonical resource: botocore's
/// `HmacV1Auth.QSAOfInterest`, a superset of the list in the S3 documentation (`acl`, `cors`,
/// `delete`, `lifecycle`, `location`, `logging`, `notification`, `partNumber`, `policy`,
/// `requestPayment`, `restore`, `tagging`, `torrent`, `uploadId`, `uploads`, `versionId`,
/// `versioning`, `versions`, `website` and the six `response-*` overrides).
pub const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

fn query_error(reason: &'static str) -> AuthError {
    AuthError::AuthorizationQueryParametersError { reason }
}

/// Percent-decodes `raw`; with `plus_is_space`, `+` is a space first (form encoding).
fn decode(raw: &str, plus_is_space: bool) -> String {
    if plus_is_space && raw.contains('+') {
        percent_decode_str(&raw.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    } else {
        percent_decode_str(raw).decode_utf8_lossy().into_owned()
    }
}

/// The authentication parameters of a SigV2 presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedV2Params {
    /// `AWSAccessKeyId`, decoded.
    pub access_key: String,
    /// `Signature`, decoded: the base64 HMAC-SHA1. A literal `+` stays `+` (base64 never holds
    /// a space, and some clients do not escape it).
    pub signature: String,
    /// `Expires` as sent (ASCII digits): it is signed as text.
    pub expires_text: String,
    /// `Expires` as unix seconds.
    pub expires: u64,
}

impl PresignedV2Params {
    /// Reads the three parameters from a raw query string. Each must appear exactly once;
    /// `Expires` must be a non-negative integer.
    pub fn parse(raw_query: &str) -> Result<Self, AuthError> {
        let (mut access_key, mut signature, mut expires) = (None, None, None);
        for piece in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let (slot, plus_is_space) = match decode(name, true).as_str() {
                ACCESS_KEY_PARAM => (&mut access_key, true),
                SIGNATURE_PARAM => (&mut signature, false),
                EXPIRES_PARAM => (&mut expires, true),
                _ => continue,
            };
            if slot.replace(decode(value, plus_is_space)).is_some() {
                return Err(query_error(
                    "AWSAccessKeyId, Signature and Expires may appear only once",
                ));
            }
        }
        let (Some(access_key), Some(signature), Some(expires_text)) =
            (access_key, signature, expires)
        else {
            return Err(query_error(
                "Query-string authentication requires the Signature, Expires and \
                 AWSAccessKeyId parameters",
            ));
        };
        if access_key.is_empty() || signature.is_empty() {
            return Err(query_error(
                "AWSAccessKeyId and Signature must not be empty",
            ));
        }
        let expires = Some(&expires_text)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<u64>().ok())
            .ok_or(query_error("Expires must be a unix time in seconds"))?;
        Ok(PresignedV2Params {
            access_key,
            signature,
            expires_text,
            expires,
        })
    }
}

/// `CanonicalizedAmzHeaders`: one `name:value\n` per `x-amz-*` header, sorted by name, names
/// lower-cased, values trimmed, a repeated header's values joined with `,`. An `x-amz-*`
/// parameter of `query` (decoded pairs) stands for the header of that name when the request
/// does not send it.
pub fn canonical_amz_headers(headers: &[(&str, &str)], query: &[(String, String)]) -> String {
    let mut amz: Vec<(String, Vec<&str>)> = Vec::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("x-amz-") {
            match amz.iter_mut().find(|(n, _)| *n == lower) {
                Some((_, values)) => values.push(value.trim()),
                None => amz.push((lower, vec![value.trim()])),
            }
        }
    }
    let sent = amz.len();
    for (name, value) in query {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("x-amz-") || amz[..sent].iter().any(|(n, _)| *n == lower) {
            continue;
        }
        match amz[sent..].iter_mut().find(|(n, _)| *n == lower) {
            Some((_, values)) => values.push(value.trim()),
            None => amz.push((lower, vec![value.trim()])),
        }
    }
    amz.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (name, values) in amz {
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// The sub-resource suffix of the canonical resource: `?` and the [`SUBRESOURCES`] present
/// in `raw_query`, stably sorted by name, as `name` (no `=` sent) or `name=value` (value
/// percent-decoded, `+` kept), joined with `&`; empty if there are none.
pub fn canonical_subresources(raw_query: &str) -> String {
    let mut found: Vec<(&str, Option<String>)> = raw_query
        .split('&')
        .filter_map(|piece| {
            let (name, value) = match piece.split_once('=') {
                Some((name, value)) => (name, Some(decode(value, false))),
                None => (piece, None),
            };
            SUBRESOURCES.contains(&name).then_some((name, value))
        })
        .collect();
    if found.is_empty() {
        return String::new();
    }
    found.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::from("?");
    for (i, (name, value)) in found.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// The bucket of a virtual-hosted-style request: `Host` (port stripped, lower-cased) is
/// `<bucket>.<domain>` for one of `domains`. The same rule as the S3 layer's addressing.
pub fn virtual_host_bucket(host: Option<&str>, domains: &[String]) -> Option<String> {
    let host = host?;
    let host = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| h)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let host = host.to_ascii_lowercase();
    domains.iter().find_map(|domain| {
        host.strip_suffix(domain.to_ascii_lowercase().as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|bucket| !bucket.is_empty())
            .map(str::to_owned)
    })
}

/// The path part of the canonical resource, as the client may have signed it: the raw
/// request path (`/` if empty) with the virtual-hosted bucket in front, if any. A bucket-only
/// path-style request (`/bucket`) gives two candidates, `/bucket/` (botocore) and `/bucket`.
pub fn resource_paths(raw_path: &str, virtual_bucket: Option<&str>) -> Vec<String> {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    match virtual_bucket {
        Some(bucket) => vec![format!("/{bucket}{path}")],
        None => {
            let bucket_only = path.len() > 1 && !path[1..].contains('/');
            if bucket_only {
                vec![format!("{path}/"), path.to_owned()]
            } else {
                vec![path.to_owned()]
            }
        }
    }
}

/// The pieces of a SigV2 string to sign.
#[derive(Debug, Clone, Copy)]
pub struct StringToSignParts<'a> {
    /// The HTTP method, upper case.
    pub method: &'a str,
    /// The `Content-MD5` header, trimmed, or empty.
    pub content_md5: &'a str,
    /// The `Content-Type` header, trimmed, or empty.
    pub content_type: &'a str,
    /// `Expires` as sent (for header-signed v2 this line is the `Date`).
    pub expires: &'a str,
    /// `CanonicalizedAmzHeaders` (see [`canonical_amz_headers`]).
    pub amz_headers: &'a str,
    /// `CanonicalizedResource`: a [`resource_paths`] candidate and [`canonical_subresources`].
    pub resource: &'a str,
}

/// Joins the parts of a SigV2 string to sign.
pub fn string_to_sign(parts: &StringToSignParts<'_>) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}{}",
        parts.method,
        parts.content_md5,
        parts.content_type,
        parts.expires,
        parts.amz_headers,
        parts.resource
    )
}

/// `base64(HMAC-SHA1(secret, string_to_sign))`.
pub fn sign(secret: &SecretKey, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC-SHA1 takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::parse_query;

    #[test]
    fn params_parse_and_reject_garbage() {
        let p = PresignedV2Params::parse(
            "AWSAccessKeyId=AK&Signature=a+b%2Fc%3D&Expires=1175139620&prefix=x",
        )
        .unwrap();
        assert_eq!(p.access_key, "AK");
        assert_eq!(p.signature, "a+b/c=");
        assert_eq!(
            (p.expires_text.as_str(), p.expires),
            ("1175139620", 1_175_139_620)
        );
        for bad in [
            "AWSAccessKeyId=AK&Signature=s",
            "AWSAccessKeyId=AK&Expires=1",
            "Signature=s&Expires=1",
            "AWSAccessKeyId=AK&Signature=s&Expires=-1",
            "AWSAccessKeyId=AK&Signature=s&Expires=1e9",
            "AWSAccessKeyId=AK&Signature=s&Expires=",
            "AWSAccessKeyId=AK&Signature=s&Expires=99999999999999999999999",
            "AWSAccessKeyId=AK&Signature=s&Expires=1&Expires=2",
            "AWSAccessKeyId=&Signature=s&Expires=1",
        ] {
            assert!(
                matches!(
                    PresignedV2Params::parse(bad),
                    Err(AuthError::AuthorizationQueryParametersError { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn amz_headers_are_sorted_joined_and_filled_from_the_query() {
        let headers = [
            ("X-Amz-Meta-B", " 2 "),
            ("Host", "h"),
            ("x-amz-meta-a", "1"),
            ("x-amz-meta-b", "3"),
        ];
        let query = parse_query("x-amz-acl=private&X-Amz-Meta-A=ignored&x-amz-meta-c=a%20b");
        assert_eq!(
            canonical_amz_headers(&headers, &query),
            "x-amz-acl:private\nx-amz-meta-a:1\nx-amz-meta-b:2,3\nx-amz-meta-c:a b\n"
        );
        assert_eq!(canonical_amz_headers(&[("Host", "h")], &[]), "");
    }

    #[test]
    fn subresources_are_filtered_sorted_and_decoded() {
        assert_eq!(canonical_subresources(""), "");
        assert_eq!(canonical_subresources("prefix=a&max-keys=2"), "");
        assert_eq!(
            canonical_subresources(
                "versionId=v%2B1%2F2&uploads&acl=&prefix=x&response-content-type=a+b%3B"
            ),
            "?acl=&response-content-type=a+b;&uploads&versionId=v+1/2"
        );
        // Stable by name: repeated names keep their order.
        assert_eq!(
            canonical_subresources("tagging=2&acl&tagging=1"),
            "?acl&tagging=2&tagging=1"
        );
    }

    #[test]
    fn resource_paths_cover_path_and_virtual_styles() {
        assert_eq!(resource_paths("", None), ["/"]);
        assert_eq!(resource_paths("/", None), ["/"]);
        assert_eq!(resource_paths("/bkt", None), ["/bkt/", "/bkt"]);
        assert_eq!(resource_paths("/bkt/", None), ["/bkt/"]);
        assert_eq!(resource_paths("/bkt/a%20b", None), ["/bkt/a%20b"]);
        assert_eq!(resource_paths("/", Some("bkt")), ["/bkt/"]);
        assert_eq!(resource_paths("/k/x", Some("bkt")), ["/bkt/k/x"]);
        let domains = ["s3.local".to_owned()];
        assert_eq!(
            virtual_host_bucket(Some("My.Bkt.S3.local:9000"), &domains).as_deref(),
            Some("my.bkt")
        );
        assert_eq!(virtual_host_bucket(Some("s3.local"), &domains), None);
        assert_eq!(virtual_host_bucket(Some("bkt.other"), &domains), None);
        assert_eq!(virtual_host_bucket(Some("bkt.s3.local"), &[]), None);
        assert_eq!(virtual_host_bucket(None, &domains), None);
    }

    #[test]
    fn signs_the_aws_documentation_example() {
        let to_sign = string_to_sign(&StringToSignParts {
            method: "GET",
            content_md5: "",
            content_type: "",
            expires: "1175139620",
            amz_headers: "",
            resource: "/johnsmith/photos/puppy.jpg",
        });
        assert_eq!(to_sign, "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(sign(&secret, &to_sign), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }
}
