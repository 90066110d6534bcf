//! Wall-clock helpers. Timestamps are stored as Unix milliseconds so both databases
//! compare and index them the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds in a day, for retention settings given in days.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds fit in i64 until year 292 million")
}

/// Where time-dependent decisions (retention cut-offs, the head window, token and
/// session expiry, `started_at`) read "now". Components take a [`Clock`] instead of calling
/// [`now_ms`], so tests can drive them with a [`ManualClock`].
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// A shared clock, cheap to clone into every component that needs one.
pub type SharedClock = std::sync::Arc<dyn Clock>;

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

impl SystemClock {
    pub fn shared() -> SharedClock {
        std::sync::Arc::new(SystemClock)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self(std::sync::atomic::AtomicI64::new(ms)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The system's clock moved forward by an offset that only grows (tests in which hours must
/// pass for timers, repeats and maintenance windows while everything else runs in real
/// time).
#[derive(Debug, Default)]
pub struct OffsetClock(std::sync::atomic::AtomicI64);

impl OffsetClock {
    pub fn shared() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self::default())
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        now_ms().saturating_add(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// RFC 3339 text (UTC, millisecond precision) for a stored millisecond timestamp.
pub fn rfc3339_ms(ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_millis_as_rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
