//! End to end with aws-sdk-rust (`aws-sdk-s3`) against the real `stratum` binary: the client
//! configured as self-hosted deployments configure it (endpoint, static credentials, region
//! us-east-1, path-style addressing), everything else at the SDK's defaults (so its default
//! request checksums and response checksum validation are on).

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use md5::{Digest, Md5};
use stratum_workspace_tests::fs::{random_bytes, text_bytes};
use stratum_workspace_tests::Server;

/// The client every test uses. The HTTP client is the SDK's own hyper client, built without
/// TLS (the dev-dependency leaves the TLS stacks out; the server speaks plain http).
fn client(server: &Server) -> Client {
    let credentials = Credentials::new(
        server.access_key(),
        server.secret_key(),
        None,
        None,
        "stratum-e2e",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .credentials_provider(credentials)
        .region(Region::new("us-east-1"))
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

/// The error with its S3 code and the server log tail, for messages.
fn explain<E: std::error::Error>(server: &Server, what: &str, err: E) -> String {
    let mut chain = format!("{err}");
    let mut source = err.source();
    while let Some(s) = source {
        chain.push_str(&format!(": {s}"));
        source = s.source();
    }
    format!(
        "{what} failed: {chain}\n{err:?}\n--- server log (tail) ---\n{}",
        server.log_tail(30)
    )
}

macro_rules! ok {
    ($server:expr, $what:expr, $call:expr) => {
        match $call.await {
            Ok(v) => v,
            Err(e) => panic!("{}", explain($server, $what, e)),
        }
    };
}

async fn body_bytes(
    server: &Server,
    out: aws_sdk_s3::operation::get_object::GetObjectOutput,
) -> Vec<u8> {
    match out.body.collect().await {
        Ok(b) => b.into_bytes().to_vec(),
        Err(e) => panic!("{}", explain(server, "reading a GetObject body", e)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_objects() {
    let server = Server::start();
    let s3 = client(&server);
    let bucket = "sdk-objects";
    ok!(
        &server,
        "CreateBucket",
        s3.create_bucket().bucket(bucket).send()
    );

    // Small and 6 MiB puts (one request each: the SDK does no multipart on its own).
    let small = text_bytes(11, 4321);
    let big = random_bytes(12, 6 << 20);
    let put = ok!(
        &server,
        "PutObject small",
        s3.put_object()
            .bucket(bucket)
            .key("dir/small.txt")
            .content_type("text/plain")
            .body(ByteStream::from(small.clone()))
            .send()
    );
    let md5 = hex::encode(Md5::digest(&small));
    assert_eq!(
        put.e_tag(),
        Some(format!("\"{md5}\"").as_str()),
        "PutObject ETag"
    );
    ok!(
        &server,
        "PutObject 6 MiB",
        s3.put_object()
            .bucket(bucket)
            .key("dir/big.bin")
            .body(ByteStream::from(big.clone()))
            .send()
    );

    let got = ok!(
        &server,
        "GetObject small",
        s3.get_object().bucket(bucket).key("dir/small.txt").send()
    );
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(body_bytes(&server, got).await, small);
    let got = ok!(
        &server,
        "GetObject 6 MiB",
        s3.get_object().bucket(bucket).key("dir/big.bin").send()
    );
    assert!(
        body_bytes(&server, got).await == big,
        "6 MiB GetObject returned other bytes"
    );

    let range = ok!(
        &server,
        "GetObject range",
        s3.get_object()
            .bucket(bucket)
            .key("dir/big.bin")
            .range("bytes=1048570-1048589")
            .send()
    );
    assert_eq!(
        range.content_range(),
        Some(format!("bytes 1048570-1048589/{}", big.len()).as_str())
    );
    assert_eq!(body_bytes(&server, range).await, &big[1048570..1048590]);

    let head = ok!(
        &server,
        "HeadObject",
        s3.head_object().bucket(bucket).key("dir/big.bin").send()
    );
    assert_eq!(head.content_length(), Some(big.len() as i64));
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", hex::encode(Md5::digest(&big))).as_str())
    );

    // Listing: flat, then by delimiter.
    ok!(
        &server,
        "PutObject top",
        s3.put_object()
            .bucket(bucket)
            .key("top")
            .body(ByteStream::from_static(b"t"))
            .send()
    );
    let list = ok!(
        &server,
        "ListObjectsV2",
        s3.list_objects_v2().bucket(bucket).send()
    );
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/big.bin", "dir/small.txt", "top"]);
    let list = ok!(
        &server,
        "ListObjectsV2 delimiter",
        s3.list_objects_v2().bucket(bucket).delimiter("/").send()
    );
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    let prefixes: Vec<&str> = list
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!((keys, prefixes), (vec!["top"], vec!["dir/"]));

    // Copy, then read the copy.
    ok!(
        &server,
        "CopyObject",
        s3.copy_object()
            .bucket(bucket)
            .key("copy of small.txt")
            .copy_source(format!("{bucket}/dir/small.txt"))
            .send()
    );
    let got = ok!(
        &server,
        "GetObject copy",
        s3.get_object()
            .bucket(bucket)
            .key("copy of small.txt")
            .send()
    );
    assert_eq!(body_bytes(&server, got).await, small);

    // A missing key is NoSuchKey, typed.
    match s3.get_object().bucket(bucket).key("missing").send().await {
        Ok(_) => panic!("GetObject of a missing key succeeded"),
        Err(e) => {
            let service = e.into_service_error();
            assert!(
                service.is_no_such_key(),
                "expected NoSuchKey, got {service:?}"
            );
        }
    }

    // DeleteObjects for everything, then DeleteBucket.
    let ids: Vec<ObjectIdentifier> = [
        "dir/big.bin",
        "dir/small.txt",
        "top",
        "copy of small.txt",
        "never-existed",
    ]
    .iter()
    .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
    .collect();
    let deleted = ok!(
        &server,
        "DeleteObjects",
        s3.delete_objects()
            .bucket(bucket)
            .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
            .send()
    );
    assert_eq!(
        deleted.deleted().len(),
        5,
        "every key (even a missing one) is Deleted: {deleted:?}"
    );
    assert!(deleted.errors().is_empty(), "{deleted:?}");
    let list = ok!(
        &server,
        "ListObjectsV2 after delete",
        s3.list_objects_v2().bucket(bucket).send()
    );
    assert!(list.contents().is_empty(), "{list:?}");
    ok!(
        &server,
        "DeleteBucket",
        s3.delete_bucket().bucket(bucket).send()
    );
    let buckets = ok!(&server, "ListBuckets", s3.list_buckets().send());
    assert!(buckets.buckets().iter().all(|b| b.name() != Some(bucket)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_multipart() {
    let server = Server::start();
    let s3 = client(&server);
    let bucket = "sdk-multipart";
    ok!(
        &server,
        "CreateBucket",
        s3.create_bucket().bucket(bucket).send()
    );
    let part1 = random_bytes(21, 5 << 20);
    let part2 = text_bytes(22, (1 << 20) + 17);
    let key = "multi/part object";
    let created = ok!(
        &server,
        "CreateMultipartUpload",
        s3.create_multipart_upload().bucket(bucket).key(key).send()
    );
    let upload_id = created.upload_id().expect("an UploadId").to_string();
    let mut parts = Vec::new();
    for (n, body) in [(1, &part1), (2, &part2)] {
        let up = ok!(
            &server,
            "UploadPart",
            s3.upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(n)
                .body(ByteStream::from(body.clone()))
                .send()
        );
        let etag = up.e_tag().expect("an ETag").to_string();
        assert_eq!(
            etag,
            format!("\"{}\"", hex::encode(Md5::digest(body))),
            "part {n} ETag"
        );
        parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
    }
    let listed = ok!(
        &server,
        "ListParts",
        s3.list_parts()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .send()
    );
    assert_eq!(listed.parts().len(), 2, "{listed:?}");
    let done = ok!(
        &server,
        "CompleteMultipartUpload",
        s3.complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build()
            )
            .send()
    );
    let etag = done.e_tag().unwrap_or_default().to_string();
    assert!(etag.ends_with("-2\""), "a 2-part ETag: {etag}");

    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    let got = ok!(
        &server,
        "GetObject",
        s3.get_object().bucket(bucket).key(key).send()
    );
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert!(
        body_bytes(&server, got).await == whole,
        "the completed object has other bytes"
    );
    // A range across the part boundary.
    let start = (5 << 20) - 10;
    let range = ok!(
        &server,
        "GetObject range across parts",
        s3.get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + 19))
            .send()
    );
    assert_eq!(body_bytes(&server, range).await, &whole[start..start + 20]);

    // An aborted upload leaves nothing.
    let aborted = ok!(
        &server,
        "CreateMultipartUpload (to abort)",
        s3.create_multipart_upload()
            .bucket(bucket)
            .key("aborted")
            .send()
    );
    let aborted_id = aborted.upload_id().unwrap().to_string();
    ok!(
        &server,
        "UploadPart (to abort)",
        s3.upload_part()
            .bucket(bucket)
            .key("aborted")
            .upload_id(&aborted_id)
            .part_number(1)
            .body(ByteStream::from(part2.clone()))
            .send()
    );
    ok!(
        &server,
        "AbortMultipartUpload",
        s3.abort_multipart_upload()
            .bucket(bucket)
            .key("aborted")
            .upload_id(&aborted_id)
            .send()
    );
    let uploads = ok!(
        &server,
        "ListMultipartUploads",
        s3.list_multipart_uploads().bucket(bucket).send()
    );
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    let list = ok!(
        &server,
        "ListObjectsV2",
        s3.list_objects_v2().bucket(bucket).send()
    );
    let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key]);

    ok!(
        &server,
        "DeleteObject",
        s3.delete_object().bucket(bucket).key(key).send()
    );
    ok!(
        &server,
        "DeleteBucket",
        s3.delete_bucket().bucket(bucket).send()
    );
}
