//! `stratum tier explain|decisions|summary|run`: the client side of the admin API
//! ([`crate::admin_api`]). It finds the server and a root key ([`AdminEndpoint`]), signs each
//! request with SigV4 (`aws-sigv4`, header form, `UNSIGNED-PAYLOAD`), sends it over one
//! plain HTTP/1.1 connection (the CLI runs beside the server; no TLS), and prints the answer
//! for people, or as the server's JSON with `--json`.
//!
//! The answers are read into lenient mirrors of the server's types rather than the types
//! themselves: a non-finite number (an empty tier's cutoff) arrives as JSON `null`, which
//! the server's `f64` fields cannot read back, and a newer server may add fields.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use stratum_auth::canonical::uri_encode;
use stratum_auth::SecretKey;
use stratum_core::{BucketName, ObjectKey};

use crate::cli::{AdminEndpoint, TierDecisionsArgs, TierExplainArgs};
use crate::config::Config;
use crate::keys::KeyFile;
use crate::serve::{ACCESS_KEY_ENV, SECRET_KEY_ENV};

/// The admin API's tier routes.
const TIER_PATH: &str = "/_stratum/admin/v1/tier";
/// How long connecting to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (10,000 decisions are a few MB).
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Volumes listed by name in `explain` before the rest are counted.
const VOLUMES_SHOWN: usize = 4;

/// A signed caller of one server's admin API.
pub struct AdminClient {
    /// `HOST:PORT` to connect to.
    addr: String,
    /// The `Host` header, as signed.
    host: String,
    region: String,
    access_key: String,
    secret: SecretKey,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("addr", &self.addr)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// A failed call: the server's JSON error, or what came instead.
#[derive(Debug, thiserror::Error)]
#[error("the server answered {status} {code}: {message}")]
pub struct CallError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error code (`NoSuchKey`, `TieringDisabled`, ...), or `-` if the body was not JSON.
    pub code: String,
    /// The message.
    pub message: String,
}

impl AdminClient {
    /// A client of the server at `endpoint` (`http://HOST:PORT`, nothing after the port but
    /// an optional `/`), signing with the given key for `region`.
    pub fn new(
        endpoint: &str,
        region: impl Into<String>,
        access_key: impl Into<String>,
        secret: SecretKey,
    ) -> anyhow::Result<Self> {
        let uri: Uri = endpoint
            .parse()
            .with_context(|| format!("the endpoint {endpoint:?} is not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                bail!("the endpoint must be http:// (the admin client has no TLS), not {other}://")
            }
            None => bail!("the endpoint {endpoint:?} needs http://"),
        }
        if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
            bail!("the endpoint {endpoint:?} must not have a path");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("the endpoint {endpoint:?} has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        // The Host header as aws-sigv4 signs it: the default port left out.
        let host = if authority.port_u16() == Some(80) {
            authority.host().to_owned()
        } else {
            authority.as_str().to_owned()
        };
        Ok(AdminClient {
            addr: format!("{}:{port}", authority.host()),
            host,
            region: region.into(),
            access_key: access_key.into(),
            secret,
        })
    }

    /// A request for `path` with `query` (names and values unencoded), signed as of
    /// `time`: origin-form URI, `Host`, `x-amz-date`, `x-amz-content-sha256:
    /// UNSIGNED-PAYLOAD` and `Authorization`.
    pub fn signed_request(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        time: SystemTime,
    ) -> anyhow::Result<Request<()>> {
        let encoded: Vec<String> = query
            .iter()
            .map(|(n, v)| format!("{}={}", uri_encode(n.as_bytes()), uri_encode(v.as_bytes())))
            .collect();
        let target = if encoded.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", encoded.join("&"))
        };
        let url = format!("http://{}{target}", self.host);
        let identity = Credentials::new(
            self.access_key.clone(),
            self.secret.expose().to_owned(),
            None,
            None,
            "stratum-cli",
        )
        .into();
        // S3's signing rules, which the server checks: the payload hash in a header, the
        // path encoded once and not normalized.
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .context("building the signing parameters")?
            .into();
        let signable = SignableRequest::new(
            method.as_str(),
            &url,
            std::iter::once(("host", self.host.as_str())),
            SignableBody::UnsignedPayload,
        )
        .context("preparing the request for signing")?;
        let (instructions, _signature) = sign(signable, &params)
            .context("signing the request")?
            .into_parts();
        let mut req = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::HOST, HeaderValue::from_str(&self.host)?)
            .body(())
            .context("building the request")?;
        instructions.apply_to_request_http1x(&mut req);
        // Sent in origin form (path and query), as HTTP/1.1 clients do.
        let origin: Uri = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse()
            .context("the request target")?;
        *req.uri_mut() = origin;
        Ok(req)
    }

    /// Sends one signed request and returns the body of a 2xx answer; any other status is a
    /// [`CallError`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<Bytes> {
        let req = self
            .signed_request(&method, path, query, SystemTime::now())?
            .map(|()| Full::new(Bytes::new()));
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&self.addr))
            .await
            .map_err(|_| anyhow!("connecting to {} timed out", self.addr))?
            .with_context(|| format!("connecting to {} (is stratum serving there?)", self.addr))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .context("starting HTTP/1.1")?;
        let conn = tokio::spawn(conn);
        let resp = sender
            .send_request(req)
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("reading the answer")?;
            if let Some(data) = frame.data_ref() {
                if bytes.len() + data.len() > RESPONSE_BYTES_MAX {
                    bail!("the answer is over {RESPONSE_BYTES_MAX} bytes");
                }
                bytes.extend_from_slice(data);
            }
        }
        drop(sender);
        conn.abort();
        if !status.is_success() {
            return Err(call_error(status, &bytes).into());
        }
        Ok(Bytes::from(bytes))
    }
}

fn call_error(status: StatusCode, body: &[u8]) -> CallError {
    #[derive(Deserialize)]
    struct ErrorBody {
        code: String,
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => CallError {
            status,
            code: e.code,
            message: e.message,
        },
        Err(_) => CallError {
            status,
            code: "-".to_owned(),
            message: String::from_utf8_lossy(&body[..body.len().min(512)])
                .trim()
                .to_owned(),
        },
    }
}

/// Where the credentials came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// `--access-key`/`--secret-key`.
    Flags,
    /// `STRATUM_ACCESS_KEY`/`STRATUM_SECRET_KEY`.
    Environment,
    /// The config file's `[credentials]`.
    ConfigFile,
    /// The root key in the key file.
    KeyFile,
}

/// The key to sign with: the flags, else the environment, else the config file, else the
/// key file's root key (the same order the server takes its root key in, so the defaults
/// find the key the server admits). `env` reads an environment variable.
pub fn resolve_credentials(
    args: &AdminEndpoint,
    config: &Config,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(String, SecretKey, CredentialSource)> {
    if let (Some(a), Some(s)) = (&args.access_key, &args.secret_key) {
        return Ok((
            a.clone(),
            SecretKey::new(s.clone()),
            CredentialSource::Flags,
        ));
    }
    let access = env(ACCESS_KEY_ENV).filter(|v| !v.is_empty());
    let secret = env(SECRET_KEY_ENV).filter(|v| !v.is_empty());
    match (access, secret) {
        (Some(a), Some(s)) => return Ok((a, SecretKey::new(s), CredentialSource::Environment)),
        (None, None) => {}
        _ => bail!("set both {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or neither"),
    }
    if let Some(c) = &config.credentials {
        return Ok((
            c.access_key.clone(),
            SecretKey::new(c.secret_key.clone()),
            CredentialSource::ConfigFile,
        ));
    }
    let file = KeyFile::new(&config.data_dir);
    let keys = file
        .read()
        .with_context(|| format!("reading {}", file.path().display()))?;
    match keys.into_iter().find(|k| k.root) {
        Some(k) => Ok((
            k.access_key.clone(),
            SecretKey::new(k.secret_key.clone()),
            CredentialSource::KeyFile,
        )),
        None => bail!(
            "no credentials: pass --access-key and --secret-key, set {ACCESS_KEY_ENV} and \
             {SECRET_KEY_ENV}, or run where the server's key file {} is readable",
            file.path().display()
        ),
    }
}

/// `http://` + the config's `server.address`, with a wildcard listen address replaced by
/// loopback.
pub fn default_endpoint(address: &str) -> anyhow::Result<String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("server.address {address:?} is not HOST:PORT; pass --endpoint"))?;
    if port == "0" {
        bail!("server.address {address:?} picks a free port; pass --endpoint with the port the server printed");
    }
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    Ok(format!("http://{host}:{port}"))
}

/// The client `args` describe (config file, flags, environment).
pub fn client_for(args: &AdminEndpoint) -> anyhow::Result<AdminClient> {
    let config = args.location.load()?;
    let endpoint = match &args.endpoint {
        Some(e) => e.clone(),
        None => default_endpoint(&config.server.address)?,
    };
    let region = args
        .region
        .clone()
        .unwrap_or_else(|| config.server.region.clone());
    let (access_key, secret, _) = resolve_credentials(args, &config, |n| std::env::var(n).ok())?;
    AdminClient::new(&endpoint, region, access_key, secret)
}

/// Runs one call on a small runtime of its own.
fn call_blocking(
    client: &AdminClient,
    method: Method,
    route: &str,
    query: &[(&str, String)],
) -> anyhow::Result<Bytes> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(client.call(method, &format!("{TIER_PATH}/{route}"), query))
}

fn print_json(out: &mut dyn Write, body: &[u8]) -> anyhow::Result<()> {
    out.write_all(body)?;
    writeln!(out)?;
    Ok(())
}

/// Splits `BUCKET/KEY` at its first `/` and checks both halves.
pub fn parse_object(text: &str) -> anyhow::Result<(BucketName, ObjectKey)> {
    let (bucket, key) = text
        .split_once('/')
        .ok_or_else(|| anyhow!("{text:?} is not BUCKET/KEY"))?;
    let bucket = BucketName::new(bucket).with_context(|| format!("in {text:?}"))?;
    let key = ObjectKey::new(key).with_context(|| format!("in {text:?}"))?;
    Ok((bucket, key))
}

/// A `--since`/`--until` value as ms since the epoch: an age before `now_ms` (`90s`, `30m`,
/// `1h`, `2d`, `1w`) or an RFC 3339 time.
pub fn parse_time(text: &str, now_ms: i64) -> anyhow::Result<i64> {
    let unit_ms: Option<i64> = match text.chars().last() {
        Some('s') => Some(1_000),
        Some('m') => Some(60_000),
        Some('h') => Some(3_600_000),
        Some('d') => Some(86_400_000),
        Some('w') => Some(7 * 86_400_000),
        _ => None,
    };
    if let Some(unit) = unit_ms {
        if let Ok(n) = text[..text.len() - 1].parse::<i64>() {
            let age = n
                .checked_mul(unit)
                .filter(|a| *a >= 0)
                .ok_or_else(|| anyhow!("{text:?} is out of range"))?;
            return Ok(now_ms.saturating_sub(age));
        }
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            anyhow!("{text:?} is neither an age (90s, 30m, 1h, 2d, 1w) nor an RFC 3339 time")
        })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| anyhow!("{text:?} is out of range"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `stratum tier explain BUCKET/KEY`.
pub fn explain_command(args: &TierExplainArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (bucket, key) = parse_object(&args.object)?;
    let client = client_for(&args.server)?;
    let body = call_blocking(
        &client,
        Method::GET,
        "explain",
        &[
            ("bucket", bucket.as_str().to_owned()),
            ("key", key.as_str().to_owned()),
        ],
    )?;
    if args.server.json {
        return print_json(out, &body);
    }
    let view: ExplainView = serde_json::from_slice(&body).context("reading the answer")?;
    render_explain(&view, out)
}

/// `stratum tier decisions`.
pub fn decisions_command(args: &TierDecisionsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = now_ms();
    let mut query = vec![("limit", args.limit.to_string())];
    if let Some(b) = &args.bucket {
        BucketName::new(b.as_str()).with_context(|| format!("--bucket {b:?}"))?;
        query.push(("bucket", b.clone()));
    }
    if let Some(k) = &args.key {
        query.push(("key", k.clone()));
    }
    if let Some(t) = &args.since {
        query.push(("since_ms", parse_time(t, now)?.to_string()));
    }
    if let Some(t) = &args.until {
        query.push(("until_ms", parse_time(t, now)?.to_string()));
    }
    let client = client_for(&args.server)?;
    let body = call_blocking(&client, Method::GET, "decisions", &query)?;
    if args.server.json {
        return print_json(out, &body);
    }
    let view: DecisionsView = serde_json::from_slice(&body).context("reading the answer")?;
    render_decisions(&view, out)
}

/// `stratum tier summary`.
pub fn summary_command(args: &AdminEndpoint, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = client_for(args)?;
    let body = call_blocking(&client, Method::GET, "summary", &[])?;
    if args.json {
        return print_json(out, &body);
    }
    let view: SummaryView = serde_json::from_slice(&body).context("reading the answer")?;
    render_summary(&view, out)
}

/// `stratum tier run`: one policy pass now; waits for its moves.
pub fn run_command(args: &AdminEndpoint, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = client_for(args)?;
    let body = call_blocking(&client, Method::POST, "run", &[])?;
    if args.json {
        return print_json(out, &body);
    }
    let view: RunView = serde_json::from_slice(&body).context("reading the answer")?;
    render_run(&view, out)
}

// The server's answers, leniently (module docs).

/// `tier/explain`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExplainView {
    bucket: String,
    key: String,
    tier: String,
    seq: u64,
    size: u64,
    location: LocationView,
    access: AccessView,
    hint: String,
    outlook: OutlookView,
    thresholds: ThresholdsView,
    decisions: Vec<DecisionView>,
    next: NextView,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LocationView {
    frames: u64,
    volumes: Vec<String>,
    stored_bytes: u64,
    compression_ratio: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccessView {
    gets: u64,
    heads: u64,
    bytes_read: u64,
    last_access_ms: Option<i64>,
    last_move_ms: Option<i64>,
    created_ms: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutlookView {
    hot_score: Option<f64>,
    hot_cutoff: Option<f64>,
    warm_score: Option<f64>,
    warm_cutoff: Option<f64>,
    rate_per_day: Option<f64>,
    spike_per_day: Option<f64>,
    cost_per_day: [Option<f64>; 3],
    target: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ThresholdsView {
    hot_watermarks: [Option<f64>; 2],
    warm_watermarks: [Option<f64>; 2],
    fill: [Option<f64>; 2],
    hysteresis: Option<f64>,
    min_residency_s: Option<f64>,
    spike_min_accesses: Option<f64>,
    warming_up: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NextView {
    action: String,
    at_ms: Option<i64>,
    why: String,
}

/// One decision (with its id in `tier/decisions`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DecisionView {
    id: Option<u64>,
    at_ms: i64,
    bucket: String,
    key: String,
    from: Option<String>,
    to: String,
    reason: String,
    inputs: InputsView,
    outcome: OutcomeView,
    size: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InputsView {
    score: Option<f64>,
    threshold: Option<f64>,
    rate_per_day: Option<f64>,
    fill: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OutcomeView {
    kind: String,
    bytes: Option<u64>,
    error: Option<String>,
    why: Option<String>,
}

/// `tier/decisions`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionsView {
    decisions: Vec<DecisionView>,
}

/// `tier/summary`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SummaryView {
    tiers: Vec<TierView>,
    pending_moves: u64,
    monthly_cost_usd: Option<f64>,
    all_hot_monthly_cost_usd: Option<f64>,
    monthly_saving_usd: Option<f64>,
    mover: MoverView,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TierView {
    tier: String,
    configured: bool,
    objects: u64,
    logical_bytes: u64,
    stored_bytes: u64,
    compression_ratio: Option<f64>,
    capacity_bytes: Option<u64>,
    fill: Option<f64>,
    monthly_cost_usd: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoverView {
    moves: Vec<MoveView>,
    failures: u64,
    skipped: u64,
    passes: u64,
    recompress_logical_bytes: u64,
    recompress_secs: Option<f64>,
    cold_uploaded_bytes: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MoveView {
    from: String,
    to: String,
    reason: String,
    moves: u64,
    bytes: u64,
}

/// `tier/run`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunView {
    decisions: u64,
    moved: u64,
    bytes_moved: u64,
    skipped: u64,
    failed: u64,
    objects: u64,
}

// Formatting.

/// Bytes in binary units: `512 B`, `1.5 KiB`, `2.0 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Ms since the epoch as RFC 3339 UTC, whole seconds.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_owned(), rfc3339)
}

/// A number with `digits` decimals; `-` when absent (a non-finite value on the server).
fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn outcome(o: &OutcomeView) -> String {
    match o.kind.as_str() {
        "done" => match o.bytes {
            Some(b) => format!("done ({} copied)", human_bytes(b)),
            None => "done".to_owned(),
        },
        "failed" => format!("failed: {}", o.error.as_deref().unwrap_or("?")),
        "skipped" => format!("skipped: {}", o.why.as_deref().unwrap_or("?")),
        other => other.to_owned(),
    }
}

fn transition(d: &DecisionView) -> String {
    format!("{}→{}", d.from.as_deref().unwrap_or("new"), d.to)
}

fn score_vs(i: &InputsView) -> String {
    format!("score {} vs {}", num(i.score, 4), num(i.threshold, 4))
}

/// `explain` for people.
pub fn render_explain(v: &ExplainView, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "{}/{}", v.bucket, v.key)?;
    writeln!(out, "  tier:        {} (version seq {})", v.tier, v.seq)?;
    writeln!(out, "  size:        {}", human_bytes(v.size))?;
    let l = &v.location;
    let mut volumes = l
        .volumes
        .iter()
        .take(VOLUMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if l.volumes.len() > VOLUMES_SHOWN {
        volumes.push_str(&format!(", +{} more", l.volumes.len() - VOLUMES_SHOWN));
    }
    writeln!(
        out,
        "  location:    {} in {} ({volumes}), {} stored, ratio {}",
        plural(l.frames, "frame", "frames"),
        plural(l.volumes.len() as u64, "volume", "volumes"),
        human_bytes(l.stored_bytes),
        num(l.compression_ratio, 2),
    )?;
    let a = &v.access;
    writeln!(
        out,
        "  access:      {}, {}, {} read; last GET {}; last move {}; written {}",
        plural(a.gets, "GET", "GETs"),
        plural(a.heads, "HEAD", "HEADs"),
        human_bytes(a.bytes_read),
        opt_time(a.last_access_ms),
        opt_time(a.last_move_ms),
        opt_time(a.created_ms),
    )?;
    let hint = if v.hint == "auto" {
        "auto (no x-amz-meta-stratum-tier)".to_owned()
    } else {
        format!("{} (pinned by x-amz-meta-stratum-tier)", v.hint)
    };
    writeln!(out, "  hint:        {hint}")?;
    let o = &v.outlook;
    writeln!(
        out,
        "  scores:      hot {} vs cutoff {}, warm {} vs cutoff {} ($/GB-month saved); they point to {}",
        num(o.hot_score, 4),
        num(o.hot_cutoff, 4),
        num(o.warm_score, 4),
        num(o.warm_cutoff, 4),
        o.target,
    )?;
    writeln!(
        out,
        "  rates:       {}/day long-term, {}/day spike; cost/day hot ${}, warm ${}, cold ${}",
        num(o.rate_per_day, 2),
        num(o.spike_per_day, 2),
        num(o.cost_per_day[0], 6),
        num(o.cost_per_day[1], 6),
        num(o.cost_per_day[2], 6),
    )?;
    let t = &v.thresholds;
    writeln!(
        out,
        "  thresholds:  hot fill {} (watermarks {}/{}), warm fill {} (watermarks {}/{}), \
         hysteresis {}, min residency {} s, spike at {} accesses{}",
        percent(t.fill[0]),
        percent(t.hot_watermarks[0]),
        percent(t.hot_watermarks[1]),
        percent(t.fill[1]),
        percent(t.warm_watermarks[0]),
        percent(t.warm_watermarks[1]),
        num(t.hysteresis, 2),
        num(t.min_residency_s, 0),
        num(t.spike_min_accesses, 0),
        if t.warming_up {
            "; warming up (capacity moves only)"
        } else {
            ""
        },
    )?;
    if v.decisions.is_empty() {
        writeln!(out, "  decisions:   none recorded")?;
    } else {
        writeln!(out, "  decisions (newest first):")?;
        for d in &v.decisions {
            writeln!(
                out,
                "    {}  {}  {}  {}  {}",
                rfc3339(d.at_ms),
                transition(d),
                d.reason,
                score_vs(&d.inputs),
                outcome(&d.outcome),
            )?;
        }
    }
    writeln!(
        out,
        "next: {} at {}: {}",
        v.next.action,
        opt_time(v.next.at_ms),
        v.next.why
    )?;
    Ok(())
}

/// `decisions` for people: one line each.
pub fn render_decisions(v: &DecisionsView, out: &mut dyn Write) -> anyhow::Result<()> {
    if v.decisions.is_empty() {
        writeln!(out, "no decisions match")?;
        return Ok(());
    }
    for d in &v.decisions {
        let id = d.id.map_or_else(String::new, |id| format!("#{id} "));
        writeln!(
            out,
            "{id}{}  {}/{}  {}  {}  {}  {}  {}",
            rfc3339(d.at_ms),
            d.bucket,
            d.key,
            human_bytes(d.size),
            transition(d),
            d.reason,
            score_vs(&d.inputs),
            outcome(&d.outcome),
        )?;
    }
    Ok(())
}

fn usd(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("${v:.2}"))
}

/// `summary` for people: a table per tier, then pending moves and cost.
pub fn render_summary(v: &SummaryView, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<5} {:>9} {:>11} {:>11} {:>6} {:>22} {:>10}",
        "TIER", "OBJECTS", "LOGICAL", "STORED", "RATIO", "FILL", "$/MONTH"
    )?;
    for t in &v.tiers {
        if !t.configured {
            writeln!(out, "{:<5} (not configured)", t.tier)?;
            continue;
        }
        let fill = match t.capacity_bytes {
            Some(c) => format!("{} of {}", percent(t.fill), human_bytes(c)),
            None => "-".to_owned(),
        };
        writeln!(
            out,
            "{:<5} {:>9} {:>11} {:>11} {:>6} {:>22} {:>10}",
            t.tier,
            t.objects,
            human_bytes(t.logical_bytes),
            human_bytes(t.stored_bytes),
            num(t.compression_ratio, 2),
            fill,
            usd(t.monthly_cost_usd),
        )?;
    }
    writeln!(out, "pending moves: {}", v.pending_moves)?;
    let share = match (v.monthly_saving_usd, v.all_hot_monthly_cost_usd) {
        (Some(s), Some(all)) if all > 0.0 => format!(" ({:.1}%)", s / all * 100.0),
        _ => String::new(),
    };
    writeln!(
        out,
        "monthly cost: {} vs {} all hot: saving {}{share}",
        usd(v.monthly_cost_usd),
        usd(v.all_hot_monthly_cost_usd),
        usd(v.monthly_saving_usd),
    )?;
    let m = &v.mover;
    let moved: u64 = m.moves.iter().map(|c| c.moves).sum();
    writeln!(
        out,
        "mover since start: {}, {}, {} failed, {} skipped",
        plural(m.passes, "pass", "passes"),
        plural(moved, "move", "moves"),
        m.failures,
        m.skipped
    )?;
    for c in &m.moves {
        writeln!(
            out,
            "  {}→{} {}: {} ({})",
            c.from,
            c.to,
            c.reason,
            plural(c.moves, "move", "moves"),
            human_bytes(c.bytes)
        )?;
    }
    if m.recompress_logical_bytes > 0 || m.cold_uploaded_bytes > 0 {
        writeln!(
            out,
            "  cold: {} recompressed in {} s, {} uploaded",
            human_bytes(m.recompress_logical_bytes),
            num(m.recompress_secs, 1),
            human_bytes(m.cold_uploaded_bytes)
        )?;
    }
    Ok(())
}

/// `run`'s report for people.
pub fn render_run(v: &RunView, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "pass done: {}, {} moved ({}), {} skipped, {} failed; {} in the catalog",
        plural(v.decisions, "decision", "decisions"),
        v.moved,
        human_bytes(v.bytes_moved),
        v.skipped,
        v.failed,
        plural(v.objects, "object", "objects"),
    )?;
    if v.failed > 0 {
        writeln!(
            out,
            "failed moves are retried by a later pass; `stratum tier decisions` shows why"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn sizes_and_times_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_999), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn since_takes_ages_and_times() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_time("30m", now).unwrap(), now - 1_800_000);
        assert_eq!(parse_time("1h", now).unwrap(), now - 3_600_000);
        assert_eq!(parse_time("2d", now).unwrap(), now - 172_800_000);
        assert_eq!(parse_time("45s", now).unwrap(), now - 45_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00", now).unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("-1h", now).is_err());
        assert!(parse_time("h", now).is_err());
    }

    #[test]
    fn objects_split_at_the_first_slash() {
        let (b, k) = parse_object("photos/2024/cat.jpg").unwrap();
        assert_eq!((b.as_str(), k.as_str()), ("photos", "2024/cat.jpg"));
        assert!(parse_object("photos").is_err());
        assert!(parse_object("photos/").is_err());
        assert!(parse_object("Bad_Bucket/k").is_err());
    }

    #[test]
    fn the_default_endpoint_is_the_listen_address() {
        assert_eq!(
            default_endpoint("127.0.0.1:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            default_endpoint("0.0.0.0:9000").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(default_endpoint("[::]:9000").unwrap(), "http://[::1]:9000");
        assert!(default_endpoint("127.0.0.1:0").is_err());
        assert!(AdminClient::new("https://h:1", "r", "a", SecretKey::new("s")).is_err());
        assert!(AdminClient::new("http://h:1/x", "r", "a", SecretKey::new("s")).is_err());
        assert!(AdminClient::new("http://h:1/", "r", "a", SecretKey::new("s")).is_ok());
    }

    #[test]
    fn credentials_come_from_flags_env_config_then_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let none = |_: &str| None;
        let mut args = AdminEndpoint::default();
        assert!(resolve_credentials(&args, &config, none).is_err());
        let root = KeyFile::new(dir.path()).ensure_root().unwrap().unwrap();
        let (ak, _, src) = resolve_credentials(&args, &config, none).unwrap();
        assert_eq!(
            (ak.as_str(), src),
            (root.access_key.as_str(), CredentialSource::KeyFile)
        );
        let env = |n: &str| Some(format!("{n}-value"));
        let (ak, sk, src) = resolve_credentials(&args, &config, env).unwrap();
        assert_eq!(ak, format!("{ACCESS_KEY_ENV}-value"));
        assert_eq!(sk.expose(), format!("{SECRET_KEY_ENV}-value"));
        assert_eq!(src, CredentialSource::Environment);
        let half = |n: &str| (n == ACCESS_KEY_ENV).then(|| "AK".to_owned());
        assert!(resolve_credentials(&args, &config, half).is_err());
        args.access_key = Some("FLAGKEY".into());
        args.secret_key = Some("flag-secret".into());
        let (ak, _, src) = resolve_credentials(&args, &config, env).unwrap();
        assert_eq!((ak.as_str(), src), ("FLAGKEY", CredentialSource::Flags));
    }

    #[test]
    fn requests_are_signed_in_origin_form() {
        let client = AdminClient::new(
            "http://127.0.0.1:9000",
            "us-east-1",
            "AK",
            SecretKey::new("secret-1"),
        )
        .unwrap();
        let req = client
            .signed_request(
                &Method::GET,
                "/_stratum/admin/v1/tier/explain",
                &[("bucket", "b1b".into()), ("key", "a b+c/d".into())],
                SystemTime::now(),
            )
            .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "/_stratum/admin/v1/tier/explain?bucket=b1b&key=a%20b%2Bc%2Fd"
        );
        assert_eq!(req.headers()["host"], "127.0.0.1:9000");
        assert_eq!(req.headers()["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
    }

    const EXPLAIN: &str = r#"{"bucket":"photos","key":"cat.jpg","tier":"warm","seq":7,"size":1536,
        "location":{"frames":2,"volumes":["warm:1","warm:2","warm:3","warm:4","warm:5"],"stored_bytes":1024,"compression_ratio":0.6667},
        "access":{"gets":3,"heads":1,"bytes_read":4608,"last_access_ms":1700000000000,"last_move_ms":null,"created_ms":1690000000000},
        "hint":"warm",
        "outlook":{"hot_score":0.5,"hot_cutoff":null,"warm_score":0.25,"warm_cutoff":0.1,"rate_per_day":1.5,"spike_per_day":0.0,"cost_per_day":[0.001,0.0005,0.0001],"target":"warm"},
        "thresholds":{"hot_watermarks":[0.9,0.8],"warm_watermarks":[0.9,0.8],"fill":[0.5,0.25],"hysteresis":1.2,"min_residency_s":3600.0,"spike_min_accesses":5.0,"warming_up":false},
        "decisions":[{"at_ms":1700000000000,"bucket":"photos","key":"cat.jpg","from":"hot","to":"warm","reason":"pinned_hint",
            "inputs":{"score":0.0,"threshold":null,"rate_per_day":0.0,"spike_per_day":0.0,"cost_per_day":[0,0,0],"fill":0.5},
            "outcome":{"kind":"done","bytes":2048},"size":1536,"seq":7}],
        "next":{"action":"stay","at_ms":1700000600000,"why":"its scores place it in the tier it is in"}}"#;

    #[test]
    fn explain_shows_where_why_and_what_next() {
        let v: ExplainView = serde_json::from_str(EXPLAIN).unwrap();
        let s = text(|out| render_explain(&v, out));
        assert!(s.starts_with("photos/cat.jpg\n"), "{s}");
        assert!(s.contains("tier:        warm (version seq 7)"), "{s}");
        assert!(s.contains("size:        1.5 KiB"), "{s}");
        assert!(s.contains("2 frames in 5 volumes (warm:1, warm:2, warm:3, warm:4, +1 more), 1.0 KiB stored, ratio 0.67"), "{s}");
        assert!(
            s.contains(
                "3 GETs, 1 HEAD, 4.5 KiB read; last GET 2023-11-14T22:13:20Z; last move never"
            ),
            "{s}"
        );
        assert!(
            s.contains("hint:        warm (pinned by x-amz-meta-stratum-tier)"),
            "{s}"
        );
        assert!(s.contains("hot 0.5000 vs cutoff -"), "{s}");
        assert!(s.contains("hot fill 50.0% (watermarks 90.0%/80.0%)"), "{s}");
        assert!(s.contains("2023-11-14T22:13:20Z  hot→warm  pinned_hint  score 0.0000 vs -  done (2.0 KiB copied)"), "{s}");
        assert!(
            s.ends_with(
                "next: stay at 2023-11-14T22:23:20Z: its scores place it in the tier it is in\n"
            ),
            "{s}"
        );
    }

    #[test]
    fn decisions_print_one_line_each() {
        let v: DecisionsView = serde_json::from_str(
            r#"{"decisions":[{"id":9,"at_ms":0,"bucket":"b1b","key":"k","from":null,"to":"hot","reason":"new_object",
                "inputs":{"score":1.0,"threshold":0.5},"outcome":{"kind":"planned"},"size":10,"seq":1},
               {"id":8,"at_ms":0,"bucket":"b1b","key":"k","from":"warm","to":"cold","reason":"pass_demote",
                "inputs":{"score":0.1,"threshold":0.2},"outcome":{"kind":"failed","error":"boom"},"size":10,"seq":1}]}"#,
        )
        .unwrap();
        let s = text(|out| render_decisions(&v, out));
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "#9 1970-01-01T00:00:00Z  b1b/k  10 B  new→hot  new_object  score 1.0000 vs 0.5000  planned"
        );
        assert!(lines[1].ends_with("warm→cold  pass_demote  score 0.1000 vs 0.2000  failed: boom"));
        let empty = text(|out| render_decisions(&DecisionsView::default(), out));
        assert_eq!(empty, "no decisions match\n");
    }

    #[test]
    fn summary_prints_a_table_and_the_saving() {
        let v: SummaryView = serde_json::from_str(
            r#"{"tiers":[
                {"tier":"hot","configured":true,"objects":2,"logical_bytes":2048,"stored_bytes":3072,"compression_ratio":1.5,"capacity_bytes":1048576,"fill":0.002,"monthly_cost_usd":0.5},
                {"tier":"warm","configured":true,"objects":1,"logical_bytes":1024,"stored_bytes":1536,"compression_ratio":1.5,"capacity_bytes":4194304,"fill":0.0002,"monthly_cost_usd":0.25},
                {"tier":"cold","configured":false,"objects":0,"logical_bytes":0,"stored_bytes":0,"compression_ratio":0.0,"capacity_bytes":null,"fill":null,"monthly_cost_usd":0.0}],
               "pending_moves":0,"monthly_cost_usd":0.75,"all_hot_monthly_cost_usd":1.0,"monthly_saving_usd":0.25,
               "mover":{"moves":[{"from":"hot","to":"warm","reason":"pinned_hint","moves":1,"bytes":1024}],"failures":0,"skipped":0,"passes":1,
                        "recompress_logical_bytes":0,"recompress_secs":0.0,"cold_uploaded_bytes":0,"pending_moves":0}}"#,
        )
        .unwrap();
        let s = text(|out| render_summary(&v, out));
        assert!(s.starts_with("TIER "), "{s}");
        assert!(
            s.contains(
                "hot           2     2.0 KiB     3.0 KiB   1.50        0.2% of 1.0 MiB      $0.50"
            ),
            "{s}"
        );
        assert!(s.contains("cold  (not configured)"), "{s}");
        assert!(s.contains("pending moves: 0"), "{s}");
        assert!(
            s.contains("monthly cost: $0.75 vs $1.00 all hot: saving $0.25 (25.0%)"),
            "{s}"
        );
        assert!(
            s.contains("mover since start: 1 pass, 1 move, 0 failed, 0 skipped\n"),
            "{s}"
        );
        assert!(s.contains("hot→warm pinned_hint: 1 move (1.0 KiB)"), "{s}");
    }

    #[test]
    fn run_prints_its_report() {
        let v: RunView = serde_json::from_str(
            r#"{"decisions":3,"moved":2,"bytes_moved":2048,"skipped":1,"failed":0,"objects":9}"#,
        )
        .unwrap();
        assert_eq!(
            text(|out| render_run(&v, out)),
            "pass done: 3 decisions, 2 moved (2.0 KiB), 1 skipped, 0 failed; 9 objects in the catalog\n"
        );
    }

    #[test]
    fn error_answers_carry_the_code() {
        let e = call_error(
            StatusCode::CONFLICT,
            br#"{"code":"TieringDisabled","message":"tiering is off"}"#,
        );
        assert_eq!(e.code, "TieringDisabled");
        assert_eq!(
            e.to_string(),
            "the server answered 409 Conflict TieringDisabled: tiering is off"
        );
        assert_eq!(call_error(StatusCode::BAD_GATEWAY, b"<html>").code, "-");
    }
}
