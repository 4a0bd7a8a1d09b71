//! Shared helpers for the S3 API's integration tests: an [`S3Service`] over a real engine in a
//! temporary directory, requests signed with SigV4 by `aws-sigv4` (the signer the AWS Rust
//! SDK uses), and readers for the XML that comes back.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use md5::Digest as _;
use stratum_api_s3::{S3Config, S3Service};
use stratum_auth::MemoryCredentialStore;
use stratum_core::config::EngineConfig;
use stratum_core::{BucketName, ObjectKey};
use stratum_engine::{Engine, ObjectInfo, PutOptions};
use stratum_tiering::tracker::{AccessTracker, CAPACITY_DEFAULT};
use stratum_tiering::PolicyConfig;
use tower::ServiceExt;

/// The test key pair.
pub const ACCESS_KEY: &str = "AKIASTRATUMTEST00001";
/// Its secret.
pub const SECRET_KEY: &str = "stratum/test/secret/key/0000000000000000";
/// The host requests are addressed to (path-style).
pub const HOST: &str = "localhost";

/// A server over a fresh engine.
pub struct Harness {
    /// The engine, for setting up objects directly.
    pub engine: Engine,
    /// The access tracker the service reports to ([`Harness::with_tracker`] only).
    pub tracker: Option<Arc<AccessTracker>>,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Resp {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 error document.
    pub fn code(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Error {
            #[serde(rename = "Code")]
            code: String,
        }
        let e: Error = quick_xml::de::from_str(&self.text())
            .unwrap_or_else(|e| panic!("not an error document ({e}): {}", self.text()));
        e.code
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a 2xx status, printing the body otherwise.
    #[track_caller]
    pub fn ok(self) -> Resp {
        assert!(
            self.status.is_success(),
            "expected success, got {}: {}",
            self.status,
            self.text()
        );
        self
    }

    /// Asserts an S3 error with this status and code.
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.code(), code, "body: {}", self.text());
    }

    /// The body parsed as `T`.
    #[track_caller]
    pub fn xml<T: serde::de::DeserializeOwned>(&self) -> T {
        quick_xml::de::from_str(&self.text())
            .unwrap_or_else(|e| panic!("unexpected document ({e}): {}", self.text()))
    }
}

impl Harness {
    /// An engine in a temporary directory behind a service that knows [`ACCESS_KEY`].
    pub async fn new() -> Harness {
        Self::open(false).await
    }

    /// [`Harness::new`] with an access tracker over the engine's metadata store, in
    /// [`Harness::tracker`].
    pub async fn with_tracker() -> Harness {
        Self::open(true).await
    }

    async fn open(track: bool) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = EngineConfig::under(dir.path(), 6);
        config.storage.shared_volume_bytes_max = 4 * 1024 * 1024;
        let (engine, _) = Engine::open(config).await.expect("engine opens");
        let credentials = Arc::new(MemoryCredentialStore::new().with_key(ACCESS_KEY, SECRET_KEY));
        let mut service = S3Service::new(engine.clone(), credentials, S3Config::default());
        let tracker = track.then(|| {
            Arc::new(AccessTracker::new(
                engine.metadata().clone(),
                PolicyConfig::default(),
                CAPACITY_DEFAULT,
            ))
        });
        if let Some(t) = &tracker {
            service = service.with_access_tracker(t.clone());
        }
        Harness {
            engine,
            tracker,
            router: service.router(),
            _dir: dir,
        }
    }

    /// Sends a request.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("infallible router");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("response body").to_bytes();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// Sends a request signed with the test key over its body's SHA-256.
    pub async fn call(&self, method: &str, path_and_query: &str, body: &[u8]) -> Resp {
        self.send(signed(method, path_and_query, &[], body)).await
    }

    /// Like [`Harness::call`] with extra headers.
    pub async fn call_with(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.send(signed(method, path_and_query, headers, body))
            .await
    }

    /// Creates a bucket through the API.
    pub async fn create_bucket(&self, name: &str) {
        self.call("PUT", &format!("/{name}"), b"").await.ok();
    }

    /// Puts an object through the engine (the object handlers are tested elsewhere).
    pub async fn put(&self, bucket: &str, key: &str, data: &[u8]) -> ObjectInfo {
        let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
        self.engine
            .put_object(
                &BucketName::new(bucket).expect("bucket name"),
                &ObjectKey::new(key).expect("key"),
                body,
                PutOptions::default(),
            )
            .await
            .expect("put")
    }

    /// Puts many small objects concurrently.
    pub async fn put_many(&self, bucket: &str, keys: &[String]) {
        use futures::StreamExt;
        futures::stream::iter(keys)
            .map(|k| self.put(bucket, k, k.as_bytes()))
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await;
    }
}

/// How the payload is declared in `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    /// The hex SHA-256 of the body.
    Signed,
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// Another `x-amz-content-sha256` value, e.g. a streaming mode.
    Declared(&'static str),
}

/// A request signed with the test key over its body's SHA-256.
pub fn signed(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Body> {
    sign_with(
        method,
        path_and_query,
        headers,
        body,
        Payload::Signed,
        SECRET_KEY,
    )
}

/// A request signed with the test key, its payload `UNSIGNED-PAYLOAD`.
pub fn signed_unsigned_payload(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Body> {
    sign_with(
        method,
        path_and_query,
        headers,
        body,
        Payload::Unsigned,
        SECRET_KEY,
    )
}

/// A request signed with [`ACCESS_KEY`] and the given secret. `path_and_query` must already
/// be percent-encoded, as it goes on the wire.
pub fn sign_with(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    payload: Payload,
    secret: &str,
) -> Request<Body> {
    let uri = format!("http://{HOST}{path_and_query}");
    let identity = Credentials::new(ACCESS_KEY, secret, None, None, "stratum-tests").into();
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let mut all: Vec<(&str, &str)> = vec![("host", HOST)];
    all.extend_from_slice(headers);
    let signable_body = match payload {
        Payload::Signed => SignableBody::Bytes(body),
        Payload::Unsigned => SignableBody::UnsignedPayload,
        Payload::Declared(value) => SignableBody::Precomputed(value.to_owned()),
    };
    let signable = SignableRequest::new(method, &uri, all.iter().copied(), signable_body)
        .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signing").into_parts();
    let mut req = unsigned(method, path_and_query, headers, body);
    instructions.apply_to_request_http1x(&mut req);
    req
}

/// A request without any signature (anonymous).
pub fn unsigned(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("http://{HOST}{path_and_query}"))
        .header("host", HOST)
        .header("content-length", body.len().to_string());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body.to_vec())).expect("request")
}

/// Base64 of the MD5 of `data` (`Content-MD5`).
pub fn content_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

/// Hex MD5 of `data` (an ETag without quotes).
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5::Md5::digest(data))
}

/// Percent-encodes a query value as SDKs do.
pub fn q(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}
