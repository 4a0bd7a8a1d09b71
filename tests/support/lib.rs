//! Shared helpers for the workspace-level tests in `tests/`.
//!
//! The workspace root is a test-only package; this library holds what several of its test
//! binaries need. It is never linked into the server.

use std::path::PathBuf;

/// The workspace root (where the top-level `Cargo.toml` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
