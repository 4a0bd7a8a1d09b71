//! Encoding: choosing a codec for a frame (sampling) and writing the frame.
//!
//! The rule that matters here: a frame's stored bytes are never longer than its original
//! bytes. zstd output is written straight after the header into a buffer sized for the
//! passthrough case (`header + original`); if zstd cannot fit strictly inside that, the
//! data did not shrink and the frame is written passthrough instead — one allocation
//! either way, and no compression bound's worth of slack memory held per frame.

use crate::context;
use crate::frame::{CodecId, FrameHeader, FRAME_HEADER_BYTES};
use std::io::Cursor;
use stratum_core::config::CodecConfig;

/// Slices the sampler compresses, one at the centre of each equal part of the input
/// (stratified sampling): the estimate weighs every region of the input alike, and a small
/// compressible preamble (a file header, a text prologue) cannot speak for the body.
const SAMPLE_SLICES: usize = 3;
/// Largest sampled slice. Three of them are 12 KiB, about 1% of a 1 MiB frame.
const SAMPLE_SLICE_BYTES_MAX: usize = 4096;
/// Smallest sampled slice worth trusting: zstd on fewer bytes underrates text, and a wrong
/// "incompressible" costs disk space while a wrong "compressible" costs only CPU.
const SAMPLE_SLICE_BYTES_MIN: usize = 1024;
/// The sample budget is at most 1/16 of the input, so sampling stays a small fraction of
/// compressing. Inputs too small for [`SAMPLE_SLICES`] slices of [`SAMPLE_SLICE_BYTES_MIN`]
/// within this budget (under 48 KiB) are not sampled: encoding just tries zstd.
const SAMPLE_BUDGET_DIVISOR: usize = 16;
/// Data is worth compressing when the samples compress to under 9/10 of their size: less
/// than a 10% saving is not worth the decode CPU on every read.
const SAMPLE_RATIO_NUMERATOR: usize = 9;
const SAMPLE_RATIO_DENOMINATOR: usize = 10;

/// Encodes original bytes into S4F2 frames at one zstd level.
#[derive(Debug, Clone)]
pub struct Encoder {
    level: i32,
    sample_passthrough: bool,
}

impl Encoder {
    /// An encoder following the codec configuration (its level and sampling switch).
    pub fn new(config: &CodecConfig) -> Self {
        Self::with_level(config.zstd_level, config.sample_passthrough)
    }

    /// An encoder at zstd `level` (negative levels are zstd's fast levels; 0 means zstd's
    /// default, 3; out-of-range levels are clamped to zstd's range). With
    /// `sample_passthrough`, data that [`worth_compressing`] rejects is stored passthrough
    /// without compressing it.
    pub fn with_level(level: i32, sample_passthrough: bool) -> Self {
        let range = zstd::compression_level_range();
        Self {
            level: level.clamp(*range.start(), *range.end()),
            sample_passthrough,
        }
    }

    /// The zstd level this encoder compresses at (after clamping).
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Whether this encoder samples data before compressing it.
    pub fn sample_passthrough(&self) -> bool {
        self.sample_passthrough
    }

    /// Encodes `original` as one complete frame: header + stored bytes. The frame is zstd
    /// when that is strictly shorter than `original`, passthrough otherwise, so it is never
    /// longer than `original.len() + FRAME_HEADER_BYTES`.
    ///
    /// # Panics
    ///
    /// If `original` is longer than `u32::MAX` bytes (a frame's length field is 32 bits;
    /// [`crate::FrameCutter`] never produces such a frame).
    pub fn encode(&self, original: &[u8]) -> Vec<u8> {
        self.encode_with_crc(original, crc32c::crc32c(original))
    }

    /// [`Encoder::encode`] for a caller that already holds the CRC32C of `original`.
    pub(crate) fn encode_with_crc(&self, original: &[u8], crc32c: u32) -> Vec<u8> {
        let original_bytes = u32::try_from(original.len())
            .expect("a frame's original bytes must fit the header's u32 length");
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + original.len());
        frame.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);

        let try_zstd =
            !original.is_empty() && (!self.sample_passthrough || worth_compressing(original));
        let compressed = try_zstd && compress_after_header(self.level, original, &mut frame);
        let codec = if compressed {
            CodecId::Zstd
        } else {
            frame.truncate(FRAME_HEADER_BYTES);
            frame.extend_from_slice(original);
            CodecId::Passthrough
        };
        let header = FrameHeader {
            codec,
            original_bytes,
            // Cannot truncate: stored bytes are at most the original bytes, checked above.
            stored_bytes: (frame.len() - FRAME_HEADER_BYTES) as u32,
            crc32c,
        };
        frame[..FRAME_HEADER_BYTES].copy_from_slice(&header.to_bytes());
        frame
    }
}

/// Compresses `original` into `frame` after its header. True when the result is strictly
/// shorter than `original`; false (frame contents then unspecified after the header) when
/// it is not, including when zstd fails, which for a valid level only happens when the
/// output does not fit — i.e. the data did not shrink — or memory runs out. Passthrough is
/// a correct encoding in every one of those cases, so no error escapes.
fn compress_after_header(level: i32, original: &[u8], frame: &mut Vec<u8>) -> bool {
    debug_assert_eq!(frame.len(), FRAME_HEADER_BYTES);
    let mut cursor = Cursor::new(frame);
    cursor.set_position(FRAME_HEADER_BYTES as u64);
    match context::with_compressor(level, |c| c.compress_to_buffer(original, &mut cursor)) {
        Ok(stored) => stored < original.len(),
        Err(_) => false,
    }
}

/// The cheap sampling heuristic: false when `data` will not shrink meaningfully (random
/// bytes, JPEG, ZIP, MP4, already-compressed frames).
///
/// It compresses three slices taken from the centres of the thirds of `data` (each at most
/// 4 KiB, together at most 1/16 of `data`) at zstd level 1 and answers true when they shrink below 90%. Inputs under
/// 48 KiB are too small to sample cheaply and get `true`: the encoder then decides by
/// trying, and falls back to passthrough if zstd does not shrink them.
pub fn worth_compressing(data: &[u8]) -> bool {
    let slice_bytes =
        (data.len() / SAMPLE_BUDGET_DIVISOR / SAMPLE_SLICES).min(SAMPLE_SLICE_BYTES_MAX);
    if slice_bytes < SAMPLE_SLICE_BYTES_MIN {
        return true;
    }
    let part_bytes = data.len() / SAMPLE_SLICES;
    let mut scratch = Vec::with_capacity(slice_bytes);
    let mut sampled = 0usize;
    let mut compressed = 0usize;
    for i in 0..SAMPLE_SLICES {
        let start = part_bytes * i + (part_bytes - slice_bytes) / 2;
        let slice = &data[start..start + slice_bytes];
        // The scratch buffer holds at most `slice_bytes`: output that does not fit did not
        // shrink, and counts as the whole slice.
        let out = context::with_sampler(|c| c.compress_to_buffer(slice, &mut scratch))
            .unwrap_or(slice_bytes);
        sampled += slice_bytes;
        compressed += out.min(slice_bytes);
    }
    compressed * SAMPLE_RATIO_DENOMINATOR < sampled * SAMPLE_RATIO_NUMERATOR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus;

    #[test]
    fn levels_are_clamped_to_zstd_range() {
        let max = *zstd::compression_level_range().end();
        assert_eq!(Encoder::with_level(1000, true).level(), max);
        assert_eq!(Encoder::with_level(-5, true).level(), -5);
        assert_eq!(Encoder::new(&CodecConfig::default()).level(), 1);
    }

    #[test]
    fn sampling_rejects_random_and_accepts_text() {
        assert!(!worth_compressing(&corpus::random(1 << 20, 1)));
        assert!(worth_compressing(&corpus::text_like(1 << 20, 1)));
        assert!(worth_compressing(&corpus::text_like(48 << 10, 2)));
        assert!(worth_compressing(&[0u8; 100 << 10]));
    }

    #[test]
    fn small_inputs_are_decided_by_trying() {
        assert!(worth_compressing(&corpus::random(1000, 3)));
        assert!(worth_compressing(&[]));
    }

    #[test]
    fn mixed_file_with_incompressible_body_is_rejected() {
        // A compressible preamble must not carry an incompressible body.
        let mut data = corpus::text_like(4 << 10, 4);
        data.extend(corpus::random(1 << 20, 5));
        assert!(!worth_compressing(&data));
    }

    #[test]
    fn tiny_inputs_fall_back_to_passthrough() {
        let frame = Encoder::with_level(3, true).encode(b"abc");
        assert_eq!(frame.len(), FRAME_HEADER_BYTES + 3);
        assert_eq!(frame[5], CodecId::Passthrough as u8);
    }
}
