//! S3 load generator: closed-loop PUT or GET of one object size over HTTP/1.1 against any
//! S3-compatible endpoint (Stratum, or a peer such as s3s-fs), one scenario per run.
//!
//! Each of `connections` workers owns one keep-alive connection and issues its next request
//! when the last one returned. Every URL is presigned with SigV4 query parameters
//! (`UNSIGNED-PAYLOAD` for PUT) before the timed phase, so the measurement pays no signing;
//! bodies are generated once and shared as `Bytes`. A request's latency is all of it: send,
//! response headers, body drained. Any non-2xx response, transport error or short GET body is
//! an error, counted and shown: a run with errors is not a valid figure (and exits 1).
//!
//! Output: one line per run, MB = 10^6 bytes:
//! `s3load target=.. op=put size=4KiB data=text connections=32 requests=.. secs=.. req_s=..
//! mb_s=.. p50_ms=.. p99_ms=.. errors=.. connects=..`. `benches/s3-peers.sh` runs every
//! scenario against Stratum and s3s-fs in one run and tabulates the ratios.
//!
//! Settings come from `S3LOAD_*` environment variables or the same names as flags
//! (`--connections 32` sets `S3LOAD_CONNECTIONS`); see [`USAGE`]. It measures only under
//! `cargo bench` (which passes `--bench`) with an endpoint set; run as a test (`cargo test
//! --all-targets`) it checks its presigner against AWS's published example and its setting
//! parser, offline, and exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

const USAGE: &str = "\
s3load: closed-loop S3 PUT/GET load generator (benches/s3load.rs)

  cargo bench -p stratum-workspace-tests --bench s3load -- [--name value ...]

settings (env S3LOAD_<NAME> or flag --<name>, dashes for underscores):
  endpoint      http://127.0.0.1:PORT (required; path-style addressing)
  access_key    default $STRATUM_ACCESS_KEY
  secret_key    default $STRATUM_SECRET_KEY
  region        default us-east-1
  bucket        default s3load (created if missing)
  target        label printed on the result line (default: the endpoint)
  op            put | get (default put)
  size          object size: bytes, or with a KiB/MiB/GiB suffix (default 4KiB)
  data          text | random (default text)
  connections   concurrent connections, one worker each (default 32)
  duration      seconds of the timed phase (default 10)
  requests      total requests instead of a duration (optional)
  keys          get: objects uploaded before the run and read in turn
                (default: max(2 x connections, min(1024, 256 MiB / size)))
  max_requests  put with a duration: URLs presigned up front (default: the smaller of
                200000 and 64 GiB / size); a worker that uses up its share stops early
  prefix        key prefix (default: run-<unix seconds>)
";

/// PUT with a duration: at most this many URLs presigned up front…
const PUT_URLS_MAX: u64 = 200_000;
/// …and at most this many bytes' worth of objects.
const PUT_BYTES_MAX: u64 = 64 << 30;
/// GET: the objects uploaded before the run total at most this many bytes…
const GET_SETUP_BYTES_MAX: u64 = 256 << 20;
/// …and number at most this many (beyond `2 x connections`).
const GET_KEYS_MAX: u64 = 1024;
/// Presigned URLs outlive any run.
const PRESIGN_EXPIRY: Duration = Duration::from_secs(6 * 3600);
/// Errors printed in full (status and start of the body); the rest are only counted.
const ERRORS_SHOWN: usize = 3;
/// Bytes of an error response's body kept for the message.
const ERROR_BODY_SHOWN: usize = 400;
/// Seed of the generated bodies (the engine bench uses the same).
const CORPUS_SEED: u64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Put,
    Get,
}

#[derive(Debug, Clone)]
struct Settings {
    endpoint: String,
    access_key: String,
    secret_key: String,
    region: String,
    bucket: String,
    target: String,
    op: Op,
    size: u64,
    data: String,
    connections: usize,
    duration: Duration,
    requests: Option<u64>,
    keys: u64,
    max_requests: u64,
    prefix: String,
}

/// Reads `S3LOAD_*` variables, then lets `--name value` flags override them. `Ok(None)` when
/// no endpoint is set (nothing to measure).
fn settings(args: &[String], env: &HashMap<String, String>) -> Result<Option<Settings>, String> {
    let mut vals: HashMap<String, String> = env
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("S3LOAD_")
                .map(|name| (name.to_ascii_lowercase(), v.clone()))
        })
        .collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--bench" {
            continue;
        }
        let name = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        vals.insert(name.replace('-', "_"), value.clone());
    }
    let Some(endpoint) = vals.remove("endpoint") else {
        return Ok(None);
    };
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let mut take = |name: &str, default: Option<&str>| -> Result<String, String> {
        vals.remove(name)
            .or_else(|| default.map(str::to_string))
            .ok_or_else(|| format!("setting {name} is required"))
    };
    let access_key = take(
        "access_key",
        env.get("STRATUM_ACCESS_KEY").map(String::as_str),
    )?;
    let secret_key = take(
        "secret_key",
        env.get("STRATUM_SECRET_KEY").map(String::as_str),
    )?;
    let region = take("region", Some("us-east-1"))?;
    let bucket = take("bucket", Some("s3load"))?;
    let target = take("target", Some(&endpoint))?;
    let op = match take("op", Some("put"))?.as_str() {
        "put" => Op::Put,
        "get" => Op::Get,
        other => return Err(format!("op must be put or get, not {other:?}")),
    };
    let size = parse_size(&take("size", Some("4KiB"))?)?;
    let data = take("data", Some("text"))?;
    if data != "text" && data != "random" {
        return Err(format!("data must be text or random, not {data:?}"));
    }
    let connections = parse_count("connections", &take("connections", Some("32"))?)?.max(1);
    let duration = take("duration", Some("10"))?;
    let duration = duration
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("duration {duration:?} is not a positive number of seconds"))?;
    let requests = match take("requests", Some("")) {
        Ok(s) if s.is_empty() => None,
        Ok(s) => Some(parse_count("requests", &s)?),
        Err(e) => return Err(e),
    };
    let per_object = size.max(1);
    let default_keys = (2 * connections).max(GET_KEYS_MAX.min(GET_SETUP_BYTES_MAX / per_object));
    let keys = parse_count("keys", &take("keys", Some(&default_keys.to_string()))?)?.max(1);
    let default_max = PUT_URLS_MAX
        .min(PUT_BYTES_MAX / per_object)
        .max(connections);
    let max_requests = parse_count(
        "max_requests",
        &take("max_requests", Some(&default_max.to_string()))?,
    )?
    .max(connections);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let prefix = take("prefix", Some(&format!("run-{now}")))?;
    if let Some(unknown) = vals.keys().next() {
        return Err(format!("unknown setting {unknown:?}"));
    }
    Ok(Some(Settings {
        endpoint,
        access_key,
        secret_key,
        region,
        bucket,
        target,
        op,
        size,
        data,
        connections: connections as usize,
        duration,
        requests,
        keys,
        max_requests,
        prefix,
    }))
}

fn parse_count(name: &str, s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|e| format!("{name}: {e} in {s:?}"))
}

/// `4096`, `4KiB`, `64MiB`, `1GiB`.
fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, shift) = [("GiB", 30), ("MiB", 20), ("KiB", 10)]
        .iter()
        .find_map(|(suffix, shift)| s.strip_suffix(suffix).map(|d| (d, *shift)))
        .unwrap_or((s, 0));
    let n = parse_count("size", digits)?;
    n.checked_shl(shift)
        .filter(|v| v >> shift == n)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

fn size_label(size: u64) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{}MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{}KiB", s >> 10),
        s => format!("{s}B"),
    }
}

/// Makes path-style presigned URLs: SigV4 in the query string, payload `UNSIGNED-PAYLOAD`.
#[derive(Debug)]
struct Presigner {
    endpoint: String,
    region: String,
    credentials: Credentials,
}

impl Presigner {
    fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Self {
        Presigner {
            endpoint: endpoint.to_string(),
            region: region.to_string(),
            credentials: Credentials::new(access_key, secret_key, None, None, "s3load"),
        }
    }

    /// The full presigned URL of `method` on `path` (which starts with `/`), signed as of `time`.
    fn presign_at(&self, method: &Method, path: &str, time: SystemTime, expires: Duration) -> Uri {
        let url = format!("{}{path}", self.endpoint);
        let identity = self.credentials.clone().into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .expect("every signing parameter is set")
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            &url,
            std::iter::empty(),
            SignableBody::UnsignedPayload,
        )
        .expect("a well-formed URL");
        let (instructions, _signature) = sign(signable, &params)
            .expect("query signing of a well-formed request")
            .into_parts();
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .body(())
            .expect("a well-formed URL");
        instructions.apply_to_request_http1x(&mut req);
        req.uri().clone()
    }

    /// The presigned request target (origin form: path and query) for one connection's use.
    fn target(&self, method: &Method, path: &str) -> Uri {
        let full = self.presign_at(method, path, SystemTime::now(), PRESIGN_EXPIRY);
        let origin = full.path_and_query().map_or("/", |pq| pq.as_str());
        origin.parse().expect("a presigned path and query")
    }
}

/// One keep-alive HTTP/1.1 connection, reopened only if the server closed it (counted).
///
/// hyper's connection API rather than hyper-util's pooled client: a closed-loop worker that
/// sends its next request the moment the last body ended can race the pool's return of the
/// idle connection and open a second one, which would measure connection setup, not requests.
struct Conn {
    addr: String,
    host: http::HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    connects: u64,
}

impl Conn {
    fn new(endpoint: &Uri) -> Result<Conn, String> {
        let authority = endpoint
            .authority()
            .ok_or_else(|| format!("endpoint {endpoint} has no host:port"))?;
        let port = authority.port_u16().unwrap_or(80);
        Ok(Conn {
            addr: format!("{}:{port}", authority.host()),
            host: authority
                .as_str()
                .parse()
                .map_err(|e| format!("host header: {e}"))?,
            sender: None,
            connects: 0,
        })
    }

    async fn ready(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let alive = match &mut self.sender {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        if !alive {
            self.sender = None;
            let tcp = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("TCP_NODELAY: {e}"))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                // Ends when the server or this worker closes the connection.
                let _ = conn.await;
            });
            sender
                .ready()
                .await
                .map_err(|e| format!("new connection: {e}"))?;
            self.connects += 1;
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("set above"))
    }

    /// Sends one request and drains the response; returns the response body's length, or a
    /// description of what went wrong (non-2xx status with the body's start, transport error,
    /// GET body of the wrong length).
    async fn send(
        &mut self,
        method: &Method,
        target: &Uri,
        body: &Bytes,
        expect_len: Option<u64>,
    ) -> Result<u64, String> {
        let req = Request::builder()
            .method(method)
            .uri(target.clone())
            .header(header::HOST, self.host.clone())
            .body(Full::new(body.clone()))
            .map_err(|e| format!("request: {e}"))?;
        let sender = self.ready().await?;
        let resp = match sender.send_request(req).await {
            Ok(resp) => resp,
            Err(e) => {
                self.sender = None;
                return Err(format!("{method} transport: {e}"));
            }
        };
        let status = resp.status();
        let mut body = resp.into_body();
        let mut n = 0u64;
        let mut shown = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("{method} {status} body: {e}"))?;
            if let Some(data) = frame.data_ref() {
                n += data.len() as u64;
                if !status.is_success() && shown.len() < ERROR_BODY_SHOWN {
                    let room = ERROR_BODY_SHOWN - shown.len();
                    shown.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
        }
        if !status.is_success() {
            return Err(format!(
                "{method} {status}: {}",
                String::from_utf8_lossy(&shown).trim()
            ));
        }
        match expect_len {
            Some(len) if n != len => Err(format!("{method} body of {n} bytes, not {len}")),
            _ => Ok(n),
        }
    }
}

/// What one worker measured.
struct Tally {
    latency_us: Histogram<u64>,
    requests: u64,
    bytes: u64,
    errors: u64,
    shown: Vec<String>,
    connects: u64,
    exhausted: bool,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            // 1 µs to 1 hour at 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("valid histogram bounds"),
            requests: 0,
            bytes: 0,
            errors: 0,
            shown: Vec::new(),
            connects: 0,
            exhausted: false,
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        if self.shown.len() < ERRORS_SHOWN {
            self.shown.push(e);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of equal bounds");
        self.requests += other.requests;
        self.bytes += other.bytes;
        self.errors += other.errors;
        self.connects += other.connects;
        self.exhausted |= other.exhausted;
        for e in other.shown {
            if self.shown.len() < ERRORS_SHOWN {
                self.shown.push(e);
            }
        }
    }
}

/// How a worker's timed phase ends.
#[derive(Clone, Copy)]
enum Stop {
    /// After this many requests.
    Count(u64),
    /// At the first request that would start this long after the common start.
    After(Duration),
}

/// One worker: a warm-up request on its own connection, the common start, then closed-loop
/// requests over `targets` (from `first`, wrapping) until `stop` or the end of `targets` for
/// PUT (each PUT URL names a distinct key).
#[allow(clippy::too_many_arguments)]
async fn worker(
    endpoint: Uri,
    op: Op,
    warm: Uri,
    targets: Arc<Vec<Uri>>,
    first: usize,
    stop: Stop,
    body: Bytes,
    size: u64,
    start: Arc<Barrier>,
) -> Result<Tally, String> {
    let mut conn = Conn::new(&endpoint)?;
    let (method, send_body, expect) = match op {
        Op::Put => (Method::PUT, body, None),
        Op::Get => (Method::GET, Bytes::new(), Some(size)),
    };
    let warm_up = conn.send(&method, &warm, &send_body, expect).await;
    // Every worker reaches the barrier, so a failed warm-up cannot strand the others.
    start.wait().await;
    warm_up.map_err(|e| format!("warm-up: {e}"))?;
    let t0 = Instant::now();
    let mut tally = Tally::new();
    for i in 0.. {
        let more = match stop {
            Stop::Count(n) => i < n,
            Stop::After(d) => t0.elapsed() < d,
        };
        if !more {
            break;
        }
        let index = first + i as usize;
        if op == Op::Put && index >= targets.len() {
            tally.exhausted = true;
            break;
        }
        let target = &targets[index % targets.len()];
        let t = Instant::now();
        match conn.send(&method, target, &send_body, expect).await {
            Ok(n) => {
                let us = (t.elapsed().as_micros() as u64).max(1);
                tally.latency_us.saturating_record(us);
                tally.requests += 1;
                tally.bytes += if op == Op::Put { size } else { n };
            }
            Err(e) => tally.error(e),
        }
    }
    tally.connects = conn.connects;
    Ok(tally)
}

fn object_path(s: &Settings, key: &str) -> String {
    format!("/{}/{}/{key}", s.bucket, s.prefix)
}

/// Creates the bucket unless it exists (409 from a server that has it is fine).
async fn ensure_bucket(s: &Settings, signer: &Presigner, endpoint: &Uri) -> Result<(), String> {
    let mut conn = Conn::new(endpoint)?;
    let target = signer.target(&Method::PUT, &format!("/{}", s.bucket));
    match conn.send(&Method::PUT, &target, &Bytes::new(), None).await {
        Ok(_) => Ok(()),
        Err(e) if e.starts_with("PUT 409") => Ok(()),
        Err(e) => Err(format!("CreateBucket {}: {e}", s.bucket)),
    }
}

/// GET: uploads the objects the run reads (untimed), then reads the first back whole and
/// compares it byte for byte.
async fn upload_get_set(
    s: &Settings,
    signer: &Presigner,
    endpoint: &Uri,
    body: &Bytes,
) -> Result<Vec<String>, String> {
    let paths: Vec<String> = (0..s.keys)
        .map(|i| object_path(s, &format!("get/{i}")))
        .collect();
    let lanes = s.connections.min(paths.len());
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let mine: Vec<Uri> = paths
            .iter()
            .skip(lane)
            .step_by(lanes)
            .map(|p| signer.target(&Method::PUT, p))
            .collect();
        let (endpoint, body) = (endpoint.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(&endpoint)?;
            for target in &mine {
                conn.send(&Method::PUT, target, &body, None).await?;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| format!("upload task: {e}"))?
            .map_err(|e| format!("uploading the GET objects: {e}"))?;
    }
    let mut conn = Conn::new(endpoint)?;
    let target = signer.target(&Method::GET, &paths[0]);
    let req = Request::builder()
        .uri(target)
        .header(header::HOST, conn.host.clone())
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = conn
        .ready()
        .await?
        .send_request(req)
        .await
        .map_err(|e| format!("GET check: {e}"))?;
    let status = resp.status();
    let got = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET check body: {e}"))?
        .to_bytes();
    if !status.is_success() || got != *body {
        return Err(format!(
            "GET check of {}: status {status}, {} bytes back, content {}",
            paths[0],
            got.len(),
            if got == *body { "equal" } else { "DIFFERENT" }
        ));
    }
    Ok(paths)
}

async fn run(s: Settings) -> Result<Tally, String> {
    let endpoint: Uri = s
        .endpoint
        .parse()
        .map_err(|e| format!("endpoint {:?}: {e}", s.endpoint))?;
    if endpoint.scheme_str() != Some("http") {
        return Err("endpoint must be http:// (no TLS in this load generator)".into());
    }
    let size = usize::try_from(s.size).map_err(|_| "size does not fit in memory")?;
    let body = Bytes::from(match s.data.as_str() {
        "text" => stratum_codec::corpus::text_like(size, CORPUS_SEED),
        _ => stratum_codec::corpus::random(size, CORPUS_SEED),
    });
    let signer = Presigner::new(&s.endpoint, &s.region, &s.access_key, &s.secret_key);
    ensure_bucket(&s, &signer, &endpoint).await?;

    let conns = s.connections;
    // Each worker's requests: its share of the count, or of the URL budget under a duration.
    let share =
        |w: usize, total: u64| total / conns as u64 + u64::from((w as u64) < total % conns as u64);
    let stop = |w: usize| match s.requests {
        Some(n) => Stop::Count(share(w, n)),
        None => Stop::After(s.duration),
    };
    // (warm-up target, targets, first index) per worker.
    let mut plans: Vec<(Uri, Arc<Vec<Uri>>, usize)> = Vec::with_capacity(conns);
    match s.op {
        Op::Put => {
            let budget = s.requests.unwrap_or(s.max_requests);
            for w in 0..conns {
                let warm = signer.target(&Method::PUT, &object_path(&s, &format!("warm/{w}")));
                let targets: Vec<Uri> = (0..share(w, budget))
                    .map(|i| signer.target(&Method::PUT, &object_path(&s, &format!("put/{w}/{i}"))))
                    .collect();
                plans.push((warm, Arc::new(targets), 0));
            }
        }
        Op::Get => {
            let paths = upload_get_set(&s, &signer, &endpoint, &body).await?;
            let targets: Arc<Vec<Uri>> = Arc::new(
                paths
                    .iter()
                    .map(|p| signer.target(&Method::GET, p))
                    .collect(),
            );
            for w in 0..conns {
                // Workers start spread over the key set so they do not read in lockstep.
                let first = w * targets.len() / conns;
                plans.push((targets[first].clone(), targets.clone(), first));
            }
        }
    }

    let start = Arc::new(Barrier::new(conns + 1));
    let handles: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(w, (warm, targets, first))| {
            tokio::spawn(worker(
                endpoint.clone(),
                s.op,
                warm,
                targets,
                first,
                stop(w),
                body.clone(),
                s.size,
                start.clone(),
            ))
        })
        .collect();
    start.wait().await;
    let t0 = Instant::now();
    let mut total = Tally::new();
    let mut failed = None;
    for h in handles {
        match h.await.map_err(|e| format!("worker: {e}")) {
            Ok(Ok(t)) => total.merge(t),
            Ok(Err(e)) | Err(e) => failed = failed.or(Some(e)),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(e) = failed {
        return Err(e);
    }
    let ms = |q: f64| total.latency_us.value_at_quantile(q) as f64 / 1e3;
    println!(
        "s3load target={} op={} size={} data={} connections={} requests={} secs={:.2} \
         req_s={:.1} mb_s={:.1} p50_ms={:.2} p99_ms={:.2} errors={} connects={}{}",
        s.target,
        if s.op == Op::Put { "put" } else { "get" },
        size_label(s.size),
        s.data,
        conns,
        total.requests,
        secs,
        total.requests as f64 / secs,
        total.bytes as f64 / secs / 1e6,
        ms(0.50),
        ms(0.99),
        total.errors,
        total.connects,
        if total.exhausted { " exhausted=1" } else { "" },
    );
    Ok(total)
}

/// Offline checks run under `cargo test --all-targets`: the presigner reproduces AWS's
/// published presigned-URL example, and settings parse.
fn self_check() {
    // "Example: presigned URL" in the S3 SigV4 query-string authentication documentation.
    let signer = Presigner::new(
        "https://examplebucket.s3.amazonaws.com",
        "us-east-1",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24
    let url = signer.presign_at(&Method::GET, "/test.txt", time, Duration::from_secs(86_400));
    let want = "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    assert!(url.to_string().contains(want), "presigned URL {url}");

    assert_eq!(parse_size("4KiB"), Ok(4096));
    assert_eq!(parse_size("64MiB"), Ok(64 << 20));
    assert_eq!(parse_size("100"), Ok(100));
    assert!(parse_size("99999999999GiB").is_err());
    let env: HashMap<String, String> = [
        ("S3LOAD_ENDPOINT", "http://127.0.0.1:9/"),
        ("S3LOAD_SIZE", "64MiB"),
        ("STRATUM_ACCESS_KEY", "ak"),
        ("STRATUM_SECRET_KEY", "sk"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let args = ["--bench", "--connections", "4", "--op", "get"].map(String::from);
    let s = settings(&args, &env).expect("valid").expect("endpoint set");
    assert_eq!(s.endpoint, "http://127.0.0.1:9");
    assert_eq!((s.op, s.connections, s.size), (Op::Get, 4, 64 << 20));
    assert_eq!((s.keys, s.max_requests), (8, 1024));
    assert!(settings(&["--colour".into(), "x".into()], &env).is_err());
    assert!(settings(&[], &HashMap::new()).expect("valid").is_none());
    println!(
        "s3load: self-check passed (set S3LOAD_ENDPOINT and run under cargo bench to measure)"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        self_check();
        return;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return;
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let s = match settings(&args, &env) {
        Ok(Some(s)) => s,
        Ok(None) => {
            // `cargo bench --workspace` without a server: nothing to measure.
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("s3load: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(s)) {
        Ok(t) if t.errors == 0 => {}
        Ok(t) => {
            for e in &t.shown {
                eprintln!("s3load: error: {e}");
            }
            eprintln!("s3load: {} errors: not a valid figure", t.errors);
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("s3load: {e}");
            std::process::exit(1);
        }
    }
}
