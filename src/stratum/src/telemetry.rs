//! Logs and metrics: the tracing subscriber on stderr, the Prometheus recorder behind
//! `GET /metrics`, and the gauges the server refreshes itself (bytes per tier, storage
//! counters).
//!
//! The S3 layer records its per-request metrics through the `metrics` facade; this module
//! installs the recorder they land in. The exporter's own HTTP listener is not used: the
//! text is rendered on request by the server's router.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use stratum_core::Tier;
use stratum_engine::Engine;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The environment variable holding the log filter (`tracing_subscriber::EnvFilter` syntax).
pub const LOG_ENV: &str = "STRATUM_LOG";
/// The filter without `STRATUM_LOG`.
pub const LOG_DEFAULT: &str = "info";
/// How often the server refreshes its own gauges.
pub const GAUGE_INTERVAL: Duration = Duration::from_secs(10);
/// Buckets of `stratum_s3_request_duration_seconds`, in seconds: 1 ms to 1 min.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the global tracing subscriber: `fmt` to stderr, filtered by `STRATUM_LOG`.
/// A second call (tests) keeps the first subscriber.
pub fn init_logging(format: LogFormat) {
    let filter = match std::env::var(LOG_ENV) {
        Ok(spec) => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("stratum: ignoring {LOG_ENV}={spec:?} ({e}); logging at {LOG_DEFAULT}");
            EnvFilter::new(LOG_DEFAULT)
        }),
        Err(_) => EnvFilter::new(LOG_DEFAULT),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Installs the process-wide Prometheus recorder and describes the metrics Stratum emits.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("stratum_s3_request_duration_seconds".to_owned()),
            DURATION_BUCKETS,
        )?
        .install_recorder()?;
    describe();
    metrics::gauge!("stratum_up").set(1.0);
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!("stratum_up", "1 while the server runs");
    describe_counter!(
        "stratum_s3_requests_total",
        "S3 requests answered, by operation and HTTP status"
    );
    describe_histogram!(
        "stratum_s3_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an S3 request (to the response head), by operation"
    );
    describe_counter!(
        "stratum_s3_received_bytes_total",
        Unit::Bytes,
        "Request body bytes read from clients, by operation"
    );
    describe_counter!(
        "stratum_s3_sent_bytes_total",
        Unit::Bytes,
        "Response body bytes sent to clients, by operation"
    );
    describe_gauge!(
        "stratum_tier_stored_bytes",
        Unit::Bytes,
        "Stripe bytes in the volumes of a tier (compressed, before parity), live and dead"
    );
    describe_gauge!(
        "stratum_tier_live_bytes",
        Unit::Bytes,
        "Stripe bytes of a tier still referenced by objects; the rest awaits compaction"
    );
    describe_gauge!("stratum_tier_volumes", "Volumes in a tier");
    describe_gauge!("stratum_objects", "Objects in the index");
    describe_gauge!(
        "stratum_logical_bytes",
        Unit::Bytes,
        "Original bytes of all objects, as clients stored them (compare stratum_tier_live_bytes)"
    );
    describe_counter!(
        "stratum_storage_sync_rounds_total",
        "fdatasync rounds since start"
    );
    describe_counter!(
        "stratum_storage_commit_batches_total",
        "Group-commit rounds since start"
    );
    describe_counter!(
        "stratum_storage_stripes_appended_total",
        "Stripes appended since start"
    );
    describe_counter!(
        "stratum_storage_volumes_created_total",
        "Volumes created since start"
    );
    describe_counter!(
        "stratum_maintenance_runs_total",
        "Background compaction and scrub passes, by task, tier and result"
    );
    describe_counter!(
        "stratum_compaction_reclaimed_bytes_total",
        Unit::Bytes,
        "Stripe bytes freed by compaction"
    );
    describe_counter!(
        "stratum_scrub_pieces_repaired_total",
        "Pieces a scrub found lost or corrupt and rewrote from parity"
    );
    describe_gauge!(
        "stratum_scrub_stripes_unrecoverable",
        "Stripes the last scrub of a tier could not rebuild"
    );
    describe_gauge!("stratum_tier_objects", "Objects whose bytes are in a tier");
    describe_gauge!(
        "stratum_tier_logical_bytes",
        "Original bytes of the objects in a tier (before compression and parity)"
    );
    describe_counter!(
        "stratum_tier_moves_total",
        "Tier moves carried out by the mover, by direction and reason"
    );
    describe_counter!(
        "stratum_tier_moved_bytes_total",
        "Original bytes moved between tiers, by direction and reason"
    );
    describe_counter!("stratum_tier_move_failures_total", "Tier moves that failed");
    describe_counter!(
        "stratum_tier_move_skips_total",
        "Decisions not carried out (the object changed, or its tier is not configured)"
    );
    describe_counter!("stratum_tier_passes_total", "Policy passes run");
    describe_gauge!(
        "stratum_tier_pending_moves",
        "Moves decided and not finished"
    );
    describe_counter!(
        "stratum_tier_recompress_bytes_total",
        "Original bytes of frames recompressed for the cold tier"
    );
    describe_counter!(
        "stratum_tier_recompress_seconds_total",
        "Seconds spent recompressing frames for the cold tier (throughput = bytes / seconds)"
    );
    describe_counter!(
        "stratum_cold_uploaded_bytes_total",
        "Bytes of cold volumes uploaded to the cold tier"
    );
}

/// Exports the mover's counters (absolute values; the mover keeps them).
pub fn export_mover(stats: &stratum_tiering::mover::MoverStats) {
    for m in &stats.moves {
        let labels = [
            ("from", m.from.as_str().to_owned()),
            ("to", m.to.as_str().to_owned()),
            ("reason", m.reason.clone()),
        ];
        metrics::counter!("stratum_tier_moves_total", &labels).absolute(m.moves);
        metrics::counter!("stratum_tier_moved_bytes_total", &labels).absolute(m.bytes);
    }
    metrics::counter!("stratum_tier_move_failures_total").absolute(stats.failures);
    metrics::counter!("stratum_tier_move_skips_total").absolute(stats.skipped);
    metrics::counter!("stratum_tier_passes_total").absolute(stats.passes);
    metrics::gauge!("stratum_tier_pending_moves").set(stats.pending_moves as f64);
    metrics::counter!("stratum_tier_recompress_bytes_total")
        .absolute(stats.recompress_logical_bytes);
    metrics::counter!("stratum_tier_recompress_seconds_total")
        .absolute(stats.recompress_secs as u64);
    metrics::counter!("stratum_cold_uploaded_bytes_total").absolute(stats.cold_uploaded_bytes);
}

/// The disk-set tiers an engine has.
pub fn tiers(engine: &Engine) -> Vec<Tier> {
    let mut tiers = vec![Tier::Hot];
    if engine.config().storage.warm.is_some() {
        tiers.push(Tier::Warm);
    }
    tiers
}

/// Sets the per-tier byte gauges and the storage counters from the engine's own books:
/// a listing of each tier's volumes and the metadata's live-bytes table (one entry per
/// volume), so it costs no object scan.
pub async fn refresh_gauges(engine: &Engine) {
    let engine = engine.clone();
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let live: HashMap<_, _> = engine
            .metadata()
            .all_volume_live_bytes()?
            .into_iter()
            .collect();
        for tier in tiers(&engine) {
            let volumes = engine.storage().volumes(tier)?;
            let stored: u64 = volumes.iter().map(|v| v.stripe_bytes).sum();
            let live: u64 = volumes
                .iter()
                .map(|v| live.get(&v.id).copied().unwrap_or(0))
                .sum();
            let name = tier.as_str();
            metrics::gauge!("stratum_tier_stored_bytes", "tier" => name).set(stored as f64);
            metrics::gauge!("stratum_tier_live_bytes", "tier" => name).set(live as f64);
            metrics::gauge!("stratum_tier_volumes", "tier" => name).set(volumes.len() as f64);
        }
        let usage = engine.usage();
        for tier in [Tier::Hot, Tier::Warm, Tier::Cold] {
            let i = stratum_engine::tier_slot(tier);
            let name = tier.as_str();
            metrics::gauge!("stratum_tier_objects", "tier" => name)
                .set(usage.tier_objects[i] as f64);
            metrics::gauge!("stratum_tier_logical_bytes", "tier" => name)
                .set(usage.tier_logical_bytes[i] as f64);
        }
        metrics::gauge!("stratum_objects").set(usage.objects as f64);
        metrics::gauge!("stratum_logical_bytes").set(usage.logical_bytes as f64);
        let stats = engine.storage().stats();
        metrics::counter!("stratum_storage_sync_rounds_total").absolute(stats.sync_rounds);
        metrics::counter!("stratum_storage_commit_batches_total").absolute(stats.commit_batches);
        metrics::counter!("stratum_storage_stripes_appended_total")
            .absolute(stats.stripes_appended);
        metrics::counter!("stratum_storage_volumes_created_total").absolute(stats.volumes_created);
        Ok(())
    })
    .await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "refreshing the storage gauges failed"),
        Err(e) => tracing::warn!(error = %e, "the gauge task panicked"),
    }
}
