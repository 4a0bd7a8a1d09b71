//! Behaviour of the policy on hand-built objects: spikes promote, pinned hints win,
//! watermarks hold, warm-up makes no score moves, hysteresis prevents ping-pong, priors are
//! learned per class over both windows.

use stratum_core::Tier;
use stratum_tiering::policy::{Reason, TierUsage};
use stratum_tiering::{AccessStats, CostModel, Hint, Policy, PolicyConfig};

const MB: u64 = 1_000_000;

fn policy() -> Policy {
    let model = CostModel::from_json(include_str!("data/cost_model.json"), None).unwrap();
    Policy::new(PolicyConfig::default(), model)
}

fn object(tier: Tier, size: u64, hint: Hint) -> AccessStats {
    AccessStats::new(0.0, size, tier, hint, 0, 0.0)
}

fn usage_of(objects: &[AccessStats], capacity: [u64; 2]) -> TierUsage {
    let mut used = [0; 3];
    for o in objects {
        used[o.tier as usize] += o.size;
    }
    TierUsage { used, capacity }
}

fn gets(s: &mut AccessStats, cfg: &PolicyConfig, times: impl IntoIterator<Item = f64>) {
    for t in times {
        s.record_get(t, s.size, cfg);
    }
}

#[test]
fn a_spike_promotes_on_access() {
    let mut p = policy();
    let cfg = p.config().clone();
    // Large enough that two reads alone do not pay for a promotion.
    let mut s = object(Tier::Warm, 60 * MB, Hint::Auto);
    let usage = usage_of(std::slice::from_ref(&s), [3000 * MB, 4000 * MB]);
    // The first access of a quiet object does not promote it.
    s.record_get(50_000.0, s.size, &cfg);
    assert_eq!(p.on_access(50_000.0, 0, &s, s.size, true, &usage), None);
    // A burst of GETs a few seconds apart does, and says it was a spike.
    let mut decision = None;
    for i in 1..=12 {
        let t = 50_000.0 + 10.0 * i as f64;
        s.record_get(t, s.size, &cfg);
        decision = decision.or(p.on_access(t, 0, &s, s.size, true, &usage));
    }
    let d = decision.expect("the spike promotes");
    assert_eq!(
        (d.from, d.to, d.reason),
        (Some(Tier::Warm), Tier::Hot, Reason::Spike)
    );
    assert!(d.inputs.spike_per_day > d.inputs.rate_per_day);
    assert!(d.inputs.score > d.inputs.threshold);
}

#[test]
fn pinned_hints_win_over_scores() {
    let mut p = policy();
    let cfg = p.config().clone();
    // Pinned cold: busy, but never promoted on access, and sent to cold by the pass.
    let mut busy = object(Tier::Hot, MB, Hint::Pinned(Tier::Cold));
    gets(&mut busy, &cfg, (0..100).map(|i| 10_000.0 + i as f64));
    // Pinned hot: never read, yet the pass brings it to hot.
    let idle = object(Tier::Warm, MB, Hint::Pinned(Tier::Hot));
    let objects = [busy, idle];
    let usage = usage_of(&objects, [100 * MB, 400 * MB]);
    assert_eq!(
        p.on_access(10_100.0, 0, &objects[0], MB, true, &usage),
        None
    );
    let moves = p.pass(20_000.0, objects.iter().enumerate(), &usage);
    let busy_move = moves.iter().find(|d| d.object == 0).expect("busy moves");
    assert_eq!(
        (busy_move.to, busy_move.reason),
        (Tier::Cold, Reason::PinnedHint)
    );
    let idle_move = moves.iter().find(|d| d.object == 1).expect("idle moves");
    assert_eq!(
        (idle_move.to, idle_move.reason),
        (Tier::Hot, Reason::PinnedHint)
    );
    // A new version with a pin is placed by it.
    let new = object(Tier::Hot, MB, Hint::Pinned(Tier::Warm));
    let d = p.place(20_000.0, 2, &new, &usage);
    assert_eq!(
        (d.from, d.to, d.reason),
        (None, Tier::Warm, Reason::PinnedHint)
    );
}

#[test]
fn the_capacity_check_demotes_from_high_to_low_watermark() {
    let mut p = policy();
    let cfg = p.config().clone();
    // Ten hot objects of 9 MB in a 100 MB hot tier: 90% > 85%.
    let mut objects: Vec<AccessStats> = (0..10)
        .map(|_| object(Tier::Hot, 9 * MB, Hint::Auto))
        .collect();
    for (i, o) in objects.iter_mut().enumerate() {
        // Object i is read i times: the least read go first.
        gets(o, &cfg, (0..i).map(|k| 1000.0 + k as f64));
    }
    let usage = usage_of(&objects, [100 * MB, 1000 * MB]);
    let moves = p.enforce(2000.0, objects.iter().enumerate(), &usage);
    let freed: u64 = moves.iter().map(|d| objects[d.object].size).sum();
    assert!(
        usage.used[0] - freed <= 75 * MB,
        "still above the low watermark"
    );
    assert!(
        usage.used[0] - freed + 9 * MB > 75 * MB,
        "demoted more than needed"
    );
    assert!(moves
        .iter()
        .all(|d| d.reason == Reason::CapacityPressure && d.to == Tier::Warm));
    let mut victims: Vec<usize> = moves.iter().map(|d| d.object).collect();
    victims.sort();
    assert_eq!(victims, vec![0, 1]);
    // At 81% (under the high watermark) nothing moves.
    let usage = TierUsage {
        used: [81 * MB, 0, 0],
        capacity: [100 * MB, 1000 * MB],
    };
    assert!(p
        .enforce(2000.0, objects.iter().enumerate(), &usage)
        .is_empty());
}

#[test]
fn warm_up_makes_no_score_moves() {
    let mut p = policy();
    // An object that has never been read sits in hot: the pass would demote it, but not
    // during the first hour.
    let objects = [object(Tier::Hot, 50 * MB, Hint::Auto)];
    let usage = usage_of(&objects, [100 * MB, 400 * MB]);
    let it = || objects.iter().enumerate();
    assert!(p.pass(0.0, it(), &usage).is_empty());
    assert!(p.pass(1800.0, it(), &usage).is_empty());
    let moves = p.pass(4000.0, it(), &usage);
    assert_eq!(moves.len(), 1);
    assert_eq!(
        (moves[0].to, moves[0].reason),
        (Tier::Warm, Reason::PassDemote)
    );
}

#[test]
fn hysteresis_keeps_a_resident_against_a_slightly_better_newcomer() {
    let mut p = policy();
    let cfg = p.config().clone();
    // Hot holds one of two 1 MB objects (fill target 75% of 2 MB).
    let capacity = [2 * MB, 400 * MB];
    let mut resident = object(Tier::Hot, MB, Hint::Auto);
    let mut newcomer = object(Tier::Warm, MB, Hint::Auto);
    gets(
        &mut resident,
        &cfg,
        (0..10).map(|k| 5000.0 + 60.0 * k as f64),
    );
    gets(
        &mut newcomer,
        &cfg,
        (0..11).map(|k| 5000.0 + 60.0 * k as f64),
    );
    let objects = [resident.clone(), newcomer.clone()];
    let usage = usage_of(&objects, capacity);
    let it = |o: &[AccessStats; 2]| o.clone().into_iter().enumerate().collect::<Vec<_>>();
    p.pass(0.0, std::iter::empty::<(usize, &AccessStats)>(), &usage);
    let pairs = it(&objects);
    let moves = p.pass(10_000.0, pairs.iter().map(|(i, s)| (*i, s)), &usage);
    assert!(
        moves.is_empty(),
        "10% better is within the hysteresis: {moves:?}"
    );
    // Three times the reads beats the resident: they swap, and do not swap back on the
    // next pass.
    gets(
        &mut newcomer,
        &cfg,
        (0..22).map(|k| 6000.0 + 60.0 * k as f64),
    );
    let objects = [resident, newcomer];
    let pairs = it(&objects);
    let moves = p.pass(10_000.0, pairs.iter().map(|(i, s)| (*i, s)), &usage);
    let mut got: Vec<(usize, Tier)> = moves.iter().map(|d| (d.object, d.to)).collect();
    got.sort();
    assert_eq!(got, vec![(0, Tier::Warm), (1, Tier::Hot)]);
    let mut after = objects.clone();
    after[0].record_move(10_000.0, Tier::Warm);
    after[1].record_move(10_000.0, Tier::Hot);
    let usage = usage_of(&after, capacity);
    let pairs = it(&after);
    let moves = p.pass(10_900.0, pairs.iter().map(|(i, s)| (*i, s)), &usage);
    assert!(moves.is_empty(), "ping-pong: {moves:?}");
}

#[test]
fn config_rejects_bad_watermarks_and_unknown_keys() {
    let mut c = PolicyConfig::default();
    assert!(c.validate().is_ok());
    c.hot_low_watermark = 0.9;
    assert!(c.validate().is_err());
    assert!(serde_json::from_str::<PolicyConfig>(r#"{"hot_hi": 0.9}"#).is_err());
    let c: PolicyConfig = serde_json::from_str(r#"{"half_life_s": 3600}"#).unwrap();
    assert_eq!(c.half_life_s, 3600.0);
    assert_eq!(
        c.hot_high_watermark,
        PolicyConfig::default().hot_high_watermark
    );
}

#[test]
fn a_pass_spends_the_free_egress_budget_and_no_more() {
    const GB: u64 = 1_000_000_000;
    let run = |allowance: bool, allowance_download_price: f64| {
        let model = CostModel::from_json(include_str!("data/cost_model.json"), None).unwrap();
        let config = PolicyConfig {
            egress_allowance: allowance,
            allowance_download_price,
            ..PolicyConfig::default()
        };
        let mut p = Policy::new(config, model);
        // Five unread 1 GB objects in cold; warm (cheaper per byte) has room for all.
        let objects: Vec<AccessStats> =
            (0..5).map(|_| object(Tier::Cold, GB, Hint::Auto)).collect();
        let usage = usage_of(&objects, [10 * GB, 100 * GB]);
        p.observe(0.0, &usage);
        // 5 GB in cold for 5 days: B2's allowance (3x the GB-months) is 2.5 GB so far.
        let now = 5.0 * 86_400.0;
        p.observe(now, &usage);
        let budget = p.egress_budget();
        let moves = p.pass(now, objects.iter().enumerate(), &usage);
        for d in &moves {
            assert_eq!((d.from, d.to), (Some(Tier::Cold), Tier::Warm));
            p.record_cold_download(GB);
        }
        (budget, moves.len(), p.egress_budget())
    };
    // With the allowance's downloads free: two fit in the budget; the third would pay
    // egress that warm's lower storage price does not pay back within the horizon.
    let (budget, promoted, left) = run(true, 0.0);
    assert!((budget / GB as f64 - 2.5).abs() < 1e-6, "budget {budget}");
    assert_eq!(promoted, 2);
    assert!((left / GB as f64 - 0.5).abs() < 1e-6, "left {left}");
    // Without the allowance every download pays egress: nothing moves.
    assert_eq!(run(false, 0.0), (0.0, 0, 0.0));
    // At the default nominal price (3% of egress) for the bytes the allowance covers, an
    // unread object's storage saving in warm (0.0045 $/GB-month) no longer pays for its
    // download within the day: the allowance is kept for objects that are read.
    let defaults = PolicyConfig::default().allowance_download_price;
    assert!(defaults > 0.0);
    let (_, promoted, left) = run(true, defaults);
    assert_eq!(promoted, 0);
    assert!((left / GB as f64 - 2.5).abs() < 1e-6, "left {left}");
}

#[test]
fn both_prior_windows_are_learned_per_class_and_shape_the_rate() {
    let mut p = policy();
    let cfg = p.config().clone();
    let (short, long) = (cfg.prior_window_s, cfg.long_prior_window_s);
    assert!(long > short);
    // Class 1: read once in its first window and twice in the second; class 2 never.
    let mut read = p.new_stats(0.0, MB, Tier::Hot, Hint::Auto, 1);
    gets(&mut read, &cfg, [60.0, short + 10.0, long - 10.0]);
    assert_eq!((read.window_gets, read.long_window_gets), (1, 2));
    let mut unread = p.new_stats(0.0, MB, Tier::Hot, Hint::Auto, 2);
    // The first window closes alone; the second only at its own end.
    assert!(p.close_prior_window(short + 1.0, &mut read, false));
    assert!(read.prior_closed && !read.long_prior_closed);
    assert!(!p.close_prior_window(short + 2.0, &mut read, false));
    assert!(p.close_prior_window(long + 1.0, &mut read, false));
    assert!(read.long_prior_closed);
    // A version going away closes both windows at once.
    assert!(p.close_prior_window(10.0, &mut unread, true));
    assert!(unread.prior_closed && unread.long_prior_closed);
    let a = cfg.prior_learning_rate;
    let (p0, l0) = (
        cfg.new_object_prior_accesses,
        cfg.new_object_long_prior_accesses,
    );
    let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
    assert!(close(p.prior_for(1), p0 + a * (1.0 - p0)));
    assert!(close(p.long_prior_for(1), l0 + a * (2.0 - l0)));
    assert!(close(p.prior_for(2), p0 - a * p0));
    assert!(close(p.long_prior_for(2), l0 - a * l0));
    assert_eq!(p.prior_for(3), p0, "an unseen class keeps the defaults");

    // A new object of class 1 starts with both learned priors; each adds its expected
    // remaining GETs, spread over its window, to the rate while the window lasts.
    let fresh = p.new_stats(0.0, MB, Tier::Hot, Hint::Auto, 1);
    assert!(close(fresh.long_prior_reads, p.long_prior_for(1)));
    let early = fresh.rate(short / 2.0, &cfg);
    let later = fresh.rate(short * 2.0, &cfg);
    let gone = fresh.rate(long + 1.0, &cfg);
    let expect_later = fresh.long_prior_reads / (long - short);
    assert!(close(later, expect_later), "{later} vs {expect_later}");
    assert!(close(early, fresh.prior_reads / short + expect_later));
    assert_eq!(gone, 0.0);
}
