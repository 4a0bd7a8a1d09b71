//! Per-object access statistics, kept in memory and updated on every GET, range GET and
//! HEAD, and the pinned-tier hint read from object metadata.
//!
//! Frequencies are exponentially decayed counts: an access adds its weight, and the count
//! halves every half-life. A count `f` with half-life `H` estimates a steady access rate of
//! `f * ln 2 / H`. Two counts are kept: a long one (the object's usual popularity) and a
//! short one (spike detection). Time is always passed in, in seconds on whatever clock the
//! caller uses (wall clock live, the trace's clock in replay): nothing here reads a clock.

use stratum_core::Tier;

use crate::policy::PolicyConfig;

/// The user-metadata header that pins an object's tier (`x-amz-meta-stratum-tier`).
pub const TIER_HINT_HEADER: &str = "x-amz-meta-stratum-tier";
/// The same name as stored user metadata (without `x-amz-meta-`).
pub const TIER_HINT_NAME: &str = "stratum-tier";

/// A tier hint from object metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hint {
    /// No pin: the policy decides.
    #[default]
    Auto,
    /// Pinned to a tier: the policy keeps the object there whenever capacity allows.
    Pinned(Tier),
}

impl Hint {
    /// Parses a hint value (`hot`, `warm`, `cold`, `auto`; case and surrounding blanks are
    /// ignored). Anything else is `None`: the caller decides whether to reject the PUT.
    pub fn parse(value: &str) -> Option<Hint> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Hint::Auto),
            "hot" => Some(Hint::Pinned(Tier::Hot)),
            "warm" => Some(Hint::Pinned(Tier::Warm)),
            "cold" => Some(Hint::Pinned(Tier::Cold)),
            _ => None,
        }
    }

    /// The hint among an object's metadata headers (name case-insensitive); `Auto` when
    /// absent or unparsable.
    pub fn from_metadata<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Hint {
        headers
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(TIER_HINT_HEADER))
            .and_then(|(_, value)| Hint::parse(value))
            .unwrap_or_default()
    }

    /// The hint in an object's stored user metadata (names without `x-amz-meta-`, as the
    /// engine keeps them); `Auto` when absent or unparsable.
    pub fn from_user_metadata(user_metadata: &[(String, String)]) -> Hint {
        user_metadata
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(TIER_HINT_NAME))
            .and_then(|(_, value)| Hint::parse(value))
            .unwrap_or_default()
    }

    /// The pinned tier, if any.
    pub fn pinned(self) -> Option<Tier> {
        match self {
            Hint::Auto => None,
            Hint::Pinned(t) => Some(t),
        }
    }
}

/// What the policy knows about one object (one version: an overwrite starts afresh).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessStats {
    /// Size in bytes.
    pub size: u64,
    /// When the version was written (PUT time).
    pub created_s: f64,
    /// The tier the object is in now.
    pub tier: Tier,
    /// The pinned hint from its metadata.
    pub hint: Hint,
    /// The last GET or range GET.
    pub last_access_s: Option<f64>,
    /// The last HEAD.
    pub last_head_s: Option<f64>,
    /// The last tier move (placement excluded).
    pub last_move_s: Option<f64>,
    /// Decayed access count with the long half-life, as of `decayed_at_s`.
    pub frequency: f64,
    /// Decayed access count with the short (spike) half-life, as of `decayed_at_s`.
    pub burst: f64,
    /// When the two decayed counts were last brought up to date.
    pub decayed_at_s: f64,
    /// GETs and range GETs of this version.
    pub gets: u64,
    /// HEADs of this version.
    pub heads: u64,
    /// Bytes returned by its GETs (range length for range GETs).
    pub bytes_read: u64,
    /// The class whose learned prior it starts with (the replay uses its bucket).
    pub class: u32,
    /// GETs expected in its first `prior_window_s` (its class's prior when written).
    pub prior_reads: f64,
    /// GETs seen in its first `prior_window_s`.
    pub window_gets: u32,
    /// Whether its prior window has been closed and learned from.
    pub prior_closed: bool,
    /// GETs expected after its first `prior_window_s` and up to `long_prior_window_s`
    /// (its class's long prior when written).
    pub long_prior_reads: f64,
    /// GETs seen after its first `prior_window_s` and up to `long_prior_window_s`.
    pub long_window_gets: u32,
    /// Whether its long prior window has been closed and learned from.
    pub long_prior_closed: bool,
}

fn decay(count: f64, dt: f64, half_life_s: f64) -> f64 {
    if dt <= 0.0 || half_life_s <= 0.0 {
        return count;
    }
    count * (-dt / half_life_s * std::f64::consts::LN_2).exp()
}

impl AccessStats {
    /// Statistics for a version written at `now` into `tier`, of prior class `class`
    /// expecting `prior_reads` GETs in its first `prior_window_s` (see
    /// [`crate::policy::Policy::prior_for`]).
    pub fn new(now: f64, size: u64, tier: Tier, hint: Hint, class: u32, prior_reads: f64) -> Self {
        AccessStats {
            size,
            created_s: now,
            tier,
            hint,
            last_access_s: None,
            last_head_s: None,
            last_move_s: None,
            frequency: 0.0,
            burst: 0.0,
            decayed_at_s: now,
            gets: 0,
            heads: 0,
            bytes_read: 0,
            class,
            prior_reads,
            window_gets: 0,
            prior_closed: false,
            long_prior_reads: 0.0,
            long_window_gets: 0,
            long_prior_closed: false,
        }
    }

    fn add(&mut self, now: f64, weight: f64, config: &PolicyConfig) {
        let dt = now - self.decayed_at_s;
        self.frequency = decay(self.frequency, dt, config.half_life_s) + weight;
        self.burst = decay(self.burst, dt, config.spike_half_life_s) + weight;
        if now > self.decayed_at_s {
            self.decayed_at_s = now;
        }
    }

    /// Records a GET (`bytes` = the object's size) or a range GET (`bytes` = the range).
    pub fn record_get(&mut self, now: f64, bytes: u64, config: &PolicyConfig) {
        self.add(now, 1.0, config);
        let age = now - self.created_s;
        if age < config.prior_window_s {
            self.window_gets += 1;
        } else if age < config.long_prior_window_s {
            self.long_window_gets += 1;
        }
        self.gets += 1;
        self.bytes_read += bytes;
        self.last_access_s = Some(now);
    }

    /// Records a HEAD; it weighs `head_weight` in the frequencies (0 by default: a HEAD is
    /// answered from local metadata whatever the tier).
    pub fn record_head(&mut self, now: f64, config: &PolicyConfig) {
        if config.head_weight > 0.0 {
            self.add(now, config.head_weight, config);
        }
        self.heads += 1;
        self.last_head_s = Some(now);
    }

    /// Records a move to `tier` at `now`.
    pub fn record_move(&mut self, now: f64, tier: Tier) {
        self.tier = tier;
        self.last_move_s = Some(now);
    }

    /// The long-term access rate estimate at `now`, per second: the decayed count's rate,
    /// plus, inside the prior window, the expected early GETs not yet seen spread over the
    /// window.
    pub fn rate(&self, now: f64, config: &PolicyConfig) -> f64 {
        let f = decay(self.frequency, now - self.decayed_at_s, config.half_life_s);
        let mut r = f * std::f64::consts::LN_2 / config.half_life_s.max(1e-9);
        let age = now - self.created_s;
        if age < config.prior_window_s {
            let left = (self.prior_reads - self.window_gets as f64).max(0.0);
            r += left / config.prior_window_s.max(1e-9);
        }
        let long = config.long_prior_window_s - config.prior_window_s;
        if long > 0.0 && age < config.long_prior_window_s {
            let left = (self.long_prior_reads - self.long_window_gets as f64).max(0.0);
            r += left / long;
        }
        r
    }

    /// The spike rate at `now`, per second: the short-half-life rate when the short count
    /// has reached `spike_min_accesses`, else 0.
    pub fn spike_rate(&self, now: f64, config: &PolicyConfig) -> f64 {
        let b = decay(
            self.burst,
            now - self.decayed_at_s,
            config.spike_half_life_s,
        );
        if b < config.spike_min_accesses {
            return 0.0;
        }
        b * std::f64::consts::LN_2 / config.spike_half_life_s.max(1e-9)
    }

    /// Mean bytes a GET of this object reads (its size until it has been read).
    pub fn mean_read_bytes(&self) -> f64 {
        if self.gets == 0 {
            self.size as f64
        } else {
            self.bytes_read as f64 / self.gets as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_parse_from_metadata() {
        assert_eq!(Hint::parse(" HOT "), Some(Hint::Pinned(Tier::Hot)));
        assert_eq!(Hint::parse("auto"), Some(Hint::Auto));
        assert_eq!(Hint::parse("archive"), None);
        let h = Hint::from_metadata([
            ("content-type", "image/png"),
            ("X-Amz-Meta-Stratum-Tier", "cold"),
        ]);
        assert_eq!(h.pinned(), Some(Tier::Cold));
        assert_eq!(
            Hint::from_metadata([("x-amz-meta-other", "hot")]),
            Hint::Auto
        );
    }

    #[test]
    fn a_steady_stream_converges_to_its_rate() {
        let cfg = PolicyConfig::default();
        let mut s = AccessStats::new(0.0, 1000, Tier::Hot, Hint::Auto, 0, 0.0);
        let period = 600.0;
        let mut t = 0.0;
        for _ in 0..5000 {
            t += period;
            s.record_get(t, 1000, &cfg);
        }
        let r = s.rate(t, &cfg);
        assert!((r * period - 1.0).abs() < 0.05, "rate {r}");
        // A half-life of silence halves it.
        let later = s.rate(t + cfg.half_life_s, &cfg);
        assert!((later / r - 0.5).abs() < 1e-9);
    }

    #[test]
    fn heads_do_not_count_by_default() {
        let cfg = PolicyConfig::default();
        let mut s = AccessStats::new(0.0, 1000, Tier::Hot, Hint::Auto, 0, 0.0);
        let before = s.rate(10.0, &cfg);
        s.record_head(10.0, &cfg);
        assert_eq!(s.rate(10.0, &cfg), before);
        assert_eq!(s.heads, 1);
    }
}
