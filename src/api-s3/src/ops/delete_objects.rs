//! DeleteObjects: up to 1000 keys in one request, quiet or verbose.

use axum::body::Body;
use axum::response::Response;

use crate::error::{S3Error, S3ErrorCode};
use crate::Ctx;

pub(crate) async fn delete_objects(_ctx: &Ctx, _body: Body) -> Result<Response, S3Error> {
    Err(S3Error::new(
        S3ErrorCode::NotImplemented,
        "not implemented yet",
    ))
}
