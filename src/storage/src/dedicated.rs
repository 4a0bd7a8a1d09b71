//! Dedicated volumes: one large or streaming object per volume, written by its own request.
//!
//! Appends go straight to the shard files (page cache, no fdatasync), so a slow client holds
//! up nobody else; `finish` makes the whole volume durable with one parallel fdatasync round,
//! then seals it. Like group commit, appends and `finish` skip absent shard files and drop
//! failing ones, and succeed while the write quorum (`min(k + 1, k + m)`) of files holds
//! every stripe. A writer dropped before `finish` — a request that died mid-upload —
//! deletes its files, so it leaves nothing behind.

use std::sync::Arc;

use stratum_core::{StripeRef, VolumeId};

use crate::erasure::EncodedStripe;
use crate::error::StorageError;
use crate::layout::{PIECE_HEADER_LEN, VOLUME_HEADER_BYTES};
use crate::stripe::next_offset;
use crate::tier::{Stats, TierShared};
use crate::volume::VolumeFiles;

/// The writer of one dedicated volume (blocking API; async callers use `spawn_blocking`).
#[derive(Debug)]
pub struct DedicatedWriter {
    tier: Arc<TierShared>,
    volume: Arc<VolumeFiles>,
    /// Offset of the next stripe.
    next: u64,
    stripes: u64,
    /// Per-shard buffers reused across appends (header and piece in one `pwrite`).
    bufs: Vec<Vec<u8>>,
    /// Shard files that took every stripe appended so far. A file skipped or dropped by one
    /// append (and perhaps recreated by a repair since) lacks that stripe's piece, so it
    /// does not count toward the quorum at `finish`.
    complete: Vec<bool>,
    /// Set once `finish` succeeded: the drop guard then keeps the files.
    finished: bool,
}

impl DedicatedWriter {
    pub(crate) fn new(tier: Arc<TierShared>, volume: Arc<VolumeFiles>) -> Self {
        let width = volume.width();
        Self {
            tier,
            volume,
            next: VOLUME_HEADER_BYTES,
            stripes: 0,
            bufs: vec![Vec::new(); width],
            complete: vec![true; width],
            finished: false,
        }
    }

    /// The volume being written.
    pub fn id(&self) -> VolumeId {
        self.volume.id
    }

    /// Appends one stripe (written to the page cache; no fdatasync here). Blocking.
    pub fn append(&mut self, stripe: EncodedStripe) -> Result<StripeRef, StorageError> {
        let expected = self.tier.codec.geometry();
        if stripe.geometry() != expected {
            return Err(StorageError::StripeGeometry {
                tier: self.tier.tier,
                found: stripe.geometry(),
                expected,
            });
        }
        let id = self.volume.id;
        for (i, buf) in self.bufs.iter_mut().enumerate() {
            buf.clear();
            buf.reserve(PIECE_HEADER_LEN + stripe.pieces[i].len());
            buf.extend_from_slice(&stripe.piece_header(id, self.next, i).encode());
            buf.extend_from_slice(&stripe.pieces[i]);
        }
        let written = self.volume.write_all_shards(self.next, &self.bufs, None)?;
        for (c, w) in self.complete.iter_mut().zip(written) {
            *c &= w;
        }
        let r = stripe.stripe_ref(id, self.next);
        self.next = next_offset(self.next, stripe.piece_bytes);
        self.stripes += 1;
        // Readable at once (the bytes are in the page cache), durable only after `finish`.
        self.volume.publish(self.next, 1);
        Stats::bump(&self.tier.stats.stripes_appended, 1);
        Ok(r)
    }

    /// fdatasyncs every shard file in parallel, then seals the volume (the headers record its
    /// end, fdatasync'd again). After `Ok` the volume is durable: at least the write quorum
    /// of shard files holds every stripe, flushed. The files' directory entries were made
    /// durable when the volume was created.
    pub fn finish(mut self) -> Result<VolumeId, StorageError> {
        if self.tier.fsync {
            let (synced, err) = self.volume.sync_all_shards(None);
            for (c, s) in self.complete.iter_mut().zip(synced) {
                *c &= s;
            }
            Stats::bump(&self.tier.stats.sync_rounds, 1);
            let durable = self.complete.iter().filter(|&&c| c).count();
            let needed = self.volume.quorum();
            if durable < needed {
                return Err(StorageError::WriteQuorum {
                    volume: self.volume.id,
                    written: durable,
                    width: self.volume.width(),
                    needed,
                    source: err.map(Box::new),
                });
            }
        }
        self.volume.seal(self.tier.fsync, None)?;
        self.finished = true;
        Ok(self.volume.id)
    }
}

impl Drop for DedicatedWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.tier.remove(self.volume.id);
        if let Err(e) = self.volume.delete_files() {
            // The next open finds the files again; the engine reclaims unreferenced volumes.
            tracing::warn!(volume = %self.volume.id, error = %e, "could not delete an abandoned dedicated volume");
        }
        tracing::debug!(volume = %self.volume.id, stripes = self.stripes, "abandoned dedicated volume deleted");
    }
}
