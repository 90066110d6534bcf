//! One alert instance's lifecycle, as a pure state machine: inactive → pending (the
//! condition holds, `for` not yet met) → firing → resolved (the condition cleared for
//! `keep_firing_for`; past the resolve bound when the rule has one: hysteresis) →
//! inactive; severities escalate and de-escalate within one firing alert; no data after
//! `no_data_after` follows the rule's choice; too many changes in a window mark it
//! flapping. Time comes in as milliseconds with every call (the evaluator reads its
//! `Clock`), so tests drive it with any times they like.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How bad a firing alert is. Ordered: `Critical` is the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Info, Self::Warning, Self::Critical]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What an instance is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Pending => "pending",
            Self::Firing => "firing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Inactive, Self::Pending, Self::Firing]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What a rule does with an instance that has had no data for `no_data_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoDataPolicy {
    /// Treat it as recovered: a firing alert resolves.
    #[default]
    Ok,
    /// Treat it as a problem: the alert fires (at the rule's highest severity).
    Alerting,
    /// Keep whatever state it was in.
    Keep,
}

/// When changes count as flapping: more than `max_changes` within `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlapPolicy {
    pub max_changes: usize,
    pub window_ms: i64,
}

impl Default for FlapPolicy {
    fn default() -> Self {
        Self {
            max_changes: 6,
            window_ms: 30 * 60 * 1000,
        }
    }
}

/// A rule's timing for its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LifecyclePolicy {
    /// How long the condition must hold before pending becomes firing.
    pub for_ms: i64,
    /// How long a firing alert stays firing after its condition cleared.
    pub keep_firing_for_ms: i64,
    /// No data for this long (`None`: never) is "no data".
    pub no_data_after_ms: Option<i64>,
    pub no_data: NoDataPolicy,
    /// The severity "alerting" on no data fires at.
    pub highest_severity: Option<Severity>,
    pub flap: FlapPolicy,
}

/// What the evaluator found for an instance's group in one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Verdict {
    /// The highest severity whose condition holds.
    pub raising: Option<Severity>,
    /// The highest severity whose resolve bound has not been crossed yet (hysteresis);
    /// equal to `raising` for thresholds without a resolve bound.
    pub keeping: Option<Severity>,
    /// The value the conditions were checked on (`$value`).
    pub value: f64,
}

/// What changed, to record in the history and hand to the notifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transition {
    Pending {
        severity: Severity,
    },
    Firing {
        severity: Severity,
    },
    Escalated {
        from: Severity,
        to: Severity,
    },
    DeEscalated {
        from: Severity,
        to: Severity,
    },
    /// A firing alert is over.
    Resolved,
    /// A pending alert's condition cleared before `for` was met (never fired).
    Cancelled,
    /// No data for `no_data_after`.
    NoData,
    Flapping,
    FlappingStopped,
}

impl Transition {
    /// The name the history and the API use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pending { .. } => "pending",
            Self::Firing { .. } => "firing",
            Self::Escalated { .. } => "escalated",
            Self::DeEscalated { .. } => "de-escalated",
            Self::Resolved => "resolved",
            Self::Cancelled => "cancelled",
            Self::NoData => "nodata",
            Self::Flapping => "flapping",
            Self::FlappingStopped => "flapping_stopped",
        }
    }
}

/// One instance (a rule and one group of labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub state: AlertState,
    pub severity: Option<Severity>,
    /// When it became pending (or firing straight away).
    pub active_since_ms: Option<i64>,
    /// When its condition cleared while firing (`keep_firing_for` counts from here).
    pub cleared_since_ms: Option<i64>,
    pub last_data_ms: Option<i64>,
    pub last_value: Option<f64>,
    pub no_data: bool,
    pub flapping: bool,
    last_verdict: Verdict,
    /// Times of recent state changes, for flap detection.
    changes: VecDeque<i64>,
}

impl Default for Instance {
    fn default() -> Self {
        Self {
            state: AlertState::Inactive,
            severity: None,
            active_since_ms: None,
            cleared_since_ms: None,
            last_data_ms: None,
            last_value: None,
            no_data: false,
            flapping: false,
            last_verdict: Verdict::default(),
            changes: VecDeque::new(),
        }
    }
}

/// What is kept of an instance across restarts (the `alert_instances` row).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredInstance {
    pub state: AlertState,
    pub severity: Option<Severity>,
    pub active_since_ms: Option<i64>,
    pub cleared_since_ms: Option<i64>,
    pub last_data_ms: Option<i64>,
    pub last_value: Option<f64>,
    pub no_data: bool,
    pub flapping: bool,
}

impl Instance {
    /// An instance as it was stored: the last verdict is taken to be what its state says
    /// (the first evaluation after a restart replaces it).
    pub fn restore(stored: StoredInstance) -> Self {
        let held = match stored.state {
            AlertState::Inactive => None,
            AlertState::Pending | AlertState::Firing => stored.severity,
        };
        Self {
            state: stored.state,
            severity: stored.severity,
            active_since_ms: stored.active_since_ms,
            cleared_since_ms: stored.cleared_since_ms,
            last_data_ms: stored.last_data_ms,
            last_value: stored.last_value,
            no_data: stored.no_data,
            flapping: stored.flapping,
            last_verdict: Verdict {
                raising: if stored.cleared_since_ms.is_some() {
                    None
                } else {
                    held
                },
                keeping: if stored.cleared_since_ms.is_some() {
                    None
                } else {
                    held
                },
                value: stored.last_value.unwrap_or(f64::NAN),
            },
            changes: VecDeque::new(),
        }
    }

    /// What is kept across restarts.
    pub fn stored(&self) -> StoredInstance {
        StoredInstance {
            state: self.state,
            severity: self.severity,
            active_since_ms: self.active_since_ms,
            cleared_since_ms: self.cleared_since_ms,
            last_data_ms: self.last_data_ms,
            last_value: self.last_value,
            no_data: self.no_data,
            flapping: self.flapping,
        }
    }

    /// The verdict changed without new data (a window slid): the next [`Instance::tick`]
    /// uses it, and no-data is still counted from the last sample.
    pub fn revise(&mut self, verdict: Verdict) {
        self.last_value = Some(verdict.value);
        self.last_verdict = verdict;
    }

    /// Data was seen at `at_ms` (a window rebuilt after a restart): no-data counts from
    /// the newest.
    pub fn note_data(&mut self, at_ms: i64) {
        self.last_data_ms = Some(self.last_data_ms.map_or(at_ms, |held| held.max(at_ms)));
    }

    /// A fresh evaluation with data at `now_ms`.
    pub fn observe(
        &mut self,
        policy: &LifecyclePolicy,
        verdict: Verdict,
        now_ms: i64,
    ) -> Vec<Transition> {
        self.last_data_ms = Some(now_ms);
        self.last_value = Some(verdict.value);
        self.no_data = false;
        self.last_verdict = verdict;
        let mut out = Vec::new();
        self.step(policy, verdict, now_ms, &mut out);
        out
    }

    /// Time passed without new data: `for` and `keep_firing_for` run out, no data sets in.
    pub fn tick(&mut self, policy: &LifecyclePolicy, now_ms: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        let silent_for = self.last_data_ms.map(|at| now_ms - at);
        let no_data_now = match (policy.no_data_after_ms, silent_for) {
            (Some(after), Some(silent)) => silent >= after,
            (Some(_), None) => false,
            (None, _) => false,
        };
        if no_data_now && !self.no_data {
            self.no_data = true;
            out.push(Transition::NoData);
        }
        let verdict = if self.no_data {
            match policy.no_data {
                NoDataPolicy::Ok => Verdict::default(),
                NoDataPolicy::Alerting => Verdict {
                    raising: policy.highest_severity,
                    keeping: policy.highest_severity,
                    value: f64::NAN,
                },
                NoDataPolicy::Keep => return out,
            }
        } else {
            self.last_verdict
        };
        self.step(policy, verdict, now_ms, &mut out);
        out
    }

    fn step(
        &mut self,
        policy: &LifecyclePolicy,
        verdict: Verdict,
        now_ms: i64,
        out: &mut Vec<Transition>,
    ) {
        let active = matches!(self.state, AlertState::Pending | AlertState::Firing);
        let wanted = if active {
            verdict.raising.max(verdict.keeping)
        } else {
            verdict.raising
        };
        match (self.state, wanted) {
            (AlertState::Inactive, None) => {}
            (AlertState::Inactive, Some(severity)) => {
                self.active_since_ms = Some(now_ms);
                self.cleared_since_ms = None;
                self.severity = Some(severity);
                if policy.for_ms <= 0 {
                    self.change(
                        AlertState::Firing,
                        Transition::Firing { severity },
                        now_ms,
                        out,
                    );
                } else {
                    self.change(
                        AlertState::Pending,
                        Transition::Pending { severity },
                        now_ms,
                        out,
                    );
                }
            }
            (AlertState::Pending, None) => {
                self.reset();
                self.change(AlertState::Inactive, Transition::Cancelled, now_ms, out);
            }
            (AlertState::Pending, Some(severity)) => {
                self.severity = Some(severity);
                let since = self.active_since_ms.unwrap_or(now_ms);
                if now_ms - since >= policy.for_ms {
                    self.change(
                        AlertState::Firing,
                        Transition::Firing { severity },
                        now_ms,
                        out,
                    );
                }
            }
            (AlertState::Firing, Some(severity)) => {
                self.cleared_since_ms = None;
                match self.severity {
                    Some(from) if severity > from => {
                        out.push(Transition::Escalated { from, to: severity })
                    }
                    Some(from) if severity < from => {
                        out.push(Transition::DeEscalated { from, to: severity })
                    }
                    _ => {}
                }
                self.severity = Some(severity);
            }
            (AlertState::Firing, None) => {
                let cleared = *self.cleared_since_ms.get_or_insert(now_ms);
                if now_ms - cleared >= policy.keep_firing_for_ms {
                    self.reset();
                    self.change(AlertState::Inactive, Transition::Resolved, now_ms, out);
                }
            }
        }
        self.update_flapping(policy, now_ms, out);
    }

    fn reset(&mut self) {
        self.severity = None;
        self.active_since_ms = None;
        self.cleared_since_ms = None;
    }

    fn change(
        &mut self,
        state: AlertState,
        transition: Transition,
        now_ms: i64,
        out: &mut Vec<Transition>,
    ) {
        self.state = state;
        self.changes.push_back(now_ms);
        out.push(transition);
    }

    fn update_flapping(
        &mut self,
        policy: &LifecyclePolicy,
        now_ms: i64,
        out: &mut Vec<Transition>,
    ) {
        let oldest = now_ms - policy.flap.window_ms;
        while self.changes.front().is_some_and(|&at| at < oldest) {
            self.changes.pop_front();
        }
        let flapping = self.changes.len() > policy.flap.max_changes;
        if flapping != self.flapping {
            self.flapping = flapping;
            out.push(if flapping {
                Transition::Flapping
            } else {
                Transition::FlappingStopped
            });
        }
    }
}

#[cfg(test)]
mod tests;
