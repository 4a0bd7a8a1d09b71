//! The cold tier's S3 client: [`RemoteStore`] reads and writes objects in one remote bucket
//! (Backblaze B2, Cloudflare R2, any S3), every key under the configured prefix.
//!
//! Every request is signed with SigV4 (aws-sigv4) and goes out over a pooled hyper 1
//! connection (rustls with the `ring` provider for `https://` endpoints). Each attempt takes
//! a concurrency permit (`max_concurrency`) and a start slot from the rate limiter
//! (`max_requests_per_sec`), and must finish within `request_timeout_secs`; 5xx, 429,
//! connection errors and timeouts are retried `retries` times with exponential backoff and
//! full jitter, other 4xx never. Large objects go up as multipart uploads whose non-last
//! parts are all exactly `part_bytes` (R2 refuses unequal parts), aborted on failure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), stratum_storage::remote::RemoteError> {
//! use bytes::Bytes;
//! use stratum_core::config::ColdTierConfig;
//! use stratum_storage::remote::RemoteStore;
//! let config = ColdTierConfig::new("https://s3.us-west-004.backblazeb2.com", "my-cold");
//! let store = RemoteStore::new(&config)?; // credentials from AWS_ACCESS_KEY_ID/...
//! store.upload("volumes/00000001", Bytes::from_static(b"frames")).await?;
//! let bytes = store.get_range("volumes/00000001", 2..4).await?;
//! assert_eq!(&bytes[..], b"am");
//! # Ok(()) }
//! ```
//!
//! Invariants: no `x-amz-checksum-*` or `x-amz-sdk-checksum-algorithm` header is sent unless
//! `send_checksums` (B2 rejects them); secrets never reach `Debug` output, logs or errors;
//! no hashing of a large body runs on a reactor thread. It knows nothing of buckets, keys or
//! frames of Stratum's own namespace: keys here are the cold tier's object names.

mod credentials;
mod error;
mod limit;
mod multipart;
mod transport;
mod xml;

use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::Method;
use stratum_core::config::ColdTierConfig;

pub use credentials::RemoteCredentials;
pub use error::RemoteError;
pub use multipart::MultipartUpload;
pub use xml::CompletedPart;

use transport::{Payload, Req, Transport, KEY_BYTES_MAX, XML_RESPONSE_BYTES_MAX};

/// The most keys one ListObjectsV2 page may ask for (S3's own cap).
pub const LIST_KEYS_MAX: u32 = 1000;

/// An S3 client for the cold tier's bucket. Cheap to clone; clones share the connection
/// pool, the rate limiter and the concurrency limit.
#[derive(Clone)]
pub struct RemoteStore {
    inner: Arc<Transport>,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore")
            .field("transport", &self.inner)
            .finish()
    }
}

/// What HEAD found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Size in bytes.
    pub size: u64,
    /// The provider's ETag, quotes included.
    pub etag: String,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteObject {
    /// The key relative to the configured prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The provider's ETag, quotes included.
    pub etag: String,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// The objects, in the provider's (UTF-8 binary) order.
    pub objects: Vec<RemoteObject>,
    /// Pass to the next `list` call; `None` on the last page.
    pub next_continuation_token: Option<String>,
}

/// Base64 of the CRC32 of `body`, as `x-amz-checksum-crc32` carries it.
fn crc32_base64(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(body).to_be_bytes())
}

impl RemoteStore {
    /// A client for `config`, with the credentials it points at (environment or file).
    pub fn new(config: &ColdTierConfig) -> Result<Self, RemoteError> {
        let credentials = RemoteCredentials::load(config)?;
        Self::with_credentials(config, credentials)
    }

    /// A client for `config` signing with `credentials`.
    pub fn with_credentials(
        config: &ColdTierConfig,
        credentials: RemoteCredentials,
    ) -> Result<Self, RemoteError> {
        Ok(RemoteStore {
            inner: Arc::new(Transport::new(config, credentials)?),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ColdTierConfig {
        &self.inner.config
    }

    fn check_key(op: &'static str, prefix: &str, key: &str) -> Result<(), RemoteError> {
        if key.is_empty() || prefix.len() + key.len() > KEY_BYTES_MAX {
            return Err(RemoteError::InvalidRequest {
                op,
                reason: format!("key must be 1 to {KEY_BYTES_MAX} bytes with the prefix"),
            });
        }
        Ok(())
    }

    fn request<'a>(&self, op: &'static str, method: Method, key: Option<&'a str>) -> Req<'a> {
        Req {
            op,
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            payload: Payload::Sha256(transport::sha256_hex(b"")),
            response_bytes_max: XML_RESPONSE_BYTES_MAX,
        }
    }

    /// Sets `body` on `req` with its signature payload and, when configured, its CRC32
    /// checksum headers. Returns the checksum.
    async fn with_body(&self, req: &mut Req<'_>, body: Bytes) -> Option<String> {
        req.payload = self.inner.payload(&body).await;
        let crc = if self.config().send_checksums {
            let crc = if body.len() <= transport::INLINE_HASH_BYTES_MAX {
                crc32_base64(&body)
            } else {
                let b = body.clone();
                tokio::task::spawn_blocking(move || crc32_base64(&b))
                    .await
                    .unwrap_or_else(|_| crc32_base64(&body))
            };
            req.headers.push(("x-amz-checksum-crc32", crc.clone()));
            req.headers
                .push(("x-amz-sdk-checksum-algorithm", "CRC32".into()));
            Some(crc)
        } else {
            None
        };
        req.body = body;
        crc
    }

    /// Creates the configured bucket (setup and tests; operators create it beforehand).
    pub async fn create_bucket(&self) -> Result<(), RemoteError> {
        let mut req = self.request("CreateBucket", Method::PUT, None);
        let region = &self.config().region;
        if region != "us-east-1" && region != "auto" {
            let body = format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            );
            req.payload = Payload::Sha256(transport::sha256_hex(body.as_bytes()));
            req.body = Bytes::from(body);
        }
        self.inner.send(&req).await.map(drop)
    }

    /// Writes `body` to `key` with one PutObject; returns the ETag.
    pub async fn put_object(&self, key: &str, body: Bytes) -> Result<String, RemoteError> {
        Self::check_key("PutObject", &self.config().prefix, key)?;
        let mut req = self.request("PutObject", Method::PUT, Some(key));
        self.with_body(&mut req, body).await;
        let resp = self.inner.send(&req).await?;
        Ok(etag_of(&resp.headers))
    }

    /// Writes `body` to `key`: one PutObject up to `part_bytes`, a multipart upload of
    /// equal `part_bytes` parts (and a shorter last one) beyond. Returns the ETag.
    pub async fn upload(&self, key: &str, body: Bytes) -> Result<String, RemoteError> {
        let part = usize::try_from(self.config().part_bytes).unwrap_or(usize::MAX);
        if body.len() <= part {
            return self.put_object(key, body).await;
        }
        let mut upload = self.create_multipart_upload(key).await?;
        upload.write(body).await?;
        upload.finish().await
    }

    /// Starts a multipart upload of `key`; write to it, then `finish` (or `abort`).
    pub async fn create_multipart_upload(&self, key: &str) -> Result<MultipartUpload, RemoteError> {
        Self::check_key("CreateMultipartUpload", &self.config().prefix, key)?;
        let mut req = self.request("CreateMultipartUpload", Method::POST, Some(key));
        req.query.push(("uploads", String::new()));
        if self.config().send_checksums {
            req.headers
                .push(("x-amz-checksum-algorithm", "CRC32".into()));
        }
        let resp = self.inner.send(&req).await?;
        let upload_id = xml::upload_id(&resp.body)
            .map_err(|reason| RemoteError::InvalidResponse { op: req.op, reason })?;
        Ok(MultipartUpload::new(
            self.clone(),
            key.to_owned(),
            upload_id,
        ))
    }

    /// Uploads one part of a multipart upload (`part_number` 1 to 10,000).
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<CompletedPart, RemoteError> {
        if !(1..=10_000).contains(&part_number) {
            return Err(RemoteError::InvalidRequest {
                op: "UploadPart",
                reason: format!("part number {part_number} is not within 1 to 10000"),
            });
        }
        let mut req = self.request("UploadPart", Method::PUT, Some(key));
        req.query.push(("partNumber", part_number.to_string()));
        req.query.push(("uploadId", upload_id.to_owned()));
        let bytes = body.len() as u64;
        let crc32 = self.with_body(&mut req, body).await;
        let resp = self.inner.send(&req).await?;
        Ok(CompletedPart {
            part_number,
            etag: etag_of(&resp.headers),
            bytes,
            crc32,
        })
    }

    /// Completes a multipart upload from its parts (in part-number order); returns the
    /// object's ETag.
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<String, RemoteError> {
        let mut req = self.request("CompleteMultipartUpload", Method::POST, Some(key));
        req.query.push(("uploadId", upload_id.to_owned()));
        let body = Bytes::from(xml::complete_body(parts));
        req.payload = Payload::Sha256(transport::sha256_hex(&body));
        req.body = body;
        let resp = self.inner.send(&req).await?;
        match xml::completed(&resp.body) {
            Ok(xml::Completed::Done(etag)) => Ok(etag),
            // A 200 whose body is an error: S3 had already sent the status. Not retried
            // here; the caller's abort cleans up and a later attempt starts over.
            Ok(xml::Completed::Error(code, message)) => Err(RemoteError::Http {
                op: req.op,
                status: 200,
                code,
                message,
            }),
            Err(reason) => Err(RemoteError::InvalidResponse { op: req.op, reason }),
        }
    }

    /// Aborts a multipart upload, freeing its parts.
    pub async fn abort_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), RemoteError> {
        let mut req = self.request("AbortMultipartUpload", Method::DELETE, Some(key));
        req.query.push(("uploadId", upload_id.to_owned()));
        self.inner.send(&req).await.map(drop)
    }

    /// Reads bytes `range` of `key` with a ranged GET. The result is shorter than the range
    /// only if the object ends first; a range starting past the end is a 416 `Http` error.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, RemoteError> {
        Self::check_key("GetObject", &self.config().prefix, key)?;
        if range.start >= range.end {
            return Err(RemoteError::InvalidRequest {
                op: "GetObject",
                reason: format!("empty range {range:?}"),
            });
        }
        let wanted = range.end - range.start;
        let mut req = self.request("GetObject", Method::GET, Some(key));
        req.headers
            .push(("range", format!("bytes={}-{}", range.start, range.end - 1)));
        req.response_bytes_max = usize::try_from(wanted).unwrap_or(usize::MAX);
        let resp = self.inner.send(&req).await?;
        let got = resp.body.len() as u64;
        // 206 for a range; a provider may answer 200 with the whole object when the range
        // covers it, which is the same bytes only from offset 0.
        let ok = match resp.status.as_u16() {
            206 => got <= wanted,
            200 => range.start == 0 && got <= wanted,
            _ => false,
        };
        if !ok {
            return Err(RemoteError::InvalidResponse {
                op: req.op,
                reason: format!("{} with {got} bytes for a {wanted}-byte range", resp.status),
            });
        }
        Ok(resp.body)
    }

    /// Every multipart upload in progress whose key starts with `prefix` (relative to the
    /// configured prefix), as (key relative to the prefix, upload id): for reconciliation,
    /// which aborts the ones a killed writer left behind.
    pub async fn list_multipart_uploads(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, RemoteError> {
        let ours = self.config().prefix.clone();
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut req = self.request("ListMultipartUploads", Method::GET, None);
            req.query.push(("uploads", String::new()));
            let full_prefix = self.inner.full_key(prefix);
            if !full_prefix.is_empty() {
                req.query.push(("prefix", full_prefix));
            }
            if let Some((key, id)) = &markers {
                req.query.push(("key-marker", key.clone()));
                req.query.push(("upload-id-marker", id.clone()));
            }
            let resp = self.inner.send(&req).await?;
            let page =
                xml::uploads_page(&resp.body).map_err(|reason| RemoteError::InvalidResponse {
                    op: "ListMultipartUploads",
                    reason,
                })?;
            for (key, id) in page.uploads {
                if let Some(rel) = key.strip_prefix(ours.as_str()) {
                    out.push((rel.to_owned(), id));
                }
            }
            match page.next {
                Some(next) if Some(&next) != markers.as_ref() => markers = Some(next),
                _ => return Ok(out),
            }
        }
    }

    /// The size and ETag of `key`, or `NotFound`.
    pub async fn head(&self, key: &str) -> Result<ObjectHead, RemoteError> {
        Self::check_key("HeadObject", &self.config().prefix, key)?;
        let req = self.request("HeadObject", Method::HEAD, Some(key));
        let resp = self.inner.send(&req).await?;
        let size = resp
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| RemoteError::InvalidResponse {
                op: req.op,
                reason: "no Content-Length".into(),
            })?;
        Ok(ObjectHead {
            size,
            etag: etag_of(&resp.headers),
        })
    }

    /// Deletes `key` (no error if it is already gone, as S3 answers).
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        Self::check_key("DeleteObject", &self.config().prefix, key)?;
        let req = self.request("DeleteObject", Method::DELETE, Some(key));
        self.inner.send(&req).await.map(drop)
    }

    /// One page (up to 1000 keys) of the objects whose keys start with `prefix` (relative
    /// to the configured prefix), for reconciliation.
    pub async fn list(
        &self,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<ListPage, RemoteError> {
        self.list_page(prefix, continuation, LIST_KEYS_MAX).await
    }

    /// [`list`](Self::list) with at most `max_keys` keys per page (1 to 1000).
    pub async fn list_page(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: u32,
    ) -> Result<ListPage, RemoteError> {
        let mut req = self.request("ListObjectsV2", Method::GET, None);
        req.query.push(("list-type", "2".into()));
        req.query
            .push(("max-keys", max_keys.clamp(1, LIST_KEYS_MAX).to_string()));
        let full_prefix = self.inner.full_key(prefix);
        if !full_prefix.is_empty() {
            req.query.push(("prefix", full_prefix));
        }
        if let Some(token) = continuation {
            req.query.push(("continuation-token", token.to_owned()));
        }
        let resp = self.inner.send(&req).await?;
        let invalid = |reason: String| RemoteError::InvalidResponse {
            op: "ListObjectsV2",
            reason,
        };
        let result = xml::list_result(&resp.body).map_err(invalid)?;
        let ours = &self.config().prefix;
        let mut objects = Vec::with_capacity(result.objects.len());
        for o in result.objects {
            let key = o
                .key
                .strip_prefix(ours.as_str())
                .ok_or_else(|| invalid(format!("listed key {:?} is outside the prefix", o.key)))?
                .to_owned();
            objects.push(RemoteObject {
                key,
                size: o.size,
                etag: o.etag,
            });
        }
        Ok(ListPage {
            objects,
            next_continuation_token: result.next_continuation_token,
        })
    }
}

/// The ETag header's value, or empty.
fn etag_of(headers: &http::HeaderMap) -> String {
    headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_big_endian_base64() {
        // CRC32("hello") = 0x3610a686.
        assert_eq!(crc32_base64(b"hello"), "NhCmhg==");
    }

    #[test]
    fn store_is_send_sync_and_debug_hides_secrets() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RemoteStore>();
        let store = RemoteStore::with_credentials(
            &ColdTierConfig::new("http://127.0.0.1:1", "bkt"),
            RemoteCredentials::new("AKID", "hunter2hunter2"),
        )
        .unwrap();
        let text = format!("{store:?}");
        assert!(text.contains("bkt") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn keys_are_checked_before_sending() {
        assert!(RemoteStore::check_key("PutObject", "p/", "").is_err());
        assert!(RemoteStore::check_key("PutObject", "p/", &"k".repeat(1023)).is_err());
        assert!(RemoteStore::check_key("PutObject", "p/", "k").is_ok());
    }
}
