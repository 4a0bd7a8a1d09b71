//! Measures the cold tier's path end to end against moto's S3 server on loopback: packing
//! (read from hot, recompress, upload, flip) and reading back (ranged GETs, verify,
//! decode), with the same objects read from hot in the same run as the reference.
//!
//! `cargo run --release -p stratum-engine --example cold_bench -- [OBJECTS] [KIB]`
//! (default 200 objects of 256 KiB of text-like data). Needs `scripts/e2e-deps.sh` (moto).
//! moto is a Python server: the absolute cold figures are bounded by it; the ratios show
//! what the cold path costs against hot on the same machine.

#[path = "../../../tests/support/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use stratum_core::config::{ColdTierConfig, EngineConfig};
use stratum_core::{BucketName, ObjectKey, Tier};
use stratum_engine::{ColdCandidate, Engine, PutOptions, RangeSpec};

async fn read_all(
    engine: &Engine,
    b: &BucketName,
    k: &ObjectKey,
    range: Option<RangeSpec>,
) -> usize {
    let mut get = engine.get_object(b, k, range).await.expect("get");
    let mut n = 0;
    while let Some(chunk) = get.body.next().await {
        n += chunk.expect("chunk").len();
    }
    n
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let objects: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let kib: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(256);
    let moto = moto::Moto::start();
    moto.create_bucket("bench-cold");
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("creds");
    moto.write_credentials(&creds);
    let mut config = EngineConfig::under(dir.path(), 6);
    let mut cold = ColdTierConfig::new(moto.endpoint(), "bench-cold");
    cold.credentials_file = Some(creds);
    cold.max_requests_per_sec = 10_000;
    cold.max_concurrency = 16;
    config.storage.cold = Some(cold.clone());
    let (engine, _) = Engine::open(config).await.expect("open");
    let b = BucketName::new("bench").unwrap();
    engine.create_bucket(&b).await.unwrap();
    let mut candidates = Vec::new();
    let mut keys = Vec::new();
    for i in 0..objects {
        let body = Bytes::from(stratum_codec::corpus::text_like(kib * 1024, i as u64));
        let key = ObjectKey::new(format!("obj-{i:05}")).unwrap();
        let info = engine
            .put_object(
                &b,
                &key,
                futures::stream::iter([Ok(body)]),
                PutOptions::default(),
            )
            .await
            .expect("put");
        candidates.push(ColdCandidate {
            bucket: b.clone(),
            key: key.clone(),
            seq: info.seq,
        });
        keys.push(key);
    }
    let logical = (objects * kib * 1024) as f64;
    let stored_hot = engine.stored_bytes_by_tier().await.unwrap()[0] as f64;

    // Reference: every object read from hot.
    let t = Instant::now();
    for k in &keys {
        read_all(&engine, &b, k, None).await;
    }
    let hot_read = t.elapsed().as_secs_f64();

    // Pack everything into cold (as many volumes as volume_bytes makes).
    let t = Instant::now();
    let mut queue = candidates;
    let (mut volumes, mut uploaded, mut recompress) = (0, 0u64, 0.0);
    while !queue.is_empty() {
        let r = engine.pack_to_cold(queue).await.expect("pack");
        volumes += usize::from(r.volume.is_some());
        uploaded += r.bytes_uploaded;
        recompress += r.recompress_secs;
        queue = r.deferred;
    }
    let pack = t.elapsed().as_secs_f64();
    assert_eq!(engine.usage().tier_objects[2] as usize, objects);

    // Every object read from cold, then one 4 KiB range of each.
    let t = Instant::now();
    for k in &keys {
        read_all(&engine, &b, k, None).await;
    }
    let cold_read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in &keys {
        read_all(&engine, &b, k, Some(RangeSpec::FromTo(100_000, 104_095))).await;
    }
    let cold_range = t.elapsed().as_secs_f64();
    let mb = |bytes: f64, secs: f64| bytes / secs / 1e6;
    println!(
        "objects {objects} x {kib} KiB text; cold zstd level {}; {volumes} cold volume(s)",
        cold.zstd_level
    );
    println!(
        "stored: hot {:.1} MB (4+2, zstd-1: {:.2}x of original), cold {:.1} MB ({:.2}x of original, {:.2}x of hot)",
        stored_hot / 1e6,
        stored_hot / logical,
        uploaded as f64 / 1e6,
        uploaded as f64 / logical,
        uploaded as f64 / stored_hot
    );
    println!(
        "pack to cold: {:.1} MB/s of original ({:.1} s; recompression {:.1} s of it)",
        mb(logical, pack),
        pack,
        recompress
    );
    println!(
        "GET whole: hot {:.1} MB/s, cold {:.1} MB/s (cold/hot {:.2}); per object hot {:.2} ms, cold {:.2} ms",
        mb(logical, hot_read),
        mb(logical, cold_read),
        hot_read / cold_read,
        hot_read * 1e3 / objects as f64,
        cold_read * 1e3 / objects as f64
    );
    println!(
        "GET 4 KiB range from cold: {:.2} ms per request",
        cold_range * 1e3 / objects as f64
    );
    let tiers = [Tier::Hot, Tier::Warm, Tier::Cold]
        .map(|t| engine.usage().tier_objects[stratum_engine::tier_slot(t)]);
    println!("objects per tier (hot, warm, cold): {tiers:?}");
}
