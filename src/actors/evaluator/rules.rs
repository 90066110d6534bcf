//! One rule's runtime inside the evaluator: its validated definition, its alerts (one per
//! group, with the group's window for threshold rules) and its health. No actor, no I/O:
//! the evaluator hands it samples, query results and times, and collects what changed.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::alerting::rule::{
    render_annotations, threshold_verdict, Aggregation, LogAggregation, Rule, RuleKind,
    LOG_LINES_KEPT,
};
use crate::alerting::window::{CountWindow, GroupWindow};
use crate::alerting::{AlertState, Instance, Severity, Transition, Verdict};
use crate::domain::logs::{alert_line, keep_newest_line, LogRecord, MatchedWindow};
use crate::domain::metrics::{Labels, Sample, METRIC_NAME_LABEL};
use crate::domain::{AlertId, AlertRuleId};
use crate::notify::message::{notified, AlertStatus as NotifiedStatus, NotifiedAlert};
use crate::notify::policy::RuleTimings;
use crate::notify::routing::{Routed, Routing};
use crate::promql::{selector_matchers, Expr, QueryValue, Selection};
use crate::store::alerts::{AlertChange, AlertInstanceRecord};
use crate::store::notifications::OutboxDraft;

/// One alert: a rule's instance for one group of labels.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: AlertId,
    /// The group's labels (threshold: the `group_by` labels; PromQL: the result series'
    /// labels without `__name__`).
    pub group: Labels,
    pub fingerprint: String,
    pub instance: Instance,
    pub window: GroupWindow,
    /// Log rules: the group's matching records.
    pub records: Option<RecordWindow>,
    pub fired_at_ms: Option<i64>,
}

/// A log rule group's records in the window: counts, and the newest matching lines (for
/// the notification).
#[derive(Debug, Clone)]
pub struct RecordWindow {
    pub counts: CountWindow,
    /// (time in ms, line), oldest first, at most [`LOG_LINES_KEPT`].
    pub lines: VecDeque<(i64, String)>,
}

impl RecordWindow {
    fn note_line(&mut self, at_ms: i64, line: impl FnOnce() -> String) {
        keep_newest_line(&mut self.lines, LOG_LINES_KEPT, at_ms, line);
    }
}

impl Tracked {
    fn new(group: Labels, window: GroupWindow, records: Option<RecordWindow>) -> Self {
        Self {
            id: AlertId::generate(),
            fingerprint: format!("{:016x}", group.fingerprint()),
            group,
            instance: Instance::default(),
            window,
            records,
            fired_at_ms: None,
        }
    }

    /// Whether the group still holds samples or records (else, inactive, it is forgotten).
    fn holds_data(&self) -> bool {
        match &self.records {
            Some(records) => !records.counts.is_empty(),
            None => !self.window.is_empty(),
        }
    }
}

/// How a windowed rule reduces a group to its value.
#[derive(Debug, Clone, Copy)]
enum Measure {
    Samples(Aggregation),
    Records(LogAggregation),
}

/// A rule's last evaluation, for `/api/v1/rules`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub last_error: Option<String>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
}

/// What one evaluation changed for one alert, to write and then hand on.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub change: AlertChange,
    pub rule_name: String,
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations rendered for this alert and value.
    pub annotations: BTreeMap<String, String>,
    pub channels: Vec<String>,
    pub notify_timings: RuleTimings,
    pub transitions: Vec<Transition>,
    pub value: f64,
    pub at_ms: i64,
    /// Log rules: the newest matching lines, oldest first.
    pub log_lines: Vec<String>,
}

/// Decides who hears of an outgoing change's transitions (its `notifications`).
pub fn plan_notifications(routing: &Routing, outgoing: &mut Outgoing) {
    let instance = &outgoing.change.instance;
    let mut drafts = Vec::new();
    // A flapping alert is notified once as `flapping` and once as `stable`, not at every
    // change in between (nor at the change that made it flap, which comes just before);
    // `stable` says the state it settled in.
    let mut flapping = instance.flapping
        || outgoing
            .transitions
            .iter()
            .any(|t| matches!(t, Transition::Flapping | Transition::FlappingStopped));
    for (index, transition) in outgoing.transitions.iter().enumerate() {
        match transition {
            Transition::Flapping => flapping = true,
            Transition::FlappingStopped => flapping = false,
            _ if flapping => continue,
            _ => {}
        }
        let Some((mut status, name)) = notified(*transition) else {
            continue;
        };
        if *transition == Transition::FlappingStopped && instance.state != AlertState::Firing {
            status = NotifiedStatus::Resolved;
        }
        let rule_id = instance.rule_id.to_string();
        let planned = routing.plan(&Routed {
            rule_id: &rule_id,
            rule_channels: &outgoing.channels,
            rule_timings: outgoing.notify_timings,
            labels: &outgoing.labels,
            status,
        });
        for plan in planned {
            let Ok(channel_id) = plan.channel_id.parse() else {
                continue;
            };
            drafts.push(OutboxDraft {
                channel_id,
                group_key: plan.group_key,
                group_labels: plan.group_labels,
                alert: NotifiedAlert {
                    alert_id: instance.id.to_string(),
                    rule_id: rule_id.clone(),
                    rule_name: outgoing.rule_name.clone(),
                    fingerprint: instance.fingerprint.clone(),
                    status,
                    transition: name.to_owned(),
                    severity: instance.severity.map(|s| s.as_str().to_owned()),
                    value: outgoing.value.is_finite().then_some(outgoing.value),
                    labels: outgoing.labels.clone(),
                    annotations: outgoing.annotations.clone(),
                    starts_at_ms: instance
                        .fired_at_ms
                        .or(instance.active_since_ms)
                        .unwrap_or(outgoing.at_ms),
                    ends_at_ms: (status == NotifiedStatus::Resolved).then_some(outgoing.at_ms),
                    at_ms: outgoing.at_ms,
                    generator_url: None,
                    log_lines: outgoing.log_lines.clone(),
                },
                timings: plan.timings,
                mute_timings: plan.mute_timings,
                active_timings: plan.active_timings,
                transition_index: index,
            });
        }
    }
    outgoing.change.notifications = drafts;
}

/// A rule as the evaluator runs it.
pub struct RuleRuntime {
    pub id: AlertRuleId,
    pub updated_at_ms: i64,
    pub rule: Rule,
    /// Threshold rules: the selector's matchers, to test applied series against.
    selection: Option<Selection>,
    /// By group fingerprint; foldhash: looked up for every streamed sample.
    pub alerts: HashMap<u64, Tracked, foldhash::fast::RandomState>,
    pub health: Health,
    /// PromQL rules: when the next evaluation is due, and whether one is running.
    pub next_evaluation_ms: i64,
    pub evaluating: bool,
    max_alerts: usize,
    /// Log rules whose window was just rebuilt from the store: the blocks it read, whose
    /// records are not counted again when they arrive streamed, until `skip_until_ms`.
    skip_blocks: HashSet<i64>,
    skip_until_ms: i64,
}

/// How long after a rebuild streamed records of blocks it read may still arrive.
const SKIP_BLOCKS_FOR_MS: i64 = 60_000;

/// The metric name a threshold rule's selector pins, to index the rule by.
pub fn pinned_metric(rule: &Rule) -> Option<String> {
    match &rule.kind {
        RuleKind::Threshold {
            selector: Expr::VectorSelector(vs),
            ..
        } => vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| {
                    m.name == METRIC_NAME_LABEL
                        && matches!(m.op, promql_parser::label::MatchOp::Equal)
                })
                .map(|m| m.value.clone())
        }),
        _ => None,
    }
}

impl RuleRuntime {
    pub fn new(
        id: AlertRuleId,
        updated_at_ms: i64,
        rule: Rule,
        max_alerts: usize,
        now_ms: i64,
    ) -> Self {
        let selection = match &rule.kind {
            RuleKind::Threshold {
                selector: Expr::VectorSelector(vs),
                ..
            } => Some(Selection {
                matchers: selector_matchers(vs),
                start_ms: i64::MIN,
                end_ms: i64::MAX,
            }),
            _ => None,
        };
        Self {
            id,
            updated_at_ms,
            rule,
            selection,
            alerts: HashMap::default(),
            health: Health::default(),
            next_evaluation_ms: now_ms,
            evaluating: false,
            max_alerts,
            skip_blocks: HashSet::new(),
            skip_until_ms: 0,
        }
    }

    /// A new group: its window shaped by the rule's aggregation (PromQL rules keep none,
    /// log rules count records instead).
    fn new_tracked(&self, group: Labels) -> Tracked {
        match &self.rule.kind {
            RuleKind::Threshold { aggregation, .. } => {
                Tracked::new(group, GroupWindow::for_aggregation(*aggregation), None)
            }
            RuleKind::Promql { .. } => Tracked::new(group, GroupWindow::default(), None),
            RuleKind::Log { window_ms, .. } => Tracked::new(
                group,
                GroupWindow::default(),
                Some(RecordWindow {
                    counts: CountWindow::for_window(*window_ms),
                    lines: VecDeque::new(),
                }),
            ),
        }
    }

    /// The group of `key`, made if new; `None` at the rule's alert limit.
    fn group_entry(&mut self, key: u64, group: impl FnOnce() -> Labels) -> Option<&mut Tracked> {
        if !self.alerts.contains_key(&key) {
            if self.alerts.len() >= self.max_alerts {
                self.health.last_error = Some(format!(
                    "more than {} groups; new groups are not evaluated \
                     (TIDEWATCH_ALERT_MAX_INSTANCES_PER_RULE)",
                    self.max_alerts
                ));
                return None;
            }
            let tracked = self.new_tracked(group());
            self.alerts.insert(key, tracked);
        }
        self.alerts.get_mut(&key)
    }

    /// Restores an alert from its stored row (after a restart).
    pub fn restore(&mut self, record: &AlertInstanceRecord, group: Labels) {
        let key = group.fingerprint();
        let mut tracked = self.new_tracked(group);
        tracked.id = record.id;
        tracked.fingerprint = record.fingerprint.clone();
        tracked.fired_at_ms = record.fired_at_ms;
        tracked.instance = Instance::restore(crate::alerting::StoredInstance {
            state: record.state,
            severity: record.severity,
            active_since_ms: record.active_since_ms,
            cleared_since_ms: record.cleared_since_ms,
            last_data_ms: record.last_data_ms,
            last_value: record.last_value,
            no_data: record.no_data,
            flapping: record.flapping,
        });
        self.alerts.insert(key, tracked);
    }

    /// Adds a series' samples to its group's window; answers the group's key, or `None`
    /// when the rule does not select the series (or is at its alert limit). `series_key`
    /// is the series' fingerprint (computed once per series by the caller, whatever the
    /// number of rules). The group's label set is only built for a new group.
    pub fn offer(&mut self, series: &Labels, series_key: u64, samples: &[Sample]) -> Option<u64> {
        let RuleKind::Threshold { group_by, .. } = &self.rule.kind else {
            return None;
        };
        if !self.selection.as_ref()?.matches(series) {
            return None;
        }
        let in_group = |l: &crate::domain::metrics::Label| group_by.contains(&l.name);
        let key = series.fingerprint_of(in_group);
        // The group's labels are built only for a new group.
        let group = (!self.alerts.contains_key(&key)).then(|| series.filtered(in_group));
        let tracked = self.group_entry(key, || group.unwrap_or_default())?;
        tracked.window.push(series_key, samples.iter().copied());
        Some(key)
    }

    /// Counts committed log records (of block `block_id`) that match a log rule into
    /// their groups; answers the groups' keys. Records older than the window are left
    /// out; a record stamped ahead of the clock counts as now.
    pub fn offer_records(&mut self, block_id: i64, records: &[LogRecord], now_ms: i64) -> Vec<u64> {
        let RuleKind::Log {
            query,
            window_ms,
            group_by,
            ..
        } = &self.rule.kind
        else {
            return Vec::new();
        };
        if now_ms <= self.skip_until_ms && self.skip_blocks.contains(&block_id) {
            return Vec::new();
        }
        let since = now_ms - window_ms;
        // Matched first (the query and groups borrow the rule), counted after.
        let mut matched: Vec<(u64, Labels, i64, &LogRecord)> = Vec::new();
        for record in records {
            let at_ms = record.timestamp_ns.div_euclid(1_000_000).min(now_ms);
            if at_ms < since || !query.matches(record) {
                continue;
            }
            let group = Labels::from_pairs(crate::logquery::group_of(record, group_by));
            matched.push((group.fingerprint(), group, at_ms, record));
        }
        let mut keys = Vec::new();
        for (key, group, at_ms, record) in matched {
            let Some(tracked) = self.group_entry(key, || group) else {
                continue;
            };
            if let Some(window) = &mut tracked.records {
                window.counts.add(at_ms, 1);
                window.note_line(at_ms, || {
                    alert_line(record.timestamp_ns, record.level, &record.message)
                });
            }
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// A log rule's window as rebuilt from the store (after a restart or a change);
    /// answers the groups' keys, to evaluate as fresh (their counts are new to them).
    pub fn rebuild_records(&mut self, window: MatchedWindow, now_ms: i64) -> Vec<u64> {
        let mut keys = Vec::with_capacity(window.groups.len());
        for matched in window.groups {
            let group = Labels::from_pairs(matched.group);
            let key = group.fingerprint();
            let Some(tracked) = self.group_entry(key, || group) else {
                continue;
            };
            keys.push(key);
            if let Some(records) = &mut tracked.records {
                for (second_ms, count) in matched.per_second {
                    records.counts.add(second_ms.min(now_ms), count);
                }
                for (at_ms, line) in matched.newest {
                    records.note_line(at_ms, || line);
                }
            }
        }
        self.skip_blocks = window.blocks.into_iter().collect();
        self.skip_until_ms = now_ms + SKIP_BLOCKS_FOR_MS;
        keys
    }

    /// Re-evaluates threshold groups: `fresh` ones just received samples; the others see
    /// time pass (windows slide, `for` and no-data run out).
    pub fn evaluate_threshold(
        &mut self,
        fresh: &[u64],
        everything: bool,
        now_ms: i64,
        out: &mut Vec<Outgoing>,
    ) {
        let started = std::time::Instant::now();
        let (measure, window_ms, levels) = match &self.rule.kind {
            RuleKind::Threshold {
                aggregation,
                window_ms,
                levels,
                ..
            } => (Measure::Samples(*aggregation), window_ms, levels),
            RuleKind::Log {
                aggregation,
                window_ms,
                levels,
                ..
            } => (Measure::Records(*aggregation), window_ms, levels),
            RuleKind::Promql { .. } => return,
        };
        if now_ms > self.skip_until_ms && !self.skip_blocks.is_empty() {
            self.skip_blocks = HashSet::new();
        }
        let policy = self.rule.lifecycle;
        let since = now_ms - window_ms;
        // Streamed samples evaluate only their groups (all fresh); the tick evaluates all,
        // none of them fresh unless the caller says so.
        let fresh_set: HashSet<u64> = if everything {
            fresh.iter().copied().collect()
        } else {
            HashSet::new()
        };
        let keys: Vec<u64> = if everything {
            self.alerts.keys().copied().collect()
        } else {
            fresh.to_vec()
        };
        for key in keys {
            let Some(tracked) = self.alerts.get_mut(&key) else {
                continue;
            };
            let (slid, empty) = match &mut tracked.records {
                Some(records) => (records.counts.prune(since) > 0, records.counts.is_empty()),
                None => (tracked.window.prune(since) > 0, tracked.window.is_empty()),
            };
            let is_fresh = !everything || fresh_set.contains(&key);
            let before = tracked.instance.state;
            // Nothing arrived and nothing slid out: the value is what it was, only time
            // moved (`for`, `keep_firing_for`, no-data).
            let value = (is_fresh || slid || empty).then(|| match measure {
                Measure::Samples(aggregation) => {
                    tracked.window.aggregate(aggregation, since, *window_ms)
                }
                // No records is a count of zero, not missing data.
                Measure::Records(aggregation) => {
                    let count = tracked.records.as_ref().map_or(0, |r| r.counts.count()) as f64;
                    Some(match aggregation {
                        LogAggregation::Count => count,
                        LogAggregation::Rate => count / (*window_ms as f64 / 1000.0),
                    })
                }
            });
            let transitions = match value {
                None => tracked.instance.tick(&policy, now_ms),
                Some(Some(value)) if is_fresh => {
                    tracked
                        .instance
                        .observe(&policy, threshold_verdict(levels, value), now_ms)
                }
                Some(Some(value)) => {
                    tracked.instance.revise(threshold_verdict(levels, value));
                    tracked.instance.tick(&policy, now_ms)
                }
                Some(None) => {
                    // An empty window is a cleared condition, unless the rule watches for
                    // missing data: then no-data decides, after `no_data_after`.
                    if policy.no_data_after_ms.is_none() {
                        tracked.instance.revise(Verdict {
                            value: f64::NAN,
                            ..Verdict::default()
                        });
                    }
                    tracked.instance.tick(&policy, now_ms)
                }
            };
            if let Some(outgoing) =
                record(&self.id, &self.rule, tracked, before, transitions, now_ms)
            {
                out.push(outgoing);
            }
        }
        // Quiet, inactive groups cost nothing: forget them (their row stays inactive). Once
        // per tick is enough: a streamed evaluation has just added samples to its groups.
        if everything {
            self.alerts
                .retain(|_, t| t.instance.state != AlertState::Inactive || t.holds_data());
        }
        self.health.last_evaluation_ms = Some(now_ms);
        self.health.evaluation_seconds = started.elapsed().as_secs_f64();
    }

    /// Applies a PromQL rule's result: each series is an alert (its value `$value`); an
    /// alert whose series is gone has a cleared condition. Over the alert limit, or not
    /// an instant vector, the evaluation fails and nothing changes.
    pub fn apply_promql(
        &mut self,
        result: Result<QueryValue, String>,
        now_ms: i64,
        took_seconds: f64,
        out: &mut Vec<Outgoing>,
    ) {
        self.evaluating = false;
        self.health.last_evaluation_ms = Some(now_ms);
        self.health.evaluation_seconds = took_seconds;
        let samples = match result {
            Ok(QueryValue::Vector(samples)) => samples,
            Ok(QueryValue::Scalar { .. } | QueryValue::String { .. } | QueryValue::Matrix(_)) => {
                self.health.last_error = Some("the expression must give an instant vector".into());
                return;
            }
            Err(e) => {
                self.health.last_error = Some(e);
                return;
            }
        };
        if samples.len() > self.max_alerts {
            self.health.last_error = Some(format!(
                "the expression gave {} series, more than the {} alerts a rule may have \
                 (TIDEWATCH_ALERT_MAX_INSTANCES_PER_RULE); nothing was changed",
                samples.len(),
                self.max_alerts
            ));
            return;
        }
        self.health.last_error = None;
        let severity = self
            .rule
            .labels
            .get("severity")
            .and_then(|s| Severity::parse(s))
            .unwrap_or(Severity::Warning);
        let policy = self.rule.lifecycle;
        let mut seen = Vec::with_capacity(samples.len());
        for sample in samples {
            let group = sample.labels.without_name();
            let key = group.fingerprint();
            seen.push(key);
            let tracked = self
                .alerts
                .entry(key)
                .or_insert_with(|| Tracked::new(group, GroupWindow::default(), None));
            let before = tracked.instance.state;
            let verdict = Verdict {
                raising: Some(severity),
                keeping: Some(severity),
                value: sample.value,
            };
            let transitions = tracked.instance.observe(&policy, verdict, now_ms);
            if let Some(outgoing) =
                record(&self.id, &self.rule, tracked, before, transitions, now_ms)
            {
                out.push(outgoing);
            }
        }
        for (key, tracked) in self.alerts.iter_mut() {
            if seen.contains(key) {
                continue;
            }
            let before = tracked.instance.state;
            let transitions = tracked.instance.observe(
                &policy,
                Verdict {
                    value: f64::NAN,
                    ..Verdict::default()
                },
                now_ms,
            );
            if let Some(outgoing) =
                record(&self.id, &self.rule, tracked, before, transitions, now_ms)
            {
                out.push(outgoing);
            }
        }
        self.alerts
            .retain(|key, t| t.instance.state != AlertState::Inactive || seen.contains(key));
    }

    /// Every active alert ends: the rule was disabled or changed kind.
    pub fn resolve_all(&mut self, now_ms: i64, out: &mut Vec<Outgoing>) {
        for tracked in self.alerts.values_mut() {
            let before = tracked.instance.state;
            if before == AlertState::Inactive {
                continue;
            }
            let transition = if before == AlertState::Firing {
                Transition::Resolved
            } else {
                Transition::Cancelled
            };
            tracked.instance = Instance::default();
            if let Some(outgoing) = record(
                &self.id,
                &self.rule,
                tracked,
                before,
                vec![transition],
                now_ms,
            ) {
                out.push(outgoing);
            }
        }
        self.alerts.clear();
    }
}

/// The alert's labels: its group's, then the rule's (which win), `alertname`, and the
/// current `severity` of a threshold alert.
pub fn alert_labels(rule: &Rule, tracked: &Tracked) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = tracked
        .group
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    labels.extend(rule.labels.clone());
    labels.insert("alertname".into(), rule.name.clone());
    if let (RuleKind::Threshold { .. } | RuleKind::Log { .. }, Some(severity)) =
        (&rule.kind, tracked.instance.severity)
    {
        labels.insert("severity".into(), severity.as_str().into());
    }
    labels
}

/// The change to write for an alert's transitions, if it made any. An alert that became
/// active just now gets a new id: the same group firing again is a new alert.
fn record(
    rule_id: &AlertRuleId,
    rule: &Rule,
    tracked: &mut Tracked,
    before: AlertState,
    transitions: Vec<Transition>,
    now_ms: i64,
) -> Option<Outgoing> {
    if transitions.is_empty() {
        return None;
    }
    let new_alert = before == AlertState::Inactive
        && transitions
            .iter()
            .any(|t| matches!(t, Transition::Pending { .. } | Transition::Firing { .. }));
    if new_alert {
        tracked.id = AlertId::generate();
        tracked.fired_at_ms = None;
    }
    if transitions
        .iter()
        .any(|t| matches!(t, Transition::Firing { .. }))
    {
        tracked.fired_at_ms = Some(now_ms);
    }
    let labels = alert_labels(rule, tracked);
    let group: BTreeMap<String, String> = tracked
        .group
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    let stored = tracked.instance.stored();
    let value = stored.last_value.unwrap_or(f64::NAN);
    let change = AlertChange {
        instance: AlertInstanceRecord {
            id: tracked.id,
            rule_id: *rule_id,
            fingerprint: tracked.fingerprint.clone(),
            labels: serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into()),
            group_labels: serde_json::to_string(&group).unwrap_or_else(|_| "{}".into()),
            state: stored.state,
            severity: stored.severity,
            active_since_ms: stored.active_since_ms,
            fired_at_ms: tracked.fired_at_ms,
            cleared_since_ms: stored.cleared_since_ms,
            last_value: stored.last_value,
            last_data_ms: stored.last_data_ms,
            no_data: stored.no_data,
            flapping: stored.flapping,
            acknowledgement: None,
            updated_at_ms: now_ms,
        },
        new_alert,
        rule_deleted: false,
        transitions: transitions
            .iter()
            .map(|t| (t.name(), Some(value)))
            .collect(),
        notifications: Vec::new(),
    };
    Some(Outgoing {
        change,
        rule_name: rule.name.clone(),
        // `$labels` is the group's own labels, without the rule's, as in Prometheus.
        annotations: render_annotations(&rule.annotations, &group, value),
        channels: rule.channels.clone(),
        notify_timings: rule.notify_timings,
        labels,
        transitions,
        value,
        at_ms: now_ms,
        log_lines: tracked
            .records
            .as_ref()
            .map(|r| r.lines.iter().map(|(_, line)| line.clone()).collect())
            .unwrap_or_default(),
    })
}
