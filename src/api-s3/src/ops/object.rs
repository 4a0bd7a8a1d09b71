//! Object operations: PutObject, GetObject, HeadObject, DeleteObject, CopyObject.

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

pub(crate) async fn put_object(_ctx: &Ctx, _body: Body) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn copy_object(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn get_object(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn head_object(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
pub(crate) async fn delete_object(_ctx: &Ctx) -> Result<Response, S3Error> {
    todo_op()
}
