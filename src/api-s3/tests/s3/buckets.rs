//! Bucket operations: the lifecycle and its errors, location and versioning, ListBuckets.

use serde::Deserialize;

use crate::common::Harness;

#[derive(Deserialize, Debug)]
struct ListAllMyBucketsResult {
    #[serde(rename = "Owner")]
    owner: Owner,
    #[serde(rename = "Buckets")]
    buckets: Buckets,
    #[serde(rename = "ContinuationToken")]
    continuation_token: Option<String>,
}

#[derive(Deserialize, Debug)]
struct Owner {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "DisplayName")]
    display_name: String,
}

#[derive(Deserialize, Debug)]
struct Buckets {
    #[serde(rename = "Bucket", default)]
    bucket: Vec<Bucket>,
}

#[derive(Deserialize, Debug)]
struct Bucket {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "CreationDate")]
    creation_date: String,
}

fn names(l: &ListAllMyBucketsResult) -> Vec<&str> {
    l.buckets.bucket.iter().map(|b| b.name.as_str()).collect()
}

#[tokio::test]
async fn bucket_lifecycle_and_its_errors() {
    let h = Harness::new().await;
    let empty: ListAllMyBucketsResult = h.call("GET", "/", b"").await.ok().xml();
    assert!(empty.buckets.bucket.is_empty());
    assert_eq!(empty.owner.id, "stratum");
    assert_eq!(empty.owner.display_name, "stratum");

    let created = h.call("PUT", "/photos", b"").await.ok();
    assert_eq!(created.status, 200);
    assert_eq!(created.header("location"), Some("/photos"));
    h.call("PUT", "/photos", b"")
        .await
        .err(409, "BucketAlreadyOwnedByYou");
    h.call("PUT", "/Bad_Name", b"")
        .await
        .err(400, "InvalidBucketName");
    h.call("PUT", "/ab", b"")
        .await
        .err(400, "InvalidBucketName");

    let head = h.call("HEAD", "/photos", b"").await.ok();
    assert_eq!(head.header("x-amz-bucket-region"), Some("us-east-1"));
    let missing = h.call("HEAD", "/nothing-here", b"").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());

    let listed: ListAllMyBucketsResult = h.call("GET", "/", b"").await.ok().xml();
    assert_eq!(names(&listed), ["photos"]);
    let date = &listed.buckets.bucket[0].creation_date;
    assert!(date.ends_with('Z') && date.len() == 24, "{date}");

    h.put("photos", "cat.jpg", b"meow").await;
    h.call("DELETE", "/photos", b"")
        .await
        .err(409, "BucketNotEmpty");
    h.engine
        .delete_object(
            &stratum_core::BucketName::new("photos").unwrap(),
            &stratum_core::ObjectKey::new("cat.jpg").unwrap(),
            stratum_engine::PutCondition::None,
        )
        .await
        .unwrap();
    let deleted = h.call("DELETE", "/photos", b"").await.ok();
    assert_eq!(deleted.status, 204);
    h.call("DELETE", "/photos", b"")
        .await
        .err(404, "NoSuchBucket");
    h.call("GET", "/photos?location", b"")
        .await
        .err(404, "NoSuchBucket");
    h.call("GET", "/photos?versioning", b"")
        .await
        .err(404, "NoSuchBucket");
}

#[tokio::test]
async fn location_and_versioning_of_an_existing_bucket() {
    let h = Harness::new().await;
    h.create_bucket("docs").await;
    let loc = h.call("GET", "/docs?location", b"").await.ok();
    let text = loc.text();
    assert!(text.contains("<LocationConstraint"), "{text}");
    assert!(
        !text.contains("us-east-1"),
        "us-east-1 is the empty constraint: {text}"
    );
    let ver = h.call("GET", "/docs?versioning", b"").await.ok();
    assert!(
        ver.text().contains("<VersioningConfiguration"),
        "{}",
        ver.text()
    );
    assert!(!ver.text().contains("<Status>"));
}

#[tokio::test]
async fn create_bucket_configuration_names_this_region_or_none() {
    let h = Harness::new().await;
    let config = |region: &str| {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        )
    };
    h.call("PUT", "/east", config("us-east-1").as_bytes())
        .await
        .ok();
    h.call("PUT", "/west", config("eu-west-1").as_bytes())
        .await
        .err(400, "InvalidArgument");
    h.call("PUT", "/broken", b"<CreateBucketConfiguration>")
        .await
        .err(400, "MalformedXML");
    h.call("PUT", "/blank", b"<CreateBucketConfiguration/>")
        .await
        .ok();
    let listed: ListAllMyBucketsResult = h.call("GET", "/", b"").await.ok().xml();
    assert_eq!(names(&listed), ["blank", "east"]);
}

#[tokio::test]
async fn list_buckets_pages_by_prefix_and_max_buckets() {
    let h = Harness::new().await;
    for name in ["a-one", "a-two", "a-three", "b-one"] {
        h.create_bucket(name).await;
    }
    let first: ListAllMyBucketsResult = h
        .call("GET", "/?prefix=a-&max-buckets=2", b"")
        .await
        .ok()
        .xml();
    assert_eq!(names(&first), ["a-one", "a-three"]);
    let token = first.continuation_token.expect("a next page");
    let second: ListAllMyBucketsResult = h
        .call(
            "GET",
            &format!(
                "/?prefix=a-&max-buckets=2&continuation-token={}",
                crate::common::q(&token)
            ),
            b"",
        )
        .await
        .ok()
        .xml();
    assert_eq!(names(&second), ["a-two"]);
    assert!(second.continuation_token.is_none());
    h.call("GET", "/?max-buckets=0", b"")
        .await
        .err(400, "InvalidArgument");
}
