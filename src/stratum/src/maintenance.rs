//! The maintenance worker: one background task that runs compaction and scrubbing of each
//! disk set at their configured intervals, one pass at a time (never two at once), logs
//! each report, and stops between passes when the server shuts down.

use std::time::Duration;

use stratum_core::Tier;
use stratum_engine::Engine;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::telemetry::tiers;

/// When each task runs; `None` turns it off.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between compaction passes.
    pub compaction: Option<Duration>,
    /// Time between scrubs.
    pub scrub: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Compaction,
    Scrub,
}

/// Starts the worker. It returns once `stop` turns true (at the end of the pass running
/// then, if any).
pub fn spawn(
    engine: Engine,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut next_compaction = schedule.compaction.map(|i| start + i);
        let mut next_scrub = schedule.scrub.map(|i| start + i);
        loop {
            let next = match (next_compaction, next_scrub) {
                (Some(c), Some(s)) if s < c => Some((s, Task::Scrub)),
                (Some(c), _) => Some((c, Task::Compaction)),
                (None, Some(s)) => Some((s, Task::Scrub)),
                (None, None) => None,
            };
            let Some((at, task)) = next else {
                // Nothing scheduled: wait for the stop signal only.
                let _ = stop.wait_for(|s| *s).await;
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            for tier in tiers(&engine) {
                if *stop.borrow() {
                    return;
                }
                match task {
                    Task::Compaction => compact(&engine, tier).await,
                    Task::Scrub => scrub(&engine, tier).await,
                }
            }
            // The next pass is an interval after this one ended, so a pass longer than its
            // interval never runs back to back.
            let now = Instant::now();
            match task {
                Task::Compaction => next_compaction = schedule.compaction.map(|i| now + i),
                Task::Scrub => next_scrub = schedule.scrub.map(|i| now + i),
            }
        }
    })
}

/// Counts one maintenance pass by task, tier and outcome.
fn count_run(task: &'static str, tier: Tier, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("stratum_maintenance_runs_total",
        "task" => task, "tier" => tier.as_str(), "result" => result)
    .increment(1);
}

async fn compact(engine: &Engine, tier: Tier) {
    let started = std::time::Instant::now();
    match engine.compact(tier).await {
        Ok(r) => {
            count_run("compaction", tier, true);
            metrics::counter!("stratum_compaction_reclaimed_bytes_total", "tier" => tier.as_str())
                .increment(r.bytes_reclaimed);
            tracing::info!(
                tier = tier.as_str(),
                volumes_compacted = r.volumes_compacted,
                volumes_deleted = r.volumes_deleted,
                objects_moved = r.objects_moved,
                records_carried = r.records_carried,
                bytes_reclaimed = r.bytes_reclaimed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "compaction pass done"
            );
        }
        Err(e) => {
            count_run("compaction", tier, false);
            tracing::warn!(tier = tier.as_str(), error = %e, "compaction pass failed");
        }
    }
}

async fn scrub(engine: &Engine, tier: Tier) {
    let started = std::time::Instant::now();
    match engine.scrub(tier).await {
        Ok(r) => {
            count_run("scrub", tier, true);
            metrics::counter!("stratum_scrub_pieces_repaired_total", "tier" => tier.as_str())
                .increment(r.pieces_repaired);
            metrics::gauge!("stratum_scrub_stripes_unrecoverable", "tier" => tier.as_str())
                .set(r.stripes_unrecoverable.len() as f64);
            let fields = (
                r.volumes,
                r.stripes,
                r.pieces_checked,
                r.pieces_lost,
                r.pieces_repaired,
            );
            if r.stripes_unrecoverable.is_empty() {
                tracing::info!(
                    tier = tier.as_str(),
                    volumes = fields.0,
                    stripes = fields.1,
                    pieces_checked = fields.2,
                    pieces_lost = fields.3,
                    pieces_repaired = fields.4,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "scrub done"
                );
            } else {
                tracing::error!(
                    tier = tier.as_str(),
                    volumes = fields.0,
                    stripes = fields.1,
                    pieces_checked = fields.2,
                    pieces_lost = fields.3,
                    pieces_repaired = fields.4,
                    unrecoverable = ?r.stripes_unrecoverable,
                    "scrub found stripes that cannot be rebuilt: more pieces lost than parity"
                );
            }
        }
        Err(e) => {
            count_run("scrub", tier, false);
            tracing::warn!(tier = tier.as_str(), error = %e, "scrub failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stratum_core::config::EngineConfig;

    #[tokio::test]
    async fn the_worker_runs_passes_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = Engine::open(EngineConfig::under(dir.path(), 6))
            .await
            .unwrap();
        let (tx, rx) = watch::channel(false);
        let schedule = Schedule {
            compaction: Some(Duration::from_millis(20)),
            scrub: Some(Duration::from_millis(30)),
        };
        let worker = spawn(engine, schedule, rx);
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_worker_with_nothing_scheduled_waits_for_stop() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = Engine::open(EngineConfig::under(dir.path(), 6))
            .await
            .unwrap();
        let (tx, rx) = watch::channel(false);
        let schedule = Schedule {
            compaction: None,
            scrub: None,
        };
        let worker = spawn(engine, schedule, rx);
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .unwrap()
            .unwrap();
    }
}
