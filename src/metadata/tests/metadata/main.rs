//! The metadata crate's one integration test binary: the conformance suite run against every
//! store, the listing model test, and sled-only durability tests.

mod common;
mod conformance;
mod listing;
mod sled_only;
