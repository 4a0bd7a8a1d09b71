//! `list_objects` against a naive model, on both stores, and proof that it seeks past
//! common prefixes instead of reading the whole bucket.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use proptest::prelude::*;
use stratum_core::{BucketName, ObjectKey, UploadId, VolumeId};
use stratum_metadata::{
    list_objects, AccessKeyRecord, BucketRecord, DecisionRow, ListPage, ListParams, MemoryStore,
    MetaError, MetadataStore, ObjectRecord, PartRecord, PutCondition, PutItem, PutOutcome,
    SledStore, UploadRecord,
};

use crate::common::*;

/// One entry of a listing: a key or a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Key(String),
    Prefix(String),
}

/// S3 listing the obvious way: every key, in order, filtered and rolled up.
fn model(keys: &BTreeSet<String>, p: &ListParams) -> Vec<Entry> {
    let delimiter = p.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut out: Vec<Entry> = Vec::new();
    for k in keys {
        if !k.starts_with(&p.prefix) {
            continue;
        }
        if p.start_after
            .as_ref()
            .is_some_and(|s| k.as_bytes() <= s.as_bytes())
        {
            continue;
        }
        let entry = match delimiter.and_then(|d| k[p.prefix.len()..].find(d).map(|i| (i, d))) {
            Some((i, d)) => Entry::Prefix(k[..p.prefix.len() + i + d.len()].to_owned()),
            None => Entry::Key(k.clone()),
        };
        if let Entry::Prefix(cp) = &entry {
            if p.start_after
                .as_ref()
                .is_some_and(|s| s.starts_with(cp.as_str()))
            {
                continue;
            }
        }
        if out.last() != Some(&entry) {
            out.push(entry);
        }
    }
    out
}

/// A page's entries in byte order (keys and prefixes interleaved as S3 orders them).
fn entries(page: &ListPage) -> Vec<Entry> {
    let mut out: Vec<Entry> = page
        .objects
        .iter()
        .map(|(k, _)| Entry::Key(k.as_str().to_owned()))
        .chain(page.common_prefixes.iter().cloned().map(Entry::Prefix))
        .collect();
    out.sort_by(|a, b| {
        let s = |e: &Entry| match e {
            Entry::Key(k) | Entry::Prefix(k) => k.clone(),
        };
        s(a).cmp(&s(b))
    });
    out
}

/// Pages through a listing with next_start_after, checking each page against the model.
fn check_listing(s: &dyn MetadataStore, b: &BucketName, keys: &BTreeSet<String>, p: ListParams) {
    let full = model(keys, &p);
    if p.max_keys == 0 {
        let page = list_objects(s, b, &p).unwrap();
        assert_eq!(page, ListPage::default());
        return;
    }
    let mut got = Vec::new();
    let mut params = p.clone();
    for _ in 0..=full.len() {
        let page = list_objects(s, b, &params).unwrap();
        let e = entries(&page);
        assert!(e.len() <= p.max_keys);
        let done = got.len() + e.len();
        assert_eq!(
            page.is_truncated,
            done < full.len(),
            "truncation flag, params {params:?}"
        );
        got.extend(e);
        if !page.is_truncated {
            assert_eq!(page.next_start_after, None);
            break;
        }
        let last = match got.last() {
            Some(Entry::Key(k) | Entry::Prefix(k)) => k.clone(),
            None => panic!("a truncated page returned nothing"),
        };
        assert_eq!(page.next_start_after.as_deref(), Some(last.as_str()));
        params.start_after = page.next_start_after;
    }
    assert_eq!(got, full, "params {p:?}");
}

fn key_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just('b'),
            Just('/'),
            Just('é'),
            Just('\u{10FFFF}')
        ],
        1..6,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn params_strategy() -> impl Strategy<Value = ListParams> {
    (
        proptest::collection::vec(prop_oneof![Just('a'), Just('/'), Just('é')], 0..3),
        prop_oneof![
            Just(None),
            Just(Some("/".to_owned())),
            Just(Some("é".to_owned())),
            Just(Some("a/".to_owned())),
            Just(Some(String::new())),
        ],
        proptest::option::of(key_strategy()),
        0usize..6,
    )
        .prop_map(|(prefix, delimiter, start_after, max_keys)| ListParams {
            prefix: prefix.into_iter().collect(),
            delimiter,
            start_after,
            max_keys,
        })
}

fn fill(s: &dyn MetadataStore, b: &BucketName, keys: &BTreeSet<String>) {
    for k in keys {
        s.put_object(b, &key(k), &object(1, k, &[], None), &PutCondition::None)
            .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn list_objects_pages_reproduce_the_model_memory_store(
        keys in proptest::collection::btree_set(key_strategy(), 0..40),
        p in params_strategy(),
    ) {
        let s = MemoryStore::new();
        let b = create_bucket(&s, "bkt");
        fill(&s, &b, &keys);
        check_listing(&s, &b, &keys, p);
    }
}

/// One sled store for every case of the sled proptest; each case lists its own bucket.
fn shared_sled() -> &'static SledStore {
    static STORE: OnceLock<(tempfile::TempDir, SledStore)> = OnceLock::new();
    let (_, s) = STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(&sled_config(dir.path(), false)).unwrap();
        (dir, s)
    });
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn list_objects_pages_reproduce_the_model_sled_store(
        keys in proptest::collection::btree_set(key_strategy(), 0..40),
        p in params_strategy(),
    ) {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let s = shared_sled();
        let b = create_bucket(s, &format!("case-{}", CASE.fetch_add(1, Ordering::Relaxed)));
        fill(s, &b, &keys);
        check_listing(s, &b, &keys, p);
    }
}

#[test]
fn start_after_inside_a_common_prefix_does_not_repeat_it() {
    let s = MemoryStore::new();
    let b = create_bucket(&s, "bkt");
    let keys: BTreeSet<String> = ["p/a", "p/b", "q", "p", "p/"].map(String::from).into();
    fill(&s, &b, &keys);
    let page = list_objects(
        &s,
        &b,
        &ListParams {
            prefix: String::new(),
            delimiter: Some("/".to_owned()),
            start_after: Some("p/a".to_owned()),
            max_keys: 10,
        },
    )
    .unwrap();
    assert_eq!(page.common_prefixes, Vec::<String>::new());
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.objects[0].0.as_str(), "q");
}

#[test]
fn list_objects_on_a_missing_bucket_is_no_such_bucket() {
    let s = MemoryStore::new();
    for max_keys in [0, 10] {
        let p = ListParams {
            max_keys,
            ..ListParams::default()
        };
        assert!(matches!(
            list_objects(&s, &bucket("nope"), &p),
            Err(MetaError::NoSuchBucket)
        ));
    }
}

/// A store that counts the entries scan_objects hands out.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryStore,
    scanned: AtomicUsize,
}

impl MetadataStore for CountingStore {
    fn create_bucket(&self, rec: &BucketRecord) -> Result<(), MetaError> {
        self.inner.create_bucket(rec)
    }
    fn get_bucket(&self, name: &BucketName) -> Result<Option<BucketRecord>, MetaError> {
        self.inner.get_bucket(name)
    }
    fn delete_bucket(&self, name: &BucketName) -> Result<(), MetaError> {
        self.inner.delete_bucket(name)
    }
    fn list_buckets(&self) -> Result<Vec<BucketRecord>, MetaError> {
        self.inner.list_buckets()
    }
    fn get_object(&self, b: &BucketName, k: &ObjectKey) -> Result<Option<ObjectRecord>, MetaError> {
        self.inner.get_object(b, k)
    }
    fn put_object(
        &self,
        b: &BucketName,
        k: &ObjectKey,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<PutOutcome, MetaError> {
        self.inner.put_object(b, k, rec, cond)
    }
    fn put_objects(
        &self,
        items: &[PutItem],
    ) -> Result<Vec<Result<PutOutcome, MetaError>>, MetaError> {
        self.inner.put_objects(items)
    }
    fn delete_object_before(
        &self,
        b: &BucketName,
        k: &ObjectKey,
        seq: u64,
        cond: &PutCondition,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        self.inner.delete_object_before(b, k, seq, cond)
    }
    fn replace_object_if_seq(
        &self,
        b: &BucketName,
        k: &ObjectKey,
        seq: u64,
        rec: &ObjectRecord,
    ) -> Result<bool, MetaError> {
        self.inner.replace_object_if_seq(b, k, seq, rec)
    }
    fn scan_objects(
        &self,
        b: &BucketName,
        start: Bound<&str>,
        limit: usize,
    ) -> Result<Vec<(ObjectKey, ObjectRecord)>, MetaError> {
        let out = self.inner.scan_objects(b, start, limit)?;
        self.scanned.fetch_add(out.len(), Ordering::Relaxed);
        Ok(out)
    }
    fn create_upload(&self, rec: &UploadRecord) -> Result<(), MetaError> {
        self.inner.create_upload(rec)
    }
    fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, MetaError> {
        self.inner.get_upload(id)
    }
    fn list_uploads(
        &self,
        b: &BucketName,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, MetaError> {
        self.inner.list_uploads(b, after, limit)
    }
    fn put_part(&self, id: &UploadId, p: &PartRecord) -> Result<Option<PartRecord>, MetaError> {
        self.inner.put_part(id, p)
    }
    fn list_parts(
        &self,
        id: &UploadId,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, MetaError> {
        self.inner.list_parts(id, after, limit)
    }
    fn complete_upload(
        &self,
        id: &UploadId,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<(PutOutcome, Vec<PartRecord>), MetaError> {
        self.inner.complete_upload(id, rec, cond)
    }
    fn abort_upload(&self, id: &UploadId) -> Result<Vec<PartRecord>, MetaError> {
        self.inner.abort_upload(id)
    }
    fn volume_live_bytes(&self, id: VolumeId) -> Result<u64, MetaError> {
        self.inner.volume_live_bytes(id)
    }
    fn all_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
        self.inner.all_volume_live_bytes()
    }
    fn recompute_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
        self.inner.recompute_volume_live_bytes()
    }
    fn next_seq(&self) -> Result<u64, MetaError> {
        self.inner.next_seq()
    }
    fn raise_seq_floor(&self, floor: u64) -> Result<(), MetaError> {
        self.inner.raise_seq_floor(floor)
    }
    fn put_access_key(&self, rec: &AccessKeyRecord) -> Result<(), MetaError> {
        self.inner.put_access_key(rec)
    }
    fn get_access_key(&self, k: &str) -> Result<Option<AccessKeyRecord>, MetaError> {
        self.inner.get_access_key(k)
    }
    fn delete_access_key(&self, k: &str) -> Result<bool, MetaError> {
        self.inner.delete_access_key(k)
    }
    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, MetaError> {
        self.inner.list_access_keys()
    }
    fn put_access_batch(&self, e: &[(BucketName, ObjectKey, Vec<u8>)]) -> Result<(), MetaError> {
        self.inner.put_access_batch(e)
    }
    fn get_access(&self, b: &BucketName, k: &ObjectKey) -> Result<Option<Vec<u8>>, MetaError> {
        self.inner.get_access(b, k)
    }
    fn scan_access(
        &self,
        after: Option<(&BucketName, &ObjectKey)>,
        limit: usize,
    ) -> Result<Vec<(BucketName, ObjectKey, Vec<u8>)>, MetaError> {
        self.inner.scan_access(after, limit)
    }
    fn delete_access(&self, b: &BucketName, k: &ObjectKey) -> Result<bool, MetaError> {
        self.inner.delete_access(b, k)
    }
    fn put_decisions(&self, rows: &[DecisionRow]) -> Result<(), MetaError> {
        self.inner.put_decisions(rows)
    }
    fn scan_decisions(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        self.inner.scan_decisions(after, limit)
    }
    fn scan_decisions_rev(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        self.inner.scan_decisions_rev(before, limit)
    }
    fn last_decision_id(&self) -> Result<Option<u64>, MetaError> {
        self.inner.last_decision_id()
    }
    fn trim_decisions(&self, keep_from: u64) -> Result<u64, MetaError> {
        self.inner.trim_decisions(keep_from)
    }
    fn object_decisions(
        &self,
        b: &BucketName,
        k: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        self.inner.object_decisions(b, k, limit)
    }
    fn clear_index(&self) -> Result<(), MetaError> {
        self.inner.clear_index()
    }
    fn flush(&self) -> Result<(), MetaError> {
        self.inner.flush()
    }
}

#[test]
fn delimiter_listing_seeks_past_a_huge_common_prefix() {
    let s = CountingStore::default();
    let b = create_bucket(&s, "bkt");
    let mut keys = BTreeSet::new();
    for i in 0..5_000 {
        keys.insert(format!("logs/{i:05}"));
    }
    for k in ["a", "logz", "m/1", "m/2", "z"] {
        keys.insert(k.to_owned());
    }
    fill(&s, &b, &keys);
    let p = ListParams {
        prefix: String::new(),
        delimiter: Some("/".to_owned()),
        start_after: None,
        max_keys: 1000,
    };
    let page = list_objects(&s, &b, &p).unwrap();
    assert_eq!(page.common_prefixes, ["logs/", "m/"]);
    let listed: Vec<_> = page.objects.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(listed, ["a", "logz", "z"]);
    // One page up to the first "logs/" key, then one after the seek: never the 5,000 keys.
    let scanned = s.scanned.load(Ordering::Relaxed);
    assert!(scanned < 600, "scanned {scanned} entries");
    check_listing(&s, &b, &keys, p);
}

#[test]
fn listing_continues_across_scan_pages() {
    // More keys than one scan page holds, with prefixes that straddle page boundaries.
    let s = MemoryStore::new();
    let b = create_bucket(&s, "bkt");
    let mut keys = BTreeSet::new();
    for i in 0..(stratum_metadata::LIST_SCAN_PAGE * 3 + 7) {
        keys.insert(format!("{:03}/{}", i / 5, i % 5));
        keys.insert(format!("{i:04}"));
    }
    fill(&s, &b, &keys);
    for (delimiter, max_keys) in [
        (None, 1000),
        (None, 300),
        (Some("/"), 1000),
        (Some("/"), 77),
    ] {
        let p = ListParams {
            prefix: String::new(),
            delimiter: delimiter.map(str::to_owned),
            start_after: None,
            max_keys,
        };
        check_listing(&s, &b, &keys, p);
    }
}
