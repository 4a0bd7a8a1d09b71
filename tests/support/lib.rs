//! Shared helpers for the workspace-level tests in `tests/`.
//!
//! The workspace root is a test-only package; this library holds what several of its test
//! binaries need. It is never linked into the server.
//!
//! - [`Server`] spawns the real `stratum` binary on a temporary data directory and random root
//!   keys, and stops, kills and restarts it.
//! - [`aws`], [`rclone`] and [`python`] run the real clients that `scripts/e2e-deps.sh`
//!   installs, isolated from the user's configuration, and return a [`Run`] whose failure
//!   messages carry the command, its output and the tail of the server's log.
//! - [`http`] is a minimal HTTP/1.1 client over `TcpStream` for requests no client would send.
//! - [`fs`] makes test data and compares files and trees.
//! - [`moto`] starts moto's S3 server, the independent remote for the cold tier.
//!
//! This library uses `std` only (dev-dependencies are for the test binaries).

use std::path::PathBuf;

mod clients;
pub mod fs;
pub mod http;
pub mod moto;
mod server;

pub use clients::{aws, aws_with_env, python, python_with_env, rclone, venv_dir, Run};
pub use server::{stratum_binary, Server, TempDir};

/// The workspace root (where the top-level `Cargo.toml` lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One named step of a suite that shares a server.
pub type Step<'a> = (&'a str, &'a dyn Fn(&Server));

/// Runs each named step against `server`, going on after a failing one, and panics at the end
/// naming every step that failed (each step's own panic message is printed as it happens).
/// Steps share one server to keep the suite fast; each uses its own bucket.
#[track_caller]
pub fn run_steps(server: &Server, steps: &[Step<'_>]) {
    let mut failed = Vec::new();
    for (name, step) in steps {
        eprintln!("e2e step: {name}");
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(server)));
        match result {
            Ok(()) => eprintln!("e2e step: {name} ok ({:.1?})", started.elapsed()),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let first_line = msg.lines().next().unwrap_or("").to_string();
                eprintln!("e2e step: {name} FAILED");
                failed.push(format!("{name}: {first_line}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} steps failed:\n{}",
        failed.len(),
        steps.len(),
        failed.join("\n")
    );
}
