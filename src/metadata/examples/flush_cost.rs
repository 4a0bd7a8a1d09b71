//! Measures what a durable metadata commit costs: `put_object` latency with `flush = true`
//! for one writer and for 32 concurrent writers (who share flushes through group commit),
//! against `flush = false`.
//!
//! Run: `cargo run --release -p stratum-metadata --example flush_cost [DIR]` (DIR defaults to
//! a temporary directory; pass one on the disk you care about).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use stratum_core::config::MetadataConfig;
use stratum_core::{BucketName, Extent, Location, ObjectKey, StripeRef, Tier, VolumeId};
use stratum_metadata::{BucketRecord, MetadataStore, ObjectRecord, PutCondition, SledStore};

fn record(seq: u64) -> ObjectRecord {
    let stripe = StripeRef {
        volume: VolumeId(seq % 8),
        offset: seq * 4096,
        piece_bytes: 1024,
        payload_bytes: 4096,
        data_pieces: 4,
        parity_pieces: 2,
        payload_hash: [3; 32],
    };
    ObjectRecord {
        seq,
        size: 4096,
        etag: "0123456789abcdef0123456789abcdef".to_owned(),
        last_modified_ms: 1_700_000_000_000,
        content_type: Some("application/octet-stream".to_owned()),
        headers: vec![],
        user_metadata: vec![],
        checksums: vec![],
        part_sizes: vec![],
        location: Location {
            tier: Tier::Hot,
            extents: vec![Extent {
                logical_offset: 0,
                logical_bytes: 4096,
                stripe: stripe.clone(),
            }],
        },
        header_stripe: Some(stripe),
    }
}

/// Runs `threads` writers doing `per_thread` puts each; returns every put's latency and the
/// wall time of the whole run.
fn run(store: &Arc<SledStore>, threads: usize, per_thread: usize) -> (Vec<Duration>, Duration) {
    let bucket = BucketName::new("bench").unwrap();
    let barrier = Arc::new(Barrier::new(threads));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(store);
            let bucket = bucket.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let mut lat = Vec::with_capacity(per_thread);
                for i in 0..per_thread {
                    let seq = store.next_seq().unwrap();
                    let key = ObjectKey::new(format!("t{t}/o{i}")).unwrap();
                    let t0 = Instant::now();
                    store
                        .put_object(&bucket, &key, &record(seq), &PutCondition::None)
                        .unwrap();
                    lat.push(t0.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let wall = start.elapsed();
    all.sort();
    (all, wall)
}

fn report(label: &str, lat: &[Duration], wall: Duration) {
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize].as_micros();
    println!(
        "{label:<28} commits {:>5}  median {:>6} µs  p99 {:>6} µs  throughput {:>7.0} commits/s  wall/commit {:>6.1} µs",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.len() as f64 / wall.as_secs_f64(),
        wall.as_micros() as f64 / lat.len() as f64,
    );
}

fn main() {
    let base = std::env::args().nth(1).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir_in(base.clone().unwrap_or_else(std::env::temp_dir)).unwrap();
    for flush in [true, false] {
        let config = MetadataConfig {
            path: tmp.path().join(format!("meta-{flush}")),
            flush,
            cache_capacity_bytes: 64 << 20,
        };
        let store = Arc::new(SledStore::open(&config).unwrap());
        store
            .create_bucket(&BucketRecord {
                name: BucketName::new("bench").unwrap(),
                created_ms: 0,
            })
            .unwrap();
        // Warm up the tree and the files.
        run(&store, 1, 100);
        for (threads, per_thread) in [(1, 500), (4, 200), (32, 50)] {
            let before = store.commit_stats();
            let (lat, wall) = run(&store, threads, per_thread);
            let after = store.commit_stats();
            report(&format!("flush={flush} {threads} writers"), &lat, wall);
            if flush {
                println!(
                    "{:<28} {} flushes for {} commits",
                    "",
                    after.flushes - before.flushes,
                    after.commits - before.commits
                );
            }
        }
    }
}
