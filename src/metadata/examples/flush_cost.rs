//! Measures what a durable metadata commit costs: `put_object` latency with `flush = true`
//! for one writer and for 32 concurrent writers (who share flushes through group commit),
//! against `flush = false`; then batched commits (`put_objects`): batches of 8, 32 and 128
//! records from one thread, and 32 writers of single records whose puts one committer thread
//! gathers into batches (the shape an engine-side commit queue would have).
//!
//! Run: `cargo run --release -p stratum-metadata --example flush_cost [DIR]` (DIR defaults to
//! a temporary directory; pass one on the disk you care about).

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use stratum_core::config::MetadataConfig;
use stratum_core::{BucketName, Extent, Location, ObjectKey, StripeRef, Tier, VolumeId};
use stratum_metadata::{
    BucketRecord, MetaError, MetadataStore, ObjectRecord, PutCondition, PutItem, PutOutcome,
    SledStore,
};

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

/// Prints one run of single puts; `unit` names what a latency measures ("commit", or
/// "put" when a queue gathers them into batches).
fn report(label: &str, unit: &str, lat: &[Duration], wall: Duration) {
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize].as_micros();
    println!(
        "{label:<28} {unit}s {:>5}  median {:>6} µs  p99 {:>6} µs  throughput {:>7.0} {unit}s/s  wall/{unit} {:>6.1} µs",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.len() as f64 / wall.as_secs_f64(),
        wall.as_micros() as f64 / lat.len() as f64,
    );
}

/// One thread committing `batches` batches of `size` fresh records each; returns every
/// batch's latency and the wall time.
fn run_batches(store: &SledStore, size: usize, batches: usize) -> (Vec<Duration>, Duration) {
    let bucket = BucketName::new("bench").unwrap();
    let mut lat = Vec::with_capacity(batches);
    let start = Instant::now();
    for b in 0..batches {
        let items: Vec<PutItem> = (0..size)
            .map(|i| PutItem {
                bucket: bucket.clone(),
                key: ObjectKey::new(format!("batch{size}/b{b}/o{i}")).unwrap(),
                record: record(store.next_seq().unwrap()),
                cond: PutCondition::None,
            })
            .collect();
        let t0 = Instant::now();
        for r in store.put_objects(&items).unwrap() {
            assert!(r.unwrap().applied);
        }
        lat.push(t0.elapsed());
    }
    let wall = start.elapsed();
    lat.sort();
    (lat, wall)
}

type Reply = mpsc::Sender<Result<PutOutcome, MetaError>>;

/// `threads` writers doing `per_thread` single puts each, every put handed to one committer
/// thread that takes whatever has queued up (at most `max_batch`) as one `put_objects`
/// batch. Returns every put's latency (queueing included), the wall time and the number of
/// batches committed.
fn run_queued(
    store: &Arc<SledStore>,
    threads: usize,
    per_thread: usize,
    max_batch: usize,
) -> (Vec<Duration>, Duration, usize) {
    let bucket = BucketName::new("bench").unwrap();
    let (tx, rx) = mpsc::channel::<(PutItem, Reply)>();
    let committer = {
        let store = Arc::clone(store);
        std::thread::spawn(move || {
            let mut batches = 0;
            // Ends when every writer has dropped its sender.
            while let Ok(first) = rx.recv() {
                let mut queued = vec![first];
                while queued.len() < max_batch {
                    match rx.try_recv() {
                        Ok(next) => queued.push(next),
                        Err(_) => break,
                    }
                }
                let (items, replies): (Vec<PutItem>, Vec<Reply>) = queued.into_iter().unzip();
                let results = store.put_objects(&items).unwrap();
                batches += 1;
                for (reply, result) in replies.into_iter().zip(results) {
                    reply.send(result).unwrap();
                }
            }
            batches
        })
    };
    let barrier = Arc::new(Barrier::new(threads));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(store);
            let bucket = bucket.clone();
            let barrier = Arc::clone(&barrier);
            let tx = tx.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut lat = Vec::with_capacity(per_thread);
                for i in 0..per_thread {
                    let item = PutItem {
                        bucket: bucket.clone(),
                        key: ObjectKey::new(format!("queued/t{t}/o{i}")).unwrap(),
                        record: record(store.next_seq().unwrap()),
                        cond: PutCondition::None,
                    };
                    let (reply, result) = mpsc::channel();
                    let t0 = Instant::now();
                    tx.send((item, reply)).unwrap();
                    assert!(result.recv().unwrap().unwrap().applied);
                    lat.push(t0.elapsed());
                }
                lat
            })
        })
        .collect();
    drop(tx);
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let wall = start.elapsed();
    let batches = committer.join().unwrap();
    all.sort();
    (all, wall, batches)
}

fn report_batches(label: &str, size: usize, lat: &[Duration], wall: Duration) {
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize].as_micros();
    let items = lat.len() * size;
    println!(
        "{label:<28} batches {:>5}  median {:>6} µs  p99 {:>6} µs  throughput {:>7.0} items/s  ({:.0} batches/s)",
        lat.len(),
        pct(0.5),
        pct(0.99),
        items as f64 / wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
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
            report(
                &format!("flush={flush} {threads} writers"),
                "commit",
                &lat,
                wall,
            );
            if flush {
                println!(
                    "{:<28} {} flushes for {} commits",
                    "",
                    after.flushes - before.flushes,
                    after.commits - before.commits
                );
            }
        }
        if !flush {
            continue;
        }
        for (size, batches) in [(8, 400), (32, 200), (128, 60)] {
            let before = store.commit_stats();
            let (lat, wall) = run_batches(&store, size, batches);
            let after = store.commit_stats();
            report_batches(&format!("flush=true batch of {size}"), size, &lat, wall);
            println!(
                "{:<28} {} flushes for {} batches",
                "",
                after.flushes - before.flushes,
                after.commits - before.commits
            );
        }
        let before = store.commit_stats();
        let (lat, wall, batches) = run_queued(&store, 32, 400, 64);
        let after = store.commit_stats();
        report("flush=true 32 writers queued", "put", &lat, wall);
        println!(
            "{:<28} {} batches (mean {:.1} puts), {} flushes",
            "",
            batches,
            lat.len() as f64 / batches as f64,
            after.flushes - before.flushes
        );
    }
}
