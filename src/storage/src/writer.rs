//! The group-commit writer: one thread per tier appends to the active shared volume.
//!
//! Requests arrive on a channel. The thread takes one, drains every request already waiting
//! (up to the record and byte limits of one round), lays their stripes out contiguously in
//! one buffer per shard file, writes each buffer with one `pwrite` (on this thread: a copy
//! into the page cache), fdatasyncs all present shard files once — in parallel, on `k + m - 1`
//! long-lived I/O workers plus this thread, so no round spawns a thread — and only then
//! publishes the new end to readers and answers every request of the round.
//!
//! A shard file that is absent (its disk was lost when the volume was created) or fails its
//! `pwrite` or fdatasync is skipped and dropped from the volume: the round still succeeds if
//! at least the write quorum (`min(k + 1, k + m)`) of files holds it durably, so one lost
//! disk does not stop writes. A round below the quorum answers all of its requests with the
//! error and abandons the volume (its unacknowledged tail is cut at the next open); the next
//! request creates a new volume, which needs the quorum of shard files too.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

use stratum_core::{StripeRef, PIECE_HEADER_BYTES};
use tokio::sync::oneshot;

use crate::erasure::EncodedStripe;
use crate::error::StorageError;
use crate::layout::VOLUME_HEADER_BYTES;
use crate::tier::{Stats, TierShared};
use crate::volume::VolumeFiles;
use crate::workers::IoWorkers;
use crate::VolumeKind;

/// The answer to one append: a reference per stripe, in order.
pub(crate) type AppendReply = oneshot::Sender<Result<Vec<StripeRef>, StorageError>>;

/// A request to the writer thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Append these stripes contiguously, in order, to one volume.
    Append {
        stripes: Vec<EncodedStripe>,
        reply: AppendReply,
    },
    /// Seal the active volume; the next append opens a new one.
    Seal {
        reply: Sender<Result<(), StorageError>>,
    },
}

/// The limits of one group-commit round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `StorageConfig::group_commit_records_max`.
    pub(crate) records_max: usize,
    /// `StorageConfig::group_commit_bytes_max` (payload bytes).
    pub(crate) bytes_max: u64,
    /// `StorageConfig::shared_volume_bytes_max` (bytes per shard file).
    pub(crate) volume_bytes_max: u64,
}

/// The running writer of a tier. Dropping it closes the channel and joins the thread,
/// which finishes the round in flight first.
#[derive(Debug)]
pub(crate) struct WriterHandle {
    tx: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    /// Starts the writer thread of `tier`.
    pub(crate) fn start(tier: Arc<TierShared>, limits: Limits) -> Result<Self, StorageError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let name = format!("stratum-writer-{}", tier.tier);
        // The writer thread runs one shard file's fdatasync itself; without fsync there is
        // nothing to hand off.
        let sync = if tier.fsync {
            let count = tier.codec.width().saturating_sub(1);
            Some(IoWorkers::start(
                &format!("stratum-sync-{}", tier.tier),
                count,
            )?)
        } else {
            None
        };
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || Writer::new(tier, limits, sync).run(rx))
            .map_err(|e| StorageError::io("writer thread", e))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// A sender to the thread.
    pub(crate) fn sender(&self) -> Option<Sender<Command>> {
        self.tx.clone()
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("volume writer thread panicked");
            }
        }
    }
}

/// A request placed in the current round, waiting for the round's fdatasync.
struct Placed {
    reply: AppendReply,
    refs: Vec<StripeRef>,
}

/// The writer thread's state.
struct Writer {
    tier: Arc<TierShared>,
    limits: Limits,
    /// Flushes the shard files of each round (`None` when the tier runs without fsync).
    /// Dropped, and its threads joined, when the writer thread ends.
    sync: Option<IoWorkers>,
    active: Option<Arc<VolumeFiles>>,
    /// Offset just past the last stripe placed in the active volume (written or not).
    next: u64,
    /// One buffer per shard file: the round's pieces, headers included, back to back.
    bufs: Vec<Vec<u8>>,
    /// Offset in the active volume where `bufs` start.
    bufs_at: u64,
    placed: Vec<Placed>,
    placed_stripes: u64,
}

impl Writer {
    fn new(tier: Arc<TierShared>, limits: Limits, sync: Option<IoWorkers>) -> Self {
        let width = tier.codec.width();
        Self {
            tier,
            limits,
            sync,
            active: None,
            next: VOLUME_HEADER_BYTES,
            bufs: vec![Vec::new(); width],
            bufs_at: VOLUME_HEADER_BYTES,
            placed: Vec::new(),
            placed_stripes: 0,
        }
    }

    fn run(mut self, rx: Receiver<Command>) {
        let mut carried: Option<Command> = None;
        loop {
            let first = match carried.take() {
                Some(c) => c,
                None => match rx.recv() {
                    Ok(c) => c,
                    // Every sender is gone: the store is closing. The active volume stays
                    // unsealed on disk and is verified and sealed at the next open.
                    Err(_) => return,
                },
            };
            let mut round = match first {
                Command::Seal { reply } => {
                    let _ = reply.send(self.seal_active());
                    continue;
                }
                Command::Append { stripes, reply } => vec![(stripes, reply)],
            };
            let (mut records, mut bytes) = weigh(&round[0].0);
            while records < self.limits.records_max && bytes < self.limits.bytes_max {
                match rx.try_recv() {
                    Ok(Command::Append { stripes, reply }) => {
                        let (r, b) = weigh(&stripes);
                        if records + r > self.limits.records_max
                            || bytes + b > self.limits.bytes_max
                        {
                            carried = Some(Command::Append { stripes, reply });
                            break;
                        }
                        records += r;
                        bytes += b;
                        round.push((stripes, reply));
                    }
                    Ok(seal @ Command::Seal { .. }) => {
                        // A seal orders after the appends before it: finish this round first.
                        carried = Some(seal);
                        break;
                    }
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            for (stripes, reply) in round {
                self.place(stripes, reply);
            }
            self.commit();
        }
    }

    /// Lays one request's stripes out in the round's buffers, rotating first if they would
    /// take the active volume past its size limit (one request never spans two volumes).
    fn place(&mut self, stripes: Vec<EncodedStripe>, reply: AppendReply) {
        let expected = self.tier.codec.geometry();
        if let Some(s) = stripes.iter().find(|s| s.geometry() != expected) {
            let _ = reply.send(Err(StorageError::StripeGeometry {
                tier: self.tier.tier,
                found: s.geometry(),
                expected,
            }));
            return;
        }
        let need: u64 = stripes.iter().map(EncodedStripe::shard_bytes).sum();
        let full =
            self.next > VOLUME_HEADER_BYTES && self.next + need > self.limits.volume_bytes_max;
        if self.active.is_none() || full {
            if let Err(e) = self.rotate() {
                let _ = reply.send(Err(e));
                return;
            }
        }
        let Some(active) = &self.active else {
            let _ = reply.send(Err(StorageError::WriterGone));
            return;
        };
        let id = active.id;
        let mut refs = Vec::with_capacity(stripes.len());
        for s in &stripes {
            for (i, buf) in self.bufs.iter_mut().enumerate() {
                buf.extend_from_slice(&s.piece_header(id, self.next, i).encode());
                buf.extend_from_slice(&s.pieces[i]);
            }
            refs.push(s.stripe_ref(id, self.next));
            self.next += u64::from(PIECE_HEADER_BYTES) + u64::from(s.piece_bytes);
        }
        self.placed_stripes += refs.len() as u64;
        self.placed.push(Placed { reply, refs });
    }

    /// Writes and fdatasyncs the round, publishes it, and answers its requests.
    fn commit(&mut self) {
        if self.placed.is_empty() {
            return;
        }
        let placed = std::mem::take(&mut self.placed);
        let stripes = std::mem::take(&mut self.placed_stripes);
        let result = match &self.active {
            Some(active) => active
                .write_all_shards(self.bufs_at, &self.bufs, self.sync.as_ref())
                .map(|_| active.publish(self.next, stripes)),
            None => Err(StorageError::WriterGone),
        };
        for b in &mut self.bufs {
            b.clear();
        }
        self.bufs_at = self.next;
        let stats = &self.tier.stats;
        Stats::bump(&stats.commit_batches, 1);
        match result {
            Ok(()) => {
                if self.tier.fsync {
                    Stats::bump(&stats.sync_rounds, 1);
                }
                Stats::bump(&stats.stripes_appended, stripes);
                for p in placed {
                    let _ = p.reply.send(Ok(p.refs));
                }
            }
            Err(e) => {
                tracing::error!(tier = %self.tier.tier, error = %e, "group commit failed; abandoning the volume");
                for p in placed {
                    let _ = p.reply.send(Err(e.duplicate()));
                }
                // Bytes past the published end may be half-written: never append after them.
                if let Some(v) = self.active.take() {
                    v.set_writing(false);
                }
            }
        }
    }

    /// Commits what is placed, seals the active volume, and opens a new one.
    fn rotate(&mut self) -> Result<(), StorageError> {
        self.commit();
        if let Err(e) = self.seal_active() {
            // The volume's acknowledged stripes are durable; an unwritten seal only means
            // the next open verifies its tail instead of trusting the header.
            tracing::warn!(tier = %self.tier.tier, error = %e, "sealing a full shared volume failed");
        }
        let v = self.tier.create_volume(VolumeKind::Shared)?;
        tracing::debug!(tier = %self.tier.tier, volume = %v.id, "opened shared volume");
        self.next = VOLUME_HEADER_BYTES;
        self.bufs_at = VOLUME_HEADER_BYTES;
        self.active = Some(v);
        Ok(())
    }

    /// Seals the active volume, if any (its stripes are all committed: seals run between rounds).
    fn seal_active(&mut self) -> Result<(), StorageError> {
        match self.active.take() {
            Some(v) => {
                let r = v.seal(self.tier.fsync, self.sync.as_ref());
                v.set_writing(false);
                r
            }
            None => Ok(()),
        }
    }
}

/// Records and payload bytes of one request, for the round limits.
fn weigh(stripes: &[EncodedStripe]) -> (usize, u64) {
    let bytes = stripes.iter().map(|s| u64::from(s.payload_bytes)).sum();
    (stripes.len(), bytes)
}
