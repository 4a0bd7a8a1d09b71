//! Reed-Solomon coding and hashing of records: the CPU half of a write and of a degraded read.
//!
//! A record of `payload_bytes` is split into `k` data pieces of `ceil(payload_bytes / k)`
//! bytes (the last one zero-padded), and `m` parity pieces are computed over GF(2^8). An empty
//! record has pieces of 0 bytes (nothing to code; its stripe is `k + m` bare piece headers).
//! Nothing here does I/O, so callers run it on a blocking thread.

use std::fmt;

use reed_solomon_erasure::galois_8::ReedSolomon;
use stratum_core::{StripeRef, Tier, VolumeId, PIECE_HEADER_BYTES};

use crate::error::StorageError;
use crate::layout::{piece_bytes_for, PieceHeader};
use crate::RecordKind;

/// Most pieces (k + m) in one stripe: the order of GF(2^8), which bounds Reed-Solomon.
pub const PIECES_PER_STRIPE_MAX: usize = 256;
/// Largest record: the piece header stores `payload_bytes` as a `u32`.
pub const PAYLOAD_BYTES_MAX: u64 = u32::MAX as u64;

/// A tier's erasure code.
pub(crate) struct Codec {
    k: u8,
    m: u8,
    /// `None` when `m == 0` (the library refuses zero parity; there is nothing to compute).
    rs: Option<ReedSolomon>,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Codec({}+{})", self.k, self.m)
    }
}

impl Codec {
    /// The code for `k` data and `m` parity pieces.
    pub(crate) fn new(tier: Tier, k: u8, m: u8) -> Result<Self, StorageError> {
        let invalid = StorageError::InvalidGeometry {
            tier,
            k,
            m,
            max: PIECES_PER_STRIPE_MAX,
        };
        if k == 0 || usize::from(k) + usize::from(m) > PIECES_PER_STRIPE_MAX {
            return Err(invalid);
        }
        let rs = if m == 0 {
            None
        } else {
            Some(ReedSolomon::new(usize::from(k), usize::from(m)).map_err(|_| invalid)?)
        };
        Ok(Self { k, m, rs })
    }

    /// `(k, m)`.
    pub(crate) fn geometry(&self) -> (u8, u8) {
        (self.k, self.m)
    }

    /// Pieces per stripe.
    pub(crate) fn width(&self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }

    /// Splits, codes and hashes one record.
    pub(crate) fn encode(
        &self,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<EncodedStripe, StorageError> {
        let payload_bytes =
            u32::try_from(payload.len()).map_err(|_| StorageError::PayloadTooLarge {
                bytes: payload.len(),
                max: PAYLOAD_BYTES_MAX,
            })?;
        let piece_bytes = piece_bytes_for(payload_bytes, self.k);
        let len = piece_bytes as usize;
        let mut pieces: Vec<Vec<u8>> = Vec::with_capacity(self.width());
        for i in 0..usize::from(self.k) {
            let start = (i * len).min(payload.len());
            let end = ((i + 1) * len).min(payload.len());
            let mut piece = Vec::with_capacity(len);
            piece.extend_from_slice(&payload[start..end]);
            piece.resize(len, 0);
            pieces.push(piece);
        }
        let mut parity: Vec<Vec<u8>> = vec![vec![0u8; len]; usize::from(self.m)];
        if let (Some(rs), true) = (&self.rs, len > 0) {
            rs.encode_sep(&pieces, &mut parity)
                .map_err(|e| internal(VolumeId(0), 0, e))?;
        }
        pieces.extend(parity);
        let piece_hashes = pieces.iter().map(|p| *blake3::hash(p).as_bytes()).collect();
        Ok(EncodedStripe {
            kind,
            payload_bytes,
            piece_bytes,
            k: self.k,
            m: self.m,
            pieces,
            piece_hashes,
            payload_hash: *blake3::hash(payload).as_bytes(),
        })
    }

    /// Rebuilds the `None` slots of `pieces` (`k + m` slots, every `Some` of `piece_bytes`
    /// bytes and verified). With `data_only`, parity slots may stay `None`. Fails with
    /// `Unrecoverable` when fewer than `k` slots are present.
    pub(crate) fn reconstruct(
        &self,
        volume: VolumeId,
        offset: u64,
        piece_bytes: u32,
        pieces: &mut [Option<Vec<u8>>],
        data_only: bool,
    ) -> Result<(), StorageError> {
        let present = pieces.iter().filter(|p| p.is_some()).count();
        if present < usize::from(self.k) {
            return Err(StorageError::Unrecoverable {
                volume,
                offset,
                lost: self.width() - present,
                needed: usize::from(self.k),
            });
        }
        if present == self.width() {
            return Ok(());
        }
        match (&self.rs, piece_bytes) {
            // Empty pieces have nothing to rebuild; with m = 0 and k present, none is lost.
            (_, 0) | (None, _) => {
                for slot in pieces.iter_mut().filter(|p| p.is_none()) {
                    *slot = Some(Vec::new());
                }
                Ok(())
            }
            (Some(rs), _) => {
                let r = if data_only {
                    rs.reconstruct_data(pieces)
                } else {
                    rs.reconstruct(pieces)
                };
                r.map_err(|e| internal(volume, offset, e))
            }
        }
    }
}

/// A Reed-Solomon call refused its input: only reachable if this crate broke its own
/// invariant (equal piece lengths, enough pieces), reported as corruption of that stripe.
fn internal(volume: VolumeId, offset: u64, e: reed_solomon_erasure::Error) -> StorageError {
    StorageError::Corrupt {
        volume,
        offset,
        detail: format!("reed-solomon refused the pieces: {e:?}"),
    }
}

/// A record erasure-coded in memory and hashed, ready to append (CPU work done; no I/O).
pub struct EncodedStripe {
    pub(crate) kind: RecordKind,
    pub(crate) payload_bytes: u32,
    pub(crate) piece_bytes: u32,
    pub(crate) k: u8,
    pub(crate) m: u8,
    /// `k` data pieces then `m` parity pieces, each `piece_bytes` long.
    pub(crate) pieces: Vec<Vec<u8>>,
    /// BLAKE3 of each piece, in piece order.
    pub(crate) piece_hashes: Vec<[u8; 32]>,
    pub(crate) payload_hash: [u8; 32],
}

impl fmt::Debug for EncodedStripe {
    // The pieces are left out: they are the record's bytes, possibly megabytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedStripe")
            .field("kind", &self.kind)
            .field("payload_bytes", &self.payload_bytes)
            .field("piece_bytes", &self.piece_bytes)
            .field("k", &self.k)
            .field("m", &self.m)
            .finish_non_exhaustive()
    }
}

impl EncodedStripe {
    /// Length of the record before coding.
    pub fn payload_bytes(&self) -> u32 {
        self.payload_bytes
    }

    /// Bytes the stripe will occupy on disk across all shard files, headers included
    /// (equals [`StripeRef::disk_bytes`] of the reference it gets).
    pub fn disk_bytes(&self) -> u64 {
        self.shard_bytes() * (u64::from(self.k) + u64::from(self.m))
    }

    /// The record kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// BLAKE3 of the record.
    pub fn payload_hash(&self) -> [u8; 32] {
        self.payload_hash
    }

    /// Length of each piece's data.
    pub fn piece_bytes(&self) -> u32 {
        self.piece_bytes
    }

    /// `(k, m)` it was coded for.
    pub fn geometry(&self) -> (u8, u8) {
        (self.k, self.m)
    }

    /// Bytes the stripe adds to each shard file: one piece header and one piece.
    pub(crate) fn shard_bytes(&self) -> u64 {
        u64::from(PIECE_HEADER_BYTES) + u64::from(self.piece_bytes)
    }

    /// The header of piece `index` once placed at `offset` of `volume`.
    pub(crate) fn piece_header(&self, volume: VolumeId, offset: u64, index: usize) -> PieceHeader {
        PieceHeader {
            kind: self.kind,
            k: self.k,
            m: self.m,
            index: index as u8,
            payload_bytes: self.payload_bytes,
            piece_bytes: self.piece_bytes,
            volume,
            offset,
            hash: self.piece_hashes[index],
        }
    }

    /// The reference to this stripe once placed at `offset` of `volume`.
    pub(crate) fn stripe_ref(&self, volume: VolumeId, offset: u64) -> StripeRef {
        StripeRef {
            volume,
            offset,
            piece_bytes: self.piece_bytes,
            payload_bytes: self.payload_bytes,
            data_pieces: self.k,
            parity_pieces: self.m,
            payload_hash: self.payload_hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_rebuild_any_m_lost() {
        let codec = Codec::new(Tier::Hot, 4, 2).unwrap();
        let payload: Vec<u8> = (0..1001u32).map(|i| (i * 7) as u8).collect();
        let s = codec.encode(RecordKind::Frame, &payload).unwrap();
        assert_eq!(s.piece_bytes, 251);
        assert_eq!(s.disk_bytes(), 6 * (80 + 251));
        for a in 0..6 {
            for b in a + 1..6 {
                let mut slots: Vec<Option<Vec<u8>>> = s.pieces.iter().cloned().map(Some).collect();
                slots[a] = None;
                slots[b] = None;
                codec
                    .reconstruct(VolumeId(1), 64, s.piece_bytes, &mut slots, false)
                    .unwrap();
                let got: Vec<Vec<u8>> = slots.into_iter().map(Option::unwrap).collect();
                assert_eq!(got, s.pieces);
            }
        }
        let mut slots: Vec<Option<Vec<u8>>> = vec![None; 6];
        slots[0] = Some(s.pieces[0].clone());
        assert!(matches!(
            codec.reconstruct(VolumeId(1), 64, s.piece_bytes, &mut slots, true),
            Err(StorageError::Unrecoverable {
                lost: 5,
                needed: 4,
                ..
            })
        ));
    }

    #[test]
    fn empty_payload_and_zero_parity_work() {
        let codec = Codec::new(Tier::Hot, 3, 0).unwrap();
        let s = codec.encode(RecordKind::Header, b"").unwrap();
        assert_eq!((s.piece_bytes, s.pieces.len()), (0, 3));
        assert_eq!(s.disk_bytes(), 3 * 80);
        let s = codec.encode(RecordKind::Header, b"abcd").unwrap();
        assert_eq!(
            s.pieces,
            vec![b"ab".to_vec(), b"cd".to_vec(), b"\0\0".to_vec()]
        );
        assert!(Codec::new(Tier::Hot, 0, 2).is_err());
        assert!(Codec::new(Tier::Hot, 200, 57).is_err());
    }
}
