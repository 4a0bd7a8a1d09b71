//! Index rebuild: with the metadata directory deleted, the volumes alone restore the same
//! buckets, listing and bodies.

mod common;

use common::*;
use stratum_core::Tier;
use stratum_engine::{CompletedPart, CopyOptions, Engine, ListParams, PutOptions};
use stratum_metadata::PutCondition;

async fn snapshot(engine: &Engine) -> Vec<(String, String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for b in engine.list_buckets().await.unwrap() {
        let page = engine
            .list_objects(
                &b.name,
                ListParams {
                    prefix: String::new(),
                    delimiter: None,
                    start_after: None,
                    max_keys: 1000,
                },
            )
            .await
            .unwrap();
        for (k, r) in page.objects {
            let body = get(engine, &b.name, k.as_str()).await;
            out.push((b.name.to_string(), k.to_string(), r.etag.clone(), body));
        }
    }
    out
}

#[tokio::test]
async fn rebuild_from_volumes_restores_the_same_listing_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (before, objects) = {
        let engine = open(dir.path()).await;
        let (a, b, gone) = (bucket("alpha"), bucket("beta"), bucket("gone"));
        for bk in [&a, &b, &gone] {
            engine.create_bucket(bk).await.unwrap();
        }
        engine.delete_bucket(&gone).await.unwrap();
        for i in 0..40u64 {
            put(
                &engine,
                &a,
                &format!("small/{i}"),
                &data(100 + i as usize * 50, i, i % 3 == 0),
            )
            .await;
        }
        for i in 0..4u64 {
            put(
                &engine,
                &b,
                &format!("large/{i}"),
                &data(90_000 + i as usize, i, true),
            )
            .await;
        }
        // Overwrites, deletes, a copy and a multipart object.
        put(&engine, &a, "small/1", b"overwritten").await;
        put(&engine, &b, "large/0", &data(70_000, 77, false)).await;
        for i in [2u64, 5, 9] {
            engine
                .delete_object(&a, &key(&format!("small/{i}")), PutCondition::None)
                .await
                .unwrap();
        }
        engine
            .delete_object(&b, &key("large/3"), PutCondition::None)
            .await
            .unwrap();
        engine
            .copy_object(
                &a,
                &key("small/7"),
                &b,
                &key("copied"),
                CopyOptions::default(),
            )
            .await
            .unwrap();
        let up = engine
            .create_multipart_upload(&b, &key("mpu"), PutOptions::default())
            .await
            .unwrap();
        let p1 = engine
            .upload_part(
                &b,
                &key("mpu"),
                &up.upload_id,
                1,
                body(&data(5 << 20, 1, true), 1 << 16),
                PutOptions::default(),
            )
            .await
            .unwrap();
        let p2 = engine
            .upload_part(
                &b,
                &key("mpu"),
                &up.upload_id,
                2,
                body(b"last", 4),
                PutOptions::default(),
            )
            .await
            .unwrap();
        engine
            .complete_multipart_upload(
                &b,
                &key("mpu"),
                &up.upload_id,
                vec![
                    CompletedPart {
                        part_number: 1,
                        etag: p1.etag,
                    },
                    CompletedPart {
                        part_number: 2,
                        etag: p2.etag,
                    },
                ],
                PutCondition::None,
            )
            .await
            .unwrap();
        let snap = snapshot(&engine).await;
        (snap.clone(), snap.len())
    };
    assert_eq!(objects, 40 - 3 + 4 - 1 + 2);

    std::fs::remove_dir_all(dir.path().join("meta")).unwrap();
    let (engine, report) = Engine::open(small_config(dir.path())).await.unwrap();
    let rebuilt = report
        .rebuilt
        .clone()
        .expect("an empty index over existing volumes is rebuilt");
    assert_eq!(rebuilt.objects, objects);
    assert_eq!(rebuilt.buckets, 2);
    assert_eq!(rebuilt.unreadable, 0);
    assert!(report.orphan_volumes_deleted.is_empty(), "{report:?}");
    assert_eq!(snapshot(&engine).await, before);
    // New writes after a rebuild get higher sequence numbers than everything restored.
    put(&engine, &bucket("alpha"), "small/1", b"after").await;
    assert_eq!(get(&engine, &bucket("alpha"), "small/1").await, b"after");
    let again = engine.rebuild_index().await.unwrap();
    assert_eq!(again.objects, objects);
    assert_eq!(get(&engine, &bucket("alpha"), "small/1").await, b"after");
    assert!(engine.head_bucket(&bucket("gone")).await.is_err());
    let _ = engine.scrub(Tier::Hot).await.unwrap();
}

#[tokio::test]
async fn an_if_none_match_put_refused_at_commit_stays_refused_after_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let b = bucket("cond");
    engine.create_bucket(&b).await.unwrap();
    // Creators race with If-None-Match: all pass the early check, exactly one commits,
    // and the losers' durable headers (higher sequence numbers, some of them) stay void.
    let mut tasks = Vec::new();
    for i in 0..12u8 {
        let e = engine.clone();
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            e.put_object(
                &b,
                &key("once"),
                body(&[i; 100], 10),
                PutOptions {
                    condition: PutCondition::IfNoneMatch,
                    ..PutOptions::default()
                },
            )
            .await
            .map(|_| i)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Ok(i) = t.await.unwrap() {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one If-None-Match creator wins");
    let want = vec![winners[0]; 100];
    assert_eq!(get(&engine, &b, "once").await, want);
    engine.rebuild_index().await.unwrap();
    assert_eq!(
        get(&engine, &b, "once").await,
        want,
        "losers' headers stay void"
    );
}
