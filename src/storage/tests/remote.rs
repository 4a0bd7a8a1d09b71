//! The cold-tier S3 client against a real, independent S3 server: moto's `moto_server`
//! (from the `moto[server]` PyPI package that `scripts/e2e-deps.sh` installs into
//! `target/e2e-venv`), with SigV4 verification on (an IAM user with an `s3:*` policy), so
//! every request's signature is checked by code that is not ours.
//!
//! Fault injection (5xx, hangs) and header recording go through a small proxy of our own in
//! front of moto; moto stays the server. moto is started by the workspace's shared test
//! support (`tests/support/moto.rs`: where the binary is found, the IAM user); a missing
//! binary fails the tests with the command that installs it (never a silent skip).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use stratum_core::config::ColdTierConfig;
use stratum_storage::remote::{RemoteCredentials, RemoteError, RemoteStore};

#[path = "../../../tests/support/moto.rs"]
#[allow(dead_code)]
mod moto_server;

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// moto

/// moto's server (started by the shared test support) with the client's credentials.
struct Moto {
    server: moto_server::Moto,
    addr: SocketAddr,
    credentials: RemoteCredentials,
}

impl Moto {
    fn start() -> Moto {
        let server = moto_server::Moto::start();
        Moto {
            addr: server.addr,
            credentials: RemoteCredentials::new(&server.access_key, &server.secret_key),
            server,
        }
    }

    fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// A client for `bucket` through `endpoint`, with test-sized knobs.
    fn store_at(
        &self,
        endpoint: &str,
        bucket: &str,
        tune: impl FnOnce(&mut ColdTierConfig),
    ) -> RemoteStore {
        let mut c = ColdTierConfig::new(endpoint, bucket);
        c.max_requests_per_sec = 1000;
        c.retry_backoff_ms = 10;
        c.request_timeout_secs = 10;
        c.part_bytes = 5 * MIB as u64;
        tune(&mut c);
        RemoteStore::with_credentials(&c, self.credentials.clone()).expect("valid test config")
    }

    /// A client for a freshly created bucket, straight to moto.
    async fn bucket(&self, bucket: &str) -> RemoteStore {
        let store = self.store_at(&self.endpoint(), bucket, |_| {});
        store.create_bucket().await.expect("CreateBucket");
        store
    }
}

// ---------------------------------------------------------------------------------------
// The fault-injecting, header-recording proxy (our test double; moto answers the rest).

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body_bytes: usize,
}

#[derive(Debug, Default)]
struct ProxyState {
    /// Answer this many coming requests with `fail_status` instead of forwarding.
    fail_next: AtomicU32,
    fail_status: AtomicU32,
    /// Hold this many coming requests for `HANG` before forwarding.
    hang_next: AtomicU32,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

const HANG: Duration = Duration::from_millis(2500);

struct Proxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(ProxyState::default());
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, client) = (st.clone(), client.clone());
                tokio::spawn(async move {
                    let service =
                        service_fn(move |req| forward(st.clone(), client.clone(), upstream, req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { addr, state }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn fail(&self, n: u32, status: u16) {
        self.state
            .fail_status
            .store(u32::from(status), Ordering::SeqCst);
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.state.seen.lock().unwrap().clear();
    }
}

/// Takes one from `counter` if it is above zero.
fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn forward(
    state: Arc<ProxyState>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |pq| pq.as_str().to_owned());
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        target: target.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body_bytes: body.len(),
    });
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let answer = async {
        if take_one(&state.hang_next) {
            tokio::time::sleep(HANG).await;
        }
        if take_one(&state.fail_next) {
            let status = state.fail_status.load(Ordering::SeqCst) as u16;
            let code = if status == 503 {
                "SlowDown"
            } else {
                "InternalError"
            };
            let xml = format!("<Error><Code>{code}</Code><Message>injected</Message></Error>");
            return Response::builder()
                .status(status)
                .body(Full::new(Bytes::from(xml)))
                .unwrap();
        }
        let mut out = Request::builder()
            .method(parts.method.clone())
            .uri(format!("http://{upstream}{target}"));
        for (k, v) in &parts.headers {
            out = out.header(k, v);
        }
        let resp = client
            .request(out.body(Full::new(body)).unwrap())
            .await
            .expect("moto answers the proxy");
        let (rparts, rbody) = resp.into_parts();
        let rbody = rbody.collect().await.expect("moto's body").to_bytes();
        Response::from_parts(rparts, Full::new(rbody))
    };
    let resp = answer.await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    Ok(resp)
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn has_checksum_header(seen: &Seen) -> bool {
    seen.headers
        .iter()
        .any(|(k, _)| k.starts_with("x-amz-checksum-") || k == "x-amz-sdk-checksum-algorithm")
}

fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect::<Vec<_>>()
        .into()
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_range_head_delete_round_trip() {
    let moto = Moto::start();
    let store = moto.bucket("round-trip").await;
    let body = data(100_000, 1);
    // A key that needs encoding: spaces, '+', '~', parentheses, UTF-8.
    let key = "vol/a b+c~(1) é.bin";
    let etag = store.put_object(key, body.clone()).await.unwrap();
    assert!(etag.starts_with('"'), "{etag}");

    let head = store.head(key).await.unwrap();
    assert_eq!(head.size, 100_000);
    assert_eq!(head.etag, etag);

    assert_eq!(store.get_range(key, 0..100_000).await.unwrap(), body);
    assert_eq!(
        store.get_range(key, 4_000..70_001).await.unwrap(),
        body.slice(4_000..70_001)
    );
    // A range past the end is cut at the end; one starting past it is a 416.
    assert_eq!(
        store.get_range(key, 99_990..200_000).await.unwrap(),
        body.slice(99_990..)
    );
    match store.get_range(key, 100_000..100_010).await {
        Err(RemoteError::Http { status: 416, .. }) => {}
        other => panic!("expected 416, got {other:?}"),
    }

    // Empty objects and overwrites.
    store.put_object("empty", Bytes::new()).await.unwrap();
    assert_eq!(store.head("empty").await.unwrap().size, 0);
    store
        .put_object(key, Bytes::from_static(b"v2"))
        .await
        .unwrap();
    assert_eq!(&store.get_range(key, 0..10).await.unwrap()[..], b"v2");

    store.delete(key).await.unwrap();
    match store.head(key).await {
        Err(RemoteError::NotFound {
            op: "HeadObject",
            key: k,
        }) => assert_eq!(k, key),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        store.get_range(key, 0..1).await,
        Err(RemoteError::NotFound { .. })
    ));
    // Deleting what is gone is not an error (S3 answers 204).
    store.delete(key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_continuation_tokens_under_the_prefix() {
    let moto = Moto::start();
    let store = moto.bucket("listing").await;
    // Another store on the same bucket under another prefix must not show up.
    let other = moto.store_at(&moto.endpoint(), "listing", |c| {
        c.prefix = "elsewhere/".into()
    });
    other
        .put_object("vol/x", Bytes::from_static(b"x"))
        .await
        .unwrap();
    for i in 0..7u8 {
        let len = usize::from(i) * 10;
        store
            .put_object(&format!("vol/{i:03}"), data(len, i))
            .await
            .unwrap();
    }
    store
        .put_object("meta/a", Bytes::from_static(b"a"))
        .await
        .unwrap();

    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = store.list_page("vol/", token.as_deref(), 3).await.unwrap();
        pages.push(page.objects.len());
        for o in &page.objects {
            let i: usize = o.key["vol/".len()..].parse().unwrap();
            assert_eq!(o.size, (i * 10) as u64, "{o:?}");
        }
        match page.next_continuation_token {
            Some(t) => token = Some(t),
            None => break,
        }
        assert!(pages.len() < 10, "listing does not end");
    }
    assert_eq!(pages, [3, 3, 1]);

    let all = store.list("", None).await.unwrap();
    let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        ["meta/a", "vol/000", "vol/001", "vol/002", "vol/003", "vol/004", "vol/005", "vol/006"]
    );
    assert!(all.next_continuation_token.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_parts_are_equal_but_the_last_and_no_checksum_headers_go_out() {
    let moto = Moto::start();
    moto.bucket("multipart").await;
    let proxy = Proxy::start(moto.addr).await;
    let store = moto.store_at(&proxy.endpoint(), "multipart", |_| {});

    // `upload` of 12 MiB + 123 bytes: parts of 5, 5 and 2 MiB + 123.
    let body = data(12 * MIB + 123, 7);
    let etag = store.upload("big", body.clone()).await.unwrap();
    assert!(etag.ends_with("-3\""), "{etag}");
    let parts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "PUT" && s.target.contains("partNumber="))
        .collect();
    let mut sizes: Vec<_> = parts.iter().map(|s| s.body_bytes).collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sizes, [5 * MIB, 5 * MIB, 2 * MIB + 123]);
    assert_eq!(store.head("big").await.unwrap().size, body.len() as u64);
    // A range across the first part boundary.
    let r = (5 * MIB - 10) as u64..(5 * MIB + 10) as u64;
    assert_eq!(
        store.get_range("big", r.clone()).await.unwrap(),
        body.slice(r.start as usize..r.end as usize)
    );

    // The streaming writer cuts equal parts from odd-sized chunks.
    proxy.clear();
    let mut upload = store.create_multipart_upload("streamed").await.unwrap();
    let body = data(11 * MIB + 5, 9);
    for chunk in body.chunks(MIB + 4097) {
        upload.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    upload.finish().await.unwrap();
    let mut sizes: Vec<_> = proxy
        .seen()
        .iter()
        .filter(|s| s.method == "PUT" && s.target.contains("partNumber="))
        .map(|s| s.body_bytes)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sizes, [5 * MIB, 5 * MIB, MIB + 5]);
    assert_eq!(
        store.get_range("streamed", 0..u64::MAX).await.unwrap(),
        body
    );

    // Nothing the client sent carried a checksum header, and every request was signed.
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        assert!(
            !has_checksum_header(s),
            "{} {}: {:?}",
            s.method,
            s.target,
            s.headers
        );
        assert!(header(s, "authorization").is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 ")));
        assert!(header(s, "x-amz-content-sha256").is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_go_out_only_when_configured() {
    let moto = Moto::start();
    moto.bucket("checksums").await;
    let proxy = Proxy::start(moto.addr).await;
    let store = moto.store_at(&proxy.endpoint(), "checksums", |c| c.send_checksums = true);
    store.put_object("small", data(1000, 3)).await.unwrap();
    store.upload("big", data(6 * MIB, 4)).await.unwrap();
    assert_eq!(store.head("big").await.unwrap().size, 6 * MIB as u64);
    let seen = proxy.seen();
    let with: Vec<_> = seen
        .iter()
        .filter(|s| s.method == "PUT")
        .map(|s| header(s, "x-amz-checksum-crc32").is_some())
        .collect();
    assert_eq!(with, [true, true, true], "PutObject and both UploadParts");
    assert!(seen
        .iter()
        .any(|s| header(s, "x-amz-checksum-algorithm") == Some("CRC32")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_discards_the_upload_and_a_dropped_upload_is_aborted() {
    let moto = Moto::start();
    let store = moto.bucket("aborts").await;
    let mut upload = store.create_multipart_upload("gone").await.unwrap();
    let id = upload.upload_id().to_owned();
    upload.write(data(5 * MIB, 1)).await.unwrap();
    upload.abort().await.unwrap();
    // The upload is gone: aborting it again is NoSuchUpload. (moto answers an UploadPart to
    // an aborted upload with a 500, where S3 says NoSuchUpload; Abort is the portable probe.)
    match store.abort_multipart_upload("gone", &id).await {
        Err(RemoteError::NotFound {
            op: "AbortMultipartUpload",
            ..
        }) => {}
        other => panic!("expected NoSuchUpload as NotFound, got {other:?}"),
    }
    assert!(store.list("", None).await.unwrap().objects.is_empty());

    // Dropped unfinished: the writer's drop guard sends the abort from a spawned task.
    let proxy = Proxy::start(moto.addr).await;
    let watched = moto.store_at(&proxy.endpoint(), "aborts", |_| {});
    let mut upload = watched.create_multipart_upload("dropped").await.unwrap();
    let id = upload.upload_id().to_owned();
    upload.write(Bytes::from_static(b"partial")).await.unwrap();
    drop(upload);
    let aborted = |s: &Seen| s.method == "DELETE" && s.target.contains("uploadId=");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.seen().iter().any(aborted) {
        assert!(Instant::now() < deadline, "dropped upload not aborted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Wait for moto's answer to it, then the upload is gone.
    while proxy.state.in_flight.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(matches!(
        store.abort_multipart_upload("dropped", &id).await,
        Err(RemoteError::NotFound { .. })
    ));
    assert!(matches!(
        store.head("dropped").await,
        Err(RemoteError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_an_auth_error_and_not_retried() {
    let moto = Moto::start();
    moto.bucket("auth").await;
    let proxy = Proxy::start(moto.addr).await;
    let mut c = ColdTierConfig::new(proxy.endpoint(), "auth");
    c.retry_backoff_ms = 10;
    for creds in [
        // A real access key with a wrong secret: SignatureDoesNotMatch.
        RemoteCredentials::new(moto.credentials.access_key(), "wrong-secret-wrong-secret"),
        // An unknown access key: InvalidAccessKeyId.
        RemoteCredentials::new("AKIAUNKNOWNKEY000000", "whatever-whatever"),
    ] {
        proxy.clear();
        let store = RemoteStore::with_credentials(&c, creds).unwrap();
        match store.put_object("k", Bytes::from_static(b"v")).await {
            Err(e @ RemoteError::Auth { status: 403, .. }) => {
                assert!(!e.is_transient());
                assert!(!e.to_string().contains("wrong-secret"), "{e}");
            }
            other => panic!("expected Auth, got {other:?}"),
        }
        assert_eq!(proxy.seen().len(), 1, "a 403 is not retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_5xx_and_timeouts_are_retried_with_backoff() {
    let moto = Moto::start();
    moto.bucket("retries").await;
    let proxy = Proxy::start(moto.addr).await;
    let store = moto.store_at(&proxy.endpoint(), "retries", |c| c.retries = 3);

    // Two 503 SlowDown, then moto: the PUT lands on the third attempt.
    proxy.fail(2, 503);
    store.put_object("k", data(1000, 5)).await.unwrap();
    assert_eq!(proxy.seen().len(), 3);
    assert_eq!(store.get_range("k", 0..1000).await.unwrap(), data(1000, 5));

    // More failures than retries: the last status decides the error.
    proxy.clear();
    proxy.fail(10, 503);
    match store.head("k").await {
        Err(
            e @ RemoteError::Throttled {
                status: 503,
                attempts: 4,
                ..
            },
        ) => assert!(e.is_transient()),
        other => panic!("expected Throttled, got {other:?}"),
    }
    assert_eq!(proxy.seen().len(), 4);
    proxy.clear();
    proxy.fail(10, 500);
    match store.delete("k").await {
        Err(RemoteError::Http {
            status: 500, code, ..
        }) => assert_eq!(code, "InternalError"),
        other => panic!("expected Http 500, got {other:?}"),
    }
    assert_eq!(proxy.seen().len(), 4);
    proxy.fail(0, 500);

    // A multipart upload whose parts hit 5xx still completes.
    proxy.fail(2, 500);
    store.upload("mp", data(6 * MIB, 6)).await.unwrap();
    assert_eq!(store.head("mp").await.unwrap().size, 6 * MIB as u64);

    // A hung attempt times out and the retry succeeds.
    let store = moto.store_at(&proxy.endpoint(), "retries", |c| c.request_timeout_secs = 1);
    proxy.clear();
    proxy.state.hang_next.store(1, Ordering::SeqCst);
    let start = Instant::now();
    assert_eq!(store.head("k").await.unwrap().size, 1000);
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert_eq!(proxy.seen().len(), 2);
    // Hung on every attempt: a Timeout error.
    let store = moto.store_at(&proxy.endpoint(), "retries", |c| {
        c.request_timeout_secs = 1;
        c.retries = 1;
    });
    proxy.state.hang_next.store(2, Ordering::SeqCst);
    match store.head("k").await {
        Err(RemoteError::Timeout { attempts: 2, .. }) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_concurrency_limits_are_observable() {
    let moto = Moto::start();
    moto.bucket("limits").await;
    let proxy = Proxy::start(moto.addr).await;
    let store = moto.store_at(&proxy.endpoint(), "limits", |c| c.max_requests_per_sec = 5);
    store
        .put_object("k", Bytes::from_static(b"v"))
        .await
        .unwrap();
    // 11 more requests at 5/s: at least 10 intervals of 200 ms after the first.
    let start = Instant::now();
    let heads: Vec<_> = (0..11).map(|_| store.head("k")).collect();
    for h in futures::future::join_all(heads).await {
        h.unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    let store = moto.store_at(&proxy.endpoint(), "limits", |c| c.max_concurrency = 2);
    proxy.state.max_in_flight.store(0, Ordering::SeqCst);
    let gets: Vec<_> = (0..12).map(|_| store.get_range("k", 0..1)).collect();
    for g in futures::future::join_all(gets).await {
        assert_eq!(&g.unwrap()[..], b"v");
    }
    let max = proxy.state.max_in_flight.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&max),
        "{max} in flight with max_concurrency = 2"
    );
}

#[test]
fn a_missing_credentials_variable_fails_at_construction() {
    let mut c = ColdTierConfig::new("http://127.0.0.1:1", "bkt");
    c.access_key_env = "STRATUM_REMOTE_TEST_UNSET_AK".into();
    match RemoteStore::new(&c) {
        Err(RemoteError::Credentials { reason }) => {
            assert!(reason.contains("STRATUM_REMOTE_TEST_UNSET_AK"))
        }
        other => panic!("expected Credentials, got {other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cold.credentials");
    std::fs::write(&file, "access_key = \"AK\"\nsecret_key = \"SKSKSKSK\"\n").unwrap();
    c.credentials_file = Some(file);
    RemoteStore::new(&c).unwrap();
}
