//! Multipart uploads: create, upload part, upload part copy, complete, abort, list parts,
//! list uploads.

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

pub(crate) async fn create_multipart_upload(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn upload_part(_ctx: &Ctx, _body: Body) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn upload_part_copy(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn complete_multipart_upload(
    _ctx: &Ctx,
    _body: Body,
) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn abort_multipart_upload(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn list_parts(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn list_multipart_uploads(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
