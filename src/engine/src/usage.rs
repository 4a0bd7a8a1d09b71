//! Running totals of the index: how many objects and how many logical (original) bytes
//! they hold, in all and per tier, for metrics, the tier mover's capacity checks and the
//! tiering summary without scanning the index.
//!
//! Counted once when the engine opens (and after an index rebuild), then kept up to date by
//! every commit that adds, replaces or removes an object. Approximate only while a commit is
//! in flight; exact again when it returns.

use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};

use stratum_core::Tier;
use stratum_metadata::{MetadataStore, ObjectRecord};

use crate::error::Result;

/// Objects and their original bytes, over all buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Objects in the index.
    pub objects: u64,
    /// The sum of their sizes (the bytes clients stored, before compression and parity).
    pub logical_bytes: u64,
    /// Objects per tier: hot, warm, cold.
    pub tier_objects: [u64; 3],
    /// Logical bytes per tier: hot, warm, cold.
    pub tier_logical_bytes: [u64; 3],
}

/// Index of a tier in [`Usage`]'s per-tier arrays.
pub fn tier_slot(tier: Tier) -> usize {
    match tier {
        Tier::Hot => 0,
        Tier::Warm => 1,
        Tier::Cold => 2,
    }
}

/// The live counters behind [`Usage`].
#[derive(Debug, Default)]
pub(crate) struct UsageCounters {
    objects: [AtomicI64; 3],
    logical_bytes: [AtomicI64; 3],
}

impl UsageCounters {
    /// A commit made `new` current, replacing `replaced` if there was one.
    pub(crate) fn put(&self, new: &ObjectRecord, replaced: Option<&ObjectRecord>) {
        if let Some(old) = replaced {
            self.removed(old);
        }
        self.add(new.location.tier, 1, new.size as i64);
    }

    /// A commit removed `old`.
    pub(crate) fn removed(&self, old: &ObjectRecord) {
        self.add(old.location.tier, -1, -(old.size as i64));
    }

    /// The tier mover moved an object of `size` bytes.
    pub(crate) fn moved(&self, from: Tier, to: Tier, size: u64) {
        self.add(from, -1, -(size as i64));
        self.add(to, 1, size as i64);
    }

    fn add(&self, tier: Tier, objects: i64, bytes: i64) {
        let i = tier_slot(tier);
        self.objects[i].fetch_add(objects, Ordering::Relaxed);
        self.logical_bytes[i].fetch_add(bytes, Ordering::Relaxed);
    }

    /// Replaces the totals with a fresh count.
    pub(crate) fn set(&self, usage: Usage) {
        for i in 0..3 {
            self.objects[i].store(usage.tier_objects[i] as i64, Ordering::Relaxed);
            self.logical_bytes[i].store(usage.tier_logical_bytes[i] as i64, Ordering::Relaxed);
        }
    }

    /// The totals now.
    pub(crate) fn snapshot(&self) -> Usage {
        let mut u = Usage::default();
        for i in 0..3 {
            u.tier_objects[i] = self.objects[i].load(Ordering::Relaxed).max(0) as u64;
            u.tier_logical_bytes[i] = self.logical_bytes[i].load(Ordering::Relaxed).max(0) as u64;
            u.objects += u.tier_objects[i];
            u.logical_bytes += u.tier_logical_bytes[i];
        }
        u
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
                let i = tier_slot(record.location.tier);
                usage.objects += 1;
                usage.logical_bytes += record.size;
                usage.tier_objects[i] += 1;
                usage.tier_logical_bytes[i] += record.size;
            }
            match page.last() {
                Some((key, _)) if page.len() == PAGE => after = Some(key.as_str().to_owned()),
                _ => break,
            }
        }
    }
    Ok(usage)
}
