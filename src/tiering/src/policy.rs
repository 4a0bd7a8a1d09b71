//! The placement policy: pure code that, given the time and the objects' statistics,
//! decides where each object should live.
//!
//! Every object gets an expected cost rate in each tier: storage (price x size) plus its
//! estimated access rate times the cost of one GET from that tier (latency penalty; for
//! cold also the request fee and the egress of the bytes read). From those, two scores
//! per byte: the *hot score* (what hot saves per byte-second over the best other tier)
//! and the *warm score* (what warm saves over cold). Local capacity goes to the highest
//! scores: a periodic pass fills hot up to its high watermark in score order, then warm,
//! and sends the rest to cold; between passes the last pass's marginal scores (the
//! *cutoffs*) decide placements and on-access promotions, and a capacity check demotes the
//! lowest scores whenever a tier passes its high watermark, down to its low watermark.
//!
//! Against ping-pong: an object must beat a resident by the hysteresis factor, a move must
//! pay its own cost back within the decision horizon, and score-driven moves wait for the
//! minimum residency. Pinned hints override scores (capacity still wins: a tier is never
//! over-filled for a pin). A warm-up period after start makes only capacity moves.
//!
//! The policy never does I/O and never reads a clock: `now` is an argument (seconds on the
//! caller's clock), so the same code runs live and in replay.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

use stratum_core::Tier;

use crate::cost::{tier_index, CostModel, GB};
use crate::stats::{AccessStats, Hint};

/// Every threshold of the policy. Defaults are documented per field and in
/// `docs/tiering.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Half-life of the long decayed access count, seconds. Default 12 hours: long enough
    /// to see a daily job's objects as regularly used, short enough to forget a burst (a
    /// restore, a read-once log chunk) within a day or two.
    pub half_life_s: f64,
    /// Half-life of the short decayed count used for spike detection, seconds. Default
    /// 15 minutes.
    pub spike_half_life_s: f64,
    /// The short count that makes a spike, accesses. Default 3: three GETs within about a
    /// spike half-life.
    pub spike_min_accesses: f64,
    /// GETs a new object is expected to get in its first `prior_window_s` before anything
    /// is learned about its class (its bucket). Default 0.5: new objects are often read soon
    /// after they are written, but not always.
    pub new_object_prior_accesses: f64,
    /// The window after a PUT over which the prior applies and is learned, seconds. Default
    /// 3600. While it lasts, the expected remaining early GETs (prior minus GETs seen) add
    /// to the object's rate; when it closes, its GET count updates its class's prior.
    pub prior_window_s: f64,
    /// Weight of one closed window in its class's prior (an exponential moving average).
    /// Default 0.05.
    pub prior_learning_rate: f64,
    /// The longer window after a PUT, seconds: a second prior covers the GETs after the
    /// first `prior_window_s` up to this age, learned per class the same way. Default 2
    /// days: web uploads and media are read for a day or two after upload, log chunks and
    /// backups are not, and the first hour alone does not tell them apart. Not above
    /// `prior_window_s`: off.
    pub long_prior_window_s: f64,
    /// GETs a new object is expected to get after its first `prior_window_s` and up to
    /// `long_prior_window_s`, before anything is learned about its class. Default 0.5.
    pub new_object_long_prior_accesses: f64,
    /// Weight of a HEAD in the decayed counts. Default 0: a HEAD is answered from local
    /// metadata, so it costs the same whatever the tier.
    pub head_weight: f64,
    /// Seconds between periodic passes. Default 900.
    pub pass_interval_s: f64,
    /// Hot fill above which the capacity check demotes, fraction of capacity. Default 0.85.
    pub hot_high_watermark: f64,
    /// Hot fill the capacity check demotes down to, and the fill the pass aims at.
    /// Default 0.75.
    pub hot_low_watermark: f64,
    /// Warm fill above which the capacity check demotes to cold. Default 0.99 (warm is the
    /// cheapest tier per byte in the shipped cost model, so it is kept nearly full; the
    /// capacity check runs after every request, so the margin only absorbs one burst).
    pub warm_high_watermark: f64,
    /// Warm fill the capacity check demotes down to, and the fill the pass aims at.
    /// Default 0.97.
    pub warm_low_watermark: f64,
    /// Seconds after start during which only capacity moves are made. Default 3600.
    pub warmup_s: f64,
    /// Seconds after a move before the periodic pass may move an object again (capacity
    /// moves and promotions on access ignore it). Default 3600.
    pub min_residency_s: f64,
    /// Factor by which a newcomer's score must beat a resident's. Default 0.25.
    pub hysteresis: f64,
    /// Seconds over which a move must pay back its own cost (write wear, requests,
    /// egress). Default 1 day.
    pub horizon_s: f64,
    /// Spend the provider's free egress allowance (a multiple of the cold bytes stored)
    /// as a budget: the allowance accrued so far minus the egress so far. While it lasts,
    /// a GET's egress counts as free; a download out of cold pays egress only for the
    /// bytes beyond what is left, and each pass spends the budget promotion by promotion,
    /// so a batch never runs past it. The allowance accrued so far is a lower bound of
    /// the one the bill settles with, so free egress spent this way stays free. Default
    /// true; false prices all egress at the provider's rate.
    pub egress_allowance: bool,
    /// The share of the provider's egress price a download out of cold is charged for the
    /// bytes the free allowance covers (GETs served from cold are not charged for them).
    /// Default 0.03: the allowance is finite, and a download spends it for good on one
    /// object; at 0 the pass swapped near-equal objects between warm and cold through it
    /// and left nothing for the viewing sessions that came later.
    pub allowance_download_price: f64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            half_life_s: 43_200.0,
            spike_half_life_s: 900.0,
            spike_min_accesses: 3.0,
            new_object_prior_accesses: 0.5,
            prior_window_s: 3600.0,
            prior_learning_rate: 0.05,
            long_prior_window_s: 172_800.0,
            new_object_long_prior_accesses: 0.5,
            head_weight: 0.0,
            pass_interval_s: 900.0,
            hot_high_watermark: 0.85,
            hot_low_watermark: 0.75,
            warm_high_watermark: 0.99,
            warm_low_watermark: 0.97,
            warmup_s: 3600.0,
            min_residency_s: 3600.0,
            hysteresis: 0.25,
            horizon_s: 86_400.0,
            egress_allowance: true,
            allowance_download_price: 0.03,
        }
    }
}

/// A config value out of range.
#[derive(Debug, thiserror::Error)]
#[error("policy config: {0}")]
pub struct PolicyConfigError(String);

impl PolicyConfig {
    /// Checks ranges: positive half-lives and intervals, watermarks with
    /// `0 < low <= high <= 1`, non-negative weights.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        let positive = [
            ("half_life_s", self.half_life_s),
            ("spike_half_life_s", self.spike_half_life_s),
            ("pass_interval_s", self.pass_interval_s),
            ("prior_window_s", self.prior_window_s),
            ("horizon_s", self.horizon_s),
        ];
        for (name, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(PolicyConfigError(format!("{name} must be > 0, not {v}")));
            }
        }
        let non_negative = [
            ("spike_min_accesses", self.spike_min_accesses),
            ("new_object_prior_accesses", self.new_object_prior_accesses),
            ("long_prior_window_s", self.long_prior_window_s),
            ("allowance_download_price", self.allowance_download_price),
            (
                "new_object_long_prior_accesses",
                self.new_object_long_prior_accesses,
            ),
            ("prior_learning_rate", self.prior_learning_rate),
            ("head_weight", self.head_weight),
            ("warmup_s", self.warmup_s),
            ("min_residency_s", self.min_residency_s),
            ("hysteresis", self.hysteresis),
        ];
        for (name, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(PolicyConfigError(format!("{name} must be >= 0, not {v}")));
            }
        }
        for (tier, low, high) in [
            ("hot", self.hot_low_watermark, self.hot_high_watermark),
            ("warm", self.warm_low_watermark, self.warm_high_watermark),
        ] {
            if !(low > 0.0 && low <= high && high <= 1.0) {
                return Err(PolicyConfigError(format!(
                    "{tier} watermarks need 0 < low <= high <= 1, not {low} and {high}"
                )));
            }
        }
        Ok(())
    }
}

/// Bytes used per tier and the local tiers' capacities, as the caller sees them now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TierUsage {
    /// Bytes in hot, warm, cold.
    pub used: [u64; 3],
    /// Capacity of hot and warm in bytes (cold is unlimited).
    pub capacity: [u64; 2],
}

/// Why a decision was made: a machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A new version's tier, from its score with the prior count against the cutoffs.
    Placement,
    /// The object's metadata pins it to this tier.
    PinnedHint,
    /// A spike of accesses (the short count passed `spike_min_accesses`) promoted it.
    Spike,
    /// An access raised its score above the target tier's cutoff.
    PromoteOnAccess,
    /// The periodic pass moved it up: its score earns it a faster tier.
    PassPromote,
    /// The periodic pass moved it down: lower scores than the tier's residents, or the
    /// tier costs more than it saves.
    PassDemote,
    /// A tier passed its high watermark; the lowest scores were demoted.
    CapacityPressure,
}

impl Reason {
    /// The code as written in logs (`capacity_pressure`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Placement => "placement",
            Reason::PinnedHint => "pinned_hint",
            Reason::Spike => "spike",
            Reason::PromoteOnAccess => "promote_on_access",
            Reason::PassPromote => "pass_promote",
            Reason::PassDemote => "pass_demote",
            Reason::CapacityPressure => "capacity_pressure",
        }
    }
}

/// What the policy compared when it decided: enough for `tier explain` to show the why.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    /// The object's score for the target tier (for a demotion: for the tier it left),
    /// dollars saved per GB-month.
    pub score: f64,
    /// The threshold it was compared with (the tier's cutoff, with hysteresis where it
    /// applies), same unit.
    pub threshold: f64,
    /// Long-term access rate estimate, accesses per day.
    pub rate_per_day: f64,
    /// Spike rate (0 unless a spike), accesses per day.
    pub spike_per_day: f64,
    /// Expected cost in hot, warm, cold, dollars per day.
    pub cost_per_day: [f64; 3],
    /// Fill of the tier that triggered the decision (capacity moves), else of the target.
    pub fill: f64,
}

/// One placement or move.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<K> {
    /// The object.
    pub object: K,
    /// The tier it is in (`None`: the placement of a new version).
    pub from: Option<Tier>,
    /// The tier it goes to.
    pub to: Tier,
    /// Why.
    pub reason: Reason,
    /// What was compared.
    pub inputs: Inputs,
}

impl<K> Decision<K> {
    /// A one-line human-readable reason: the code, then the compared numbers.
    pub fn describe(&self) -> String {
        let i = &self.inputs;
        format!(
            "{}: score {:.4} vs {:.4} $/GB-mo; rate {:.2}/d; spike {:.1}/d; fill {:.0}%",
            self.reason.as_str(),
            i.score,
            i.threshold,
            i.rate_per_day,
            i.spike_per_day,
            i.fill * 100.0
        )
    }
}

impl<K> fmt::Display for Decision<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Scores of one object at one instant.
#[derive(Debug, Clone, Copy)]
struct Eval {
    rate: f64,
    spike: f64,
    /// Expected cost per second in each tier.
    cost: [f64; 3],
    /// Hot score, dollars per byte-second.
    hot: f64,
    /// Warm score.
    warm: f64,
    /// Hot over cold (used when warm is full).
    fill: f64,
}

/// What the policy makes of one object now, for `tier explain`: its scores against the
/// current cutoffs and the tier they point to. Scores and cutoffs in dollars per GB-month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlook {
    /// What hot saves over the best other tier.
    pub hot_score: f64,
    /// The hot cutoff of the last pass (with hysteresis for a newcomer).
    pub hot_cutoff: f64,
    /// What warm saves over cold.
    pub warm_score: f64,
    /// The warm cutoff of the last pass (with hysteresis for a newcomer).
    pub warm_cutoff: f64,
    /// Long-term access rate estimate, per day.
    pub rate_per_day: f64,
    /// Spike rate, per day.
    pub spike_per_day: f64,
    /// Expected cost in hot, warm, cold, dollars per day.
    pub cost_per_day: [f64; 3],
    /// The tier the scores point to (the pin, if pinned), before capacity is considered.
    pub target: Tier,
}

/// The marginal scores of the last pass (0 while a tier had room for every positive score).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cutoffs {
    /// Hot cutoff, dollars per byte-second.
    pub hot: f64,
    /// Warm cutoff.
    pub warm: f64,
}

/// Dollars per byte-second to dollars per GB-month (how scores are shown).
fn per_gb_month(model: &CostModel, v: f64) -> f64 {
    v * GB * model.month_s
}

/// The policy: its config, the cost model, and the little state it carries between calls
/// (cutoffs of the last pass, the cold-egress ledger). No I/O, no clock.
#[derive(Debug, Clone)]
pub struct Policy {
    config: PolicyConfig,
    model: CostModel,
    start_s: Option<f64>,
    last_pass_s: Option<f64>,
    cutoffs: Cutoffs,
    ledger_at_s: Option<f64>,
    cold_byte_s: f64,
    egress_bytes: f64,
    /// Learned early-GET priors by class.
    priors: HashMap<u32, f64>,
    /// Learned later-GET priors (after the first window, within the long one) by class.
    long_priors: HashMap<u32, f64>,
}

impl Policy {
    /// A policy with this config and cost model.
    pub fn new(config: PolicyConfig, model: CostModel) -> Self {
        Policy {
            config,
            model,
            start_s: None,
            last_pass_s: None,
            cutoffs: Cutoffs::default(),
            ledger_at_s: None,
            cold_byte_s: 0.0,
            egress_bytes: 0.0,
            priors: HashMap::new(),
            long_priors: HashMap::new(),
        }
    }

    /// The config.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// The cost model.
    pub fn model(&self) -> &CostModel {
        &self.model
    }

    /// The cutoffs of the last pass.
    pub fn cutoffs(&self) -> Cutoffs {
        self.cutoffs
    }

    /// Brings the time-based state up to `now` (the cold-storage integral behind the egress
    /// allowance). Every entry point calls it; callers may too.
    pub fn observe(&mut self, now: f64, usage: &TierUsage) {
        if self.start_s.is_none() {
            self.start_s = Some(now);
        }
        if let Some(at) = self.ledger_at_s {
            if now > at {
                self.cold_byte_s += usage.used[2] as f64 * (now - at);
            }
        }
        if self.ledger_at_s.is_none_or(|at| now > at) {
            self.ledger_at_s = Some(now);
        }
    }

    /// The expected GETs in the first `prior_window_s` of a new object of `class`: learned
    /// from the class's earlier objects, or `new_object_prior_accesses` before any.
    pub fn prior_for(&self, class: u32) -> f64 {
        self.priors
            .get(&class)
            .copied()
            .unwrap_or(self.config.new_object_prior_accesses)
    }

    /// Statistics for a new version of `class` written at `now`, with its class's learned
    /// priors.
    pub fn new_stats(
        &self,
        now: f64,
        size: u64,
        tier: Tier,
        hint: Hint,
        class: u32,
    ) -> AccessStats {
        let mut s = AccessStats::new(now, size, tier, hint, class, self.prior_for(class));
        s.long_prior_reads = self.long_prior_for(class);
        s
    }

    /// The expected GETs after the first `prior_window_s` and up to `long_prior_window_s`
    /// of a new object of `class`.
    pub fn long_prior_for(&self, class: u32) -> f64 {
        self.long_priors
            .get(&class)
            .copied()
            .unwrap_or(self.config.new_object_long_prior_accesses)
    }

    /// Closes an object's prior windows that are over at `now` (or all, `force`: the
    /// version is going away), feeding its GET counts into its class's priors. Returns
    /// whether any closed now.
    pub fn close_prior_window(&mut self, now: f64, stats: &mut AccessStats, force: bool) -> bool {
        let age = now - stats.created_s;
        let a = self.config.prior_learning_rate;
        let mut closed = false;
        if !stats.prior_closed && (force || age >= self.config.prior_window_s) {
            stats.prior_closed = true;
            let p = self.prior_for(stats.class);
            self.priors
                .insert(stats.class, p + a * (stats.window_gets as f64 - p));
            closed = true;
        }
        if !stats.long_prior_closed
            && self.config.long_prior_window_s > self.config.prior_window_s
            && (force || age >= self.config.long_prior_window_s)
        {
            stats.long_prior_closed = true;
            let p = self.long_prior_for(stats.class);
            self.long_priors
                .insert(stats.class, p + a * (stats.long_window_gets as f64 - p));
            closed = true;
        }
        closed
    }

    /// The object's scores against the current cutoffs and the tier they point to.
    pub fn outlook(&self, now: f64, s: &AccessStats) -> Outlook {
        let e = self.eval(now, s, self.egress_price());
        let f = 1.0 + self.config.hysteresis;
        let cut = |tier: Tier, c: f64| if s.tier == tier { c / f } else { c * f };
        let (hot_cutoff, warm_cutoff) = (
            cut(Tier::Hot, self.cutoffs.hot),
            cut(Tier::Warm, self.cutoffs.warm),
        );
        let target = match s.hint.pinned() {
            Some(pin) => pin,
            None if e.hot > 0.0 && e.hot > hot_cutoff => Tier::Hot,
            None if e.warm > 0.0 && e.warm > warm_cutoff => Tier::Warm,
            None => Tier::Cold,
        };
        let day = 86_400.0;
        Outlook {
            hot_score: per_gb_month(&self.model, e.hot),
            hot_cutoff: per_gb_month(&self.model, hot_cutoff),
            warm_score: per_gb_month(&self.model, e.warm),
            warm_cutoff: per_gb_month(&self.model, warm_cutoff),
            rate_per_day: e.rate * day,
            spike_per_day: e.spike * day,
            cost_per_day: [e.cost[0] * day, e.cost[1] * day, e.cost[2] * day],
            target,
        }
    }

    /// When the last periodic pass ran (`None` before the first).
    pub fn last_pass_s(&self) -> Option<f64> {
        self.last_pass_s
    }

    /// Whether a periodic pass is due at `now`.
    pub fn pass_due(&self, now: f64) -> bool {
        self.last_pass_s
            .is_none_or(|t| now - t >= self.config.pass_interval_s)
    }

    /// Whether `now` is within the warm-up period after the policy's first call.
    pub fn in_warmup(&self, now: f64) -> bool {
        self.start_s.is_none_or(|s| now - s < self.config.warmup_s)
    }

    /// Free egress bytes left now: the allowance accrued so far (a multiple of the cold
    /// byte-months stored so far, which the bill can only grow) minus the egress so far.
    /// 0 when `egress_allowance` is off or the provider has none; negative when over.
    pub fn egress_budget(&self) -> f64 {
        let m = &self.model;
        if !self.config.egress_allowance || m.egress_free_multiple <= 0.0 {
            return 0.0;
        }
        m.egress_free_multiple * self.cold_byte_s / m.month_s - self.egress_bytes
    }

    /// The marginal egress price of a GET's bytes now: 0 while the free allowance has
    /// bytes left.
    fn egress_price(&self) -> f64 {
        if self.egress_budget() > 0.0 {
            0.0
        } else {
            self.model.egress_usd_per_gb
        }
    }

    /// The mean egress price per GB of downloading `size` bytes with `budget` free bytes
    /// left: the part beyond the budget at the provider's price, the part it covers at
    /// `allowance_download_price` of it.
    fn download_price(&self, size: u64, budget: f64) -> f64 {
        let size = size.max(1) as f64;
        let charged = (size - budget.max(0.0)).clamp(0.0, size);
        let covered = (size - charged) * self.config.allowance_download_price;
        self.model.egress_usd_per_gb * (charged + covered) / size
    }

    /// Records cold egress the caller served (GET bytes from cold) for the allowance.
    pub fn record_cold_read(&mut self, bytes: u64) {
        self.egress_bytes += bytes as f64;
    }

    fn eval(&self, now: f64, s: &AccessStats, egress: f64) -> Eval {
        let m = &self.model;
        let rate = s.rate(now, &self.config);
        let spike = s.spike_rate(now, &self.config);
        let lambda = rate.max(spike);
        let bytes = s.mean_read_bytes();
        let size = s.size as f64;
        let mut cost = [0.0; 3];
        for (i, tier) in crate::cost::TIERS.iter().enumerate() {
            cost[i] =
                m.storage_usd_per_byte_s(*tier) * size + lambda * m.get_usd(*tier, bytes, egress);
        }
        let per = size.max(1.0);
        Eval {
            rate,
            spike,
            cost,
            hot: (cost[1].min(cost[2]) - cost[0]) / per,
            warm: (cost[2] - cost[1]) / per,
            fill: (cost[2] - cost[0]) / per,
        }
    }

    /// The time over which a move justified by `e` must pay back: the horizon, or for a
    /// spike the spike's own expected span (a spike's rate does not last a day).
    fn horizon(&self, e: &Eval) -> f64 {
        if e.spike > e.rate {
            self.config.spike_half_life_s / std::f64::consts::LN_2
        } else {
            self.config.horizon_s
        }
    }

    /// A move's own cost spread over its payback time, per byte-second: what its score
    /// must exceed for the move to pay.
    /// `budget`: free egress bytes left for a download out of cold.
    fn move_charge(
        &self,
        s: &AccessStats,
        e: &Eval,
        to: Tier,
        piggyback: bool,
        budget: f64,
    ) -> f64 {
        let from = if s.tier == to {
            return 0.0;
        } else {
            Some(s.tier)
        };
        let egress = self.download_price(s.size, budget);
        self.model.move_usd(from, to, s.size, piggyback, egress)
            / (s.size.max(1) as f64 * self.horizon(e))
    }

    fn inputs(&self, e: &Eval, score: f64, threshold: f64, fill: f64) -> Inputs {
        let day = 86_400.0;
        Inputs {
            score: per_gb_month(&self.model, score),
            threshold: per_gb_month(&self.model, threshold),
            rate_per_day: e.rate * day,
            spike_per_day: e.spike * day,
            cost_per_day: [e.cost[0] * day, e.cost[1] * day, e.cost[2] * day],
            fill,
        }
    }

    /// Bytes the periodic pass fills a local tier to: its low watermark, which leaves the
    /// band up to the high watermark for new versions and promotions between passes.
    fn fill_target(&self, usage: &TierUsage, tier: Tier) -> f64 {
        match tier {
            Tier::Hot => usage.capacity[0] as f64 * self.config.hot_low_watermark,
            Tier::Warm => usage.capacity[1] as f64 * self.config.warm_low_watermark,
            Tier::Cold => f64::INFINITY,
        }
    }

    /// Whether `size` more bytes fit in `tier` under its high watermark now.
    fn has_room(&self, usage: &TierUsage, tier: Tier, size: u64) -> bool {
        let i = tier_index(tier);
        i == 2 || (usage.used[i] + size) as f64 <= self.budget(usage, tier)
    }

    fn budget(&self, usage: &TierUsage, tier: Tier) -> f64 {
        match tier {
            Tier::Hot => usage.capacity[0] as f64 * self.config.hot_high_watermark,
            Tier::Warm => usage.capacity[1] as f64 * self.config.warm_high_watermark,
            Tier::Cold => f64::INFINITY,
        }
    }

    fn fill(usage: &TierUsage, tier: Tier) -> f64 {
        let i = tier_index(tier);
        if i == 2 || usage.capacity[i] == 0 {
            return 0.0;
        }
        usage.used[i] as f64 / usage.capacity[i] as f64
    }

    /// The tier for a new version of `size` bytes written at `now` with `hint`.
    pub fn place<K>(
        &mut self,
        now: f64,
        object: K,
        stats: &AccessStats,
        usage: &TierUsage,
    ) -> Decision<K> {
        self.observe(now, usage);
        let egress = self.egress_price();
        let e = self.eval(now, stats, egress);
        let fits = |tier: Tier| {
            let i = tier_index(tier);
            i == 2 || (stats.size as f64) <= self.budget(usage, tier)
        };
        if let Some(pin) = stats.hint.pinned() {
            let to = [pin, Tier::Warm, Tier::Cold]
                .into_iter()
                .find(|t| tier_index(*t) >= tier_index(pin) && fits(*t))
                .unwrap_or(Tier::Cold);
            return Decision {
                object,
                from: None,
                to,
                reason: Reason::PinnedHint,
                inputs: self.inputs(&e, 0.0, 0.0, Self::fill(usage, to)),
            };
        }
        let m = &self.model;
        let size = stats.size.max(1) as f64;
        // A placement pays back over the prior window (its rate is the prior's until then;
        // the pass reconsiders it afterwards), a spike over its own span.
        let h = if e.spike > e.rate {
            self.horizon(&e)
        } else {
            self.config.prior_window_s
        };
        let write = |t: Tier| m.move_usd(None, t, stats.size, false, egress) / (size * h);
        let hot = e.hot - write(Tier::Hot) + write(Tier::Warm).min(write(Tier::Cold));
        let warm = e.warm - write(Tier::Warm) + write(Tier::Cold);
        let (to, score, threshold) = if hot > self.cutoffs.hot && hot > 0.0 && fits(Tier::Hot) {
            (Tier::Hot, hot, self.cutoffs.hot)
        } else if warm > self.cutoffs.warm && warm > 0.0 && fits(Tier::Warm) {
            (Tier::Warm, warm, self.cutoffs.warm)
        } else {
            (Tier::Cold, warm, self.cutoffs.warm)
        };
        Decision {
            object,
            from: None,
            to,
            reason: Reason::Placement,
            inputs: self.inputs(&e, score, threshold, Self::fill(usage, to)),
        }
    }

    /// Called after a GET or range GET was served from `stats.tier` and recorded in
    /// `stats`: a promotion if the access lifted the object's score over a faster tier's
    /// cutoff (or it is pinned elsewhere). `whole`: the GET read the whole object (a
    /// promotion out of cold then reuses the downloaded bytes).
    pub fn on_access<K>(
        &mut self,
        now: f64,
        object: K,
        stats: &AccessStats,
        bytes: u64,
        whole: bool,
        usage: &TierUsage,
    ) -> Option<Decision<K>> {
        self.observe(now, usage);
        if stats.tier == Tier::Cold {
            self.record_cold_read(bytes);
        }
        let egress = self.egress_price();
        let budget = self.egress_budget();
        let e = self.eval(now, stats, egress);
        let piggyback = whole && stats.tier == Tier::Cold;
        let size = stats.size as f64;
        if let Some(pin) = stats.hint.pinned() {
            if pin != stats.tier && size <= self.budget(usage, pin) {
                if pin == Tier::Cold {
                    // A pin to cold is honoured by the pass; an access never demotes.
                    return None;
                }
                return Some(Decision {
                    object,
                    from: Some(stats.tier),
                    to: pin,
                    reason: Reason::PinnedHint,
                    inputs: self.inputs(&e, 0.0, 0.0, Self::fill(usage, pin)),
                });
            }
            return None;
        }
        let f = 1.0 + self.config.hysteresis;
        let reason = if e.spike > e.rate {
            Reason::Spike
        } else {
            Reason::PromoteOnAccess
        };
        // Between passes a promotion takes free room under the high watermark; only a spike
        // may push the tier over it (the capacity check then demotes the lowest scores).
        let spike = reason == Reason::Spike;
        if stats.tier != Tier::Hot
            && size <= self.budget(usage, Tier::Hot)
            && (spike || self.has_room(usage, Tier::Hot, stats.size))
        {
            let score = e.hot - self.move_charge(stats, &e, Tier::Hot, piggyback, budget);
            let threshold = self.cutoffs.hot * f;
            if score > threshold && score > 0.0 {
                return Some(Decision {
                    object,
                    from: Some(stats.tier),
                    to: Tier::Hot,
                    reason,
                    inputs: self.inputs(&e, score, threshold, Self::fill(usage, Tier::Hot)),
                });
            }
        }
        if stats.tier == Tier::Cold
            && size <= self.budget(usage, Tier::Warm)
            && (spike || self.has_room(usage, Tier::Warm, stats.size))
        {
            let score = e.warm - self.move_charge(stats, &e, Tier::Warm, piggyback, budget);
            let threshold = self.cutoffs.warm * f;
            if score > threshold && score > 0.0 {
                return Some(Decision {
                    object,
                    from: Some(Tier::Cold),
                    to: Tier::Warm,
                    reason,
                    inputs: self.inputs(&e, score, threshold, Self::fill(usage, Tier::Warm)),
                });
            }
        }
        None
    }

    /// Records that a decision of this policy moved `bytes` out of cold without a
    /// piggy-backed GET (the download counts against the egress allowance).
    pub fn record_cold_download(&mut self, bytes: u64) {
        self.egress_bytes += bytes as f64;
    }

    /// The capacity check: if hot or warm is above its high watermark, the lowest scores
    /// are demoted until it is at its low watermark (hot to warm while warm has room, else
    /// to cold; warm to cold). Pinned objects go last.
    pub fn enforce<'a, K: Copy + 'a>(
        &mut self,
        now: f64,
        objects: impl Iterator<Item = (K, &'a AccessStats)>,
        usage: &TierUsage,
    ) -> Vec<Decision<K>> {
        self.observe(now, usage);
        let mut used = usage.used;
        let hot_high = self.budget(usage, Tier::Hot);
        let warm_high = self.budget(usage, Tier::Warm);
        if (used[0] as f64) <= hot_high && (used[1] as f64) <= warm_high {
            return Vec::new();
        }
        let egress = self.egress_price();
        let mut hot = Vec::new();
        // Warm residents, and hot victims demoted into warm by this call (with the index of
        // their decision, so a second demotion rewrites it to go to cold directly).
        let mut warm: Vec<(K, &AccessStats, Eval, Option<usize>)> = Vec::new();
        for (k, s) in objects {
            match s.tier {
                Tier::Hot => hot.push((k, s, self.eval(now, s, egress))),
                Tier::Warm => warm.push((k, s, self.eval(now, s, egress), None)),
                Tier::Cold => {}
            }
        }
        let pinned_key = |s: &AccessStats| s.hint.pinned().is_some() as u8;
        let mut out = Vec::new();
        if used[0] as f64 > hot_high {
            let low = usage.capacity[0] as f64 * self.config.hot_low_watermark;
            hot.sort_by(|a, b| {
                pinned_key(a.1)
                    .cmp(&pinned_key(b.1))
                    .then(a.2.hot.total_cmp(&b.2.hot))
            });
            let fill = Self::fill(usage, Tier::Hot);
            for (k, s, e) in hot {
                if used[0] as f64 <= low {
                    break;
                }
                let to = if (used[1] + s.size) as f64 <= warm_high && e.warm > 0.0 {
                    Tier::Warm
                } else {
                    Tier::Cold
                };
                used[0] -= s.size;
                used[tier_index(to)] += s.size;
                if to == Tier::Warm {
                    warm.push((k, s, e, Some(out.len())));
                }
                out.push(Decision {
                    object: k,
                    from: Some(Tier::Hot),
                    to,
                    reason: Reason::CapacityPressure,
                    inputs: self.inputs(&e, e.hot, self.cutoffs.hot, fill),
                });
            }
        }
        if used[1] as f64 > warm_high {
            let low = usage.capacity[1] as f64 * self.config.warm_low_watermark;
            warm.sort_by(|a, b| {
                pinned_key(a.1)
                    .cmp(&pinned_key(b.1))
                    .then(a.2.warm.total_cmp(&b.2.warm))
            });
            let fill = used[1] as f64 / usage.capacity[1].max(1) as f64;
            for (k, s, e, earlier) in warm {
                if used[1] as f64 <= low {
                    break;
                }
                used[1] -= s.size;
                used[2] += s.size;
                match earlier {
                    Some(i) => out[i].to = Tier::Cold,
                    None => out.push(Decision {
                        object: k,
                        from: Some(Tier::Warm),
                        to: Tier::Cold,
                        reason: Reason::CapacityPressure,
                        inputs: self.inputs(&e, e.warm, self.cutoffs.warm, fill),
                    }),
                }
            }
        }
        out
    }

    /// The periodic pass: assigns hot, then warm, by score within their high watermarks,
    /// the rest to cold, and returns the moves that pay (see the module doc). Updates the
    /// cutoffs that placements and on-access promotions compare with. During warm-up it
    /// only records cutoffs and leaves moves to the capacity check.
    pub fn pass<'a, K: Copy + 'a>(
        &mut self,
        now: f64,
        objects: impl Iterator<Item = (K, &'a AccessStats)>,
        usage: &TierUsage,
    ) -> Vec<Decision<K>> {
        self.observe(now, usage);
        self.last_pass_s = Some(now);
        let egress = self.egress_price();
        let cfg = &self.config;
        let f = 1.0 + cfg.hysteresis;
        struct Cand<'a, K> {
            key: K,
            s: &'a AccessStats,
            e: Eval,
            target: Option<Tier>,
        }
        let mut cands: Vec<Cand<'a, K>> = objects
            .map(|(key, s)| Cand {
                key,
                s,
                e: self.eval(now, s, egress),
                target: None,
            })
            .collect();
        let mut room = [
            self.fill_target(usage, Tier::Hot),
            self.fill_target(usage, Tier::Warm),
        ];
        // Locked objects keep their tier: pinned ones (moved to their pin if it fits), and
        // recently moved ones.
        for c in cands.iter_mut() {
            let locked = match c.s.hint.pinned() {
                Some(pin) => {
                    let i = tier_index(pin);
                    if i == 2 || c.s.size as f64 <= room[i] {
                        Some(pin)
                    } else {
                        Some(c.s.tier)
                    }
                }
                None => {
                    c.s.last_move_s
                        .filter(|t| now - t < cfg.min_residency_s)
                        .map(|_| c.s.tier)
                }
            };
            if let Some(t) = locked {
                let i = tier_index(t);
                if i < 2 {
                    room[i] -= c.s.size as f64;
                }
                c.target = Some(t);
            }
        }
        let warmup = self.in_warmup(now);
        let this = &*self;
        let charge = |s: &AccessStats, e: &Eval, to: Tier, budget: f64| -> f64 {
            this.move_charge(s, e, to, false, budget)
        };
        // The free egress this pass may spend on downloads out of cold: what the allowance
        // has left now. Each promotion out of cold spends its size; once it is spent, the
        // next ones pay egress (and happen only if their score still pays for it).
        let mut budget = self.egress_budget();
        // One greedy stage: candidates with a positive adjusted score, best first, while
        // they fit. Residents get the hysteresis factor; newcomers pay their move.
        let stage = |cands: &mut Vec<Cand<'a, K>>,
                     tier: Tier,
                     room: &mut f64,
                     budget: &mut f64,
                     score_of: &dyn Fn(&Eval) -> f64|
         -> f64 {
            let mut order: Vec<(usize, f64)> = cands
                .iter()
                .enumerate()
                .filter(|(_, c)| c.target.is_none())
                .map(|(i, c)| {
                    let raw = score_of(&c.e);
                    let adj = if c.s.tier == tier {
                        if raw > 0.0 {
                            raw * f
                        } else {
                            raw / f
                        }
                    } else {
                        raw - charge(c.s, &c.e, tier, *budget)
                    };
                    (i, adj)
                })
                .filter(|(_, adj)| *adj > 0.0)
                .collect();
            order.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut cutoff = 0.0;
            for (i, adj) in order {
                let c = &cands[i];
                let size = c.s.size as f64;
                if size > *room {
                    if cutoff == 0.0 {
                        cutoff = adj;
                    }
                    continue;
                }
                if c.s.tier == Tier::Cold {
                    // Priced with the budget as it is now, after the downloads before it.
                    if score_of(&c.e) - charge(c.s, &c.e, tier, *budget) <= 0.0 {
                        continue;
                    }
                    *budget -= size;
                }
                *room -= size;
                cands[i].target = Some(tier);
            }
            cutoff
        };
        let mut hot_room = room[0];
        let mut warm_room = room[1];
        let hot_cut = stage(&mut cands, Tier::Hot, &mut hot_room, &mut budget, &|e| {
            e.hot
        });
        let warm_cut = stage(&mut cands, Tier::Warm, &mut warm_room, &mut budget, &|e| {
            e.warm
        });
        // Warm is full: hot may still be worth it over cold.
        stage(&mut cands, Tier::Hot, &mut hot_room, &mut budget, &|e| {
            e.fill
        });
        self.cutoffs = Cutoffs {
            hot: hot_cut,
            warm: warm_cut,
        };
        if warmup {
            return Vec::new();
        }
        let mut out = Vec::new();
        for c in cands {
            let to = c.target.unwrap_or(Tier::Cold);
            if to == c.s.tier {
                continue;
            }
            // A promotion out of cold downloads the object: only if the score pays for it
            // (the stage already charged it; this keeps unworthy cold objects in place).
            let up = tier_index(to) < tier_index(c.s.tier);
            let pinned = c.s.hint.pinned() == Some(to);
            let (score, threshold) = match to {
                Tier::Hot => (c.e.hot, hot_cut),
                Tier::Warm if up => (c.e.warm, warm_cut),
                Tier::Warm => (c.e.hot, hot_cut),
                Tier::Cold => (c.e.warm, warm_cut),
            };
            let reason = if pinned {
                Reason::PinnedHint
            } else if up {
                Reason::PassPromote
            } else {
                Reason::PassDemote
            };
            let inputs = self.inputs(&c.e, score, threshold, Self::fill(usage, to));
            out.push(Decision {
                object: c.key,
                from: Some(c.s.tier),
                to,
                reason,
                inputs,
            });
        }
        // Demotions first, so a tier never holds both its leavers and its arrivals.
        out.sort_by_key(|d| {
            let from = d.from.map_or(0, tier_index);
            (tier_index(d.to) < from) as u8
        });
        out
    }
}
