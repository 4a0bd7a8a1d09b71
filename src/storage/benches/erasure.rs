//! Criterion benches of the storage hot paths: Reed-Solomon 4+2 encode and reconstruct
//! (two pieces lost) of 1 MiB records, and one group-commit round of a 4 KiB stripe with
//! fdatasync on six tempdir directories, and 32 concurrent tasks appending 4 KiB stripes
//! (the group commit under load: appends/s), with fdatasync on and off.
//!
//! `cargo test -p stratum-storage --benches` runs each once at toy size so they never rot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stratum_core::config::StorageConfig;
use stratum_core::Tier;
use stratum_storage::{RecordKind, Storage};

const MIB: usize = 1 << 20;

fn payload(len: usize) -> Vec<u8> {
    // Incompressible-looking but deterministic bytes (xorshift).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn erasure(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = StorageConfig::hot_only(dir.path(), 6);
    cfg.fsync = false;
    let (s, _) = Storage::open(&cfg).expect("open");
    let data = payload(MIB);
    let mut g = c.benchmark_group("reed_solomon_4+2");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("encode_1MiB", |b| {
        b.iter(|| {
            s.encode(Tier::Hot, RecordKind::Frame, &data)
                .expect("encode")
        })
    });

    // Reconstruct: a stored stripe with pieces 0 and 1 damaged, read back through parity.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let e = s
        .encode(Tier::Hot, RecordKind::Frame, &data)
        .expect("encode");
    let r = rt
        .block_on(s.append_shared(Tier::Hot, vec![e]))
        .expect("append")
        .remove(0);
    for i in 0..2 {
        let p = s.shard_path(Tier::Hot, r.volume, i).expect("path");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .expect("open shard");
        std::os::unix::fs::FileExt::write_all_at(&f, &[0xff; 8], r.offset + 100).expect("damage");
    }
    assert!(s.read_stripe(Tier::Hot, &r).expect("read").reconstructed);
    g.bench_function("read_reconstruct_2_lost_1MiB", |b| {
        b.iter(|| s.read_stripe(Tier::Hot, &r).expect("read"))
    });
    g.finish();
}

fn group_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = StorageConfig::hot_only(dir.path(), 6);
    cfg.fsync = true;
    let (s, _) = Storage::open(&cfg).expect("open");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let data = payload(4096);
    let mut g = c.benchmark_group("group_commit");
    // One element = one round (one 4 KiB stripe, six fdatasyncs in parallel): elements/s
    // is rounds/s.
    g.throughput(Throughput::Elements(1));
    g.bench_function("append_4KiB_fsync_6_dirs", |b| {
        b.iter(|| {
            let e = s
                .encode(Tier::Hot, RecordKind::Frame, &data)
                .expect("encode");
            rt.block_on(s.append_shared(Tier::Hot, vec![e]))
                .expect("append")
        })
    });
    g.finish();
}

/// Concurrent appenders of the `concurrent` bench.
const TASKS: u64 = 32;

fn concurrent(c: &mut Criterion) {
    let mut g = c.benchmark_group("group_commit_concurrent");
    // One element = one appended 4 KiB stripe: elements/s is appends/s.
    g.throughput(Throughput::Elements(1));
    for fsync in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = StorageConfig::hot_only(dir.path(), 6);
        cfg.fsync = fsync;
        let (s, _) = Storage::open(&cfg).expect("open");
        let s = Arc::new(s);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("rt");
        let data = Arc::new(payload(4096));
        let name = format!("{TASKS}_tasks_append_4KiB_fsync_{fsync}");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // Each task appends its share in a loop, so rounds fill as they would under
                // steady load rather than in lockstep.
                let per_task = iters.div_ceil(TASKS);
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let s = Arc::clone(&s);
                            let data = Arc::clone(&data);
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    let e = s
                                        .encode(Tier::Hot, RecordKind::Frame, &data)
                                        .expect("encode");
                                    s.append_shared(Tier::Hot, vec![e]).await.expect("append");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("task");
                    }
                });
                // Scale to the `iters` appends asked for.
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per_task * TASKS) as f64)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = erasure, group_commit, concurrent
}
criterion_main!(benches);
