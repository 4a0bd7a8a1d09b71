//! Wiring of the live tiering side: the policy (cost model and thresholds from
//! `[tiering]`), the decision log, the local tiers' capacities, and the [`Mover`] worker.
//! Tiering runs when a warm or a cold tier is configured; a hot-only store has none.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stratum_core::config::DiskSetConfig;
use stratum_core::Tier;
use stratum_engine::Engine;
use stratum_tiering::log::DecisionLog;
use stratum_tiering::{AccessTracker, CostModel, Mover, MoverConfig, Policy};

use crate::config::TieringSection;

/// The cost model shipped with Stratum (`config/cost_model.json`): B2 and R2 prices, local
/// disk costs, latency per tier.
pub const DEFAULT_COST_MODEL: &str = include_str!("../../../config/cost_model.json");

/// Logical bytes a disk set holds at most: the size of the distinct filesystems under its
/// directories, times k/(k+m) (parity's share). Compression is not counted on: the policy
/// budgets original bytes, so compressible data leaves headroom.
pub fn disk_set_capacity(set: &DiskSetConfig) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::BTreeSet::new();
    let mut raw = 0u64;
    for dir in &set.dirs {
        let probe = existing_ancestor(dir);
        let dev = std::fs::metadata(&probe)
            .with_context(|| format!("reading {}", probe.display()))?
            .dev();
        if seen.insert(dev) {
            raw += fs2::total_space(&probe)
                .with_context(|| format!("reading the size of {}", probe.display()))?;
        }
    }
    let (k, m) = (u64::from(set.data_pieces), u64::from(set.parity_pieces));
    Ok(raw / (k + m).max(1) * k)
}

fn existing_ancestor(dir: &Path) -> std::path::PathBuf {
    let mut p = dir.to_path_buf();
    while !p.exists() && p.pop() {}
    if p.as_os_str().is_empty() {
        std::path::PathBuf::from(".")
    } else {
        p
    }
}

/// The mover for `engine`, or `None` when tiering is off (no warm and no cold tier).
pub fn build_mover(
    engine: &Engine,
    tracker: Arc<AccessTracker>,
    section: &TieringSection,
) -> anyhow::Result<Option<Arc<Mover>>> {
    if !engine.has_tier(Tier::Warm) && !engine.has_tier(Tier::Cold) {
        tracing::info!("tiering off: no warm or cold tier is configured");
        return Ok(None);
    }
    let model_text = match &section.cost_model {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the cost model {}", path.display()))?,
        None => DEFAULT_COST_MODEL.to_owned(),
    };
    let model = CostModel::from_json(&model_text, section.cold_provider.as_deref())
        .context("reading the cost model")?;
    let policy = Policy::new(section.policy.clone(), model);
    let log = DecisionLog::open(engine.metadata().clone(), section.decisions_keep)
        .context("opening the decision log")?;
    let storage = &engine.config().storage;
    let hot_capacity_bytes = match section.hot_capacity_bytes {
        Some(b) => b,
        None => disk_set_capacity(&storage.hot)?,
    };
    let warm_capacity_bytes = match (section.warm_capacity_bytes, &storage.warm) {
        (Some(b), _) => b,
        (None, Some(w)) => disk_set_capacity(w)?,
        (None, None) => 0,
    };
    let config = MoverConfig {
        hot_capacity_bytes,
        warm_capacity_bytes,
        tick: Duration::from_secs(section.tick_secs),
        move_bytes_per_sec: section.move_bytes_per_sec,
        move_concurrency: section.move_concurrency,
        cold_maintenance: match section.cold_maintenance_secs {
            0 => Duration::MAX,
            s => Duration::from_secs(s),
        },
    };
    tracing::info!(
        hot_capacity_bytes,
        warm_capacity_bytes,
        warm = engine.has_tier(Tier::Warm),
        cold = engine.has_tier(Tier::Cold),
        "tiering on"
    );
    Ok(Some(Arc::new(Mover::new(
        engine.clone(),
        tracker,
        Arc::new(log),
        policy,
        config,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_cost_model_parses() {
        CostModel::from_json(DEFAULT_COST_MODEL, None).unwrap();
        CostModel::from_json(DEFAULT_COST_MODEL, Some("r2")).unwrap();
    }

    #[test]
    fn capacity_counts_one_filesystem_once_and_leaves_out_parity() {
        let dir = tempfile::tempdir().unwrap();
        let set = DiskSetConfig::under(dir.path(), 6);
        let total = fs2::total_space(dir.path()).unwrap();
        assert_eq!(disk_set_capacity(&set).unwrap(), total / 6 * 4);
    }
}
