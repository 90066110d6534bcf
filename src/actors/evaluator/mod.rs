//! The per-tenant alert evaluator, a child of the tenant supervisor.
//!
//! - **Streaming**: the aggregator offers it every batch it applies; the samples of series
//!   a threshold rule selects (rules are indexed by metric name) go into their group's
//!   window and the group is evaluated at once. The log pipeline offers it every committed
//!   log block the same way: records matching a log rule's query are counted into their
//!   group's window (with the newest lines, for the notification).
//! - **Time**: a 1 s tick slides windows, runs out `for`, `keep_firing_for` and no-data,
//!   and runs PromQL rules whose interval is due (through [`AlertData`], on the query
//!   threads).
//! - **Durable before handed on**: every transition is written (`alert_instances`,
//!   `alert_events`, and the `notification_outbox` rows routing decided for it, in one
//!   transaction) before it is sent to subscribers as an [`AlertTransition`]; writes
//!   are serial and retried, so history keeps its order.
//! - **Restart**: rules and alerts are loaded from the store and windows rebuilt from
//!   stored samples before evaluation resumes; an alert still firing stays firing with no
//!   new transition.
//! - **`ALERTS`**: active alerts are written as the `ALERTS` and `ALERTS_FOR_STATE`
//!   series (at each transition and every 15 s, staleness markers when one ends), as
//!   Prometheus does, so PromQL can chart them.

pub mod preview;
mod rules;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, MessageResult,
    Recipient, WrapFuture,
};
use futures_util::future::BoxFuture;

use super::aggregator::AppliedBatch;
use super::log_pipeline::LogsCommitted;
use crate::alerting::rule::{Rule, RuleDraft, RuleKind, LOG_LINES_KEPT};
use crate::alerting::{AlertState, Severity, Transition};
use crate::domain::logs::MatchedWindow;
use crate::domain::metrics::{Labels, MetricBatch, Sample, SeriesSamples};
use crate::domain::time::SharedClock;
use crate::domain::{AlertId, AlertRuleId, TenantId};
use crate::notify::routing::Routing;
use crate::promql::{stale_nan, ExpressionLimits, QueryValue};
use crate::store::alerts::{AlertInstanceRecord, AlertRuleRecord};
use crate::store::{Store, StoreError};
pub use rules::Health;
use rules::{alert_labels, pinned_metric, plan_notifications, Outgoing, RuleRuntime};

/// How the evaluator reads PromQL and writes the `ALERTS` series. The metrics layer
/// implements it (`metrics::AlertDataAccess`); the actor layer may not import that layer,
/// so it is handed in through [`AlertDataSlot`] once the reader and writer exist.
pub trait AlertData: Send + Sync + 'static {
    /// An instant query for `tenant` at `time_ms`, within the rule evaluation timeout.
    fn instant(
        &self,
        tenant: TenantId,
        query: String,
        time_ms: i64,
    ) -> BoxFuture<'static, Result<QueryValue, String>>;

    /// Stores samples for `tenant` as ingest does (durable when it answers).
    fn write(
        &self,
        tenant: TenantId,
        batch: MetricBatch,
    ) -> BoxFuture<'static, Result<usize, String>>;

    /// The stored log records of `[start_ms, end_ms]` matching `query`, per group of the
    /// `group_by` names, with each group's newest `lines`: a log rule's window rebuilt.
    fn log_window(
        &self,
        tenant: TenantId,
        query: String,
        group_by: Vec<String>,
        start_ms: i64,
        end_ms: i64,
        lines: usize,
    ) -> BoxFuture<'static, Result<MatchedWindow, String>>;
}

/// Set once at start-up, after the metrics reader and writer are built (they need the
/// tenant registry, which needs the services this is part of).
pub type AlertDataSlot = Arc<OnceLock<Arc<dyn AlertData>>>;

/// The evaluator's policies.
#[derive(Debug, Clone, Copy)]
pub struct EvaluatorConfig {
    pub max_alerts_per_rule: usize,
    pub expression: ExpressionLimits,
}

impl Default for EvaluatorConfig {
    fn default() -> Self {
        Self {
            max_alerts_per_rule: 1000,
            expression: ExpressionLimits::default(),
        }
    }
}

const TICK: Duration = Duration::from_secs(1);
/// The most one tick spends on threshold rules, so the evaluator's mailbox (applied
/// batches) is never held for long.
const TICK_BUDGET: Duration = Duration::from_millis(200);
const ALERTS_SERIES_EVERY_MS: i64 = 15_000;
/// Applied batches held while rules load; past it, the windows are rebuilt again.
const MAX_BUFFERED_BATCHES: usize = 1024;
const MAILBOX_CAPACITY: usize = 16_384;

/// One transition, after it was written: what the notifier (and live views) receive.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct AlertTransition {
    pub tenant: TenantId,
    pub rule_id: AlertRuleId,
    pub rule_name: String,
    pub alert_id: AlertId,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations, rendered for this alert and value.
    pub annotations: BTreeMap<String, String>,
    pub channels: Vec<String>,
    pub transition: Transition,
    /// The alert's state after the transition.
    pub state: AlertState,
    pub severity: Option<Severity>,
    pub value: f64,
    pub at_ms: i64,
}

/// A rule's health and its alerts' latest values, for `/api/v1/rules` and `/api/v1/alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStatus {
    pub rule_id: AlertRuleId,
    /// `ok`, `err` or `unknown` (not evaluated yet), as Prometheus says.
    pub health: &'static str,
    pub last_error: Option<String>,
    pub last_evaluation_ms: Option<i64>,
    pub evaluation_seconds: f64,
    pub values: HashMap<AlertId, f64>,
}

/// A rule the evaluator could not run (its stored definition no longer validates).
#[derive(Debug, Clone)]
struct BrokenRule {
    error: String,
}

/// One stored rule as loaded: the record, its validation, and (threshold rules that
/// changed) the samples that rebuild its windows.
struct LoadedRule {
    record: AlertRuleRecord,
    rule: Result<Rule, String>,
    window: Option<Result<QueryValue, String>>,
    /// Log rules that changed: their records in the window.
    log_window: Option<Result<MatchedWindow, String>>,
}

/// What arrived while rules loaded, applied once they are installed.
enum Buffered {
    Metrics(Arc<MetricBatch>),
    Logs(LogsCommitted),
}

/// What a load read from the store (and the rebuilt windows).
struct Loaded {
    rules: Vec<LoadedRule>,
    instances: Vec<AlertInstanceRecord>,
    routing: Routing,
}

pub struct AlertEvaluator {
    tenant: TenantId,
    store: Store,
    clock: SharedClock,
    data: AlertDataSlot,
    config: EvaluatorConfig,
    rules: HashMap<AlertRuleId, RuleRuntime>,
    broken: HashMap<AlertRuleId, BrokenRule>,
    by_metric: HashMap<String, Vec<AlertRuleId>>,
    any_metric: Vec<AlertRuleId>,
    log_rules: Vec<AlertRuleId>,
    /// The order ticks visit rules in, and where the last tick stopped.
    tick_order: Vec<AlertRuleId>,
    tick_cursor: usize,
    /// `Some` while rules load: batches applied (and log blocks committed) meanwhile,
    /// replayed after.
    loading: Option<Vec<Buffered>>,
    reload_again: bool,
    outbox: VecDeque<Outgoing>,
    writing: bool,
    /// Who hears of transitions: decided as each is queued, written with it.
    routing: Routing,
    subscribers: Vec<Recipient<AlertTransition>>,
    /// `ALERTS` series written last time, to end with a staleness marker when they stop.
    alerts_series: HashSet<Labels>,
    alerts_written_ms: i64,
    /// Tells the registry not to stop this tenant for idleness while it has rules.
    watching: Arc<AtomicBool>,
}

impl AlertEvaluator {
    pub fn new(
        tenant: TenantId,
        store: Store,
        clock: SharedClock,
        data: AlertDataSlot,
        config: EvaluatorConfig,
        watching: Arc<AtomicBool>,
    ) -> Self {
        Self {
            tenant,
            store,
            clock,
            data,
            config,
            rules: HashMap::new(),
            broken: HashMap::new(),
            by_metric: HashMap::new(),
            any_metric: Vec::new(),
            log_rules: Vec::new(),
            tick_order: Vec::new(),
            tick_cursor: 0,
            loading: None,
            reload_again: false,
            outbox: VecDeque::new(),
            writing: false,
            routing: Routing::default(),
            subscribers: Vec::new(),
            alerts_series: HashSet::new(),
            alerts_written_ms: 0,
            watching,
        }
    }

    fn data(&self) -> Option<Arc<dyn AlertData>> {
        self.data.get().cloned()
    }

    /// Loads rules and alerts from the store, rebuilding changed rules' windows.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        if self.loading.is_some() {
            self.reload_again = true;
            return;
        }
        self.loading = Some(Vec::new());
        let (store, tenant, data) = (self.store.clone(), self.tenant, self.data());
        let limits = self.config.expression;
        let now_ms = self.clock.now_ms();
        let running: HashMap<AlertRuleId, i64> = self
            .rules
            .iter()
            .map(|(id, rt)| (*id, rt.updated_at_ms))
            .collect();
        let load = async move {
            let records = store.list_alert_rules(tenant).await?;
            let instances = store.alert_instances(tenant, None, false).await?;
            let mut rules = Vec::with_capacity(records.len());
            for record in records {
                let rule = serde_json::from_str::<serde_json::Value>(&record.definition)
                    .map_err(|e| e.to_string())
                    .and_then(|body| RuleDraft::from_json(&body).map_err(|e| e.to_string()))
                    .and_then(|draft| draft.validate(&limits).map_err(|e| e.to_string()));
                let unchanged = running.get(&record.id) == Some(&record.updated_at_ms);
                let window = match (&rule, &data) {
                    (Ok(rule), Some(data)) if record.enabled && !unchanged => {
                        match window_query(rule) {
                            Some(query) => Some(data.instant(tenant, query, now_ms).await),
                            None => None,
                        }
                    }
                    _ => None,
                };
                let log_window = match (&rule, &data) {
                    (
                        Ok(Rule {
                            kind:
                                RuleKind::Log {
                                    query_text,
                                    window_ms,
                                    group_by,
                                    ..
                                },
                            ..
                        }),
                        Some(data),
                    ) if record.enabled && !unchanged => Some(
                        data.log_window(
                            tenant,
                            query_text.clone(),
                            group_by.clone(),
                            now_ms - window_ms,
                            // Records stamped ahead of the clock count too, as when
                            // streamed (as now).
                            i64::MAX / 1_000_000,
                            LOG_LINES_KEPT,
                        )
                        .await,
                    ),
                    _ => None,
                };
                rules.push(LoadedRule {
                    record,
                    rule,
                    window,
                    log_window,
                });
            }
            let routing = store.notification_routing(tenant).await?;
            Ok::<_, StoreError>(Loaded {
                rules,
                instances,
                routing,
            })
        };
        ctx.spawn(load.into_actor(self).map(|loaded, act, ctx| {
            match loaded {
                Ok(loaded) => act.install(loaded, ctx),
                Err(e) => {
                    tracing::warn!(tenant = %act.tenant, error = %e, "loading alert rules failed; retrying");
                    act.loading = None;
                    act.reload_again = true;
                }
            }
            if std::mem::take(&mut act.reload_again) {
                act.reload(ctx);
            }
        }));
    }

    fn install(&mut self, loaded: Loaded, ctx: &mut Context<Self>) {
        let now_ms = self.clock.now_ms();
        self.routing = loaded.routing;
        let mut previous = std::mem::take(&mut self.rules);
        self.broken.clear();
        let mut out = Vec::new();
        let mut stored: HashMap<AlertRuleId, Vec<AlertInstanceRecord>> = HashMap::new();
        for instance in loaded.instances {
            stored.entry(instance.rule_id).or_default().push(instance);
        }
        for LoadedRule {
            record,
            rule,
            window,
            log_window,
        } in loaded.rules
        {
            let rule = match rule {
                Ok(rule) => rule,
                Err(error) => {
                    self.broken.insert(record.id, BrokenRule { error });
                    continue;
                }
            };
            // Log groups whose counts were just read back: evaluated as fresh.
            let mut rebuilt = Vec::new();
            let kept = previous
                .remove(&record.id)
                .filter(|rt| rt.updated_at_ms == record.updated_at_ms);
            let mut runtime = match kept {
                Some(runtime) => runtime,
                None => {
                    let mut runtime = RuleRuntime::new(
                        record.id,
                        record.updated_at_ms,
                        rule,
                        self.config.max_alerts_per_rule,
                        now_ms,
                    );
                    for instance in stored.remove(&record.id).unwrap_or_default() {
                        let group: BTreeMap<String, String> =
                            serde_json::from_str(&instance.group_labels).unwrap_or_default();
                        runtime.restore(&instance, Labels::from_pairs(group));
                    }
                    match window {
                        Some(Ok(QueryValue::Matrix(series))) => {
                            for s in series {
                                if let Some(key) =
                                    runtime.offer(&s.labels, s.labels.fingerprint(), &s.samples)
                                {
                                    if let (Some(t), Some(last)) =
                                        (runtime.alerts.get_mut(&key), s.samples.last())
                                    {
                                        t.instance.note_data(last.timestamp_ms);
                                    }
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => runtime.health.last_error = Some(e),
                        None => {}
                    }
                    match log_window {
                        Some(Ok(matched)) => rebuilt = runtime.rebuild_records(matched, now_ms),
                        Some(Err(e)) => runtime.health.last_error = Some(e),
                        None => {}
                    }
                    runtime
                }
            };
            if !record.enabled {
                runtime.resolve_all(now_ms, &mut out);
                continue;
            }
            if matches!(
                runtime.rule.kind,
                RuleKind::Threshold { .. } | RuleKind::Log { .. }
            ) {
                runtime.evaluate_threshold(&rebuilt, true, now_ms, &mut out);
            }
            self.rules.insert(record.id, runtime);
        }
        // Rules deleted since the last load: their alerts end, recorded and handed on like
        // any other (the rows went with the rule).
        for (_, mut removed) in previous {
            let mut ended = Vec::new();
            removed.resolve_all(now_ms, &mut ended);
            for outgoing in &mut ended {
                outgoing.change.rule_deleted = true;
            }
            out.extend(ended);
        }
        self.index();
        self.watching
            .store(!self.rules.is_empty(), Ordering::Relaxed);
        self.queue(out, ctx);
        let buffered = self.loading.take().unwrap_or_default();
        for arrived in buffered {
            match arrived {
                Buffered::Metrics(batch) => self.apply(&batch, ctx),
                Buffered::Logs(committed) => self.apply_logs(&committed, ctx),
            }
        }
    }

    fn index(&mut self) {
        self.tick_order = self.rules.keys().copied().collect();
        self.tick_order.sort();
        self.tick_cursor = 0;
        self.by_metric.clear();
        self.any_metric.clear();
        self.log_rules.clear();
        for (id, runtime) in &self.rules {
            if matches!(runtime.rule.kind, RuleKind::Log { .. }) {
                self.log_rules.push(*id);
                continue;
            }
            if !matches!(runtime.rule.kind, RuleKind::Threshold { .. }) {
                continue;
            }
            match pinned_metric(&runtime.rule) {
                Some(name) => self.by_metric.entry(name).or_default().push(*id),
                None => self.any_metric.push(*id),
            }
        }
    }

    /// Offers an applied batch to the threshold rules that select its series.
    fn apply(&mut self, batch: &MetricBatch, ctx: &mut Context<Self>) {
        if self.rules.is_empty() {
            return;
        }
        let mut touched: HashMap<AlertRuleId, Vec<u64>, foldhash::fast::RandomState> =
            HashMap::default();
        for series in &batch.series {
            let name = series.labels.metric_name().unwrap_or("");
            let named = self.by_metric.get(name).map(Vec::as_slice).unwrap_or(&[]);
            if named.is_empty() && self.any_metric.is_empty() {
                continue;
            }
            let series_key = series.labels.fingerprint();
            for id in named.iter().chain(self.any_metric.iter()) {
                let Some(runtime) = self.rules.get_mut(id) else {
                    continue;
                };
                if let Some(key) = runtime.offer(&series.labels, series_key, &series.samples) {
                    let keys = touched.entry(*id).or_default();
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        }
        if touched.is_empty() {
            return;
        }
        let now_ms = self.clock.now_ms();
        let mut out = Vec::new();
        for (id, keys) in touched {
            if let Some(runtime) = self.rules.get_mut(&id) {
                runtime.evaluate_threshold(&keys, false, now_ms, &mut out);
            }
        }
        self.queue(out, ctx);
    }

    /// Offers a committed log block to the log rules.
    fn apply_logs(&mut self, committed: &LogsCommitted, ctx: &mut Context<Self>) {
        if self.log_rules.is_empty() {
            return;
        }
        let now_ms = self.clock.now_ms();
        let mut out = Vec::new();
        for id in &self.log_rules {
            let Some(runtime) = self.rules.get_mut(id) else {
                continue;
            };
            let keys = runtime.offer_records(committed.block_id, &committed.records, now_ms);
            if !keys.is_empty() {
                runtime.evaluate_threshold(&keys, false, now_ms, &mut out);
            }
        }
        self.queue(out, ctx);
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.loading.is_some() {
            return;
        }
        let now_ms = self.clock.now_ms();
        let mut out = Vec::new();
        let data = self.data();
        let mut due = Vec::new();
        // One tick's threshold work is bounded: past the budget, the remaining rules wait
        // for the next tick, which starts where this one stopped (streamed samples are
        // evaluated as they arrive regardless; the tick only adds what time changes).
        let started = Instant::now();
        let count = self.tick_order.len();
        let mut visited = 0;
        while visited < count {
            if started.elapsed() > TICK_BUDGET {
                tracing::warn!(tenant = %self.tenant, evaluated = visited, rules = count, "alert tick over its budget; the rest wait for the next tick");
                break;
            }
            let id = self.tick_order[(self.tick_cursor + visited) % count];
            visited += 1;
            let Some(runtime) = self.rules.get_mut(&id) else {
                continue;
            };
            match &runtime.rule.kind {
                RuleKind::Threshold { .. } | RuleKind::Log { .. } => {
                    runtime.evaluate_threshold(&[], true, now_ms, &mut out)
                }
                RuleKind::Promql { expr, interval_ms } => {
                    if !runtime.evaluating && now_ms >= runtime.next_evaluation_ms {
                        runtime.evaluating = true;
                        runtime.next_evaluation_ms = now_ms + interval_ms;
                        due.push((runtime.id, expr.to_string()));
                    }
                }
            }
        }
        self.tick_cursor = if count == 0 {
            0
        } else {
            (self.tick_cursor + visited) % count
        };
        if let Some(data) = data {
            for (id, query) in due {
                let started = Instant::now();
                let evaluation = data.instant(self.tenant, query, now_ms);
                ctx.spawn(evaluation.into_actor(self).map(move |result, act, ctx| {
                    let mut out = Vec::new();
                    if let Some(runtime) = act.rules.get_mut(&id) {
                        runtime.apply_promql(
                            result,
                            now_ms,
                            started.elapsed().as_secs_f64(),
                            &mut out,
                        );
                    }
                    act.queue(out, ctx);
                }));
            }
        }
        self.queue(out, ctx);
        if now_ms.saturating_sub(self.alerts_written_ms) >= ALERTS_SERIES_EVERY_MS {
            self.write_alerts_series(ctx);
        }
    }

    fn queue(&mut self, mut out: Vec<Outgoing>, ctx: &mut Context<Self>) {
        for outgoing in &mut out {
            plan_notifications(&self.routing, outgoing);
        }
        self.outbox.extend(out);
        self.flush(ctx);
    }

    /// Writes queued changes (one write at a time, in order), then hands them on.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.outbox.is_empty() {
            return;
        }
        self.writing = true;
        let batch: Vec<Outgoing> = self.outbox.drain(..).collect();
        let changes: Vec<_> = batch.iter().map(|o| o.change.clone()).collect();
        let (store, tenant) = (self.store.clone(), self.tenant);
        let write = async move { store.record_alert_changes(tenant, &changes).await };
        ctx.spawn(write.into_actor(self).map(move |written, act, ctx| {
            act.writing = false;
            match written {
                Ok(()) => {
                    act.hand_on(&batch);
                    act.write_alerts_series(ctx);
                }
                Err(e) => {
                    tracing::warn!(tenant = %act.tenant, error = %e, "recording alert transitions failed; retrying");
                    for outgoing in batch.into_iter().rev() {
                        act.outbox.push_front(outgoing);
                    }
                    ctx.run_later(TICK, |act, ctx| act.flush(ctx));
                    return;
                }
            }
            act.flush(ctx);
        }));
    }

    fn hand_on(&mut self, written: &[Outgoing]) {
        self.subscribers.retain(|s| s.connected());
        if self.subscribers.is_empty() {
            return;
        }
        for outgoing in written {
            for transition in &outgoing.transitions {
                let message = AlertTransition {
                    tenant: self.tenant,
                    rule_id: outgoing.change.instance.rule_id,
                    rule_name: outgoing.rule_name.clone(),
                    alert_id: outgoing.change.instance.id,
                    fingerprint: outgoing.change.instance.fingerprint.clone(),
                    labels: outgoing.labels.clone(),
                    annotations: outgoing.annotations.clone(),
                    channels: outgoing.channels.clone(),
                    transition: *transition,
                    state: outgoing.change.instance.state,
                    severity: outgoing.change.instance.severity,
                    value: outgoing.value,
                    at_ms: outgoing.at_ms,
                };
                for subscriber in &self.subscribers {
                    subscriber.do_send(message.clone());
                }
            }
        }
    }

    /// Writes `ALERTS` / `ALERTS_FOR_STATE` for every active alert, and staleness markers
    /// for series that stopped.
    fn write_alerts_series(&mut self, ctx: &mut Context<Self>) {
        let Some(data) = self.data() else {
            return;
        };
        // Strictly increasing, so a write is never refused as out of order.
        let at_ms = self
            .clock
            .now_ms()
            .max(self.alerts_written_ms.saturating_add(1));
        self.alerts_written_ms = at_ms;
        let mut now_written = HashSet::new();
        let mut series = Vec::new();
        let mut push = |labels: Labels, value: f64| {
            series.push(SeriesSamples {
                labels,
                samples: smallvec::smallvec![Sample {
                    timestamp_ms: at_ms,
                    value
                }],
                origin: Default::default(),
            });
        };
        for runtime in self.rules.values() {
            for tracked in runtime.alerts.values() {
                let state = tracked.instance.state;
                if state == AlertState::Inactive {
                    continue;
                }
                let labels = alert_labels(&runtime.rule, tracked);
                let alerts = Labels::with_name(
                    "ALERTS",
                    labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .chain([("alertstate", state.as_str())]),
                );
                let for_state = Labels::with_name(
                    "ALERTS_FOR_STATE",
                    labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                );
                let since = tracked.instance.active_since_ms.unwrap_or(at_ms) as f64 / 1000.0;
                now_written.insert(alerts.clone());
                now_written.insert(for_state.clone());
                push(alerts, 1.0);
                push(for_state, since);
            }
        }
        for ended in self.alerts_series.difference(&now_written) {
            push(ended.clone(), stale_nan());
        }
        self.alerts_series = now_written;
        if series.is_empty() {
            return;
        }
        let tenant = self.tenant;
        let write = data.write(tenant, MetricBatch { series });
        ctx.spawn(write.into_actor(self).map(move |written, _, _| {
            if let Err(e) = written {
                tracing::warn!(%tenant, error = %e, "writing the ALERTS series failed");
            }
        }));
    }
}

/// A threshold rule's windows are rebuilt by querying its selector over the window.
fn window_query(rule: &Rule) -> Option<String> {
    match &rule.kind {
        RuleKind::Threshold {
            selector,
            window_ms,
            ..
        } => Some(format!("{selector}[{window_ms}ms]")),
        RuleKind::Promql { .. } | RuleKind::Log { .. } => None,
    }
}

impl Actor for AlertEvaluator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.reload(ctx);
        ctx.run_interval(TICK, |act, ctx| act.tick(ctx));
    }
}

impl Handler<AppliedBatch> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, msg: AppliedBatch, ctx: &mut Self::Context) {
        match &mut self.loading {
            Some(buffered) if buffered.len() < MAX_BUFFERED_BATCHES => {
                buffered.push(Buffered::Metrics(msg.batch))
            }
            Some(_) => self.reload_again = true,
            None => self.apply(&msg.batch, ctx),
        }
    }
}

impl Handler<LogsCommitted> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, msg: LogsCommitted, ctx: &mut Self::Context) {
        match &mut self.loading {
            Some(buffered) if buffered.len() < MAX_BUFFERED_BATCHES => {
                buffered.push(Buffered::Logs(msg))
            }
            Some(_) => self.reload_again = true,
            None => self.apply_logs(&msg, ctx),
        }
    }
}

/// Rules changed in the store: load them again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadRules;

impl Handler<ReloadRules> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, _: ReloadRules, ctx: &mut Self::Context) {
        self.reload(ctx);
    }
}

/// Send every transition, once written, to `0`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeTransitions(pub Recipient<AlertTransition>);

impl Handler<SubscribeTransitions> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, msg: SubscribeTransitions, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

/// Each rule's health and its alerts' latest values: of the rules in `only`, or all.
#[derive(Message, Default)]
#[rtype(result = "Vec<RuleStatus>")]
pub struct DescribeRules {
    pub only: Option<HashSet<AlertRuleId>>,
}

impl Handler<DescribeRules> for AlertEvaluator {
    type Result = MessageResult<DescribeRules>;

    fn handle(&mut self, msg: DescribeRules, _: &mut Self::Context) -> Self::Result {
        let wanted = |id: &AlertRuleId| msg.only.as_ref().is_none_or(|only| only.contains(id));
        let mut statuses: Vec<RuleStatus> = self
            .rules
            .values()
            .filter(|runtime| wanted(&runtime.id))
            .map(|runtime| RuleStatus {
                rule_id: runtime.id,
                health: match (
                    &runtime.health.last_error,
                    runtime.health.last_evaluation_ms,
                ) {
                    (Some(_), _) => "err",
                    (None, Some(_)) => "ok",
                    (None, None) => "unknown",
                },
                last_error: runtime.health.last_error.clone(),
                last_evaluation_ms: runtime.health.last_evaluation_ms,
                evaluation_seconds: runtime.health.evaluation_seconds,
                values: runtime
                    .alerts
                    .values()
                    .filter_map(|t| Some((t.id, t.instance.last_value?)))
                    .collect(),
            })
            .collect();
        statuses.extend(
            self.broken
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, broken)| RuleStatus {
                    rule_id: *id,
                    health: "err",
                    last_error: Some(broken.error.clone()),
                    last_evaluation_ms: None,
                    evaluation_seconds: 0.0,
                    values: HashMap::new(),
                }),
        );
        MessageResult(statuses)
    }
}

/// Stop (the tenant is stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopEvaluator;

impl Handler<StopEvaluator> for AlertEvaluator {
    type Result = ();

    fn handle(&mut self, _: StopEvaluator, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
