//! Per-user send rate limiting with a token bucket.
//!
//! Each user has a bucket of `burst` tokens refilled at `rate` per second;
//! a send takes one token. Limits apply per user, not per connection, so
//! opening more devices does not raise a user's rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of all users.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

impl RateLimiter {
    /// Buckets of `burst` tokens refilled at `rate_per_sec`.
    pub fn new(rate_per_sec: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate_per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes a token for `user` at `now`. Returns `Err(ms)` with how long
    /// to wait, in ms, when the bucket is empty.
    pub fn check(&self, user: u64, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Drop full buckets of idle users so the map stays bounded.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
            });
        }
        let b = buckets.entry(user).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.rate * 1000.0;
            Err(wait.ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(10, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check(1, t0).is_ok());
        }
        let wait = rl.check(1, t0).expect_err("empty bucket");
        assert!((1..=100).contains(&wait), "{wait}");
        assert!(rl.check(2, t0).is_ok(), "other users are unaffected");
        assert!(rl.check(1, t0 + Duration::from_millis(100)).is_ok());
    }
}
