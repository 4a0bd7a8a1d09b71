//! Multipart uploads: create, upload part, upload part copy, complete, abort, list parts,
//! list uploads.
//!
//! The handlers parse and serialize; the engine keeps S3's rules (part numbers, ETags in the
//! completion, the 5 MiB minimum, ascending order). What is checked here is what only the
//! request carries: the part number's syntax, the copy source and its range and conditions,
//! the completion document's shape. ListMultipartUploads rolls keys up into common prefixes
//! here, since the engine lists uploads by key without a delimiter.

use std::time::SystemTime;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use stratum_core::{limits, ChecksumValue, ObjectKey, Tier, UploadId};
use stratum_engine::{successor, CompletedPart, PartInfo, PutOptions, RangeSpec, UploadRecord};
use stratum_tiering::Hint;

use super::bucket::{empty, Owner};
use super::copy_source::parse_copy_source;
use super::list::{encode, page_size, url_encoding, CommonPrefix};
use crate::error::{S3Error, S3ErrorCode};
use crate::headers::{
    self, checksum_headers, checksum_text, evaluate_conditions, iso8601, object_metadata,
    put_options, quoted, requested_algorithm, storage_class, write_condition, Conditional,
    COPY_SOURCE_CONDITIONS,
};
use crate::xml::{self, S3_NS};
use crate::Ctx;

/// Uploads fetched from the engine per call while rolling up common prefixes.
const UPLOADS_SCAN_PAGE: usize = 1000;

/// The `uploadId` query parameter.
fn upload_id(ctx: &Ctx) -> Result<UploadId, S3Error> {
    match ctx.query.get("uploadId") {
        Some(id) if !id.is_empty() => Ok(UploadId(id.to_owned())),
        _ => Err(S3Error::from(stratum_engine::EngineError::NoSuchUpload)),
    }
}

/// The `partNumber` query parameter: an integer in 1..=10,000.
fn part_number(ctx: &Ctx) -> Result<u32, S3Error> {
    ctx.query
        .get("partNumber")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| (1..=limits::PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

/// One `<ChecksumXXX>` element; the variant name is the element name.
#[derive(Serialize)]
#[allow(clippy::enum_variant_names)] // The names are AWS's element names.
enum ChecksumElement {
    ChecksumCRC32(String),
    ChecksumCRC32C(String),
    ChecksumCRC64NVME(String),
    ChecksumSHA1(String),
    ChecksumSHA256(String),
}

/// The checksum elements of a part or an object; a multipart object's (`parts > 0`) are
/// composite and carry S3's `-<parts>` suffix.
fn checksum_elements(checksums: &[ChecksumValue], parts: usize) -> Vec<ChecksumElement> {
    use stratum_core::ChecksumAlgorithm as A;
    checksums
        .iter()
        .map(|c| {
            let text = checksum_text(c, parts);
            match c.algorithm {
                A::Crc32 => ChecksumElement::ChecksumCRC32(text),
                A::Crc32c => ChecksumElement::ChecksumCRC32C(text),
                A::Crc64Nvme => ChecksumElement::ChecksumCRC64NVME(text),
                A::Sha1 => ChecksumElement::ChecksumSHA1(text),
                A::Sha256 => ChecksumElement::ChecksumSHA256(text),
            }
        })
        .collect()
}

#[derive(Serialize)]
struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
}

/// CreateMultipartUpload: the object's future metadata and the parts' checksum algorithm
/// are stored with the upload.
pub(crate) async fn create_multipart_upload(ctx: &Ctx) -> Result<Response, S3Error> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let (content_type, stored, user_metadata) = object_metadata(&ctx.headers)?;
    let algorithm = requested_algorithm(&ctx.headers)?;
    let opts = PutOptions {
        content_type,
        headers: stored,
        user_metadata,
        checksum_algorithms: algorithm.into_iter().collect(),
        ..PutOptions::default()
    };
    let upload = ctx
        .engine
        .create_multipart_upload(bucket, key, opts)
        .await?;
    let mut resp = xml::response(
        "InitiateMultipartUploadResult",
        &InitiateMultipartUploadResult {
            xmlns: S3_NS,
            bucket: bucket.to_string(),
            key: key.to_string(),
            upload_id: upload.upload_id.0,
        },
    )?;
    if let Some(a) = algorithm {
        resp.headers_mut().insert(
            "x-amz-checksum-algorithm",
            HeaderValue::from_static(a.aws_name()),
        );
    }
    Ok(resp)
}

/// UploadPart: the body streams into the engine with the digests the client sent (headers
/// or an `aws-chunked` trailer), which the engine checks before the part is recorded.
pub(crate) async fn upload_part(ctx: &Ctx, body: Body) -> Result<Response, S3Error> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let part_number = part_number(ctx)?;
    let id = upload_id(ctx)?;
    let (stream, info) = ctx.body(body)?;
    let length = info.length.ok_or_else(|| {
        S3Error::new(
            S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        )
    })?;
    let mut opts = put_options(&ctx.headers)?;
    opts.content_length = Some(length);
    if let Some((algorithm, slot)) = info.trailing {
        opts.checksum_algorithms.push(algorithm);
        opts.trailing_checksums = Some(slot);
    }
    let part = ctx
        .engine
        .upload_part(bucket, key, &id, part_number, stream, opts)
        .await?;
    Ok(part_response(&part))
}

/// The headers UploadPart answers with: the part's ETag and its checksums.
fn part_response(part: &PartInfo) -> Response {
    let mut resp = empty(StatusCode::OK);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&quoted(&part.etag)) {
        h.insert(http::header::ETAG, v);
    }
    checksum_headers(&part.checksums, 0, h);
    resp
}

#[derive(Serialize)]
struct CopyPartResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "LastModified")]
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "$value")]
    checksums: Vec<ChecksumElement>,
}

/// UploadPartCopy: a part made of (a range of) an existing object, after the copy-source
/// conditions hold against it. A condition that would answer 304 on a GET is a 412 here.
pub(crate) async fn upload_part_copy(ctx: &Ctx) -> Result<Response, S3Error> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let part_number = part_number(ctx)?;
    let id = upload_id(ctx)?;
    let source = ctx.header("x-amz-copy-source").ok_or_else(|| {
        S3Error::invalid_argument("Copy Source must mention the source bucket and key")
    })?;
    let (src_bucket, src_key) = parse_copy_source(source)?;
    let info = ctx.engine.head_object(&src_bucket, &src_key).await?;
    let conditional = evaluate_conditions(
        &ctx.headers,
        COPY_SOURCE_CONDITIONS,
        &info.etag,
        info.last_modified_ms,
    )?;
    if conditional == Conditional::NotModified {
        return Err(S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        ));
    }
    let range = ctx
        .header("x-amz-copy-source-range")
        .map(|r| copy_range(r, info.size))
        .transpose()?;
    let part = ctx
        .engine
        .upload_part_copy(
            bucket,
            key,
            &id,
            part_number,
            &src_bucket,
            &src_key,
            range,
            // The version copied must be the one the conditions and range were checked on.
            Some(&info.etag),
        )
        .await?;
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    xml::response(
        "CopyPartResult",
        &CopyPartResult {
            xmlns: S3_NS,
            last_modified: iso8601(now_ms),
            etag: quoted(&part.etag),
            checksums: checksum_elements(&part.checksums, 0),
        },
    )
}

/// `x-amz-copy-source-range: bytes=first-last`, both inclusive and inside the source.
fn copy_range(value: &str, size: u64) -> Result<RangeSpec, S3Error> {
    let (first, last) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last \
                 where first and last are the zero-based offsets of the first and last bytes \
                 to copy",
            )
        })?;
    if first > last || last >= size {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        )
        .with("ActualObjectSize", size.to_string()));
    }
    Ok(RangeSpec::FromTo(first, last))
}

#[derive(Deserialize)]
struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    parts: Vec<CompletePart>,
}

#[derive(Deserialize)]
struct CompletePart {
    #[serde(rename = "PartNumber")]
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

#[derive(Serialize)]
struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Location")]
    location: String,
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "$value")]
    checksums: Vec<ChecksumElement>,
}

/// CompleteMultipartUpload: the listed parts (ascending, each with its ETag) become the
/// object, under the request's write condition.
pub(crate) async fn complete_multipart_upload(ctx: &Ctx, body: Body) -> Result<Response, S3Error> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let id = upload_id(ctx)?;
    let cond = write_condition(&ctx.headers)?;
    let doc: CompleteMultipartUpload = xml::parse(&ctx.xml_body(body).await?)?;
    if doc.parts.is_empty() || doc.parts.len() > limits::PART_NUMBER_MAX as usize {
        return Err(S3Error::malformed_xml());
    }
    let parts = doc
        .parts
        .into_iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: headers::unquoted(&p.etag).to_owned(),
        })
        .collect();
    let info = ctx
        .engine
        .complete_multipart_upload(bucket, key, &id, parts, cond)
        .await?;
    // Its size is known only now: the policy places the version, and the mover moves it at
    // its next tick if its parts sit elsewhere.
    if let Some(mover) = &ctx.placement {
        let hint = Hint::from_user_metadata(&info.user_metadata);
        let mut placement = mover.place_new(bucket, info.size, hint);
        placement.write_to = info.tier;
        mover.placed(bucket, key, info.seq, placement);
    }
    xml::response(
        "CompleteMultipartUploadResult",
        &CompleteMultipartUploadResult {
            xmlns: S3_NS,
            location: location(ctx, key),
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: quoted(&info.etag),
            checksums: checksum_elements(&info.checksums, info.part_sizes.len()),
        },
    )
}

/// The object's URL as the client addressed this server (path-style unless the host named
/// the bucket).
fn location(ctx: &Ctx, key: &ObjectKey) -> String {
    let scheme = ctx.header("x-forwarded-proto").unwrap_or("http");
    let host = ctx.header("host").unwrap_or("localhost");
    let key = encode(key.as_str(), true);
    match ctx.target.bucket.as_ref() {
        Some(b) if !host.starts_with(&format!("{b}.")) => format!("{scheme}://{host}/{b}/{key}"),
        _ => format!("{scheme}://{host}/{key}"),
    }
}

/// AbortMultipartUpload: 204; the parts are freed.
pub(crate) async fn abort_multipart_upload(ctx: &Ctx) -> Result<Response, S3Error> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let id = upload_id(ctx)?;
    ctx.engine.abort_multipart_upload(bucket, key, &id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Serialize)]
struct ListPartsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
    #[serde(rename = "PartNumberMarker")]
    part_number_marker: u32,
    #[serde(rename = "NextPartNumberMarker")]
    next_part_number_marker: u32,
    #[serde(rename = "MaxParts")]
    max_parts: usize,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Part")]
    parts: Vec<Part>,
    #[serde(rename = "Initiator")]
    initiator: Owner,
    #[serde(rename = "Owner")]
    owner: Owner,
    #[serde(rename = "StorageClass")]
    storage_class: &'static str,
    #[serde(rename = "ChecksumAlgorithm", skip_serializing_if = "Option::is_none")]
    checksum_algorithm: Option<&'static str>,
}

#[derive(Serialize)]
struct Part {
    #[serde(rename = "PartNumber")]
    part_number: u32,
    #[serde(rename = "LastModified")]
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "$value")]
    checksums: Vec<ChecksumElement>,
    #[serde(rename = "Size")]
    size: u64,
}

/// ListParts: parts after `part-number-marker`, at most `max-parts` (1000 by default and at
/// most).
pub(crate) async fn list_parts(ctx: &Ctx) -> Result<Response, S3Error> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let id = upload_id(ctx)?;
    let marker = match ctx.query.get("part-number-marker") {
        None => 0,
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            S3Error::invalid_argument(
                "Provided part-number-marker not an integer or within integer range",
            )
        })?,
    };
    let max_parts = page_size(
        &ctx.query,
        "max-parts",
        limits::LIST_KEYS_MAX,
        limits::LIST_KEYS_MAX,
    )?;
    let page = ctx
        .engine
        .list_parts(bucket, key, &id, marker, max_parts)
        .await?;
    let next = page.parts.last().map_or(marker, |p| p.part_number);
    let doc = ListPartsResult {
        xmlns: S3_NS,
        bucket: bucket.to_string(),
        key: key.to_string(),
        upload_id: id.0,
        part_number_marker: marker,
        next_part_number_marker: next,
        max_parts,
        is_truncated: page.is_truncated,
        parts: page
            .parts
            .iter()
            .map(|p| Part {
                part_number: p.part_number,
                last_modified: iso8601(p.last_modified_ms),
                etag: quoted(&p.etag),
                checksums: checksum_elements(&p.checksums, 0),
                size: p.size,
            })
            .collect(),
        initiator: Owner::stratum(),
        owner: Owner::stratum(),
        storage_class: storage_class(Tier::Hot),
        checksum_algorithm: page.upload.checksum_algorithm.map(|a| a.aws_name()),
    };
    xml::response("ListPartsResult", &doc)
}

#[derive(Serialize)]
struct ListMultipartUploadsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "KeyMarker")]
    key_marker: String,
    #[serde(rename = "UploadIdMarker")]
    upload_id_marker: String,
    #[serde(rename = "NextKeyMarker", skip_serializing_if = "Option::is_none")]
    next_key_marker: Option<String>,
    #[serde(rename = "NextUploadIdMarker", skip_serializing_if = "Option::is_none")]
    next_upload_id_marker: Option<String>,
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    delimiter: Option<String>,
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    encoding_type: Option<&'static str>,
    #[serde(rename = "MaxUploads")]
    max_uploads: usize,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Upload")]
    uploads: Vec<Upload>,
    #[serde(rename = "CommonPrefixes")]
    common_prefixes: Vec<CommonPrefix>,
}

#[derive(Serialize)]
struct Upload {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
    #[serde(rename = "Initiator")]
    initiator: Owner,
    #[serde(rename = "Owner")]
    owner: Owner,
    #[serde(rename = "StorageClass")]
    storage_class: &'static str,
    #[serde(rename = "Initiated")]
    initiated: String,
    #[serde(rename = "ChecksumAlgorithm", skip_serializing_if = "Option::is_none")]
    checksum_algorithm: Option<&'static str>,
}

/// One page of uploads and common prefixes.
#[derive(Default)]
struct UploadsPage {
    uploads: Vec<UploadRecord>,
    common_prefixes: Vec<String>,
    is_truncated: bool,
    /// The last entry, when truncated: a key and upload id, or a common prefix.
    next: Option<(String, Option<String>)>,
}

/// What ListMultipartUploads asks for.
struct UploadsQuery {
    prefix: String,
    delimiter: Option<String>,
    key_marker: String,
    upload_id_marker: String,
    max_uploads: usize,
}

/// ListMultipartUploads: uploads by key then upload id, after `key-marker` (all of that
/// key's uploads) or after `key-marker` + `upload-id-marker`, keys rolled up by `delimiter`.
pub(crate) async fn list_multipart_uploads(ctx: &Ctx) -> Result<Response, S3Error> {
    let q = &ctx.query;
    let url = url_encoding(q)?;
    let query = UploadsQuery {
        prefix: q.get("prefix").unwrap_or("").to_owned(),
        delimiter: q
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        key_marker: q.get("key-marker").unwrap_or("").to_owned(),
        upload_id_marker: q.get("upload-id-marker").unwrap_or("").to_owned(),
        max_uploads: page_size(
            q,
            "max-uploads",
            limits::LIST_KEYS_MAX,
            limits::LIST_KEYS_MAX,
        )?,
    };
    let page = collect_uploads(ctx, &query).await?;
    let (next_key_marker, next_upload_id_marker) = match page.next {
        Some((key, id)) => (Some(encode(&key, url)), id),
        None => (None, None),
    };
    let doc = ListMultipartUploadsResult {
        xmlns: S3_NS,
        bucket: ctx.bucket()?.to_string(),
        key_marker: encode(&query.key_marker, url),
        upload_id_marker: query.upload_id_marker.clone(),
        next_key_marker,
        next_upload_id_marker,
        delimiter: query.delimiter.as_deref().map(|d| encode(d, url)),
        prefix: q.get("prefix").map(|p| encode(p, url)),
        encoding_type: url.then_some("url"),
        max_uploads: query.max_uploads,
        is_truncated: page.is_truncated,
        uploads: page
            .uploads
            .into_iter()
            .map(|u| Upload {
                key: encode(u.key.as_str(), url),
                upload_id: u.upload_id.0,
                initiator: Owner::stratum(),
                owner: Owner::stratum(),
                storage_class: storage_class(Tier::Hot),
                initiated: iso8601(u.initiated_ms),
                checksum_algorithm: u.checksum_algorithm.map(|a| a.aws_name()),
            })
            .collect(),
        common_prefixes: page
            .common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: encode(p, url),
            })
            .collect(),
    };
    xml::response("ListMultipartUploadsResult", &doc)
}

/// Pages through the engine's uploads, rolling keys up into common prefixes and seeking past
/// each prefix, until `max_uploads` entries (uploads plus prefixes) are found.
async fn collect_uploads(ctx: &Ctx, q: &UploadsQuery) -> Result<UploadsPage, S3Error> {
    let bucket = ctx.bucket()?;
    let mut page = UploadsPage::default();
    // Strictly after (key, upload id). Without an upload-id marker, every upload of the
    // marker key is skipped: `key + NUL` is the smallest key after it.
    let mut after = match (q.key_marker.is_empty(), q.upload_id_marker.is_empty()) {
        (true, _) => None,
        (false, false) => Some((q.key_marker.clone(), q.upload_id_marker.clone())),
        (false, true) => Some((format!("{}\u{0}", q.key_marker), String::new())),
    };
    if q.max_uploads == 0 {
        ctx.engine.head_bucket(bucket).await?;
        return Ok(page);
    }
    let mut count = 0;
    loop {
        let batch = ctx
            .engine
            .list_multipart_uploads(bucket, &q.prefix, after.clone(), UPLOADS_SCAN_PAGE)
            .await?;
        let mut seek = None;
        for u in batch.uploads {
            let key = u.key.as_str().to_owned();
            if let Some(cp) = rolled_up(&key, &q.prefix, q.delimiter.as_deref()) {
                // A key marker inside the prefix means an earlier page returned it.
                if !q.key_marker.starts_with(&cp) {
                    if count == q.max_uploads {
                        page.is_truncated = true;
                        return Ok(page);
                    }
                    count += 1;
                    page.next = Some((cp.clone(), None));
                    page.common_prefixes.push(cp.clone());
                }
                seek = Some(successor(&cp));
                break;
            }
            if count == q.max_uploads {
                page.is_truncated = true;
                return Ok(page);
            }
            count += 1;
            page.next = Some((key.clone(), Some(u.upload_id.0.clone())));
            after = Some((key, u.upload_id.0.clone()));
            page.uploads.push(u);
        }
        match seek {
            // Nothing sorts after the prefix's keys.
            Some(None) => break,
            Some(Some(next)) => after = Some((next, String::new())),
            None if batch.is_truncated => {}
            None => break,
        }
    }
    page.next = None;
    Ok(page)
}

/// The common prefix `key` rolls up into, if the delimiter occurs after the prefix.
fn rolled_up(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let d = delimiter?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(d)
        .map(|i| key[..prefix.len() + i + d.len()].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_are_inclusive_and_inside_the_source() {
        assert_eq!(
            copy_range("bytes=0-9", 10).unwrap(),
            RangeSpec::FromTo(0, 9)
        );
        assert_eq!(
            copy_range("bytes=10-10", 10).unwrap_err().code,
            S3ErrorCode::InvalidRange
        );
        assert_eq!(
            copy_range("bytes=5-4", 10).unwrap_err().code,
            S3ErrorCode::InvalidRange
        );
        assert_eq!(
            copy_range("bytes=0-", 10).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            copy_range("0-4", 10).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn keys_roll_up_after_the_prefix() {
        assert_eq!(rolled_up("a/b/c", "a/", Some("/")).as_deref(), Some("a/b/"));
        assert_eq!(rolled_up("a/b", "a/", Some("/")), None);
        assert_eq!(rolled_up("a/b", "a/", None), None);
        assert_eq!(successor("a/").as_deref(), Some("a0"));
    }

    #[test]
    fn checksum_elements_serialize_by_name_with_the_parts_suffix() {
        #[derive(Serialize)]
        struct Doc {
            #[serde(rename = "ETag")]
            etag: &'static str,
            #[serde(rename = "$value")]
            checksums: Vec<ChecksumElement>,
            #[serde(rename = "Size")]
            size: u64,
        }
        let c = ChecksumValue {
            algorithm: stratum_core::ChecksumAlgorithm::Crc32,
            digest: vec![0, 0, 0, 1],
        };
        let s = xml::to_string(
            "Part",
            &Doc {
                etag: "x",
                checksums: checksum_elements(&[c], 3),
                size: 1,
            },
        )
        .unwrap();
        assert!(
            s.contains("<ETag>x</ETag><ChecksumCRC32>AAAAAQ==-3</ChecksumCRC32><Size>1</Size>"),
            "{s}"
        );
    }
}
