//! ListObjects v1, ListObjectsV2 and ListObjectVersions: pagination over more than 1000
//! keys, delimiters and prefixes, continuation tokens, `encoding-type=url`, and the errors.

use serde::Deserialize;

use crate::common::{q, Harness};

#[derive(Deserialize, Debug)]
struct ListBucketResult {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Prefix", default)]
    prefix: String,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "NextMarker")]
    next_marker: Option<String>,
    #[serde(rename = "StartAfter")]
    start_after: Option<String>,
    #[serde(rename = "NextContinuationToken")]
    next_continuation_token: Option<String>,
    #[serde(rename = "KeyCount")]
    key_count: Option<usize>,
    #[serde(rename = "MaxKeys")]
    max_keys: usize,
    #[serde(rename = "Delimiter")]
    delimiter: Option<String>,
    #[serde(rename = "EncodingType")]
    encoding_type: Option<String>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Contents", default)]
    contents: Vec<Contents>,
    #[serde(rename = "CommonPrefixes", default)]
    common_prefixes: Vec<CommonPrefix>,
}

#[derive(Deserialize, Debug)]
struct Contents {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "LastModified")]
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "StorageClass")]
    storage_class: String,
    #[serde(rename = "Owner")]
    owner: Option<Owner>,
}

#[derive(Deserialize, Debug)]
struct Owner {
    #[serde(rename = "ID")]
    id: String,
}

#[derive(Deserialize, Debug)]
struct CommonPrefix {
    #[serde(rename = "Prefix")]
    prefix: String,
}

#[derive(Deserialize, Debug)]
struct ListVersionsResult {
    #[serde(rename = "NextKeyMarker")]
    next_key_marker: Option<String>,
    #[serde(rename = "NextVersionIdMarker")]
    next_version_id_marker: Option<String>,
    #[serde(rename = "IsTruncated")]
    is_truncated: bool,
    #[serde(rename = "Version", default)]
    versions: Vec<Version>,
    #[serde(rename = "DeleteMarker", default)]
    delete_markers: Vec<Version>,
    #[serde(rename = "CommonPrefixes", default)]
    common_prefixes: Vec<CommonPrefix>,
}

#[derive(Deserialize, Debug)]
struct Version {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "VersionId")]
    version_id: String,
    #[serde(rename = "IsLatest")]
    is_latest: bool,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "Size")]
    size: u64,
}

/// 1,250 keys under three directories, plus 50 at the top: more than one page of 1000.
fn keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..1250)
        .map(|i| format!("dir{}/file{i:04}", i % 3))
        .collect();
    keys.extend((0..50).map(|i| format!("top{i:02}")));
    keys.sort();
    keys
}

async fn populated() -> Harness {
    let h = Harness::new().await;
    h.create_bucket("big").await;
    h.put_many("big", &keys()).await;
    h
}

async fn v2(h: &Harness, query: &str) -> ListBucketResult {
    h.call("GET", &format!("/big?list-type=2{query}"), b"")
        .await
        .ok()
        .xml()
}

async fn v1(h: &Harness, query: &str) -> ListBucketResult {
    h.call("GET", &format!("/big?{query}"), b"")
        .await
        .ok()
        .xml()
}

fn keys_of(page: &ListBucketResult) -> Vec<String> {
    page.contents.iter().map(|c| c.key.clone()).collect()
}

fn prefixes_of(page: &ListBucketResult) -> Vec<String> {
    page.common_prefixes
        .iter()
        .map(|c| c.prefix.clone())
        .collect()
}

#[tokio::test]
async fn listing_pages_over_more_than_1000_keys() {
    let h = populated().await;
    let all = keys();

    // ListObjectsV2: continuation tokens until the end.
    let first = v2(&h, "").await;
    assert_eq!(first.name, "big");
    assert_eq!(first.key_count, Some(1000));
    assert_eq!(first.max_keys, 1000);
    assert!(first.is_truncated);
    assert!(first.contents[0].etag.starts_with('"'));
    assert_eq!(first.contents[0].storage_class, "STANDARD");
    assert_eq!(first.contents[0].size, all[0].len() as u64);
    assert!(first.contents[0].last_modified.ends_with('Z'));
    assert!(
        first.contents[0].owner.is_none(),
        "no Owner without fetch-owner"
    );
    let mut got = keys_of(&first);
    let mut token = first.next_continuation_token.clone();
    while let Some(t) = token {
        let page = v2(&h, &format!("&continuation-token={}", q(&t))).await;
        got.extend(keys_of(&page));
        token = page.next_continuation_token.clone();
        assert_eq!(page.is_truncated, token.is_some());
    }
    assert_eq!(got, all);

    // ListObjects v1: no NextMarker without a delimiter; the last key is the marker.
    let first = v1(&h, "").await;
    assert!(first.is_truncated);
    assert_eq!(first.marker.as_deref(), Some(""));
    assert!(first.next_marker.is_none());
    assert!(first.contents[0].owner.is_some(), "v1 always lists owners");
    let last = first.contents.last().unwrap().key.clone();
    let second = v1(&h, &format!("marker={}", q(&last))).await;
    assert!(!second.is_truncated);
    let mut got = keys_of(&first);
    got.extend(keys_of(&second));
    assert_eq!(got, all);
}

#[tokio::test]
async fn delimiter_and_prefix_pagination() {
    let h = populated().await;
    let all = keys();

    // The top level: three common prefixes and 50 keys, paged two at a time.
    let mut prefixes = Vec::new();
    let mut top = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let extra = token
            .as_ref()
            .map(|t| format!("&continuation-token={}", q(t)))
            .unwrap_or_default();
        let page = v2(&h, &format!("&delimiter=%2F&max-keys=2{extra}")).await;
        pages += 1;
        assert_eq!(page.delimiter.as_deref(), Some("/"));
        assert_eq!(
            page.key_count,
            Some(page.contents.len() + page.common_prefixes.len())
        );
        prefixes.extend(prefixes_of(&page));
        top.extend(keys_of(&page));
        token = page.next_continuation_token.clone();
        if token.is_none() {
            assert!(!page.is_truncated);
            break;
        }
    }
    assert_eq!(prefixes, ["dir0/", "dir1/", "dir2/"]);
    assert_eq!(top.len(), 50);
    assert_eq!(pages, 27);

    // v1 with a delimiter: NextMarker, which may be a common prefix.
    let page = v1(&h, "delimiter=%2F&max-keys=2").await;
    assert!(page.is_truncated);
    assert_eq!(prefixes_of(&page), ["dir0/", "dir1/"]);
    assert_eq!(page.next_marker.as_deref(), Some("dir1/"));
    let page = v1(&h, "delimiter=%2F&max-keys=2&marker=dir1%2F").await;
    assert_eq!(prefixes_of(&page), ["dir2/"]);
    assert_eq!(keys_of(&page), ["top00"]);
    assert_eq!(page.next_marker.as_deref(), Some("top00"));

    // Under one prefix, 417 keys in pages of 250, with start-after on the first.
    let expected: Vec<&String> = all.iter().filter(|k| k.starts_with("dir1/")).collect();
    let first = v2(&h, "&prefix=dir1%2F&max-keys=250&start-after=dir1%2F").await;
    assert_eq!(first.prefix, "dir1/");
    assert_eq!(first.start_after.as_deref(), Some("dir1/"));
    assert_eq!(first.contents.len(), 250);
    let token = first.next_continuation_token.clone().unwrap();
    let second = v2(
        &h,
        &format!(
            "&prefix=dir1%2F&max-keys=250&continuation-token={}",
            q(&token)
        ),
    )
    .await;
    assert!(!second.is_truncated);
    let got: Vec<String> = keys_of(&first)
        .into_iter()
        .chain(keys_of(&second))
        .collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), expected);

    // start-after past everything, max-keys=0, a prefix matching nothing.
    let page = v2(&h, "&start-after=zzz").await;
    assert!(page.contents.is_empty() && !page.is_truncated);
    let page = v2(&h, "&max-keys=0").await;
    assert_eq!(page.key_count, Some(0));
    assert!(!page.is_truncated);
    let page = v2(&h, "&prefix=nope").await;
    assert_eq!(page.key_count, Some(0));
}

#[tokio::test]
async fn listing_arguments_are_checked() {
    let h = Harness::new().await;
    h.create_bucket("args").await;
    for query in [
        "list-type=2&max-keys=-1",
        "list-type=2&max-keys=ten",
        "list-type=2&continuation-token=%21%21not-base64",
        "list-type=2&encoding-type=base64",
        "list-type=2&fetch-owner=maybe",
        "max-keys=-5",
        "versions&version-id-marker=null",
        "versions&key-marker=a&version-id-marker=3HL4kqtJ",
    ] {
        h.call("GET", &format!("/args?{query}"), b"")
            .await
            .err(400, "InvalidArgument");
    }
    for query in ["list-type=2", "", "versions"] {
        h.call("GET", &format!("/nobucket?{query}"), b"")
            .await
            .err(404, "NoSuchBucket");
    }
    // More than 1000 is capped, as S3 does.
    let page: ListBucketResult = h
        .call("GET", "/args?list-type=2&max-keys=5000", b"")
        .await
        .ok()
        .xml();
    assert_eq!(page.max_keys, 1000);
}

#[tokio::test]
async fn encoding_type_url_and_fetch_owner() {
    let h = Harness::new().await;
    h.create_bucket("enc").await;
    for k in ["a b/c+d&é", "a b/x", "plain"] {
        h.put("enc", k, b"x").await;
    }
    let page: ListBucketResult = h
        .call(
            "GET",
            "/enc?list-type=2&encoding-type=url&fetch-owner=true&prefix=a%20b&delimiter=%2F&start-after=a",
            b"",
        )
        .await
        .ok()
        .xml();
    assert_eq!(page.encoding_type.as_deref(), Some("url"));
    assert_eq!(page.prefix, "a%20b");
    assert_eq!(page.start_after.as_deref(), Some("a"));
    assert_eq!(prefixes_of(&page), ["a%20b/"]);
    let page: ListBucketResult = h
        .call(
            "GET",
            "/enc?list-type=2&encoding-type=url&fetch-owner=true",
            b"",
        )
        .await
        .ok()
        .xml();
    assert_eq!(keys_of(&page), ["a%20b/c%2Bd%26%C3%A9", "a%20b/x", "plain"]);
    assert_eq!(page.contents[0].owner.as_ref().unwrap().id, "stratum");
    // Without encoding-type, keys come back as they are.
    let page: ListBucketResult = h.call("GET", "/enc?list-type=2", b"").await.ok().xml();
    assert_eq!(keys_of(&page), ["a b/c+d&é", "a b/x", "plain"]);
    let page: ListBucketResult = h
        .call("GET", "/enc?encoding-type=url&marker=a%20b%2Fc", b"")
        .await
        .ok()
        .xml();
    assert_eq!(page.marker.as_deref(), Some("a%20b/c"));
    assert_eq!(keys_of(&page), ["a%20b/c%2Bd%26%C3%A9", "a%20b/x", "plain"]);
}

#[tokio::test]
async fn list_object_versions_of_an_unversioned_bucket() {
    let h = Harness::new().await;
    h.create_bucket("vers").await;
    let keys: Vec<String> = ["a/1", "a/2", "b", "c", "d"].map(String::from).to_vec();
    h.put_many("vers", &keys).await;

    let page: ListVersionsResult = h
        .call("GET", "/vers?versions&max-keys=2", b"")
        .await
        .ok()
        .xml();
    assert!(page.is_truncated);
    assert!(page.delete_markers.is_empty());
    let got: Vec<&str> = page.versions.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(got, ["a/1", "a/2"]);
    for v in &page.versions {
        assert_eq!(v.version_id, "null");
        assert!(v.is_latest);
        assert_eq!(
            v.etag,
            format!("\"{}\"", crate::common::md5_hex(v.key.as_bytes()))
        );
        assert_eq!(v.size, v.key.len() as u64);
    }
    assert_eq!(page.next_key_marker.as_deref(), Some("a/2"));
    assert_eq!(page.next_version_id_marker.as_deref(), Some("null"));

    let page: ListVersionsResult = h
        .call(
            "GET",
            "/vers?versions&max-keys=2&key-marker=a%2F2&version-id-marker=null",
            b"",
        )
        .await
        .ok()
        .xml();
    let got: Vec<&str> = page.versions.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(got, ["b", "c"]);
    let page: ListVersionsResult = h
        .call("GET", "/vers?versions&key-marker=c", b"")
        .await
        .ok()
        .xml();
    let got: Vec<&str> = page.versions.iter().map(|v| v.key.as_str()).collect();
    assert_eq!(got, ["d"]);
    assert!(!page.is_truncated);
    assert!(page.next_key_marker.is_none());

    // With a delimiter, a common prefix ends a page without a version id marker.
    let page: ListVersionsResult = h
        .call("GET", "/vers?versions&delimiter=%2F&max-keys=1", b"")
        .await
        .ok()
        .xml();
    assert_eq!(page.common_prefixes.len(), 1);
    assert_eq!(page.common_prefixes[0].prefix, "a/");
    assert_eq!(page.next_key_marker.as_deref(), Some("a/"));
    assert!(page.next_version_id_marker.is_none());
}

/// Elements come in the order S3 sends them (some clients read XML as a stream).
#[tokio::test]
async fn elements_follow_s3_order() {
    let h = Harness::new().await;
    h.create_bucket("order").await;
    h.put("order", "d/k", b"x").await;
    h.put("order", "k", b"x").await;
    // Each element must open after the one before it.
    let in_order = |text: &str, names: &[&str]| {
        let mut from = 0;
        for n in names {
            let found = [format!("<{n}>"), format!("<{n}/>"), format!("<{n} ")]
                .iter()
                .filter_map(|tag| text[from..].find(tag.as_str()))
                .min();
            match found {
                Some(at) => from += at + 1,
                None => panic!("{n} after byte {from} of {names:?} in {text}"),
            }
        }
    };
    let v2 = h
        .call(
            "GET",
            "/order?list-type=2&delimiter=%2F&start-after=a&fetch-owner=true",
            b"",
        )
        .await
        .ok()
        .text();
    assert!(v2.contains("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"));
    in_order(
        &v2,
        &[
            "Name",
            "Prefix",
            "StartAfter",
            "KeyCount",
            "MaxKeys",
            "Delimiter",
            "IsTruncated",
            "Contents",
            "Key",
            "LastModified",
            "ETag",
            "Size",
            "Owner",
            "StorageClass",
            "CommonPrefixes",
        ],
    );
    let v1 = h.call("GET", "/order?delimiter=%2F", b"").await.ok().text();
    in_order(
        &v1,
        &[
            "Name",
            "Prefix",
            "Marker",
            "MaxKeys",
            "Delimiter",
            "IsTruncated",
            "Contents",
        ],
    );
    let versions = h.call("GET", "/order?versions", b"").await.ok().text();
    in_order(
        &versions,
        &[
            "Name",
            "Prefix",
            "KeyMarker",
            "VersionIdMarker",
            "MaxKeys",
            "IsTruncated",
            "Version",
            "Key",
            "VersionId",
            "IsLatest",
            "LastModified",
            "ETag",
            "Size",
            "StorageClass",
            "Owner",
        ],
    );
}
