//! The access tracker against real metadata stores: records update statistics, a flush
//! writes only dirty entries in one batch, and statistics survive a flush and a reopen.

use std::sync::Arc;

use stratum_core::config::MetadataConfig;
use stratum_core::{BucketName, ObjectKey, Tier};
use stratum_metadata::{MemoryStore, MetadataStore, SledStore};
use stratum_tiering::tracker::{decode, encode, AccessKind, AccessTracker, CAPACITY_DEFAULT};
use stratum_tiering::{Hint, PolicyConfig};

fn bucket() -> BucketName {
    BucketName::new("bkt").unwrap()
}

fn key(k: &str) -> ObjectKey {
    ObjectKey::new(k).unwrap()
}

fn sled_config(dir: &std::path::Path) -> MetadataConfig {
    MetadataConfig {
        path: dir.join("meta"),
        flush: true,
        cache_capacity_bytes: 8 << 20,
    }
}

fn tracker(store: Arc<dyn MetadataStore>) -> AccessTracker {
    AccessTracker::new(store, PolicyConfig::default(), CAPACITY_DEFAULT)
}

#[test]
fn records_update_stats_in_memory_without_writing() {
    let store = Arc::new(MemoryStore::new());
    let t = tracker(store.clone());
    let (b, k) = (bucket(), key("a"));
    t.record(&b, &k, AccessKind::Get { bytes: 100 }, 100, 10.0)
        .unwrap();
    t.record(&b, &k, AccessKind::Get { bytes: 10 }, 100, 20.0)
        .unwrap();
    t.record(&b, &k, AccessKind::Head, 100, 30.0).unwrap();
    let s = t.stats(&b, &k).unwrap().unwrap();
    assert_eq!((s.gets, s.heads, s.bytes_read), (2, 1, 110));
    assert_eq!(s.last_access_s, Some(20.0));
    assert_eq!(s.last_head_s, Some(30.0));
    assert!(s.frequency > 1.9 && s.burst > 1.0);
    assert_eq!(t.stats(&b, &key("never")).unwrap(), None);
    // Nothing reached the store yet.
    assert_eq!(store.get_access(&b, &k).unwrap(), None);
    assert_eq!(t.dirty(), 1);
}

#[test]
fn flush_writes_only_dirty_entries_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SledStore::open(&sled_config(dir.path())).unwrap());
    let t = tracker(store.clone());
    let b = bucket();
    for i in 0..20 {
        t.record(&b, &key(&format!("k{i}")), AccessKind::Head, 5, 1.0)
            .unwrap();
    }
    let before = store.commit_stats();
    let report = t.flush().unwrap();
    let after = store.commit_stats();
    assert_eq!(report.written, 20);
    assert_eq!(after.commits - before.commits, 1, "one batch");
    assert_eq!(after.flushes - before.flushes, 1, "one flush");
    assert_eq!(t.dirty(), 0);
    // Only the touched entry is written next time; a clean tracker writes nothing.
    t.record(&b, &key("k3"), AccessKind::Get { bytes: 5 }, 5, 2.0)
        .unwrap();
    assert_eq!(t.flush().unwrap().written, 1);
    let before = store.commit_stats();
    assert_eq!(t.flush().unwrap().written, 0);
    assert_eq!(store.commit_stats(), before, "no commit for nothing");
    assert_eq!(t.batches(), 2);
}

#[test]
fn stats_survive_a_flush_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (b, k) = (bucket(), key("photo.jpg"));
    let expected = {
        let store = Arc::new(SledStore::open(&sled_config(dir.path())).unwrap());
        let t = tracker(store.clone());
        t.record(&b, &k, AccessKind::Get { bytes: 4096 }, 4096, 100.0)
            .unwrap();
        t.record(&b, &k, AccessKind::Get { bytes: 10 }, 4096, 160.0)
            .unwrap();
        t.record(&b, &k, AccessKind::Head, 4096, 170.0).unwrap();
        t.flush().unwrap();
        t.stats(&b, &k).unwrap().unwrap()
    };
    let store = Arc::new(SledStore::open(&sled_config(dir.path())).unwrap());
    let t = tracker(store.clone());
    assert!(t.is_empty());
    assert_eq!(t.stats(&b, &k).unwrap(), Some(expected.clone()));
    // Recording continues from the stored statistics (loaded lazily on first touch).
    t.record(&b, &k, AccessKind::Get { bytes: 1 }, 4096, 200.0)
        .unwrap();
    let s = t.stats(&b, &k).unwrap().unwrap();
    assert_eq!(s.gets, expected.gets + 1);
    assert_eq!(s.created_s, expected.created_s);
}

#[test]
fn an_overwrite_with_a_new_size_starts_afresh_and_forget_removes() {
    let store = Arc::new(MemoryStore::new());
    let t = tracker(store.clone());
    let (b, k) = (bucket(), key("a"));
    t.record(&b, &k, AccessKind::Get { bytes: 1 }, 1, 1.0)
        .unwrap();
    t.record(&b, &k, AccessKind::Get { bytes: 2 }, 2, 2.0)
        .unwrap();
    let s = t.stats(&b, &k).unwrap().unwrap();
    assert_eq!((s.size, s.gets, s.created_s), (2, 1, 2.0));
    t.flush().unwrap();
    t.forget(&b, &k).unwrap();
    assert_eq!(t.stats(&b, &k).unwrap(), None);
    assert_eq!(store.get_access(&b, &k).unwrap(), None);
}

#[test]
fn memory_is_capped_by_evicting_clean_entries_which_reload() {
    let store = Arc::new(MemoryStore::new());
    // 64 shards, one entry each.
    let t = AccessTracker::new(store.clone(), PolicyConfig::default(), 64);
    let b = bucket();
    for i in 0..1000 {
        t.record(&b, &key(&format!("k{i}")), AccessKind::Head, 1, 1.0)
            .unwrap();
    }
    // All dirty: nothing recorded may be dropped.
    assert_eq!(t.len(), 1000);
    let report = t.flush().unwrap();
    assert_eq!(report.written, 1000);
    assert!(t.len() <= 64, "{} entries after flush", t.len());
    assert_eq!(report.evicted, 1000 - t.len());
    // An evicted entry reloads from the store and keeps counting.
    for i in 0..1000 {
        t.record(&b, &key(&format!("k{i}")), AccessKind::Head, 1, 2.0)
            .unwrap();
    }
    t.flush().unwrap();
    let s = t.stats(&b, &key("k999")).unwrap().unwrap();
    assert_eq!(s.heads, 2);
}

#[test]
fn the_stored_encoding_round_trips_and_refuses_garbage() {
    let store = Arc::new(MemoryStore::new());
    let t = tracker(store);
    let (b, k) = (bucket(), key("a"));
    t.record(&b, &k, AccessKind::Get { bytes: 3 }, 9, 5.0)
        .unwrap();
    let mut s = t.stats(&b, &k).unwrap().unwrap();
    assert_eq!(decode(&encode(&s)).unwrap(), s);
    assert!(decode(&[]).is_err());
    assert!(decode(&[9, 0, 0]).is_err());
    // Version 2 carries the long prior window ...
    s.long_prior_reads = 1.25;
    s.long_window_gets = 3;
    s.long_prior_closed = true;
    assert_eq!(decode(&encode(&s)).unwrap(), s);
    // ... and a version-1 record (written before it existed: no trailing long-window
    // fields, which postcard writes as 8 + 1 + 1 bytes at their defaults) still decodes,
    // with the long window at its defaults.
    s.long_prior_reads = 0.0;
    s.long_window_gets = 0;
    s.long_prior_closed = false;
    let mut v1 = encode(&s);
    v1.truncate(v1.len() - 10);
    v1[0] = 1;
    assert_eq!(decode(&v1).unwrap(), s);
    // A version-2 record cut short is refused, not defaulted.
    let v2 = encode(&s);
    assert!(decode(&v2[..v2.len() - 10]).is_err());
}

#[test]
fn a_move_is_persisted_and_comes_back_after_a_restart() {
    let store = Arc::new(MemoryStore::new());
    let (b, k) = (bucket(), key("moved"));
    {
        let t = tracker(store.clone());
        // Never read: the mover's move still lands in the tracker, dirty.
        let mut s = stratum_tiering::AccessStats::new(1.0, 42, Tier::Hot, Hint::Auto, 7, 0.0);
        s.record_move(100.0, Tier::Warm);
        t.set_placement(&b, &k, &s);
        assert_eq!(t.dirty(), 1);
        t.flush().unwrap();
    }
    let t = tracker(store);
    let s = t.stats(&b, &k).unwrap().unwrap();
    assert_eq!(
        (s.tier, s.last_move_s, s.class),
        (Tier::Warm, Some(100.0), 7)
    );
    // A later move of the entry in memory updates it in place.
    let mut again = s.clone();
    again.record_move(200.0, Tier::Cold);
    t.record(&b, &k, AccessKind::Head, 42, 150.0).unwrap();
    t.set_placement(&b, &k, &again);
    let s = t.stats(&b, &k).unwrap().unwrap();
    assert_eq!(
        (s.tier, s.last_move_s, s.heads),
        (Tier::Cold, Some(200.0), 1)
    );
}
