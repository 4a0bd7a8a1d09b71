//! Tier moves against a real cold tier: hot → warm → cold and back, reads from cold (whole
//! and ranged, only the needed frames), races with overwrites and deletes, remote space
//! reclaimed by deletes, remote compaction and reconciliation, and a restart after a pack
//! killed between its upload and its flips. The cold tier is moto's S3 server.

mod common;
#[path = "../../../tests/support/moto.rs"]
#[allow(dead_code)]
mod moto;

use std::path::Path;

use common::*;
use stratum_core::config::{ColdTierConfig, DiskSetConfig, EngineConfig};
use stratum_core::Tier;
use stratum_engine::PutCondition;
use stratum_engine::{ColdCandidate, Engine};

fn tiered_config(root: &Path, moto: &moto::Moto, bucket: &str) -> EngineConfig {
    let mut c = small_config(root);
    let mut warm = DiskSetConfig::under(&root.join("warm"), 3);
    warm.data_pieces = 2;
    warm.parity_pieces = 1;
    c.storage.warm = Some(warm);
    let creds = root.join("cold-credentials");
    moto.write_credentials(&creds);
    let mut cold = ColdTierConfig::new(moto.endpoint(), bucket);
    cold.credentials_file = Some(creds);
    cold.max_requests_per_sec = 1000;
    cold.retry_backoff_ms = 10;
    cold.part_bytes = 5 * 1024 * 1024;
    cold.volume_bytes = 64 * 1024;
    cold.zstd_level = 9;
    c.storage.cold = Some(cold);
    c
}

async fn open_tiered(root: &Path, moto: &moto::Moto, bucket: &str) -> Engine {
    Engine::open(tiered_config(root, moto, bucket))
        .await
        .expect("engine opens")
        .0
}

fn candidate(engine_seq: u64, b: &str, k: &str) -> ColdCandidate {
    ColdCandidate {
        bucket: bucket(b),
        key: key(k),
        seq: engine_seq,
    }
}

async fn tier_of(engine: &Engine, b: &str, k: &str) -> Tier {
    engine.head_object(&bucket(b), &key(k)).await.unwrap().tier
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_move_through_every_tier_and_read_back_identical() {
    let moto = moto::Moto::start();
    moto.create_bucket("cold1");
    let dir = tempfile::tempdir().unwrap();
    let engine = open_tiered(dir.path(), &moto, "cold1").await;
    let b = bucket("photos");
    engine.create_bucket(&b).await.unwrap();
    // A small shared object, a large dedicated one (many frames), text and random.
    let small = data(3000, 1, true);
    let large = data(200_000, 2, true);
    let noise = data(50_000, 3, false);
    let s = put(&engine, &b, "small", &small).await;
    let l = put(&engine, &b, "large", &large).await;
    let n = put(&engine, &b, "noise", &noise).await;

    // Hot → warm.
    let r = engine
        .move_object(&b, &key("large"), l.seq, Tier::Warm)
        .await
        .unwrap();
    assert!(r.moved && r.from == Tier::Hot && r.bytes_read > 0, "{r:?}");
    assert_eq!(tier_of(&engine, "photos", "large").await, Tier::Warm);
    assert_eq!(get(&engine, &b, "large").await, large);
    assert_eq!(engine.usage().tier_objects, [2, 1, 0]);

    // Warm and hot → cold, in one packed volume; recompressed smaller than stored.
    let report = engine
        .pack_to_cold(vec![
            candidate(s.seq, "photos", "small"),
            candidate(l.seq, "photos", "large"),
            candidate(n.seq, "photos", "noise"),
        ])
        .await
        .unwrap();
    assert_eq!(report.moved.len(), 3, "{report:?}");
    assert!(report.volume.is_some());
    let volumes = engine.cold_volumes().await.unwrap();
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].bytes, report.bytes_uploaded);
    assert_eq!(
        volumes[0].live_bytes + 64,
        volumes[0].bytes,
        "all but the volume header is live"
    );
    for (k, want) in [("small", &small), ("large", &large), ("noise", &noise)] {
        assert_eq!(tier_of(&engine, "photos", k).await, Tier::Cold);
        assert_eq!(&get(&engine, &b, k).await, want, "{k} reads back from cold");
    }
    assert_eq!(engine.usage().tier_objects, [0, 0, 3]);
    // Ranged reads from cold, across frame boundaries and at the ends.
    for (first, last) in [(0, 0), (1000, 1030), (4095, 4097), (150_000, 199_999)] {
        assert_eq!(
            get_range(&engine, &b, "large", first, last).await,
            large[first as usize..=last as usize]
        );
    }
    // A copy of a cold object lands in hot with the same bytes.
    engine
        .copy_object(
            &b,
            &key("large"),
            &b,
            &key("large-copy"),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(tier_of(&engine, "photos", "large-copy").await, Tier::Hot);
    assert_eq!(get(&engine, &b, "large-copy").await, large);
    // A copy placed by the policy is written to the tier asked for; cold is not written
    // directly (the mover packs it), so a copy asked into cold lands where it would have.
    for (name, asked, lands) in [
        ("to-warm", Tier::Warm, Tier::Warm),
        ("to-cold", Tier::Cold, Tier::Hot),
    ] {
        let opts = stratum_engine::CopyOptions {
            tier: Some(asked),
            ..Default::default()
        };
        engine
            .copy_object(&b, &key("large"), &b, &key(name), opts)
            .await
            .unwrap();
        assert_eq!(tier_of(&engine, "photos", name).await, lands, "{name}");
        assert_eq!(get(&engine, &b, name).await, large, "{name}");
    }

    // Cold → hot (promotion), then the object is still byte-identical.
    let r = engine
        .move_object(&b, &key("small"), s.seq, Tier::Hot)
        .await
        .unwrap();
    assert!(r.moved && r.from == Tier::Cold);
    assert_eq!(get(&engine, &b, "small").await, small);

    // Survives a restart: locations, headers and the cold tier all agree.
    drop(engine);
    let engine = open_tiered(dir.path(), &moto, "cold1").await;
    assert_eq!(tier_of(&engine, "photos", "large").await, Tier::Cold);
    assert_eq!(get(&engine, &b, "large").await, large);
    assert_eq!(get(&engine, &b, "small").await, small);
    // The index rebuilt from local volumes alone still finds the cold objects.
    engine.rebuild_index().await.unwrap();
    assert_eq!(tier_of(&engine, "photos", "noise").await, Tier::Cold);
    assert_eq!(get(&engine, &b, "noise").await, noise);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_decisions_never_move_a_newer_version() {
    let moto = moto::Moto::start();
    moto.create_bucket("cold2");
    let dir = tempfile::tempdir().unwrap();
    let engine = open_tiered(dir.path(), &moto, "cold2").await;
    let b = bucket("bkt");
    engine.create_bucket(&b).await.unwrap();
    let old = put(&engine, &b, "k", &data(20_000, 1, true)).await;
    let newer = data(20_000, 2, true);
    put(&engine, &b, "k", &newer).await;
    let r = engine
        .move_object(&b, &key("k"), old.seq, Tier::Warm)
        .await
        .unwrap();
    assert!(!r.moved);
    let report = engine
        .pack_to_cold(vec![candidate(old.seq, "bkt", "k")])
        .await
        .unwrap();
    assert!(
        report.moved.is_empty() && report.volume.is_none(),
        "{report:?}"
    );
    assert!(
        engine.cold_volumes().await.unwrap().is_empty(),
        "no remote object was left"
    );
    assert_eq!(tier_of(&engine, "bkt", "k").await, Tier::Hot);
    assert_eq!(get(&engine, &b, "k").await, newer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_and_remote_compaction_reclaim_remote_space() {
    let moto = moto::Moto::start();
    moto.create_bucket("cold3");
    let dir = tempfile::tempdir().unwrap();
    let engine = open_tiered(dir.path(), &moto, "cold3").await;
    let b = bucket("bkt");
    engine.create_bucket(&b).await.unwrap();
    let mut cands = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..6 {
        let body = data(6000, i, true);
        let info = put(&engine, &b, &format!("k{i}"), &body).await;
        cands.push(candidate(info.seq, "bkt", &format!("k{i}")));
        bodies.push(body);
    }
    let report = engine.pack_to_cold(cands).await.unwrap();
    assert_eq!(report.moved.len(), 6);
    let before = engine.cold_volumes().await.unwrap();
    assert_eq!(before.len(), 1);
    // Delete 4 of 6: the volume is mostly dead; compaction repacks the 2 survivors.
    for i in 0..4 {
        engine
            .delete_object(&b, &key(&format!("k{i}")), PutCondition::None)
            .await
            .unwrap();
    }
    let dead = engine.cold_volumes().await.unwrap()[0].clone();
    assert!(dead.live_bytes < dead.bytes / 2, "{dead:?}");
    let c = engine.compact_cold().await.unwrap();
    assert_eq!(c.objects_moved, 2, "{c:?}");
    assert_eq!(c.volumes_deleted, 1);
    assert_eq!(c.bytes_freed, dead.bytes);
    let after = engine.cold_volumes().await.unwrap();
    assert!(
        after.iter().all(|v| v.id != dead.id && v.live_bytes > 0),
        "{after:?}"
    );
    for i in 4..6 {
        assert_eq!(get(&engine, &b, &format!("k{i}")).await, bodies[i as usize]);
    }
    // Deleting the last objects of a volume deletes its remote object at once.
    for i in 4..6 {
        engine
            .delete_object(&b, &key(&format!("k{i}")), PutCondition::None)
            .await
            .unwrap();
    }
    let left = engine.cold_volumes().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_deletes_unreferenced_cold_volumes_only() {
    // What a pack killed between its upload and its flips leaves (the real kill is in the
    // end-to-end tests, `STRATUM_FAILPOINT=cold.volume_uploaded`): a cold volume that no
    // object references, beside one that is live.
    let moto = moto::Moto::start();
    moto.create_bucket("cold4");
    let dir = tempfile::tempdir().unwrap();
    let engine = open_tiered(dir.path(), &moto, "cold4").await;
    let b = bucket("bkt");
    engine.create_bucket(&b).await.unwrap();
    let body = data(30_000, 9, true);
    let info = put(&engine, &b, "k", &body).await;
    engine
        .pack_to_cold(vec![candidate(info.seq, "bkt", "k")])
        .await
        .unwrap();
    let orphan = stratum_storage::cold::cold_volume_key(stratum_core::VolumeId(
        stratum_storage::cold::COLD_VOLUME_BIT | 999_999,
    ));
    let remote = engine.cold_tier().unwrap().clone();
    remote
        .put_object(&orphan, bytes::Bytes::from(vec![7u8; 5000]))
        .await
        .unwrap();
    // And an upload a killed pack left unfinished (forgotten: its drop would abort it).
    let unfinished = stratum_storage::cold::cold_volume_key(stratum_core::VolumeId(
        stratum_storage::cold::COLD_VOLUME_BIT | 999_998,
    ));
    std::mem::forget(remote.create_multipart_upload(&unfinished).await.unwrap());
    assert_eq!(
        remote
            .list_multipart_uploads("volumes/")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(engine.cold_volumes().await.unwrap().len(), 2);
    drop(engine);
    let engine = open_tiered(dir.path(), &moto, "cold4").await;
    let r = engine.reconcile_cold().await.unwrap();
    assert_eq!(
        (r.volumes, r.orphans_deleted, r.bytes_freed),
        (2, 1, 5000),
        "{r:?}"
    );
    assert_eq!(r.uploads_aborted, 1, "{r:?}");
    assert!(remote
        .list_multipart_uploads("volumes/")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(engine.cold_volumes().await.unwrap().len(), 1);
    assert_eq!(get(&engine, &b, "k").await, body);
}
