//! Replay: runs the policy online, in virtual time, over an access trace and writes its
//! decision log (format 2 of `tiering-trace-format.md`).
//!
//! The replay reads one row at a time and never looks at a later row. Rows with the same
//! `ts` form a group: a PUT's placement is decided at the PUT (a `new` row when it is not
//! the default tier), GETs are served from the tier the object is in, and every move the
//! group causes is logged with the group's `ts`. The scorer applies a move logged at `t`
//! after every trace event with `ts <= t`, so moves are applied to the replay's own
//! state at the end of the group too: the replay's view of each object's tier always
//! matches the scorer's, and `from_tier` never mismatches. After every group the policy's
//! capacity check runs, so a tier is never left over capacity (overshoot lasts 0 s).
//! Periodic passes run at multiples of `pass_interval_s`, between groups.
//!
//! It does no I/O of its own beyond the reader and writer it is given.

use std::collections::HashMap;
use std::io::{Read, Write};

use stratum_core::Tier;

use crate::cost::tier_index;
use crate::policy::{Decision, Policy, TierUsage};
use crate::stats::{AccessStats, Hint};
use crate::trace::{Op, TraceError, TraceEvent, TraceReader};

/// The exact header of a decision log.
pub const DECISION_HEADER: [&str; 6] = ["ts", "bucket", "key", "from_tier", "to_tier", "reason"];

/// A replay that could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace does not follow the format.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// Writing the decision log failed.
    #[error("decision log: {0}")]
    Write(#[from] csv::Error),
    /// Flushing the decision log failed.
    #[error("decision log: {0}")]
    Io(#[from] std::io::Error),
}

/// What a replay did, for the command's summary line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    /// Trace rows read.
    pub events: u64,
    /// Rows referring to an object that does not exist (ignored, as the scorer does).
    pub skipped_events: u64,
    /// Placement rows written (`from_tier` = `new`).
    pub placements: u64,
    /// Move rows written.
    pub moves: u64,
    /// Moves to a faster tier.
    pub promotions: u64,
    /// Moves to a slower tier.
    pub demotions: u64,
    /// Periodic passes run.
    pub passes: u64,
    /// Highest bytes in hot and warm seen at the end of a group.
    pub max_used: [u64; 2],
    /// The trace's last `ts`.
    pub end_ts: f64,
}

/// The replay's state: objects by dense id, their names, and the tiers' usage.
struct State {
    classes: HashMap<String, u32>,
    ids: HashMap<(String, String), u32>,
    names: Vec<(String, String)>,
    objects: Vec<Option<AccessStats>>,
    usage: TierUsage,
}

impl State {
    fn id(&mut self, bucket: &str, key: &str) -> u32 {
        if let Some(id) = self.ids.get(&(bucket.to_string(), key.to_string())) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push((bucket.to_string(), key.to_string()));
        self.ids.insert((bucket.to_string(), key.to_string()), id);
        self.objects.push(None);
        id
    }

    /// The prior class of a bucket.
    fn class(&mut self, bucket: &str) -> u32 {
        let n = self.classes.len() as u32;
        *self.classes.entry(bucket.to_string()).or_insert(n)
    }

    fn live(&self) -> impl Iterator<Item = (u32, &AccessStats)> {
        self.objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().map(|s| (i as u32, s)))
    }

    fn remove(&mut self, id: u32) {
        if let Some(old) = self.objects[id as usize].take() {
            self.usage.used[tier_index(old.tier)] -= old.size;
        }
    }
}

/// Writes decision rows.
struct Log<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> Log<W> {
    fn row(
        &mut self,
        ts: f64,
        name: &(String, String),
        from: Option<Tier>,
        to: Tier,
        reason: &str,
    ) -> Result<(), ReplayError> {
        let ts = format!("{ts:.6}");
        let from = from.map_or("new", |t| t.as_str());
        self.out
            .write_record([ts.as_str(), &name.0, &name.1, from, to.as_str(), reason])?;
        Ok(())
    }
}

/// The replay driver.
struct Replay<W: Write> {
    policy: Policy,
    state: State,
    log: Log<W>,
    summary: ReplaySummary,
    /// Moves decided during the current group, applied at its end.
    pending: Vec<(Decision<u32>, bool)>,
    next_pass_s: f64,
}

impl<W: Write> Replay<W> {
    /// Applies a move decided at `ts` if it still holds (the object exists and is where
    /// the decision found it), and logs it.
    fn apply(&mut self, ts: f64, d: &Decision<u32>, piggyback: bool) -> Result<(), ReplayError> {
        let Some(from) = d.from else { return Ok(()) };
        let Some(s) = self.state.objects[d.object as usize].as_mut() else {
            return Ok(());
        };
        if s.tier != from || from == d.to {
            return Ok(());
        }
        s.record_move(ts, d.to);
        let size = s.size;
        let usage = &mut self.state.usage;
        usage.used[tier_index(from)] -= size;
        usage.used[tier_index(d.to)] += size;
        if from == Tier::Cold && !piggyback {
            self.policy.record_cold_download(size);
        }
        self.summary.moves += 1;
        if tier_index(d.to) < tier_index(from) {
            self.summary.promotions += 1;
        } else {
            self.summary.demotions += 1;
        }
        let name = &self.state.names[d.object as usize];
        self.log.row(ts, name, Some(from), d.to, &d.describe())
    }

    /// Ends the group at `ts`: applies its moves, then the capacity check.
    fn end_group(&mut self, ts: f64) -> Result<(), ReplayError> {
        let pending = std::mem::take(&mut self.pending);
        for (d, piggyback) in &pending {
            self.apply(ts, d, *piggyback)?;
        }
        self.enforce(ts)?;
        let u = &self.state.usage;
        self.summary.max_used[0] = self.summary.max_used[0].max(u.used[0]);
        self.summary.max_used[1] = self.summary.max_used[1].max(u.used[1]);
        Ok(())
    }

    fn enforce(&mut self, ts: f64) -> Result<(), ReplayError> {
        let usage = self.state.usage;
        let moves = self.policy.enforce(ts, self.state.live(), &usage);
        for d in &moves {
            self.apply(ts, d, false)?;
        }
        Ok(())
    }

    /// Runs every periodic pass due strictly before `ts`.
    fn passes_before(&mut self, ts: f64) -> Result<(), ReplayError> {
        while self.next_pass_s < ts {
            let t = self.next_pass_s;
            for s in self.state.objects.iter_mut().flatten() {
                self.policy.close_prior_window(t, s, false);
            }
            let usage = self.state.usage;
            let moves = self.policy.pass(t, self.state.live(), &usage);
            self.summary.passes += 1;
            for d in &moves {
                self.apply(t, d, false)?;
            }
            self.enforce(t)?;
            self.next_pass_s += self.policy.config().pass_interval_s;
        }
        Ok(())
    }

    /// Removes an object's current version (DELETE or overwrite), learning from its
    /// prior window if still open.
    fn remove(&mut self, ts: f64, id: u32) {
        if let Some(s) = self.state.objects[id as usize].as_mut() {
            self.policy.close_prior_window(ts, s, true);
        }
        self.state.remove(id);
    }

    fn event(&mut self, ev: &TraceEvent) -> Result<(), ReplayError> {
        let id = self.state.id(&ev.bucket, &ev.key);
        let ts = ev.ts;
        match ev.op {
            Op::Put => {
                self.remove(ts, id);
                let class = self.state.class(&ev.bucket);
                let mut stats = self
                    .policy
                    .new_stats(ts, ev.size, Tier::Hot, Hint::Auto, class);
                let usage = self.state.usage;
                let d = self.policy.place(ts, id, &stats, &usage);
                stats.tier = d.to;
                if d.to != self.policy.model().default_put_tier {
                    let name = &self.state.names[id as usize];
                    self.log.row(ts, name, None, d.to, &d.describe())?;
                    self.summary.placements += 1;
                }
                self.state.usage.used[tier_index(d.to)] += ev.size;
                self.state.objects[id as usize] = Some(stats);
            }
            Op::Get => {
                let cfg = self.policy.config().clone();
                let usage = self.state.usage;
                let Some(s) = self.state.objects[id as usize].as_mut() else {
                    self.summary.skipped_events += 1;
                    return Ok(());
                };
                let bytes = ev.bytes_read();
                let whole = ev.range_len.is_none();
                s.record_get(ts, bytes, &cfg);
                let served = s.tier;
                if let Some(d) = self.policy.on_access(ts, id, s, bytes, whole, &usage) {
                    self.pending.push((d, whole && served == Tier::Cold));
                }
            }
            Op::Head => {
                let cfg = self.policy.config().clone();
                match self.state.objects[id as usize].as_mut() {
                    Some(s) => s.record_head(ts, &cfg),
                    None => self.summary.skipped_events += 1,
                }
            }
            Op::Delete => {
                if self.state.objects[id as usize].is_none() {
                    self.summary.skipped_events += 1;
                }
                self.remove(ts, id);
            }
        }
        Ok(())
    }
}

/// Replays `trace` through `policy` with the given hot and warm capacities (bytes) and
/// writes the decision log to `out`.
pub fn replay<R: Read, W: Write>(
    trace: R,
    policy: Policy,
    hot_capacity: u64,
    warm_capacity: u64,
    out: W,
) -> Result<ReplaySummary, ReplayError> {
    let reader = TraceReader::new(trace)?;
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out);
    writer.write_record(DECISION_HEADER)?;
    let next_pass_s = policy.config().pass_interval_s;
    let mut r = Replay {
        policy,
        state: State {
            classes: HashMap::new(),
            ids: HashMap::new(),
            names: Vec::new(),
            objects: Vec::new(),
            usage: TierUsage {
                used: [0; 3],
                capacity: [hot_capacity, warm_capacity],
            },
        },
        log: Log { out: writer },
        summary: ReplaySummary::default(),
        pending: Vec::new(),
        next_pass_s,
    };
    let mut group: Option<f64> = None;
    for ev in reader {
        let ev = ev?;
        if let Some(g) = group {
            if ev.ts > g {
                r.end_group(g)?;
                group = None;
            }
        }
        if group.is_none() {
            r.passes_before(ev.ts)?;
        }
        r.event(&ev)?;
        r.summary.events += 1;
        r.summary.end_ts = ev.ts;
        group = Some(ev.ts);
    }
    if let Some(g) = group {
        r.end_group(g)?;
    }
    r.log.out.flush()?;
    Ok(r.summary)
}
