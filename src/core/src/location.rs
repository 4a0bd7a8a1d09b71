//! Where an object's bytes are: stripes in volumes, and the frame index over them.
//!
//! A *stripe* is one record (a codec frame, or an opaque header record) erasure-coded into
//! `data_pieces + parity_pieces` pieces. Every piece of a stripe sits at the same `offset`
//! in its shard file, each behind a [`PIECE_HEADER_BYTES`]-byte header, so a stripe is
//! addressed by `(volume, offset)` alone. An object's [`Location`] lists one [`Extent`] per
//! frame in logical order: that list is the frame index a range read searches.

use serde::{Deserialize, Serialize};

use crate::ids::{Tier, VolumeId};

/// Size of the header in front of every piece in a shard file (see `docs/format/volume.md`).
pub const PIECE_HEADER_BYTES: u32 = 80;

/// A reference to one stripe: enough to find, read and verify it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StripeRef {
    /// The volume holding the stripe.
    pub volume: VolumeId,
    /// Offset of the stripe's piece headers, identical in every shard file of the volume.
    pub offset: u64,
    /// Length of each piece's data, not counting its header.
    pub piece_bytes: u32,
    /// Length of the record before erasure coding.
    pub payload_bytes: u32,
    /// Number of data pieces (k).
    pub data_pieces: u8,
    /// Number of parity pieces (m).
    pub parity_pieces: u8,
    /// BLAKE3 of the record: checked after every read, whatever pieces it was rebuilt from.
    pub payload_hash: [u8; 32],
}

impl StripeRef {
    /// Bytes the stripe occupies on disk across all its shard files, headers included.
    pub fn disk_bytes(&self) -> u64 {
        u64::from(self.data_pieces + self.parity_pieces)
            * u64::from(PIECE_HEADER_BYTES + self.piece_bytes)
    }

    /// Offset just past this stripe in each shard file.
    pub fn end_offset(&self) -> u64 {
        self.offset + u64::from(PIECE_HEADER_BYTES) + u64::from(self.piece_bytes)
    }
}

/// One frame of an object: which logical bytes it holds and the stripe it is stored in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extent {
    /// Offset of the frame's first original byte within the object.
    pub logical_offset: u64,
    /// Number of original (uncompressed) bytes in the frame.
    pub logical_bytes: u32,
    /// The stripe holding the encoded frame.
    pub stripe: StripeRef,
}

impl Extent {
    /// Offset just past the frame's last original byte.
    pub fn logical_end(&self) -> u64 {
        self.logical_offset + u64::from(self.logical_bytes)
    }
}

/// Where all of an object's frames are.
///
/// Invariant: extents are sorted by `logical_offset`, contiguous, and start at 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Location {
    /// The tier the volumes belong to.
    pub tier: Tier,
    /// One extent per frame, in logical order.
    pub extents: Vec<Extent>,
}

impl Location {
    /// Total original bytes covered by the extents.
    pub fn logical_bytes(&self) -> u64 {
        self.extents.last().map_or(0, Extent::logical_end)
    }

    /// The extents overlapping the half-open byte range `start..end`: only these frames
    /// need to be read and decoded to serve it.
    pub fn extents_for_range(&self, start: u64, end: u64) -> &[Extent] {
        if start >= end {
            return &[];
        }
        let first = self.extents.partition_point(|e| e.logical_end() <= start);
        let last = self.extents.partition_point(|e| e.logical_offset < end);
        &self.extents[first..last.max(first)]
    }

    /// Checks the invariant: sorted, contiguous extents starting at 0.
    pub fn is_contiguous(&self) -> bool {
        let mut next = 0;
        for e in &self.extents {
            if e.logical_offset != next {
                return false;
            }
            next = e.logical_end();
        }
        true
    }

    /// Bytes on disk of every stripe of the location, per volume.
    pub fn disk_bytes_by_volume(&self) -> std::collections::BTreeMap<VolumeId, u64> {
        let mut out = std::collections::BTreeMap::new();
        for e in &self.extents {
            *out.entry(e.stripe.volume).or_insert(0) += e.stripe.disk_bytes();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(offset: u64, len: u32) -> Extent {
        Extent {
            logical_offset: offset,
            logical_bytes: len,
            stripe: StripeRef {
                volume: VolumeId(1),
                offset,
                piece_bytes: len / 4,
                payload_bytes: len,
                data_pieces: 4,
                parity_pieces: 2,
                payload_hash: [0; 32],
            },
        }
    }

    #[test]
    fn range_selects_only_overlapping_frames() {
        let loc = Location {
            tier: Tier::Hot,
            extents: vec![extent(0, 100), extent(100, 100), extent(200, 50)],
        };
        assert!(loc.is_contiguous());
        assert_eq!(loc.logical_bytes(), 250);
        let offsets = |s, e| {
            loc.extents_for_range(s, e)
                .iter()
                .map(|x| x.logical_offset)
                .collect::<Vec<_>>()
        };
        assert_eq!(offsets(0, 1), vec![0]);
        assert_eq!(offsets(99, 101), vec![0, 100]);
        assert_eq!(offsets(100, 200), vec![100]);
        assert_eq!(offsets(150, 250), vec![100, 200]);
        assert_eq!(offsets(249, 250), vec![200]);
        assert_eq!(offsets(250, 300), Vec::<u64>::new());
        assert_eq!(offsets(10, 10), Vec::<u64>::new());
    }

    #[test]
    fn disk_bytes_count_headers_and_parity() {
        let e = extent(0, 400);
        assert_eq!(e.stripe.disk_bytes(), 6 * (80 + 100));
    }
}
