//! Cold volumes: the layout of one remote object that packs the frames of many objects.
//!
//! A cold volume is a shard file of a one-piece geometry (`k = 1, m = 0`): the 64-byte
//! volume header (tier cold, never sealed: the remote object's length is its end), then
//! one piece per record, each behind the usual 80-byte piece header with the payload's
//! BLAKE3. No erasure coding (the provider is durable), but the same self-describing,
//! checksummed records as local volumes, so a [`StripeRef`] with `data_pieces = 1,
//! parity_pieces = 0` addresses a cold frame exactly as it addresses a local stripe, and
//! live-byte accounting needs no special case. A reader fetches only the byte range of
//! the pieces it needs and checks each against its reference before using it.
//!
//! Cold volume ids have [`COLD_VOLUME_BIT`] set, so they never collide with local volume
//! ids; the remote key of a volume is [`cold_volume_key`].

use stratum_core::{StripeRef, Tier, VolumeId, PIECE_HEADER_BYTES};

use crate::layout::{PieceHeader, VolumeHeader, PIECE_HEADER_LEN, VOLUME_HEADER_BYTES};
use crate::{RecordKind, StorageError, VolumeKind};

/// Bit set in every cold volume id (local volume ids count up from 1 and never reach it).
pub const COLD_VOLUME_BIT: u64 = 1 << 63;

/// Prefix of every cold volume's key (relative to the cold tier's configured prefix).
pub const COLD_VOLUMES_PREFIX: &str = "volumes/";

/// The remote key of a cold volume: `volumes/<id as 16 hex digits>.s4v`.
pub fn cold_volume_key(id: VolumeId) -> String {
    format!("{COLD_VOLUMES_PREFIX}{:016x}.s4v", id.0)
}

/// The volume a remote key names, if it is a cold volume key.
pub fn parse_cold_volume_key(key: &str) -> Option<VolumeId> {
    let hex = key
        .strip_prefix(COLD_VOLUMES_PREFIX)?
        .strip_suffix(".s4v")?;
    if hex.len() != 16 {
        return None;
    }
    let id = u64::from_str_radix(hex, 16).ok()?;
    (id & COLD_VOLUME_BIT != 0).then_some(VolumeId(id))
}

/// Whether `id` names a cold volume.
pub fn is_cold_volume(id: VolumeId) -> bool {
    id.0 & COLD_VOLUME_BIT != 0
}

/// Lays out a cold volume record by record. Pure: the caller ships the bytes (a multipart
/// upload, streaming), so a volume is never held whole in memory.
#[derive(Debug)]
pub struct ColdVolumeBuilder {
    id: VolumeId,
    /// Offset of the next piece header.
    offset: u64,
    records: u64,
}

impl ColdVolumeBuilder {
    /// A builder for volume `id` (which must have [`COLD_VOLUME_BIT`]) and the volume
    /// header bytes that start the object.
    pub fn new(id: VolumeId) -> (Self, Vec<u8>) {
        debug_assert!(is_cold_volume(id));
        let header = VolumeHeader {
            id,
            kind: VolumeKind::Shared,
            tier: Tier::Cold,
            k: 1,
            m: 0,
            shard_index: 0,
            sealed: None,
        };
        (
            ColdVolumeBuilder {
                id,
                offset: VOLUME_HEADER_BYTES,
                records: 0,
            },
            header.encode().to_vec(),
        )
    }

    /// The volume.
    pub fn id(&self) -> VolumeId {
        self.id
    }

    /// Bytes laid out so far, volume header included.
    pub fn bytes(&self) -> u64 {
        self.offset
    }

    /// Records laid out so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Lays out one record: returns its reference and the bytes to append (piece header,
    /// then the payload). Hashes the payload: call it off the reactor.
    pub fn append(
        &mut self,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<(StripeRef, Vec<u8>), StorageError> {
        let payload_bytes = u32::try_from(payload.len()).map_err(|_| StorageError::Corrupt {
            volume: self.id,
            offset: self.offset,
            detail: format!("a {}-byte record is too large for a piece", payload.len()),
        })?;
        let hash = *blake3::hash(payload).as_bytes();
        let header = PieceHeader {
            kind,
            k: 1,
            m: 0,
            index: 0,
            payload_bytes,
            piece_bytes: payload_bytes,
            volume: self.id,
            offset: self.offset,
            hash,
        };
        let mut bytes = Vec::with_capacity(PIECE_HEADER_LEN + payload.len());
        bytes.extend_from_slice(&header.encode());
        bytes.extend_from_slice(payload);
        let stripe = StripeRef {
            volume: self.id,
            offset: self.offset,
            piece_bytes: payload_bytes,
            payload_bytes,
            data_pieces: 1,
            parity_pieces: 0,
            payload_hash: hash,
        };
        self.offset = stripe.end_offset();
        self.records += 1;
        Ok((stripe, bytes))
    }
}

/// The payload of the cold piece `stripe`, found in `run` — bytes of the volume read from
/// offset `run_start` — after checking its piece header against the reference and its
/// BLAKE3. Never returns unverified bytes.
pub fn cold_piece<'a>(
    run: &'a [u8],
    run_start: u64,
    stripe: &StripeRef,
) -> Result<&'a [u8], StorageError> {
    let corrupt = |detail: String| StorageError::Corrupt {
        volume: stripe.volume,
        offset: stripe.offset,
        detail,
    };
    let at = stripe
        .offset
        .checked_sub(run_start)
        .and_then(|a| usize::try_from(a).ok())
        .ok_or_else(|| corrupt("the piece lies before the bytes read".into()))?;
    let end = at + PIECE_HEADER_BYTES as usize + stripe.piece_bytes as usize;
    if run.len() < end {
        return Err(corrupt(format!(
            "the cold volume ends before the piece ({} of {end} bytes read)",
            run.len()
        )));
    }
    let header = PieceHeader::decode(&run[at..])
        .ok_or_else(|| corrupt("the piece header is damaged".into()))?;
    if header.volume != stripe.volume
        || header.offset != stripe.offset
        || header.payload_bytes != stripe.payload_bytes
        || header.piece_bytes != stripe.piece_bytes
        || (header.k, header.m) != (1, 0)
    {
        return Err(corrupt(
            "the piece header does not match its reference".into(),
        ));
    }
    let payload = &run[at + PIECE_HEADER_LEN..end];
    let hash = *blake3::hash(payload).as_bytes();
    if hash != header.hash || hash != stripe.payload_hash {
        return Err(StorageError::HashMismatch {
            volume: stripe.volume,
            offset: stripe.offset,
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_refuse_local_ids() {
        let id = VolumeId(COLD_VOLUME_BIT | 42);
        let key = cold_volume_key(id);
        assert_eq!(key, "volumes/800000000000002a.s4v");
        assert_eq!(parse_cold_volume_key(&key), Some(id));
        assert_eq!(parse_cold_volume_key("volumes/000000000000002a.s4v"), None);
        assert_eq!(parse_cold_volume_key("volumes/zz.s4v"), None);
        assert_eq!(parse_cold_volume_key("other/800000000000002a.s4v"), None);
    }

    #[test]
    fn pieces_verify_and_corruption_is_caught() {
        let id = VolumeId(COLD_VOLUME_BIT | 7);
        let (mut b, mut volume) = ColdVolumeBuilder::new(id);
        let (first, bytes) = b.append(RecordKind::Frame, b"hello").unwrap();
        volume.extend_from_slice(&bytes);
        let (second, bytes) = b.append(RecordKind::Frame, b"world!").unwrap();
        volume.extend_from_slice(&bytes);
        assert_eq!(b.bytes(), volume.len() as u64);
        assert_eq!(first.disk_bytes(), 80 + 5);
        // Whole volume, and a run starting at the second piece.
        assert_eq!(cold_piece(&volume, 0, &first).unwrap(), b"hello");
        assert_eq!(cold_piece(&volume, 0, &second).unwrap(), b"world!");
        let run = &volume[second.offset as usize..];
        assert_eq!(cold_piece(run, second.offset, &second).unwrap(), b"world!");
        // A run that starts after the piece, or is cut short.
        assert!(cold_piece(run, second.offset, &first).is_err());
        assert!(cold_piece(&volume[..volume.len() - 1], 0, &second).is_err());
        // A flipped payload byte, a flipped header byte.
        let mut bad = volume.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            cold_piece(&bad, 0, &second),
            Err(StorageError::HashMismatch { .. })
        ));
        let mut bad = volume.clone();
        bad[second.offset as usize + 3] ^= 1;
        assert!(matches!(
            cold_piece(&bad, 0, &second),
            Err(StorageError::Corrupt { .. })
        ));
        // A reference to another volume.
        let mut other = second.clone();
        other.volume = VolumeId(COLD_VOLUME_BIT | 8);
        assert!(cold_piece(&volume, 0, &other).is_err());
    }
}
