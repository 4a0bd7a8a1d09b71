//! The mover: the background worker that runs the policy over the live store and carries
//! out its decisions — hot→warm, →cold (packed and recompressed), and back — within a byte
//! rate and a concurrency limit, recording every decision with its inputs and outcome.
//!
//! It keeps a catalog of every object (version, size, tier, pin, access statistics), built
//! by scanning the index at each pass and whenever a tier passes its high watermark; the
//! statistics come from the [`AccessTracker`], the tier and pin from the index, which is
//! always the truth (a move that lost a race to a write simply did not happen). Work
//! happens in three places:
//!
//! - every `tick`: objects read since the last tick are offered to [`Policy::on_access`]
//!   (promotion on access, spikes); if hot or warm is above its high watermark, the
//!   catalog is refreshed and [`Policy::enforce`] demotes the lowest scores;
//! - every `pass_interval_s` (and on [`Mover::run_now`], the `stratum tier run` call): the
//!   periodic [`Policy::pass`];
//! - every `cold_maintenance`: remote compaction and reconciliation of the cold tier.
//!
//! New versions are placed by the policy too ([`Mover::place_new`], called by PutObject
//! and CopyObject before they write, and by CompleteMultipartUpload after): [`Policy::place`]
//! — the code replay runs for each PUT — against the cutoffs of the last pass, the priors
//! learned so far and the tiers' fill now. A version placed in warm is written there; one
//! placed in cold is written to the lowest local tier and packed at the next tick, as is a
//! completed multipart upload whose parts sit elsewhere than its placement. Each pass first closes the prior windows that ended since
//! the last one, so the per-bucket priors are learned live as in replay (and relearned
//! from the persisted statistics after a restart).
//!
//! One async mutex serializes all of them, so a pack is never in flight while
//! reconciliation decides which remote volumes are orphans. Moves are copy-then-flip in the
//! engine: a mover killed at any point loses nothing, and the next start reconciles the
//! cold tier (orphan volumes of a half-done pack are deleted).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use stratum_core::{BucketName, ObjectKey, Tier};
use stratum_engine::{tier_slot, ColdCandidate, Engine, EngineError};
use tokio::sync::watch;

use crate::cost::{tier_index, CostModel};
use crate::log::{DecisionEntry, DecisionFilter, DecisionLog, Outcome};
use crate::policy::{Decision, Outlook, Policy, Reason, TierUsage};
use crate::stats::{AccessStats, Hint};
use crate::tracker::AccessTracker;

/// How long the capacity check waits after one that could move nothing.
const FUTILE_CHECK_BACKOFF: Duration = Duration::from_secs(60);
/// Decisions shown per object by `explain`.
const EXPLAIN_DECISIONS: usize = 10;

/// How the mover runs. Defaults are documented per field and in `docs/tiering.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct MoverConfig {
    /// Logical bytes the policy may keep in hot (its watermarks are fractions of this).
    pub hot_capacity_bytes: u64,
    /// Logical bytes the policy may keep in warm (0 without a warm tier).
    pub warm_capacity_bytes: u64,
    /// How often accesses are checked for promotion and capacity for pressure.
    pub tick: Duration,
    /// Bytes moved per second at most, averaged over a run of moves.
    pub move_bytes_per_sec: u64,
    /// Hot/warm moves in flight at once.
    pub move_concurrency: usize,
    /// How often the cold tier is compacted and reconciled.
    pub cold_maintenance: Duration,
}

impl Default for MoverConfig {
    fn default() -> Self {
        MoverConfig {
            hot_capacity_bytes: 0,
            warm_capacity_bytes: 0,
            tick: Duration::from_secs(5),
            move_bytes_per_sec: 64 * 1024 * 1024,
            move_concurrency: 2,
            cold_maintenance: Duration::from_secs(3600),
        }
    }
}

type ObjectId = (BucketName, ObjectKey);

/// One object as the mover knows it.
#[derive(Debug, Clone)]
struct Tracked {
    seq: u64,
    stats: AccessStats,
}

struct State {
    policy: Policy,
    catalog: HashMap<ObjectId, Tracked>,
    /// Prior windows ending up to this time have been learned from (`None`: none yet).
    priors_until_s: Option<f64>,
}

/// Where the PUT path writes a new version, as the policy placed it
/// ([`Mover::place_new`]); hand it back with [`Mover::placed`] once the write committed.
#[derive(Debug, Clone)]
pub struct NewPlacement {
    /// The local tier the bytes are written to now. A write path that could not choose
    /// (the parts of a multipart upload were written before its size was known) sets it
    /// to where the bytes are; the next tick moves them to the placed tier.
    pub write_to: Tier,
    size: u64,
    hint: Hint,
    decision: Decision<usize>,
}

impl NewPlacement {
    /// The tier the policy placed the version in (cold: packed at the next tick).
    pub fn tier(&self) -> Tier {
        self.decision.to
    }
}

/// A version written to another tier than the one it was placed in (cold, or any tier for
/// a multipart upload), waiting for the next tick's move.
struct PlacedElsewhere {
    id: ObjectId,
    seq: u64,
    placement: NewPlacement,
}

/// Moves and bytes by (from, to, reason).
type MoveTable = HashMap<(Tier, Tier, Reason), (u64, u64)>;

/// Counters for metrics and the summary, since start.
#[derive(Debug, Default)]
struct Counters {
    moves: Mutex<MoveTable>,
    failures: AtomicU64,
    skipped: AtomicU64,
    passes: AtomicU64,
    recompress_logical_bytes: AtomicU64,
    recompress_micros: AtomicU64,
    cold_uploaded_bytes: AtomicU64,
    pending: AtomicU64,
}

/// Moves carried out, by direction and reason (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveCount {
    /// Tier left.
    pub from: Tier,
    /// Tier entered.
    pub to: Tier,
    /// The policy's reason code.
    pub reason: String,
    /// Moves.
    pub moves: u64,
    /// Logical bytes moved.
    pub bytes: u64,
}

/// The mover's counters since start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoverStats {
    /// Moves by direction and reason.
    pub moves: Vec<MoveCount>,
    /// Moves that failed.
    pub failures: u64,
    /// Decisions not carried out (the object changed, or its tier is not configured).
    pub skipped: u64,
    /// Policy passes run.
    pub passes: u64,
    /// Original bytes of frames recompressed for cold.
    pub recompress_logical_bytes: u64,
    /// Seconds spent recompressing.
    pub recompress_secs: f64,
    /// Bytes of cold volumes uploaded.
    pub cold_uploaded_bytes: u64,
    /// Moves decided and not finished yet.
    pub pending_moves: u64,
}

/// What one run of decisions did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Decisions the policy made.
    pub decisions: u64,
    /// Moves carried out.
    pub moved: u64,
    /// Logical bytes moved.
    pub bytes_moved: u64,
    /// Decisions skipped (object changed, tier missing).
    pub skipped: u64,
    /// Moves that failed (they are retried by a later pass).
    pub failed: u64,
    /// Objects in the catalog.
    pub objects: u64,
}

/// Where an object is and why, for `stratum tier explain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The tier the object is in now.
    pub tier: Tier,
    /// The version's sequence number.
    pub seq: u64,
    /// Size, bytes.
    pub size: u64,
    /// Where its bytes are.
    pub location: LocationSummary,
    /// Its access statistics.
    pub access: AccessSummary,
    /// The pinned hint (`x-amz-meta-stratum-tier`): `hot`, `warm`, `cold` or `auto`.
    pub hint: String,
    /// Its scores against the current cutoffs, and the tier they point to.
    pub outlook: Outlook,
    /// The policy thresholds it is compared with.
    pub thresholds: Thresholds,
    /// Its last decisions, newest first.
    pub decisions: Vec<DecisionEntry>,
    /// What the mover will do next and when.
    pub next: NextAction,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationSummary {
    /// Frames.
    pub frames: usize,
    /// Volumes holding them (cold volume ids are the remote objects' names).
    pub volumes: Vec<String>,
    /// Stored bytes (compressed, before parity).
    pub stored_bytes: u64,
    /// Stored over original bytes.
    pub compression_ratio: f64,
}

/// An object's access statistics as `explain` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessSummary {
    /// GETs and range GETs of this version.
    pub gets: u64,
    /// HEADs.
    pub heads: u64,
    /// Bytes returned by GETs.
    pub bytes_read: u64,
    /// Last GET, ms since the epoch.
    pub last_access_ms: Option<i64>,
    /// Last move, ms since the epoch.
    pub last_move_ms: Option<i64>,
    /// When the version was written, ms since the epoch.
    pub created_ms: i64,
}

/// The thresholds of the policy as configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Hot high and low watermarks, fractions of its capacity.
    pub hot_watermarks: [f64; 2],
    /// Warm high and low watermarks.
    pub warm_watermarks: [f64; 2],
    /// Hot and warm fill now.
    pub fill: [f64; 2],
    /// Factor a newcomer's score must beat a resident's by.
    pub hysteresis: f64,
    /// Seconds after a move before a pass may move it again.
    pub min_residency_s: f64,
    /// Short count that makes a spike.
    pub spike_min_accesses: f64,
    /// Whether the policy is still in its warm-up (capacity moves only).
    pub warming_up: bool,
}

/// What the mover plans for an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextAction {
    /// `stay`, or `move to hot|warm|cold`.
    pub action: String,
    /// When: the next periodic pass, ms since the epoch.
    pub at_ms: i64,
    /// Why, in words.
    pub why: String,
}

/// Objects, bytes, capacity and cost, for `stratum tier summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Per tier: hot, warm, cold.
    pub tiers: Vec<TierSummary>,
    /// Moves decided and not finished.
    pub pending_moves: u64,
    /// Estimated monthly cost of the data where it is, dollars.
    pub monthly_cost_usd: f64,
    /// Estimated monthly cost if every byte were hot, dollars.
    pub all_hot_monthly_cost_usd: f64,
    /// The saving, dollars per month.
    pub monthly_saving_usd: f64,
    /// The mover's counters.
    pub mover: MoverStats,
}

/// One tier in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierSummary {
    /// The tier.
    pub tier: Tier,
    /// Whether it is configured.
    pub configured: bool,
    /// Objects in it.
    pub objects: u64,
    /// Their original bytes.
    pub logical_bytes: u64,
    /// Bytes stored for them (compressed, parity and headers included; the remote
    /// objects' bytes for cold, dead space included).
    pub stored_bytes: u64,
    /// Stored over original bytes (parity included for local tiers).
    pub compression_ratio: f64,
    /// The policy's capacity for it (none for cold).
    pub capacity_bytes: Option<u64>,
    /// Fill of that capacity.
    pub fill: Option<f64>,
    /// Estimated storage cost per month at the configured prices, dollars.
    pub monthly_cost_usd: f64,
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn ms(s: f64) -> i64 {
    (s * 1000.0) as i64
}

/// The prior class of a bucket (the policy learns early-read priors per class).
fn class_of(bucket: &BucketName) -> u32 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bucket.hash(&mut h);
    h.finish() as u32
}

/// Locks `m`, recovering the data of a holder that panicked (counters and queues stay
/// usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn hint_name(h: Hint) -> &'static str {
    match h.pinned() {
        None => "auto",
        Some(t) => t.as_str(),
    }
}

/// The tiering worker. Share it through an `Arc`; see the module docs.
pub struct Mover {
    engine: Engine,
    tracker: Arc<AccessTracker>,
    log: Arc<DecisionLog>,
    config: MoverConfig,
    state: tokio::sync::Mutex<State>,
    counters: Counters,
    /// When the mover was made: the first periodic pass is one interval later.
    started_s: f64,
    /// No capacity check before this instant (the last one could move nothing).
    futile_until: Mutex<Option<Instant>>,
    /// The policy as of the last tick, for placing new versions without waiting for a
    /// pass in progress (placement only reads the cutoffs and priors).
    placer: Mutex<Policy>,
    /// Versions written to another tier than their placement's, for the next tick.
    placed_elsewhere: Mutex<Vec<PlacedElsewhere>>,
}

impl std::fmt::Debug for Mover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mover")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Mover {
    /// A mover over `engine`, reading statistics from `tracker`, recording to `log`.
    pub fn new(
        engine: Engine,
        tracker: Arc<AccessTracker>,
        log: Arc<DecisionLog>,
        policy: Policy,
        mut config: MoverConfig,
    ) -> Self {
        if !engine.has_tier(Tier::Warm) {
            config.warm_capacity_bytes = 0;
        }
        Mover {
            engine,
            tracker,
            log,
            config,
            placer: Mutex::new(policy.clone()),
            state: tokio::sync::Mutex::new(State {
                policy,
                catalog: HashMap::new(),
                priors_until_s: None,
            }),
            counters: Counters::default(),
            started_s: now_s(),
            futile_until: Mutex::new(None),
            placed_elsewhere: Mutex::new(Vec::new()),
        }
    }

    /// Where a new version of `size` bytes in `bucket` with `hint` goes: the policy's
    /// placement ([`Policy::place`], as replay decides a PUT) against the last tick's
    /// cutoffs and priors and the tiers' fill now. A tier that is not configured falls to
    /// the next one down, and cold to the lowest local tier (the next tick packs it).
    pub fn place_new(&self, bucket: &BucketName, size: u64, hint: Hint) -> NewPlacement {
        let now = now_s();
        let class = class_of(bucket);
        let usage = self.usage();
        let mut decision = {
            let mut placer = lock(&self.placer);
            let stats = placer.new_stats(now, size, Tier::Hot, hint, class);
            placer.place(now, 0, &stats, &usage)
        };
        let local = if self.engine.has_tier(Tier::Warm) {
            Tier::Warm
        } else {
            Tier::Hot
        };
        if !self.engine.has_tier(decision.to) {
            decision.to = local;
        }
        let write_to = if decision.to == Tier::Cold {
            local
        } else {
            decision.to
        };
        NewPlacement {
            write_to,
            size,
            hint,
            decision,
        }
    }

    /// Records a placed version once its write committed as `seq`: a placement outside
    /// hot is logged (with its reason and inputs, as replay logs `new` rows), and a
    /// version written elsewhere than placed (in cold, or a multipart upload) is queued for
    /// the next tick's move, logged when it is done.
    pub fn placed(&self, bucket: &BucketName, key: &ObjectKey, seq: u64, placement: NewPlacement) {
        let id = (bucket.clone(), key.clone());
        match placement.decision.to {
            to if to != placement.write_to => {
                lock(&self.placed_elsewhere).push(PlacedElsewhere { id, seq, placement })
            }
            Tier::Hot => {}
            _ => {
                let size = placement.size;
                self.finish(
                    &placement.decision,
                    &id,
                    size,
                    seq,
                    Outcome::Done { bytes: size },
                );
            }
        }
    }

    /// The decision log.
    pub fn log(&self) -> &Arc<DecisionLog> {
        &self.log
    }

    /// Runs until `stop` turns true: reconciles the cold tier once, then ticks, passes and
    /// cold maintenance on their schedules. Errors are logged and retried next time.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.engine.has_tier(Tier::Cold) {
            let _state = self.state.lock().await;
            match self.engine.reconcile_cold().await {
                Ok(r) => tracing::info!(
                    volumes = r.volumes,
                    orphans = r.orphans_deleted,
                    "cold tier reconciled"
                ),
                Err(e) => tracing::warn!(error = %e, "reconciling the cold tier failed"),
            }
        }
        let mut last_cold = Instant::now();
        // The first periodic pass comes one interval after start (as in replay, passes fall
        // on whole intervals); `tier run` passes sooner.
        let started_s = self.started_s;
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(self.config.tick) => {}
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "tiering tick failed");
            }
            let due = {
                let state = self.state.lock().await;
                let last = state.policy.last_pass_s().unwrap_or(started_s);
                now_s() - last >= state.policy.config().pass_interval_s
            };
            if due {
                match self.run_now().await {
                    Ok(r) if r.decisions > 0 => tracing::info!(
                        decisions = r.decisions,
                        moved = r.moved,
                        bytes = r.bytes_moved,
                        failed = r.failed,
                        "tiering pass"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "tiering pass failed"),
                }
            }
            if self.engine.has_tier(Tier::Cold)
                && last_cold.elapsed() >= self.config.cold_maintenance
            {
                last_cold = Instant::now();
                if let Err(e) = self.cold_maintenance().await {
                    tracing::warn!(error = %e, "cold tier maintenance failed");
                }
            }
            if let Err(e) = self.log.flush() {
                tracing::warn!(error = %e, "flushing the decision log failed");
            }
        }
    }

    /// Remote compaction, then reconciliation, with no pack in flight.
    pub async fn cold_maintenance(&self) -> Result<(), EngineError> {
        let _state = self.state.lock().await;
        let c = self.engine.compact_cold().await?;
        if c.volumes_rewritten > 0 || c.volumes_deleted > 0 {
            tracing::info!(
                rewritten = c.volumes_rewritten,
                moved = c.objects_moved,
                deleted = c.volumes_deleted,
                bytes = c.bytes_freed,
                "cold tier compacted"
            );
        }
        self.engine.reconcile_cold().await?;
        Ok(())
    }

    fn usage(&self) -> TierUsage {
        let u = self.engine.usage();
        TierUsage {
            used: u.tier_logical_bytes,
            capacity: [
                self.config.hot_capacity_bytes,
                self.config.warm_capacity_bytes,
            ],
        }
    }

    fn over_high_watermark(&self, policy: &Policy) -> bool {
        let u = self.usage();
        let c = policy.config();
        (u.used[0] as f64) > u.capacity[0] as f64 * c.hot_high_watermark
            || (self.engine.has_tier(Tier::Warm)
                && (u.used[1] as f64) > u.capacity[1] as f64 * c.warm_high_watermark)
    }

    /// Refreshes the catalog from the index, merging the tracker's statistics.
    async fn sync(&self, state: &mut State) -> Result<(), EngineError> {
        let mut records = Vec::new();
        self.engine
            .for_each_object(|b, k, r| records.push(((b.clone(), k.clone()), r.clone())))
            .await?;
        let now = now_s();
        let cfg = state.policy.config();
        let windows = [cfg.prior_window_s, cfg.long_prior_window_s];
        let learned_until = state.priors_until_s;
        let mut catalog = HashMap::with_capacity(records.len());
        let mut closing = Vec::new();
        for (id, record) in records {
            let known = state.catalog.remove(&id).filter(|t| t.seq == record.seq);
            let last_move_s = known.as_ref().and_then(|t| t.stats.last_move_s);
            let stats = self.object_stats(&state.policy, &id, &record, last_move_s);
            for (which, window) in windows.into_iter().enumerate() {
                let ends = stats.created_s + window;
                if ends <= now && learned_until.is_none_or(|t| ends > t) {
                    closing.push((ends, which, stats.clone()));
                }
            }
            catalog.insert(
                id,
                Tracked {
                    seq: record.seq,
                    stats,
                },
            );
        }
        // Learn from the prior windows that ended since the last sync, oldest first (the
        // first sync after a start relearns from every object's persisted statistics).
        closing.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (ends, which, mut stats) in closing {
            // Only the window that ended now is open (a second later, against rounding).
            stats.prior_closed = which != 0;
            stats.long_prior_closed = which != 1;
            state
                .policy
                .close_prior_window(ends + 1.0, &mut stats, false);
        }
        state.priors_until_s = Some(now);
        state.catalog = catalog;
        Ok(())
    }

    /// An object's statistics as the policy must see them: the tracker's (or fresh ones for
    /// a version it has none of), with the tier, pin, class and creation time from the
    /// index record, and the mover's own last move when it knows a later one.
    fn object_stats(
        &self,
        policy: &Policy,
        id: &ObjectId,
        record: &stratum_metadata::ObjectRecord,
        last_move_s: Option<f64>,
    ) -> AccessStats {
        let created_s = record.last_modified_ms as f64 / 1000.0;
        let class = class_of(&id.0);
        let mut stats = match self.tracker.stats(&id.0, &id.1) {
            Ok(Some(s)) if s.size == record.size => s,
            _ => policy.new_stats(
                created_s,
                record.size,
                record.location.tier,
                Hint::Auto,
                class,
            ),
        };
        stats.tier = record.location.tier;
        stats.hint = Hint::from_user_metadata(&record.user_metadata);
        stats.class = class;
        // The tracker made its entry without the priors; the class's current ones apply.
        stats.prior_reads = policy.prior_for(class);
        stats.long_prior_reads = policy.long_prior_for(class);
        stats.created_s = stats.created_s.min(created_s.max(0.0));
        stats.last_move_s = last_move_s.or(stats.last_move_s);
        stats
    }

    /// The catalog as parallel lists of ids and statistics, for a pass or a capacity check
    /// (decisions name objects by their index here).
    fn snapshot(state: &State) -> (Vec<ObjectId>, Vec<AccessStats>) {
        state
            .catalog
            .iter()
            .map(|(id, t)| (id.clone(), t.stats.clone()))
            .unzip()
    }

    /// Promotions for objects read since the last tick, and the capacity check.
    pub async fn tick(&self) -> Result<RunReport, EngineError> {
        let touched = self.tracker.take_touched();
        let placed_elsewhere = std::mem::take(&mut *lock(&self.placed_elsewhere));
        let mut state = self.state.lock().await;
        let now = now_s();
        let mut decisions = Vec::new();
        let mut ids = Vec::new();
        // Versions written elsewhere than placed: moved now (a move skips any that changed).
        for p in placed_elsewhere {
            let class = class_of(&p.id.0);
            let NewPlacement {
                write_to: staged,
                size,
                hint,
                decision,
            } = p.placement;
            let stats = state.policy.new_stats(now, size, staged, hint, class);
            decisions.push(Decision {
                object: ids.len(),
                from: Some(staged),
                ..decision
            });
            state
                .catalog
                .insert(p.id.clone(), Tracked { seq: p.seq, stats });
            ids.push(p.id);
        }
        let placed: std::collections::HashSet<ObjectId> = ids.iter().cloned().collect();
        for id in touched {
            if placed.contains(&id) {
                continue; // placed this tick: moved first, promoted later if read
            }
            let Ok(info) = self.engine.head_object(&id.0, &id.1).await else {
                continue;
            };
            if info.tier == Tier::Hot {
                continue;
            }
            let Ok(Some(mut stats)) = self.tracker.stats(&id.0, &id.1) else {
                continue;
            };
            if stats.size != info.size {
                continue;
            }
            let class = class_of(&id.0);
            stats.tier = info.tier;
            stats.class = class;
            stats.hint = Hint::from_user_metadata(&info.user_metadata);
            if let Some(t) = state.catalog.get(&id) {
                stats.last_move_s = t.stats.last_move_s;
            }
            let bytes = stats.mean_read_bytes() as u64;
            let whole = bytes >= stats.size;
            let usage = self.usage();
            if let Some(d) = state
                .policy
                .on_access(now, ids.len(), &stats, bytes, whole, &usage)
            {
                decisions.push(d);
                state.catalog.insert(
                    id.clone(),
                    Tracked {
                        seq: info.seq,
                        stats,
                    },
                );
                ids.push(id);
            }
        }
        let mut report = RunReport::default();
        if !decisions.is_empty() {
            report = self.execute(&mut state, decisions, &ids, now).await;
        }
        // A capacity check that could move nothing (the tiers it would demote to are full or
        // missing) waits a minute before scanning again.
        let futile = lock(&self.futile_until).is_some_and(|t| Instant::now() < t);
        if !futile && self.over_high_watermark(&state.policy) {
            self.sync(&mut state).await?;
            let (ids, stats) = Self::snapshot(&state);
            let usage = self.usage();
            let decisions = state.policy.enforce(now, stats.iter().enumerate(), &usage);
            let r = self.execute(&mut state, decisions, &ids, now).await;
            if r.moved == 0 {
                *lock(&self.futile_until) = Some(Instant::now() + FUTILE_CHECK_BACKOFF);
            }
            report.decisions += r.decisions;
            report.moved += r.moved;
            report.bytes_moved += r.bytes_moved;
            report.failed += r.failed;
            report.skipped += r.skipped;
        }
        report.objects = state.catalog.len() as u64;
        *lock(&self.placer) = state.policy.clone();
        Ok(report)
    }

    /// One policy pass now (whether due or not) and the capacity check, waiting for the
    /// moves: what `stratum tier run` calls.
    pub async fn run_now(&self) -> Result<RunReport, EngineError> {
        let mut state = self.state.lock().await;
        let now = now_s();
        self.sync(&mut state).await?;
        let (ids, stats) = Self::snapshot(&state);
        let usage = self.usage();
        let mut decisions = state.policy.pass(now, stats.iter().enumerate(), &usage);
        self.counters.passes.fetch_add(1, Ordering::Relaxed);
        // The pass fills to the low watermarks; if a tier is over its high one anyway
        // (pins, or a burst of writes), the capacity check demotes on top.
        let mut after = stats.clone();
        for d in &decisions {
            after[d.object].tier = d.to;
        }
        let mut projected = usage;
        for d in &decisions {
            let size = stats[d.object].size;
            projected.used[tier_index(d.from.unwrap_or(Tier::Hot))] =
                projected.used[tier_index(d.from.unwrap_or(Tier::Hot))].saturating_sub(size);
            projected.used[tier_index(d.to)] += size;
        }
        let extra = state
            .policy
            .enforce(now, after.iter().enumerate(), &projected);
        for mut d in extra {
            d.from = Some(stats[d.object].tier);
            if d.from != Some(d.to) {
                decisions.retain(|x| x.object != d.object);
                decisions.push(d);
            }
        }
        let mut report = self.execute(&mut state, decisions, &ids, now).await;
        report.objects = state.catalog.len() as u64;
        *lock(&self.placer) = state.policy.clone();
        drop(state);
        if let Err(e) = self.log.flush() {
            tracing::warn!(error = %e, "flushing the decision log failed");
        }
        Ok(report)
    }

    /// Carries out decisions about `ids[d.object]`: local moves a few at a time, cold
    /// demotions packed together; logs every decision with its outcome.
    async fn execute(
        &self,
        state: &mut State,
        decisions: Vec<Decision<usize>>,
        ids: &[ObjectId],
        now: f64,
    ) -> RunReport {
        let mut report = RunReport {
            decisions: decisions.len() as u64,
            ..RunReport::default()
        };
        self.counters
            .pending
            .store(decisions.len() as u64, Ordering::Relaxed);
        let started = Instant::now();
        let mut moved_bytes = 0u64;
        let mut local = Vec::new();
        let mut cold = Vec::new();
        for d in decisions {
            let id = &ids[d.object];
            let Some(t) = state.catalog.get(id) else {
                continue;
            };
            let (seq, size) = (t.seq, t.stats.size);
            if !self.engine.has_tier(d.to) {
                // Not logged: the same decision would be logged at every check while the
                // tier is full. `explain` shows it as the object's next action.
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                report.skipped += 1;
                continue;
            }
            if d.to == Tier::Cold {
                cold.push((d, seq, size));
            } else {
                local.push((d, seq, size));
            }
        }
        // Local moves, `move_concurrency` at a time.
        let engine = &self.engine;
        let results: Vec<_> = futures::stream::iter(local)
            .map(|(d, seq, size)| {
                let id = ids[d.object].clone();
                async move {
                    let r = engine.move_object(&id.0, &id.1, seq, d.to).await;
                    (d, seq, size, r)
                }
            })
            .buffer_unordered(self.config.move_concurrency.max(1))
            .collect()
            .await;
        for (d, seq, size, r) in results {
            let id = &ids[d.object];
            match r {
                Ok(m) if m.moved => {
                    report.moved += 1;
                    report.bytes_moved += size;
                    moved_bytes += m.bytes_written;
                    self.moved(state, &d, id, now);
                    self.finish(
                        &d,
                        id,
                        size,
                        seq,
                        Outcome::Done {
                            bytes: m.bytes_written,
                        },
                    );
                }
                Ok(_) => {
                    report.skipped += 1;
                    self.finish(
                        &d,
                        id,
                        size,
                        seq,
                        Outcome::Skipped {
                            why: "the object changed since the decision".into(),
                        },
                    );
                }
                Err(e) => {
                    report.failed += 1;
                    self.finish(
                        &d,
                        id,
                        size,
                        seq,
                        Outcome::Failed {
                            error: e.to_string(),
                        },
                    );
                }
            }
            self.pace(moved_bytes, started).await;
        }
        // Cold demotions, packed into volumes.
        let mut queue: Vec<ColdCandidate> = cold
            .iter()
            .map(|(d, seq, _)| ColdCandidate {
                bucket: ids[d.object].0.clone(),
                key: ids[d.object].1.clone(),
                seq: *seq,
            })
            .collect();
        let by_id: HashMap<ObjectId, (Decision<usize>, u64, u64)> = cold
            .into_iter()
            .map(|(d, seq, size)| (ids[d.object].clone(), (d, seq, size)))
            .collect();
        while !queue.is_empty() {
            match self.engine.pack_to_cold(std::mem::take(&mut queue)).await {
                Ok(pack) => {
                    self.counters
                        .recompress_logical_bytes
                        .fetch_add(pack.logical_bytes, Ordering::Relaxed);
                    self.counters
                        .recompress_micros
                        .fetch_add((pack.recompress_secs * 1e6) as u64, Ordering::Relaxed);
                    self.counters
                        .cold_uploaded_bytes
                        .fetch_add(pack.bytes_uploaded, Ordering::Relaxed);
                    moved_bytes += pack.bytes_uploaded;
                    let share = pack.bytes_uploaded / (pack.moved.len() as u64).max(1);
                    for (b, k, size) in &pack.moved {
                        let id = (b.clone(), k.clone());
                        if let Some((d, seq, _)) = by_id.get(&id) {
                            report.moved += 1;
                            report.bytes_moved += size;
                            self.moved(state, d, &id, now);
                            self.finish(d, &id, *size, *seq, Outcome::Done { bytes: share });
                        }
                    }
                    for (b, k, why) in pack.skipped {
                        let id = (b, k);
                        if let Some((d, seq, size)) = by_id.get(&id) {
                            report.skipped += 1;
                            self.finish(d, &id, *size, *seq, Outcome::Skipped { why });
                        }
                    }
                    queue = pack.deferred;
                }
                Err(e) => {
                    for c in queue.drain(..) {
                        let id = (c.bucket, c.key);
                        if let Some((d, seq, size)) = by_id.get(&id) {
                            report.failed += 1;
                            self.finish(
                                d,
                                &id,
                                *size,
                                *seq,
                                Outcome::Failed {
                                    error: e.to_string(),
                                },
                            );
                        }
                    }
                    tracing::warn!(error = %e, "packing objects into the cold tier failed");
                }
            }
            self.pace(moved_bytes, started).await;
        }
        self.counters.pending.store(0, Ordering::Relaxed);
        report
    }

    /// Sleeps as long as the moves so far are ahead of `move_bytes_per_sec`.
    async fn pace(&self, bytes: u64, started: Instant) {
        let rate = self.config.move_bytes_per_sec.max(1) as f64;
        let due = Duration::from_secs_f64(bytes as f64 / rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Bookkeeping after a move: catalog, tracker, counters.
    fn moved(&self, state: &mut State, d: &Decision<usize>, id: &ObjectId, now: f64) {
        if let Some(t) = state.catalog.get_mut(id) {
            t.stats.record_move(now, d.to);
            self.tracker.set_placement(&id.0, &id.1, &t.stats);
        }
        let size = state.catalog.get(id).map_or(0, |t| t.stats.size);
        let from = d.from.unwrap_or(Tier::Hot);
        let mut moves = lock(&self.counters.moves);
        let entry = moves.entry((from, d.to, d.reason)).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += size;
    }

    /// Records a decision's outcome in the log.
    fn finish(&self, d: &Decision<usize>, id: &ObjectId, size: u64, seq: u64, outcome: Outcome) {
        match &outcome {
            Outcome::Failed { error } => {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bucket = %id.0, key = %id.1, to = d.to.as_str(), %error, "tier move failed");
            }
            Outcome::Skipped { .. } => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.log.record(DecisionEntry::from_decision(
            d,
            id.0.clone(),
            id.1.clone(),
            ms(now_s()),
            size,
            seq,
            outcome,
        ));
    }

    /// The mover's counters.
    pub fn stats(&self) -> MoverStats {
        let moves = lock(&self.counters.moves)
            .iter()
            .map(|((from, to, reason), (n, b))| MoveCount {
                from: *from,
                to: *to,
                reason: reason.as_str().to_owned(),
                moves: *n,
                bytes: *b,
            })
            .collect();
        MoverStats {
            moves,
            failures: self.counters.failures.load(Ordering::Relaxed),
            skipped: self.counters.skipped.load(Ordering::Relaxed),
            passes: self.counters.passes.load(Ordering::Relaxed),
            recompress_logical_bytes: self
                .counters
                .recompress_logical_bytes
                .load(Ordering::Relaxed),
            recompress_secs: self.counters.recompress_micros.load(Ordering::Relaxed) as f64 / 1e6,
            cold_uploaded_bytes: self.counters.cold_uploaded_bytes.load(Ordering::Relaxed),
            pending_moves: self.counters.pending.load(Ordering::Relaxed),
        }
    }

    /// Recent decisions passing `filter`, newest first.
    pub fn decisions(
        &self,
        filter: &DecisionFilter,
        limit: usize,
    ) -> Result<Vec<(u64, DecisionEntry)>, crate::log::LogError> {
        self.log.recent(filter, limit)
    }

    /// Where an object is, why, what the policy sees, and what comes next.
    pub async fn explain(
        &self,
        bucket: &BucketName,
        key: &ObjectKey,
    ) -> Result<Explanation, EngineError> {
        let meta = self.engine.metadata().clone();
        let record = meta
            .get_object(bucket, key)
            .map_err(EngineError::from)?
            .ok_or(EngineError::NoSuchKey)?;
        let now = now_s();
        let state = self.state.lock().await;
        let id = (bucket.clone(), key.clone());
        let last_move_s = state.catalog.get(&id).and_then(|t| t.stats.last_move_s);
        let stats = self.object_stats(&state.policy, &id, &record, last_move_s);
        let outlook = state.policy.outlook(now, &stats);
        let cfg = state.policy.config().clone();
        let usage = self.usage();
        let fill = |i: usize| {
            if usage.capacity[i] == 0 {
                0.0
            } else {
                usage.used[i] as f64 / usage.capacity[i] as f64
            }
        };
        let warming_up = state.policy.in_warmup(now);
        let next_pass = state.policy.last_pass_s().unwrap_or(self.started_s) + cfg.pass_interval_s;
        drop(state);
        let mut volumes: Vec<String> = record
            .location
            .extents
            .iter()
            .map(|e| {
                if record.location.tier == Tier::Cold {
                    format!("cold:{:016x}", e.stripe.volume.0)
                } else {
                    format!("{}:{}", record.location.tier.as_str(), e.stripe.volume)
                }
            })
            .collect();
        volumes.dedup();
        let stored: u64 = record
            .location
            .extents
            .iter()
            .map(|e| u64::from(e.stripe.payload_bytes))
            .sum();
        let decisions = self
            .log
            .for_object(bucket, key, EXPLAIN_DECISIONS)
            .map_err(|_| EngineError::Unavailable("the decision log could not be read"))?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let resident = now - stats.last_move_s.unwrap_or(f64::NEG_INFINITY) < cfg.min_residency_s;
        let (action, why) = if outlook.target == record.location.tier {
            (
                "stay".to_owned(),
                "its scores place it in the tier it is in".to_owned(),
            )
        } else if !self.engine.has_tier(outlook.target) {
            (
                "stay".to_owned(),
                format!(
                    "its scores point to {}, which is not configured",
                    outlook.target.as_str()
                ),
            )
        } else if resident && stats.hint.pinned().is_none() {
            (
                "stay".to_owned(),
                format!(
                    "its scores point to {}, but it moved less than min_residency_s ({} s) ago",
                    outlook.target.as_str(),
                    cfg.min_residency_s
                ),
            )
        } else {
            (
                format!("move to {}", outlook.target.as_str()),
                if stats.hint.pinned().is_some() {
                    "pinned by x-amz-meta-stratum-tier (if the tier has room)".to_owned()
                } else {
                    "its score crosses the tier's cutoff (if the pass finds room)".to_owned()
                },
            )
        };
        let access = AccessSummary {
            gets: stats.gets,
            heads: stats.heads,
            bytes_read: stats.bytes_read,
            last_access_ms: stats.last_access_s.map(ms),
            last_move_ms: stats.last_move_s.map(ms),
            created_ms: record.last_modified_ms,
        };
        Ok(Explanation {
            bucket: bucket.as_str().to_owned(),
            key: key.as_str().to_owned(),
            tier: record.location.tier,
            seq: record.seq,
            size: record.size,
            location: LocationSummary {
                frames: record.location.extents.len(),
                volumes,
                stored_bytes: stored,
                compression_ratio: stored as f64 / record.size.max(1) as f64,
            },
            access,
            hint: hint_name(stats.hint).to_owned(),
            outlook,
            thresholds: Thresholds {
                hot_watermarks: [cfg.hot_high_watermark, cfg.hot_low_watermark],
                warm_watermarks: [cfg.warm_high_watermark, cfg.warm_low_watermark],
                fill: [fill(0), fill(1)],
                hysteresis: cfg.hysteresis,
                min_residency_s: cfg.min_residency_s,
                spike_min_accesses: cfg.spike_min_accesses,
                warming_up,
            },
            decisions,
            next: NextAction {
                action,
                at_ms: ms(next_pass),
                why,
            },
        })
    }

    /// Objects and bytes per tier, capacity, pending moves, compression and cost.
    pub async fn summary(&self) -> Result<Summary, EngineError> {
        let usage = self.engine.usage();
        let model: CostModel = self.state.lock().await.policy.model().clone();
        let stored = self.engine.stored_bytes_by_tier().await?;
        let month = model.month_s;
        let mut tiers = Vec::new();
        let mut cost = 0.0;
        for tier in [Tier::Hot, Tier::Warm, Tier::Cold] {
            let i = tier_slot(tier);
            let capacity = match tier {
                Tier::Hot => Some(self.config.hot_capacity_bytes),
                Tier::Warm if self.engine.has_tier(Tier::Warm) => {
                    Some(self.config.warm_capacity_bytes)
                }
                _ => None,
            };
            // Priced on the bytes the cost model counts (logical bytes, as the scorer does).
            let monthly =
                model.storage_usd_per_byte_s(tier) * usage.tier_logical_bytes[i] as f64 * month;
            cost += monthly;
            tiers.push(TierSummary {
                tier,
                configured: self.engine.has_tier(tier),
                objects: usage.tier_objects[i],
                logical_bytes: usage.tier_logical_bytes[i],
                stored_bytes: stored[i],
                compression_ratio: stored[i] as f64 / usage.tier_logical_bytes[i].max(1) as f64,
                capacity_bytes: capacity,
                fill: capacity.map(|c| usage.tier_logical_bytes[i] as f64 / c.max(1) as f64),
                monthly_cost_usd: monthly,
            });
        }
        let all_hot = model.storage_usd_per_byte_s(Tier::Hot) * usage.logical_bytes as f64 * month;
        let mover = self.stats();
        Ok(Summary {
            tiers,
            pending_moves: mover.pending_moves,
            monthly_cost_usd: cost,
            all_hot_monthly_cost_usd: all_hot,
            monthly_saving_usd: all_hot - cost,
            mover,
        })
    }
}
