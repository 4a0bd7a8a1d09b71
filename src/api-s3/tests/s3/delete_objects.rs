//! DeleteObjects: verbose and quiet results, per-key errors, the required integrity header
//! and its checks, and the document limits.

use base64::Engine as _;
use serde::Deserialize;
use stratum_core::{BucketName, ChecksumAlgorithm, ObjectKey};

use crate::common::{content_md5, Harness};

#[derive(Deserialize, Debug)]
struct DeleteResult {
    #[serde(rename = "Deleted", default)]
    deleted: Vec<Deleted>,
    #[serde(rename = "Error", default)]
    errors: Vec<DeleteError>,
}

#[derive(Deserialize, Debug)]
struct Deleted {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "VersionId")]
    version_id: Option<String>,
}

#[derive(Deserialize, Debug)]
struct DeleteError {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message")]
    message: String,
}

fn document(quiet: bool, keys: &[&str]) -> String {
    let mut s = String::from("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    if quiet {
        s.push_str("<Quiet>true</Quiet>");
    }
    for k in keys {
        s.push_str(&format!("<Object><Key>{k}</Key></Object>"));
    }
    s.push_str("</Delete>");
    s
}

async fn exists(h: &Harness, bucket: &str, key: &str) -> bool {
    h.engine
        .head_object(
            &BucketName::new(bucket).unwrap(),
            &ObjectKey::new(key).unwrap(),
        )
        .await
        .is_ok()
}

async fn delete(h: &Harness, bucket: &str, doc: &str) -> crate::common::Resp {
    let md5 = content_md5(doc.as_bytes());
    h.call_with(
        "POST",
        &format!("/{bucket}?delete"),
        &[("content-md5", &md5)],
        doc.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn verbose_and_quiet_deletes() {
    let h = Harness::new().await;
    h.create_bucket("del").await;
    for k in ["a", "b", "c", "d"] {
        h.put("del", k, b"data").await;
    }
    h.put("del", "e & f", b"data").await;

    // Verbose: every key, in request order, missing ones included.
    let resp = delete(
        &h,
        "del",
        &document(false, &["a", "missing", "b", "e &amp; f"]),
    )
    .await;
    let result: DeleteResult = resp.ok().xml();
    let deleted: Vec<&str> = result.deleted.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(deleted, ["a", "missing", "b", "e & f"]);
    assert!(result.errors.is_empty());
    assert!(!exists(&h, "del", "a").await);
    assert!(!exists(&h, "del", "e & f").await);
    assert!(exists(&h, "del", "c").await);

    // Quiet: only errors; a key that is too long is that key's error, not the request's.
    let long = "k".repeat(1025);
    let resp = delete(&h, "del", &document(true, &["c", &long, "d"])).await;
    let result: DeleteResult = resp.ok().xml();
    assert!(result.deleted.is_empty());
    assert_eq!(result.errors.len(), 1);
    assert_eq!(result.errors[0].key, long);
    assert_eq!(result.errors[0].code, "KeyTooLongError");
    assert!(!result.errors[0].message.is_empty());
    assert!(!exists(&h, "del", "c").await && !exists(&h, "del", "d").await);

    // The null version is the object; any other version id is that key's error.
    let doc = "<Delete><Object><Key>x</Key><VersionId>null</VersionId></Object>\
               <Object><Key>y</Key><VersionId>3HL4kqtJlcpXroDTDmJ</VersionId></Object></Delete>";
    let result: DeleteResult = delete(&h, "del", doc).await.ok().xml();
    assert_eq!(result.deleted.len(), 1);
    assert_eq!(result.deleted[0].version_id.as_deref(), Some("null"));
    assert_eq!(result.errors[0].key, "y");
    assert_eq!(result.errors[0].code, "InvalidArgument");
}

#[tokio::test]
async fn integrity_header_is_required_and_checked() {
    let h = Harness::new().await;
    h.create_bucket("digest").await;
    h.put("digest", "keep", b"data").await;
    let doc = document(false, &["keep"]);
    let body = doc.as_bytes();

    let resp = h.call("POST", "/digest?delete", body).await;
    resp.err(400, "InvalidRequest");
    assert!(resp.text().contains("Content-MD5"));

    let wrong = content_md5(b"something else");
    h.call_with("POST", "/digest?delete", &[("content-md5", &wrong)], body)
        .await
        .err(400, "BadDigest");
    h.call_with(
        "POST",
        "/digest?delete",
        &[("content-md5", "not-md5")],
        body,
    )
    .await
    .err(400, "InvalidDigest");
    let wrong_crc = base64::engine::general_purpose::STANDARD.encode([0u8, 0, 0, 0]);
    h.call_with(
        "POST",
        "/digest?delete",
        &[("x-amz-checksum-crc32", &wrong_crc)],
        body,
    )
    .await
    .err(400, "BadDigest");
    assert!(
        exists(&h, "digest", "keep").await,
        "nothing deleted on a bad digest"
    );

    // A right x-amz-checksum-* header stands in for Content-MD5.
    let crc = stratum_engine::checksum_of(ChecksumAlgorithm::Crc32, body);
    let crc = base64::engine::general_purpose::STANDARD.encode(&crc.digest);
    let result: DeleteResult = h
        .call_with(
            "POST",
            "/digest?delete",
            &[("x-amz-checksum-crc32", &crc)],
            body,
        )
        .await
        .ok()
        .xml();
    assert_eq!(result.deleted.len(), 1);
    assert!(!exists(&h, "digest", "keep").await);
}

#[tokio::test]
async fn document_limits_and_missing_bucket() {
    let h = Harness::new().await;
    h.create_bucket("limits").await;
    let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    delete(&h, "limits", &document(false, &refs))
        .await
        .err(400, "MalformedXML");
    let result: DeleteResult = delete(&h, "limits", &document(true, &refs[..1000]))
        .await
        .ok()
        .xml();
    assert!(result.deleted.is_empty() && result.errors.is_empty());
    delete(&h, "limits", &document(false, &[]))
        .await
        .err(400, "MalformedXML");
    delete(&h, "limits", "<Delete><Object><Key>a</Key>")
        .await
        .err(400, "MalformedXML");
    delete(
        &h,
        "limits",
        "<Delete><Quiet>perhaps</Quiet><Object><Key>a</Key></Object></Delete>",
    )
    .await
    .err(400, "MalformedXML");
    delete(&h, "nobucket", &document(false, &["a"]))
        .await
        .err(404, "NoSuchBucket");
}

/// An `aws-chunked` body in the unsigned-trailer mode, its checksum in the trailer.
fn unsigned_trailer_body(data: &[u8], trailer_crc32: &str) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n0\r\n");
    out.extend_from_slice(format!("x-amz-checksum-crc32:{trailer_crc32}\r\n\r\n").as_bytes());
    out
}

#[tokio::test]
async fn trailing_checksum_stands_in_for_content_md5() {
    let h = Harness::new().await;
    h.create_bucket("trailer").await;
    h.put("trailer", "k", b"data").await;
    let doc = document(false, &["k"]);
    let len = doc.len().to_string();
    let crc = stratum_engine::checksum_of(ChecksumAlgorithm::Crc32, doc.as_bytes());
    let right = base64::engine::general_purpose::STANDARD.encode(&crc.digest);
    let wrong = base64::engine::general_purpose::STANDARD.encode([9u8, 9, 9, 9]);
    for (trailer, ok) in [(wrong, false), (right, true)] {
        let req = crate::common::sign_with(
            "POST",
            "/trailer?delete",
            &[
                ("content-encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", &len),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ],
            &unsigned_trailer_body(doc.as_bytes(), &trailer),
            crate::common::Payload::Declared("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            crate::common::SECRET_KEY,
        );
        let resp = h.send(req).await;
        if ok {
            let result: DeleteResult = resp.ok().xml();
            assert_eq!(result.deleted.len(), 1);
            assert!(!exists(&h, "trailer", "k").await);
        } else {
            resp.err(400, "BadDigest");
            assert!(exists(&h, "trailer", "k").await);
        }
    }
}

#[tokio::test]
async fn keys_keep_their_whitespace_and_escapes() {
    let h = Harness::new().await;
    h.create_bucket("spaces").await;
    for k in [" lead", "trail ", "in side", "a<b>&'\""] {
        h.put("spaces", k, b"x").await;
    }
    let doc = "<Delete><Object><Key> lead</Key></Object><Object><Key>trail </Key></Object>\
               <Object><Key>in side</Key></Object>\
               <Object><Key>a&lt;b&gt;&amp;&apos;&quot;</Key></Object></Delete>";
    let resp = delete(&h, "spaces", doc).await.ok();
    // Read the raw text: serde's XML reader would trim the keys it hands back.
    let text = resp.text();
    for k in [
        "<Key> lead</Key>",
        "<Key>trail </Key>",
        "<Key>in side</Key>",
    ] {
        assert!(text.contains(k), "{k} in {text}");
    }
    let result: DeleteResult = resp.xml();
    assert_eq!(result.deleted.len(), 4);
    assert_eq!(result.deleted[3].key, "a<b>&'\"");
    for k in [" lead", "trail ", "in side", "a<b>&'\""] {
        assert!(!exists(&h, "spaces", k).await, "{k:?} is gone");
    }
}
