//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, CopyObject.
//!
//! GET and HEAD share one read plan (conditionals, `Range` or `partNumber`, response header
//! overrides); the body streams straight from the engine. A successful GET (whole or range)
//! or HEAD is reported to the access tracker, if the service has one.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use stratum_core::{limits, BucketName, ObjectKey, Tier};
use stratum_engine::{CopyOptions, MetadataDirective, ObjectInfo, RangeSpec};
use stratum_tiering::{AccessKind, Hint};

use super::copy_source::parse_copy_source;
use crate::error::{S3Error, S3ErrorCode};
use crate::headers::{
    self, evaluate_conditions, object_headers, quoted, Conditional, COPY_SOURCE_CONDITIONS,
    READ_CONDITIONS,
};
use crate::xml::{self, S3_NS};
use crate::Ctx;

/// `response-*` query parameters of GET and the headers they override.
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
    ("response-content-language", "content-language"),
    ("response-content-type", "content-type"),
    ("response-expires", "expires"),
];

/// PutObject: streams the verified body into the engine; 200 once durable.
pub(crate) async fn put_object(ctx: &Ctx, body: Body) -> Result<Response, S3Error> {
    let bucket = ctx.bucket()?;
    let key = ctx.key()?;
    let mut opts = headers::put_options(&ctx.headers)?;
    let hint = Hint::from_user_metadata(&opts.user_metadata);
    let (stream, info) = ctx.body(body)?;
    let Some(length) = info.length else {
        return Err(S3Error::new(
            S3ErrorCode::MissingContentLength,
            "You must provide the Content-Length HTTP header.",
        ));
    };
    if length > limits::PUT_BYTES_MAX {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size.",
        )
        .with("MaxSizeAllowed", limits::PUT_BYTES_MAX.to_string()));
    }
    opts.content_length = Some(length);
    if let Some((algorithm, slot)) = info.trailing {
        opts.checksum_algorithms.push(algorithm);
        opts.trailing_checksums = Some(slot);
    }
    // The tiering policy places the new version (a version placed in cold is written to a
    // local tier and packed by the mover's next tick). Without tiering, a pin to warm is
    // still honoured.
    let placement = ctx
        .placement
        .as_ref()
        .map(|mover| mover.place_new(bucket, length, hint));
    match &placement {
        Some(p) => opts.tier = p.write_to,
        None if hint.pinned() == Some(Tier::Warm) && ctx.engine.has_tier(Tier::Warm) => {
            opts.tier = Tier::Warm;
        }
        None => {}
    }
    let stored = ctx.engine.put_object(bucket, key, stream, opts).await?;
    if let (Some(mover), Some(p)) = (&ctx.placement, placement) {
        mover.placed(bucket, key, stored.seq, p);
    }
    let mut resp = empty(StatusCode::OK);
    insert(resp.headers_mut(), "etag", &quoted(&stored.etag));
    headers::checksum_headers(&stored.checksums, 0, resp.headers_mut());
    Ok(resp)
}

/// The part of an object a GET or HEAD returns.
struct ReadPlan {
    range: Option<RangeSpec>,
    /// `x-amz-mp-parts-count` when a part was asked for.
    parts_count: Option<usize>,
}

/// Parses `Range: bytes=...`. A header that is not a single byte range is ignored, as HTTP
/// allows (S3 serves the whole object).
fn parse_range(value: &str) -> Option<RangeSpec> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (false, false) => Some(RangeSpec::FromTo(first.parse().ok()?, last.parse().ok()?)),
        (false, true) => Some(RangeSpec::From(first.parse().ok()?)),
        (true, false) => Some(RangeSpec::Suffix(last.parse().ok()?)),
        (true, true) => None,
    }
}

/// Works out the range from `Range` or `partNumber` (needing the object's part sizes).
async fn read_plan(ctx: &Ctx) -> Result<ReadPlan, S3Error> {
    let range = ctx.header("range").and_then(parse_range);
    let Some(part) = ctx.query.get("partNumber") else {
        return Ok(ReadPlan {
            range,
            parts_count: None,
        });
    };
    if range.is_some() {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    let part: usize = part
        .parse()
        .ok()
        .filter(|p| (1..=limits::PART_NUMBER_MAX as usize).contains(p))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    let info = ctx.engine.head_object(ctx.bucket()?, ctx.key()?).await?;
    let sizes = if info.part_sizes.is_empty() {
        vec![info.size]
    } else {
        info.part_sizes.clone()
    };
    let Some(&size) = sizes.get(part - 1) else {
        return Err(S3Error::new(
            S3ErrorCode::InvalidPartNumber,
            "The requested partnumber is not satisfiable",
        ));
    };
    let start: u64 = sizes[..part - 1].iter().sum();
    let range = (size > 0).then(|| RangeSpec::FromTo(start, start + size - 1));
    Ok(ReadPlan {
        range,
        parts_count: (!info.part_sizes.is_empty()).then_some(sizes.len()),
    })
}

/// The headers and status of a GET or HEAD answer, after the conditionals.
fn read_response(
    ctx: &Ctx,
    info: &ObjectInfo,
    range: Option<(u64, u64)>,
    plan: &ReadPlan,
) -> Result<Response, S3Error> {
    match evaluate_conditions(
        &ctx.headers,
        READ_CONDITIONS,
        &info.etag,
        info.last_modified_ms,
    )? {
        Conditional::Proceed => {}
        Conditional::NotModified => {
            let mut resp = empty(StatusCode::NOT_MODIFIED);
            insert(resp.headers_mut(), "etag", &quoted(&info.etag));
            insert(
                resp.headers_mut(),
                "last-modified",
                &headers::http_date(info.last_modified_ms),
            );
            return Ok(resp);
        }
    }
    let whole = range.is_none() && plan.parts_count.is_none();
    let checksums = whole
        && ctx
            .header("x-amz-checksum-mode")
            .is_some_and(|m| m.eq_ignore_ascii_case("enabled"));
    let mut resp = Response::new(Body::empty());
    let h = resp.headers_mut();
    object_headers(info, h, checksums);
    let length = match range {
        Some((start, end)) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            insert(
                resp.headers_mut(),
                "content-range",
                &format!("bytes {start}-{}/{}", end - 1, info.size),
            );
            end - start
        }
        None => info.size,
    };
    let h = resp.headers_mut();
    insert(h, "content-length", &length.to_string());
    if let Some(count) = plan.parts_count {
        insert(h, "x-amz-mp-parts-count", &count.to_string());
    }
    for (param, header) in RESPONSE_OVERRIDES {
        if let Some(v) = ctx.query.get(param) {
            insert(h, header, v);
        }
    }
    Ok(resp)
}

/// GetObject.
pub(crate) async fn get_object(ctx: &Ctx) -> Result<Response, S3Error> {
    let plan = read_plan(ctx).await?;
    let get = ctx
        .engine
        .get_object(ctx.bucket()?, ctx.key()?, plan.range)
        .await?;
    let mut resp = read_response(ctx, &get.info, get.range, &plan)?;
    if resp.status() != StatusCode::NOT_MODIFIED {
        let stream = get.body.map(|r| r.map_err(std::io::Error::other));
        *resp.body_mut() = Body::from_stream(stream);
        // The bytes actually requested: the range's length, else the whole object.
        let bytes = get.range.map_or(get.info.size, |(start, end)| end - start);
        record_access(ctx, &get.info, AccessKind::Get { bytes });
    }
    Ok(resp)
}

/// Reports a successful read to the access tracker, if there is one. This is the one place
/// the live clock is read for tiering: the tracker and the policy take time as a value. A
/// tracker error (a failed metadata read on an object's first touch) costs the statistics
/// of this access, never the request.
fn record_access(ctx: &Ctx, info: &ObjectInfo, kind: AccessKind) {
    let Some(tracker) = &ctx.access else {
        return;
    };
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if let Err(e) = tracker.record(&info.bucket, &info.key, kind, info.size, now_s) {
        tracing::warn!(bucket = %info.bucket, key = %info.key, error = %e, "access not recorded");
    }
}

/// HeadObject: GetObject's headers without the body.
pub(crate) async fn head_object(ctx: &Ctx) -> Result<Response, S3Error> {
    let plan = read_plan(ctx).await?;
    let info = ctx.engine.head_object(ctx.bucket()?, ctx.key()?).await?;
    let range = plan
        .range
        .map(|r| r.resolve(info.size))
        .transpose()
        .map_err(S3Error::from)?;
    let resp = read_response(ctx, &info, range, &plan)?;
    record_access(ctx, &info, AccessKind::Head);
    Ok(resp)
}

/// DeleteObject: 204 whether or not the key existed; `If-Match` makes it conditional.
pub(crate) async fn delete_object(ctx: &Ctx) -> Result<Response, S3Error> {
    let cond = headers::write_condition(&ctx.headers)?;
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    if ctx.engine.delete_object(bucket, key, cond).await? {
        forget_access(ctx, bucket, key).await;
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Drops a deleted object's access statistics, so a later object at the key starts afresh
/// (off the reactor: it is one metadata write). A failure leaves stale statistics, which an
/// object of another size resets anyway; it never fails the delete.
pub(crate) async fn forget_access(ctx: &Ctx, bucket: &BucketName, key: &ObjectKey) {
    let Some(tracker) = ctx.access.clone() else {
        return;
    };
    let (b, k) = (bucket.clone(), key.clone());
    match tokio::task::spawn_blocking(move || tracker.forget(&b, &k)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(%bucket, %key, error = %e, "access statistics not dropped"),
        Err(e) => tracing::warn!(%bucket, %key, error = %e, "access statistics not dropped"),
    }
}

#[derive(Serialize)]
struct CopyObjectResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "LastModified")]
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
}

/// CopyObject: a server-side copy; the metadata directive decides the new metadata.
pub(crate) async fn copy_object(ctx: &Ctx) -> Result<Response, S3Error> {
    let (src_bucket, src_key) = parse_copy_source(ctx.header("x-amz-copy-source").unwrap_or(""))?;
    let (dst_bucket, dst_key) = (ctx.bucket()?, ctx.key()?);
    let directive = ctx
        .header("x-amz-metadata-directive")
        .unwrap_or("COPY")
        .to_ascii_uppercase();
    let metadata = match directive.as_str() {
        "COPY" => MetadataDirective::Copy,
        "REPLACE" => {
            let (content_type, stored, user_metadata) = headers::object_metadata(&ctx.headers)?;
            MetadataDirective::Replace {
                content_type,
                headers: stored,
                user_metadata,
            }
        }
        _ => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
    };
    if &src_bucket == dst_bucket
        && &src_key == dst_key
        && matches!(metadata, MetadataDirective::Copy)
        && ctx.header("x-amz-storage-class").is_none()
    {
        return Err(S3Error::new(
            S3ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location \
             or encryption attributes.",
        ));
    }
    let source_etag = source_conditions(ctx, &src_bucket, &src_key).await?;
    // The tiering policy places a copy's new version as it places a PUT's (a copy onto
    // itself keeps its stripes). The source's size and, with COPY, its metadata decide.
    let same_object = &src_bucket == dst_bucket && &src_key == dst_key;
    let placement = match (&ctx.placement, same_object) {
        (Some(mover), false) => {
            let source = ctx.engine.head_object(&src_bucket, &src_key).await?;
            let hint = match &metadata {
                MetadataDirective::Replace { user_metadata, .. } => {
                    Hint::from_user_metadata(user_metadata)
                }
                MetadataDirective::Copy => Hint::from_user_metadata(&source.user_metadata),
            };
            Some((mover, mover.place_new(dst_bucket, source.size, hint)))
        }
        _ => None,
    };
    let opts = CopyOptions {
        metadata,
        source_etag,
        condition: headers::write_condition(&ctx.headers)?,
        tier: placement.as_ref().map(|(_, p)| p.write_to),
    };
    let copied = ctx
        .engine
        .copy_object(&src_bucket, &src_key, dst_bucket, dst_key, opts)
        .await?;
    if let Some((mover, p)) = placement {
        mover.placed(dst_bucket, dst_key, copied.seq, p);
    }
    xml::response(
        "CopyObjectResult",
        &CopyObjectResult {
            xmlns: S3_NS,
            last_modified: headers::iso8601(copied.last_modified_ms),
            etag: quoted(&copied.etag),
        },
    )
}

/// Checks the `x-amz-copy-source-if-*` conditions against the source; returns the ETag the
/// engine must find on the exact version it copies (so a concurrent overwrite cannot slip in
/// between this check and the copy).
pub(crate) async fn source_conditions(
    ctx: &Ctx,
    bucket: &stratum_core::BucketName,
    key: &stratum_core::ObjectKey,
) -> Result<Option<String>, S3Error> {
    if !COPY_SOURCE_CONDITIONS
        .iter()
        .any(|name| ctx.headers.contains_key(*name))
    {
        return Ok(None);
    }
    let info = ctx.engine.head_object(bucket, key).await?;
    match evaluate_conditions(
        &ctx.headers,
        COPY_SOURCE_CONDITIONS,
        &info.etag,
        info.last_modified_ms,
    )? {
        Conditional::Proceed => Ok(Some(info.etag)),
        Conditional::NotModified => Err(S3Error::new(
            S3ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )),
    }
}

fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

fn insert(map: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        map.insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_headers() {
        assert_eq!(parse_range("bytes=0-9"), Some(RangeSpec::FromTo(0, 9)));
        assert_eq!(parse_range("bytes=5-"), Some(RangeSpec::From(5)));
        assert_eq!(parse_range("bytes=-3"), Some(RangeSpec::Suffix(3)));
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("items=0-1"), None);
        assert_eq!(parse_range("bytes=a-b"), None);
    }
}
