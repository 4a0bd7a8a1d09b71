//! Engine load generator: PUT and GET of 4 KiB objects (32 concurrent writers, real fsync
//! and flushed metadata) and of 64 MiB objects (4 concurrent writers, text-like and random),
//! with throughput and p50/p99 latency, plus the peak RSS of a 1 GiB streaming PUT.
//!
//! It also measures a peer in the same run: one fdatasync'd file per object (`peer`).
//!
//! `cargo bench -p stratum-engine --bench engine` runs the full sizes (pass a filter such as
//! `small`, `large`, `peer` or `rss` after `--` to run one group; `rss` runs alone so the process's
//! peak RSS is the PUT's). Under `cargo test --benches` it runs at toy size so it never rots.
//! Data goes under `$STRATUM_BENCH_DIR` (default: a temporary directory in `target/`).
//! `STRATUM_BENCH_FSYNC=0` / `STRATUM_BENCH_FLUSH=0` turn off the storage fdatasync or the
//! metadata flush, to attribute time to stages; such runs are not durable.
//! `STRATUM_BENCH_ZSTD_LEVEL=<n>` sets the PUT path's zstd level (default 3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stratum_core::config::EngineConfig;
use stratum_core::{BucketName, ObjectKey};
use stratum_engine::{Engine, PutOptions};

struct Scale {
    small_writers: usize,
    small_per_writer: usize,
    large_bytes: usize,
    large_writers: usize,
    large_rounds: usize,
    rss_bytes: u64,
}

const FULL: Scale = Scale {
    small_writers: 32,
    small_per_writer: 600,
    large_bytes: 64 << 20,
    large_writers: 4,
    large_rounds: 2,
    rss_bytes: 1 << 30,
};

const TOY: Scale = Scale {
    small_writers: 4,
    small_per_writer: 8,
    large_bytes: 5 << 20,
    large_writers: 2,
    large_rounds: 1,
    rss_bytes: 12 << 20,
};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, ops: usize, bytes: u64, wall: Duration, mut lat: Vec<Duration>) {
    lat.sort();
    println!(
        "{name:<28} {ops:>7} ops {:>10.0} ops/s {:>9.1} MB/s   p50 {:>8.2} ms   p99 {:>8.2} ms",
        ops as f64 / wall.as_secs_f64(),
        bytes as f64 / wall.as_secs_f64() / 1e6,
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
    );
}

/// A body of `data` delivered in 1 MiB slices without copying.
fn body(data: &Bytes) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + Unpin {
    let chunks: Vec<std::io::Result<Bytes>> = (0..data.len())
        .step_by(1 << 20)
        .map(|at| Ok(data.slice(at..(at + (1 << 20)).min(data.len()))))
        .collect();
    futures::stream::iter(chunks)
}

async fn drain(engine: &Engine, b: &BucketName, k: &ObjectKey) -> u64 {
    use futures::StreamExt;
    let mut got = engine.get_object(b, k, None).await.unwrap();
    let mut n = 0;
    while let Some(chunk) = got.body.next().await {
        n += chunk.unwrap().len() as u64;
    }
    n
}

/// Runs `op(task, i)` for `i` in `0..per_task` on `tasks` concurrent tasks, timing each call;
/// returns the latencies and the wall time of the whole run.
async fn concurrently<F, Fut>(tasks: usize, per_task: usize, op: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let t = Instant::now();
                    op(task, i).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await.unwrap());
    }
    (lat, start.elapsed())
}

/// The two corpora of the large-object runs.
fn corpora(len: usize) -> [(&'static str, Bytes); 2] {
    [
        (
            "text",
            Bytes::from(stratum_codec::corpus::text_like(len, 7)),
        ),
        ("random", Bytes::from(stratum_codec::corpus::random(len, 7))),
    ]
}

async fn small(engine: &Engine, scale: &Scale) {
    let b = BucketName::new("small").unwrap();
    engine.create_bucket(&b).await.unwrap();
    let payload = Bytes::from(stratum_codec::corpus::text_like(4096, 1));
    let (writers, n) = (scale.small_writers, scale.small_per_writer);
    let (e, bk) = (engine.clone(), b.clone());
    let (lat, wall) = concurrently(writers, n, move |w, i| {
        let (e, bk, payload) = (e.clone(), bk.clone(), payload.clone());
        async move {
            let k = ObjectKey::new(format!("w{w}/o{i}")).unwrap();
            e.put_object(&bk, &k, body(&payload), PutOptions::default())
                .await
                .unwrap();
        }
    })
    .await;
    let ops = lat.len();
    report(
        "put 4 KiB text (32 conc)",
        ops,
        ops as u64 * 4096,
        wall,
        lat,
    );

    let e = engine.clone();
    let (lat, wall) = concurrently(writers, n, move |w, i| {
        let (e, bk) = (e.clone(), b.clone());
        async move {
            // Another writer's objects in another order, so reads do not follow writes.
            let k = ObjectKey::new(format!("w{}/o{}", (w + 1) % writers, (i * 7) % n)).unwrap();
            drain(&e, &bk, &k).await;
        }
    })
    .await;
    report(
        "get 4 KiB text (32 conc)",
        ops,
        ops as u64 * 4096,
        wall,
        lat,
    );
}

async fn large(engine: &Engine, scale: &Scale) {
    let b = BucketName::new("large").unwrap();
    engine.create_bucket(&b).await.unwrap();
    let (writers, rounds, len) = (scale.large_writers, scale.large_rounds, scale.large_bytes);
    for (kind, data) in corpora(len) {
        let (e, bk) = (engine.clone(), b.clone());
        let (lat, wall) = concurrently(writers, rounds, move |w, round| {
            let (e, bk, data) = (e.clone(), bk.clone(), data.clone());
            async move {
                let k = ObjectKey::new(format!("{kind}/{round}/{w}")).unwrap();
                e.put_object(&bk, &k, body(&data), PutOptions::default())
                    .await
                    .unwrap();
            }
        })
        .await;
        let ops = lat.len();
        let bytes = (ops * len) as u64;
        let mib = len >> 20;
        report(
            &format!("put {mib} MiB {kind} ({writers} conc)"),
            ops,
            bytes,
            wall,
            lat,
        );

        let (e, bk) = (engine.clone(), b.clone());
        let (lat, wall) = concurrently(writers, rounds, move |w, round| {
            let (e, bk) = (e.clone(), bk.clone());
            async move {
                let k = ObjectKey::new(format!("{kind}/{round}/{w}")).unwrap();
                assert_eq!(drain(&e, &bk, &k).await as usize, len);
            }
        })
        .await;
        report(
            &format!("get {mib} MiB {kind} ({writers} conc)"),
            ops,
            bytes,
            wall,
            lat,
        );
    }
}

/// The peer measured in the same run: one file per object, written and fdatasync'd on a
/// blocking thread, read back whole — no compression, no erasure coding, no index, no
/// directory fsync. It is what a file-per-object store (s3s-fs and the like) does beneath
/// its HTTP layer, made durable like Stratum's writes.
async fn fs_peer(root: &std::path::Path, scale: &Scale) {
    let dir = Arc::new(root.join("fs-peer"));
    std::fs::create_dir_all(&*dir).unwrap();
    async fn write(path: std::path::PathBuf, data: Bytes) {
        tokio::task::spawn_blocking(move || {
            let mut f = std::fs::File::create(&path).unwrap();
            std::io::Write::write_all(&mut f, &data).unwrap();
            f.sync_data().unwrap();
        })
        .await
        .unwrap();
    }
    async fn read(path: std::path::PathBuf) -> usize {
        tokio::task::spawn_blocking(move || std::fs::read(&path).unwrap().len())
            .await
            .unwrap()
    }
    let payload = Bytes::from(stratum_codec::corpus::text_like(4096, 1));
    let (writers, n) = (scale.small_writers, scale.small_per_writer);
    let d = dir.clone();
    let (lat, wall) = concurrently(writers, n, move |w, i| {
        write(d.join(format!("w{w}-o{i}")), payload.clone())
    })
    .await;
    let ops = lat.len();
    report(
        "peer put 4 KiB (32 conc)",
        ops,
        ops as u64 * 4096,
        wall,
        lat,
    );
    let d = dir.clone();
    let (lat, wall) = concurrently(writers, n, move |w, i| {
        let path = d.join(format!("w{}-o{}", (w + 1) % writers, (i * 7) % n));
        async move {
            read(path).await;
        }
    })
    .await;
    report(
        "peer get 4 KiB (32 conc)",
        ops,
        ops as u64 * 4096,
        wall,
        lat,
    );

    let (tasks, rounds, len) = (scale.large_writers, scale.large_rounds, scale.large_bytes);
    for (kind, data) in corpora(len) {
        let d = dir.clone();
        let (lat, wall) = concurrently(tasks, rounds, move |w, round| {
            write(d.join(format!("{kind}-{round}-{w}")), data.clone())
        })
        .await;
        let ops = lat.len();
        let bytes = (ops * len) as u64;
        let mib = len >> 20;
        report(&format!("peer put {mib} MiB {kind}"), ops, bytes, wall, lat);
        let d = dir.clone();
        let (lat, wall) = concurrently(tasks, rounds, move |w, round| {
            let path = d.join(format!("{kind}-{round}-{w}"));
            async move {
                assert_eq!(read(path).await, len);
            }
        })
        .await;
        report(&format!("peer get {mib} MiB {kind}"), ops, bytes, wall, lat);
    }
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn rss(engine: &Engine, scale: &Scale) {
    let b = BucketName::new("rss").unwrap();
    engine.create_bucket(&b).await.unwrap();
    let before = peak_rss_bytes().unwrap_or(0);
    // The body is generated as it streams: 1 MiB chunks cycling through 8 distinct texts.
    let texts: Arc<Vec<Bytes>> = Arc::new(
        (0..8)
            .map(|s| Bytes::from(stratum_codec::corpus::text_like(1 << 20, s)))
            .collect(),
    );
    let chunks = scale.rss_bytes >> 20;
    let body = futures::stream::iter((0..chunks).map(move |i| Ok(texts[(i % 8) as usize].clone())));
    let start = Instant::now();
    let info = engine
        .put_object(
            &b,
            &ObjectKey::new("big").unwrap(),
            body,
            PutOptions::default(),
        )
        .await
        .unwrap();
    let wall = start.elapsed();
    assert_eq!(info.size, scale.rss_bytes);
    let after = peak_rss_bytes().unwrap_or(0);
    println!(
        "streaming put {} MiB: {:.1} MB/s, peak RSS {:.1} MiB (before the put {:.1} MiB)",
        scale.rss_bytes >> 20,
        scale.rss_bytes as f64 / wall.as_secs_f64() / 1e6,
        after as f64 / (1 << 20) as f64,
        before as f64 / (1 << 20) as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let filter = args.iter().find(|a| !a.starts_with("--")).cloned();
    let scale = if full { FULL } else { TOY };
    let root = match std::env::var("STRATUM_BENCH_DIR") {
        Ok(dir) => tempfile::tempdir_in(dir).unwrap(),
        Err(_) => tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut config = EngineConfig::under(root.path(), 6);
        // Stage attribution only: turning either off forfeits durability.
        config.storage.fsync = std::env::var("STRATUM_BENCH_FSYNC").as_deref() != Ok("0");
        config.metadata.flush = std::env::var("STRATUM_BENCH_FLUSH").as_deref() != Ok("0");
        if let Ok(level) = std::env::var("STRATUM_BENCH_ZSTD_LEVEL") {
            config.codec.zstd_level = level.parse().expect("a zstd level");
            println!("(zstd level {level} on the PUT path)");
        }
        if !config.storage.fsync || !config.metadata.flush {
            println!(
                "(attribution run: storage fsync {}, metadata flush {})",
                config.storage.fsync, config.metadata.flush
            );
        }
        let (engine, _) = Engine::open(config).await.unwrap();
        let wants = |g: &str| filter.as_deref().is_none_or(|f| g.contains(f));
        if filter.as_deref() == Some("rss") {
            rss(&engine, &scale).await;
            return;
        }
        if wants("small") {
            small(&engine, &scale).await;
        }
        if wants("large") {
            large(&engine, &scale).await;
        }
        if wants("peer") {
            fs_peer(root.path(), &scale).await;
        }
        if !full {
            rss(&engine, &scale).await;
        }
    });
}
