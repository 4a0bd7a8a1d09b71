//! From an HTTP request to an S3 operation: addressing (path-style and virtual-hosted-style),
//! the decoded query, and the one closed [`Operation`] enum every request is classified into.

use percent_encoding::percent_decode_str;
use stratum_core::{BucketName, ObjectKey};

use crate::error::{S3Error, S3ErrorCode};

/// Every S3 operation this server implements, plus the ones it recognises and refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // The variant names are the S3 operation names.
pub enum Operation {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// A valid S3 request for an operation this server does not implement (501); the name of
    /// its sub-resource is kept for logs and metrics.
    NotImplemented(&'static str),
}

impl Operation {
    /// The operation's name for logs and metrics.
    pub fn name(self) -> &'static str {
        use Operation::*;
        match self {
            ListBuckets => "ListBuckets",
            CreateBucket => "CreateBucket",
            HeadBucket => "HeadBucket",
            DeleteBucket => "DeleteBucket",
            GetBucketLocation => "GetBucketLocation",
            GetBucketVersioning => "GetBucketVersioning",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            ListObjectVersions => "ListObjectVersions",
            ListMultipartUploads => "ListMultipartUploads",
            DeleteObjects => "DeleteObjects",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            DeleteObject => "DeleteObject",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            UploadPartCopy => "UploadPartCopy",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListParts => "ListParts",
            NotImplemented(_) => "NotImplemented",
        }
    }
}

/// Bucket sub-resources S3 defines that this server does not implement.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "logging",
    "metadataConfiguration",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "website",
];

/// Object sub-resources S3 defines that this server does not implement.
const OBJECT_SUBRESOURCES: &[&str] = &[
    "acl",
    "attributes",
    "legal-hold",
    "restore",
    "retention",
    "select",
    "tagging",
    "torrent",
];

/// The decoded query string, pairs in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a raw query string; `+` is a space (form encoding, as S3 accepts).
    pub fn parse(raw: &str) -> Query {
        Query(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode_component(k), decode_component(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, decoded, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether `name` is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// The first of `names` that is present.
    fn first_of(&self, names: &[&'static str]) -> Option<&'static str> {
        names.iter().copied().find(|n| self.has(n))
    }
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Where a request points: bucket and key, decoded and validated.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The bucket, if any.
    pub bucket: Option<BucketName>,
    /// The key, if any.
    pub key: Option<ObjectKey>,
}

/// Splits a request into bucket and key. With `Host` equal to `<bucket>.<domain>` for one of
/// `domains`, the bucket comes from the host and the whole path is the key (virtual-hosted
/// style); otherwise the first path segment is the bucket (path style).
pub fn target(host: Option<&str>, raw_path: &str, domains: &[String]) -> Result<Target, S3Error> {
    let host = host.map(|h| strip_port(h).to_ascii_lowercase());
    let from_host = host.as_deref().and_then(|h| {
        domains.iter().find_map(|d| {
            h.strip_suffix(d.as_str())
                .and_then(|rest| rest.strip_suffix('.'))
                .filter(|b| !b.is_empty())
                .map(str::to_owned)
        })
    });
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidURI, "Couldn't parse the specified URI."))?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    let (bucket, key) = match from_host {
        Some(b) => (Some(b), (!path.is_empty()).then(|| path.to_owned())),
        None => match path.split_once('/') {
            Some((b, k)) => (Some(b.to_owned()), (!k.is_empty()).then(|| k.to_owned())),
            None if path.is_empty() => (None, None),
            None => (Some(path.to_owned()), None),
        },
    };
    let bucket = bucket.map(bucket_name).transpose()?;
    let key = key.map(ObjectKey::new).transpose()?;
    Ok(Target { bucket, key })
}

/// Validates a bucket name; a name that cannot exist answers NoSuchBucket on reads, so the
/// caller decides. Here: InvalidBucketName.
fn bucket_name(name: String) -> Result<BucketName, S3Error> {
    BucketName::new(name).map_err(S3Error::from)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[..h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Classifies a request. Unknown query parameters (`x-id=...` that SDKs add) are ignored;
/// known sub-resources this server does not implement are [`Operation::NotImplemented`].
pub fn classify(
    method: &http::Method,
    target: &Target,
    query: &Query,
    has_copy_source: bool,
) -> Result<Operation, S3Error> {
    use http::Method;
    use Operation::*;
    let op = match (target.bucket.is_some(), target.key.is_some()) {
        (false, _) => match *method {
            Method::GET => ListBuckets,
            _ => return Err(method_not_allowed()),
        },
        (true, false) => {
            let sub = query.first_of(BUCKET_SUBRESOURCES);
            match *method {
                Method::GET if query.has("location") => GetBucketLocation,
                Method::GET if query.has("versioning") => GetBucketVersioning,
                Method::GET if query.has("versions") => ListObjectVersions,
                Method::GET if query.has("uploads") => ListMultipartUploads,
                Method::GET | Method::PUT | Method::DELETE if sub.is_some() => {
                    NotImplemented(sub.unwrap_or_default())
                }
                Method::PUT if query.has("versioning") => NotImplemented("versioning"),
                Method::GET if query.get("list-type") == Some("2") => ListObjectsV2,
                Method::GET => ListObjects,
                Method::PUT => CreateBucket,
                Method::HEAD => HeadBucket,
                Method::DELETE => DeleteBucket,
                Method::POST if query.has("delete") => DeleteObjects,
                Method::POST => NotImplemented("post"),
                _ => return Err(method_not_allowed()),
            }
        }
        (true, true) => {
            let sub = query.first_of(OBJECT_SUBRESOURCES);
            let upload = query.has("uploadId");
            match *method {
                Method::PUT if upload && query.has("partNumber") => {
                    if has_copy_source {
                        UploadPartCopy
                    } else {
                        UploadPart
                    }
                }
                Method::GET if upload => ListParts,
                Method::DELETE if upload => AbortMultipartUpload,
                Method::POST if upload => CompleteMultipartUpload,
                Method::POST if query.has("uploads") => CreateMultipartUpload,
                _ if sub.is_some() => NotImplemented(sub.unwrap_or_default()),
                Method::PUT if has_copy_source => CopyObject,
                Method::PUT => PutObject,
                Method::GET => GetObject,
                Method::HEAD => HeadObject,
                Method::DELETE => DeleteObject,
                _ => return Err(method_not_allowed()),
            }
        }
    };
    Ok(op)
}

fn method_not_allowed() -> S3Error {
    S3Error::new(
        S3ErrorCode::MethodNotAllowed,
        "The specified method is not allowed against this resource.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn t(host: &str, path: &str) -> Target {
        target(Some(host), path, &["s3.local".to_owned()]).unwrap()
    }

    #[test]
    fn path_and_virtual_hosted_addressing() {
        let p = t("127.0.0.1:9000", "/photos/a/b%20c.jpg");
        assert_eq!(p.bucket.unwrap().as_str(), "photos");
        assert_eq!(p.key.unwrap().as_str(), "a/b c.jpg");
        let v = t("photos.s3.local:9000", "/a/b.jpg");
        assert_eq!(v.bucket.unwrap().as_str(), "photos");
        assert_eq!(v.key.unwrap().as_str(), "a/b.jpg");
        let root = t("s3.local", "/");
        assert!(root.bucket.is_none() && root.key.is_none());
        let bucket_only = t("localhost", "/photos/");
        assert!(bucket_only.key.is_none());
        assert!(target(Some("x"), "/Bad_Name", &[]).is_err());
        let long = format!("/b12/{}", "k".repeat(1025));
        assert_eq!(
            target(Some("x"), &long, &[]).unwrap_err().code,
            S3ErrorCode::KeyTooLongError
        );
    }

    #[test]
    fn operations_are_classified_by_method_and_subresource() {
        let obj = t("h", "/b12/k");
        let bucket = t("h", "/b12");
        let q = Query::parse;
        let c = |m: Method, tg: &Target, query: &str, copy: bool| {
            classify(&m, tg, &q(query), copy).unwrap()
        };
        assert_eq!(
            c(Method::PUT, &obj, "x-id=PutObject", false),
            Operation::PutObject
        );
        assert_eq!(c(Method::PUT, &obj, "", true), Operation::CopyObject);
        assert_eq!(
            c(Method::PUT, &obj, "partNumber=1&uploadId=u", true),
            Operation::UploadPartCopy
        );
        assert_eq!(
            c(Method::POST, &obj, "uploads", false),
            Operation::CreateMultipartUpload
        );
        assert_eq!(
            c(Method::GET, &bucket, "list-type=2", false),
            Operation::ListObjectsV2
        );
        assert_eq!(c(Method::GET, &bucket, "", false), Operation::ListObjects);
        assert_eq!(
            c(Method::POST, &bucket, "delete", false),
            Operation::DeleteObjects
        );
        assert_eq!(
            c(Method::GET, &bucket, "policy", false),
            Operation::NotImplemented("policy")
        );
        assert_eq!(
            c(Method::GET, &obj, "tagging", false),
            Operation::NotImplemented("tagging")
        );
        assert!(classify(&Method::PATCH, &obj, &q(""), false).is_err());
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse("prefix=a%2Fb+c&delimiter=%2F&uploads");
        assert_eq!(q.get("prefix"), Some("a/b c"));
        assert_eq!(q.get("delimiter"), Some("/"));
        assert!(q.has("uploads"));
    }
}
