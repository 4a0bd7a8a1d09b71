//! Shared helpers for the engine's integration tests: shrunk knobs so rare paths run all
//! the time (1 KiB frames, 8 KiB small-object threshold, 256 KiB shared volumes), bodies,
//! and readers.
#![allow(dead_code)]

use std::path::Path;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use stratum_core::config::{EngineConfig, FramePolicy};
use stratum_core::{BucketName, ObjectKey};
use stratum_engine::{Engine, GetObject, PutOptions, RangeSpec};

/// A config with every knob shrunk: many frames, many volumes, many rounds.
pub fn small_config(root: &Path) -> EngineConfig {
    let mut c = EngineConfig::under(root, 6);
    c.codec.frames = FramePolicy {
        small_frame_bytes: 1024,
        medium_frame_bytes: 4096,
        large_frame_bytes: 16384,
        medium_from_bytes: 8 * 1024,
        large_from_bytes: 64 * 1024,
    };
    c.shared_object_bytes_max = 8 * 1024;
    c.storage.shared_volume_bytes_max = 256 * 1024;
    c.pipeline_frames = 3;
    c.metadata.cache_capacity_bytes = 8 * 1024 * 1024;
    c
}

pub async fn open(root: &Path) -> Engine {
    Engine::open(small_config(root))
        .await
        .expect("engine opens")
        .0
}

pub fn bucket(name: &str) -> BucketName {
    BucketName::new(name).unwrap()
}

pub fn key(name: &str) -> ObjectKey {
    ObjectKey::new(name).unwrap()
}

/// A body stream delivering `data` in chunks of `chunk` bytes.
pub fn body(
    data: &[u8],
    chunk: usize,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + Unpin {
    let chunks: Vec<std::io::Result<Bytes>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

/// Compressible bytes (text-like) or incompressible ones, deterministic per seed.
pub fn data(len: usize, seed: u64, text: bool) -> Vec<u8> {
    if text {
        stratum_codec::corpus::text_like(len, seed)
    } else {
        stratum_codec::corpus::random(len, seed)
    }
}

pub async fn put(
    engine: &Engine,
    b: &BucketName,
    k: &str,
    data: &[u8],
) -> stratum_engine::ObjectInfo {
    engine
        .put_object(b, &key(k), body(data, 3000), PutOptions::default())
        .await
        .expect("put succeeds")
}

pub async fn read_all(get: GetObject) -> Vec<u8> {
    let mut out = Vec::new();
    let mut body = get.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("body chunk"));
    }
    out
}

pub async fn get(engine: &Engine, b: &BucketName, k: &str) -> Vec<u8> {
    read_all(engine.get_object(b, &key(k), None).await.expect("get")).await
}

pub async fn get_range(engine: &Engine, b: &BucketName, k: &str, first: u64, last: u64) -> Vec<u8> {
    read_all(
        engine
            .get_object(b, &key(k), Some(RangeSpec::FromTo(first, last)))
            .await
            .expect("ranged get"),
    )
    .await
}

/// Every stripe file of a tier, to damage in tests.
pub fn shard_files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("hot")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Hex MD5 of bytes.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}
