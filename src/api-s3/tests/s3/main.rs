//! The S3 API end to end inside one process: a real engine in a temporary directory, the
//! service's router driven with `tower::ServiceExt::oneshot`, every request SigV4-signed by
//! `aws-sigv4`, every error checked by its exact S3 code.

#[path = "../common/mod.rs"]
mod common;

mod access_tracking;
mod auth;
mod buckets;
mod delete_objects;
mod listing;
mod multipart;
mod objects;
