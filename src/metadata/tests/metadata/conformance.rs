//! The conformance suite: every behaviour of `MetadataStore`, written once against
//! `&dyn MetadataStore` and run against every implementation by `conformance!`.

use std::ops::Bound;
use std::sync::Arc;

use stratum_core::VolumeId;
use stratum_metadata::{
    AccessKeyRecord, BucketRecord, DecisionRow, MetaError, MetadataStore, ObjectRecord,
    PutCondition, PutItem, PutOutcome,
};

use crate::common::*;

/// Instantiates every listed suite function once per store.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[test]
                fn $name() {
                    super::$name(Arc::new(crate::common::memory_store()));
                }
            )*
            use std::sync::Arc;
        }
        mod sled_store {
            $(
                #[test]
                fn $name() {
                    let (_dir, store) = crate::common::sled_store();
                    super::$name(Arc::new(store));
                }
            )*
            use std::sync::Arc;
        }
    };
}

conformance!(
    buckets_create_get_list_delete,
    bucket_delete_refused_while_an_object_remains,
    bucket_delete_refused_while_an_upload_is_in_progress,
    object_calls_on_a_missing_bucket_say_no_such_bucket,
    put_returns_the_replaced_record_and_moves_live_bytes,
    put_with_an_older_seq_is_not_applied,
    put_conditions_are_checked_atomically,
    delete_object_checks_conditions_and_frees_live_bytes,
    a_delete_never_removes_a_newer_write,
    replace_if_seq_swaps_only_the_expected_version,
    scan_objects_honours_bounds_limit_and_bucket_edges,
    uploads_list_by_key_then_id_after_a_marker,
    parts_insert_replace_and_list_in_order,
    complete_upload_replaces_parts_with_the_object,
    complete_upload_with_failed_condition_keeps_the_upload,
    complete_upload_losing_to_a_newer_put_still_removes_the_upload,
    abort_upload_frees_parts,
    copies_sharing_stripes_count_twice,
    seq_is_strictly_increasing_and_floor_is_respected,
    access_keys_crud,
    clear_index_keeps_keys_and_seq,
    concurrent_puts_to_one_key_keep_the_highest_seq,
    concurrent_put_part_and_complete_leave_no_orphan_part,
    put_objects_an_items_error_fails_only_that_item,
    put_objects_later_items_see_earlier_ones_on_the_same_key,
    put_objects_apply_the_seq_rule_item_by_item,
    put_object_is_a_batch_of_one,
    concurrent_batches_keep_the_highest_seq,
    access_batches_replace_scan_in_order_and_delete,
    access_stats_survive_clear_index,
    decisions_scan_both_ways_strictly_past_the_marker,
    decisions_last_id_never_goes_down,
    decisions_trim_removes_rows_below_and_their_index_entries,
    object_decisions_are_newest_first_and_per_object,
    put_decisions_replaces_an_id_and_its_index_entry,
    decisions_survive_clear_index,
);

type Store = Arc<dyn MetadataStore>;

fn buckets_create_get_list_delete(s: Store) {
    for name in ["zeta", "alpha", "mid-1"] {
        create_bucket(&*s, name);
    }
    let dup = s.create_bucket(&BucketRecord {
        name: bucket("alpha"),
        created_ms: 99,
    });
    assert!(matches!(dup, Err(MetaError::BucketAlreadyExists)));
    let rec = s.get_bucket(&bucket("alpha")).unwrap().unwrap();
    assert_eq!(rec.created_ms, 1, "a refused create must not overwrite");
    let names: Vec<_> = s
        .list_buckets()
        .unwrap()
        .into_iter()
        .map(|b| b.name.to_string())
        .collect();
    assert_eq!(names, ["alpha", "mid-1", "zeta"]);
    s.delete_bucket(&bucket("mid-1")).unwrap();
    assert!(s.get_bucket(&bucket("mid-1")).unwrap().is_none());
    assert!(matches!(
        s.delete_bucket(&bucket("mid-1")),
        Err(MetaError::NoSuchBucket)
    ));
    assert_eq!(s.list_buckets().unwrap().len(), 2);
}

fn bucket_delete_refused_while_an_object_remains(s: Store) {
    let b = create_bucket(&*s, "bkt");
    s.put_object(
        &b,
        &key("k"),
        &object(1, "e", &[], None),
        &PutCondition::None,
    )
    .unwrap();
    assert!(matches!(
        s.delete_bucket(&b),
        Err(MetaError::BucketNotEmpty)
    ));
    s.delete_object(&b, &key("k"), &PutCondition::None).unwrap();
    s.delete_bucket(&b).unwrap();
}

fn bucket_delete_refused_while_an_upload_is_in_progress(s: Store) {
    let b = create_bucket(&*s, "bkt");
    // A neighbouring bucket whose name extends this one must not count.
    let other = create_bucket(&*s, "bkt-2");
    s.put_object(
        &other,
        &key("x"),
        &object(1, "e", &[], None),
        &PutCondition::None,
    )
    .unwrap();
    s.create_upload(&upload("u1", "bkt", "k")).unwrap();
    assert!(matches!(
        s.delete_bucket(&b),
        Err(MetaError::BucketNotEmpty)
    ));
    s.abort_upload(&upload_id("u1")).unwrap();
    s.delete_bucket(&b).unwrap();
    assert!(matches!(
        s.delete_bucket(&other),
        Err(MetaError::BucketNotEmpty)
    ));
}

fn object_calls_on_a_missing_bucket_say_no_such_bucket(s: Store) {
    let b = bucket("nope");
    let k = key("k");
    let rec = object(1, "e", &[stripe(1, 0, 10)], None);
    assert!(matches!(s.get_object(&b, &k), Err(MetaError::NoSuchBucket)));
    assert!(matches!(
        s.put_object(&b, &k, &rec, &PutCondition::None),
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        s.delete_object(&b, &k, &PutCondition::None),
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        s.scan_objects(&b, Bound::Unbounded, 10),
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        s.create_upload(&upload("u", "nope", "k")),
        Err(MetaError::NoSuchBucket)
    ));
    assert!(matches!(
        s.list_uploads(&b, None, 10),
        Err(MetaError::NoSuchBucket)
    ));
    assert!(!s.replace_object_if_seq(&b, &k, 1, &rec).unwrap());
    assert_eq!(s.all_volume_live_bytes().unwrap(), vec![]);
}

fn put_returns_the_replaced_record_and_moves_live_bytes(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("photos/cat.jpg");
    let first = object(
        1,
        "aa",
        &[stripe(1, 0, 20), stripe(1, 200, 20)],
        Some(stripe(1, 400, 5)),
    );
    let out = s.put_object(&b, &k, &first, &PutCondition::None).unwrap();
    assert_eq!(
        out,
        PutOutcome {
            applied: true,
            replaced: None
        }
    );
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(first.clone()));
    assert_eq!(
        s.volume_live_bytes(VolumeId(1)).unwrap(),
        2 * disk(20) + disk(5)
    );

    let second = object(2, "bb", &[stripe(2, 0, 30)], Some(stripe(1, 500, 5)));
    let out = s.put_object(&b, &k, &second, &PutCondition::None).unwrap();
    assert!(out.applied);
    assert_eq!(out.replaced, Some(first));
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(second));
    assert_eq!(s.volume_live_bytes(VolumeId(1)).unwrap(), disk(5));
    assert_eq!(s.volume_live_bytes(VolumeId(2)).unwrap(), disk(30));
    assert_eq!(s.volume_live_bytes(VolumeId(3)).unwrap(), 0);
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(1), disk(5)), (VolumeId(2), disk(30))]
    );
    assert_eq!(s.get_object(&b, &key("other")).unwrap(), None);
    assert_live_bytes_consistent(&*s);
}

fn put_with_an_older_seq_is_not_applied(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("k");
    let newer = object(10, "new", &[stripe(1, 0, 10)], None);
    s.put_object(&b, &k, &newer, &PutCondition::None).unwrap();
    let older = object(5, "old", &[stripe(2, 0, 10)], None);
    let out = s.put_object(&b, &k, &older, &PutCondition::None).unwrap();
    assert_eq!(
        out,
        PutOutcome {
            applied: false,
            replaced: None
        }
    );
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(newer.clone()));
    assert_eq!(
        s.volume_live_bytes(VolumeId(2)).unwrap(),
        0,
        "loser's bytes are dead"
    );
    // An equal seq is not older: it applies (a retried write of the same version).
    let same = object(10, "same", &[stripe(3, 0, 10)], None);
    let out = s.put_object(&b, &k, &same, &PutCondition::None).unwrap();
    assert!(out.applied);
    assert_eq!(out.replaced, Some(newer));
    assert_live_bytes_consistent(&*s);
}

fn put_conditions_are_checked_atomically(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("k");
    let v1 = object(1, "etag1", &[stripe(1, 0, 10)], None);
    s.put_object(&b, &k, &v1, &PutCondition::IfNoneMatch)
        .unwrap();
    let v2 = object(2, "etag2", &[stripe(2, 0, 10)], None);
    for cond in [
        PutCondition::IfNoneMatch,
        PutCondition::IfMatch("wrong".to_owned()),
    ] {
        assert!(matches!(
            s.put_object(&b, &k, &v2, &cond),
            Err(MetaError::PreconditionFailed)
        ));
    }
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(v1.clone()));
    assert_eq!(s.volume_live_bytes(VolumeId(2)).unwrap(), 0);
    let out = s
        .put_object(&b, &k, &v2, &PutCondition::IfMatch("etag1".to_owned()))
        .unwrap();
    assert_eq!(out.replaced, Some(v1));
    let v3 = object(3, "etag3", &[], None);
    assert!(
        s.put_object(&b, &k, &v3, &PutCondition::IfMatch("*".to_owned()))
            .unwrap()
            .applied
    );
    assert!(matches!(
        s.put_object(
            &b,
            &key("absent"),
            &v3,
            &PutCondition::IfMatch("*".to_owned())
        ),
        Err(MetaError::PreconditionFailed)
    ));
    assert!(matches!(
        s.put_object(
            &b,
            &key("absent"),
            &v3,
            &PutCondition::IfMatch("etag3".to_owned())
        ),
        Err(MetaError::PreconditionFailed)
    ));
    assert_eq!(s.get_object(&b, &key("absent")).unwrap(), None);
    assert_live_bytes_consistent(&*s);
}

fn delete_object_checks_conditions_and_frees_live_bytes(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("k");
    assert_eq!(s.delete_object(&b, &k, &PutCondition::None).unwrap(), None);
    assert!(matches!(
        s.delete_object(&b, &k, &PutCondition::IfMatch("x".to_owned())),
        Err(MetaError::PreconditionFailed)
    ));
    let rec = object(1, "e1", &[stripe(4, 0, 10)], Some(stripe(4, 100, 1)));
    s.put_object(&b, &k, &rec, &PutCondition::None).unwrap();
    assert!(matches!(
        s.delete_object(&b, &k, &PutCondition::IfMatch("x".to_owned())),
        Err(MetaError::PreconditionFailed)
    ));
    assert!(matches!(
        s.delete_object(&b, &k, &PutCondition::IfNoneMatch),
        Err(MetaError::PreconditionFailed)
    ));
    assert_eq!(
        s.volume_live_bytes(VolumeId(4)).unwrap(),
        disk(10) + disk(1)
    );
    let removed = s
        .delete_object(&b, &k, &PutCondition::IfMatch("e1".to_owned()))
        .unwrap();
    assert_eq!(removed, Some(rec));
    assert_eq!(s.get_object(&b, &k).unwrap(), None);
    assert_eq!(s.volume_live_bytes(VolumeId(4)).unwrap(), 0);
    assert_eq!(s.all_volume_live_bytes().unwrap(), vec![]);
    assert_live_bytes_consistent(&*s);
}

fn a_delete_never_removes_a_newer_write(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("k");
    let rec = object(10, "e10", &[stripe(4, 0, 10)], Some(stripe(4, 100, 1)));
    s.put_object(&b, &k, &rec, &PutCondition::None).unwrap();
    // A delete that took seq 7 (before the write with seq 10 began) removes nothing.
    assert_eq!(
        s.delete_object_before(&b, &k, 7, &PutCondition::None)
            .unwrap(),
        None
    );
    assert_eq!(
        s.delete_object_before(&b, &k, 10, &PutCondition::None)
            .unwrap(),
        None
    );
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(rec.clone()));
    // Its condition is still checked.
    assert!(matches!(
        s.delete_object_before(&b, &k, 7, &PutCondition::IfMatch("x".to_owned())),
        Err(MetaError::PreconditionFailed)
    ));
    // A delete with a higher seq removes it and frees its bytes.
    assert_eq!(
        s.delete_object_before(&b, &k, 11, &PutCondition::None)
            .unwrap(),
        Some(rec)
    );
    assert_eq!(s.get_object(&b, &k).unwrap(), None);
    assert_live_bytes_consistent(&*s);
}

fn replace_if_seq_swaps_only_the_expected_version(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("k");
    let hot = object(
        7,
        "e",
        &[stripe(1, 0, 10), stripe(1, 100, 10)],
        Some(stripe(1, 200, 1)),
    );
    s.put_object(&b, &k, &hot, &PutCondition::None).unwrap();
    // The mover writes the same object elsewhere; seq in its record is ignored.
    let moved = object(
        999,
        "e",
        &[stripe(9, 0, 10), stripe(9, 100, 10)],
        Some(stripe(9, 200, 1)),
    );
    assert!(!s.replace_object_if_seq(&b, &k, 6, &moved).unwrap());
    assert!(!s
        .replace_object_if_seq(&b, &key("absent"), 7, &moved)
        .unwrap());
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(hot.clone()));
    assert!(s.replace_object_if_seq(&b, &k, 7, &moved).unwrap());
    let now = s.get_object(&b, &k).unwrap().unwrap();
    assert_eq!(now.seq, 7, "the replacement keeps the expected seq");
    assert_eq!(now.location, moved.location);
    assert_eq!(s.volume_live_bytes(VolumeId(1)).unwrap(), 0);
    assert_eq!(
        s.volume_live_bytes(VolumeId(9)).unwrap(),
        2 * disk(10) + disk(1)
    );
    // A newer write after the move makes a later CAS with the old seq fail.
    s.put_object(&b, &k, &object(8, "f", &[], None), &PutCondition::None)
        .unwrap();
    assert!(!s.replace_object_if_seq(&b, &k, 7, &hot).unwrap());
    assert_live_bytes_consistent(&*s);
}

fn scan_objects_honours_bounds_limit_and_bucket_edges(s: Store) {
    let b = create_bucket(&*s, "abc");
    let neighbour = create_bucket(&*s, "abc-d");
    for k in ["b", "a/2", "a/1", "é", "a", "z\u{10FFFF}", "a\0x"] {
        s.put_object(&b, &key(k), &object(1, k, &[], None), &PutCondition::None)
            .unwrap();
    }
    s.put_object(
        &neighbour,
        &key("0"),
        &object(1, "n", &[], None),
        &PutCondition::None,
    )
    .unwrap();
    let expected = ["a", "a\0x", "a/1", "a/2", "b", "z\u{10FFFF}", "é"];
    assert_eq!(all_keys(&*s, &b), expected);
    let keys = |start, limit| -> Vec<String> {
        s.scan_objects(&b, start, limit)
            .unwrap()
            .into_iter()
            .map(|(k, r)| {
                assert_eq!(r.etag, k.as_str());
                k.as_str().to_owned()
            })
            .collect()
    };
    assert_eq!(keys(Bound::Included("a/1"), 2), ["a/1", "a/2"]);
    assert_eq!(keys(Bound::Excluded("a/1"), 2), ["a/2", "b"]);
    assert_eq!(keys(Bound::Included("a/10"), 1), ["a/2"]);
    assert_eq!(keys(Bound::Excluded("é"), 10), Vec::<String>::new());
    assert_eq!(keys(Bound::Unbounded, 0), Vec::<String>::new());
    assert_eq!(all_keys(&*s, &neighbour), ["0"]);
}

fn uploads_list_by_key_then_id_after_a_marker(s: Store) {
    let b = create_bucket(&*s, "bkt");
    create_bucket(&*s, "bkt-2");
    for (id, k) in [
        ("u3", "b"),
        ("u2", "a"),
        ("u1", "b"),
        ("u9", "a\0"),
        ("u0", "ab"),
    ] {
        s.create_upload(&upload(id, "bkt", k)).unwrap();
    }
    s.create_upload(&upload("other", "bkt-2", "a")).unwrap();
    let ids = |after, limit| -> Vec<String> {
        s.list_uploads(&b, after, limit)
            .unwrap()
            .into_iter()
            .map(|u| u.upload_id.0)
            .collect()
    };
    assert_eq!(ids(None, 100), ["u2", "u9", "u0", "u1", "u3"]);
    assert_eq!(ids(None, 2), ["u2", "u9"]);
    assert_eq!(ids(Some(("a\0", "u9")), 2), ["u0", "u1"]);
    assert_eq!(ids(Some(("b", "u1")), 10), ["u3"]);
    assert_eq!(ids(Some(("b", "u0")), 10), ["u1", "u3"]);
    assert_eq!(ids(Some(("c", "")), 10), Vec::<String>::new());
    let got = s.get_upload(&upload_id("u2")).unwrap().unwrap();
    assert_eq!(got, upload("u2", "bkt", "a"));
    assert_eq!(s.get_upload(&upload_id("nope")).unwrap(), None);
}

fn parts_insert_replace_and_list_in_order(s: Store) {
    create_bucket(&*s, "bkt");
    let id = upload_id("up");
    assert!(matches!(
        s.put_part(&id, &part(1, &[stripe(1, 0, 10)])),
        Err(MetaError::NoSuchUpload)
    ));
    assert!(matches!(
        s.list_parts(&id, 0, 10),
        Err(MetaError::NoSuchUpload)
    ));
    s.create_upload(&upload("up", "bkt", "k")).unwrap();
    assert_eq!(s.list_parts(&id, 0, 10).unwrap(), vec![]);
    for n in [3, 1, 10_000, 2] {
        assert_eq!(
            s.put_part(&id, &part(n, &[stripe(1, u64::from(n), 10)]))
                .unwrap(),
            None
        );
    }
    let numbers = |after, limit| -> Vec<u32> {
        s.list_parts(&id, after, limit)
            .unwrap()
            .into_iter()
            .map(|p| p.part_number)
            .collect()
    };
    assert_eq!(numbers(0, 100), [1, 2, 3, 10_000]);
    assert_eq!(numbers(1, 2), [2, 3]);
    assert_eq!(numbers(3, 100), [10_000]);
    assert_eq!(numbers(10_000, 100), Vec::<u32>::new());
    assert_eq!(s.volume_live_bytes(VolumeId(1)).unwrap(), 4 * disk(10));
    let old = part(2, &[stripe(1, 2, 10)]);
    let replacement = part(2, &[stripe(2, 0, 30)]);
    assert_eq!(s.put_part(&id, &replacement).unwrap(), Some(old));
    assert_eq!(s.volume_live_bytes(VolumeId(1)).unwrap(), 3 * disk(10));
    assert_eq!(s.volume_live_bytes(VolumeId(2)).unwrap(), disk(30));
    assert_eq!(s.list_parts(&id, 1, 1).unwrap(), vec![replacement]);
    // Another upload's parts never show up, even with an id that extends this one.
    s.create_upload(&upload("up\0\0\0\0", "bkt", "k")).unwrap();
    s.put_part(&upload_id("up\0\0\0\0"), &part(1, &[])).unwrap();
    s.create_upload(&upload("upx", "bkt", "k")).unwrap();
    s.put_part(&upload_id("upx"), &part(5, &[])).unwrap();
    assert_eq!(numbers(0, 100), [1, 2, 3, 10_000]);
    assert_live_bytes_consistent(&*s);
}

fn complete_upload_replaces_parts_with_the_object(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let id = upload_id("up");
    let rec = object(
        5,
        "abc-2",
        &[stripe(1, 0, 10), stripe(1, 100, 20)],
        Some(stripe(1, 200, 2)),
    );
    assert!(matches!(
        s.complete_upload(&id, &rec, &PutCondition::None),
        Err(MetaError::NoSuchUpload)
    ));
    s.create_upload(&upload("up", "bkt", "big")).unwrap();
    let p1 = part(1, &[stripe(1, 0, 10)]);
    let p2 = part(2, &[stripe(1, 100, 20)]);
    s.put_part(&id, &p2).unwrap();
    s.put_part(&id, &p1).unwrap();
    // The old object at the key is replaced and its bytes released.
    let old = object(1, "old", &[stripe(3, 0, 40)], None);
    s.put_object(&b, &key("big"), &old, &PutCondition::None)
        .unwrap();
    let (outcome, parts) = s.complete_upload(&id, &rec, &PutCondition::None).unwrap();
    assert_eq!(
        outcome,
        PutOutcome {
            applied: true,
            replaced: Some(old)
        }
    );
    assert_eq!(parts, vec![p1, p2]);
    assert_eq!(s.get_object(&b, &key("big")).unwrap(), Some(rec));
    assert_eq!(s.get_upload(&id).unwrap(), None);
    assert!(matches!(
        s.list_parts(&id, 0, 10),
        Err(MetaError::NoSuchUpload)
    ));
    assert_eq!(s.list_uploads(&b, None, 10).unwrap(), vec![]);
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(1), disk(10) + disk(20) + disk(2))]
    );
    assert!(matches!(
        s.complete_upload(&id, &object(6, "x", &[], None), &PutCondition::None),
        Err(MetaError::NoSuchUpload)
    ));
    assert_live_bytes_consistent(&*s);
}

fn complete_upload_with_failed_condition_keeps_the_upload(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let id = upload_id("up");
    s.put_object(
        &b,
        &key("k"),
        &object(1, "cur", &[], None),
        &PutCondition::None,
    )
    .unwrap();
    s.create_upload(&upload("up", "bkt", "k")).unwrap();
    s.put_part(&id, &part(1, &[stripe(1, 0, 10)])).unwrap();
    let rec = object(2, "new-1", &[stripe(1, 0, 10)], None);
    assert!(matches!(
        s.complete_upload(&id, &rec, &PutCondition::IfNoneMatch),
        Err(MetaError::PreconditionFailed)
    ));
    assert!(s.get_upload(&id).unwrap().is_some());
    assert_eq!(s.list_parts(&id, 0, 10).unwrap().len(), 1);
    assert_eq!(s.get_object(&b, &key("k")).unwrap().unwrap().etag, "cur");
    let (outcome, _) = s
        .complete_upload(&id, &rec, &PutCondition::IfMatch("cur".to_owned()))
        .unwrap();
    assert!(outcome.applied);
    assert_live_bytes_consistent(&*s);
}

fn complete_upload_losing_to_a_newer_put_still_removes_the_upload(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let id = upload_id("up");
    s.create_upload(&upload("up", "bkt", "k")).unwrap();
    s.put_part(&id, &part(1, &[stripe(1, 0, 10)])).unwrap();
    let newer = object(9, "newer", &[stripe(2, 0, 10)], None);
    s.put_object(&b, &key("k"), &newer, &PutCondition::None)
        .unwrap();
    let rec = object(3, "mp-1", &[stripe(1, 0, 10)], Some(stripe(1, 50, 1)));
    let (outcome, parts) = s.complete_upload(&id, &rec, &PutCondition::None).unwrap();
    assert!(!outcome.applied);
    assert_eq!(outcome.replaced, None);
    assert_eq!(parts.len(), 1);
    assert_eq!(s.get_upload(&id).unwrap(), None);
    assert_eq!(s.get_object(&b, &key("k")).unwrap(), Some(newer));
    assert_eq!(s.volume_live_bytes(VolumeId(1)).unwrap(), 0);
    assert_live_bytes_consistent(&*s);
}

fn abort_upload_frees_parts(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let id = upload_id("up");
    assert!(matches!(s.abort_upload(&id), Err(MetaError::NoSuchUpload)));
    s.create_upload(&upload("up", "bkt", "k")).unwrap();
    assert_eq!(s.abort_upload(&id).unwrap(), vec![], "no parts yet");
    s.create_upload(&upload("up", "bkt", "k")).unwrap();
    let p = part(1, &[stripe(1, 0, 10), stripe(2, 0, 10)]);
    s.put_part(&id, &p).unwrap();
    assert_eq!(s.abort_upload(&id).unwrap(), vec![p]);
    assert_eq!(s.all_volume_live_bytes().unwrap(), vec![]);
    assert!(matches!(s.abort_upload(&id), Err(MetaError::NoSuchUpload)));
    assert_eq!(s.list_uploads(&b, None, 10).unwrap(), vec![]);
    s.delete_bucket(&b).unwrap();
}

fn copies_sharing_stripes_count_twice(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let stripes = [stripe(1, 0, 10), stripe(1, 100, 10)];
    let original = object(1, "e", &stripes, Some(stripe(1, 300, 1)));
    // A server-side copy references the same data stripes with its own header.
    let copy = object(2, "e", &stripes, Some(stripe(1, 400, 1)));
    s.put_object(&b, &key("a"), &original, &PutCondition::None)
        .unwrap();
    s.put_object(&b, &key("b"), &copy, &PutCondition::None)
        .unwrap();
    let both = 4 * disk(10) + 2 * disk(1);
    assert_eq!(s.volume_live_bytes(VolumeId(1)).unwrap(), both);
    assert_live_bytes_consistent(&*s);
    s.delete_object(&b, &key("a"), &PutCondition::None).unwrap();
    assert_eq!(
        s.volume_live_bytes(VolumeId(1)).unwrap(),
        2 * disk(10) + disk(1)
    );
    assert_live_bytes_consistent(&*s);
}

fn seq_is_strictly_increasing_and_floor_is_respected(s: Store) {
    let mut last = s.next_seq().unwrap();
    assert!(last > 0);
    for _ in 0..100 {
        let n = s.next_seq().unwrap();
        assert!(n > last);
        last = n;
    }
    s.raise_seq_floor(1_000_000).unwrap();
    let n = s.next_seq().unwrap();
    assert!(n > 1_000_000);
    s.raise_seq_floor(10).unwrap();
    assert!(
        s.next_seq().unwrap() > n,
        "a lower floor never lowers the sequence"
    );
}

fn access_keys_crud(s: Store) {
    let rec = |k: &str, secret: &str| AccessKeyRecord {
        access_key: k.to_owned(),
        secret_key: secret.to_owned(),
        created_ms: 5,
        name: Some("ci".to_owned()),
    };
    assert_eq!(s.get_access_key("AK2").unwrap(), None);
    s.put_access_key(&rec("AK2", "s1")).unwrap();
    s.put_access_key(&rec("AK1", "s0")).unwrap();
    s.put_access_key(&rec("AK2", "s2")).unwrap();
    assert_eq!(s.get_access_key("AK2").unwrap(), Some(rec("AK2", "s2")));
    let ids: Vec<_> = s
        .list_access_keys()
        .unwrap()
        .into_iter()
        .map(|r| r.access_key)
        .collect();
    assert_eq!(ids, ["AK1", "AK2"]);
    assert!(s.delete_access_key("AK1").unwrap());
    assert!(!s.delete_access_key("AK1").unwrap());
    assert_eq!(s.list_access_keys().unwrap().len(), 1);
}

fn clear_index_keeps_keys_and_seq(s: Store) {
    let b = create_bucket(&*s, "bkt");
    s.put_object(
        &b,
        &key("k"),
        &object(1, "e", &[stripe(1, 0, 1)], None),
        &PutCondition::None,
    )
    .unwrap();
    s.create_upload(&upload("up", "bkt", "k2")).unwrap();
    s.put_part(&upload_id("up"), &part(1, &[stripe(2, 0, 1)]))
        .unwrap();
    s.put_access_key(&AccessKeyRecord {
        access_key: "AK".to_owned(),
        secret_key: "S".to_owned(),
        created_ms: 0,
        name: None,
    })
    .unwrap();
    s.raise_seq_floor(500).unwrap();
    s.clear_index().unwrap();
    assert_eq!(s.list_buckets().unwrap(), vec![]);
    assert!(matches!(
        s.get_object(&b, &key("k")),
        Err(MetaError::NoSuchBucket)
    ));
    assert_eq!(s.get_upload(&upload_id("up")).unwrap(), None);
    assert_eq!(s.all_volume_live_bytes().unwrap(), vec![]);
    assert_eq!(s.recompute_volume_live_bytes().unwrap(), vec![]);
    assert!(s.get_access_key("AK").unwrap().is_some());
    assert!(s.next_seq().unwrap() > 500);
    // The index is usable again at once.
    let b = create_bucket(&*s, "bkt");
    assert_eq!(all_keys(&*s, &b), Vec::<String>::new());
    s.flush().unwrap();
}

fn concurrent_puts_to_one_key_keep_the_highest_seq(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let s = Arc::clone(&s);
            let b = b.clone();
            std::thread::spawn(move || {
                for i in 0..15u64 {
                    // Seqs interleave across threads and arrive out of order.
                    let seq = (i * 8 + t) * 7 % 120;
                    let rec = object(seq, &seq.to_string(), &[stripe(seq, 0, 10)], None);
                    s.put_object(&b, &key("hot"), &rec, &PutCondition::None)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let max = (0..8u64)
        .flat_map(|t| (0..15u64).map(move |i| (i * 8 + t) * 7 % 120))
        .max()
        .unwrap();
    let now = s.get_object(&b, &key("hot")).unwrap().unwrap();
    assert_eq!(now.seq, max);
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(max), disk(10))]
    );
    assert_live_bytes_consistent(&*s);
}

fn concurrent_put_part_and_complete_leave_no_orphan_part(s: Store) {
    let b = create_bucket(&*s, "bkt");
    for round in 0..5u64 {
        let id = upload_id(&format!("up{round}"));
        s.create_upload(&upload(&id.0, "bkt", "k")).unwrap();
        let writer = {
            let s = Arc::clone(&s);
            let id = id.clone();
            std::thread::spawn(move || {
                for n in 1..=20u32 {
                    match s.put_part(&id, &part(n, &[stripe(100 + round, u64::from(n), 1)])) {
                        Ok(_) => {}
                        Err(MetaError::NoSuchUpload) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        };
        std::thread::yield_now();
        let rec = object(round + 1, "mp", &[], None);
        let (outcome, _) = s.complete_upload(&id, &rec, &PutCondition::None).unwrap();
        assert!(outcome.applied);
        writer.join().unwrap();
        // Whatever interleaving happened, no part outlived its upload.
        assert!(matches!(
            s.list_parts(&id, 0, 100),
            Err(MetaError::NoSuchUpload)
        ));
        assert_eq!(s.all_volume_live_bytes().unwrap(), vec![]);
        assert_live_bytes_consistent(&*s);
    }
    s.delete_object(&b, &key("k"), &PutCondition::None).unwrap();
    s.delete_bucket(&b).unwrap();
}

fn item(b: &str, k: &str, record: ObjectRecord, cond: PutCondition) -> PutItem {
    PutItem {
        bucket: bucket(b),
        key: key(k),
        record,
        cond,
    }
}

/// The applied flag of each result, or the error's name.
fn summary(results: &[Result<PutOutcome, MetaError>]) -> Vec<String> {
    results
        .iter()
        .map(|r| match r {
            Ok(o) if o.applied => "applied".to_owned(),
            Ok(_) => "stale".to_owned(),
            Err(MetaError::NoSuchBucket) => "NoSuchBucket".to_owned(),
            Err(MetaError::PreconditionFailed) => "PreconditionFailed".to_owned(),
            Err(e) => panic!("unexpected error {e}"),
        })
        .collect()
}

fn put_objects_an_items_error_fails_only_that_item(s: Store) {
    assert!(s.put_objects(&[]).unwrap().is_empty(), "an empty batch");
    let b = create_bucket(&*s, "bkt");
    let old = object(1, "old", &[stripe(1, 0, 10)], None);
    s.put_object(&b, &key("exists"), &old, &PutCondition::None)
        .unwrap();
    let a = object(2, "a", &[stripe(2, 0, 10)], Some(stripe(2, 100, 1)));
    let refused = object(3, "refused", &[stripe(3, 0, 10)], None);
    let orphan = object(4, "orphan", &[stripe(4, 0, 10)], None);
    let c = object(5, "c", &[stripe(2, 200, 20)], None);
    let results = s
        .put_objects(&[
            item("bkt", "a", a.clone(), PutCondition::IfNoneMatch),
            item("bkt", "exists", refused, PutCondition::IfNoneMatch),
            item("nope", "a", orphan, PutCondition::None),
            item(
                "bkt",
                "exists",
                c.clone(),
                PutCondition::IfMatch("old".into()),
            ),
            item("bkt", "b", a.clone(), PutCondition::IfMatch("*".into())),
        ])
        .unwrap();
    assert_eq!(
        summary(&results),
        [
            "applied",
            "PreconditionFailed",
            "NoSuchBucket",
            "applied",
            "PreconditionFailed"
        ]
    );
    assert_eq!(results[0].as_ref().unwrap().replaced, None);
    assert_eq!(results[3].as_ref().unwrap().replaced, Some(old));
    assert_eq!(s.get_object(&b, &key("a")).unwrap(), Some(a));
    assert_eq!(s.get_object(&b, &key("exists")).unwrap(), Some(c));
    assert_eq!(s.get_object(&b, &key("b")).unwrap(), None);
    assert_eq!(all_keys(&*s, &b), ["a", "exists"]);
    assert!(s.get_bucket(&bucket("nope")).unwrap().is_none());
    // The failed items' bytes were never counted, the replaced record's are released.
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(2), disk(10) + disk(1) + disk(20))]
    );
    assert_live_bytes_consistent(&*s);
    // A batch whose every item fails changes nothing.
    let results = s
        .put_objects(&[
            item(
                "nope",
                "x",
                object(6, "x", &[stripe(5, 0, 1)], None),
                PutCondition::None,
            ),
            item(
                "bkt",
                "a",
                object(7, "y", &[stripe(5, 0, 1)], None),
                PutCondition::IfNoneMatch,
            ),
        ])
        .unwrap();
    assert_eq!(summary(&results), ["NoSuchBucket", "PreconditionFailed"]);
    assert_eq!(s.volume_live_bytes(VolumeId(5)).unwrap(), 0);
    assert_eq!(all_keys(&*s, &b), ["a", "exists"]);
}

fn put_objects_later_items_see_earlier_ones_on_the_same_key(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let k = key("k");
    let first = object(1, "e1", &[stripe(1, 0, 10)], Some(stripe(1, 100, 1)));
    let second = object(2, "e2", &[stripe(2, 0, 10)], None);
    let third = object(3, "e3", &[stripe(2, 100, 30)], Some(stripe(3, 0, 2)));
    let results = s
        .put_objects(&[
            item("bkt", "k", first.clone(), PutCondition::IfNoneMatch),
            // The key exists now: the first item's write is visible to the second.
            item("bkt", "k", second, PutCondition::IfNoneMatch),
            item(
                "bkt",
                "k",
                third.clone(),
                PutCondition::IfMatch("e1".into()),
            ),
            item(
                "bkt",
                "k",
                first.clone(),
                PutCondition::IfMatch("e1".into()),
            ),
        ])
        .unwrap();
    assert_eq!(
        summary(&results),
        [
            "applied",
            "PreconditionFailed",
            "applied",
            "PreconditionFailed"
        ]
    );
    assert_eq!(
        results[2].as_ref().unwrap().replaced,
        Some(first),
        "the third item replaced the first item's record"
    );
    assert_eq!(s.get_object(&b, &k).unwrap(), Some(third));
    // Only the last applied record's bytes are live; the first's came and went in the batch.
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(2), disk(30)), (VolumeId(3), disk(2))]
    );
    assert_live_bytes_consistent(&*s);
    // The same record twice (a retried write) counts once.
    let dup = object(4, "dup", &[stripe(4, 0, 10)], None);
    let results = s
        .put_objects(&[
            item("bkt", "d", dup.clone(), PutCondition::None),
            item("bkt", "d", dup.clone(), PutCondition::None),
        ])
        .unwrap();
    assert_eq!(summary(&results), ["applied", "applied"]);
    assert_eq!(results[1].as_ref().unwrap().replaced, Some(dup));
    assert_eq!(s.volume_live_bytes(VolumeId(4)).unwrap(), disk(10));
    assert_live_bytes_consistent(&*s);
}

fn put_objects_apply_the_seq_rule_item_by_item(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let stored = object(7, "stored", &[stripe(1, 0, 10)], None);
    s.put_object(&b, &key("old"), &stored, &PutCondition::None)
        .unwrap();
    let newer = object(10, "newer", &[stripe(2, 0, 10)], None);
    let older = object(5, "older", &[stripe(3, 0, 10)], None);
    let same = object(10, "same", &[stripe(4, 0, 10)], None);
    let results = s
        .put_objects(&[
            item("bkt", "k", newer.clone(), PutCondition::None),
            // Older than the item before it in the batch: a newer write already won.
            item("bkt", "k", older.clone(), PutCondition::None),
            // An equal seq is not older: it applies.
            item("bkt", "k", same.clone(), PutCondition::None),
            // Older than the stored record.
            item("bkt", "old", older, PutCondition::None),
            item("bkt", "old", object(8, "up", &[], None), PutCondition::None),
        ])
        .unwrap();
    assert_eq!(
        summary(&results),
        ["applied", "stale", "applied", "stale", "applied"]
    );
    assert_eq!(
        results[1].as_ref().unwrap(),
        &PutOutcome {
            applied: false,
            replaced: None
        }
    );
    assert_eq!(results[2].as_ref().unwrap().replaced, Some(newer));
    assert_eq!(results[4].as_ref().unwrap().replaced, Some(stored));
    assert_eq!(s.get_object(&b, &key("k")).unwrap(), Some(same));
    assert_eq!(s.get_object(&b, &key("old")).unwrap().unwrap().etag, "up");
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(4), disk(10))],
        "losers' and replaced records' bytes are dead"
    );
    assert_live_bytes_consistent(&*s);
}

fn put_object_is_a_batch_of_one(s: Store) {
    // Each step once through put_object and once as a one-item batch on a twin key: the
    // outcomes and the stored state agree.
    let b = create_bucket(&*s, "bkt");
    let steps = [
        (
            object(2, "e2", &[stripe(1, 0, 10)], None),
            PutCondition::IfNoneMatch,
        ),
        (
            object(3, "e3", &[stripe(1, 0, 10)], None),
            PutCondition::IfNoneMatch,
        ),
        (
            object(1, "e1", &[stripe(2, 0, 10)], None),
            PutCondition::None,
        ),
        (
            object(4, "e4", &[], None),
            PutCondition::IfMatch("e2".into()),
        ),
        (
            object(5, "e5", &[], None),
            PutCondition::IfMatch("e2".into()),
        ),
    ];
    for (rec, cond) in steps {
        let single = s.put_object(&b, &key("one"), &rec, &cond);
        let batch = s
            .put_objects(&[item("bkt", "batch", rec, cond)])
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(summary(&[single]), summary(&[batch]));
    }
    assert_eq!(
        s.get_object(&b, &key("one")).unwrap(),
        s.get_object(&b, &key("batch")).unwrap()
    );
    assert!(matches!(
        s.put_objects(&[item(
            "nope",
            "k",
            object(9, "e", &[], None),
            PutCondition::None
        )])
        .unwrap()[..],
        [Err(MetaError::NoSuchBucket)]
    ));
    assert_live_bytes_consistent(&*s);
}

fn concurrent_batches_keep_the_highest_seq(s: Store) {
    let b = create_bucket(&*s, "bkt");
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for i in 0..10u64 {
                    // Every batch writes the hot key and a key of its own, seqs out of order.
                    let seq = (i * 4 + t) * 7 % 40;
                    let results = s
                        .put_objects(&[
                            item(
                                "bkt",
                                "hot",
                                object(seq, "h", &[stripe(seq, 0, 10)], None),
                                PutCondition::None,
                            ),
                            item(
                                "bkt",
                                &format!("{t}/{i}"),
                                object(seq, "own", &[stripe(100, seq, 1)], None),
                                PutCondition::IfNoneMatch,
                            ),
                        ])
                        .unwrap();
                    assert!(results[1].as_ref().unwrap().applied);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let now = s.get_object(&b, &key("hot")).unwrap().unwrap();
    assert_eq!(now.seq, 39);
    assert_eq!(all_keys(&*s, &b).len(), 41);
    assert_eq!(
        s.all_volume_live_bytes().unwrap(),
        vec![(VolumeId(39), disk(10)), (VolumeId(100), 40 * disk(1))]
    );
    assert_live_bytes_consistent(&*s);
}

fn access_batches_replace_scan_in_order_and_delete(s: Store) {
    let (a, ab) = (bucket("aaa"), bucket("aaa-b"));
    assert_eq!(s.get_access(&a, &key("x")).unwrap(), None);
    // The bucket need not exist; an empty batch does nothing.
    s.put_access_batch(&[]).unwrap();
    s.put_access_batch(&[
        (ab.clone(), key("k"), vec![1]),
        (a.clone(), key("y"), vec![2]),
        (a.clone(), key("x"), vec![3]),
        (a.clone(), key("x\u{0}z"), vec![4]),
    ])
    .unwrap();
    // A later batch replaces an entry.
    s.put_access_batch(&[(a.clone(), key("y"), vec![5, 6])])
        .unwrap();
    assert_eq!(s.get_access(&a, &key("y")).unwrap(), Some(vec![5, 6]));
    let all = s.scan_access(None, 100).unwrap();
    let order: Vec<(String, String, Vec<u8>)> = all
        .into_iter()
        .map(|(b, k, v)| (b.as_str().to_owned(), k.as_str().to_owned(), v))
        .collect();
    assert_eq!(
        order,
        vec![
            ("aaa".to_owned(), "x".to_owned(), vec![3]),
            ("aaa".to_owned(), "x\u{0}z".to_owned(), vec![4]),
            ("aaa".to_owned(), "y".to_owned(), vec![5, 6]),
            ("aaa-b".to_owned(), "k".to_owned(), vec![1]),
        ]
    );
    // Paging: strictly after the marker, at most `limit`.
    let page = s.scan_access(Some((&a, &key("x"))), 2).unwrap();
    let keys: Vec<&str> = page.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["x\u{0}z", "y"]);
    let page = s.scan_access(Some((&a, &key("y"))), 10).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, ab);
    assert!(s
        .scan_access(Some((&ab, &key("k"))), 10)
        .unwrap()
        .is_empty());
    assert!(s.delete_access(&a, &key("x")).unwrap());
    assert!(!s.delete_access(&a, &key("x")).unwrap());
    assert_eq!(s.get_access(&a, &key("x")).unwrap(), None);
    assert_eq!(s.scan_access(None, 100).unwrap().len(), 3);
}

fn access_stats_survive_clear_index(s: Store) {
    s.put_access_batch(&[(bucket("bkt"), key("k"), vec![9])])
        .unwrap();
    s.clear_index().unwrap();
    assert_eq!(
        s.get_access(&bucket("bkt"), &key("k")).unwrap(),
        Some(vec![9])
    );
}

fn row(id: u64, b: &str, k: &str) -> DecisionRow {
    DecisionRow {
        id,
        bucket: bucket(b),
        key: key(k),
        bytes: format!("{b}/{k}#{id}").into_bytes(),
    }
}

fn ids(rows: &[(u64, Vec<u8>)]) -> Vec<u64> {
    rows.iter().map(|(id, _)| *id).collect()
}

fn decisions_scan_both_ways_strictly_past_the_marker(s: Store) {
    assert!(s.scan_decisions(None, 10).unwrap().is_empty());
    assert!(s.scan_decisions_rev(None, 10).unwrap().is_empty());
    // An empty batch does nothing; ids across the byte boundaries sort numerically.
    s.put_decisions(&[]).unwrap();
    s.put_decisions(&[
        row(256, "bkt", "a"),
        row(1, "bkt", "b"),
        row(255, "x-y", "a"),
    ])
    .unwrap();
    s.put_decisions(&[row(1 << 40, "bkt", "a")]).unwrap();
    let all = s.scan_decisions(None, 100).unwrap();
    assert_eq!(ids(&all), [1, 255, 256, 1 << 40]);
    assert_eq!(all[0].1, b"bkt/b#1", "the row's bytes come back as put");
    assert_eq!(ids(&s.scan_decisions(Some(1), 2).unwrap()), [255, 256]);
    assert_eq!(ids(&s.scan_decisions(Some(256), 10).unwrap()), [1 << 40]);
    assert!(s.scan_decisions(Some(1 << 40), 10).unwrap().is_empty());
    let newest = s.scan_decisions_rev(None, 3).unwrap();
    assert_eq!(ids(&newest), [1 << 40, 256, 255]);
    assert_eq!(newest[2].1, b"x-y/a#255");
    assert_eq!(ids(&s.scan_decisions_rev(Some(256), 10).unwrap()), [255, 1]);
    assert!(s.scan_decisions_rev(Some(1), 10).unwrap().is_empty());
    assert!(s.scan_decisions(None, 0).unwrap().is_empty());
}

fn decisions_last_id_never_goes_down(s: Store) {
    assert_eq!(s.last_decision_id().unwrap(), None);
    s.put_decisions(&[row(7, "bkt", "a"), row(3, "bkt", "a")])
        .unwrap();
    assert_eq!(s.last_decision_id().unwrap(), Some(7));
    // A batch of lower ids (a replacement) does not lower it, nor does trimming everything.
    s.put_decisions(&[row(5, "bkt", "b")]).unwrap();
    assert_eq!(s.last_decision_id().unwrap(), Some(7));
    assert_eq!(s.trim_decisions(u64::MAX).unwrap(), 3);
    assert!(s.scan_decisions(None, 10).unwrap().is_empty());
    assert_eq!(s.last_decision_id().unwrap(), Some(7));
}

fn decisions_trim_removes_rows_below_and_their_index_entries(s: Store) {
    let rows: Vec<_> = (1..=10)
        .map(|id| row(id, "bkt", if id % 2 == 0 { "even" } else { "odd" }))
        .collect();
    s.put_decisions(&rows).unwrap();
    assert_eq!(s.trim_decisions(0).unwrap(), 0);
    assert_eq!(s.trim_decisions(1).unwrap(), 0);
    assert_eq!(
        s.trim_decisions(5).unwrap(),
        4,
        "ids 1 to 4, strictly below"
    );
    assert_eq!(
        ids(&s.scan_decisions(None, 100).unwrap()),
        [5, 6, 7, 8, 9, 10]
    );
    assert_eq!(
        s.trim_decisions(5).unwrap(),
        0,
        "trimming again finds nothing"
    );
    let even = s
        .object_decisions(&bucket("bkt"), &key("even"), 100)
        .unwrap();
    assert_eq!(ids(&even), [10, 8, 6]);
    let odd = s
        .object_decisions(&bucket("bkt"), &key("odd"), 100)
        .unwrap();
    assert_eq!(ids(&odd), [9, 7, 5]);
    // New rows after a trim are indexed as before.
    s.put_decisions(&[row(11, "bkt", "odd")]).unwrap();
    let odd = s.object_decisions(&bucket("bkt"), &key("odd"), 2).unwrap();
    assert_eq!(ids(&odd), [11, 9]);
    assert_eq!(s.trim_decisions(u64::MAX).unwrap(), 7);
    assert!(s
        .object_decisions(&bucket("bkt"), &key("odd"), 100)
        .unwrap()
        .is_empty());
}

fn object_decisions_are_newest_first_and_per_object(s: Store) {
    // Neighbours in every direction: a key that extends "k" with 0x00 and then bytes that
    // look like an id, a key that extends it otherwise, a bucket that extends the bucket.
    let tricky = "k\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{3}";
    s.put_decisions(&[
        row(1, "bkt", "k"),
        row(2, "bkt", tricky),
        row(3, "bkt", "k\u{0}"),
        row(4, "bkt", "kk"),
        row(5, "bkt-2", "k"),
        row(6, "bkt", "k"),
        row(7, "bkt", "j"),
        row(300, "bkt", "k"),
    ])
    .unwrap();
    let (b, k) = (bucket("bkt"), key("k"));
    let got = s.object_decisions(&b, &k, 100).unwrap();
    assert_eq!(ids(&got), [300, 6, 1]);
    assert_eq!(got[0].1, b"bkt/k#300");
    assert_eq!(ids(&s.object_decisions(&b, &k, 2).unwrap()), [300, 6]);
    assert!(s.object_decisions(&b, &k, 0).unwrap().is_empty());
    assert_eq!(ids(&s.object_decisions(&b, &key(tricky), 10).unwrap()), [2]);
    assert_eq!(
        ids(&s.object_decisions(&b, &key("k\u{0}"), 10).unwrap()),
        [3]
    );
    assert_eq!(
        ids(&s.object_decisions(&bucket("bkt-2"), &k, 10).unwrap()),
        [5]
    );
    assert!(s
        .object_decisions(&bucket("nope"), &k, 10)
        .unwrap()
        .is_empty());
}

fn put_decisions_replaces_an_id_and_its_index_entry(s: Store) {
    s.put_decisions(&[row(1, "bkt", "a"), row(2, "bkt", "a")])
        .unwrap();
    // Id 1 now belongs to "b"; inside one batch the later of two rows with one id wins.
    s.put_decisions(&[row(1, "bkt", "c"), row(1, "bkt", "b")])
        .unwrap();
    let (b, a) = (bucket("bkt"), key("a"));
    assert_eq!(ids(&s.object_decisions(&b, &a, 10).unwrap()), [2]);
    assert_eq!(
        s.object_decisions(&b, &key("b"), 10).unwrap(),
        vec![(1, b"bkt/b#1".to_vec())]
    );
    assert!(s.object_decisions(&b, &key("c"), 10).unwrap().is_empty());
    assert_eq!(s.scan_decisions(None, 10).unwrap().len(), 2);
    // Re-putting a row as it is changes nothing.
    s.put_decisions(&[row(2, "bkt", "a")]).unwrap();
    assert_eq!(ids(&s.object_decisions(&b, &a, 10).unwrap()), [2]);
    assert_eq!(s.trim_decisions(3).unwrap(), 2);
    assert!(s.object_decisions(&b, &key("b"), 10).unwrap().is_empty());
}

fn decisions_survive_clear_index(s: Store) {
    let b = create_bucket(&*s, "bkt");
    s.put_decisions(&[row(1, "bkt", "k")]).unwrap();
    s.clear_index().unwrap();
    assert!(s.get_bucket(&b).unwrap().is_none());
    // The log is history: it outlives the index that a rebuild recreates.
    assert_eq!(ids(&s.scan_decisions(None, 10).unwrap()), [1]);
    assert_eq!(ids(&s.object_decisions(&b, &key("k"), 10).unwrap()), [1]);
    assert_eq!(s.last_decision_id().unwrap(), Some(1));
}
