//! Named failpoints on every durable step of the write paths, for crash tests.
//!
//! A process started with `STRATUM_FAILPOINT=<name>` (or `<name>@<n>`: at its n-th hit)
//! aborts at once (no destructors, no buffered writes flushed: the same as a `kill -9` at
//! that instant) when it reaches the failpoint of that name. Without the variable a failpoint
//! costs one load of a cached value. The variable is read once; the only state is the hit
//! counter of the armed failpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Every failpoint name, in the order the write paths reach them.
pub const FAILPOINTS: &[&str] = &[
    "put.data_written",
    "put.data_durable",
    "put.meta_committed",
    "delete.tombstone_durable",
    "multipart.part_durable",
    "multipart.complete_header_durable",
    "compact.relocated",
    "move.data_written",
    "move.header_durable",
    "move.flipped",
    "cold.volume_uploaded",
];

/// The armed failpoint and the hit at which it fires.
fn armed() -> Option<&'static (String, u64)> {
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var("STRATUM_FAILPOINT").ok()?;
            Some(match spec.split_once('@') {
                Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
                None => (spec, 1),
            })
        })
        .as_ref()
}

/// Aborts the process if the failpoint `name` is armed and this is the hit it waits for.
pub fn hit(name: &'static str) {
    debug_assert!(FAILPOINTS.contains(&name), "unknown failpoint {name}");
    static HITS: AtomicU64 = AtomicU64::new(0);
    if let Some((armed, at)) = armed() {
        if armed == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 >= *at {
            eprintln!("failpoint {name} hit: aborting");
            std::process::abort();
        }
    }
}
