//! Rate limits for messages: a token bucket per channel and one per tenant, so a storm
//! (a flapping fleet, an SMS channel hearing of every host) is held back and grouped
//! instead of flooding people, and what waits is recorded as `throttled`.

/// Up to `per_minute` messages at once, then one every `60 s / per_minute`. Counted in
/// whole units (a message is 60,000; each millisecond adds `per_minute`), so the
/// arithmetic is exact.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    per_minute: u32,
    units: i64,
    updated_ms: i64,
}

const UNITS_PER_MESSAGE: i64 = 60_000;

impl TokenBucket {
    pub fn new(per_minute: u32, now_ms: i64) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            units: i64::from(per_minute) * UNITS_PER_MESSAGE,
            updated_ms: now_ms,
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn refill(&mut self, now_ms: i64) {
        let rate = i64::from(self.per_minute);
        let elapsed = (now_ms - self.updated_ms).max(0);
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(rate))
            .min(rate * UNITS_PER_MESSAGE);
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    /// When the next message may go: `now_ms` if one may go now.
    pub fn available_at(&mut self, now_ms: i64) -> i64 {
        self.refill(now_ms);
        let missing = UNITS_PER_MESSAGE - self.units;
        if missing <= 0 {
            return now_ms;
        }
        let rate = i64::from(self.per_minute);
        now_ms + (missing + rate - 1) / rate
    }

    /// Takes one message's token (call after `available_at` said now).
    pub fn take(&mut self, now_ms: i64) {
        self.refill(now_ms);
        self.units = (self.units - UNITS_PER_MESSAGE).max(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_one_per_interval() {
        let mut bucket = TokenBucket::new(2, 0);
        assert_eq!(bucket.available_at(0), 0);
        bucket.take(0);
        assert_eq!(bucket.available_at(0), 0);
        bucket.take(0);
        // One token every 30 s.
        assert_eq!(bucket.available_at(0), 30_000);
        assert_eq!(bucket.available_at(10_000), 30_000);
        assert_eq!(bucket.available_at(30_000), 30_000);
        bucket.take(30_000);
        assert_eq!(bucket.available_at(30_000), 60_000);
        // Never more than the burst, however long it was idle.
        assert_eq!(bucket.available_at(10_000_000), 10_000_000);
        bucket.take(10_000_000);
        bucket.take(10_000_000);
        assert!(bucket.available_at(10_000_000) > 10_000_000);
        assert_eq!(TokenBucket::new(0, 0).per_minute(), 1);
    }
}
