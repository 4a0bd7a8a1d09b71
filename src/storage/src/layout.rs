//! The on-disk layout of shard files: volume header, piece header and file naming.
//!
//! Everything here is pure encoding and decoding (no I/O), so it is tested byte by byte
//! against `docs/format/volume.md`. All integers are little-endian.

use std::path::{Path, PathBuf};

use stratum_core::{Tier, VolumeId, PIECE_HEADER_BYTES};

use crate::{RecordKind, VolumeKind};

/// Size of the volume header at the start of every shard file; the first stripe starts here.
/// 64 bytes keeps it inside one sector, so rewriting it to seal a volume is atomic on disk.
pub const VOLUME_HEADER_BYTES: u64 = 64;
/// Magic at byte 0 of every shard file.
pub const VOLUME_MAGIC: [u8; 4] = *b"S4VL";
/// Version of the volume header layout.
pub const VOLUME_FORMAT_VERSION: u16 = 1;
/// Magic at byte 0 of every piece header.
pub const PIECE_MAGIC: [u8; 4] = *b"S4PC";
/// Version of the piece header layout.
pub const PIECE_FORMAT_VERSION: u8 = 1;
/// Piece header size as a `usize`, for buffer arithmetic.
pub const PIECE_HEADER_LEN: usize = PIECE_HEADER_BYTES as usize;
/// Name of the sub-directory of every disk directory that holds shard files.
pub const VOLUMES_DIR: &str = "volumes";
/// Suffix of shard file names.
const SHARD_SUFFIX: &str = ".shard";
/// Bit 0 of the volume header flags: the volume is sealed and `sealed_end` is valid.
const FLAG_SEALED: u8 = 1;

/// Offset of the crc32c in the volume header (it covers the bytes before it).
const VOLUME_CRC_AT: usize = 60;
/// Offset of the crc32c in the piece header (it covers the bytes before it).
const PIECE_CRC_AT: usize = 68;

/// The decoded header of one shard file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeHeader {
    /// The volume.
    pub id: VolumeId,
    /// Shared or dedicated.
    pub kind: VolumeKind,
    /// The tier whose disk set holds it.
    pub tier: Tier,
    /// Data pieces per stripe.
    pub k: u8,
    /// Parity pieces per stripe.
    pub m: u8,
    /// Which piece of every stripe this shard file holds.
    pub shard_index: u8,
    /// `Some((end, stripes))` once sealed: the offset just past the last stripe, and how many
    /// stripes lie before it. Bytes past `end` are torn and removed at open.
    pub sealed: Option<(u64, u64)>,
}

/// Why a volume header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFault {
    /// Fewer bytes than a header.
    Short,
    /// Not a shard file.
    Magic,
    /// Written by a format version this build cannot read.
    Version,
    /// The crc32c does not match: the header is damaged.
    Crc,
    /// A field holds a value no writer produces.
    Field,
}

impl HeaderFault {
    /// A short human description for logs and reports.
    pub fn describe(self) -> &'static str {
        match self {
            HeaderFault::Short => "file shorter than a volume header",
            HeaderFault::Magic => "bad magic",
            HeaderFault::Version => "unknown format version",
            HeaderFault::Crc => "header crc32c mismatch",
            HeaderFault::Field => "invalid header field",
        }
    }
}

fn tier_code(tier: Tier) -> u8 {
    match tier {
        Tier::Hot => 0,
        Tier::Warm => 1,
        Tier::Cold => 2,
    }
}

fn tier_from_code(code: u8) -> Option<Tier> {
    match code {
        0 => Some(Tier::Hot),
        1 => Some(Tier::Warm),
        2 => Some(Tier::Cold),
        _ => None,
    }
}

fn volume_kind_code(kind: VolumeKind) -> u8 {
    match kind {
        VolumeKind::Shared => 1,
        VolumeKind::Dedicated => 2,
    }
}

fn volume_kind_from_code(code: u8) -> Option<VolumeKind> {
    match code {
        1 => Some(VolumeKind::Shared),
        2 => Some(VolumeKind::Dedicated),
        _ => None,
    }
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

impl VolumeHeader {
    /// The header bytes, crc included.
    pub fn encode(&self) -> [u8; VOLUME_HEADER_BYTES as usize] {
        let mut b = [0u8; VOLUME_HEADER_BYTES as usize];
        b[0..4].copy_from_slice(&VOLUME_MAGIC);
        b[4..6].copy_from_slice(&VOLUME_FORMAT_VERSION.to_le_bytes());
        b[6] = volume_kind_code(self.kind);
        b[7] = tier_code(self.tier);
        b[8] = self.k;
        b[9] = self.m;
        b[10] = self.shard_index;
        let (end, stripes) = self.sealed.unwrap_or((0, 0));
        b[11] = if self.sealed.is_some() {
            FLAG_SEALED
        } else {
            0
        };
        // 12..16 reserved, zero.
        b[16..24].copy_from_slice(&self.id.0.to_le_bytes());
        b[24..32].copy_from_slice(&end.to_le_bytes());
        b[32..40].copy_from_slice(&stripes.to_le_bytes());
        // 40..60 reserved, zero.
        let crc = crc32c::crc32c(&b[..VOLUME_CRC_AT]);
        b[VOLUME_CRC_AT..VOLUME_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header; any fault means the shard file cannot be trusted.
    pub fn decode(b: &[u8]) -> Result<Self, HeaderFault> {
        let len = VOLUME_HEADER_BYTES as usize;
        if b.len() < len {
            return Err(HeaderFault::Short);
        }
        let b = &b[..len];
        if b[0..4] != VOLUME_MAGIC {
            return Err(HeaderFault::Magic);
        }
        if crc32c::crc32c(&b[..VOLUME_CRC_AT]) != le_u32(b, VOLUME_CRC_AT) {
            return Err(HeaderFault::Crc);
        }
        if u16::from_le_bytes([b[4], b[5]]) != VOLUME_FORMAT_VERSION {
            return Err(HeaderFault::Version);
        }
        let kind = volume_kind_from_code(b[6]).ok_or(HeaderFault::Field)?;
        let tier = tier_from_code(b[7]).ok_or(HeaderFault::Field)?;
        let flags = b[11];
        if flags & !FLAG_SEALED != 0 || b[12..16] != [0; 4] || b[40..60] != [0; 20] {
            return Err(HeaderFault::Field);
        }
        let end = le_u64(b, 24);
        let stripes = le_u64(b, 32);
        let sealed = if flags & FLAG_SEALED != 0 {
            if end < VOLUME_HEADER_BYTES {
                return Err(HeaderFault::Field);
            }
            Some((end, stripes))
        } else {
            None
        };
        Ok(Self {
            id: VolumeId(le_u64(b, 16)),
            kind,
            tier,
            k: b[8],
            m: b[9],
            shard_index: b[10],
            sealed,
        })
    }
}

/// The decoded header in front of one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceHeader {
    /// What the record is (opaque to storage).
    pub kind: RecordKind,
    /// Data pieces of the stripe.
    pub k: u8,
    /// Parity pieces of the stripe.
    pub m: u8,
    /// This piece's index: `0..k` data, `k..k+m` parity.
    pub index: u8,
    /// Length of the record before erasure coding.
    pub payload_bytes: u32,
    /// Length of this piece's data after the header.
    pub piece_bytes: u32,
    /// The volume the piece belongs to (guards against a piece copied to the wrong file).
    pub volume: VolumeId,
    /// The stripe's offset (guards against a misdirected write).
    pub offset: u64,
    /// BLAKE3 of the piece data.
    pub hash: [u8; 32],
}

impl PieceHeader {
    /// The header bytes, crc and zero padding included.
    pub fn encode(&self) -> [u8; PIECE_HEADER_LEN] {
        let mut b = [0u8; PIECE_HEADER_LEN];
        b[0..4].copy_from_slice(&PIECE_MAGIC);
        b[4] = PIECE_FORMAT_VERSION;
        b[5] = self.kind as u8;
        b[6] = self.k;
        b[7] = self.m;
        b[8] = self.index;
        // 9..12 reserved, zero.
        b[12..16].copy_from_slice(&self.payload_bytes.to_le_bytes());
        b[16..20].copy_from_slice(&self.piece_bytes.to_le_bytes());
        b[20..28].copy_from_slice(&self.volume.0.to_le_bytes());
        b[28..36].copy_from_slice(&self.offset.to_le_bytes());
        b[36..68].copy_from_slice(&self.hash);
        let crc = crc32c::crc32c(&b[..PIECE_CRC_AT]);
        b[PIECE_CRC_AT..PIECE_CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        // 72..80 zero padding.
        b
    }

    /// Decodes and checks a header (magic, version, crc, reserved bytes, kind); `None` means
    /// the piece is lost.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < PIECE_HEADER_LEN {
            return None;
        }
        let b = &b[..PIECE_HEADER_LEN];
        if b[0..4] != PIECE_MAGIC || b[4] != PIECE_FORMAT_VERSION {
            return None;
        }
        if crc32c::crc32c(&b[..PIECE_CRC_AT]) != le_u32(b, PIECE_CRC_AT) {
            return None;
        }
        if b[9..12] != [0; 3] || b[72..80] != [0; 8] {
            return None;
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[36..68]);
        Some(Self {
            kind: RecordKind::from_code(b[5])?,
            k: b[6],
            m: b[7],
            index: b[8],
            payload_bytes: le_u32(b, 12),
            piece_bytes: le_u32(b, 16),
            volume: VolumeId(le_u64(b, 20)),
            offset: le_u64(b, 28),
            hash,
        })
    }
}

/// Piece length for a payload split into `k` pieces: `ceil(payload / k)`; 0 for an empty payload.
pub fn piece_bytes_for(payload_bytes: u32, k: u8) -> u32 {
    payload_bytes.div_ceil(u32::from(k.max(1)))
}

/// File name of shard `index` of volume `id`: `{id:016x}.{index}.shard`.
pub fn shard_file_name(id: VolumeId, index: usize) -> String {
    format!("{:016x}.{index}{SHARD_SUFFIX}", id.0)
}

/// Parses a shard file name back into `(volume, shard index)`; `None` for any other file.
pub fn parse_shard_file_name(name: &str) -> Option<(VolumeId, usize)> {
    let stem = name.strip_suffix(SHARD_SUFFIX)?;
    let (id, index) = stem.split_once('.')?;
    if id.len() != 16 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    if index.is_empty() || !index.bytes().all(|c| c.is_ascii_digit()) || index.len() > 3 {
        return None;
    }
    Some((
        VolumeId(u64::from_str_radix(id, 16).ok()?),
        index.parse().ok()?,
    ))
}

/// The directory that holds shard `index` of volume `id`: `dirs[(id + index) % dirs.len()]`,
/// which spreads consecutive volumes' piece 0 over every disk.
pub fn shard_dir(dirs: &[PathBuf], id: VolumeId, index: usize) -> &Path {
    let n = dirs.len() as u64;
    let slot = (id.0 % n + index as u64 % n) % n;
    &dirs[slot as usize]
}

/// The expected path of shard `index` of volume `id` in a disk set.
pub fn shard_path(dirs: &[PathBuf], id: VolumeId, index: usize) -> PathBuf {
    shard_dir(dirs, id, index)
        .join(VOLUMES_DIR)
        .join(shard_file_name(id, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_header_round_trips_and_detects_damage() {
        let h = VolumeHeader {
            id: VolumeId(0x0102_0304_0506_0708),
            kind: VolumeKind::Dedicated,
            tier: Tier::Warm,
            k: 4,
            m: 2,
            shard_index: 5,
            sealed: Some((4096, 7)),
        };
        let b = h.encode();
        assert_eq!(&b[0..4], b"S4VL");
        assert_eq!(b[4..6], [1, 0]);
        assert_eq!((b[6], b[7], b[8], b[9], b[10], b[11]), (2, 1, 4, 2, 5, 1));
        assert_eq!(b[16], 0x08);
        assert_eq!(VolumeHeader::decode(&b), Ok(h));
        let open = VolumeHeader { sealed: None, ..h };
        assert_eq!(VolumeHeader::decode(&open.encode()), Ok(open));
        for i in 0..64 {
            let mut bad = b;
            bad[i] ^= 0x40;
            assert!(VolumeHeader::decode(&bad).is_err(), "flip at byte {i}");
        }
        assert_eq!(VolumeHeader::decode(&b[..63]), Err(HeaderFault::Short));
    }

    #[test]
    fn piece_header_round_trips_and_detects_damage() {
        let h = PieceHeader {
            kind: RecordKind::Tombstone,
            k: 4,
            m: 2,
            index: 3,
            payload_bytes: 1000,
            piece_bytes: 250,
            volume: VolumeId(9),
            offset: 64,
            hash: [7; 32],
        };
        let b = h.encode();
        assert_eq!(b.len(), 80);
        assert_eq!(&b[0..4], b"S4PC");
        assert_eq!((b[4], b[5], b[6], b[7], b[8]), (1, 3, 4, 2, 3));
        assert_eq!(b[12..16], 1000u32.to_le_bytes());
        assert_eq!(b[16..20], 250u32.to_le_bytes());
        assert_eq!(b[28..36], 64u64.to_le_bytes());
        assert_eq!(b[72..80], [0; 8]);
        assert_eq!(PieceHeader::decode(&b), Some(h));
        for i in 0..80 {
            let mut bad = b;
            bad[i] ^= 0x01;
            assert_eq!(PieceHeader::decode(&bad), None, "flip at byte {i}");
        }
    }

    #[test]
    fn shard_names_parse_back_and_spread_over_dirs() {
        let name = shard_file_name(VolumeId(0xabc), 12);
        assert_eq!(name, "0000000000000abc.12.shard");
        assert_eq!(parse_shard_file_name(&name), Some((VolumeId(0xabc), 12)));
        for bad in [
            "x.shard",
            "0000000000000abc.shard",
            "0000000000000abc.1.tmp",
            "abc.1.shard",
        ] {
            assert_eq!(parse_shard_file_name(bad), None, "{bad}");
        }
        let dirs: Vec<PathBuf> = (0..6).map(|i| PathBuf::from(format!("d{i}"))).collect();
        assert_eq!(shard_dir(&dirs, VolumeId(7), 0), Path::new("d1"));
        assert_eq!(shard_dir(&dirs, VolumeId(7), 5), Path::new("d0"));
        assert_eq!(
            shard_dir(&dirs, VolumeId(u64::MAX), 5),
            shard_dir(&dirs, VolumeId(u64::MAX), 5)
        );
    }

    #[test]
    fn pieces_round_up_and_empty_payload_has_empty_pieces() {
        assert_eq!(piece_bytes_for(0, 4), 0);
        assert_eq!(piece_bytes_for(1, 4), 1);
        assert_eq!(piece_bytes_for(8, 4), 2);
        assert_eq!(piece_bytes_for(9, 4), 3);
    }
}
