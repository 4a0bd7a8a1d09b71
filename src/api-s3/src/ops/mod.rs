//! The operations, one module per family, and the one `match` that dispatches them.

use axum::body::Body;
use axum::response::Response;
use stratum_core::{BucketName, ObjectKey};

use crate::body::{self, BodyInfo, RequestBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::request::Operation;
use crate::xml::XML_BODY_MAX;
use crate::Ctx;

mod bucket;
mod copy_source;
mod delete_objects;
mod list;
mod multipart;
mod object;

/// Runs the handler of `op`.
pub(crate) async fn dispatch(ctx: &Ctx, op: Operation, body: Body) -> Result<Response, S3Error> {
    use Operation::*;
    match op {
        ListBuckets => bucket::list_buckets(ctx).await,
        CreateBucket => bucket::create_bucket(ctx, body).await,
        HeadBucket => bucket::head_bucket(ctx).await,
        DeleteBucket => bucket::delete_bucket(ctx).await,
        GetBucketLocation => bucket::get_bucket_location(ctx).await,
        GetBucketVersioning => bucket::get_bucket_versioning(ctx).await,
        ListObjects => list::list_objects_v1(ctx).await,
        ListObjectsV2 => list::list_objects_v2(ctx).await,
        ListObjectVersions => list::list_object_versions(ctx).await,
        ListMultipartUploads => multipart::list_multipart_uploads(ctx).await,
        DeleteObjects => delete_objects::delete_objects(ctx, body).await,
        PutObject => object::put_object(ctx, body).await,
        CopyObject => object::copy_object(ctx).await,
        GetObject => object::get_object(ctx).await,
        HeadObject => object::head_object(ctx).await,
        DeleteObject => object::delete_object(ctx).await,
        CreateMultipartUpload => multipart::create_multipart_upload(ctx).await,
        UploadPart => multipart::upload_part(ctx, body).await,
        UploadPartCopy => multipart::upload_part_copy(ctx).await,
        CompleteMultipartUpload => multipart::complete_multipart_upload(ctx, body).await,
        AbortMultipartUpload => multipart::abort_multipart_upload(ctx).await,
        ListParts => multipart::list_parts(ctx).await,
        NotImplemented(what) => Err(S3Error::new(
            S3ErrorCode::NotImplemented,
            format!("A header or query you provided implies functionality that is not implemented ({what})."),
        )),
    }
}

impl Ctx {
    /// The request's bucket (classification guarantees one for bucket and object operations).
    pub(crate) fn bucket(&self) -> Result<&BucketName, S3Error> {
        self.target
            .bucket
            .as_ref()
            .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidRequest, "missing bucket"))
    }

    /// The request's key.
    pub(crate) fn key(&self) -> Result<&ObjectKey, S3Error> {
        self.target
            .key
            .as_ref()
            .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidRequest, "missing key"))
    }

    /// A header's value as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        crate::headers::header(&self.headers, name)
    }

    /// The decoded, verified body stream.
    pub(crate) fn body(&self, body: Body) -> Result<(RequestBody, BodyInfo), S3Error> {
        body::request_body(body, &self.verified, &self.headers)
    }

    /// A whole XML request document (at most [`XML_BODY_MAX`] bytes).
    pub(crate) async fn xml_body(&self, body: Body) -> Result<Vec<u8>, S3Error> {
        let (stream, _) = self.body(body)?;
        body::collect(stream, XML_BODY_MAX).await
    }
}
