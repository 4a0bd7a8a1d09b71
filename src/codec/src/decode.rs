//! Decoding and recompression: turning a frame back into verified original bytes.
//!
//! No byte leaves this module unverified: the header's own checksum, the frame's length, the
//! decoded length and the CRC32C of the decoded bytes are all checked before a caller sees
//! any output, and on failure the caller's buffer is left as it was.

use crate::context;
use crate::encode::Encoder;
use crate::frame::{read_header, stored_bytes, CodecError, CodecId, FrameHeader};
use std::borrow::Cow;
use std::io::Cursor;

/// Decodes a whole frame (exactly one frame: no trailing bytes), verifying lengths and the
/// CRC32C of the original bytes.
pub fn decode(frame: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    decode_into(frame, &mut out)?;
    Ok(out)
}

/// Appends the decoded bytes of `frame` to `out`, reusing the caller's buffer (a GET decodes
/// frame after frame into one). On error `out` is unchanged.
pub fn decode_into(frame: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let header = read_header(frame)?;
    let stored = stored_bytes(frame, &header)?;
    match header.codec {
        CodecId::Passthrough => {
            // Verify before appending, so a corrupt frame never touches `out`.
            verify_crc(&header, stored)?;
            out.extend_from_slice(stored);
        }
        CodecId::Zstd => {
            let start = out.len();
            let result = decompress_append(&header, stored, out)
                .and_then(|()| verify_crc(&header, &out[start..]));
            if result.is_err() {
                out.truncate(start);
            }
            result?;
        }
    }
    Ok(())
}

/// Re-encodes a frame at another zstd level (the background recompression path). The input
/// is verified first. A passthrough input is sampled before compressing, so incompressible
/// data stays passthrough cheaply; the result is never longer than the input frame (if
/// re-encoding would not shrink it, the input frame is returned as it was).
pub fn recompress(frame: &[u8], level: i32) -> Result<Vec<u8>, CodecError> {
    let header = read_header(frame)?;
    let original = verified_original(frame, &header)?;
    Ok(reencode(frame, &header, &original, level))
}

/// The second half of [`recompress`], for a caller that has already verified `frame` (its
/// `header`, and `original` from [`verified_original`]): the batch path verifies first and
/// then decides where each frame is compressed.
pub(crate) fn reencode(frame: &[u8], header: &FrameHeader, original: &[u8], level: i32) -> Vec<u8> {
    // A zstd frame is already known to shrink: sampling it again would only cost time.
    let encoder = Encoder::with_level(level, header.codec == CodecId::Passthrough);
    shorter_or_input(frame, encoder.encode_with_crc(original, header.crc32c))
}

/// `candidate` when it is strictly shorter than the input `frame`, else a copy of `frame`: the
/// rule that recompression never grows a frame.
pub(crate) fn shorter_or_input(frame: &[u8], candidate: Vec<u8>) -> Vec<u8> {
    if candidate.len() < frame.len() {
        candidate
    } else {
        frame.to_vec()
    }
}

/// The original bytes of a whole frame, verified; borrowed from `frame` when passthrough.
pub(crate) fn verified_original<'a>(
    frame: &'a [u8],
    header: &FrameHeader,
) -> Result<Cow<'a, [u8]>, CodecError> {
    let stored = stored_bytes(frame, header)?;
    match header.codec {
        CodecId::Passthrough => {
            verify_crc(header, stored)?;
            Ok(Cow::Borrowed(stored))
        }
        CodecId::Zstd => {
            let mut out = Vec::new();
            decompress_append(header, stored, &mut out)?;
            verify_crc(header, &out)?;
            Ok(Cow::Owned(out))
        }
    }
}

/// Decompresses `stored` onto the end of `out`, writing straight into `out`'s spare
/// capacity. zstd is given room for exactly `original_bytes` more (plus whatever spare
/// capacity `out` already had), so a corrupt stream cannot make it allocate beyond that.
fn decompress_append(
    header: &FrameHeader,
    stored: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let start = out.len();
    let expected = header.original_bytes;
    out.reserve(expected as usize);
    let mut cursor = Cursor::new(&mut *out);
    cursor.set_position(start as u64);
    let written = context::with_decompressor(|d| d.decompress_to_buffer(stored, &mut cursor))
        .map_err(CodecError::Zstd)?;
    if written != expected as usize {
        return Err(CodecError::LengthMismatch {
            expected,
            actual: written,
        });
    }
    Ok(())
}

fn verify_crc(header: &FrameHeader, original: &[u8]) -> Result<(), CodecError> {
    let actual = crc32c::crc32c(original);
    if actual != header.crc32c {
        return Err(CodecError::ChecksumMismatch {
            expected: header.crc32c,
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus;
    use crate::frame::FRAME_HEADER_BYTES;

    #[test]
    fn decode_into_appends_and_leaves_buffer_alone_on_error() {
        let enc = Encoder::with_level(3, true);
        let a = corpus::text_like(10_000, 1);
        let b = corpus::random(5_000, 2);
        let mut out = b"prefix".to_vec();
        decode_into(&enc.encode(&a), &mut out).unwrap();
        decode_into(&enc.encode(&b), &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..6 + a.len()], &a[..]);
        assert_eq!(&out[6 + a.len()..], &b[..]);

        let before = out.clone();
        let mut bad = enc.encode(&a);
        let last = bad.len() - 1;
        bad[last] ^= 0x40;
        assert!(decode_into(&bad, &mut out).is_err());
        assert_eq!(out, before);
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut frame = Encoder::with_level(3, true).encode(b"hello hello hello hello");
        frame.push(0);
        assert!(matches!(
            decode(&frame),
            Err(CodecError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn recompress_never_grows_a_frame() {
        let text = corpus::text_like(200_000, 3);
        let dense = Encoder::with_level(9, true).encode(&text);
        let loose = recompress(&dense, -5).unwrap();
        assert!(loose.len() <= dense.len());
        assert_eq!(decode(&loose).unwrap(), text);

        let random = corpus::random(100_000, 4);
        let pass = Encoder::with_level(3, true).encode(&random);
        let again = recompress(&pass, 19).unwrap();
        assert_eq!(again, pass);
        assert_eq!(again.len(), random.len() + FRAME_HEADER_BYTES);
    }
}
