//! Bad input against the real `stratum` binary, each case asserting the exact S3 error code
//! and status: wrong secrets, expired presigned URLs, a tampered chunk signature, a wrong
//! trailing checksum, bad Content-MD5, malformed XML, ranges past the end, over-long keys,
//! missing buckets and keys, deleting a non-empty bucket; and a client that disconnects
//! mid-upload, which must leave no object and, after a crash and restart, no leaked space.
//!
//! Requests are hand-built (`tests/e2e/sigv4.rs` signs them) and sent over a bare
//! `TcpStream`, since no client sends these on purpose.

#[path = "e2e/sigv4.rs"]
mod sigv4;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use md5::{Digest, Md5};
use sigv4::{sha256_hex, Signer};
use stratum_workspace_tests::fs::{random_bytes, shard_files, tree_bytes, ShardFile};
use stratum_workspace_tests::http::{self, Response};
use stratum_workspace_tests::{aws, aws_with_env, run_steps, Server};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn signer(server: &Server) -> Signer {
    Signer::new(server.access_key(), server.secret_key())
}

/// Sends a request signed with `signer` over the payload's SHA-256, now.
fn send_signed(
    server: &Server,
    signer: &Signer,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let req = sigv4::Request {
        method,
        host: server.address(),
        path,
        query,
        headers,
    };
    send_signed_as(server, signer, &req, body, SystemTime::now())
}

/// Sends `req` (to the server's address, with `req.host` as the Host header) signed at `when`.
fn send_signed_as(
    server: &Server,
    signer: &Signer,
    req: &sigv4::Request<'_>,
    body: &[u8],
    when: SystemTime,
) -> Response {
    let sigv4::Request {
        method,
        host,
        path,
        query,
        headers,
    } = *req;
    let signed = signer.sign(req, &sha256_hex(body), when);
    let query_string = query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                sigv4::uri_encode(k, false)
            } else {
                format!(
                    "{}={}",
                    sigv4::uri_encode(k, false),
                    sigv4::uri_encode(v, false)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    let target = if query_string.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query_string}")
    };
    let mut all: Vec<(&str, &str)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.push(("Host", host));
    all.extend(headers.iter().filter(|(k, _)| {
        !signed
            .headers
            .iter()
            .any(|(s, _)| s.eq_ignore_ascii_case(k))
    }));
    http::request(server.address(), method, &target, &all, body)
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// A correctly signed request with the root keys.
fn root(server: &Server, method: &str, path: &str, body: &[u8]) -> Response {
    send_signed(server, &signer(server), method, path, &[], &[], body)
}

/// Asserts the status and the S3 `<Code>` of an error response.
#[track_caller]
fn assert_error(resp: &Response, status: u16, code: &str, what: &str) {
    assert!(
        resp.status == status && resp.s3_code().as_deref() == Some(code),
        "{what}: expected {status} {code}, got:\n{}",
        resp.describe()
    );
}

#[track_caller]
fn assert_status(resp: &Response, status: u16, what: &str) {
    assert_eq!(resp.status, status, "{what}:\n{}", resp.describe());
}

fn create_bucket(server: &Server, bucket: &str) {
    let resp = root(server, "PUT", &format!("/{bucket}"), b"");
    assert_status(&resp, 200, &format!("CreateBucket {bucket}"));
}

/// Whether `bucket/key` exists (HEAD).
fn exists(server: &Server, bucket: &str, key: &str) -> bool {
    let resp = root(server, "HEAD", &format!("/{bucket}/{key}"), b"");
    match resp.status {
        200 => true,
        404 => false,
        _ => panic!("HEAD /{bucket}/{key}:\n{}", resp.describe()),
    }
}

fn wrong_secret(server: &Server) {
    create_bucket(server, "bad-auth");
    let wrong = Signer::new(
        server.access_key(),
        "not-the-secret-key-0123456789abcdefghij",
    );
    let resp = send_signed(server, &wrong, "GET", "/bad-auth", &[], &[], b"");
    assert_error(
        &resp,
        403,
        "SignatureDoesNotMatch",
        "GET with a wrong secret",
    );
    let resp = send_signed(server, &wrong, "PUT", "/bad-auth/k", &[], &[], b"data");
    assert_error(
        &resp,
        403,
        "SignatureDoesNotMatch",
        "PUT with a wrong secret",
    );
    assert!(!exists(server, "bad-auth", "k"));
    let unknown = Signer::new("E2ENOSUCHACCESSKEY00", server.secret_key());
    let resp = send_signed(server, &unknown, "GET", "/bad-auth", &[], &[], b"");
    assert_error(
        &resp,
        403,
        "InvalidAccessKeyId",
        "GET with an unknown access key",
    );
    // No signature at all.
    let resp = http::request(server.address(), "GET", "/bad-auth", &[], b"").unwrap();
    assert_error(&resp, 403, "AccessDenied", "an anonymous GET");
    // And through awscli.
    let env = [(
        "AWS_SECRET_ACCESS_KEY",
        "not-the-secret-key-0123456789abcdefghij",
    )];
    let out = aws_with_env(server, &["s3", "ls", "s3://bad-auth"], &env).fails();
    assert!(
        out.contains("SignatureDoesNotMatch"),
        "awscli with a wrong secret: {out}"
    );
}

fn expired_presigned_url(server: &Server) {
    create_bucket(server, "bad-presign");
    let put = root(server, "PUT", "/bad-presign/obj", b"presigned body");
    assert_status(&put, 200, "PutObject");
    let s = signer(server);
    let url = s.presign_get(
        server.address(),
        "/bad-presign/obj",
        SystemTime::now(),
        Duration::from_secs(60),
    );
    let resp = http::get_url(&url).unwrap();
    assert_status(&resp, 200, "a fresh presigned GET");
    assert_eq!(resp.body, b"presigned body");
    let past = SystemTime::now() - Duration::from_secs(120);
    let url = s.presign_get(
        server.address(),
        "/bad-presign/obj",
        past,
        Duration::from_secs(60),
    );
    let resp = http::get_url(&url).unwrap();
    assert_error(
        &resp,
        403,
        "AccessDenied",
        "a presigned GET that expired a minute ago",
    );
    // A tampered presigned signature.
    let url = s.presign_get(
        server.address(),
        "/bad-presign/obj",
        SystemTime::now(),
        Duration::from_secs(60),
    );
    let tampered = format!("{}0", &url[..url.len() - 1]);
    let resp = http::get_url(&tampered).unwrap();
    assert_error(
        &resp,
        403,
        "SignatureDoesNotMatch",
        "a presigned GET with a changed signature",
    );
}

/// A `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` PUT of `data` in 64 KiB chunks; `tamper` alters
/// the signature of that chunk (0-based).
fn chunk_signed_put(server: &Server, key: &str, data: &[u8], tamper: Option<usize>) -> Response {
    let s = signer(server);
    let chunk_bytes = 64 * 1024;
    let chunks: Vec<&[u8]> = data.chunks(chunk_bytes).chain([&[][..]]).collect();
    let body_len: usize = chunks
        .iter()
        .map(|c| format!("{:x};chunk-signature=", c.len()).len() + 64 + 2 + c.len() + 2)
        .sum();
    let decoded = data.len().to_string();
    let body_len_text = body_len.to_string();
    let headers = [
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded.as_str()),
        ("content-length", body_len_text.as_str()),
    ];
    let path = format!("/bad-stream/{key}");
    let signed = s.sign(
        &sigv4::Request {
            method: "PUT",
            host: server.address(),
            path: &path,
            query: &[],
            headers: &headers,
        },
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        SystemTime::now(),
    );
    let mut body = Vec::with_capacity(body_len);
    let mut previous = signed.signature.clone();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut sig = s.chunk_signature(&signed, &previous, chunk);
        previous = sig.clone();
        if tamper == Some(i) {
            let flipped = if sig.starts_with('0') { "1" } else { "0" };
            sig.replace_range(0..1, flipped);
        }
        body.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    assert_eq!(body.len(), body_len);
    let all: Vec<(&str, &str)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http::request(server.address(), "PUT", &path, &all, &body).unwrap()
}

fn tampered_chunk_signature(server: &Server) {
    create_bucket(server, "bad-stream");
    let data = random_bytes(41, 200_000);
    let good = chunk_signed_put(server, "good", &data, None);
    assert_status(
        &good,
        200,
        "a correctly chunk-signed PUT (the hand-built body is right)",
    );
    let got = root(server, "GET", "/bad-stream/good", b"");
    assert!(
        got.status == 200 && got.body == data,
        "GET of the chunk-signed object"
    );
    let bad = chunk_signed_put(server, "tampered", &data, Some(1));
    assert_error(
        &bad,
        403,
        "SignatureDoesNotMatch",
        "a PUT whose second chunk signature is altered",
    );
    assert!(
        !exists(server, "bad-stream", "tampered"),
        "the tampered PUT stored an object"
    );
    let bad = chunk_signed_put(server, "tampered-final", &data, Some(4));
    assert_error(
        &bad,
        403,
        "SignatureDoesNotMatch",
        "a PUT whose final (empty) chunk signature is altered",
    );
    assert!(
        !exists(server, "bad-stream", "tampered-final"),
        "the tampered PUT stored an object"
    );
}

/// A `STREAMING-UNSIGNED-PAYLOAD-TRAILER` PUT with an `x-amz-checksum-crc32` trailer.
fn trailer_put(server: &Server, key: &str, data: &[u8], crc32: u32) -> Response {
    let s = signer(server);
    let mut body = Vec::new();
    for chunk in data.chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(chunk);
        body.extend_from_slice(b"\r\n");
    }
    let checksum = B64.encode(crc32.to_be_bytes());
    body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n").as_bytes());
    let decoded = data.len().to_string();
    let headers = [
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded.as_str()),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    let path = format!("/bad-trailer/{key}");
    let signed = s.sign(
        &sigv4::Request {
            method: "PUT",
            host: server.address(),
            path: &path,
            query: &[],
            headers: &headers,
        },
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        SystemTime::now(),
    );
    let all: Vec<(&str, &str)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    http::request(server.address(), "PUT", &path, &all, &body).unwrap()
}

fn wrong_trailer_checksum(server: &Server) {
    create_bucket(server, "bad-trailer");
    let data = random_bytes(42, 150_000);
    let crc = crc32fast::hash(&data);
    let good = trailer_put(server, "good", &data, crc);
    assert_status(
        &good,
        200,
        "a PUT with a correct CRC32 trailer (the hand-built body is right)",
    );
    let got = root(server, "GET", "/bad-trailer/good", b"");
    assert!(
        got.status == 200 && got.body == data,
        "GET of the trailer object"
    );
    let bad = trailer_put(server, "wrong", &data, crc ^ 1);
    assert_error(&bad, 400, "BadDigest", "a PUT whose CRC32 trailer is wrong");
    assert!(
        !exists(server, "bad-trailer", "wrong"),
        "a PUT with a wrong trailer stored an object"
    );
}

fn bad_content_md5(server: &Server) {
    create_bucket(server, "bad-md5");
    let s = signer(server);
    let body = b"the body whose MD5 is given";
    let right = B64.encode(Md5::digest(body));
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-md5/ok",
        &[],
        &[("content-md5", &right)],
        body,
    );
    assert_status(&resp, 200, "a PUT with the right Content-MD5");
    let wrong = B64.encode(Md5::digest(b"another body"));
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-md5/wrong",
        &[],
        &[("content-md5", &wrong)],
        body,
    );
    assert_error(&resp, 400, "BadDigest", "a PUT with a wrong Content-MD5");
    assert!(!exists(server, "bad-md5", "wrong"));
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-md5/junk",
        &[],
        &[("content-md5", "not base64!")],
        body,
    );
    assert_error(
        &resp,
        400,
        "InvalidDigest",
        "a PUT with a non-base64 Content-MD5",
    );
    // Base64, but not 16 bytes.
    let short = B64.encode(b"short");
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-md5/short",
        &[],
        &[("content-md5", &short)],
        body,
    );
    assert_error(
        &resp,
        400,
        "InvalidDigest",
        "a PUT with a 5-byte Content-MD5",
    );
    assert!(!exists(server, "bad-md5", "junk") && !exists(server, "bad-md5", "short"));
}

fn malformed_complete_xml(server: &Server) {
    create_bucket(server, "bad-xml");
    let s = signer(server);
    let resp = send_signed(
        server,
        &s,
        "POST",
        "/bad-xml/mpu",
        &[("uploads", "")],
        &[],
        b"",
    );
    assert_status(&resp, 200, "CreateMultipartUpload");
    let upload_id = http::xml_element(&resp.body_text(), "UploadId").expect("an UploadId");
    let part = send_signed(
        server,
        &s,
        "PUT",
        "/bad-xml/mpu",
        &[("partNumber", "1"), ("uploadId", &upload_id)],
        &[],
        b"part one",
    );
    assert_status(&part, 200, "UploadPart");
    let etag = part.header("etag").unwrap_or_default().to_string();
    for (what, xml) in [
        ("unclosed XML", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>".to_string()),
        ("not XML", "this is not xml".to_string()),
        (
            "a part without a number",
            format!("<CompleteMultipartUpload><Part><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"),
        ),
    ] {
        let resp = send_signed(
            server,
            &s,
            "POST",
            "/bad-xml/mpu",
            &[("uploadId", &upload_id)],
            &[],
            xml.as_bytes(),
        );
        assert_error(&resp, 400, "MalformedXML", &format!("CompleteMultipartUpload with {what}"));
    }
    assert!(!exists(server, "bad-xml", "mpu"));
    // The upload is still there and completes with good XML.
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let resp = send_signed(
        server,
        &s,
        "POST",
        "/bad-xml/mpu",
        &[("uploadId", &upload_id)],
        &[],
        xml.as_bytes(),
    );
    assert_status(
        &resp,
        200,
        "CompleteMultipartUpload with good XML after bad ones",
    );
    assert!(
        !resp.body_text().contains("<Error>"),
        "CompleteMultipartUpload answered 200 with an error body:\n{}",
        resp.describe()
    );
    let got = root(server, "GET", "/bad-xml/mpu", b"");
    assert_eq!(got.body, b"part one");
}

fn range_past_the_end(server: &Server) {
    create_bucket(server, "bad-range");
    assert_status(
        &root(server, "PUT", "/bad-range/ten", b"0123456789"),
        200,
        "PutObject",
    );
    let s = signer(server);
    for range in ["bytes=10-", "bytes=100-200", "bytes=10-10"] {
        let resp = send_signed(
            server,
            &s,
            "GET",
            "/bad-range/ten",
            &[],
            &[("range", range)],
            b"",
        );
        assert_error(
            &resp,
            416,
            "InvalidRange",
            &format!("GET with Range {range} of a 10-byte object"),
        );
    }
    // A range that starts inside is clipped, not refused.
    let resp = send_signed(
        server,
        &s,
        "GET",
        "/bad-range/ten",
        &[],
        &[("range", "bytes=5-100")],
        b"",
    );
    assert_status(&resp, 206, "GET with Range bytes=5-100");
    assert_eq!(resp.body, b"56789");
    assert_eq!(resp.header("content-range"), Some("bytes 5-9/10"));
}

fn key_too_long(server: &Server) {
    create_bucket(server, "bad-key");
    let key = "k".repeat(1025);
    let resp = root(server, "PUT", &format!("/bad-key/{key}"), b"x");
    assert_error(&resp, 400, "KeyTooLongError", "a PUT with a 1025-byte key");
    let key = "k".repeat(1024);
    let resp = root(server, "PUT", &format!("/bad-key/{key}"), b"x");
    assert_status(&resp, 200, "a PUT with a 1024-byte key");
    // 1024 bytes of UTF-8 is the limit, not 1024 characters: 342 three-byte characters.
    let key = sigv4::uri_encode(&"日".repeat(342), true);
    let resp = root(server, "PUT", &format!("/bad-key/{key}"), b"x");
    assert_error(
        &resp,
        400,
        "KeyTooLongError",
        "a PUT with a 1026-byte (342-character) key",
    );
}

fn missing_bucket_and_key(server: &Server) {
    let resp = root(server, "GET", "/no-such-bucket-e2e/k", b"");
    assert_error(&resp, 404, "NoSuchBucket", "GetObject in a missing bucket");
    let resp = root(server, "GET", "/no-such-bucket-e2e", b"");
    assert_error(
        &resp,
        404,
        "NoSuchBucket",
        "ListObjects of a missing bucket",
    );
    let resp = root(server, "PUT", "/no-such-bucket-e2e/k", b"x");
    assert_error(&resp, 404, "NoSuchBucket", "PutObject in a missing bucket");
    let resp = root(server, "DELETE", "/no-such-bucket-e2e", b"");
    assert_error(
        &resp,
        404,
        "NoSuchBucket",
        "DeleteBucket of a missing bucket",
    );
    create_bucket(server, "bad-missing");
    let resp = root(server, "GET", "/bad-missing/nope", b"");
    assert_error(&resp, 404, "NoSuchKey", "GetObject of a missing key");
    let resp = send_signed(
        server,
        &signer(server),
        "GET",
        "/bad-missing/nope",
        &[("uploadId", "nope")],
        &[],
        b"",
    );
    assert_error(&resp, 404, "NoSuchUpload", "ListParts of a missing upload");
}

fn non_empty_bucket_delete(server: &Server) {
    create_bucket(server, "bad-nonempty");
    assert_status(
        &root(server, "PUT", "/bad-nonempty/k", b"x"),
        200,
        "PutObject",
    );
    let resp = root(server, "DELETE", "/bad-nonempty", b"");
    assert_error(
        &resp,
        409,
        "BucketNotEmpty",
        "DeleteBucket of a non-empty bucket",
    );
    assert_status(
        &root(server, "DELETE", "/bad-nonempty/k", b""),
        204,
        "DeleteObject",
    );
    assert_status(
        &root(server, "DELETE", "/bad-nonempty", b""),
        204,
        "DeleteBucket once empty",
    );
}

fn clock_skew(server: &Server) {
    create_bucket(server, "bad-skew");
    let req = sigv4::Request {
        method: "GET",
        host: server.address(),
        path: "/bad-skew",
        query: &[],
        headers: &[],
    };
    let s = signer(server);
    let late = SystemTime::now() - Duration::from_secs(20 * 60);
    let resp = send_signed_as(server, &s, &req, b"", late);
    assert_error(
        &resp,
        403,
        "RequestTimeTooSkewed",
        "a request signed 20 minutes ago",
    );
    let early = SystemTime::now() + Duration::from_secs(20 * 60);
    let resp = send_signed_as(server, &s, &req, b"", early);
    assert_error(
        &resp,
        403,
        "RequestTimeTooSkewed",
        "a request signed 20 minutes ahead",
    );
}

fn missing_content_length(server: &Server) {
    create_bucket(server, "bad-length");
    let path = "/bad-length/k";
    let signed = signer(server).sign(
        &sigv4::Request {
            method: "PUT",
            host: server.address(),
            path,
            query: &[],
            headers: &[],
        },
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        server.address()
    );
    for (k, v) in &signed.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let resp = http::send_raw(server.address(), head.as_bytes(), false).unwrap();
    assert_error(
        &resp,
        411,
        "MissingContentLength",
        "a PUT with neither Content-Length nor chunked framing",
    );
    assert!(!exists(server, "bad-length", "k"));
}

fn not_implemented(server: &Server) {
    create_bucket(server, "bad-notimpl");
    assert_status(
        &root(server, "PUT", "/bad-notimpl/k", b"x"),
        200,
        "PutObject",
    );
    let s = signer(server);
    let resp = send_signed(
        server,
        &s,
        "GET",
        "/bad-notimpl/k",
        &[("torrent", "")],
        &[],
        b"",
    );
    assert_error(&resp, 501, "NotImplemented", "GetObjectTorrent");
}

fn multipart_errors(server: &Server) {
    create_bucket(server, "bad-mpu");
    let s = signer(server);
    let resp = send_signed(
        server,
        &s,
        "POST",
        "/bad-mpu/k",
        &[("uploads", "")],
        &[],
        b"",
    );
    assert_status(&resp, 200, "CreateMultipartUpload");
    let id = http::xml_element(&resp.body_text(), "UploadId").expect("an UploadId");
    let part1 = random_bytes(46, 5 << 20);
    let mut etags = Vec::new();
    for (n, body) in [("1", &part1[..]), ("2", &b"tail"[..])] {
        let resp = send_signed(
            server,
            &s,
            "PUT",
            "/bad-mpu/k",
            &[("partNumber", n), ("uploadId", &id)],
            &[],
            body,
        );
        assert_status(&resp, 200, "UploadPart");
        etags.push(resp.header("etag").unwrap_or_default().to_string());
    }
    let complete = |parts: &[(u32, &str)]| {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        send_signed(
            server,
            &s,
            "POST",
            "/bad-mpu/k",
            &[("uploadId", &id)],
            &[],
            xml.as_bytes(),
        )
    };
    let resp = complete(&[(2, &etags[1]), (1, &etags[0])]);
    assert_error(
        &resp,
        400,
        "InvalidPartOrder",
        "CompleteMultipartUpload with parts out of order",
    );
    let resp = complete(&[(1, &etags[0]), (2, "\"00000000000000000000000000000000\"")]);
    assert_error(
        &resp,
        400,
        "InvalidPart",
        "CompleteMultipartUpload with a wrong part ETag",
    );
    let resp = complete(&[(1, &etags[0]), (3, &etags[1])]);
    assert_error(
        &resp,
        400,
        "InvalidPart",
        "CompleteMultipartUpload naming a part never uploaded",
    );
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-mpu/k",
        &[("partNumber", "0"), ("uploadId", &id)],
        &[],
        b"x",
    );
    assert_error(
        &resp,
        400,
        "InvalidArgument",
        "UploadPart with part number 0",
    );
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-mpu/k",
        &[("partNumber", "10001"), ("uploadId", &id)],
        &[],
        b"x",
    );
    assert_error(
        &resp,
        400,
        "InvalidArgument",
        "UploadPart with part number 10001",
    );
    let resp = send_signed(
        server,
        &s,
        "PUT",
        "/bad-mpu/k",
        &[("partNumber", "1"), ("uploadId", "no-such-upload")],
        &[],
        b"x",
    );
    assert_error(&resp, 404, "NoSuchUpload", "UploadPart to a missing upload");
    assert!(!exists(server, "bad-mpu", "k"));
    // After all that, the upload still completes.
    let resp = complete(&[(1, &etags[0]), (2, &etags[1])]);
    assert_status(&resp, 200, "CompleteMultipartUpload after the bad attempts");
    let got = root(server, "GET", "/bad-mpu/k", b"");
    assert!(
        got.status == 200 && got.body.len() == part1.len() + 4,
        "the completed object"
    );
    let resp = complete(&[(1, &etags[0]), (2, &etags[1])]);
    assert_error(&resp, 404, "NoSuchUpload", "completing an upload twice");
}

/// Virtual-hosted addressing (`BUCKET.localhost`): the Host header names the bucket.
fn virtual_hosted_addressing(server: &Server) {
    let port = server.address().rsplit(':').next().unwrap();
    let host = format!("vhost-e2e.localhost:{port}");
    let s = signer(server);
    let send = |method: &str, path: &str, query: &[(&str, &str)], body: &[u8]| {
        let req = sigv4::Request {
            method,
            host: &host,
            path,
            query,
            headers: &[],
        };
        send_signed_as(server, &s, &req, body, SystemTime::now())
    };
    assert_status(
        &send("PUT", "/", &[], b""),
        200,
        "CreateBucket, virtual-hosted",
    );
    assert_status(
        &send("PUT", "/dir/obj", &[], b"vhost body"),
        200,
        "PutObject, virtual-hosted",
    );
    let got = send("GET", "/dir/obj", &[], b"");
    assert!(
        got.status == 200 && got.body == b"vhost body",
        "GetObject, virtual-hosted:\n{}",
        got.describe()
    );
    let list = send("GET", "/", &[("list-type", "2")], b"");
    assert_status(&list, 200, "ListObjectsV2, virtual-hosted");
    assert!(
        list.body_text().contains("<Key>dir/obj</Key>"),
        "{}",
        list.describe()
    );
    // The same object by path style.
    let got = root(server, "GET", "/vhost-e2e/dir/obj", b"");
    assert!(
        got.status == 200 && got.body == b"vhost body",
        "the virtual-hosted object by path"
    );
}

#[test]
fn bad_input() {
    let server = Server::start();
    run_steps(
        &server,
        &[
            ("wrong secret: SignatureDoesNotMatch", &wrong_secret),
            (
                "expired presigned URL: AccessDenied",
                &expired_presigned_url,
            ),
            (
                "tampered chunk signature: SignatureDoesNotMatch",
                &tampered_chunk_signature,
            ),
            ("wrong trailer checksum: BadDigest", &wrong_trailer_checksum),
            (
                "bad Content-MD5: BadDigest, InvalidDigest",
                &bad_content_md5,
            ),
            (
                "malformed CompleteMultipartUpload: MalformedXML",
                &malformed_complete_xml,
            ),
            ("range past the end: InvalidRange", &range_past_the_end),
            ("key over 1024 bytes: KeyTooLongError", &key_too_long),
            (
                "missing bucket and key: NoSuchBucket, NoSuchKey",
                &missing_bucket_and_key,
            ),
            (
                "non-empty bucket delete: BucketNotEmpty",
                &non_empty_bucket_delete,
            ),
            ("clock skew: RequestTimeTooSkewed", &clock_skew),
            (
                "no Content-Length: MissingContentLength",
                &missing_content_length,
            ),
            ("unimplemented operation: NotImplemented", &not_implemented),
            (
                "multipart: InvalidPartOrder, InvalidPart, InvalidArgument, NoSuchUpload",
                &multipart_errors,
            ),
            (
                "virtual-hosted addressing on *.localhost",
                &virtual_hosted_addressing,
            ),
        ],
    );
}

/// Dedicated-volume shard files (the only ones a large PUT creates).
fn dedicated(files: &[ShardFile]) -> Vec<(String, u64)> {
    files
        .iter()
        .filter(|f| f.kind == 2)
        .map(|f| (f.path.display().to_string(), f.bytes))
        .collect()
}

/// Sends the headers of a signed 20 MiB PUT and 5 MiB of its body, then hangs up.
fn disconnect_mid_upload(server: &Server, path: &str) {
    let total = 20u64 << 20;
    let length = total.to_string();
    let signed = signer(server).sign(
        &sigv4::Request {
            method: "PUT",
            host: server.address(),
            path,
            query: &[],
            headers: &[("content-length", &length)],
        },
        "UNSIGNED-PAYLOAD",
        SystemTime::now(),
    );
    let mut head = format!("PUT {path} HTTP/1.1\r\nHost: {}\r\n", server.address());
    for (k, v) in &signed.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let body = random_bytes(43, 5 << 20);
    for chunk in body.chunks(256 * 1024) {
        stream.write_all(chunk).unwrap();
    }
    stream.flush().unwrap();
    // Let the server take in what was sent (and write stripes of it) before hanging up.
    std::thread::sleep(Duration::from_millis(500));
    let during = shard_files(server.data_dir());
    eprintln!(
        "e2e: {} dedicated shard files hold {} bytes while the cut-off upload is open",
        during.iter().filter(|f| f.kind == 2).count(),
        during
            .iter()
            .filter(|f| f.kind == 2)
            .map(|f| f.bytes)
            .sum::<u64>()
    );
    stream.shutdown(Shutdown::Both).unwrap();
    drop(stream);
}

#[test]
fn disconnect_mid_upload_leaves_nothing_after_crash_and_restart() {
    let mut server = Server::start();
    create_bucket(&server, "bad-disconnect");
    // Something on disk first: a small object (shared volume) and a 6 MiB one (dedicated).
    assert_status(
        &root(&server, "PUT", "/bad-disconnect/small", b"small"),
        200,
        "PutObject small",
    );
    let six = random_bytes(44, 6 << 20);
    assert_status(
        &root(&server, "PUT", "/bad-disconnect/six", &six),
        200,
        "PutObject 6 MiB",
    );
    let before_files = shard_files(server.data_dir());
    let before_bytes = tree_bytes(server.data_dir(), &["meta"]);
    assert!(
        !dedicated(&before_files).is_empty(),
        "a 6 MiB object made no dedicated volume; shard files: {before_files:#?}"
    );

    disconnect_mid_upload(&server, "/bad-disconnect/cut");
    let ready = http::request(server.address(), "GET", "/health/ready", &[], b"").unwrap();
    assert_status(&ready, 200, "the server is ready after a client hung up");
    assert!(
        !exists(&server, "bad-disconnect", "cut"),
        "a cut-off upload is visible"
    );

    // While running: the request's drop guard should reclaim the partial volume soon.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut running_leak = dedicated(&shard_files(server.data_dir()));
    while running_leak != dedicated(&before_files) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        running_leak = dedicated(&shard_files(server.data_dir()));
    }

    // Crash and restart on the same data directory.
    server.kill();
    server.restart();
    assert!(
        !exists(&server, "bad-disconnect", "cut"),
        "a cut-off upload is visible after restart"
    );
    let got = root(&server, "GET", "/bad-disconnect/six", b"");
    assert!(
        got.status == 200 && got.body == six,
        "the 6 MiB object after restart"
    );
    let after_files = shard_files(server.data_dir());
    let after_bytes = tree_bytes(server.data_dir(), &["meta"]);
    assert_eq!(
        dedicated(&after_files),
        dedicated(&before_files),
        "dedicated volumes after the cut-off upload, a crash and a restart differ from before \
         it (leaked space).\nbefore: {before_files:#?}\nafter: {after_files:#?}"
    );
    // Shared volumes may gain a header or a sealed flag, not the 5 MiB that was sent.
    assert!(
        after_bytes <= before_bytes + (64 << 10),
        "the hot tier grew from {before_bytes} to {after_bytes} bytes over a cut-off upload"
    );
    assert_eq!(
        running_leak,
        dedicated(&before_files),
        "while the server ran, the cut-off upload's dedicated volume was not reclaimed within 10 s"
    );
    server.stop();
}

#[test]
fn graceful_stop_and_restart_keep_objects() {
    let mut server = Server::start();
    create_bucket(&server, "restart");
    let body = random_bytes(45, 5 << 20);
    assert_status(
        &root(&server, "PUT", "/restart/obj", &body),
        200,
        "PutObject",
    );
    server.stop();
    server.restart();
    let got = root(&server, "GET", "/restart/obj", b"");
    assert!(
        got.status == 200 && got.body == body,
        "an object after a graceful restart"
    );
    let out = aws(&server, &["s3", "ls", "s3://restart"]);
    assert!(out.ok().contains("obj"), "{}", out.describe());
    // A delete and an upload in progress, then a crash.
    assert_status(
        &root(&server, "PUT", "/restart/doomed", b"x"),
        200,
        "PutObject",
    );
    assert_status(
        &root(&server, "DELETE", "/restart/doomed", b""),
        204,
        "DeleteObject",
    );
    let s = signer(&server);
    let resp = send_signed(
        &server,
        &s,
        "POST",
        "/restart/mpu",
        &[("uploads", "")],
        &[],
        b"",
    );
    assert_status(&resp, 200, "CreateMultipartUpload");
    let id = http::xml_element(&resp.body_text(), "UploadId").expect("an UploadId");
    let part1 = random_bytes(47, 5 << 20);
    let resp = send_signed(
        &server,
        &s,
        "PUT",
        "/restart/mpu",
        &[("partNumber", "1"), ("uploadId", &id)],
        &[],
        &part1,
    );
    assert_status(&resp, 200, "UploadPart 1");
    let etag1 = resp.header("etag").unwrap_or_default().to_string();
    server.kill();
    server.restart();
    let got = root(&server, "GET", "/restart/obj", b"");
    assert!(
        got.status == 200 && got.body == body,
        "an object after a crash and restart"
    );
    assert!(
        !exists(&server, "restart", "doomed"),
        "a deleted object came back after a crash"
    );
    // The upload goes on after the crash.
    let s = signer(&server);
    let resp = send_signed(
        &server,
        &s,
        "PUT",
        "/restart/mpu",
        &[("partNumber", "2"), ("uploadId", &id)],
        &[],
        b"part two",
    );
    assert_status(&resp, 200, "UploadPart 2 after a crash");
    let etag2 = resp.header("etag").unwrap_or_default().to_string();
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag1}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{etag2}</ETag></Part></CompleteMultipartUpload>"
    );
    let resp = send_signed(
        &server,
        &s,
        "POST",
        "/restart/mpu",
        &[("uploadId", &id)],
        &[],
        xml.as_bytes(),
    );
    assert_status(&resp, 200, "CompleteMultipartUpload after a crash");
    let got = root(&server, "GET", "/restart/mpu", b"");
    let mut whole = part1.clone();
    whole.extend_from_slice(b"part two");
    assert!(
        got.status == 200 && got.body == whole,
        "the multipart object completed across a crash"
    );
    server.stop();
}
