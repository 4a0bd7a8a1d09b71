//! Listing: ListObjects (v1), ListObjectsV2, ListObjectVersions (unversioned buckets).
//!
//! All three walk the same engine listing ([`ListParams`] → [`ListPage`]): prefix, delimiter
//! roll-up into common prefixes, an exclusive start key and a page size. They differ only
//! in how the start key travels (v1 `marker`, v2 `continuation-token` / `start-after`,
//! versions `key-marker`) and in the XML. A v2 continuation token is the base64 of the key
//! (or common prefix) the next page starts after: opaque to clients, checked on the way in.
//!
//! Buckets are never versioned, so ListObjectVersions reports each object as its one
//! version, `null`, latest, and never a delete marker.

use axum::response::Response;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use stratum_core::limits;
use stratum_engine::ObjectRecord;
use stratum_engine::{ListPage, ListParams};

use super::bucket::Owner;
use crate::error::S3Error;
use crate::headers::{iso8601, quoted, storage_class};
use crate::request::Query;
use crate::xml::{self, S3_NS};
use crate::Ctx;

/// What `encoding-type=url` leaves as it is: the unreserved characters and `/`. A space is
/// `%20` rather than S3's `+`: every client decoder (botocore's `unquote_plus`, Go's
/// `QueryUnescape`, plain percent-decoders) reads `%20` as a space, not all read `+` as one.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The `encoding-type` of a listing request: only `url` exists.
pub(crate) fn url_encoding(query: &Query) -> Result<bool, S3Error> {
    match query.get("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(S3Error::invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// `s` as the listing reports it: percent-encoded when `encoding-type=url` was asked.
pub(crate) fn encode(s: &str, url: bool) -> String {
    if url {
        utf8_percent_encode(s, URL_ENCODE).to_string()
    } else {
        s.to_owned()
    }
}

/// A page-size parameter (`max-keys`, `max-uploads`, `max-parts`): a non-negative integer,
/// `default` when absent, capped at `cap` (S3 returns at most that many, whatever is asked).
pub(crate) fn page_size(
    query: &Query,
    name: &'static str,
    default: usize,
    cap: usize,
) -> Result<usize, S3Error> {
    let Some(v) = query.get(name) else {
        return Ok(default);
    };
    let n: i64 = v.trim().parse().map_err(|_| {
        S3Error::invalid_argument(format!(
            "Provided {name} not an integer or within integer range"
        ))
    })?;
    if n < 0 {
        return Err(S3Error::invalid_argument(format!(
            "Argument {name} must be an integer between 0 and 2147483647"
        )));
    }
    Ok(usize::try_from(n).map_or(cap, |n| n.min(cap)))
}

/// A `CommonPrefixes` element.
#[derive(Serialize)]
pub(crate) struct CommonPrefix {
    #[serde(rename = "Prefix")]
    pub(crate) prefix: String,
}

/// A `Contents` element of ListObjects and ListObjectsV2.
#[derive(Serialize)]
struct Contents {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "LastModified")]
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "ChecksumAlgorithm")]
    checksum_algorithm: Vec<&'static str>,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "Owner", skip_serializing_if = "Option::is_none")]
    owner: Option<Owner>,
    #[serde(rename = "StorageClass")]
    storage_class: &'static str,
}

impl Contents {
    fn new(key: &str, rec: &ObjectRecord, url: bool, owner: bool) -> Contents {
        Contents {
            key: encode(key, url),
            last_modified: iso8601(rec.last_modified_ms),
            etag: quoted(&rec.etag),
            checksum_algorithm: rec
                .checksums
                .iter()
                .map(|c| c.algorithm.aws_name())
                .collect(),
            size: rec.size,
            owner: owner.then(Owner::stratum),
            storage_class: storage_class(rec.location.tier),
        }
    }
}

/// The request parameters every listing shares.
struct Common {
    prefix: String,
    delimiter: Option<String>,
    max_keys: usize,
    url: bool,
}

impl Common {
    fn parse(query: &Query) -> Result<Common, S3Error> {
        Ok(Common {
            prefix: query.get("prefix").unwrap_or("").to_owned(),
            delimiter: query
                .get("delimiter")
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            max_keys: page_size(
                query,
                "max-keys",
                limits::LIST_KEYS_MAX,
                limits::LIST_KEYS_MAX,
            )?,
            url: url_encoding(query)?,
        })
    }

    async fn list(&self, ctx: &Ctx, start_after: Option<String>) -> Result<ListPage, S3Error> {
        let params = ListParams {
            prefix: self.prefix.clone(),
            delimiter: self.delimiter.clone(),
            start_after: start_after.filter(|s| !s.is_empty()),
            max_keys: self.max_keys,
        };
        Ok(ctx.engine.list_objects(ctx.bucket()?, params).await?)
    }

    fn common_prefixes(&self, page: &ListPage) -> Vec<CommonPrefix> {
        page.common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: encode(p, self.url),
            })
            .collect()
    }

    fn encoding_type(&self) -> Option<&'static str> {
        self.url.then_some("url")
    }
}

#[derive(Serialize)]
struct ListBucketResultV1 {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Prefix")]
    prefix: String,
    #[serde(rename = "Marker")]
    marker: String,
    #[serde(rename = "NextMarker", skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    #[serde(rename = "MaxKeys")]
    max_keys: usize,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Contents")]
    contents: Vec<Contents>,
    #[serde(rename = "CommonPrefixes")]
    common_prefixes: Vec<CommonPrefix>,
}

/// ListObjects (v1): `marker` is the exclusive start key; `NextMarker` is sent only with a
/// delimiter (without one, clients continue after the last key, as S3 documents).
pub(crate) async fn list_objects_v1(ctx: &Ctx) -> Result<Response, S3Error> {
    let common = Common::parse(&ctx.query)?;
    let marker = ctx.query.get("marker").unwrap_or("").to_owned();
    let page = common.list(ctx, Some(marker.clone())).await?;
    let next_marker = match (&common.delimiter, page.is_truncated) {
        (Some(_), true) => page
            .next_start_after
            .as_deref()
            .map(|m| encode(m, common.url)),
        _ => None,
    };
    let doc = ListBucketResultV1 {
        xmlns: S3_NS,
        name: ctx.bucket()?.to_string(),
        prefix: encode(&common.prefix, common.url),
        marker: encode(&marker, common.url),
        next_marker,
        max_keys: common.max_keys,
        delimiter: common.delimiter.as_deref().map(|d| encode(d, common.url)),
        encoding_type: common.encoding_type(),
        is_truncated: page.is_truncated,
        contents: page
            .objects
            .iter()
            .map(|(k, rec)| Contents::new(k.as_str(), rec, common.url, true))
            .collect(),
        common_prefixes: common.common_prefixes(&page),
    };
    xml::response("ListBucketResult", &doc)
}

#[derive(Serialize)]
struct ListBucketResultV2 {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Prefix")]
    prefix: String,
    #[serde(rename = "StartAfter", skip_serializing_if = "Option::is_none")]
    start_after: Option<String>,
    #[serde(rename = "ContinuationToken", skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
    #[serde(
        rename = "NextContinuationToken",
        skip_serializing_if = "Option::is_none"
    )]
    next_continuation_token: Option<String>,
    #[serde(rename = "KeyCount")]
    key_count: usize,
    #[serde(rename = "MaxKeys")]
    max_keys: usize,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Contents")]
    contents: Vec<Contents>,
    #[serde(rename = "CommonPrefixes")]
    common_prefixes: Vec<CommonPrefix>,
}

/// ListObjectsV2: a `continuation-token` (when present) wins over `start-after`; `Owner` only
/// with `fetch-owner=true`.
pub(crate) async fn list_objects_v2(ctx: &Ctx) -> Result<Response, S3Error> {
    let common = Common::parse(&ctx.query)?;
    let fetch_owner = match ctx.query.get("fetch-owner") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(S3Error::invalid_argument("Invalid fetch-owner value")),
    };
    let token = ctx.query.get("continuation-token");
    let start_after = ctx.query.get("start-after");
    let start = match token {
        Some(t) => Some(decode_token(t)?),
        None => start_after.map(str::to_owned),
    };
    let page = common.list(ctx, start).await?;
    let next_continuation_token = match (page.is_truncated, &page.next_start_after) {
        (true, Some(next)) => Some(encode_token(next)),
        _ => None,
    };
    let doc = ListBucketResultV2 {
        xmlns: S3_NS,
        name: ctx.bucket()?.to_string(),
        prefix: encode(&common.prefix, common.url),
        start_after: start_after.map(|s| encode(s, common.url)),
        continuation_token: token.map(str::to_owned),
        next_continuation_token,
        key_count: page.objects.len() + page.common_prefixes.len(),
        max_keys: common.max_keys,
        delimiter: common.delimiter.as_deref().map(|d| encode(d, common.url)),
        encoding_type: common.encoding_type(),
        is_truncated: page.is_truncated,
        contents: page
            .objects
            .iter()
            .map(|(k, rec)| Contents::new(k.as_str(), rec, common.url, fetch_owner))
            .collect(),
        common_prefixes: common.common_prefixes(&page),
    };
    xml::response("ListBucketResult", &doc)
}

/// A v2 continuation token: the base64 of the key the next page starts after.
fn encode_token(start_after: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(start_after)
}

/// Decodes a token made by [`encode_token`]; anything else is InvalidArgument.
fn decode_token(token: &str) -> Result<String, S3Error> {
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))
}

#[derive(Serialize)]
struct ListVersionsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Prefix")]
    prefix: String,
    #[serde(rename = "KeyMarker")]
    key_marker: String,
    #[serde(rename = "VersionIdMarker")]
    version_id_marker: String,
    #[serde(rename = "NextKeyMarker", skip_serializing_if = "Option::is_none")]
    next_key_marker: Option<String>,
    #[serde(
        rename = "NextVersionIdMarker",
        skip_serializing_if = "Option::is_none"
    )]
    next_version_id_marker: Option<&'static str>,
    #[serde(rename = "MaxKeys")]
    max_keys: usize,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Version")]
    versions: Vec<Version>,
    #[serde(rename = "CommonPrefixes")]
    common_prefixes: Vec<CommonPrefix>,
}

#[derive(Serialize)]
struct Version {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "VersionId")]
    version_id: &'static str,
    #[serde(rename = "IsLatest")]
    is_latest: bool,
    #[serde(rename = "LastModified")]
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "ChecksumAlgorithm")]
    checksum_algorithm: Vec<&'static str>,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "StorageClass")]
    storage_class: &'static str,
    #[serde(rename = "Owner")]
    owner: Owner,
}

/// The one version id an object of an unversioned bucket has.
const NULL_VERSION: &str = "null";

/// ListObjectVersions of an unversioned bucket: one `null` version per key. Since every key
/// has exactly that one version, `key-marker` with or without `version-id-marker=null`
/// continues after the key.
pub(crate) async fn list_object_versions(ctx: &Ctx) -> Result<Response, S3Error> {
    let common = Common::parse(&ctx.query)?;
    let key_marker = ctx.query.get("key-marker").unwrap_or("").to_owned();
    let version_id_marker = ctx.query.get("version-id-marker").unwrap_or("").to_owned();
    if !version_id_marker.is_empty() {
        if key_marker.is_empty() {
            return Err(S3Error::invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        if version_id_marker != NULL_VERSION {
            return Err(S3Error::invalid_argument("Invalid version id specified"));
        }
    }
    let page = common.list(ctx, Some(key_marker.clone())).await?;
    let (next_key_marker, next_version_id_marker) = match &page.next_start_after {
        Some(next) if page.is_truncated => {
            // After a common prefix there is no version to continue from.
            let is_prefix = page.common_prefixes.last() == Some(next);
            (
                Some(encode(next, common.url)),
                (!is_prefix).then_some(NULL_VERSION),
            )
        }
        _ => (None, None),
    };
    let doc = ListVersionsResult {
        xmlns: S3_NS,
        name: ctx.bucket()?.to_string(),
        prefix: encode(&common.prefix, common.url),
        key_marker: encode(&key_marker, common.url),
        version_id_marker,
        next_key_marker,
        next_version_id_marker,
        max_keys: common.max_keys,
        delimiter: common.delimiter.as_deref().map(|d| encode(d, common.url)),
        encoding_type: common.encoding_type(),
        is_truncated: page.is_truncated,
        versions: page
            .objects
            .iter()
            .map(|(k, rec)| Version {
                key: encode(k.as_str(), common.url),
                version_id: NULL_VERSION,
                is_latest: true,
                last_modified: iso8601(rec.last_modified_ms),
                etag: quoted(&rec.etag),
                checksum_algorithm: rec
                    .checksums
                    .iter()
                    .map(|c| c.algorithm.aws_name())
                    .collect(),
                size: rec.size,
                storage_class: storage_class(rec.location.tier),
                owner: Owner::stratum(),
            })
            .collect(),
        common_prefixes: common.common_prefixes(&page),
    };
    xml::response("ListVersionsResult", &doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_unreserved_and_slash() {
        assert_eq!(encode("a b/c+d~e_f.g-h", true), "a%20b/c%2Bd~e_f.g-h");
        assert_eq!(encode("é&<", true), "%C3%A9%26%3C");
        assert_eq!(encode("a b", false), "a b");
    }

    #[test]
    fn page_sizes_are_non_negative_integers_capped() {
        let q = |s: &str| Query::parse(s);
        assert_eq!(page_size(&q(""), "max-keys", 1000, 1000).unwrap(), 1000);
        assert_eq!(
            page_size(&q("max-keys=5"), "max-keys", 1000, 1000).unwrap(),
            5
        );
        assert_eq!(
            page_size(&q("max-keys=0"), "max-keys", 1000, 1000).unwrap(),
            0
        );
        assert_eq!(
            page_size(&q("max-keys=5000"), "max-keys", 1000, 1000).unwrap(),
            1000
        );
        assert!(page_size(&q("max-keys=-1"), "max-keys", 1000, 1000).is_err());
        assert!(page_size(&q("max-keys=abc"), "max-keys", 1000, 1000).is_err());
    }

    #[test]
    fn continuation_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_token(&encode_token("a/b c")).unwrap(), "a/b c");
        assert!(decode_token("!!!").is_err());
        assert!(decode_token("").is_err());
    }
}
