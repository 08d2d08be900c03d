//! The reconnect schedule: exponential backoff with jitter.

use std::time::Duration;

/// Exponential backoff: `initial`, doubling per attempt up to `max`, each
/// delay scaled by a random factor in `1 ± jitter` so that many clients
/// cut off together do not reconnect in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry (default 250 ms).
    pub initial: Duration,
    /// Largest delay before jitter (default 10 s).
    pub max: Duration,
    /// Relative jitter, 0.0 to 1.0 (default 0.2, i.e. ±20%).
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1-based) given a uniform
    /// sample `unit` in `[0, 1)`; `unit = 0.5` gives the un-jittered delay.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let base = self.initial.saturating_mul(1u32 << doublings).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        base.mul_f64(factor)
    }

    /// The delay before retry number `attempt` (1-based), randomly jittered.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap() {
        let b = Backoff::default();
        let ms: Vec<u128> = (1..=9).map(|a| b.delay_with(a, 0.5).as_millis()).collect();
        assert_eq!(
            ms,
            [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]
        );
        assert_eq!(b.delay_with(1000, 0.5), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let b = Backoff::default();
        assert_eq!(b.delay_with(1, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay_with(1, 1.0), Duration::from_millis(300));
        for attempt in 1..20 {
            let d = b.delay(attempt).as_secs_f64();
            let base = b.delay_with(attempt, 0.5).as_secs_f64();
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "{attempt}: {d}"
            );
        }
    }
}
