//! Object operations through the API: PUT/GET/HEAD/DELETE/COPY, ranges, part numbers,
//! conditionals, header round trips, digests and `aws-chunked` trailers.

use base64::Engine as _;

use crate::common::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn crc32(data: &[u8]) -> String {
    b64(&crc32fast::hash(data).to_be_bytes())
}

#[tokio::test]
async fn put_get_head_delete_round_trip_with_headers() {
    let h = Harness::new().await;
    h.create_bucket("objs").await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let put = h
        .call_with(
            "PUT",
            "/objs/dir/a%20b.bin",
            &[
                ("content-type", "application/x-test"),
                ("cache-control", "max-age=60"),
                ("content-disposition", "attachment"),
                ("x-amz-meta-colour", "blue"),
                ("content-md5", &content_md5(&data)),
            ],
            &data,
        )
        .await
        .ok();
    let etag = format!("\"{}\"", md5_hex(&data));
    assert_eq!(put.header("etag"), Some(etag.as_str()));

    let get = h.call("GET", "/objs/dir/a%20b.bin", b"").await.ok();
    assert_eq!(get.body.as_ref(), &data[..]);
    assert_eq!(get.header("etag"), Some(etag.as_str()));
    assert_eq!(get.header("content-type"), Some("application/x-test"));
    assert_eq!(get.header("cache-control"), Some("max-age=60"));
    assert_eq!(get.header("content-disposition"), Some("attachment"));
    assert_eq!(get.header("x-amz-meta-colour"), Some("blue"));
    assert_eq!(get.header("x-amz-storage-class"), Some("STANDARD"));
    assert_eq!(get.header("content-length"), Some("100000"));
    assert!(get.header("last-modified").unwrap().ends_with("GMT"));

    let head = h.call("HEAD", "/objs/dir/a%20b.bin", b"").await.ok();
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("100000"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));

    // Overrides apply to the response only.
    let over = h
        .call(
            "GET",
            "/objs/dir/a%20b.bin?response-content-type=text%2Fplain&response-cache-control=no-cache",
            b"",
        )
        .await
        .ok();
    assert_eq!(over.header("content-type"), Some("text/plain"));
    assert_eq!(over.header("cache-control"), Some("no-cache"));

    h.call("DELETE", "/objs/dir/a%20b.bin", b"").await.ok();
    h.call("GET", "/objs/dir/a%20b.bin", b"")
        .await
        .err(404, "NoSuchKey");
    let head = h.call("HEAD", "/objs/dir/a%20b.bin", b"").await;
    assert_eq!(head.status.as_u16(), 404);
    assert!(head.body.is_empty(), "HEAD errors carry no body");
    // Deleting a missing key succeeds; a missing bucket does not.
    assert_eq!(
        h.call("DELETE", "/objs/nothing", b"").await.status.as_u16(),
        204
    );
    h.call("GET", "/nobucket/k", b"")
        .await
        .err(404, "NoSuchBucket");
    h.call("PUT", "/nobucket/k", b"x")
        .await
        .err(404, "NoSuchBucket");
}

#[tokio::test]
async fn ranges_and_part_numbers() {
    let h = Harness::new().await;
    h.create_bucket("rng").await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    h.call("PUT", "/rng/k", &data).await.ok();
    let cases: [(&str, usize, usize); 4] = [
        ("bytes=0-9", 0, 10),
        ("bytes=990-", 990, 1000),
        ("bytes=-5", 995, 1000),
        ("bytes=500-5000", 500, 1000),
    ];
    for (range, start, end) in cases {
        let r = h.call_with("GET", "/rng/k", &[("range", range)], b"").await;
        assert_eq!(r.status.as_u16(), 206, "{range}");
        assert_eq!(r.body.as_ref(), &data[start..end], "{range}");
        let content_range = format!("bytes {start}-{}/1000", end - 1);
        assert_eq!(r.header("content-range"), Some(content_range.as_str()));
    }
    let r = h
        .call_with("GET", "/rng/k", &[("range", "bytes=1000-")], b"")
        .await;
    r.err(416, "InvalidRange");
    assert!(r
        .text()
        .contains("<ActualObjectSize>1000</ActualObjectSize>"));
    // HEAD honours ranges too.
    let r = h
        .call_with("HEAD", "/rng/k", &[("range", "bytes=0-1")], b"")
        .await;
    assert_eq!(r.status.as_u16(), 206);
    assert_eq!(r.header("content-length"), Some("2"));
    // A single-part object is part 1.
    let r = h.call("GET", "/rng/k?partNumber=1", b"").await.ok();
    assert_eq!(r.body.len(), 1000);
    h.call("GET", "/rng/k?partNumber=2", b"")
        .await
        .err(416, "InvalidPartNumber");
}

#[tokio::test]
async fn read_conditionals_answer_304_and_412() {
    let h = Harness::new().await;
    h.create_bucket("cond").await;
    let put = h.call("PUT", "/cond/k", b"hello").await.ok();
    let etag = put.header("etag").unwrap().to_owned();
    let get = |hdrs: Vec<(&'static str, String)>| {
        let h = &h;
        async move {
            let pairs: Vec<(&str, &str)> = hdrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.call_with("GET", "/cond/k", &pairs, b"").await
        }
    };
    assert_eq!(get(vec![("if-match", etag.clone())]).await.status, 200);
    get(vec![("if-match", "\"nope\"".into())])
        .await
        .err(412, "PreconditionFailed");
    let r = get(vec![("if-none-match", etag.clone())]).await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(
        get(vec![(
            "if-modified-since",
            "Mon, 01 Jan 2001 00:00:00 GMT".into()
        )])
        .await
        .status,
        200
    );
    get(vec![(
        "if-unmodified-since",
        "Mon, 01 Jan 2001 00:00:00 GMT".into(),
    )])
    .await
    .err(412, "PreconditionFailed");
    // Conditional writes.
    h.call_with("PUT", "/cond/k", &[("if-none-match", "*")], b"again")
        .await
        .err(412, "PreconditionFailed");
    h.call_with("PUT", "/cond/new", &[("if-none-match", "*")], b"first")
        .await
        .ok();
    h.call_with("PUT", "/cond/k", &[("if-match", "\"0000\"")], b"x")
        .await
        .err(412, "PreconditionFailed");
    h.call_with("PUT", "/cond/k", &[("if-match", &etag)], b"swapped")
        .await
        .ok();
    assert_eq!(
        h.call("GET", "/cond/k", b"").await.body.as_ref(),
        b"swapped"
    );
}

#[tokio::test]
async fn bad_digests_and_limits_store_nothing() {
    let h = Harness::new().await;
    h.create_bucket("dig").await;
    h.call("PUT", "/dig/k", b"original").await.ok();
    h.call_with(
        "PUT",
        "/dig/k",
        &[("content-md5", &content_md5(b"other"))],
        b"changed",
    )
    .await
    .err(400, "BadDigest");
    h.call_with("PUT", "/dig/k", &[("content-md5", "not base64!")], b"x")
        .await
        .err(400, "InvalidDigest");
    h.call_with(
        "PUT",
        "/dig/k",
        &[("x-amz-checksum-crc32", &crc32(b"other"))],
        b"changed",
    )
    .await
    .err(400, "BadDigest");
    let big = "v".repeat(2100);
    h.call_with("PUT", "/dig/k", &[("x-amz-meta-big", &big)], b"x")
        .await
        .err(400, "MetadataTooLarge");
    let long_key = format!("/dig/{}", "k".repeat(1025));
    h.call("PUT", &long_key, b"x")
        .await
        .err(400, "KeyTooLongError");
    assert_eq!(
        h.call("GET", "/dig/k", b"").await.body.as_ref(),
        b"original"
    );

    // A right checksum is stored and returned when asked.
    h.call_with(
        "PUT",
        "/dig/sum",
        &[("x-amz-checksum-crc32", &crc32(b"data"))],
        b"data",
    )
    .await
    .ok();
    let r = h
        .call_with(
            "HEAD",
            "/dig/sum",
            &[("x-amz-checksum-mode", "ENABLED")],
            b"",
        )
        .await
        .ok();
    assert_eq!(
        r.header("x-amz-checksum-crc32"),
        Some(crc32(b"data").as_str())
    );
    let r = h.call("HEAD", "/dig/sum", b"").await.ok();
    assert_eq!(r.header("x-amz-checksum-crc32"), None);
}

/// An `aws-chunked` body in the unsigned-trailer mode, as SDKs send by default since 2025.
fn unsigned_trailer_body(data: &[u8], chunk: usize, trailer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(format!("x-amz-checksum-crc32:{trailer}\r\n\r\n").as_bytes());
    out
}

#[tokio::test]
async fn trailing_checksums_are_verified_before_commit() {
    let h = Harness::new().await;
    h.create_bucket("trl").await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let len = data.len().to_string();
    for (trailer, ok) in [(crc32(b"wrong"), false), (crc32(&data), true)] {
        let body = unsigned_trailer_body(&data, 65_536, &trailer);
        let req = sign_with(
            "PUT",
            "/trl/k",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", &len),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ],
            &body,
            Payload::Declared("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            SECRET_KEY,
        );
        let r = h.send(req).await;
        if ok {
            let r = r.ok();
            assert_eq!(r.header("x-amz-checksum-crc32"), Some(trailer.as_str()));
            let got = h.call("GET", "/trl/k", b"").await.ok();
            assert_eq!(got.body.as_ref(), &data[..]);
            assert_eq!(
                got.header("content-encoding"),
                None,
                "aws-chunked is not stored"
            );
        } else {
            r.err(400, "BadDigest");
            h.call("GET", "/trl/k", b"").await.err(404, "NoSuchKey");
        }
    }
    // A body cut short of its final chunk is IncompleteBody and stores nothing.
    let body = unsigned_trailer_body(&data, 65_536, &crc32(&data));
    let req = sign_with(
        "PUT",
        "/trl/cut",
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &len),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        &body[..100_000],
        Payload::Declared("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        SECRET_KEY,
    );
    h.send(req).await.err(400, "IncompleteBody");
    h.call("GET", "/trl/cut", b"").await.err(404, "NoSuchKey");
}

#[tokio::test]
async fn declared_sha256_mismatch_stores_nothing() {
    let h = Harness::new().await;
    h.create_bucket("sha").await;
    // Sign over one body, send another of the same length.
    let mut req = signed("PUT", "/sha/k", &[], b"aaaa");
    *req.body_mut() = axum::body::Body::from(&b"bbbb"[..]);
    h.send(req).await.err(400, "XAmzContentSHA256Mismatch");
    h.call("GET", "/sha/k", b"").await.err(404, "NoSuchKey");
}

#[tokio::test]
async fn copies_keep_or_replace_metadata() {
    let h = Harness::new().await;
    h.create_bucket("src").await;
    h.create_bucket("dst").await;
    h.call_with(
        "PUT",
        "/src/a",
        &[("content-type", "text/a"), ("x-amz-meta-m", "1")],
        b"payload",
    )
    .await
    .ok();
    let r = h
        .call_with("PUT", "/dst/b", &[("x-amz-copy-source", "/src/a")], b"")
        .await
        .ok();
    assert!(r.text().contains("<CopyObjectResult"), "{}", r.text());
    assert!(r.text().contains(&md5_hex(b"payload")));
    let got = h.call("GET", "/dst/b", b"").await.ok();
    assert_eq!(got.body.as_ref(), b"payload");
    assert_eq!(got.header("content-type"), Some("text/a"));
    assert_eq!(got.header("x-amz-meta-m"), Some("1"));

    h.call_with(
        "PUT",
        "/dst/b",
        &[
            ("x-amz-copy-source", "src/a"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("content-type", "text/b"),
        ],
        b"",
    )
    .await
    .ok();
    let got = h.call("HEAD", "/dst/b", b"").await.ok();
    assert_eq!(got.header("content-type"), Some("text/b"));
    assert_eq!(got.header("x-amz-meta-m"), None);

    // Onto itself: only with REPLACE.
    h.call_with("PUT", "/src/a", &[("x-amz-copy-source", "/src/a")], b"")
        .await
        .err(400, "InvalidRequest");
    h.call_with(
        "PUT",
        "/src/a",
        &[
            ("x-amz-copy-source", "/src/a"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("x-amz-meta-m", "2"),
        ],
        b"",
    )
    .await
    .ok();
    assert_eq!(
        h.call("HEAD", "/src/a", b"").await.header("x-amz-meta-m"),
        Some("2")
    );
    // Source conditions.
    h.call_with(
        "PUT",
        "/dst/c",
        &[
            ("x-amz-copy-source", "/src/a"),
            ("x-amz-copy-source-if-match", "\"0123\""),
        ],
        b"",
    )
    .await
    .err(412, "PreconditionFailed");
    h.call_with(
        "PUT",
        "/dst/c",
        &[("x-amz-copy-source", "/src/missing")],
        b"",
    )
    .await
    .err(404, "NoSuchKey");
}

#[tokio::test]
async fn unimplemented_and_unknown_requests() {
    let h = Harness::new().await;
    h.create_bucket("nimp").await;
    h.call("GET", "/nimp?policy", b"")
        .await
        .err(501, "NotImplemented");
    h.call("PUT", "/nimp/k?tagging", b"")
        .await
        .err(501, "NotImplemented");
    let r = h.call("GET", "/nimp/none", b"").await;
    assert!(r.header("x-amz-request-id").is_some());
    assert!(r.text().contains("<Resource>/nimp/none</Resource>"));
}
