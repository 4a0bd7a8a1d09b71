//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
//! GetBucketVersioning.

use axum::body::Body;
use axum::response::Response;

use crate::error::{S3Error, S3ErrorCode};
use crate::Ctx;

fn todo_op() -> Result<Response, S3Error> {
    Err(S3Error::new(
        S3ErrorCode::NotImplemented,
        "not implemented yet",
    ))
}

pub(crate) async fn list_buckets(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn create_bucket(_ctx: &Ctx, _body: Body) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn head_bucket(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn delete_bucket(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn get_bucket_location(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn get_bucket_versioning(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
