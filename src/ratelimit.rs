//! Per-token rate limits on the GraphQL endpoint: a token bucket for each token (and one for each
//! client address making anonymous requests), refilled continuously.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before full ones are forgotten.
const MAX_BUCKETS: usize = 10_000;

/// The limiter shared by all requests.
pub struct RateLimiter {
    /// Requests a minute, and the burst a bucket holds.
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests a minute to each key, in bursts of as many;
    /// 0 turns it off.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            // Full buckets say nothing a new one would not: forget them.
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity);
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second).max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_refills_and_is_kept_per_key() {
        let limiter = RateLimiter::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check_at("token 1", start).is_ok());
        }
        let wait = limiter.check_at("token 1", start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(limiter.check_at("token 2", start).is_ok(), "another token has its own bucket");
        assert!(limiter.check_at("token 1", start + Duration::from_secs(1)).is_ok(), "one a second comes back");
        assert!(RateLimiter::new(0).check_at("x", start).is_ok(), "0 turns it off");
    }
}
