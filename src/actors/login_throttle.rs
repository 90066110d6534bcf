//! Failed-login counting, per account and per client address, in fixed windows.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, Handler, Message};

/// The most keys each table tracks. When full, expired windows are swept; if it is still
/// full the new key is not tracked (logged), so memory stays bounded under a flood of
/// random account names, while the per-address limit still applies to the flooder.
const MAX_TRACKED: usize = 100_000;

/// How many failures each key may have per window.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleLimits {
    pub per_account: u32,
    pub per_address: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy)]
struct FailureWindow {
    failures: u32,
    started: Instant,
}

struct FailureTable<K> {
    windows: HashMap<K, FailureWindow>,
    limit: u32,
}

impl<K: Eq + Hash + Clone + std::fmt::Debug> FailureTable<K> {
    fn new(limit: u32) -> Self {
        Self {
            windows: HashMap::new(),
            limit,
        }
    }

    /// Time left before `key` may try again, if it is over its limit.
    fn blocked_for(&self, key: &K, window: Duration, now: Instant) -> Option<Duration> {
        let entry = self.windows.get(key)?;
        let elapsed = now.duration_since(entry.started);
        (entry.failures >= self.limit && elapsed < window).then(|| window - elapsed)
    }

    fn record(&mut self, key: K, window: Duration, now: Instant) {
        if self.windows.len() >= MAX_TRACKED && !self.windows.contains_key(&key) {
            self.sweep(window, now);
            if self.windows.len() >= MAX_TRACKED {
                tracing::warn!(?key, "login failure table full; not tracking this key");
                return;
            }
        }
        let entry = self.windows.entry(key).or_insert(FailureWindow {
            failures: 0,
            started: now,
        });
        if now.duration_since(entry.started) >= window {
            *entry = FailureWindow {
                failures: 0,
                started: now,
            };
        }
        entry.failures += 1;
    }

    fn sweep(&mut self, window: Duration, now: Instant) {
        self.windows
            .retain(|_, entry| now.duration_since(entry.started) < window);
    }
}

/// Owns the failure counts.
pub struct LoginThrottle {
    accounts: FailureTable<String>,
    addresses: FailureTable<IpAddr>,
    window: Duration,
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self {
            accounts: FailureTable::new(limits.per_account),
            addresses: FailureTable::new(limits.per_address),
            window: limits.window,
        }
    }
}

impl Actor for LoginThrottle {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = self
            .window
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        ctx.run_interval(every, |throttle, _| {
            let now = Instant::now();
            throttle.accounts.sweep(throttle.window, now);
            throttle.addresses.sweep(throttle.window, now);
        });
    }
}

/// May this account, from this address, try to log in now? `Err` carries the wait.
#[derive(Message)]
#[rtype(result = "Result<(), Duration>")]
pub struct CheckLogin {
    pub account: String,
    pub address: Option<IpAddr>,
}

impl Handler<CheckLogin> for LoginThrottle {
    type Result = Result<(), Duration>;

    fn handle(&mut self, msg: CheckLogin, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        let by_account = self.accounts.blocked_for(&msg.account, self.window, now);
        let by_address = msg
            .address
            .and_then(|ip| self.addresses.blocked_for(&ip, self.window, now));
        match by_account.into_iter().chain(by_address).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }
}

/// A login failed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RecordLoginFailure {
    pub account: String,
    pub address: Option<IpAddr>,
}

impl Handler<RecordLoginFailure> for LoginThrottle {
    type Result = ();

    fn handle(&mut self, msg: RecordLoginFailure, _: &mut Self::Context) {
        let now = Instant::now();
        self.accounts.record(msg.account, self.window, now);
        if let Some(ip) = msg.address {
            self.addresses.record(ip, self.window, now);
        }
    }
}

/// A login succeeded: the account's count starts over (the address's does not, so one
/// valid account cannot be used to reset a guessing run against others).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClearAccountFailures {
    pub account: String,
}

impl Handler<ClearAccountFailures> for LoginThrottle {
    type Result = ();

    fn handle(&mut self, msg: ClearAccountFailures, _: &mut Self::Context) {
        self.accounts.windows.remove(&msg.account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let window = Duration::from_secs(60);
        let mut table = FailureTable::new(3);
        let start = Instant::now();
        for _ in 0..2 {
            table.record("a".to_string(), window, start);
        }
        assert_eq!(table.blocked_for(&"a".to_string(), window, start), None);
        table.record("a".to_string(), window, start);
        let wait = table
            .blocked_for(&"a".to_string(), window, start + Duration::from_secs(10))
            .unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(table.blocked_for(&"b".to_string(), window, start), None);
        assert_eq!(
            table.blocked_for(&"a".to_string(), window, start + window),
            None
        );
        // A failure after the window starts a new one.
        table.record("a".to_string(), window, start + window);
        assert_eq!(
            table.blocked_for(&"a".to_string(), window, start + window),
            None
        );
    }
}
