//! The Stratum server binary's library: everything `stratum` does besides parsing its
//! arguments, here so tests can drive it.
//!
//! It owns the command line ([`cli`]), the config file and its validation ([`config`]), the
//! key file and the credential store over it ([`keys`], [`credentials`]), the server wiring
//! with health, metrics and graceful shutdown ([`serve`]), logs and metrics
//! ([`telemetry`]), the background maintenance worker ([`maintenance`]), the admin
//! commands ([`admin`]), the offline tiering commands ([`tier`]), and the live tiering
//! wiring ([`tiering`]).
//!
//! Invariants: no business logic lives here (objects, buckets and auth belong to the crates
//! below); secrets never reach a log line or a `Debug` string; the metadata store is opened
//! only by `serve`, so admin commands are safe beside a running server.

pub mod admin;
pub mod admin_api;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod keys;
pub mod maintenance;
pub mod serve;
pub mod telemetry;
pub mod tier;
pub mod tier_client;
pub mod tiering;
