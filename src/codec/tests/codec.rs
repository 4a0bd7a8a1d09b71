//! Integration tests of the public codec API: round trips, codec choice, the size bound,
//! corruption detection, recompression, standard zstd frames, and frame cutting under a
//! shrunken policy so every boundary is crossed.

use proptest::prelude::*;
use stratum_codec::corpus;
use stratum_codec::{
    decode, decode_into, read_header, recompress, worth_compressing, CodecError, CodecId, Encoder,
    FrameCutter, FrameHeader, FRAME_HEADER_BYTES,
};
use stratum_core::config::{CodecConfig, FramePolicy};

/// 1 KiB frames to 8 KiB, 4 KiB frames to 64 KiB, 16 KiB beyond: the default policy's
/// shape, a thousand times smaller.
fn shrunk_policy() -> FramePolicy {
    FramePolicy {
        small_frame_bytes: 1 << 10,
        medium_frame_bytes: 4 << 10,
        large_frame_bytes: 16 << 10,
        medium_from_bytes: 8 << 10,
        large_from_bytes: 64 << 10,
    }
}

/// Checks everything a frame of `original` must satisfy, and returns its header.
fn check_frame(encoder: &Encoder, original: &[u8]) -> FrameHeader {
    let frame = encoder.encode(original);
    let header = read_header(&frame).expect("fresh frame has a valid header");
    assert_eq!(header.original_bytes as usize, original.len());
    assert_eq!(header.frame_bytes(), frame.len());
    assert!(
        header.stored_bytes as usize <= original.len(),
        "stored grew"
    );
    assert!(frame.len() <= original.len() + FRAME_HEADER_BYTES);
    assert_eq!(decode(&frame).expect("fresh frame decodes"), original);
    if header.codec == CodecId::Zstd {
        assert!((header.stored_bytes as usize) < original.len());
        let plain = zstd::decode_all(&frame[FRAME_HEADER_BYTES..]).expect("standard zstd frame");
        assert_eq!(plain, original);
    }
    header
}

fn text_or_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4096),
        (0usize..70_000, any::<u64>()).prop_map(|(len, seed)| corpus::text_like(len, seed)),
        (0usize..70_000, any::<u64>()).prop_map(|(len, seed)| corpus::random(len, seed)),
        // Low-entropy bytes: few distinct values, long runs.
        proptest::collection::vec(0u8..3, 0..20_000),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_input_round_trips(data in text_or_bytes(), level in -7i32..=9, sample in any::<bool>()) {
        check_frame(&Encoder::with_level(level, sample), &data);
    }

    #[test]
    fn any_bit_flip_is_an_error_or_the_original(
        data in text_or_bytes(), bit in any::<prop::sample::Index>(),
    ) {
        let mut frame = Encoder::with_level(3, true).encode(&data);
        let bit = bit.index(frame.len() * 8);
        frame[bit / 8] ^= 1 << (bit % 8);
        // CRC32C catches every single-bit error in the original bytes, so a flip can at most
        // land on a bit zstd ignores; wrong bytes must never come back.
        if let Ok(out) = decode(&frame) {
            prop_assert_eq!(out, data);
        }
    }

    #[test]
    fn cutting_is_independent_of_chunking(
        len in 0usize..150_000, seed in any::<u64>(),
        chunks in proptest::collection::vec(1usize..40_000, 1..64),
    ) {
        let body = corpus::random(len, seed);
        let policy = shrunk_policy();
        // The boundaries the policy prescribes, computed independently of the cutter.
        let mut expected = Vec::new();
        let mut at = 0u64;
        while (at as usize) < len {
            let end = (at + u64::from(policy.frame_bytes_at(at))).min(len as u64);
            expected.push(at as usize..end as usize);
            at = end;
        }

        let mut cutter = FrameCutter::new(policy.clone());
        let mut frames = Vec::new();
        let mut rest = &body[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = chunks[i % chunks.len()].min(rest.len());
            frames.extend(cutter.push(&rest[..n]));
            prop_assert!(cutter.buffered() < 16 << 10, "more than one frame buffered");
            rest = &rest[n..];
            i += 1;
        }
        prop_assert_eq!(cutter.bytes_in(), len as u64);
        frames.extend(cutter.finish());
        prop_assert_eq!(frames.len(), expected.len());
        for (frame, range) in frames.iter().zip(&expected) {
            prop_assert_eq!(&frame[..], &body[range.clone()]);
        }
    }
}

#[test]
fn sizes_around_boundaries_round_trip() {
    let encoder = Encoder::new(&CodecConfig::default());
    for len in [
        0,
        1,
        2,
        23,
        24,
        25,
        255,
        256,
        257,
        4095,
        4096,
        4097,
        (48 << 10) - 1,
        48 << 10,
        (48 << 10) + 1,
        (1 << 20) - 1,
        1 << 20,
        (1 << 20) + 1,
    ] {
        check_frame(&encoder, &corpus::text_like(len, len as u64));
        check_frame(&encoder, &corpus::random(len, len as u64));
        check_frame(&encoder, &vec![b'a'; len]);
    }
}

#[test]
fn empty_input_is_a_bare_passthrough_header() {
    let frame = Encoder::with_level(3, true).encode(&[]);
    assert_eq!(frame.len(), FRAME_HEADER_BYTES);
    let header = read_header(&frame).unwrap();
    assert_eq!(header.codec, CodecId::Passthrough);
    assert_eq!(header.crc32c, 0);
    assert!(decode(&frame).unwrap().is_empty());
}

#[test]
fn random_is_passthrough_and_text_is_zstd() {
    for sample in [true, false] {
        let encoder = Encoder::with_level(3, sample);
        let random = corpus::random(1 << 20, 11);
        assert_eq!(check_frame(&encoder, &random).codec, CodecId::Passthrough);
        let text = corpus::text_like(1 << 20, 11);
        assert_eq!(check_frame(&encoder, &text).codec, CodecId::Zstd);
    }
    assert!(!worth_compressing(&corpus::random(1 << 20, 12)));
    assert!(worth_compressing(&corpus::text_like(1 << 20, 12)));
}

#[test]
fn text_corpus_compresses_like_logs_and_json() {
    for seed in 0..4 {
        let text = corpus::text_like(1 << 20, seed);
        let frame = Encoder::with_level(3, true).encode(&text);
        let ratio = text.len() as f64 / (frame.len() - FRAME_HEADER_BYTES) as f64;
        println!("seed {seed}: zstd-3 ratio {ratio:.2}");
        assert!(
            (4.0..=6.0).contains(&ratio),
            "seed {seed}: zstd-3 ratio {ratio:.2}"
        );
    }
}

#[test]
fn every_truncation_is_detected() {
    for data in [corpus::text_like(3000, 1), corpus::random(300, 2)] {
        let frame = Encoder::with_level(3, true).encode(&data);
        for len in 0..frame.len() {
            let err = decode(&frame[..len]).unwrap_err();
            assert!(
                matches!(err, CodecError::Truncated { .. }),
                "cut at {len}: {err:?}"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_in_a_small_frame_is_detected_or_harmless() {
    for data in [corpus::text_like(2000, 3), corpus::random(500, 4)] {
        let frame = Encoder::with_level(3, true).encode(&data);
        for bit in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut out = b"keep".to_vec();
            match decode_into(&bad, &mut out) {
                Ok(()) => assert_eq!(&out[4..], &data[..], "bit {bit} returned wrong bytes"),
                Err(_) => assert_eq!(out, b"keep", "bit {bit} left partial output"),
            }
            if bit < FRAME_HEADER_BYTES * 8 {
                assert!(
                    decode(&bad).is_err(),
                    "header bit {bit} flip went unnoticed"
                );
            }
        }
    }
}

/// A header that is internally consistent (valid header checksum) but lies about the body,
/// as a buggy writer might produce: decoding must still refuse.
#[test]
fn resealed_lying_headers_are_refused() {
    let data = corpus::text_like(10_000, 5);
    let frame = Encoder::with_level(3, true).encode(&data);
    let header = read_header(&frame).unwrap();
    let body = &frame[FRAME_HEADER_BYTES..];
    let lie = |h: FrameHeader| [&h.to_bytes()[..], body].concat();

    let wrong_crc = lie(FrameHeader {
        crc32c: header.crc32c ^ 1,
        ..header
    });
    assert!(matches!(
        decode(&wrong_crc),
        Err(CodecError::ChecksumMismatch { .. })
    ));
    let too_long = lie(FrameHeader {
        original_bytes: header.original_bytes + 1,
        ..header
    });
    assert!(decode(&too_long).is_err());
    let too_short = lie(FrameHeader {
        original_bytes: header.original_bytes - 1,
        ..header
    });
    assert!(decode(&too_short).is_err());
    let as_passthrough = lie(FrameHeader {
        codec: CodecId::Passthrough,
        original_bytes: header.stored_bytes,
        ..header
    });
    assert!(matches!(
        decode(&as_passthrough),
        Err(CodecError::ChecksumMismatch { .. })
    ));
}

#[test]
fn recompress_round_trips_across_levels() {
    let text = corpus::text_like(300_000, 9);
    let fast = Encoder::with_level(-3, true).encode(&text);
    let dense = recompress(&fast, 12).unwrap();
    assert_eq!(read_header(&dense).unwrap().codec, CodecId::Zstd);
    assert!(dense.len() < fast.len(), "level 12 should beat level -3");
    assert_eq!(decode(&dense).unwrap(), text);
    assert_eq!(
        zstd::decode_all(&dense[FRAME_HEADER_BYTES..]).unwrap(),
        text
    );

    // A passthrough frame of compressible bytes (as a writer with sampling on may leave when
    // a frame's sampled slices happened to be incompressible) becomes zstd when recompressed.
    let raw = FrameHeader {
        codec: CodecId::Passthrough,
        original_bytes: text.len() as u32,
        stored_bytes: text.len() as u32,
        crc32c: crc32c::crc32c(&text),
    };
    let pass = [&raw.to_bytes()[..], &text[..]].concat();
    let packed = recompress(&pass, 6).unwrap();
    assert_eq!(read_header(&packed).unwrap().codec, CodecId::Zstd);
    assert_eq!(decode(&packed).unwrap(), text);

    let empty = Encoder::with_level(3, true).encode(&[]);
    assert_eq!(recompress(&empty, 19).unwrap(), empty);

    let random = corpus::random(200_000, 10);
    let frame = Encoder::with_level(3, false).encode(&random);
    let again = recompress(&frame, 19).unwrap();
    assert_eq!(read_header(&again).unwrap().codec, CodecId::Passthrough);
    assert_eq!(decode(&again).unwrap(), random);

    let mut corrupt = fast.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x10;
    assert!(recompress(&corrupt, 12).is_err());
}

#[test]
fn cut_encode_decode_reassembles_the_body() {
    let body = corpus::text_like(100_000, 13);
    let mut cutter = FrameCutter::new(shrunk_policy());
    let encoder = Encoder::with_level(1, true);
    let mut frames: Vec<Vec<u8>> = body
        .chunks(3_333)
        .flat_map(|chunk| cutter.push(chunk))
        .map(|f| encoder.encode(&f))
        .collect();
    frames.extend(cutter.finish().map(|f| encoder.encode(&f)));
    let mut out = Vec::new();
    for frame in &frames {
        decode_into(frame, &mut out).unwrap();
    }
    assert_eq!(out, body);
    // 8 × 1 KiB + 14 × 4 KiB reach 64 KiB; then 16 KiB frames: 2 full and a 3,392-byte tail.
    assert_eq!(frames.len(), 8 + 14 + 3);
}
