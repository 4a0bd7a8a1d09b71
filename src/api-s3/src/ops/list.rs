//! Listing: ListObjects (v1), ListObjectsV2, ListObjectVersions (unversioned buckets).

use axum::response::Response;

use crate::error::{S3Error, S3ErrorCode};
use crate::Ctx;

fn todo_op() -> Result<Response, S3Error> {
    Err(S3Error::new(
        S3ErrorCode::NotImplemented,
        "not implemented yet",
    ))
}

pub(crate) async fn list_objects_v1(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn list_objects_v2(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn list_object_versions(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
