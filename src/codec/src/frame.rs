//! The S4F2 frame header: its byte layout, parsing and the codec's typed errors.
//!
//! The layout is specified byte by byte in `docs/format/s4f2.md`; this module is its only
//! implementation. Parsing checks the header's own CRC32C before trusting any field, so a
//! torn or bit-flipped header is reported as such instead of steering the decoder.

use thiserror::Error;

/// The four bytes every frame starts with.
pub const FRAME_MAGIC: [u8; 4] = *b"S4F2";
/// The frame format version this crate writes and the only one it reads.
pub const FRAME_VERSION: u8 = 1;
/// Size of the fixed header that precedes a frame's stored bytes.
pub const FRAME_HEADER_BYTES: usize = 24;

// Field offsets within the header; `docs/format/s4f2.md` is the specification.
const MAGIC_AT: usize = 0;
const VERSION_AT: usize = 4;
const CODEC_AT: usize = 5;
const FLAGS_AT: usize = 6;
const ORIGINAL_BYTES_AT: usize = 8;
const STORED_BYTES_AT: usize = 12;
const CRC32C_AT: usize = 16;
const HEADER_CRC32C_AT: usize = 20;

/// How a frame's stored bytes encode its original bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CodecId {
    /// Stored bytes are the original bytes.
    Passthrough = 0,
    /// Stored bytes are one complete, standard zstd frame.
    Zstd = 1,
}

impl CodecId {
    /// The codec with on-disk id `id`.
    pub fn from_u8(id: u8) -> Result<Self, CodecError> {
        match id {
            0 => Ok(Self::Passthrough),
            1 => Ok(Self::Zstd),
            other => Err(CodecError::UnknownCodec(other)),
        }
    }
}

/// The parsed, checksum-verified fields of a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// How the stored bytes encode the original bytes.
    pub codec: CodecId,
    /// Length of the frame's original (decoded) bytes.
    pub original_bytes: u32,
    /// Length of the stored bytes that follow the header.
    pub stored_bytes: u32,
    /// CRC32C (Castagnoli) of the original bytes.
    pub crc32c: u32,
}

impl FrameHeader {
    /// Length of the whole frame, header included.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.stored_bytes as usize
    }

    /// The header's 24 on-disk bytes, header checksum included.
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_BYTES] {
        let mut bytes = [0u8; FRAME_HEADER_BYTES];
        bytes[MAGIC_AT..VERSION_AT].copy_from_slice(&FRAME_MAGIC);
        bytes[VERSION_AT] = FRAME_VERSION;
        bytes[CODEC_AT] = self.codec as u8;
        // Flags stay zero: the field is reserved for a later version.
        bytes[FLAGS_AT..ORIGINAL_BYTES_AT].copy_from_slice(&0u16.to_le_bytes());
        bytes[ORIGINAL_BYTES_AT..STORED_BYTES_AT]
            .copy_from_slice(&self.original_bytes.to_le_bytes());
        bytes[STORED_BYTES_AT..CRC32C_AT].copy_from_slice(&self.stored_bytes.to_le_bytes());
        bytes[CRC32C_AT..HEADER_CRC32C_AT].copy_from_slice(&self.crc32c.to_le_bytes());
        let header_crc = crc32c::crc32c(&bytes[..HEADER_CRC32C_AT]);
        bytes[HEADER_CRC32C_AT..].copy_from_slice(&header_crc.to_le_bytes());
        bytes
    }
}

/// Why a frame could not be read. Every variant means the bytes are not a valid frame
/// (corrupt, torn, or from an unknown writer); none of them is transient.
#[derive(Debug, Error)]
pub enum CodecError {
    /// The first four bytes are not `S4F2`.
    #[error("bad frame magic {found:02x?}")]
    BadMagic {
        /// The bytes found where the magic belongs.
        found: [u8; 4],
    },
    /// The header checksum does not match: the header is torn or corrupt.
    #[error("frame header checksum mismatch: stored {expected:#010x}, computed {actual:#010x}")]
    HeaderChecksum {
        /// The checksum recorded in the header.
        expected: u32,
        /// The checksum of the header bytes as read.
        actual: u32,
    },
    /// A frame format version this build does not read.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// A codec id this build does not know.
    #[error("unknown frame codec id {0}")]
    UnknownCodec(u8),
    /// Reserved flag bits are set (written by a newer format this build does not read).
    #[error("unsupported frame flags {0:#06x}")]
    UnsupportedFlags(u16),
    /// The input ends before the header or the stored bytes it announces.
    #[error("frame truncated: needs {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// The input continues past the end of the frame its header announces.
    #[error("frame has trailing bytes: {expected} expected, have {have}")]
    TrailingBytes {
        /// Length of the frame per its header.
        expected: usize,
        /// Bytes given.
        have: usize,
    },
    /// A length does not match the header: decoded bytes differ from `original_bytes`, or a
    /// passthrough frame's stored length differs from its original length.
    #[error("frame length mismatch: header says {expected} bytes, found {actual}")]
    LengthMismatch {
        /// The length the header records.
        expected: u32,
        /// The length found.
        actual: usize,
    },
    /// The decoded bytes do not match the header's CRC32C.
    #[error("frame checksum mismatch: header {expected:#010x}, decoded {actual:#010x}")]
    ChecksumMismatch {
        /// The CRC32C recorded in the header.
        expected: u32,
        /// The CRC32C of the decoded bytes.
        actual: u32,
    },
    /// zstd rejected the stored bytes (corrupt stream, or more output than announced).
    #[error("zstd could not decode the frame")]
    Zstd(#[source] std::io::Error),
}

/// Parses and verifies the header at the start of `frame` (which may be just the header,
/// or a whole frame).
///
/// Checks, in order: length, magic, header checksum, version, flags, codec id, and that a
/// passthrough header's two lengths agree. The stored bytes are not looked at.
pub fn read_header(frame: &[u8]) -> Result<FrameHeader, CodecError> {
    let Some(bytes) = frame.get(..FRAME_HEADER_BYTES) else {
        return Err(CodecError::Truncated {
            needed: FRAME_HEADER_BYTES,
            have: frame.len(),
        });
    };
    let found = array::<4>(bytes, MAGIC_AT);
    if found != FRAME_MAGIC {
        return Err(CodecError::BadMagic { found });
    }
    // The checksum comes before any field is interpreted: a flipped bit in the version or
    // codec byte is corruption, not a message from a newer writer.
    let expected = u32::from_le_bytes(array(bytes, HEADER_CRC32C_AT));
    let actual = crc32c::crc32c(&bytes[..HEADER_CRC32C_AT]);
    if expected != actual {
        return Err(CodecError::HeaderChecksum { expected, actual });
    }
    if bytes[VERSION_AT] != FRAME_VERSION {
        return Err(CodecError::UnsupportedVersion(bytes[VERSION_AT]));
    }
    let flags = u16::from_le_bytes(array(bytes, FLAGS_AT));
    if flags != 0 {
        return Err(CodecError::UnsupportedFlags(flags));
    }
    let codec = CodecId::from_u8(bytes[CODEC_AT])?;
    let header = FrameHeader {
        codec,
        original_bytes: u32::from_le_bytes(array(bytes, ORIGINAL_BYTES_AT)),
        stored_bytes: u32::from_le_bytes(array(bytes, STORED_BYTES_AT)),
        crc32c: u32::from_le_bytes(array(bytes, CRC32C_AT)),
    };
    if codec == CodecId::Passthrough && header.stored_bytes != header.original_bytes {
        return Err(CodecError::LengthMismatch {
            expected: header.original_bytes,
            actual: header.stored_bytes as usize,
        });
    }
    Ok(header)
}

/// The stored bytes of a whole frame, after checking the input is exactly one frame long.
pub(crate) fn stored_bytes<'a>(
    frame: &'a [u8],
    header: &FrameHeader,
) -> Result<&'a [u8], CodecError> {
    let needed = header.frame_bytes();
    if frame.len() < needed {
        return Err(CodecError::Truncated {
            needed,
            have: frame.len(),
        });
    }
    // Extra bytes mean the caller's extent does not match the frame: refuse rather than
    // guess which end is right.
    if frame.len() > needed {
        return Err(CodecError::TrailingBytes {
            expected: needed,
            have: frame.len(),
        });
    }
    Ok(&frame[FRAME_HEADER_BYTES..])
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FrameHeader {
        FrameHeader {
            codec: CodecId::Zstd,
            original_bytes: 1 << 20,
            stored_bytes: 12345,
            crc32c: 0xdead_beef,
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..4], b"S4F2");
        assert_eq!(read_header(&bytes).unwrap(), h);
    }

    #[test]
    fn header_layout_is_little_endian_at_documented_offsets() {
        let bytes = sample().to_bytes();
        assert_eq!(bytes[4], 1);
        assert_eq!(bytes[5], 1);
        assert_eq!(&bytes[6..8], &[0, 0]);
        assert_eq!(&bytes[8..12], &(1u32 << 20).to_le_bytes());
        assert_eq!(&bytes[12..16], &12345u32.to_le_bytes());
        assert_eq!(&bytes[16..20], &0xdead_beefu32.to_le_bytes());
        assert_eq!(&bytes[20..24], &crc32c::crc32c(&bytes[..20]).to_le_bytes());
    }

    #[test]
    fn every_single_bit_flip_in_header_is_detected() {
        let bytes = sample().to_bytes();
        for bit in 0..FRAME_HEADER_BYTES * 8 {
            let mut b = bytes;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(read_header(&b).is_err(), "bit {bit} flip went unnoticed");
        }
    }

    #[test]
    fn newer_version_and_flags_are_refused_even_with_valid_checksum() {
        let reseal = |mut b: [u8; FRAME_HEADER_BYTES]| {
            let crc = crc32c::crc32c(&b[..20]);
            b[20..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let mut b = sample().to_bytes();
        b[4] = 2;
        assert!(matches!(
            read_header(&reseal(b)),
            Err(CodecError::UnsupportedVersion(2))
        ));
        let mut b = sample().to_bytes();
        b[5] = 9;
        assert!(matches!(
            read_header(&reseal(b)),
            Err(CodecError::UnknownCodec(9))
        ));
        let mut b = sample().to_bytes();
        b[6] = 1;
        assert!(matches!(
            read_header(&reseal(b)),
            Err(CodecError::UnsupportedFlags(1))
        ));
    }

    #[test]
    fn passthrough_header_with_unequal_lengths_is_refused() {
        let h = FrameHeader {
            codec: CodecId::Passthrough,
            original_bytes: 10,
            stored_bytes: 9,
            crc32c: 0,
        };
        assert!(matches!(
            read_header(&h.to_bytes()),
            Err(CodecError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn short_input_is_truncated() {
        let bytes = sample().to_bytes();
        assert!(matches!(
            read_header(&bytes[..23]),
            Err(CodecError::Truncated {
                needed: 24,
                have: 23
            })
        ));
    }
}
