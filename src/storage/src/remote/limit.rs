//! Pacing and backoff for the cold tier: a request-rate limiter (a token bucket holding one
//! token, so requests start at most `max_requests_per_sec` apart, first come first served)
//! and exponential backoff with full jitter between retries.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The longest wait between two attempts, whatever the exponent.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Starts requests no closer than `1 / rate` seconds apart.
///
/// Each caller reserves the next free start slot under a mutex held for a few instructions,
/// then sleeps until its slot outside it, so waiting callers start in arrival order and none
/// blocks a reactor thread. There is no burst: N requests take at least (N - 1) / rate.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter for `per_sec` requests per second (at least 1).
    pub fn new(per_sec: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(1) / per_sec.max(1),
            next: Mutex::new(None),
        }
    }

    /// Reserves the next start slot and returns it.
    fn reserve(&self, now: Instant) -> Instant {
        // A poisoned lock only means another caller panicked between two assignments of an
        // `Option<Instant>`; the value is still a valid slot.
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = match *next {
            Some(t) if t > now => t,
            _ => now,
        };
        *next = Some(slot + self.interval);
        slot
    }

    /// Waits for this caller's start slot.
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot).await;
    }
}

/// How long to wait before retry number `retry` (0 for the first retry): a uniformly random
/// time up to `base * 2^retry`, capped at [`BACKOFF_MAX`] ("full jitter", so clients that
/// failed together do not retry together).
pub(crate) fn backoff(base: Duration, retry: u32) -> Duration {
    let ceiling = base
        .checked_mul(1u32 << retry.min(20))
        .unwrap_or(BACKOFF_MAX)
        .min(BACKOFF_MAX);
    if ceiling.is_zero() {
        return ceiling;
    }
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_one_interval_apart_and_never_in_the_past() {
        let r = RateLimiter::new(4);
        let t0 = Instant::now();
        let slots: Vec<_> = (0..4).map(|_| r.reserve(t0)).collect();
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(*s - t0, Duration::from_millis(250) * i as u32);
        }
        // After an idle gap the next slot is "now", not a backlog of past slots.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(r.reserve(later), later);
    }

    #[test]
    fn backoff_grows_then_caps() {
        let base = Duration::from_millis(100);
        for retry in 0..40 {
            let d = backoff(base, retry);
            let ceiling = (base * 2u32.pow(retry.min(20))).min(BACKOFF_MAX);
            assert!(d <= ceiling, "{retry}: {d:?}");
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[tokio::test]
    async fn acquire_paces_requests() {
        let r = RateLimiter::new(50);
        let start = Instant::now();
        for _ in 0..11 {
            r.acquire().await;
        }
        assert!(Instant::now() - start >= Duration::from_millis(200));
    }
}
