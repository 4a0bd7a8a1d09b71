//! The `aws-chunked` decoder against the AWS chunked PUT example (every way of splitting the
//! body into pushes), the trailer modes, and each way a body can be malformed.

use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use stratum_auth::signing::{AmzDate, Scope, SigningKey};
use stratum_auth::{
    verify_request, AuthError, ChunkVerifier, ChunkedDecoder, ChunkedLimits, MemoryCredentialStore,
    PayloadMode, SecretKey, SignedRequest, Trailers, VerifierConfig, MAX_CHUNK_HEADER_LINE,
    MAX_TRAILER_LINES,
};

mod common;

use common::*;

const DECODED_LEN: usize = 66560;

/// The chunk verifier of the AWS chunked PUT example, through the real request check.
fn example_verifier() -> ChunkVerifier {
    let store = MemoryCredentialStore::new().with_key(ACCESS_KEY, SECRET);
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,SignedHeaders={CHUNKED_PUT_SIGNED_HEADERS},Signature={SEED_SIG}"
    );
    let mut headers = CHUNKED_PUT_HEADERS.to_vec();
    headers.push(("Authorization", authorization.as_str()));
    let req = SignedRequest {
        method: "PUT",
        path: CHUNKED_PUT_PATH,
        query: "",
        headers: &headers,
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
    verify_request(&store, &VerifierConfig::new("us-east-1"), &req, now)
        .unwrap()
        .expect("signed")
        .chunk_verifier()
        .expect("signed chunks")
}

/// The example's raw body, built from its chunk signatures.
fn example_body(chunk1_sig: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!("10000;chunk-signature={chunk1_sig}\r\n").as_bytes());
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={CHUNK2_SIG}\r\n").as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(format!("\r\n0;chunk-signature={FINAL_SIG}\r\n\r\n").as_bytes());
    body
}

fn example_decoder() -> ChunkedDecoder {
    ChunkedDecoder::new(
        PayloadMode::StreamingSigned,
        Some(example_verifier()),
        ChunkedLimits::default(),
    )
    .unwrap()
}

/// Decodes `body` pushed in the pieces ending at `cuts`, then finishes.
fn decode_pieces(
    mut decoder: ChunkedDecoder,
    body: &[u8],
    cuts: &[usize],
) -> Result<(Vec<u8>, Trailers), AuthError> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&body.len())) {
        let appended = decoder.push(&body[start..end], &mut out)?;
        assert!(appended <= end - start);
        start = end;
    }
    let trailers = decoder.finish()?;
    Ok((out, trailers))
}

fn assert_example_decodes(body: &[u8], cuts: &[usize]) {
    let (out, trailers) = decode_pieces(
        example_decoder().with_decoded_content_length(DECODED_LEN as u64),
        body,
        cuts,
    )
    .unwrap_or_else(|e| panic!("cuts {cuts:?}: {e}"));
    assert_eq!(out.len(), DECODED_LEN, "cuts {cuts:?}");
    assert!(out.iter().all(|&b| b == b'a'));
    assert!(trailers.is_empty());
}

#[test]
fn aws_example_decodes_at_every_split() {
    let body = example_body(CHUNK1_SIG);
    assert_eq!(body.len(), 66824, "the example's Content-Length");
    let header1 = 88;
    let chunk2_header = header1 + 65536;
    let tail = chunk2_header + 2 + 86 + 1024;
    let mut points: Vec<usize> = (0..=header1 + 2).collect();
    points.extend(chunk2_header..=chunk2_header + 2 + 86 + 2);
    points.extend(tail..=body.len());
    points.extend([
        header1 + 1,
        header1 + 1000,
        header1 + 65535,
        chunk2_header + 500,
    ]);
    for cut in points {
        assert_example_decodes(&body, &[cut]);
    }
    // Every pair of cuts inside the final chunk's lines.
    for a in tail..body.len() {
        for b in a..=body.len() {
            assert_example_decodes(&body, &[a, b]);
        }
    }
}

#[test]
fn aws_example_decodes_in_random_pieces() {
    let body = example_body(CHUNK1_SIG);
    let mut seed: u64 = 0x5eed_1234_abcd_0001;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    for round in 0..60 {
        let max_piece = [1u64, 3, 17, 100, 4096, 70_000][round % 6];
        let mut cuts = Vec::new();
        let mut at = 0usize;
        loop {
            at += 1 + (next() % max_piece) as usize;
            if at >= body.len() {
                break;
            }
            cuts.push(at);
        }
        assert_example_decodes(&body, &cuts);
    }
    // One byte at a time.
    let cuts: Vec<usize> = (1..body.len()).collect();
    assert_example_decodes(&body, &cuts);
}

#[test]
fn tampered_signature_or_data_fails() {
    let mut sig = CHUNK1_SIG.to_owned();
    sig.replace_range(10..11, "0");
    let body = example_body(&sig);
    assert!(matches!(
        decode_pieces(example_decoder(), &body, &[]),
        Err(AuthError::SignatureDoesNotMatch)
    ));

    let mut body = example_body(CHUNK1_SIG);
    body[88 + 100] = b'b';
    assert!(matches!(
        decode_pieces(example_decoder(), &body, &[5000]),
        Err(AuthError::SignatureDoesNotMatch)
    ));

    let mut body = example_body(CHUNK1_SIG);
    let len = body.len();
    body[len - 10] = b'0';
    assert!(matches!(
        decode_pieces(example_decoder(), &body, &[]),
        Err(AuthError::SignatureDoesNotMatch)
    ));

    // After an error the decoder refuses more input.
    let mut decoder = example_decoder();
    let mut out = Vec::new();
    assert!(decoder.push(&example_body(&sig), &mut out).is_err());
    assert!(decoder.push(b"x", &mut out).is_err());
    assert!(decoder.finish().is_err());
}

#[test]
fn truncated_body_is_incomplete_at_finish() {
    let body = example_body(CHUNK1_SIG);
    for cut in [
        0,
        1,
        50,
        88,
        1000,
        65626,
        66737,
        body.len() - 2,
        body.len() - 1,
    ] {
        let mut decoder = example_decoder();
        let mut out = Vec::new();
        decoder.push(&body[..cut], &mut out).unwrap();
        assert!(!decoder.is_done());
        assert!(
            matches!(decoder.finish(), Err(AuthError::IncompleteBody)),
            "cut {cut}"
        );
    }
}

#[test]
fn data_after_the_final_chunk_is_malformed() {
    let mut body = example_body(CHUNK1_SIG);
    body.extend_from_slice(b"0;");
    assert!(matches!(
        decode_pieces(example_decoder(), &body, &[]),
        Err(AuthError::MalformedChunkedBody { .. })
    ));
}

#[test]
fn declared_length_mismatch_is_typed() {
    let body = example_body(CHUNK1_SIG);
    assert!(matches!(
        decode_pieces(
            example_decoder().with_decoded_content_length(66561),
            &body,
            &[]
        ),
        Err(AuthError::DecodedContentLengthMismatch {
            declared: 66561,
            decoded: 66560
        })
    ));
    assert!(matches!(
        decode_pieces(
            example_decoder().with_decoded_content_length(1000),
            &body,
            &[]
        ),
        Err(AuthError::DecodedContentLengthMismatch { declared: 1000, .. })
    ));
}

fn malformed(mode: PayloadMode, body: &[u8]) -> bool {
    let verifier = match mode {
        PayloadMode::StreamingUnsignedTrailer => None,
        _ => Some(example_verifier()),
    };
    let decoder = ChunkedDecoder::new(mode, verifier, ChunkedLimits::default()).unwrap();
    matches!(
        decode_pieces(decoder, body, &[]),
        Err(AuthError::MalformedChunkedBody { .. })
    )
}

#[test]
fn malformed_headers_are_rejected() {
    let signed = PayloadMode::StreamingSigned;
    let unsigned = PayloadMode::StreamingUnsignedTrailer;
    let sig = CHUNK1_SIG;
    for body in [
        format!("1g;chunk-signature={sig}\r\n"),
        format!(";chunk-signature={sig}\r\n"),
        format!("10000;chunk-signature={sig}\n"),
        format!("10000;chunk-signature={sig}\rx"),
        "10000\r\n".to_owned(),
        "10000;chunk-signature=abc\r\n".to_owned(),
        format!("10000;chunk-signature={}\r\n", sig.to_uppercase()),
        format!("10000;chunk-signature={sig}0\r\n"),
        format!("10000;chunk-sig={sig}\r\n"),
        format!("1ffffffffffffffff;chunk-signature={sig}\r\n"),
        format!("140000001;chunk-signature={sig}\r\n"),
    ] {
        assert!(malformed(signed, body.as_bytes()), "{body:?}");
    }
    for body in [
        "zz\r\n",
        "3;ext=1\r\nabc\r\n0\r\n\r\n",
        "3\r\nabcX\r\n",
        "3\r\nabc\r\n0\r\nno-colon\r\n\r\n",
        "3\r\nabc\r\n0\r\nbad name:x\r\n\r\n",
        "3\r\nabc\r\n0\r\n\r\nmore",
        "3\r\nabc\r\n0\r\nx-amz-trailer-signature:abc\r\n\r\n",
    ] {
        assert!(malformed(unsigned, body.as_bytes()), "{body:?}");
    }
    // Modes and verifiers must agree.
    assert!(
        ChunkedDecoder::new(PayloadMode::StreamingSigned, None, ChunkedLimits::default()).is_err()
    );
    assert!(ChunkedDecoder::new(PayloadMode::Unsigned, None, ChunkedLimits::default()).is_err());
}

#[test]
fn oversized_header_line_is_rejected() {
    let mut decoder = ChunkedDecoder::new(
        PayloadMode::StreamingUnsignedTrailer,
        None,
        ChunkedLimits::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    // Leading zeros keep it valid hex: only the length is wrong.
    let line = vec![b'0'; MAX_CHUNK_HEADER_LINE + 1];
    assert!(matches!(
        decoder.push(&line, &mut out),
        Err(AuthError::MalformedChunkedBody { .. })
    ));
    // Exactly at the limit is accepted.
    let mut decoder = ChunkedDecoder::new(
        PayloadMode::StreamingUnsignedTrailer,
        None,
        ChunkedLimits::default(),
    )
    .unwrap();
    let mut body = vec![b'0'; MAX_CHUNK_HEADER_LINE - 1];
    body.extend_from_slice(b"3\r\nabc\r\n0\r\n\r\n");
    for byte in &body {
        decoder.push(std::slice::from_ref(byte), &mut out).unwrap();
    }
    assert!(decoder.finish().unwrap().is_empty());
    assert_eq!(out, b"abc");
}

#[test]
fn unsigned_trailer_body_yields_its_checksum() {
    let body = b"3\r\nabc\r\n5\r\nde\r\nf\r\n0\r\nX-Amz-Checksum-CRC32: NSRBwg== \r\n\r\n";
    for cut in 0..=body.len() {
        let decoder = ChunkedDecoder::new(
            PayloadMode::StreamingUnsignedTrailer,
            None,
            ChunkedLimits::default(),
        )
        .unwrap()
        .with_decoded_content_length(8);
        let (out, trailers) = decode_pieces(decoder, body, &[cut]).unwrap();
        assert_eq!(out, b"abcde\r\nf");
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("NSRBwg=="));
        assert_eq!(
            trailers.iter().collect::<Vec<_>>(),
            vec![("x-amz-checksum-crc32", "NSRBwg==")]
        );
    }
}

#[test]
fn too_many_trailer_lines_are_rejected() {
    let mut body = String::from("0\r\n");
    for i in 0..=MAX_TRAILER_LINES {
        body.push_str(&format!("x-t{i}:v\r\n"));
    }
    body.push_str("\r\n");
    assert!(malformed(
        PayloadMode::StreamingUnsignedTrailer,
        body.as_bytes()
    ));
    let long = format!("0\r\nx:{}\r\n\r\n", "v".repeat(20_000));
    assert!(malformed(
        PayloadMode::StreamingUnsignedTrailer,
        long.as_bytes()
    ));
}

/// A chain for the signed-trailer tests, and a copy used to sign.
fn trailer_chain() -> (ChunkVerifier, SigningKey) {
    let scope = Scope {
        date: "20130524".into(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let key = SigningKey::derive(&SecretKey::new(SECRET), &scope);
    let chain = ChunkVerifier::new(
        key.clone(),
        AmzDate::parse("20130524T000000Z").unwrap(),
        &scope,
        SEED_SIG,
    );
    (chain, key)
}

/// A signed-trailer body carrying `data` in one chunk and the given trailer.
fn signed_trailer_body(data: &[u8], trailer: (&str, &str), tamper_trailer: bool) -> Vec<u8> {
    let (mut signer, key) = trailer_chain();
    let digest: [u8; 32] = Sha256::digest(data).into();
    let sig = key.sign(&signer.chunk_string_to_sign(&digest));
    signer.verify_chunk_digest(&sig, &digest).unwrap();
    let empty: [u8; 32] = Sha256::digest(b"").into();
    let final_sig = key.sign(&signer.chunk_string_to_sign(&empty));
    signer.verify_final_chunk(&final_sig).unwrap();
    let trailer_sig = key.sign(&signer.trailer_string_to_sign(&[trailer]));
    let value = if tamper_trailer {
        "AAAAAA=="
    } else {
        trailer.1
    };
    let mut body = format!("{:x};chunk-signature={sig}\r\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(
        format!(
            "\r\n0;chunk-signature={final_sig}\r\n{}:{value}\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n",
            trailer.0
        )
        .as_bytes(),
    );
    body
}

fn signed_trailer_decoder() -> ChunkedDecoder {
    ChunkedDecoder::new(
        PayloadMode::StreamingSignedTrailer,
        Some(trailer_chain().0),
        ChunkedLimits::default(),
    )
    .unwrap()
}

#[test]
fn signed_trailer_body_verifies_its_trailer() {
    let trailer = ("x-amz-checksum-crc32", "NSRBwg==");
    let body = signed_trailer_body(b"hello world", trailer, false);
    for cut in 0..=body.len() {
        let (out, trailers) = decode_pieces(signed_trailer_decoder(), &body, &[cut]).unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(trailers.get("X-Amz-Checksum-Crc32"), Some("NSRBwg=="));
        assert_eq!(trailers.len(), 1);
    }
    let tampered = signed_trailer_body(b"hello world", trailer, true);
    assert!(matches!(
        decode_pieces(signed_trailer_decoder(), &tampered, &[]),
        Err(AuthError::SignatureDoesNotMatch)
    ));
    // Without its trailer signature the signed-trailer body is malformed.
    let text = String::from_utf8(body).unwrap();
    let cut = text.find("x-amz-trailer-signature").unwrap();
    let unsigned = format!("{}\r\n", &text[..cut]);
    assert!(matches!(
        decode_pieces(signed_trailer_decoder(), unsigned.as_bytes(), &[]),
        Err(AuthError::MalformedChunkedBody { .. })
    ));
}
