//! Volume live-byte accounting: the signed change one metadata step makes per volume.
//!
//! A volume's live bytes are the on-disk bytes ([`StripeRef::disk_bytes`]) of every stripe
//! referenced by an object (its location and its header stripe) or by a part of an
//! in-progress upload. A stripe referenced twice (a server-side copy) counts twice, so that
//! deleting one of the two objects leaves the other's bytes live. Compaction reads the table to
//! find volumes worth reclaiming; [`crate::MetadataStore::recompute_volume_live_bytes`] rebuilds
//! it from the objects and parts.
//!
//! Volumes whose live bytes reach zero are dropped from the table (missing means zero).

use std::collections::BTreeMap;

use stratum_core::{Location, StripeRef, VolumeId};

use crate::records::{ObjectRecord, PartRecord};

/// The signed per-volume change of one metadata step.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LiveDelta(BTreeMap<VolumeId, i128>);

impl LiveDelta {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn stripe(&mut self, s: &StripeRef, sign: i128) {
        *self.0.entry(s.volume).or_insert(0) += sign * i128::from(s.disk_bytes());
    }

    fn location(&mut self, loc: &Location, sign: i128) {
        for e in &loc.extents {
            self.stripe(&e.stripe, sign);
        }
    }

    /// Counts an object's location and header stripe as newly referenced.
    pub(crate) fn add_object(&mut self, rec: &ObjectRecord) {
        self.object(rec, 1);
    }

    /// Counts an object's location and header stripe as no longer referenced.
    pub(crate) fn sub_object(&mut self, rec: &ObjectRecord) {
        self.object(rec, -1);
    }

    fn object(&mut self, rec: &ObjectRecord, sign: i128) {
        self.location(&rec.location, sign);
        if let Some(h) = &rec.header_stripe {
            self.stripe(h, sign);
        }
    }

    /// Counts a part's location as newly referenced.
    pub(crate) fn add_part(&mut self, part: &PartRecord) {
        self.location(&part.location, 1);
    }

    /// Counts a part's location as no longer referenced.
    pub(crate) fn sub_part(&mut self, part: &PartRecord) {
        self.location(&part.location, -1);
    }

    /// The volumes whose live bytes change, with the change.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (VolumeId, i128)> + '_ {
        self.0
            .iter()
            .filter(|(_, d)| **d != 0)
            .map(|(v, d)| (*v, *d))
    }
}

/// Applies `delta` to a volume's live bytes. Going below zero means the table disagrees with
/// the records (a bug or a lost update): it is clamped to zero and logged rather than refusing
/// the write, and `recompute_volume_live_bytes` repairs it.
pub(crate) fn apply(volume: VolumeId, old: u64, delta: i128) -> u64 {
    let new = i128::from(old) + delta;
    if new < 0 {
        tracing::warn!(
            %volume, old, delta = %delta,
            "volume live bytes would go negative; clamping to zero"
        );
        0
    } else {
        u64::try_from(new).unwrap_or(u64::MAX)
    }
}

impl LiveDelta {
    /// Reads an accumulated delta as a table of live bytes (starting from zero), zeros omitted,
    /// sorted by volume.
    pub(crate) fn into_table(self) -> Vec<(VolumeId, u64)> {
        self.changes().map(|(v, n)| (v, apply(v, 0, n))).collect()
    }
}
