//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
//! GetBucketVersioning.
//!
//! Stratum is single-tenant: every bucket has one owner, [`Owner::stratum`], and versioning
//! is never enabled (GetBucketVersioning answers the empty configuration of a bucket that
//! never had it).

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use crate::error::{S3Error, S3ErrorCode};
use crate::headers::iso8601;
use crate::xml::{self, S3_NS};
use crate::Ctx;

/// The region S3 reports as an empty `LocationConstraint`.
const DEFAULT_REGION: &str = "us-east-1";

/// Most buckets one ListBuckets page may return (`max-buckets`).
const LIST_BUCKETS_MAX: usize = 10_000;

/// The `Owner` (and `Initiator`) element: one fixed identity for the single tenant.
#[derive(Debug, Serialize)]
pub(crate) struct Owner {
    #[serde(rename = "ID")]
    id: &'static str,
    #[serde(rename = "DisplayName")]
    display_name: &'static str,
}

impl Owner {
    /// The owner of every bucket and object.
    pub(crate) fn stratum() -> Owner {
        Owner {
            id: "stratum",
            display_name: "stratum",
        }
    }
}

#[derive(Serialize)]
struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "Owner")]
    owner: Owner,
    #[serde(rename = "Buckets")]
    buckets: Buckets,
    #[serde(rename = "ContinuationToken", skip_serializing_if = "Option::is_none")]
    continuation_token: Option<String>,
    #[serde(rename = "Prefix", skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
}

#[derive(Serialize)]
struct Buckets {
    #[serde(rename = "Bucket")]
    bucket: Vec<BucketEntry>,
}

#[derive(Serialize)]
struct BucketEntry {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "CreationDate")]
    creation_date: String,
    #[serde(rename = "BucketRegion")]
    bucket_region: String,
}

/// ListBuckets, with the optional `prefix`, `max-buckets` and `continuation-token` of the
/// paginated form (a token is the base64 of the last name of the previous page).
pub(crate) async fn list_buckets(ctx: &Ctx) -> Result<Response, S3Error> {
    let prefix = ctx.query.get("prefix").unwrap_or("");
    let max = match ctx.query.get("max-buckets") {
        None => None,
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=LIST_BUCKETS_MAX).contains(n))
                .ok_or_else(|| S3Error::invalid_argument("Invalid max-buckets value"))?,
        ),
    };
    let after = ctx
        .query
        .get("continuation-token")
        .map(decode_token)
        .transpose()?;
    let mut buckets: Vec<_> = ctx
        .engine
        .list_buckets()
        .await?
        .into_iter()
        .filter(|b| b.name.as_str().starts_with(prefix))
        .filter(|b| after.as_deref().is_none_or(|a| b.name.as_str() > a))
        .collect();
    let mut next = None;
    if let Some(max) = max {
        if buckets.len() > max {
            buckets.truncate(max);
            next = buckets.last().map(|b| encode_token(b.name.as_str()));
        }
    }
    let doc = ListAllMyBucketsResult {
        xmlns: S3_NS,
        owner: Owner::stratum(),
        buckets: Buckets {
            bucket: buckets
                .into_iter()
                .map(|b| BucketEntry {
                    name: b.name.to_string(),
                    creation_date: iso8601(b.created_ms),
                    bucket_region: ctx.region.clone(),
                })
                .collect(),
        },
        continuation_token: next,
        prefix: ctx.query.get("prefix").map(str::to_owned),
    };
    xml::response("ListAllMyBucketsResult", &doc)
}

fn encode_token(name: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(name)
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| S3Error::invalid_argument("The continuation token provided is incorrect"))
}

/// The optional body of CreateBucket.
#[derive(Deserialize)]
struct CreateBucketConfiguration {
    #[serde(rename = "LocationConstraint", default)]
    location_constraint: Option<String>,
}

/// CreateBucket: an empty body or a `CreateBucketConfiguration` naming this server's region
/// (or `us-east-1`, which S3 spells as no constraint at all).
pub(crate) async fn create_bucket(ctx: &Ctx, body: Body) -> Result<Response, S3Error> {
    let bucket = ctx.bucket()?;
    let doc = ctx.xml_body(body).await?;
    if !doc.iter().all(u8::is_ascii_whitespace) {
        let config: CreateBucketConfiguration = xml::parse(&doc)?;
        let constraint = config.location_constraint.unwrap_or_default();
        let constraint = constraint.trim();
        if !(constraint.is_empty() || constraint == ctx.region || constraint == DEFAULT_REGION) {
            return Err(S3Error::invalid_argument(format!(
                "The specified location-constraint is not valid: {constraint} \
                 (this server answers for {})",
                ctx.region
            )));
        }
    }
    if ctx
        .header("x-amz-bucket-object-lock-enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Err(S3Error::new(
            S3ErrorCode::NotImplemented,
            "Object Lock is not supported",
        ));
    }
    ctx.engine.create_bucket(bucket).await?;
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("/{bucket}")) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// HeadBucket: 200 with the region, or a bodiless 404.
pub(crate) async fn head_bucket(ctx: &Ctx) -> Result<Response, S3Error> {
    ctx.engine.head_bucket(ctx.bucket()?).await?;
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&ctx.region) {
        resp.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(resp)
}

/// DeleteBucket: 204; BucketNotEmpty while it holds objects or uploads.
pub(crate) async fn delete_bucket(ctx: &Ctx) -> Result<Response, S3Error> {
    ctx.engine.delete_bucket(ctx.bucket()?).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

#[derive(Serialize)]
struct LocationConstraint {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$text")]
    region: String,
}

/// GetBucketLocation: empty for `us-east-1`, the region otherwise.
pub(crate) async fn get_bucket_location(ctx: &Ctx) -> Result<Response, S3Error> {
    ctx.engine.head_bucket(ctx.bucket()?).await?;
    let region = if ctx.region == DEFAULT_REGION {
        String::new()
    } else {
        ctx.region.clone()
    };
    xml::response(
        "LocationConstraint",
        &LocationConstraint {
            xmlns: S3_NS,
            region,
        },
    )
}

#[derive(Serialize)]
struct VersioningConfiguration {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
}

/// GetBucketVersioning: the empty configuration (versioning was never enabled).
pub(crate) async fn get_bucket_versioning(ctx: &Ctx) -> Result<Response, S3Error> {
    ctx.engine.head_bucket(ctx.bucket()?).await?;
    xml::response(
        "VersioningConfiguration",
        &VersioningConfiguration { xmlns: S3_NS },
    )
}

/// A response with no body and the given status.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}
