//! What only a persistent store can promise: data and sequence numbers survive a reopen,
//! an unknown format or a garbled record is refused, and concurrent flushing committers
//! (single puts and batches) are all durable.

use std::sync::Arc;

use stratum_core::VolumeId;
use stratum_metadata::{
    AccessKeyRecord, DecisionRow, MetaError, MetadataStore, PutCondition, PutItem, SledStore,
};

use crate::common::*;

/// Opens the raw sled database under a store, waiting (as `SledStore::open` does) for the
/// previous handle's background threads to release the file lock.
fn raw_open(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    let rec = object(3, "e", &[stripe(1, 0, 10)], Some(stripe(1, 100, 1)));
    let p = part(1, &[stripe(2, 0, 10)]);
    let before_live;
    {
        let s = SledStore::open(&cfg).unwrap();
        let b = create_bucket(&s, "bkt");
        s.put_object(&b, &key("k"), &rec, &PutCondition::None)
            .unwrap();
        s.create_upload(&upload("up", "bkt", "mp")).unwrap();
        s.put_part(&upload_id("up"), &p).unwrap();
        s.put_access_key(&AccessKeyRecord {
            access_key: "AK".to_owned(),
            secret_key: "S".to_owned(),
            created_ms: 0,
            name: None,
        })
        .unwrap();
        before_live = s.all_volume_live_bytes().unwrap();
    }
    let s = SledStore::open(&cfg).unwrap();
    let b = bucket("bkt");
    assert!(s.get_bucket(&b).unwrap().is_some());
    assert_eq!(s.get_object(&b, &key("k")).unwrap(), Some(rec));
    assert_eq!(
        s.get_upload(&upload_id("up")).unwrap(),
        Some(upload("up", "bkt", "mp"))
    );
    assert_eq!(s.list_parts(&upload_id("up"), 0, 10).unwrap(), vec![p]);
    assert!(s.get_access_key("AK").unwrap().is_some());
    assert_eq!(s.all_volume_live_bytes().unwrap(), before_live);
    assert_eq!(
        before_live,
        vec![(VolumeId(1), disk(10) + disk(1)), (VolumeId(2), disk(10))]
    );
    assert_live_bytes_consistent(&s);
}

#[test]
fn next_seq_strictly_increasing_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    let mut last = 0;
    for _ in 0..3 {
        let s = SledStore::open(&cfg).unwrap();
        for _ in 0..50 {
            let n = s.next_seq().unwrap();
            assert!(n > last, "{n} after {last}");
            last = n;
        }
    }
}

#[test]
fn raise_seq_floor_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), false);
    {
        let s = SledStore::open(&cfg).unwrap();
        s.next_seq().unwrap();
        s.raise_seq_floor(5_000_000_000).unwrap();
        assert!(s.next_seq().unwrap() > 5_000_000_000);
    }
    let s = SledStore::open(&cfg).unwrap();
    assert!(s.next_seq().unwrap() > 5_000_000_000);
}

#[test]
fn unknown_store_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    drop(SledStore::open(&cfg).unwrap());
    {
        let db = raw_open(&cfg.path);
        db.open_tree("meta")
            .unwrap()
            .insert("format", &[9u8][..])
            .unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(
        SledStore::open(&cfg),
        Err(MetaError::Corrupt { tree: "meta", .. })
    ));
}

/// A copy of a `Corrupt` error (MetaError is not Clone); other errors become a panic.
fn clone_err(e: &MetaError) -> MetaError {
    match e {
        MetaError::Corrupt { tree, detail } => MetaError::Corrupt {
            tree,
            detail: detail.clone(),
        },
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn garbled_records_are_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    {
        let s = SledStore::open(&cfg).unwrap();
        let b = create_bucket(&s, "bkt");
        s.put_object(
            &b,
            &key("k"),
            &object(1, "e", &[stripe(1, 0, 1)], None),
            &PutCondition::None,
        )
        .unwrap();
    }
    {
        let db = raw_open(&cfg.path);
        db.open_tree("objects")
            .unwrap()
            .insert(b"bkt\0k", &[1u8, 0xff, 0xff][..])
            .unwrap();
        db.open_tree("volumes")
            .unwrap()
            .insert(1u64.to_be_bytes(), &[1u8, 2][..])
            .unwrap();
        db.flush().unwrap();
    }
    let s = SledStore::open(&cfg).unwrap();
    let b = bucket("bkt");
    let corrupt = |r: Result<_, MetaError>, tree: &str| match r {
        Err(MetaError::Corrupt { tree: t, .. }) => assert_eq!(t, tree),
        Err(e) => panic!("expected Corrupt in {tree}, got {e}"),
        Ok(_) => panic!("expected Corrupt in {tree}, got a value"),
    };
    corrupt(s.get_object(&b, &key("k")).map(|_| ()), "objects");
    corrupt(
        s.scan_objects(&b, std::ops::Bound::Unbounded, 10)
            .map(|_| ()),
        "objects",
    );
    corrupt(
        s.put_object(
            &b,
            &key("k"),
            &object(2, "e", &[], None),
            &PutCondition::None,
        )
        .map(|_| ()),
        "objects",
    );
    // In a batch, a garbled current record fails only its own item.
    let results = s
        .put_objects(&[
            PutItem {
                bucket: b.clone(),
                key: key("k"),
                record: object(2, "e", &[], None),
                cond: PutCondition::None,
            },
            PutItem {
                bucket: b.clone(),
                key: key("fresh"),
                record: object(2, "e", &[], None),
                cond: PutCondition::None,
            },
        ])
        .unwrap();
    corrupt(
        results[0].as_ref().map(|_| ()).map_err(clone_err),
        "objects",
    );
    assert!(results[1].as_ref().unwrap().applied);
    // A garbled live-bytes entry fails the whole batch, and nothing applies.
    let batch = s.put_objects(&[
        PutItem {
            bucket: b.clone(),
            key: key("empty"),
            record: object(3, "e", &[], None),
            cond: PutCondition::None,
        },
        PutItem {
            bucket: b.clone(),
            key: key("in-vol-1"),
            record: object(3, "e", &[stripe(1, 0, 1)], None),
            cond: PutCondition::None,
        },
    ]);
    corrupt(batch.map(|_| ()), "volumes");
    assert_eq!(s.get_object(&b, &key("empty")).unwrap(), None);
    corrupt(s.volume_live_bytes(VolumeId(1)).map(|_| ()), "volumes");
    corrupt(s.recompute_volume_live_bytes().map(|_| ()), "objects");
}

#[test]
fn group_commit_concurrent_committers_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    {
        let s = Arc::new(SledStore::open(&cfg).unwrap());
        let b = create_bucket(&*s, "bkt");
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let s = Arc::clone(&s);
                let b = b.clone();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let seq = s.next_seq().unwrap();
                        let rec = object(seq, "e", &[stripe(t, i, 1)], None);
                        s.put_object(&b, &key(&format!("{t}/{i}")), &rec, &PutCondition::None)
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let s = SledStore::open(&cfg).unwrap();
    assert_eq!(all_keys(&s, &bucket("bkt")).len(), 160);
    assert_live_bytes_consistent(&s);
}

fn batch_item(b: &str, k: &str, record: stratum_metadata::ObjectRecord) -> PutItem {
    PutItem {
        bucket: bucket(b),
        key: key(k),
        record,
        cond: PutCondition::None,
    }
}

#[test]
fn batches_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    let before_live;
    let before_keys;
    {
        let s = SledStore::open(&cfg).unwrap();
        create_bucket(&s, "bkt");
        let items: Vec<_> = (0..32u64)
            .map(|i| {
                let rec = object(i + 1, "e", &[stripe(i % 3, i * 100, 10)], None);
                batch_item("bkt", &format!("k{i:02}"), rec)
            })
            .chain([
                // Two puts on one key (the second wins) and one refused item.
                batch_item("bkt", "k00", object(50, "last", &[stripe(7, 0, 5)], None)),
                batch_item("nope", "x", object(51, "x", &[stripe(8, 0, 5)], None)),
            ])
            .collect();
        let stats = s.commit_stats();
        let results = s.put_objects(&items).unwrap();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 33);
        let after = s.commit_stats();
        assert_eq!(after.commits - stats.commits, 1, "a batch is one commit");
        assert_eq!(after.flushes - stats.flushes, 1, "and one flush");
        before_live = s.all_volume_live_bytes().unwrap();
        before_keys = all_keys(&s, &bucket("bkt"));
    }
    let s = SledStore::open(&cfg).unwrap();
    assert_eq!(all_keys(&s, &bucket("bkt")), before_keys);
    assert_eq!(before_keys.len(), 32);
    assert_eq!(
        s.get_object(&bucket("bkt"), &key("k00"))
            .unwrap()
            .unwrap()
            .etag,
        "last"
    );
    assert_eq!(s.all_volume_live_bytes().unwrap(), before_live);
    assert_eq!(s.volume_live_bytes(VolumeId(7)).unwrap(), disk(5));
    assert_eq!(s.volume_live_bytes(VolumeId(8)).unwrap(), 0);
    assert_live_bytes_consistent(&s);
}

#[test]
fn concurrent_batch_committers_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    {
        let s = Arc::new(SledStore::open(&cfg).unwrap());
        create_bucket(&*s, "bkt");
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..5u64 {
                        let items: Vec<_> = (0..8u64)
                            .map(|j| {
                                let seq = s.next_seq().unwrap();
                                let rec = object(seq, "e", &[stripe(t, i * 8 + j, 1)], None);
                                batch_item("bkt", &format!("{t}/{i}/{j}"), rec)
                            })
                            .collect();
                        for r in s.put_objects(&items).unwrap() {
                            assert!(r.unwrap().applied);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let s = SledStore::open(&cfg).unwrap();
    assert_eq!(all_keys(&s, &bucket("bkt")).len(), 8 * 5 * 8);
    assert_live_bytes_consistent(&s);
}

#[test]
fn access_batches_are_one_flush_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    let entries: Vec<_> = (0..50u8)
        .map(|i| (bucket("bkt"), key(&format!("k{i:02}")), vec![i; 3]))
        .collect();
    {
        let s = SledStore::open(&cfg).unwrap();
        let stats = s.commit_stats();
        s.put_access_batch(&entries).unwrap();
        let after = s.commit_stats();
        assert_eq!(after.commits - stats.commits, 1, "a batch is one commit");
        assert_eq!(after.flushes - stats.flushes, 1, "and one flush");
    }
    let s = SledStore::open(&cfg).unwrap();
    assert_eq!(s.scan_access(None, 1000).unwrap(), entries);
}

#[test]
fn decision_batches_are_one_flush_and_survive_reopen_with_their_last_id() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    let rows: Vec<_> = (1..=40u64)
        .map(|id| DecisionRow {
            id,
            bucket: bucket("bkt"),
            key: key(&format!("k{}", id % 4)),
            bytes: vec![id as u8; 5],
        })
        .collect();
    {
        let s = SledStore::open(&cfg).unwrap();
        let stats = s.commit_stats();
        s.put_decisions(&rows).unwrap();
        let after = s.commit_stats();
        assert_eq!(after.commits - stats.commits, 1, "a batch is one commit");
        assert_eq!(after.flushes - stats.flushes, 1, "and one flush");
        let stats = after;
        assert_eq!(s.trim_decisions(31).unwrap(), 30);
        let after = s.commit_stats();
        assert_eq!(after.commits - stats.commits, 1, "a trim is one ticket");
    }
    let s = SledStore::open(&cfg).unwrap();
    let stored = s.scan_decisions(None, 100).unwrap();
    let expected: Vec<_> = rows[30..].iter().map(|r| (r.id, r.bytes.clone())).collect();
    assert_eq!(stored, expected);
    let k1: Vec<u64> = s
        .object_decisions(&bucket("bkt"), &key("k1"), 10)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(k1, [37, 33]);
    // Everything trimmed and reopened: the next id still continues after 40.
    assert_eq!(s.trim_decisions(u64::MAX).unwrap(), 10);
    drop(s);
    let s = SledStore::open(&cfg).unwrap();
    assert_eq!(s.last_decision_id().unwrap(), Some(40));
    assert!(s.scan_decisions_rev(None, 10).unwrap().is_empty());
}

#[test]
fn a_decision_row_cut_short_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = sled_config(dir.path(), true);
    {
        let s = SledStore::open(&cfg).unwrap();
        s.put_decisions(&[DecisionRow {
            id: 1,
            bucket: bucket("bkt"),
            key: key("k"),
            bytes: vec![1, 2, 3],
        }])
        .unwrap();
    }
    {
        let db = raw_open(&cfg.path);
        db.open_tree("decisions")
            .unwrap()
            .insert(1u64.to_be_bytes(), &[0, 0, 0, 9, b'b'][..])
            .unwrap();
        db.flush().unwrap();
    }
    let s = SledStore::open(&cfg).unwrap();
    assert!(matches!(
        s.scan_decisions(None, 10),
        Err(MetaError::Corrupt {
            tree: "decisions",
            ..
        })
    ));
    assert!(matches!(
        s.object_decisions(&bucket("bkt"), &key("k"), 10),
        Err(MetaError::Corrupt { .. })
    ));
    // A trim still removes it (its index entry cannot be found and stays behind, skipped
    // by readers since its row is gone), so a damaged row never blocks the log for good.
    assert_eq!(s.trim_decisions(2).unwrap(), 1);
    assert!(s.scan_decisions(None, 10).unwrap().is_empty());
    assert!(s
        .object_decisions(&bucket("bkt"), &key("k"), 10)
        .unwrap()
        .is_empty());
}
