//! The `x-amz-copy-source` header of CopyObject and UploadPartCopy: `bucket/key` or
//! `/bucket/key`, percent-encoded, with an optional `?versionId=` suffix.
//!
//! Buckets are never versioned here, so the only version a source can name is `null` (the
//! one version an unversioned object has); any other id is refused.

use percent_encoding::percent_decode_str;
use stratum_core::{BucketName, ObjectKey};

use crate::error::{S3Error, S3ErrorCode};

/// Parses an `x-amz-copy-source` value into the source bucket and key.
///
/// The query part is split off before decoding, so an encoded `?` (`%3F`) stays in the key.
/// A `+` is a literal plus sign (the header is path-encoded, not form-encoded).
pub(crate) fn parse_copy_source(value: &str) -> Result<(BucketName, ObjectKey), S3Error> {
    let value = value.trim();
    let (path, query) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value, None),
    };
    if let Some(query) = query {
        check_version(query)?;
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid("Invalid copy source encoding"))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (bucket, key) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| {
            invalid("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        })?;
    let bucket = BucketName::new(bucket).map_err(S3Error::from)?;
    let key = ObjectKey::new(key).map_err(S3Error::from)?;
    Ok((bucket, key))
}

/// The copy source's query: only `versionId`, and only the `null` version.
fn check_version(query: &str) -> Result<(), S3Error> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, version) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "versionId" {
            return Err(invalid("Unsupported copy source parameter"));
        }
        let version = percent_decode_str(version).decode_utf8_lossy();
        if version != "null" {
            return Err(invalid("Invalid version id specified"));
        }
    }
    Ok(())
}

fn invalid(message: &'static str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(v: &str) -> (String, String) {
        let (b, k) = parse_copy_source(v).unwrap();
        (b.to_string(), k.to_string())
    }

    fn code(v: &str) -> S3ErrorCode {
        parse_copy_source(v).unwrap_err().code
    }

    #[test]
    fn bucket_and_key_with_or_without_leading_slash() {
        assert_eq!(ok("/src/a/b.txt"), ("src".into(), "a/b.txt".into()));
        assert_eq!(ok("src/a/b.txt"), ("src".into(), "a/b.txt".into()));
    }

    #[test]
    fn keys_are_percent_decoded_after_the_query_is_split_off() {
        assert_eq!(ok("src/a%20b%3Fc+d"), ("src".into(), "a b?c+d".into()));
        assert_eq!(
            ok("src/k%C3%A9?versionId=null"),
            ("src".into(), "ké".into())
        );
    }

    #[test]
    fn only_the_null_version_is_accepted() {
        assert_eq!(
            code("src/k?versionId=3HL4kqtJ"),
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(code("src/k?other=1"), S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn malformed_sources_are_refused() {
        assert_eq!(code("src"), S3ErrorCode::InvalidArgument);
        assert_eq!(code("/src/"), S3ErrorCode::InvalidArgument);
        assert_eq!(code(""), S3ErrorCode::InvalidArgument);
        assert_eq!(code("Bad_Bucket/k"), S3ErrorCode::InvalidBucketName);
        assert_eq!(code("src/%FF"), S3ErrorCode::InvalidArgument);
        let long = format!("src/{}", "k".repeat(1025));
        assert_eq!(code(&long), S3ErrorCode::KeyTooLongError);
    }
}
