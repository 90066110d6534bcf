//! Delivery's arithmetic, kept pure: when a group is due, how long to wait before the next
//! attempt, and which alerts one message carries.

use std::collections::BTreeMap;

use super::message::{AlertStatus, NotifiedAlert};
use super::policy::Timings;

/// Attempts and backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_ms: i64,
    pub max_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_ms: 1_000,
            max_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts: `base × 2^(attempts−1)` capped at `max`,
    /// jittered by ±20 % (`jitter` in 0..1) so a storm of retries spreads out, and never
    /// shorter than what the provider asked for (`Retry-After`).
    pub fn delay_ms(&self, attempts: u32, retry_after_ms: Option<i64>, jitter: f64) -> i64 {
        let exponent = attempts.saturating_sub(1).min(30);
        let backoff = self
            .base_ms
            .saturating_mul(1_i64 << exponent)
            .min(self.max_ms);
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let jittered = (backoff as f64 * factor) as i64;
        jittered.max(retry_after_ms.unwrap_or(0))
    }

    pub fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

/// When a group with open rows may be sent: a group never notified waits `group_wait`
/// from its oldest open row; one notified before waits `group_interval` from then; and no
/// row is sent before its own next attempt.
pub fn due_ms(
    last_sent_ms: Option<i64>,
    oldest_created_ms: i64,
    latest_next_attempt_ms: i64,
    timings: Timings,
) -> i64 {
    let ready = match last_sent_ms {
        None => oldest_created_ms.saturating_add(timings.group_wait_ms),
        Some(last) => last
            .saturating_add(timings.group_interval_ms)
            .max(oldest_created_ms),
    };
    ready.max(latest_next_attempt_ms)
}

/// The alerts one message carries, as Alertmanager sends a group: every alert of the
/// group still firing (as last notified) and what the open rows say, the newest row per
/// alert winning; firing first, then resolved, each by start time.
pub fn message_alerts(
    active: &BTreeMap<String, NotifiedAlert>,
    rows: &[&NotifiedAlert],
) -> Vec<NotifiedAlert> {
    let mut newest: BTreeMap<&str, &NotifiedAlert> = BTreeMap::new();
    for row in rows {
        match newest.get(row.fingerprint.as_str()) {
            Some(current) if current.at_ms > row.at_ms => {}
            _ => {
                newest.insert(&row.fingerprint, row);
            }
        }
    }
    let mut by_fingerprint: BTreeMap<String, NotifiedAlert> = active.clone();
    for (fingerprint, row) in newest {
        let mut alert = row.clone();
        // A resolution names the alert as it fired (its severity is gone by then), as
        // Alertmanager keeps an alert's labels from start to end.
        if let (AlertStatus::Resolved, Some(fired)) = (alert.status, active.get(fingerprint)) {
            alert.labels = fired.labels.clone();
            alert.severity = alert.severity.or_else(|| fired.severity.clone());
        }
        by_fingerprint.insert(fingerprint.to_owned(), alert);
    }
    let mut alerts: Vec<NotifiedAlert> = by_fingerprint.into_values().collect();
    alerts.sort_by_key(|a| (a.status == AlertStatus::Resolved, a.starts_at_ms));
    alerts
}

/// The group's firing alerts after a message was delivered: resolved ones leave it.
pub fn after_delivery(active: &mut BTreeMap<String, NotifiedAlert>, delivered: &[NotifiedAlert]) {
    for alert in delivered {
        match alert.status {
            AlertStatus::Firing => {
                active.insert(alert.fingerprint.clone(), alert.clone());
            }
            AlertStatus::Resolved => {
                active.remove(&alert.fingerprint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::alert;

    #[test]
    fn backoff_doubles_caps_jitters_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1, None, 0.5), 1_000);
        assert_eq!(p.delay_ms(2, None, 0.5), 2_000);
        assert_eq!(p.delay_ms(4, None, 0.5), 8_000);
        assert_eq!(p.delay_ms(20, None, 0.5), 300_000);
        assert_eq!(p.delay_ms(1, None, 0.0), 800);
        assert_eq!(p.delay_ms(1, None, 1.0), 1_200);
        assert_eq!(p.delay_ms(1, Some(2_000), 0.5), 2_000);
        assert!(!p.exhausted(7));
        assert!(p.exhausted(8));
    }

    #[test]
    fn groups_wait_then_keep_their_interval() {
        let t = Timings {
            group_wait_ms: 30_000,
            group_interval_ms: 300_000,
            repeat_interval_ms: 0,
        };
        assert_eq!(due_ms(None, 1_000, 0, t), 31_000);
        assert_eq!(due_ms(Some(10_000), 20_000, 0, t), 310_000);
        // Long since the last message: at once.
        assert_eq!(due_ms(Some(10_000), 900_000, 0, t), 900_000);
        // A retry waits for its own time.
        assert_eq!(due_ms(None, 1_000, 50_000, t), 50_000);
    }

    #[test]
    fn a_message_carries_the_whole_group_newest_state_per_alert() {
        let a = alert("A", AlertStatus::Firing, "a");
        let b = alert("A", AlertStatus::Firing, "b");
        let mut b_resolved = alert("A", AlertStatus::Resolved, "b");
        b_resolved.at_ms += 1;
        b_resolved.severity = None;
        b_resolved.labels.remove("env");
        let c = alert("A", AlertStatus::Firing, "c");
        let mut active = BTreeMap::new();
        after_delivery(&mut active, &[a.clone(), b.clone()]);
        let alerts = message_alerts(&active, &[&b_resolved, &c]);
        let shown: Vec<(&str, AlertStatus)> = alerts
            .iter()
            .map(|x| (x.fingerprint.as_str(), x.status))
            .collect();
        assert_eq!(
            shown,
            [
                ("fpa", AlertStatus::Firing),
                ("fpc", AlertStatus::Firing),
                ("fpb", AlertStatus::Resolved)
            ]
        );
        // The resolution keeps the labels and severity it fired with.
        assert_eq!(alerts[2].severity.as_deref(), Some("critical"));
        assert_eq!(alerts[2].labels, b.labels);
        after_delivery(&mut active, &alerts);
        assert_eq!(active.keys().collect::<Vec<_>>(), ["fpa", "fpc"]);
    }
}
