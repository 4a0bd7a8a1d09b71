//! Multipart uploads through the API: the whole flow, the completion's errors, UploadPartCopy
//! with ranges and conditions, and ListParts / ListMultipartUploads pagination.

use base64::Engine as _;
use serde::Deserialize;
use stratum_core::{BucketName, ChecksumAlgorithm, ObjectKey};

use crate::common::{md5_hex, q, Harness, Resp};

const MIB: usize = 1024 * 1024;

#[derive(Deserialize, Debug)]
struct InitiateMultipartUploadResult {
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
}

#[derive(Deserialize, Debug)]
struct CompleteMultipartUploadResult {
    #[serde(rename = "Location")]
    location: String,
    #[serde(rename = "Bucket")]
    bucket: String,
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "ChecksumCRC32")]
    checksum_crc32: Option<String>,
}

#[derive(Deserialize, Debug)]
struct CopyPartResult {
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "LastModified")]
    last_modified: String,
}

#[derive(Deserialize, Debug)]
struct ListPartsResult {
    #[serde(rename = "UploadId")]
    upload_id: String,
    #[serde(rename = "PartNumberMarker")]
    part_number_marker: u32,
    #[serde(rename = "NextPartNumberMarker")]
    next_part_number_marker: u32,
    #[serde(rename = "MaxParts")]
    max_parts: usize,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Part", default)]
    parts: Vec<Part>,
    #[serde(rename = "StorageClass")]
    storage_class: String,
}

#[derive(Deserialize, Debug)]
struct Part {
    #[serde(rename = "PartNumber")]
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "Size")]
    size: u64,
}

#[derive(Deserialize, Debug)]
struct ListMultipartUploadsResult {
    #[serde(rename = "NextKeyMarker")]
    next_key_marker: Option<String>,
    #[serde(rename = "NextUploadIdMarker")]
    next_upload_id_marker: Option<String>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Upload", default)]
    uploads: Vec<Upload>,
    #[serde(rename = "CommonPrefixes", default)]
    common_prefixes: Vec<CommonPrefix>,
}

#[derive(Deserialize, Debug)]
struct Upload {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
    #[serde(rename = "Initiated")]
    initiated: String,
}

#[derive(Deserialize, Debug)]
struct CommonPrefix {
    #[serde(rename = "Prefix")]
    prefix: String,
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

/// The ETag S3 gives a multipart object: MD5 of the parts' binary MD5s, `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut joined = Vec::new();
    for p in parts {
        joined.extend(hex::decode(md5_hex(p)).unwrap());
    }
    format!("\"{}-{}\"", md5_hex(&joined), parts.len())
}

fn completion(parts: &[(u32, &str)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, etag) in parts {
        s.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

async fn create(h: &Harness, bucket: &str, key: &str, headers: &[(&str, &str)]) -> String {
    let resp = h
        .call_with("POST", &format!("/{bucket}/{key}?uploads"), headers, b"")
        .await
        .ok();
    let r: InitiateMultipartUploadResult = resp.xml();
    assert_eq!(r.bucket, bucket);
    assert_eq!(r.key, key);
    r.upload_id
}

async fn upload(h: &Harness, bucket: &str, key: &str, id: &str, n: u32, body: &[u8]) -> Resp {
    h.call(
        "PUT",
        &format!("/{bucket}/{key}?partNumber={n}&uploadId={id}"),
        body,
    )
    .await
}

async fn upload_ok(h: &Harness, bucket: &str, key: &str, id: &str, n: u32, body: &[u8]) -> String {
    let resp = upload(h, bucket, key, id, n, body).await.ok();
    let etag = resp.header("etag").expect("ETag").to_owned();
    assert_eq!(etag, format!("\"{}\"", md5_hex(body)));
    etag
}

async fn complete(h: &Harness, bucket: &str, key: &str, id: &str, doc: &str) -> Resp {
    h.call(
        "POST",
        &format!("/{bucket}/{key}?uploadId={id}"),
        doc.as_bytes(),
    )
    .await
}

async fn read(h: &Harness, bucket: &str, key: &str) -> (stratum_engine::ObjectInfo, Vec<u8>) {
    use futures::StreamExt;
    let mut get = h
        .engine
        .get_object(
            &BucketName::new(bucket).unwrap(),
            &ObjectKey::new(key).unwrap(),
            None,
        )
        .await
        .expect("object exists");
    let mut out = Vec::new();
    while let Some(chunk) = get.body.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    (get.info, out)
}

#[tokio::test]
async fn whole_multipart_flow() {
    let h = Harness::new().await;
    h.create_bucket("mpu").await;
    let id = create(
        &h,
        "mpu",
        "big.bin",
        &[
            ("content-type", "application/x-test"),
            ("x-amz-meta-colour", "blue"),
        ],
    )
    .await;
    let p1 = data(5 * MIB, 1);
    let p2 = data(1234, 2);
    let e1 = upload_ok(&h, "mpu", "big.bin", &id, 1, &p1).await;
    // A part may be uploaded again: the last one wins.
    upload_ok(&h, "mpu", "big.bin", &id, 2, b"first attempt").await;
    let e2 = upload_ok(&h, "mpu", "big.bin", &id, 2, &p2).await;

    let parts: ListPartsResult = h
        .call("GET", &format!("/mpu/big.bin?uploadId={id}"), b"")
        .await
        .ok()
        .xml();
    assert_eq!(parts.upload_id, id);
    assert_eq!(parts.storage_class, "STANDARD");
    let listed: Vec<(u32, &str, u64)> = parts
        .parts
        .iter()
        .map(|p| (p.part_number, p.etag.as_str(), p.size))
        .collect();
    assert_eq!(
        listed,
        [
            (1, e1.as_str(), p1.len() as u64),
            (2, e2.as_str(), p2.len() as u64)
        ]
    );

    let resp = complete(
        &h,
        "mpu",
        "big.bin",
        &id,
        &completion(&[(1, &e1), (2, &e2)]),
    )
    .await;
    let done: CompleteMultipartUploadResult = resp.ok().xml();
    assert_eq!(done.bucket, "mpu");
    assert_eq!(done.key, "big.bin");
    assert_eq!(done.location, "http://localhost/mpu/big.bin");
    assert_eq!(done.etag, multipart_etag(&[&p1, &p2]));
    assert!(done.checksum_crc32.is_none());

    let (info, bytes) = read(&h, "mpu", "big.bin").await;
    assert_eq!(bytes.len(), p1.len() + p2.len());
    assert!(bytes[..p1.len()] == p1[..] && bytes[p1.len()..] == p2[..]);
    assert_eq!(info.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(
        info.user_metadata,
        [("colour".to_owned(), "blue".to_owned())]
    );

    // The upload is gone once completed.
    h.call("GET", &format!("/mpu/big.bin?uploadId={id}"), b"")
        .await
        .err(404, "NoSuchUpload");
    complete(&h, "mpu", "big.bin", &id, &completion(&[(1, &e1)]))
        .await
        .err(404, "NoSuchUpload");
}

#[tokio::test]
async fn completion_errors() {
    let h = Harness::new().await;
    h.create_bucket("errs").await;
    let id = create(&h, "errs", "obj", &[]).await;
    let small1 = data(100, 1);
    let small2 = data(200, 2);
    let e1 = upload_ok(&h, "errs", "obj", &id, 1, &small1).await;
    let e2 = upload_ok(&h, "errs", "obj", &id, 2, &small2).await;

    let bad_etag = format!("\"{}\"", md5_hex(b"other"));
    complete(&h, "errs", "obj", &id, &completion(&[(1, &bad_etag)]))
        .await
        .err(400, "InvalidPart");
    complete(&h, "errs", "obj", &id, &completion(&[(3, &e2)]))
        .await
        .err(400, "InvalidPart");
    complete(&h, "errs", "obj", &id, &completion(&[(2, &e2), (1, &e1)]))
        .await
        .err(400, "InvalidPartOrder");
    let resp = complete(&h, "errs", "obj", &id, &completion(&[(1, &e1), (2, &e2)])).await;
    resp.err(400, "EntityTooSmall");
    for doc in [
        "",
        "<CompleteMultipartUpload>",
        "<CompleteMultipartUpload></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
        "<CompleteMultipartUpload><Part><ETag>a</ETag></Part></CompleteMultipartUpload>",
    ] {
        complete(&h, "errs", "obj", &id, doc)
            .await
            .err(400, "MalformedXML");
    }
    // A single small part is a whole object: the last part may be small.
    let resp = complete(&h, "errs", "obj", &id, &completion(&[(2, &e2)])).await;
    let done: CompleteMultipartUploadResult = resp.ok().xml();
    assert_eq!(done.etag, multipart_etag(&[&small2]));
    assert_eq!(read(&h, "errs", "obj").await.1, small2);

    // Part numbers outside 1..=10000, unknown uploads, missing buckets.
    let id = create(&h, "errs", "other", &[]).await;
    for n in ["0", "10001", "x"] {
        h.call(
            "PUT",
            &format!("/errs/other?partNumber={n}&uploadId={id}"),
            b"x",
        )
        .await
        .err(400, "InvalidArgument");
    }
    upload(&h, "errs", "other", "no-such-upload", 1, b"x")
        .await
        .err(404, "NoSuchUpload");
    upload(&h, "errs", "wrong-key", &id, 1, b"x")
        .await
        .err(404, "NoSuchUpload");
    h.call("POST", "/nobucket/k?uploads", b"")
        .await
        .err(404, "NoSuchBucket");

    // Without Content-Length, an unchunked body is refused.
    let mut req = crate::common::signed(
        "PUT",
        &format!("/errs/other?partNumber=1&uploadId={id}"),
        &[],
        b"abc",
    );
    req.headers_mut().remove("content-length");
    h.send(req).await.err(411, "MissingContentLength");

    // Abort: 204, then the upload is gone.
    let resp = h
        .call("DELETE", &format!("/errs/other?uploadId={id}"), b"")
        .await
        .ok();
    assert_eq!(resp.status, 204);
    h.call("DELETE", &format!("/errs/other?uploadId={id}"), b"")
        .await
        .err(404, "NoSuchUpload");
    upload(&h, "errs", "other", &id, 1, b"x")
        .await
        .err(404, "NoSuchUpload");
}

#[tokio::test]
async fn upload_part_copy_with_ranges_and_conditions() {
    let h = Harness::new().await;
    h.create_bucket("src").await;
    h.create_bucket("dst").await;
    let source = data(6 * MIB + 77, 9);
    let src = h.put("src", "dir/source file", &source).await;
    let id = create(&h, "dst", "copy", &[]).await;
    let copy_source = "/src/dir/source%20file";
    let split = 5 * MIB;

    let copy = |n: u32, range: String, extra: Vec<(&'static str, String)>| {
        let h = &h;
        let id = id.clone();
        async move {
            let mut headers: Vec<(&str, &str)> = vec![
                ("x-amz-copy-source", copy_source),
                ("x-amz-copy-source-range", &range),
            ];
            headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            h.call_with(
                "PUT",
                &format!("/dst/copy?partNumber={n}&uploadId={id}"),
                &headers,
                b"",
            )
            .await
        }
    };

    let r1: CopyPartResult = copy(
        1,
        format!("bytes=0-{}", split - 1),
        vec![("x-amz-copy-source-if-match", format!("\"{}\"", src.etag))],
    )
    .await
    .ok()
    .xml();
    assert_eq!(r1.etag, format!("\"{}\"", md5_hex(&source[..split])));
    assert!(r1.last_modified.ends_with('Z'));
    let r2: CopyPartResult = copy(2, format!("bytes={split}-{}", source.len() - 1), vec![])
        .await
        .ok()
        .xml();
    assert_eq!(r2.etag, format!("\"{}\"", md5_hex(&source[split..])));

    // Ranges must lie inside the source; conditions must hold.
    copy(3, format!("bytes=0-{}", source.len()), vec![])
        .await
        .err(416, "InvalidRange");
    copy(3, "bytes=10-5".to_owned(), vec![])
        .await
        .err(416, "InvalidRange");
    copy(3, "bytes=abc".to_owned(), vec![])
        .await
        .err(400, "InvalidArgument");
    copy(
        3,
        "bytes=0-9".to_owned(),
        vec![("x-amz-copy-source-if-match", "\"0123\"".to_owned())],
    )
    .await
    .err(412, "PreconditionFailed");
    copy(
        3,
        "bytes=0-9".to_owned(),
        vec![(
            "x-amz-copy-source-if-none-match",
            format!("\"{}\"", src.etag),
        )],
    )
    .await
    .err(412, "PreconditionFailed");
    let missing = h
        .call_with(
            "PUT",
            &format!("/dst/copy?partNumber=3&uploadId={id}"),
            &[("x-amz-copy-source", "src/nothing")],
            b"",
        )
        .await;
    missing.err(404, "NoSuchKey");

    // A whole-object part copy, then the completion of the copied parts.
    let whole: CopyPartResult = h
        .call_with(
            "PUT",
            &format!("/dst/copy?partNumber=4&uploadId={id}"),
            &[("x-amz-copy-source", "src/dir/source%20file?versionId=null")],
            b"",
        )
        .await
        .ok()
        .xml();
    assert_eq!(whole.etag, format!("\"{}\"", src.etag));
    let done: CompleteMultipartUploadResult = complete(
        &h,
        "dst",
        "copy",
        &id,
        &completion(&[(1, &r1.etag), (2, &r2.etag)]),
    )
    .await
    .ok()
    .xml();
    assert_eq!(
        done.etag,
        multipart_etag(&[&source[..split], &source[split..]])
    );
    assert_eq!(read(&h, "dst", "copy").await.1, source);
}

#[tokio::test]
async fn part_checksums_and_the_composite_checksum() {
    let h = Harness::new().await;
    h.create_bucket("sums").await;
    let resp = h
        .call_with(
            "POST",
            "/sums/obj?uploads",
            &[("x-amz-checksum-algorithm", "CRC32")],
            b"",
        )
        .await
        .ok();
    assert_eq!(resp.header("x-amz-checksum-algorithm"), Some("CRC32"));
    let id = resp.xml::<InitiateMultipartUploadResult>().upload_id;
    let body = data(1000, 3);
    let crc = stratum_engine::checksum_of(ChecksumAlgorithm::Crc32, &body);
    let crc_b64 = base64::engine::general_purpose::STANDARD.encode(&crc.digest);
    let wrong = base64::engine::general_purpose::STANDARD.encode([1u8, 2, 3, 4]);
    h.call_with(
        "PUT",
        &format!("/sums/obj?partNumber=1&uploadId={id}"),
        &[("x-amz-checksum-crc32", &wrong)],
        &body,
    )
    .await
    .err(400, "BadDigest");
    let resp = h
        .call_with(
            "PUT",
            &format!("/sums/obj?partNumber=1&uploadId={id}"),
            &[("x-amz-checksum-crc32", &crc_b64)],
            &body,
        )
        .await
        .ok();
    assert_eq!(resp.header("x-amz-checksum-crc32"), Some(crc_b64.as_str()));
    let etag = resp.header("etag").unwrap().to_owned();
    let done: CompleteMultipartUploadResult =
        complete(&h, "sums", "obj", &id, &completion(&[(1, &etag)]))
            .await
            .ok()
            .xml();
    let composite = stratum_engine::checksum_of(ChecksumAlgorithm::Crc32, &crc.digest);
    let expected = format!(
        "{}-1",
        base64::engine::general_purpose::STANDARD.encode(&composite.digest)
    );
    assert_eq!(done.checksum_crc32.as_deref(), Some(expected.as_str()));
}

#[tokio::test]
async fn list_parts_pagination() {
    let h = Harness::new().await;
    h.create_bucket("parts").await;
    let id = create(&h, "parts", "obj", &[]).await;
    for n in 1..=5u32 {
        upload_ok(&h, "parts", "obj", &id, n, &data(10 + n as usize, n as u8)).await;
    }
    let mut marker = 0;
    let mut pages = Vec::new();
    loop {
        let page: ListPartsResult = h
            .call(
                "GET",
                &format!("/parts/obj?uploadId={id}&max-parts=2&part-number-marker={marker}"),
                b"",
            )
            .await
            .ok()
            .xml();
        assert_eq!(page.max_parts, 2);
        assert_eq!(page.part_number_marker, marker);
        pages.push(page.parts.iter().map(|p| p.part_number).collect::<Vec<_>>());
        if !page.is_truncated {
            break;
        }
        marker = page.next_part_number_marker;
    }
    assert_eq!(pages, [vec![1, 2], vec![3, 4], vec![5]]);
    for bad in ["max-parts=-1", "max-parts=x", "part-number-marker=x"] {
        h.call("GET", &format!("/parts/obj?uploadId={id}&{bad}"), b"")
            .await
            .err(400, "InvalidArgument");
    }
}

#[tokio::test]
async fn list_multipart_uploads_pagination_and_prefixes() {
    let h = Harness::new().await;
    h.create_bucket("ups").await;
    let mut expected = Vec::new();
    for key in ["a/1", "a/2", "b/1", "c", "c", "d"] {
        let id = create(&h, "ups", key, &[]).await;
        expected.push((key.to_owned(), id));
    }
    expected.sort();

    // Two at a time with key and upload-id markers.
    let mut got = Vec::new();
    let mut markers: Option<(String, String)> = None;
    loop {
        let extra = markers
            .as_ref()
            .map(|(k, u)| format!("&key-marker={}&upload-id-marker={}", q(k), q(u)))
            .unwrap_or_default();
        let page: ListMultipartUploadsResult = h
            .call("GET", &format!("/ups?uploads&max-uploads=2{extra}"), b"")
            .await
            .ok()
            .xml();
        for u in &page.uploads {
            assert!(u.initiated.ends_with('Z'));
        }
        got.extend(
            page.uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone())),
        );
        if !page.is_truncated {
            break;
        }
        markers = Some((
            page.next_key_marker.clone().unwrap(),
            page.next_upload_id_marker.clone().unwrap(),
        ));
    }
    assert_eq!(got, expected);

    // A key marker alone skips every upload of that key.
    let page: ListMultipartUploadsResult = h
        .call("GET", "/ups?uploads&key-marker=c", b"")
        .await
        .ok()
        .xml();
    let keys: Vec<&str> = page.uploads.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["d"]);

    // With a delimiter: a/ and b/ roll up; a prefix narrows.
    let page: ListMultipartUploadsResult = h
        .call("GET", "/ups?uploads&delimiter=%2F&max-uploads=3", b"")
        .await
        .ok()
        .xml();
    let prefixes: Vec<&str> = page
        .common_prefixes
        .iter()
        .map(|p| p.prefix.as_str())
        .collect();
    assert_eq!(prefixes, ["a/", "b/"]);
    assert_eq!(page.uploads.len(), 1);
    assert_eq!(page.uploads[0].key, "c");
    assert!(page.is_truncated);
    let page: ListMultipartUploadsResult = h
        .call(
            "GET",
            &format!(
                "/ups?uploads&delimiter=%2F&key-marker=c&upload-id-marker={}",
                q(&page.next_upload_id_marker.clone().unwrap())
            ),
            b"",
        )
        .await
        .ok()
        .xml();
    let keys: Vec<&str> = page.uploads.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["c", "d"]);
    assert!(page.common_prefixes.is_empty());
    // Resuming after a common prefix does not return it again.
    let page: ListMultipartUploadsResult = h
        .call("GET", "/ups?uploads&delimiter=%2F&key-marker=a%2F", b"")
        .await
        .ok()
        .xml();
    let prefixes: Vec<&str> = page
        .common_prefixes
        .iter()
        .map(|p| p.prefix.as_str())
        .collect();
    assert_eq!(prefixes, ["b/"]);
    let page: ListMultipartUploadsResult = h
        .call("GET", "/ups?uploads&prefix=a%2F", b"")
        .await
        .ok()
        .xml();
    assert_eq!(page.uploads.len(), 2);
    h.call("GET", "/nobucket?uploads", b"")
        .await
        .err(404, "NoSuchBucket");
}

#[tokio::test]
async fn upload_part_with_a_trailing_checksum() {
    let h = Harness::new().await;
    h.create_bucket("trl").await;
    let id = create(&h, "trl", "obj", &[]).await;
    let body = data(70_000, 5);
    let crc = stratum_engine::checksum_of(ChecksumAlgorithm::Crc32, &body);
    let right = base64::engine::general_purpose::STANDARD.encode(&crc.digest);
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8, 7, 7, 7]);
    let len = body.len().to_string();
    for (trailer, ok) in [(wrong, false), (right.clone(), true)] {
        let mut chunked = Vec::new();
        for piece in body.chunks(65_536) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked
            .extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{trailer}\r\n\r\n").as_bytes());
        let req = crate::common::sign_with(
            "PUT",
            &format!("/trl/obj?partNumber=1&uploadId={id}"),
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", &len),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ],
            &chunked,
            crate::common::Payload::Declared("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            crate::common::SECRET_KEY,
        );
        let resp = h.send(req).await;
        if ok {
            let resp = resp.ok();
            assert_eq!(
                resp.header("etag"),
                Some(format!("\"{}\"", md5_hex(&body)).as_str())
            );
            assert_eq!(resp.header("x-amz-checksum-crc32"), Some(right.as_str()));
        } else {
            resp.err(400, "BadDigest");
            let parts: ListPartsResult = h
                .call("GET", &format!("/trl/obj?uploadId={id}"), b"")
                .await
                .ok()
                .xml();
            assert!(
                parts.parts.is_empty(),
                "a part with a bad checksum is not recorded"
            );
        }
    }
}
