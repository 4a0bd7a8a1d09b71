//! Integration tests of the public codec API: round trips, codec choice, the size bound,
//! corruption detection, recompression (one frame and in batches), standard zstd frames, and
//! frame cutting under a shrunken policy so every boundary is crossed.

use proptest::prelude::*;
use stratum_codec::corpus;
use stratum_codec::{
    decode, decode_into, read_header, recompress, worth_compressing, Backend, BatchConfig,
    BatchRecompressor, CodecError, CodecId, Encoder, FrameCutter, FrameHeader, GpuMode,
    FRAME_HEADER_BYTES,
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

/// A passthrough frame of `data` whatever it holds: what an encoder with a fast level and no
/// luck (or an older writer) leaves for recompression to find.
fn passthrough_frame(data: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        codec: CodecId::Passthrough,
        original_bytes: data.len() as u32,
        stored_bytes: data.len() as u32,
        crc32c: crc32c::crc32c(data),
    };
    let mut frame = header.to_bytes().to_vec();
    frame.extend_from_slice(data);
    frame
}

/// Originals and their frames for the batch tests: zstd text at a fast level, passthrough
/// text (which recompression must compress), random passthrough, empty, and sizes on both
/// sides of the sampler's 48 KiB threshold. Small enough for level 19 in a debug test.
fn batch_corpus() -> Vec<(Vec<u8>, Vec<u8>)> {
    let fast = Encoder::with_level(1, true);
    let mut out = Vec::new();
    for (i, len) in [0usize, 1, 100, 5_000, 40_000, 70_000]
        .into_iter()
        .enumerate()
    {
        let seed = i as u64;
        let text = corpus::text_like(len, seed);
        out.push((text.clone(), fast.encode(&text)));
        out.push((text.clone(), passthrough_frame(&text)));
        let random = corpus::random(len, seed);
        out.push((random.clone(), fast.encode(&random)));
    }
    out
}

/// Everything a batch must satisfy, for any backend; returns the outputs.
fn check_batch(recompressor: &BatchRecompressor) -> Vec<Vec<u8>> {
    let corpus = batch_corpus();
    let frames: Vec<&[u8]> = corpus.iter().map(|(_, f)| &f[..]).collect();
    let (results, stats) = recompressor.recompress_batch_stats(&frames);
    assert_eq!(results.len(), frames.len());
    let mut outputs = Vec::new();
    for ((original, frame), result) in corpus.iter().zip(results) {
        let out = result.expect("a sound frame recompresses");
        assert_eq!(&decode(&out).expect("output decodes"), original);
        assert!(out.len() <= frame.len(), "recompression grew a frame");
        let single = recompress(frame, recompressor.level()).unwrap();
        if recompressor.backend() == Backend::Cpu {
            assert_eq!(out, single, "the CPU batch differs from recompress");
        } else {
            // nvCOMP has no levels: only the guarantees are the same.
            assert!(out.len() <= frame.len());
        }
        outputs.push(out);
    }
    assert_eq!(stats.frames, frames.len());
    assert_eq!(stats.errors, 0);
    assert_eq!(
        stats.bytes_in,
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(
        stats.bytes_out,
        outputs.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(
        stats.original_bytes,
        corpus.iter().map(|(o, _)| o.len() as u64).sum::<u64>()
    );
    assert!(
        stats.bytes_out < stats.bytes_in,
        "passthrough text must shrink"
    );
    if recompressor.backend() == Backend::Cpu {
        assert_eq!((stats.gpu_frames, stats.cpu_fallback_frames), (0, 0));
    }
    outputs
}

fn batch_config(threads: usize, gpu: GpuMode) -> BatchConfig {
    BatchConfig {
        level: 19,
        threads,
        gpu,
        nvcomp_path: None,
    }
}

#[test]
fn batch_recompression_matches_single_frames_for_any_thread_count() {
    let one = check_batch(&BatchRecompressor::new(batch_config(1, GpuMode::Off)));
    let four = check_batch(&BatchRecompressor::new(batch_config(4, GpuMode::Off)));
    assert_eq!(one, four, "thread count changed the bytes");
    let cores = BatchRecompressor::new(batch_config(0, GpuMode::Off));
    assert!(cores.threads() >= 1);
    assert_eq!(check_batch(&cores), one);
}

#[test]
fn a_corrupt_frame_errors_only_its_own_entry() {
    let corpus = batch_corpus();
    let mut frames: Vec<Vec<u8>> = corpus.iter().map(|(_, f)| f.clone()).collect();
    let bad = 9;
    let last = frames[bad].len() - 1;
    frames[bad][last] ^= 0x01;
    frames.push(b"not a frame, though long enough for a header".to_vec());
    let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
    for gpu in [GpuMode::Off, GpuMode::Auto] {
        let recompressor = BatchRecompressor::new(batch_config(3, gpu));
        let (results, stats) = recompressor.recompress_batch_stats(&refs);
        assert_eq!(stats.errors, 2);
        for (i, result) in results.iter().enumerate() {
            match i {
                i if i == bad => assert!(matches!(
                    result,
                    Err(CodecError::ChecksumMismatch { .. }) | Err(CodecError::Zstd(_))
                )),
                i if i == frames.len() - 1 => {
                    assert!(matches!(result, Err(CodecError::BadMagic { .. })))
                }
                i => assert_eq!(
                    &decode(result.as_ref().expect("sound frame")).unwrap(),
                    &corpus[i].0
                ),
            }
        }
    }
}

#[test]
fn an_empty_batch_is_empty() {
    let recompressor = BatchRecompressor::new(batch_config(4, GpuMode::Auto));
    let (results, stats) = recompressor.recompress_batch_stats(&[]);
    assert!(results.is_empty());
    assert_eq!(stats.frames, 0);
}

#[cfg(not(feature = "gpu"))]
#[test]
fn gpu_auto_without_the_feature_says_so() {
    let r = BatchRecompressor::new(batch_config(2, GpuMode::Auto));
    assert_eq!(r.backend(), Backend::Cpu);
    assert!(r
        .gpu_unavailable_reason()
        .unwrap()
        .contains("`gpu` feature"));
    assert_eq!(r.gpu_description(), None);
    check_batch(&r);
}

/// On a machine without a GPU (CI) `Auto` must fall back with a reason and behave exactly
/// like the CPU backend; on one with a GPU and nvCOMP 5 it must use it and keep every
/// guarantee.
#[cfg(feature = "gpu")]
#[test]
fn gpu_auto_uses_the_gpu_or_falls_back_with_a_reason() {
    let r = BatchRecompressor::new(batch_config(2, GpuMode::Auto));
    match r.backend() {
        Backend::Cpu => {
            let reason = r.gpu_unavailable_reason().expect("a reason for no GPU");
            println!("GPU unavailable: {reason}");
            assert!(!reason.is_empty());
            let cpu = check_batch(&BatchRecompressor::new(batch_config(2, GpuMode::Off)));
            assert_eq!(check_batch(&r), cpu);
        }
        Backend::Gpu => {
            println!("GPU: {}", r.gpu_description().unwrap());
            assert_eq!(r.gpu_unavailable_reason(), None);
            check_batch(&r);
            let corpus = batch_corpus();
            let frames: Vec<&[u8]> = corpus.iter().map(|(_, f)| &f[..]).collect();
            let (_, stats) = r.recompress_batch_stats(&frames);
            assert_eq!(stats.fallback_reason, None);
            assert!(stats.gpu_frames > 0);
        }
    }
    // A configured nvCOMP path that does not exist never makes a GPU backend.
    let missing = BatchRecompressor::new(BatchConfig {
        nvcomp_path: Some("/nonexistent/libnvcomp.so.5".into()),
        ..batch_config(2, GpuMode::Auto)
    });
    assert_eq!(missing.backend(), Backend::Cpu);
    assert!(missing.gpu_unavailable_reason().is_some());
}
