//! Many parallel puts, gets and deletes on the same and on different keys: last writer
//! wins, and no read ever returns a mix of two versions.

mod common;

use common::*;
use stratum_engine::{Engine, EngineError, PutOptions};
use stratum_metadata::PutCondition;

/// A self-describing body: `writer:version:len` then bytes derived from that header, so a
/// reader can tell whether what it got is one whole version.
fn versioned_body(writer: u64, version: u64, len: usize) -> Vec<u8> {
    let header = format!("{writer:04}:{version:06}:{len:08}|");
    let mut out = header.clone().into_bytes();
    let seed = writer * 1_000_003 + version;
    let text = seed % 2 == 0;
    out.extend(data(len, seed, text));
    out
}

fn check_whole(bytes: &[u8]) {
    let header_len = 21;
    assert!(bytes.len() >= header_len, "short body");
    let header = std::str::from_utf8(&bytes[..header_len]).expect("header");
    let parts: Vec<u64> = header
        .trim_end_matches('|')
        .split(':')
        .map(|p| p.parse().unwrap())
        .collect();
    let expected = versioned_body(parts[0], parts[1], parts[2] as usize);
    assert!(
        bytes == expected.as_slice(),
        "a read returned a torn or mixed body ({header})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_writers_last_writer_wins_and_reads_are_never_torn() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("race");
    engine.create_bucket(&b).await.unwrap();
    let keys = ["shared-small", "shared-large", "mixed"];
    let mut tasks = Vec::new();
    for writer in 0..8u64 {
        let engine: Engine = engine.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for version in 0..12u64 {
                let k = keys[(writer + version) as usize % keys.len()];
                let len = match k {
                    "shared-small" => 500 + (version as usize * 37),
                    "shared-large" => 40_000 + (version as usize * 1000),
                    _ if version % 2 == 0 => 3000,
                    _ => 70_000,
                };
                let body_bytes = versioned_body(writer, version, len);
                let info = engine
                    .put_object(&b, &key(k), body(&body_bytes, 4096), PutOptions::default())
                    .await
                    .unwrap();
                acked.push((k, info.seq, info.etag));
                // Private keys get deleted and re-read concurrently too.
                let own = format!("own-{writer}");
                put(&engine, &b, &own, &body_bytes).await;
                check_whole(&get(&engine, &b, &own).await);
                engine
                    .delete_object(&b, &key(&own), PutCondition::None)
                    .await
                    .unwrap();
            }
            acked
        }));
    }
    // Readers keep reading the shared keys for as long as the writers run.
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut readers = Vec::new();
    for r in 0..4u64 {
        let engine = engine.clone();
        let b = b.clone();
        let writing = writing.clone();
        readers.push(tokio::spawn(async move {
            let mut reads = 0;
            let mut i = 0u64;
            while writing.load(std::sync::atomic::Ordering::SeqCst) {
                let k = keys[((r + i) % 3) as usize];
                i += 1;
                match engine.get_object(&b, &key(k), None).await {
                    Ok(g) => {
                        check_whole(&read_all(g).await);
                        reads += 1;
                    }
                    Err(EngineError::NoSuchKey) => tokio::task::yield_now().await,
                    Err(e) => panic!("read failed: {e}"),
                }
            }
            reads
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(reads > 0);
    for k in keys {
        let winner = acked
            .iter()
            .filter(|(kk, _, _)| *kk == k)
            .max_by_key(|(_, seq, _)| *seq)
            .unwrap();
        let head = engine.head_object(&b, &key(k)).await.unwrap();
        assert_eq!(head.seq, winner.1, "{k}: the highest sequence wins");
        assert_eq!(head.etag, winner.2);
        check_whole(&get(&engine, &b, k).await);
    }
    // Nothing leaked: the live-bytes table matches a full recomputation.
    let incremental = engine.metadata().all_volume_live_bytes().unwrap();
    let recomputed = engine.metadata().recompute_volume_live_bytes().unwrap();
    let nonzero = |v: Vec<(stratum_core::VolumeId, u64)>| {
        v.into_iter().filter(|(_, b)| *b > 0).collect::<Vec<_>>()
    };
    assert_eq!(nonzero(incremental), nonzero(recomputed));
    // The running object and byte totals match a count of the index.
    let running = engine.usage();
    let mut objects = 0;
    let mut bytes = 0;
    for k in keys {
        if let Ok(head) = engine.head_object(&b, &key(k)).await {
            objects += 1;
            bytes += head.size;
        }
    }
    assert_eq!((running.objects, running.logical_bytes), (objects, bytes));
}
