//! Reading, checking, rebuilding and walking the stripes of one volume.
//!
//! A piece is *good* only if its header decodes (magic, version, crc32c, zero reserved
//! bytes), names this volume, this offset, this geometry and this piece index, agrees with
//! the stripe's sizes, and its data hashes to the BLAKE3 in the header. Anything else — a
//! missing file, a short read, a flipped bit — makes the piece *lost*. A stripe decodes from
//! any `k` good pieces; the payload is then checked against the reference's BLAKE3, so a read
//! returns the exact bytes or a typed error, never wrong bytes.

use std::ops::Range;

use stratum_core::{StripeRef, VolumeId, PIECE_HEADER_BYTES};

use crate::erasure::Codec;
use crate::error::StorageError;
use crate::layout::{piece_bytes_for, PieceHeader, PIECE_HEADER_LEN, VOLUME_HEADER_BYTES};
use crate::volume::VolumeFiles;
use crate::{RecordKind, StripeRead};

/// The sizes every piece header of one stripe must agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) payload_bytes: u32,
    pub(crate) piece_bytes: u32,
}

/// What the piece headers at one offset agree on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    pub(crate) kind: RecordKind,
    pub(crate) shape: Shape,
    /// How many headers agree.
    pub(crate) headers: usize,
}

/// The pieces of one stripe as read from disk: `None` where lost (or not read).
#[derive(Debug)]
pub(crate) struct Pieces {
    /// The record kind, from the first good piece.
    pub(crate) kind: Option<RecordKind>,
    /// `k + m` slots.
    pub(crate) slots: Vec<Option<Vec<u8>>>,
}

impl Pieces {
    /// Good pieces among the slots.
    pub(crate) fn good(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

/// The header of piece `index` at `offset` if it is intact and belongs there.
fn check_header(vf: &VolumeFiles, offset: u64, index: usize, bytes: &[u8]) -> Option<PieceHeader> {
    let h = PieceHeader::decode(bytes)?;
    let belongs = h.volume == vf.id
        && h.offset == offset
        && h.k == vf.k
        && h.m == vf.m
        && usize::from(h.index) == index
        && h.piece_bytes == piece_bytes_for(h.payload_bytes, vf.k);
    belongs.then_some(h)
}

/// Reads the pieces `which` of the stripe at `offset` (one pread of header + data each) and
/// keeps the good ones. Pieces disagreeing with the first good piece's kind are lost too.
pub(crate) fn read_pieces(
    vf: &VolumeFiles,
    offset: u64,
    shape: Shape,
    which: Range<usize>,
) -> Pieces {
    let mut pieces = Pieces {
        kind: None,
        slots: vec![None; vf.width()],
    };
    let len = PIECE_HEADER_LEN + shape.piece_bytes as usize;
    for index in which {
        let Some(mut buf) = vf.read_at(index, offset, len) else {
            continue;
        };
        let Some(h) = check_header(vf, offset, index, &buf) else {
            continue;
        };
        if h.payload_bytes != shape.payload_bytes
            || h.piece_bytes != shape.piece_bytes
            || pieces.kind.is_some_and(|k| k != h.kind)
            || *blake3::hash(&buf[PIECE_HEADER_LEN..]).as_bytes() != h.hash
        {
            continue;
        }
        pieces.kind = Some(h.kind);
        buf.drain(..PIECE_HEADER_LEN);
        pieces.slots[index] = Some(buf);
    }
    pieces
}

/// Reads the piece headers at `offset` and returns the kind and sizes most of the intact
/// ones agree on (headers only: no piece data is read or hashed).
pub(crate) fn probe(vf: &VolumeFiles, offset: u64) -> Option<Probe> {
    let mut votes: Vec<Probe> = Vec::new();
    for index in 0..vf.width() {
        let Some(buf) = vf.read_at(index, offset, PIECE_HEADER_LEN) else {
            continue;
        };
        let Some(h) = check_header(vf, offset, index, &buf) else {
            continue;
        };
        let shape = Shape {
            payload_bytes: h.payload_bytes,
            piece_bytes: h.piece_bytes,
        };
        match votes
            .iter_mut()
            .find(|p| p.kind == h.kind && p.shape == shape)
        {
            Some(p) => p.headers += 1,
            None => votes.push(Probe {
                kind: h.kind,
                shape,
                headers: 1,
            }),
        }
    }
    votes.into_iter().max_by_key(|p| p.headers)
}

/// Checks a reference against the volume it names before any byte is read.
fn check_ref(vf: &VolumeFiles, stripe: &StripeRef) -> Result<Shape, StorageError> {
    let corrupt = |detail: &str| StorageError::Corrupt {
        volume: stripe.volume,
        offset: stripe.offset,
        detail: detail.to_owned(),
    };
    if (stripe.data_pieces, stripe.parity_pieces) != (vf.k, vf.m) {
        return Err(corrupt("reference geometry differs from the volume's"));
    }
    if stripe.piece_bytes != piece_bytes_for(stripe.payload_bytes, vf.k) {
        return Err(corrupt(
            "reference piece size does not match its payload size",
        ));
    }
    let end = vf.end();
    if stripe.offset < VOLUME_HEADER_BYTES || stripe.end_offset() > end {
        return Err(StorageError::OutOfBounds {
            volume: stripe.volume,
            offset: stripe.offset,
            end,
        });
    }
    Ok(Shape {
        payload_bytes: stripe.payload_bytes,
        piece_bytes: stripe.piece_bytes,
    })
}

/// Joins the data pieces and checks the payload hash (an all-zero hash, as scans return,
/// skips the check: the pieces were each verified against their own BLAKE3).
fn assemble(
    slots: &[Option<Vec<u8>>],
    k: u8,
    payload_bytes: u32,
    volume: VolumeId,
    offset: u64,
    payload_hash: &[u8; 32],
) -> Result<Vec<u8>, StorageError> {
    let mut payload = Vec::with_capacity(payload_bytes as usize);
    for slot in slots.iter().take(usize::from(k)) {
        let piece = slot.as_deref().ok_or(StorageError::Unrecoverable {
            volume,
            offset,
            lost: 1,
            needed: usize::from(k),
        })?;
        let want = payload_bytes as usize - payload.len();
        payload.extend_from_slice(&piece[..piece.len().min(want)]);
    }
    if *payload_hash != [0; 32] && *blake3::hash(&payload).as_bytes() != *payload_hash {
        return Err(StorageError::HashMismatch { volume, offset });
    }
    Ok(payload)
}

/// Reads one stripe: the `k` data pieces first; parity only if one of them is lost.
pub(crate) fn read(
    vf: &VolumeFiles,
    codec: &Codec,
    stripe: &StripeRef,
) -> Result<StripeRead, StorageError> {
    let shape = check_ref(vf, stripe)?;
    let k = usize::from(vf.k);
    let mut pieces = read_pieces(vf, stripe.offset, shape, 0..k);
    let reconstructed = pieces.good() < k;
    if reconstructed {
        let parity = read_pieces(vf, stripe.offset, shape, k..vf.width());
        for (slot, p) in pieces.slots.iter_mut().zip(parity.slots).skip(k) {
            *slot = p;
        }
        // A parity piece of another kind than the data pieces is as lost as a bad one.
        match (pieces.kind, parity.kind) {
            (None, kind) => pieces.kind = kind,
            (Some(a), Some(b)) if a != b => pieces.slots[k..].fill(None),
            _ => {}
        }
        codec.reconstruct(
            stripe.volume,
            stripe.offset,
            shape.piece_bytes,
            &mut pieces.slots,
            true,
        )?;
    }
    let kind = pieces.kind.ok_or(StorageError::Unrecoverable {
        volume: stripe.volume,
        offset: stripe.offset,
        lost: vf.width(),
        needed: k,
    })?;
    let payload = assemble(
        &pieces.slots,
        vf.k,
        shape.payload_bytes,
        stripe.volume,
        stripe.offset,
        &stripe.payload_hash,
    )?;
    Ok(StripeRead {
        kind,
        payload,
        reconstructed,
    })
}

/// How one stripe fared in a repair.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RepairOutcome {
    /// Pieces read and checked.
    pub(crate) checked: u64,
    /// Pieces found lost.
    pub(crate) lost: u64,
    /// Pieces rewritten.
    pub(crate) rewritten: u32,
}

/// Reads every piece of the stripe at `offset`, rebuilds the lost ones from the good ones and
/// rewrites them in place (recreating a missing shard file), then fdatasyncs what it wrote.
pub(crate) fn repair(
    vf: &VolumeFiles,
    codec: &Codec,
    offset: u64,
    shape: Shape,
    payload_hash: &[u8; 32],
) -> Result<RepairOutcome, StorageError> {
    // Two repairs of one volume at once could both recreate one shard file.
    let _guard = vf.repair_guard();
    let width = vf.width();
    let mut pieces = read_pieces(vf, offset, shape, 0..width);
    let lost: Vec<usize> = (0..width).filter(|&i| pieces.slots[i].is_none()).collect();
    let mut outcome = RepairOutcome {
        checked: width as u64,
        lost: lost.len() as u64,
        rewritten: 0,
    };
    if lost.is_empty() {
        return Ok(outcome);
    }
    codec.reconstruct(vf.id, offset, shape.piece_bytes, &mut pieces.slots, false)?;
    // Check the rebuilt record before writing anything derived from it.
    assemble(
        &pieces.slots,
        vf.k,
        shape.payload_bytes,
        vf.id,
        offset,
        payload_hash,
    )?;
    let kind = pieces.kind.ok_or(StorageError::Unrecoverable {
        volume: vf.id,
        offset,
        lost: width,
        needed: usize::from(vf.k),
    })?;
    for &index in &lost {
        let data = pieces.slots[index].as_deref().unwrap_or_default();
        let header = PieceHeader {
            kind,
            k: vf.k,
            m: vf.m,
            index: index as u8,
            payload_bytes: shape.payload_bytes,
            piece_bytes: shape.piece_bytes,
            volume: vf.id,
            offset,
            hash: *blake3::hash(data).as_bytes(),
        };
        let mut buf = Vec::with_capacity(PIECE_HEADER_LEN + data.len());
        buf.extend_from_slice(&header.encode());
        buf.extend_from_slice(data);
        let file = vf.ensure_shard(index)?;
        let path = &vf.paths[index];
        std::os::unix::fs::FileExt::write_all_at(&*file, &buf, offset)
            .and_then(|()| file.sync_data())
            .map_err(|e| StorageError::io(path, e))?;
        outcome.rewritten += 1;
    }
    Ok(outcome)
}

/// Repairs the stripe a reference names.
pub(crate) fn repair_ref(
    vf: &VolumeFiles,
    codec: &Codec,
    stripe: &StripeRef,
) -> Result<u32, StorageError> {
    let shape = check_ref(vf, stripe)?;
    Ok(repair(vf, codec, stripe.offset, shape, &stripe.payload_hash)?.rewritten)
}

/// Every stripe below the volume's end, from the piece headers, in offset order. Fails where
/// no piece header of a stripe survives, since the next stripe cannot then be found.
pub(crate) fn scan(vf: &VolumeFiles) -> Result<Vec<(StripeRef, RecordKind)>, StorageError> {
    let end = vf.end();
    let mut out = Vec::new();
    let mut offset = VOLUME_HEADER_BYTES;
    while offset < end {
        let p = probe(vf, offset).ok_or(StorageError::Unrecoverable {
            volume: vf.id,
            offset,
            lost: vf.width(),
            needed: usize::from(vf.k),
        })?;
        let stripe = StripeRef {
            volume: vf.id,
            offset,
            piece_bytes: p.shape.piece_bytes,
            payload_bytes: p.shape.payload_bytes,
            data_pieces: vf.k,
            parity_pieces: vf.m,
            payload_hash: [0; 32],
        };
        offset = stripe.end_offset();
        out.push((stripe, p.kind));
    }
    Ok(out)
}

/// Offset of the stripe after one at `offset` with pieces of `piece_bytes`.
pub(crate) fn next_offset(offset: u64, piece_bytes: u32) -> u64 {
    offset + u64::from(PIECE_HEADER_BYTES) + u64::from(piece_bytes)
}
