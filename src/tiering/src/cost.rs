//! The cost model the policy weighs moves with: prices per tier, request fees, egress,
//! first-byte latency and its exchange rate to dollars.
//!
//! It is read from the JSON format of `tiering/cost_model.json` (the scorer's own file), so
//! the policy and the scorer price a byte-month, a request and a millisecond alike. Only
//! the fields the policy needs are read; notes and sources in the file are ignored. The
//! model is a value: nothing here does I/O (the caller reads the file and hands over text).

use serde::Deserialize;
use std::collections::BTreeMap;

use stratum_core::Tier;

/// Bytes in a GB as the cost model counts them (decimal).
pub const GB: f64 = 1e9;

/// A cost model that does not parse or does not name its cold provider.
#[derive(Debug, thiserror::Error)]
pub enum CostModelError {
    /// The JSON is malformed or misses a field.
    #[error("cost model: {0}")]
    Json(#[from] serde_json::Error),
    /// `cold_provider` (or the override) is not a key of `cold_providers`.
    #[error("cost model: unknown cold provider {0:?}")]
    UnknownColdProvider(String),
    /// `local_cost_mode` is neither `used` nor `provisioned`.
    #[error("cost model: local_cost_mode must be used or provisioned, not {0:?}")]
    LocalCostMode(String),
    /// `default_put_tier` is not hot, warm or cold.
    #[error("cost model: default_put_tier must be hot, warm or cold, not {0:?}")]
    DefaultPutTier(String),
}

#[derive(Debug, Deserialize)]
struct RawModel {
    month_days: f64,
    cold_provider: String,
    local_tiers: RawLocalTiers,
    latency_ms: RawLatency,
    latency_usd_per_hour: f64,
    capacity: RawCapacity,
    #[serde(default = "default_local_cost_mode")]
    local_cost_mode: String,
    #[serde(default = "default_put_tier")]
    default_put_tier: String,
    #[serde(default)]
    head_remote: bool,
    uploader: RawUploader,
    cold_providers: BTreeMap<String, RawColdProvider>,
}

fn default_local_cost_mode() -> String {
    "used".to_string()
}

fn default_put_tier() -> String {
    "hot".to_string()
}

#[derive(Debug, Deserialize)]
struct RawLocalTiers {
    hot: RawLocalTier,
    warm: RawLocalTier,
}

#[derive(Debug, Deserialize)]
struct RawLocalTier {
    usd_per_gb_month: f64,
    #[serde(default)]
    write_endurance_usd_per_gb: f64,
}

#[derive(Debug, Deserialize)]
struct RawLatency {
    hot: f64,
    warm: f64,
    cold: f64,
}

#[derive(Debug, Deserialize)]
struct RawCapacity {
    hot_fraction_of_peak_live_bytes: f64,
    warm_fraction_of_peak_live_bytes: f64,
    grace_s: f64,
}

#[derive(Debug, Deserialize)]
struct RawUploader {
    multipart_threshold_bytes: u64,
    part_size_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct RawColdProvider {
    storage_usd_per_gb_month: f64,
    class_a_usd_per_million: f64,
    class_b_usd_per_million: f64,
    egress_usd_per_gb: f64,
    #[serde(default)]
    egress_free_multiple_of_stored: f64,
    #[serde(default)]
    retrieval_usd_per_gb: f64,
    #[serde(default)]
    delete_usd_per_request: f64,
    #[serde(default)]
    min_storage_days: f64,
    first_byte_latency_ms: Option<f64>,
}

/// How local (hot, warm) storage is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCostMode {
    /// Per GB-month actually occupied: empty local capacity saves money.
    Used,
    /// The hardware is bought: occupying local capacity costs nothing at the margin.
    Provisioned,
}

/// The flattened cost model, in dollars, bytes and seconds.
#[derive(Debug, Clone)]
pub struct CostModel {
    /// The cold provider's key in the file (`b2`, `r2`, ...).
    pub cold_provider: String,
    /// Seconds in a billing month.
    pub month_s: f64,
    /// Storage price per GB-month, indexed by [`tier_index`].
    pub usd_per_gb_month: [f64; 3],
    /// First-byte latency of a GET served from each tier, seconds.
    pub latency_s: [f64; 3],
    /// Dollars per second of summed first-byte waiting (the latency penalty's rate).
    pub latency_usd_per_s: f64,
    /// Cold class-A (upload) request fee, dollars per request.
    pub class_a_usd: f64,
    /// Cold class-B (download) request fee, dollars per request.
    pub class_b_usd: f64,
    /// Cold egress, dollars per GB beyond the free allowance.
    pub egress_usd_per_gb: f64,
    /// Free egress as a multiple of the cold GB-months stored (B2: 3).
    pub egress_free_multiple: f64,
    /// Cold retrieval fee, dollars per GB read.
    pub retrieval_usd_per_gb: f64,
    /// Cold delete fee, dollars per request.
    pub delete_usd: f64,
    /// Minimum storage duration in cold, seconds (charged if an object leaves earlier).
    pub min_storage_s: f64,
    /// Uploads into cold above this size are multipart.
    pub multipart_threshold_bytes: u64,
    /// Part size of a multipart upload into cold.
    pub part_size_bytes: u64,
    /// Write-endurance cost per GB written into each tier.
    pub write_usd_per_gb: [f64; 3],
    /// How local storage is charged.
    pub local_cost: LocalCostMode,
    /// The tier a PUT lands in without a placement decision.
    pub default_put_tier: Tier,
    /// Whether a HEAD of a cold object is a remote (class-B) request.
    pub head_remote: bool,
    /// Hot capacity as a fraction of a trace's peak live bytes (the scorer's default).
    pub hot_fraction: f64,
    /// Warm capacity as a fraction of a trace's peak live bytes.
    pub warm_fraction: f64,
    /// Seconds a local tier may stay over capacity before the scorer calls it a violation.
    pub capacity_grace_s: f64,
}

/// The index of a tier in the model's arrays: hot 0, warm 1, cold 2.
pub fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Hot => 0,
        Tier::Warm => 1,
        Tier::Cold => 2,
    }
}

/// Every tier, fastest first.
pub const TIERS: [Tier; 3] = [Tier::Hot, Tier::Warm, Tier::Cold];

/// Parses a tier name as the trace formats write it.
pub fn parse_tier(name: &str) -> Option<Tier> {
    match name {
        "hot" => Some(Tier::Hot),
        "warm" => Some(Tier::Warm),
        "cold" => Some(Tier::Cold),
        _ => None,
    }
}

impl CostModel {
    /// Parses the JSON text of a cost model; `cold` overrides its `cold_provider`.
    pub fn from_json(text: &str, cold: Option<&str>) -> Result<CostModel, CostModelError> {
        let raw: RawModel = serde_json::from_str(text)?;
        let name = cold.unwrap_or(&raw.cold_provider).to_string();
        let cp = raw
            .cold_providers
            .get(&name)
            .ok_or_else(|| CostModelError::UnknownColdProvider(name.clone()))?;
        let local_cost = match raw.local_cost_mode.as_str() {
            "used" => LocalCostMode::Used,
            "provisioned" => LocalCostMode::Provisioned,
            other => return Err(CostModelError::LocalCostMode(other.to_string())),
        };
        let default_put_tier = parse_tier(&raw.default_put_tier)
            .ok_or_else(|| CostModelError::DefaultPutTier(raw.default_put_tier.clone()))?;
        let cold_latency_ms = cp.first_byte_latency_ms.unwrap_or(raw.latency_ms.cold);
        Ok(CostModel {
            cold_provider: name,
            month_s: raw.month_days * 86_400.0,
            usd_per_gb_month: [
                raw.local_tiers.hot.usd_per_gb_month,
                raw.local_tiers.warm.usd_per_gb_month,
                cp.storage_usd_per_gb_month,
            ],
            latency_s: [
                raw.latency_ms.hot / 1000.0,
                raw.latency_ms.warm / 1000.0,
                cold_latency_ms / 1000.0,
            ],
            latency_usd_per_s: raw.latency_usd_per_hour / 3600.0,
            class_a_usd: cp.class_a_usd_per_million / 1e6,
            class_b_usd: cp.class_b_usd_per_million / 1e6,
            egress_usd_per_gb: cp.egress_usd_per_gb,
            egress_free_multiple: cp.egress_free_multiple_of_stored,
            retrieval_usd_per_gb: cp.retrieval_usd_per_gb,
            delete_usd: cp.delete_usd_per_request,
            min_storage_s: cp.min_storage_days * 86_400.0,
            multipart_threshold_bytes: raw.uploader.multipart_threshold_bytes,
            part_size_bytes: raw.uploader.part_size_bytes.max(1),
            write_usd_per_gb: [
                raw.local_tiers.hot.write_endurance_usd_per_gb,
                raw.local_tiers.warm.write_endurance_usd_per_gb,
                0.0,
            ],
            local_cost,
            default_put_tier,
            head_remote: raw.head_remote,
            hot_fraction: raw.capacity.hot_fraction_of_peak_live_bytes,
            warm_fraction: raw.capacity.warm_fraction_of_peak_live_bytes,
            capacity_grace_s: raw.capacity.grace_s,
        })
    }

    /// Class-A requests to upload an object of `size` bytes into cold.
    pub fn upload_requests(&self, size: u64) -> u64 {
        if size <= self.multipart_threshold_bytes {
            1
        } else {
            size.div_ceil(self.part_size_bytes) + 2
        }
    }

    /// The marginal storage price of `tier`, dollars per byte-second. Local tiers cost
    /// nothing at the margin when the model says capacity is provisioned.
    pub fn storage_usd_per_byte_s(&self, tier: Tier) -> f64 {
        let i = tier_index(tier);
        if i < 2 && self.local_cost == LocalCostMode::Provisioned {
            return 0.0;
        }
        self.usd_per_gb_month[i] / GB / self.month_s
    }

    /// Expected cost of one GET of `bytes` bytes served from `tier`: the latency penalty,
    /// plus for cold the request fee and the egress and retrieval of the bytes read.
    /// `egress_usd_per_gb` is the marginal egress price the caller expects (0 while the free
    /// allowance lasts).
    pub fn get_usd(&self, tier: Tier, bytes: f64, egress_usd_per_gb: f64) -> f64 {
        let i = tier_index(tier);
        let mut c = self.latency_s[i] * self.latency_usd_per_s;
        if tier == Tier::Cold {
            c += self.class_b_usd + (egress_usd_per_gb + self.retrieval_usd_per_gb) * bytes / GB;
        }
        c
    }

    /// Cost of moving (or placing) an object of `size` bytes from `from` (`None` for a new
    /// PUT) to `to`. `piggyback`: the move out of cold reuses the bytes of a whole-object
    /// GET just served from cold, so no download is charged.
    pub fn move_usd(
        &self,
        from: Option<Tier>,
        to: Tier,
        size: u64,
        piggyback: bool,
        egress_usd_per_gb: f64,
    ) -> f64 {
        let gb = size as f64 / GB;
        let mut c = self.write_usd_per_gb[tier_index(to)] * gb;
        if to == Tier::Cold {
            c += self.class_a_usd * self.upload_requests(size) as f64;
        }
        if from == Some(Tier::Cold) && to != Tier::Cold {
            c += self.delete_usd;
            if !piggyback {
                c += self.class_b_usd + (egress_usd_per_gb + self.retrieval_usd_per_gb) * gb;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = include_str!("../tests/data/cost_model.json");

    #[test]
    fn the_shared_model_parses_with_every_provider() {
        let b2 = CostModel::from_json(MODEL, None).unwrap();
        assert_eq!(b2.cold_provider, "b2");
        assert!((b2.usd_per_gb_month[2] - 0.006).abs() < 1e-12);
        assert!((b2.latency_s[2] - 0.15).abs() < 1e-12);
        assert_eq!(b2.egress_free_multiple, 3.0);
        for p in ["r2", "r2_ia"] {
            let m = CostModel::from_json(MODEL, Some(p)).unwrap();
            assert_eq!(m.cold_provider, p);
        }
        assert!(CostModel::from_json(MODEL, Some("glacier")).is_err());
    }

    #[test]
    fn multipart_uploads_count_their_parts() {
        let m = CostModel::from_json(MODEL, None).unwrap();
        assert_eq!(m.upload_requests(1), 1);
        assert_eq!(m.upload_requests(64 << 20), 1);
        assert_eq!(m.upload_requests((64 << 20) + 1), 4);
    }

    #[test]
    fn a_piggybacked_promotion_skips_the_download() {
        let m = CostModel::from_json(MODEL, Some("r2_ia")).unwrap();
        let size = 10_000_000_000;
        let full = m.move_usd(Some(Tier::Cold), Tier::Warm, size, false, 0.0);
        let pig = m.move_usd(Some(Tier::Cold), Tier::Warm, size, true, 0.0);
        assert!(full > pig);
        assert!((full - pig - (m.class_b_usd + 0.01 * 10.0)).abs() < 1e-9);
    }
}
