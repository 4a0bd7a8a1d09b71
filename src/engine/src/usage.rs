//! Running totals of the index: how many objects and how many logical (original) bytes
//! they hold, for metrics and the tiering summary without scanning the index.
//!
//! Counted once when the engine opens (and after an index rebuild), then kept up to date by
//! every commit that adds, replaces or removes an object. Approximate only while a commit is
//! in flight; exact again when it returns.

use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};

use stratum_metadata::{MetadataStore, ObjectRecord};

use crate::error::Result;

/// Objects and their original bytes, over all buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Objects in the index.
    pub objects: u64,
    /// The sum of their sizes (the bytes clients stored, before compression and parity).
    pub logical_bytes: u64,
}

/// The live counters behind [`Usage`].
#[derive(Debug, Default)]
pub(crate) struct UsageCounters {
    objects: AtomicI64,
    logical_bytes: AtomicI64,
}

impl UsageCounters {
    /// A commit made `new` current, replacing `replaced` if there was one.
    pub(crate) fn put(&self, new: &ObjectRecord, replaced: Option<&ObjectRecord>) {
        match replaced {
            Some(old) => self.add(0, new.size as i64 - old.size as i64),
            None => self.add(1, new.size as i64),
        }
    }

    /// A commit removed `old`.
    pub(crate) fn removed(&self, old: &ObjectRecord) {
        self.add(-1, -(old.size as i64));
    }

    fn add(&self, objects: i64, bytes: i64) {
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.logical_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Replaces the totals with a fresh count.
    pub(crate) fn set(&self, usage: Usage) {
        self.objects.store(usage.objects as i64, Ordering::Relaxed);
        self.logical_bytes
            .store(usage.logical_bytes as i64, Ordering::Relaxed);
    }

    /// The totals now.
    pub(crate) fn snapshot(&self) -> Usage {
        Usage {
            objects: self.objects.load(Ordering::Relaxed).max(0) as u64,
            logical_bytes: self.logical_bytes.load(Ordering::Relaxed).max(0) as u64,
        }
    }
}

/// Counts every object of every bucket, a page at a time.
pub(crate) fn count(meta: &dyn MetadataStore) -> Result<Usage> {
    const PAGE: usize = 1000;
    let mut usage = Usage::default();
    for bucket in meta.list_buckets()? {
        let mut after: Option<String> = None;
        loop {
            let start = match &after {
                Some(k) => Bound::Excluded(k.as_str()),
                None => Bound::Unbounded,
            };
            let page = meta.scan_objects(&bucket.name, start, PAGE)?;
            for (_, record) in &page {
                usage.objects += 1;
                usage.logical_bytes += record.size;
            }
            match page.last() {
                Some((key, _)) if page.len() == PAGE => after = Some(key.as_str().to_owned()),
                _ => break,
            }
        }
    }
    Ok(usage)
}
