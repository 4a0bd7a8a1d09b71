//! The HTTP headers of objects: what a PUT stores (content headers, user metadata, digests,
//! conditions), what GET and HEAD return, conditional requests, and the time formats.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use stratum_core::{limits, ChecksumAlgorithm, ChecksumValue, Tier};
use stratum_engine::PutCondition;
use stratum_engine::{ObjectInfo, PutOptions};

use crate::body::parse_checksum;
use crate::error::{S3Error, S3ErrorCode};

/// Stored content headers besides `Content-Type`, as S3 keeps them.
pub const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// The `x-amz-storage-class` an object's tier reports: hot is `STANDARD`, warm is
/// `STANDARD_IA`, cold is `GLACIER_IR` (readable at once, like S3 Glacier Instant Retrieval).
pub fn storage_class(tier: Tier) -> &'static str {
    match tier {
        Tier::Hot => "STANDARD",
        Tier::Warm => "STANDARD_IA",
        Tier::Cold => "GLACIER_IR",
    }
}

/// Storage classes a client may send; all are accepted, and placement is the tiering policy's.
const STORAGE_CLASSES: [&str; 9] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];

/// An ETag in quotes, as headers and XML carry it.
pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// An ETag without its quotes (and without a weak `W/` prefix).
pub fn unquoted(etag: &str) -> &str {
    etag.trim().trim_start_matches("W/").trim_matches('"')
}

fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// An RFC 7231 date (`Last-Modified`).
pub fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(system_time(ms))
}

/// An ISO 8601 timestamp with milliseconds (`LastModified` in XML).
pub fn iso8601(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&format).unwrap_or_default()
}

/// A header's value as text.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The checksum algorithms a request asks to be computed and stored:
/// `x-amz-sdk-checksum-algorithm` or `x-amz-checksum-algorithm`.
pub fn requested_algorithm(headers: &HeaderMap) -> Result<Option<ChecksumAlgorithm>, S3Error> {
    let Some(name) = header(headers, "x-amz-sdk-checksum-algorithm")
        .or_else(|| header(headers, "x-amz-checksum-algorithm"))
    else {
        return Ok(None);
    };
    ChecksumAlgorithm::from_aws_name(name.trim())
        .map(Some)
        .ok_or_else(|| S3Error::invalid_argument("Invalid checksum algorithm"))
}

/// The `x-amz-checksum-*` values sent as headers.
pub fn sent_checksums(headers: &HeaderMap) -> Result<Vec<ChecksumValue>, S3Error> {
    let mut out = Vec::new();
    for algorithm in ChecksumAlgorithm::ALL {
        let name = format!(
            "x-amz-checksum-{}",
            algorithm.aws_name().to_ascii_lowercase()
        );
        if let Some(v) = header(headers, &name) {
            out.push(parse_checksum(algorithm, v).ok_or_else(|| {
                S3Error::new(
                    S3ErrorCode::InvalidRequest,
                    format!("Value for {name} header is invalid."),
                )
            })?);
        }
    }
    Ok(out)
}

/// `Content-MD5`: base64 of 16 bytes, else InvalidDigest.
pub fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(v) = header(headers, "content-md5") else {
        return Ok(None);
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::InvalidDigest,
                "The Content-MD5 you specified is not valid.",
            )
        })?;
    Ok(Some(bytes))
}

/// The write condition of a PUT or CompleteMultipartUpload: `If-None-Match: *` or `If-Match`.
pub fn write_condition(headers: &HeaderMap) -> Result<PutCondition, S3Error> {
    match (
        header(headers, "if-none-match"),
        header(headers, "if-match"),
    ) {
        (Some(_), Some(_)) => Err(S3Error::new(
            S3ErrorCode::NotImplemented,
            "If-Match and If-None-Match together are not supported on writes",
        )),
        (Some(v), None) if v.trim() == "*" => Ok(PutCondition::IfNoneMatch),
        (Some(_), None) => Err(S3Error::new(
            S3ErrorCode::NotImplemented,
            "If-None-Match on a write supports only *",
        )),
        (None, Some(v)) => Ok(PutCondition::IfMatch(unquoted(v).to_owned())),
        (None, None) => Ok(PutCondition::None),
    }
}

/// Header name/value pairs as the engine stores them.
pub type Pairs = Vec<(String, String)>;

/// Content type, stored headers and user metadata of a write; MetadataTooLarge past 2 KB of
/// user metadata.
pub fn object_metadata(headers: &HeaderMap) -> Result<(Option<String>, Pairs, Pairs), S3Error> {
    let content_type = header(headers, "content-type").map(str::to_owned);
    let mut stored = Vec::new();
    for name in STORED_HEADERS {
        let Some(value) = header(headers, name) else {
            continue;
        };
        if name == "content-encoding" {
            // `aws-chunked` describes the transfer, not the object.
            let rest: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if !rest.is_empty() {
                stored.push((name.to_owned(), rest.join(", ")));
            }
        } else {
            stored.push((name.to_owned(), value.to_owned()));
        }
    }
    let mut user = Vec::new();
    let mut user_bytes = 0;
    for (name, value) in headers {
        if let Some(meta) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            user_bytes += meta.len() + value.len();
            user.push((meta.to_owned(), value));
        }
    }
    // A pinned tier hint with a typo would silently do nothing: refuse it.
    for (name, value) in &user {
        if name.eq_ignore_ascii_case(stratum_tiering::stats::TIER_HINT_NAME)
            && stratum_tiering::Hint::parse(value).is_none()
        {
            return Err(S3Error::new(
                S3ErrorCode::InvalidArgument,
                "x-amz-meta-stratum-tier must be hot, warm, cold or auto",
            )
            .with("ArgumentName", "x-amz-meta-stratum-tier")
            .with("ArgumentValue", value.clone()));
        }
    }
    if user_bytes > limits::USER_METADATA_BYTES_MAX {
        return Err(S3Error::new(
            S3ErrorCode::MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size.",
        )
        .with(
            "MaxSizeAllowed",
            limits::USER_METADATA_BYTES_MAX.to_string(),
        ));
    }
    if let Some(class) = header(headers, "x-amz-storage-class") {
        if !STORAGE_CLASSES.contains(&class) {
            return Err(S3Error::new(
                S3ErrorCode::InvalidStorageClass,
                "The storage class you specified is not valid",
            ));
        }
    }
    Ok((content_type, stored, user))
}

/// Everything a PUT or UploadPart takes from its headers, except the body length.
pub fn put_options(headers: &HeaderMap) -> Result<PutOptions, S3Error> {
    let (content_type, stored, user_metadata) = object_metadata(headers)?;
    let expected_checksums = sent_checksums(headers)?;
    let mut checksum_algorithms: Vec<ChecksumAlgorithm> =
        requested_algorithm(headers)?.into_iter().collect();
    checksum_algorithms.extend(expected_checksums.iter().map(|c| c.algorithm));
    Ok(PutOptions {
        content_type,
        headers: stored,
        user_metadata,
        checksum_algorithms,
        expected_md5: content_md5(headers)?,
        expected_checksums,
        content_length: None,
        condition: write_condition(headers)?,
        ..PutOptions::default()
    })
}

fn insert(map: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        map.insert(n, v);
    }
}

/// The headers GET and HEAD return for an object. Checksums are included when asked
/// (`x-amz-checksum-mode: ENABLED`) and the whole object is returned.
pub fn object_headers(info: &ObjectInfo, map: &mut HeaderMap, with_checksums: bool) {
    insert(map, "etag", &quoted(&info.etag));
    insert(map, "last-modified", &http_date(info.last_modified_ms));
    insert(
        map,
        "content-type",
        info.content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    for (name, value) in &info.headers {
        insert(map, name, value);
    }
    for (name, value) in &info.user_metadata {
        insert(map, &format!("x-amz-meta-{name}"), value);
    }
    insert(map, "x-amz-storage-class", storage_class(info.tier));
    insert(map, "accept-ranges", "bytes");
    if with_checksums {
        checksum_headers(&info.checksums, info.part_sizes.len(), map);
    }
}

/// `x-amz-checksum-*` headers for stored checksums. A multipart object's (`parts > 0`) are
/// composite, `<base64>-<parts>`, and `x-amz-checksum-type` says which kind it is.
pub fn checksum_headers(checksums: &[ChecksumValue], parts: usize, map: &mut HeaderMap) {
    for c in checksums {
        let name = format!(
            "x-amz-checksum-{}",
            c.algorithm.aws_name().to_ascii_lowercase()
        );
        insert(map, &name, &checksum_text(c, parts));
    }
    if !checksums.is_empty() {
        let kind = if parts > 0 {
            "COMPOSITE"
        } else {
            "FULL_OBJECT"
        };
        insert(map, "x-amz-checksum-type", kind);
    }
}

/// A checksum as S3 prints it: base64, with `-<parts>` for a multipart object's composite.
pub fn checksum_text(c: &ChecksumValue, parts: usize) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&c.digest);
    if parts > 0 {
        format!("{b64}-{parts}")
    } else {
        b64
    }
}

/// What the read conditionals decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    /// Serve the object.
    Proceed,
    /// 304 Not Modified.
    NotModified,
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` as S3
/// does (RFC 7232 order: an `If-Match` that holds overrides a false `If-Unmodified-Since`; an
/// `If-None-Match` that fails overrides a true `If-Modified-Since`).
pub fn evaluate_conditions(
    headers: &HeaderMap,
    names: [&str; 4],
    etag: &str,
    last_modified_ms: i64,
) -> Result<Conditional, S3Error> {
    let [if_match, if_unmodified, if_none_match, if_modified] = names;
    let failed = || {
        S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
    };
    // Compare at second granularity, as HTTP dates carry.
    let modified_s = last_modified_ms.div_euclid(1000);
    let date = |name: &str| {
        header(headers, name)
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
    };
    let matches = |list: &str| list.split(',').map(unquoted).any(|t| t == "*" || t == etag);
    let if_match_value = header(headers, if_match);
    if let Some(list) = if_match_value {
        if !matches(list) {
            return Err(failed());
        }
    } else if let Some(since) = date(if_unmodified) {
        if modified_s > since {
            return Err(failed());
        }
    }
    if let Some(list) = header(headers, if_none_match) {
        if matches(list) {
            return Ok(Conditional::NotModified);
        }
    } else if let Some(since) = date(if_modified) {
        if modified_s <= since {
            return Ok(Conditional::NotModified);
        }
    }
    Ok(Conditional::Proceed)
}

/// The names of the read conditionals on GET and HEAD.
pub const READ_CONDITIONS: [&str; 4] = [
    "if-match",
    "if-unmodified-since",
    "if-none-match",
    "if-modified-since",
];

/// The names of the copy-source conditionals.
pub const COPY_SOURCE_CONDITIONS: [&str; 4] = [
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-unmodified-since",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-modified-since",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn formats() {
        assert_eq!(iso8601(1_255_369_830_123), "2009-10-12T17:50:30.123Z");
        assert_eq!(
            http_date(1_255_369_830_123),
            "Mon, 12 Oct 2009 17:50:30 GMT"
        );
        assert_eq!(unquoted("W/\"abc\""), "abc");
    }

    #[test]
    fn conditionals_follow_s3_precedence() {
        let ms = 1_255_369_830_123;
        let eval = |pairs| evaluate_conditions(&h(pairs), READ_CONDITIONS, "abc", ms);
        assert_eq!(eval(&[]).unwrap(), Conditional::Proceed);
        assert_eq!(
            eval(&[("if-match", "\"xyz\"")]).unwrap_err().code,
            S3ErrorCode::PreconditionFailed
        );
        // If-Match holds, so a false If-Unmodified-Since is ignored.
        assert_eq!(
            eval(&[
                ("if-match", "\"abc\""),
                ("if-unmodified-since", "Mon, 12 Oct 2009 00:00:00 GMT")
            ])
            .unwrap(),
            Conditional::Proceed
        );
        assert_eq!(
            eval(&[("if-none-match", "\"abc\"")]).unwrap(),
            Conditional::NotModified
        );
        assert_eq!(
            eval(&[("if-modified-since", "Mon, 12 Oct 2009 17:50:30 GMT")]).unwrap(),
            Conditional::NotModified
        );
        assert_eq!(
            eval(&[("if-modified-since", "Mon, 12 Oct 2009 17:50:29 GMT")]).unwrap(),
            Conditional::Proceed
        );
    }

    #[test]
    fn user_metadata_limit_and_aws_chunked_encoding() {
        let big = "x".repeat(2100);
        assert_eq!(
            put_options(&h(&[("x-amz-meta-a", &big)])).unwrap_err().code,
            S3ErrorCode::MetadataTooLarge
        );
        let o = put_options(&h(&[("content-encoding", "aws-chunked,gzip")])).unwrap();
        assert_eq!(o.headers, vec![("content-encoding".into(), "gzip".into())]);
        let o = put_options(&h(&[("content-encoding", "aws-chunked")])).unwrap();
        assert!(o.headers.is_empty());
    }
}
