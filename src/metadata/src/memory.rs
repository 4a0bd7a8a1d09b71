//! [`MemoryStore`]: the metadata store as BTreeMaps under one mutex.
//!
//! Every call takes the one lock, so every call is trivially atomic; nothing is durable. It
//! exists for tests and simulation, and as the executable specification the sled store is held
//! to by the conformance suite.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use stratum_core::{BucketName, ObjectKey, UploadId, VolumeId};

use crate::live::{self, LiveDelta};
use crate::records::{
    AccessKeyRecord, BucketRecord, DecisionRow, ObjectRecord, PartRecord, UploadRecord,
};
use crate::{BatchResults, MetaError, MetadataStore, PutCondition, PutItem, PutOutcome, PutRef};

/// The metadata store in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<BucketName, BucketRecord>,
    /// Objects per bucket; a bucket's map exists exactly while the bucket does.
    objects: BTreeMap<BucketName, BTreeMap<String, ObjectRecord>>,
    uploads: BTreeMap<String, UploadRecord>,
    /// (bucket, key, upload id) of every upload, the order `list_uploads` returns.
    uploads_by_key: BTreeSet<(BucketName, String, String)>,
    parts: BTreeMap<String, BTreeMap<u32, PartRecord>>,
    volumes: BTreeMap<VolumeId, u64>,
    access_keys: BTreeMap<String, AccessKeyRecord>,
    /// Per-object access statistics, opaque bytes.
    access: BTreeMap<(BucketName, ObjectKey), Vec<u8>>,
    /// Decision-log rows by id, with the object each is about.
    decisions: BTreeMap<u64, (BucketName, ObjectKey, Vec<u8>)>,
    /// The per-object index of `decisions`: exactly one entry per row.
    decisions_by_object: BTreeSet<(BucketName, ObjectKey, u64)>,
    /// The highest decision id ever stored.
    decisions_last: Option<u64>,
    last_seq: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The batched commit under `put_object` and `put_objects`: `first` then `rest`, in
    /// order, under one hold of the lock. Each item sees the objects the items before it
    /// wrote; the live-bytes changes are summed and applied once at the end.
    fn commit_puts<'a>(
        &self,
        first: PutRef<'_>,
        rest: impl Iterator<Item = PutRef<'a>>,
    ) -> BatchResults {
        let mut s = self.lock();
        let mut delta = LiveDelta::new();
        let first = s.put(first, &mut delta);
        let rest = rest.map(|put| s.put(put, &mut delta)).collect();
        s.apply(&delta);
        (first, rest)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied step: every method
        // computes first and mutates last, so the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn apply(&mut self, delta: &LiveDelta) {
        for (vol, d) in delta.changes() {
            let old = self.volumes.get(&vol).copied().unwrap_or(0);
            match live::apply(vol, old, d) {
                0 => self.volumes.remove(&vol),
                new => self.volumes.insert(vol, new),
            };
        }
    }

    /// One put (of `put_object`, `put_objects` or `complete_upload`). It checks everything
    /// before it changes anything: on error nothing changed and `delta` is untouched.
    fn put(&mut self, put: PutRef<'_>, delta: &mut LiveDelta) -> Result<PutOutcome, MetaError> {
        let PutRef {
            bucket,
            key,
            record: rec,
            cond,
        } = put;
        let objects = self.objects.get(bucket).ok_or(MetaError::NoSuchBucket)?;
        let current = objects.get(key.as_str());
        cond.check(current)?;
        if current.is_some_and(|c| c.seq > rec.seq) {
            return Ok(PutOutcome {
                applied: false,
                replaced: None,
            });
        }
        delta.add_object(rec);
        if let Some(cur) = current {
            delta.sub_object(cur);
        }
        let replaced = self
            .objects
            .get_mut(bucket)
            .and_then(|o| o.insert(key.as_str().to_owned(), rec.clone()));
        Ok(PutOutcome {
            applied: true,
            replaced,
        })
    }

    /// Removes an upload and its parts, accounting for the parts in `delta`.
    fn remove_upload(&mut self, id: &UploadId, delta: &mut LiveDelta) -> Vec<PartRecord> {
        if let Some(up) = self.uploads.remove(&id.0) {
            self.uploads_by_key.remove(&(
                up.bucket.clone(),
                up.key.as_str().to_owned(),
                id.0.clone(),
            ));
        }
        let parts: Vec<PartRecord> = self
            .parts
            .remove(&id.0)
            .map(|p| p.into_values().collect())
            .unwrap_or_default();
        for p in &parts {
            delta.sub_part(p);
        }
        parts
    }
}

impl MetadataStore for MemoryStore {
    fn create_bucket(&self, rec: &BucketRecord) -> Result<(), MetaError> {
        let mut s = self.lock();
        if s.buckets.contains_key(&rec.name) {
            return Err(MetaError::BucketAlreadyExists);
        }
        s.buckets.insert(rec.name.clone(), rec.clone());
        s.objects.insert(rec.name.clone(), BTreeMap::new());
        Ok(())
    }

    fn get_bucket(&self, name: &BucketName) -> Result<Option<BucketRecord>, MetaError> {
        Ok(self.lock().buckets.get(name).cloned())
    }

    fn delete_bucket(&self, name: &BucketName) -> Result<(), MetaError> {
        let mut s = self.lock();
        let objects = s.objects.get(name).ok_or(MetaError::NoSuchBucket)?;
        let has_upload = s
            .uploads_by_key
            .range((name.clone(), String::new(), String::new())..)
            .next()
            .is_some_and(|(b, _, _)| b == name);
        if !objects.is_empty() || has_upload {
            return Err(MetaError::BucketNotEmpty);
        }
        s.objects.remove(name);
        s.buckets.remove(name);
        Ok(())
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, MetaError> {
        Ok(self.lock().buckets.values().cloned().collect())
    }

    fn get_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        let s = self.lock();
        let objects = s.objects.get(bucket).ok_or(MetaError::NoSuchBucket)?;
        Ok(objects.get(key.as_str()).cloned())
    }

    fn put_object(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<PutOutcome, MetaError> {
        let put = PutRef {
            bucket,
            key,
            record: rec,
            cond,
        };
        self.commit_puts(put, std::iter::empty()).0
    }

    fn put_objects(
        &self,
        items: &[PutItem],
    ) -> Result<Vec<Result<PutOutcome, MetaError>>, MetaError> {
        let Some((first, rest)) = items.split_first() else {
            return Ok(Vec::new());
        };
        let results = self.commit_puts(first.into(), rest.iter().map(PutRef::from));
        Ok(crate::flatten(results))
    }

    fn delete_object_before(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        seq: u64,
        cond: &PutCondition,
    ) -> Result<Option<ObjectRecord>, MetaError> {
        let mut s = self.lock();
        let objects = s.objects.get_mut(bucket).ok_or(MetaError::NoSuchBucket)?;
        cond.check(objects.get(key.as_str()))?;
        // A newer write than the delete keeps its place.
        let removed = match objects.get(key.as_str()) {
            Some(cur) if cur.seq < seq => objects.remove(key.as_str()),
            _ => None,
        };
        if let Some(r) = &removed {
            let mut delta = LiveDelta::new();
            delta.sub_object(r);
            s.apply(&delta);
        }
        Ok(removed)
    }

    fn replace_object_if_seq(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        expected_seq: u64,
        rec: &ObjectRecord,
    ) -> Result<bool, MetaError> {
        let mut s = self.lock();
        let Some(slot) = s
            .objects
            .get_mut(bucket)
            .and_then(|o| o.get_mut(key.as_str()))
        else {
            return Ok(false);
        };
        if slot.seq != expected_seq {
            return Ok(false);
        }
        let mut new = rec.clone();
        new.seq = expected_seq;
        let mut delta = LiveDelta::new();
        delta.add_object(&new);
        delta.sub_object(slot);
        *slot = new;
        s.apply(&delta);
        Ok(true)
    }

    fn scan_objects(
        &self,
        bucket: &BucketName,
        start: Bound<&str>,
        limit: usize,
    ) -> Result<Vec<(ObjectKey, ObjectRecord)>, MetaError> {
        let s = self.lock();
        let objects = s.objects.get(bucket).ok_or(MetaError::NoSuchBucket)?;
        objects
            .range::<str, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|(k, r)| {
                let key = ObjectKey::new(k.clone()).map_err(|e| MetaError::Corrupt {
                    tree: "objects",
                    detail: e.to_string(),
                })?;
                Ok((key, r.clone()))
            })
            .collect()
    }

    fn create_upload(&self, rec: &UploadRecord) -> Result<(), MetaError> {
        let mut s = self.lock();
        if !s.buckets.contains_key(&rec.bucket) {
            return Err(MetaError::NoSuchBucket);
        }
        let id = rec.upload_id.0.clone();
        if let Some(old) = s.uploads.insert(id.clone(), rec.clone()) {
            s.uploads_by_key
                .remove(&(old.bucket, old.key.as_str().to_owned(), id.clone()));
        }
        s.uploads_by_key
            .insert((rec.bucket.clone(), rec.key.as_str().to_owned(), id));
        Ok(())
    }

    fn get_upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, MetaError> {
        Ok(self.lock().uploads.get(&id.0).cloned())
    }

    fn list_uploads(
        &self,
        bucket: &BucketName,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<UploadRecord>, MetaError> {
        let s = self.lock();
        if !s.buckets.contains_key(bucket) {
            return Err(MetaError::NoSuchBucket);
        }
        let lower = match after {
            Some((k, id)) => Bound::Excluded((bucket.clone(), k.to_owned(), id.to_owned())),
            None => Bound::Included((bucket.clone(), String::new(), String::new())),
        };
        Ok(s.uploads_by_key
            .range((lower, Bound::Unbounded))
            .take_while(|(b, _, _)| b == bucket)
            .take(limit)
            .filter_map(|(_, _, id)| s.uploads.get(id).cloned())
            .collect())
    }

    fn put_part(&self, id: &UploadId, part: &PartRecord) -> Result<Option<PartRecord>, MetaError> {
        let mut s = self.lock();
        if !s.uploads.contains_key(&id.0) {
            return Err(MetaError::NoSuchUpload);
        }
        let replaced = s
            .parts
            .entry(id.0.clone())
            .or_default()
            .insert(part.part_number, part.clone());
        let mut delta = LiveDelta::new();
        delta.add_part(part);
        if let Some(r) = &replaced {
            delta.sub_part(r);
        }
        s.apply(&delta);
        Ok(replaced)
    }

    fn list_parts(
        &self,
        id: &UploadId,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartRecord>, MetaError> {
        let s = self.lock();
        if !s.uploads.contains_key(&id.0) {
            return Err(MetaError::NoSuchUpload);
        }
        Ok(s.parts
            .get(&id.0)
            .map(|p| {
                p.range((Bound::Excluded(after), Bound::Unbounded))
                    .take(limit)
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn complete_upload(
        &self,
        id: &UploadId,
        rec: &ObjectRecord,
        cond: &PutCondition,
    ) -> Result<(PutOutcome, Vec<PartRecord>), MetaError> {
        let mut s = self.lock();
        let up = s
            .uploads
            .get(&id.0)
            .cloned()
            .ok_or(MetaError::NoSuchUpload)?;
        let mut delta = LiveDelta::new();
        // `put` checks everything before it changes anything, so on error nothing changed.
        let put = PutRef {
            bucket: &up.bucket,
            key: &up.key,
            record: rec,
            cond,
        };
        let outcome = s.put(put, &mut delta)?;
        let parts = s.remove_upload(id, &mut delta);
        s.apply(&delta);
        Ok((outcome, parts))
    }

    fn abort_upload(&self, id: &UploadId) -> Result<Vec<PartRecord>, MetaError> {
        let mut s = self.lock();
        if !s.uploads.contains_key(&id.0) {
            return Err(MetaError::NoSuchUpload);
        }
        let mut delta = LiveDelta::new();
        let parts = s.remove_upload(id, &mut delta);
        s.apply(&delta);
        Ok(parts)
    }

    fn volume_live_bytes(&self, id: VolumeId) -> Result<u64, MetaError> {
        Ok(self.lock().volumes.get(&id).copied().unwrap_or(0))
    }

    fn all_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
        Ok(self.lock().volumes.iter().map(|(v, n)| (*v, *n)).collect())
    }

    fn recompute_volume_live_bytes(&self) -> Result<Vec<(VolumeId, u64)>, MetaError> {
        let mut s = self.lock();
        let mut delta = LiveDelta::new();
        for rec in s.objects.values().flat_map(BTreeMap::values) {
            delta.add_object(rec);
        }
        for part in s.parts.values().flat_map(BTreeMap::values) {
            delta.add_part(part);
        }
        let table = delta.into_table();
        s.volumes = table.iter().copied().collect();
        Ok(table)
    }

    fn next_seq(&self) -> Result<u64, MetaError> {
        let mut s = self.lock();
        s.last_seq += 1;
        Ok(s.last_seq)
    }

    fn raise_seq_floor(&self, floor: u64) -> Result<(), MetaError> {
        let mut s = self.lock();
        s.last_seq = s.last_seq.max(floor);
        Ok(())
    }

    fn put_access_key(&self, rec: &AccessKeyRecord) -> Result<(), MetaError> {
        self.lock()
            .access_keys
            .insert(rec.access_key.clone(), rec.clone());
        Ok(())
    }

    fn get_access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>, MetaError> {
        Ok(self.lock().access_keys.get(access_key).cloned())
    }

    fn delete_access_key(&self, access_key: &str) -> Result<bool, MetaError> {
        Ok(self.lock().access_keys.remove(access_key).is_some())
    }

    fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>, MetaError> {
        Ok(self.lock().access_keys.values().cloned().collect())
    }

    fn put_access_batch(
        &self,
        entries: &[(BucketName, ObjectKey, Vec<u8>)],
    ) -> Result<(), MetaError> {
        let mut s = self.lock();
        for (bucket, key, value) in entries {
            s.access
                .insert((bucket.clone(), key.clone()), value.clone());
        }
        Ok(())
    }

    fn get_access(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Option<Vec<u8>>, MetaError> {
        Ok(self
            .lock()
            .access
            .get(&(bucket.clone(), key.clone()))
            .cloned())
    }

    fn scan_access(
        &self,
        after: Option<(&BucketName, &ObjectKey)>,
        limit: usize,
    ) -> Result<Vec<(BucketName, ObjectKey, Vec<u8>)>, MetaError> {
        let s = self.lock();
        let lower = match after {
            Some((bucket, key)) => Bound::Excluded((bucket.clone(), key.clone())),
            None => Bound::Unbounded,
        };
        Ok(s.access
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|((b, k), v)| (b.clone(), k.clone(), v.clone()))
            .collect())
    }

    fn delete_access(&self, bucket: &BucketName, key: &ObjectKey) -> Result<bool, MetaError> {
        Ok(self
            .lock()
            .access
            .remove(&(bucket.clone(), key.clone()))
            .is_some())
    }

    fn put_decisions(&self, rows: &[DecisionRow]) -> Result<(), MetaError> {
        let mut s = self.lock();
        for row in rows {
            let value = (row.bucket.clone(), row.key.clone(), row.bytes.clone());
            if let Some((b, k, _)) = s.decisions.insert(row.id, value) {
                s.decisions_by_object.remove(&(b, k, row.id));
            }
            s.decisions_by_object
                .insert((row.bucket.clone(), row.key.clone(), row.id));
            s.decisions_last = s.decisions_last.max(Some(row.id));
        }
        Ok(())
    }

    fn scan_decisions(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .lock()
            .decisions
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(id, (_, _, bytes))| (*id, bytes.clone()))
            .collect())
    }

    fn scan_decisions_rev(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        let upper = before.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self
            .lock()
            .decisions
            .range((Bound::Unbounded, upper))
            .rev()
            .take(limit)
            .map(|(id, (_, _, bytes))| (*id, bytes.clone()))
            .collect())
    }

    fn last_decision_id(&self) -> Result<Option<u64>, MetaError> {
        Ok(self.lock().decisions_last)
    }

    fn trim_decisions(&self, keep_from: u64) -> Result<u64, MetaError> {
        let mut s = self.lock();
        let kept = s.decisions.split_off(&keep_from);
        let trimmed = std::mem::replace(&mut s.decisions, kept);
        for (id, (b, k, _)) in &trimmed {
            s.decisions_by_object.remove(&(b.clone(), k.clone(), *id));
        }
        Ok(trimmed.len() as u64)
    }

    fn object_decisions(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, MetaError> {
        let s = self.lock();
        let range = (bucket.clone(), key.clone(), 0)..=(bucket.clone(), key.clone(), u64::MAX);
        Ok(s.decisions_by_object
            .range(range)
            .rev()
            .take(limit)
            .filter_map(|(_, _, id)| s.decisions.get(id).map(|(_, _, v)| (*id, v.clone())))
            .collect())
    }

    fn clear_index(&self) -> Result<(), MetaError> {
        let mut s = self.lock();
        s.buckets.clear();
        s.objects.clear();
        s.uploads.clear();
        s.uploads_by_key.clear();
        s.parts.clear();
        s.volumes.clear();
        Ok(())
    }

    fn flush(&self) -> Result<(), MetaError> {
        Ok(())
    }
}
