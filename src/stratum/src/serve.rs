//! `stratum serve`: opens the engine, resolves the root key, mounts the S3 service with the
//! health and metrics endpoints in front of it, runs the background workers, and shuts
//! down gracefully on SIGTERM or SIGINT.
//!
//! Shutdown sequence: (1) the first signal marks the server draining (`/health/ready`
//! answers 503) and stops accepting connections; (2) in-flight requests get
//! `shutdown_grace_secs` to finish; (3) the maintenance worker stops after its current
//! pass, within what is left of the grace period, and the access-statistics flusher stops;
//! (4) the access statistics still in memory are written (one batch); (5) the metadata
//! store is flushed; (6) the process exits 0.
//!
//! Access statistics: GET, range GET and HEAD update an in-memory [`AccessTracker`]; a
//! worker writes what changed every `tiering.access_flush_secs` in one metadata batch, so
//! a crash loses at most one interval of them and a graceful stop loses none. A second signal at any point exits at once with status 130.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use stratum_api_s3::{S3Config, S3Service};
use stratum_auth::SecretKey;
use stratum_engine::{Engine, OpenReport};
use stratum_tiering::tracker::CAPACITY_DEFAULT;
use stratum_tiering::AccessTracker;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::admin_api::{is_admin_path, AdminApi, AdminKeys};
use crate::config::Settings;
use crate::credentials::{FileCredentialStore, RootKey};
use crate::keys::{self, KeyFile};
use crate::maintenance::{self, Schedule};
use crate::telemetry;

/// The environment variable holding the root access key.
pub const ACCESS_KEY_ENV: &str = "STRATUM_ACCESS_KEY";
/// The environment variable holding the root secret key.
pub const SECRET_KEY_ENV: &str = "STRATUM_SECRET_KEY";
/// The exit status after a second shutdown signal (128 + SIGINT, as shells report it).
pub const FORCED_EXIT_STATUS: i32 = 130;

/// The least time the maintenance worker gets to stop, however much grace is left.
const WORKER_STOP_MIN: Duration = Duration::from_secs(1);

/// Paths the server answers itself, and only for unauthenticated GETs: a bucket may be
/// named `health` or `metrics`, and signed requests for it go to S3.
const LIVE_PATH: &str = "/health/live";
const READY_PATH: &str = "/health/ready";
const METRICS_PATH: &str = "/metrics";

/// The shared state of the router.
struct AppState {
    s3: S3Service,
    admin: AdminApi,
    metrics: PrometheusHandle,
    /// Set by the first shutdown signal.
    draining: AtomicBool,
}

/// Runs the server until a shutdown signal, then shuts down gracefully.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let metrics = telemetry::install_recorder().context("installing the metrics recorder")?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "creating the data directory {}",
            settings.data_dir.display()
        )
    })?;

    // 1. The engine (storage recovery, metadata; refuses a data dir another server holds).
    let (engine, report) = Engine::open(settings.engine.clone())
        .await
        .with_context(|| {
            format!(
                "opening the store in {} (is another stratum serving it?)",
                settings.data_dir.display()
            )
        })?;
    log_open_report(&settings, &report);

    // 2. Credentials: environment > config file > root key in the key file > a new one.
    let key_file = KeyFile::new(&settings.data_dir);
    let root = match root_from_env()? {
        Some(root) => {
            tracing::info!(access_key = %root.access_key, "root key from the environment");
            Some(root)
        }
        None => settings.credentials.as_ref().map(|c| {
            tracing::info!(access_key = %c.access_key, "root key from the config file");
            RootKey {
                access_key: c.access_key.clone(),
                secret: SecretKey::new(c.secret_key.clone()),
            }
        }),
    };
    if root.is_none() {
        let generated = key_file
            .ensure_root()
            .with_context(|| format!("storing a root key in {}", key_file.path().display()))?;
        if let Some(k) = generated {
            // stdout, not the log: the secret must never reach log files.
            println!("root access key: {}", k.access_key);
            println!("root secret key: {}", k.secret_key);
            println!(
                "(generated on first start and stored in {}; it is not shown again)",
                key_file.path().display()
            );
            tracing::info!(access_key = %k.access_key, "generated the root key");
        }
    }
    let root_access_key = root.as_ref().map(|r| r.access_key.clone());
    let store = Arc::new(
        FileCredentialStore::open(key_file.clone(), root)
            .with_context(|| format!("reading {}", key_file.path().display()))?,
    );
    tracing::info!(keys = store.cached_keys(), "key file loaded");

    // 3. The S3 service behind the health and metrics routes, reporting reads to the
    // access tracker (statistics load lazily from the metadata store on first touch).
    let tracker = Arc::new(AccessTracker::new(
        engine.metadata().clone(),
        settings.tiering.policy.clone(),
        CAPACITY_DEFAULT,
    ));
    let mover = crate::tiering::build_mover(&engine, tracker.clone(), &settings.tiering)?;
    // The admin API (tiering transparency) answers the root keys only.
    let admin = AdminApi::new(
        mover.clone(),
        store.clone(),
        AdminKeys::new(Some(key_file.clone()), root_access_key),
        settings.region.clone(),
    );
    let s3 = S3Service::new(
        engine.clone(),
        store,
        S3Config {
            region: settings.region.clone(),
            domains: settings.domains.clone(),
        },
    )
    .with_access_tracker(tracker.clone());
    // With tiering on, the policy places each new version (as in replay).
    let s3 = match &mover {
        Some(m) => s3.with_placement(m.clone()),
        None => s3,
    };
    let state = Arc::new(AppState {
        s3,
        admin,
        metrics,
        draining: AtomicBool::new(false),
    });
    let app = router(state.clone());

    // 4. Signals are caught from here on; before, a signal ends the process the default
    // way, which the engine treats as the crash it is built to survive.
    let mut signals = Signals::install()?;
    let listener = tokio::net::TcpListener::bind(&settings.address)
        .await
        .with_context(|| format!("listening on {}", settings.address))?;
    let local = listener.local_addr().context("reading the bound address")?;

    // 5. Background workers.
    let (stop_tx, stop_rx) = watch::channel(false);
    // The first refresh completes before serving, so /metrics never lacks the gauges.
    telemetry::refresh_gauges(&engine).await;
    let gauges = tokio::spawn(refresh_gauges_forever(engine.clone(), mover.clone()));
    let access_flusher = tokio::spawn(flush_access_forever(
        tracker.clone(),
        settings.access_flush_interval,
    ));
    let mover_task = mover.clone().map(|m| tokio::spawn(m.run(stop_rx.clone())));
    let worker = maintenance::spawn(
        engine.clone(),
        Schedule {
            compaction: settings.compaction_interval,
            scrub: settings.scrub_interval,
        },
        stop_rx,
    );

    // 6. Serve.
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    // TCP_NODELAY: a streamed response goes out as head then body in separate writes; with
    // Nagle's algorithm the body waits for the client's delayed ACK of the head (40 ms on
    // Linux), which capped small GETs near 730 req/s on 32 connections
    // (benches/runs/2026-11-23-s3/nagle-strace.txt).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY failed");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = shutdown_rx.wait_for(|s| *s).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    announce(local);
    tracing::info!(address = %local, "serving S3");

    let signal_name = tokio::select! {
        name = signals.next() => name,
        result = &mut server => {
            match result {
                Ok(Ok(())) => bail!("the server stopped without a signal"),
                Ok(Err(e)) => return Err(e).context("serving"),
                Err(e) => return Err(e).context("the server task"),
            }
        }
    };

    // Shutdown (1): stop accepting, report not ready.
    let deadline = Instant::now() + settings.shutdown_grace;
    tracing::info!(
        signal = signal_name,
        grace_secs = settings.shutdown_grace.as_secs(),
        "shutting down: no new connections, waiting for in-flight requests"
    );
    state.draining.store(true, Ordering::SeqCst);
    let _ = shutdown_tx.send(true);

    // (2) In-flight requests.
    tokio::select! {
        _ = &mut server => tracing::info!("all connections closed"),
        _ = tokio::time::sleep_until(deadline) => {
            tracing::warn!("grace period over: dropping the connections still open");
            server.abort();
        }
        name = signals.next() => forced_exit(name),
    }

    // (3) Background work.
    let _ = stop_tx.send(true);
    gauges.abort();
    // An idle worker needs a moment to see the stop even when the grace period is spent.
    let worker_deadline = deadline.max(Instant::now() + WORKER_STOP_MIN);
    tokio::select! {
        _ = worker => {}
        _ = tokio::time::sleep_until(worker_deadline) => {
            tracing::warn!("grace period over: leaving a maintenance pass unfinished");
        }
        name = signals.next() => forced_exit(name),
    }

    // The mover stops between moves (a move cut short is safe: copy-then-flip), then its
    // decision log is written.
    if let Some(task) = mover_task {
        tokio::select! {
            _ = task => {}
            _ = tokio::time::sleep_until(worker_deadline) => {
                tracing::warn!("grace period over: leaving tier moves unfinished");
            }
            name = signals.next() => forced_exit(name),
        }
    }
    if let Some(m) = &mover {
        let log = m.log().clone();
        match tokio::task::spawn_blocking(move || log.flush()).await {
            Ok(Ok(n)) => tracing::info!(written = n, "decision log flushed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing the decision log failed"),
            Err(e) => tracing::warn!(error = %e, "flushing the decision log failed"),
        }
    }

    // The final access flush below takes the tracker's flush lock, so it waits for a
    // periodic flush the abort interrupted (its blocking half runs to the end).
    access_flusher.abort();

    // (4) Access statistics still in memory, in one batch.
    let final_tracker = tracker.clone();
    let access = tokio::task::spawn_blocking(move || final_tracker.flush());
    tokio::select! {
        result = access => match result {
            Ok(Ok(r)) => tracing::info!(written = r.written, "access statistics flushed"),
            // Not fatal: the statistics are advisory, the metadata flush still runs.
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing the access statistics failed"),
            Err(e) => tracing::warn!(error = %e, "flushing the access statistics failed"),
        },
        name = signals.next() => forced_exit(name),
    }

    // (5) Metadata.
    let meta = engine.metadata().clone();
    let flush = tokio::task::spawn_blocking(move || meta.flush());
    tokio::select! {
        result = flush => match result {
            Ok(Ok(())) => tracing::info!("metadata flushed"),
            Ok(Err(e)) => bail!("flushing the metadata store: {e}"),
            Err(e) => bail!("flushing the metadata store: {e}"),
        },
        name = signals.next() => forced_exit(name),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Prints the line end-to-end tests and scripts read to find the port.
fn announce(local: SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "stratum listening on http://{local}");
    let _ = out.flush();
}

fn forced_exit(signal: &str) -> ! {
    tracing::error!(signal, "second signal: exiting at once");
    std::process::exit(FORCED_EXIT_STATUS);
}

/// The root key from `STRATUM_ACCESS_KEY`/`STRATUM_SECRET_KEY`: both or neither.
fn root_from_env() -> anyhow::Result<Option<RootKey>> {
    let access = std::env::var(ACCESS_KEY_ENV).ok().filter(|v| !v.is_empty());
    let secret = std::env::var(SECRET_KEY_ENV).ok().filter(|v| !v.is_empty());
    match (access, secret) {
        (None, None) => Ok(None),
        (Some(access_key), Some(secret)) => {
            keys::validate_access_key(&access_key)
                .map_err(|r| anyhow::anyhow!("{ACCESS_KEY_ENV}: {r}"))?;
            keys::validate_secret_key(&secret)
                .map_err(|r| anyhow::anyhow!("{SECRET_KEY_ENV}: {r}"))?;
            Ok(Some(RootKey {
                access_key,
                secret: SecretKey::new(secret),
            }))
        }
        _ => bail!("set both {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, or neither"),
    }
}

fn log_open_report(settings: &Settings, report: &OpenReport) {
    let r = &report.recovery;
    tracing::info!(
        data_dir = %settings.data_dir.display(),
        hot_dirs = settings.engine.storage.hot.dirs.len(),
        data_pieces = settings.engine.storage.hot.data_pieces,
        parity_pieces = settings.engine.storage.hot.parity_pieces,
        warm = settings.engine.storage.warm.is_some(),
        volumes = r.volumes,
        stripes = r.stripes,
        torn_bytes_truncated = r.torn_bytes_truncated,
        shard_files_missing = r.shard_files_missing,
        orphan_volumes_deleted = report.orphan_volumes_deleted.len(),
        orphan_bytes_reclaimed = report.orphan_bytes_reclaimed,
        "store opened"
    );
    for w in &r.warnings {
        tracing::warn!(warning = %w, "storage recovery");
    }
    if let Some(rebuilt) = &report.rebuilt {
        tracing::warn!(
            volumes = rebuilt.volumes,
            records = rebuilt.records,
            buckets = rebuilt.buckets,
            objects = rebuilt.objects,
            unreadable = rebuilt.unreadable,
            "the index was rebuilt from the volumes"
        );
    }
}

async fn refresh_gauges_forever(engine: Engine, mover: Option<Arc<stratum_tiering::Mover>>) {
    let mut tick = tokio::time::interval(telemetry::GAUGE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        telemetry::refresh_gauges(&engine).await;
        if let Some(m) = &mover {
            telemetry::export_mover(&m.stats());
        }
    }
}

/// The stats flusher: writes the access statistics that changed, one batch every
/// `interval`, off the reactor (a batch is a metadata commit and flush).
async fn flush_access_forever(tracker: Arc<AccessTracker>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate and there is nothing to write yet.
    tick.tick().await;
    loop {
        tick.tick().await;
        let t = tracker.clone();
        match tokio::task::spawn_blocking(move || t.flush()).await {
            Ok(Ok(r)) => {
                if r.written > 0 || r.evicted > 0 {
                    tracing::debug!(
                        written = r.written,
                        evicted = r.evicted,
                        "access statistics flushed"
                    );
                }
            }
            // Entries stay dirty and are retried at the next tick.
            Ok(Err(e)) => tracing::warn!(error = %e, "flushing the access statistics failed"),
            Err(e) => tracing::warn!(error = %e, "the access statistics flush panicked"),
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(move |req: Request<Body>| {
        let state = state.clone();
        async move { route(&state, req).await }
    })
}

async fn route(state: &AppState, req: Request<Body>) -> Response {
    if is_admin_path(req.uri().path()) {
        return state.admin.handle(req).await;
    }
    if req.method() == Method::GET && is_anonymous(&req) {
        match req.uri().path() {
            LIVE_PATH => return (StatusCode::OK, "ok").into_response(),
            READY_PATH => {
                return if state.draining.load(Ordering::SeqCst) {
                    (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
                } else {
                    (StatusCode::OK, "ready").into_response()
                };
            }
            METRICS_PATH => {
                state.metrics.run_upkeep();
                let mut resp = state.metrics.render().into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                return resp;
            }
            _ => {}
        }
    }
    state.s3.handle(req).await
}

/// No `Authorization` header and no presigned-URL credential in the query.
fn is_anonymous(req: &Request<Body>) -> bool {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return false;
    }
    let query = req.uri().query().unwrap_or("");
    !query.split('&').any(|pair| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        name.eq_ignore_ascii_case("X-Amz-Credential")
    })
}

/// SIGTERM and SIGINT as one stream.
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, uri: &str, auth: bool) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(uri);
        if auth {
            b = b.header("authorization", "AWS4-HMAC-SHA256 Credential=x");
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn only_unauthenticated_requests_count_as_anonymous() {
        assert!(is_anonymous(&req(Method::GET, "/metrics", false)));
        assert!(is_anonymous(&req(Method::GET, "/health/live?x=1", false)));
        assert!(!is_anonymous(&req(Method::GET, "/metrics", true)));
        assert!(!is_anonymous(&req(
            Method::GET,
            "/metrics?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F2026",
            false
        )));
        assert!(!is_anonymous(&req(
            Method::GET,
            "/health/live?x-amz-credential=AK",
            false
        )));
    }
}
