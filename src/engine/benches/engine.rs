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

async fn small(engine: &Engine, scale: &Scale) {
    let b = BucketName::new("small").unwrap();
    engine.create_bucket(&b).await.unwrap();
    let payload = Bytes::from(stratum_codec::corpus::text_like(4096, 1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..scale.small_writers {
        let (engine, b, payload) = (engine.clone(), b.clone(), payload.clone());
        let n = scale.small_per_writer;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                let k = ObjectKey::new(format!("w{w}/o{i}")).unwrap();
                let t = Instant::now();
                engine
                    .put_object(&b, &k, body(&payload), PutOptions::default())
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let ops = lat.len();
    report(
        "put 4 KiB text (32 conc)",
        ops,
        ops as u64 * 4096,
        start.elapsed(),
        lat,
    );

    let start = Instant::now();
    let mut tasks = Vec::new();
    let writers = scale.small_writers;
    for w in 0..scale.small_writers {
        let (engine, b) = (engine.clone(), b.clone());
        let n = scale.small_per_writer;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                // Another writer's objects in another order, so reads do not follow writes.
                let k = ObjectKey::new(format!("w{}/o{}", (w + 1) % writers, (i * 7) % n)).unwrap();
                let t = Instant::now();
                drain(&engine, &b, &k).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let ops = lat.len();
    report(
        "get 4 KiB text (32 conc)",
        ops,
        ops as u64 * 4096,
        start.elapsed(),
        lat,
    );
}

async fn large(engine: &Engine, scale: &Scale) {
    let b = BucketName::new("large").unwrap();
    engine.create_bucket(&b).await.unwrap();
    for (kind, data) in [
        (
            "text",
            stratum_codec::corpus::text_like(scale.large_bytes, 7),
        ),
        (
            "random",
            stratum_codec::corpus::random(scale.large_bytes, 7),
        ),
    ] {
        let data = Bytes::from(data);
        let start = Instant::now();
        let mut lat = Vec::new();
        for round in 0..scale.large_rounds {
            let mut tasks = Vec::new();
            for w in 0..scale.large_writers {
                let (engine, b, data) = (engine.clone(), b.clone(), data.clone());
                tasks.push(tokio::spawn(async move {
                    let k = ObjectKey::new(format!("{kind}/{round}/{w}")).unwrap();
                    let t = Instant::now();
                    engine
                        .put_object(&b, &k, body(&data), PutOptions::default())
                        .await
                        .unwrap();
                    t.elapsed()
                }));
            }
            for t in tasks {
                lat.push(t.await.unwrap());
            }
        }
        let ops = lat.len();
        let bytes = (ops * scale.large_bytes) as u64;
        let name = format!(
            "put {} MiB {kind} ({} conc)",
            scale.large_bytes >> 20,
            scale.large_writers
        );
        report(&name, ops, bytes, start.elapsed(), lat);

        let start = Instant::now();
        let mut lat = Vec::new();
        for round in 0..scale.large_rounds {
            let mut tasks = Vec::new();
            for w in 0..scale.large_writers {
                let (engine, b) = (engine.clone(), b.clone());
                tasks.push(tokio::spawn(async move {
                    let k = ObjectKey::new(format!("{kind}/{round}/{w}")).unwrap();
                    let t = Instant::now();
                    let n = drain(&engine, &b, &k).await;
                    (t.elapsed(), n)
                }));
            }
            for t in tasks {
                let (d, n) = t.await.unwrap();
                assert_eq!(n as usize, scale.large_bytes);
                lat.push(d);
            }
        }
        let name = format!(
            "get {} MiB {kind} ({} conc)",
            scale.large_bytes >> 20,
            scale.large_writers
        );
        report(&name, ops, bytes, start.elapsed(), lat);
    }
}

/// The peer measured in the same run: one file per object, written and fdatasync'd on a
/// blocking thread, read back whole — no compression, no erasure coding, no index, no
/// directory fsync. It is what a file-per-object store (s3s-fs and the like) does beneath
/// its HTTP layer, made durable like Stratum's writes.
async fn fs_peer(root: &std::path::Path, scale: &Scale) {
    let dir = root.join("fs-peer");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |path: std::path::PathBuf, data: Bytes| {
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let mut f = std::fs::File::create(&path).unwrap();
            std::io::Write::write_all(&mut f, &data).unwrap();
            f.sync_data().unwrap();
            t.elapsed()
        })
    };
    let read = |path: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let n = std::fs::read(&path).unwrap().len();
            (t.elapsed(), n)
        })
    };
    let payload = Bytes::from(stratum_codec::corpus::text_like(4096, 1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..scale.small_writers {
        let (dir, payload) = (dir.clone(), payload.clone());
        let n = scale.small_per_writer;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in 0..n {
                lat.push(
                    write(dir.join(format!("w{w}-o{i}")), payload.clone())
                        .await
                        .unwrap(),
                );
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let ops = lat.len();
    report(
        "peer put 4 KiB (32 conc)",
        ops,
        ops as u64 * 4096,
        start.elapsed(),
        lat,
    );
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..scale.small_writers {
        let dir = dir.clone();
        let (n, writers) = (scale.small_per_writer, scale.small_writers);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in 0..n {
                let path = dir.join(format!("w{}-o{}", (w + 1) % writers, (i * 7) % n));
                lat.push(read(path).await.unwrap().0);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    report(
        "peer get 4 KiB (32 conc)",
        ops,
        ops as u64 * 4096,
        start.elapsed(),
        lat,
    );

    for (kind, data) in [
        (
            "text",
            stratum_codec::corpus::text_like(scale.large_bytes, 7),
        ),
        (
            "random",
            stratum_codec::corpus::random(scale.large_bytes, 7),
        ),
    ] {
        let data = Bytes::from(data);
        let mut lat = Vec::new();
        let start = Instant::now();
        for round in 0..scale.large_rounds {
            let tasks: Vec<_> = (0..scale.large_writers)
                .map(|w| write(dir.join(format!("{kind}-{round}-{w}")), data.clone()))
                .collect();
            for t in tasks {
                lat.push(t.await.unwrap());
            }
        }
        let ops = lat.len();
        let bytes = (ops * scale.large_bytes) as u64;
        let mib = scale.large_bytes >> 20;
        report(
            &format!("peer put {mib} MiB {kind}"),
            ops,
            bytes,
            start.elapsed(),
            lat,
        );
        let mut lat = Vec::new();
        let start = Instant::now();
        for round in 0..scale.large_rounds {
            let tasks: Vec<_> = (0..scale.large_writers)
                .map(|w| read(dir.join(format!("{kind}-{round}-{w}"))))
                .collect();
            for t in tasks {
                lat.push(t.await.unwrap().0);
            }
        }
        report(
            &format!("peer get {mib} MiB {kind}"),
            ops,
            bytes,
            start.elapsed(),
            lat,
        );
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
