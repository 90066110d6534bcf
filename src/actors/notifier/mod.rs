//! The per-tenant notifier, a child of the tenant supervisor: it delivers what the
//! evaluator decided and wrote to `notification_outbox`.
//!
//! - **Wake-ups**: every written transition (it subscribes to the evaluator), with Redis
//!   another replica's wake-up, and a poll (`TIDEWATCH_NOTIFY_POLL_MS`) make it read the
//!   tenant's open rows; rows are the truth, messages only say "look now", so nothing
//!   depends on a message arriving.
//! - **Replicas** (`replicas.rs`): with Redis only the replica holding the tenant's lease
//!   delivers; the others wake it.
//! - **Groups**: rows of one (channel, group) go out as one message, after `group_wait`
//!   for a new group and at most every `group_interval` after; each message carries the
//!   group's other firing alerts, as Alertmanager's do. Still-firing groups are notified
//!   again every `repeat_interval`, except alerts someone acknowledged.
//! - **Claims**: rows are claimed (`sending`, until a deadline) before the send and
//!   finished after; a crash in between leaves them claimed until the deadline, then they
//!   are sent again with the same `Idempotency-Key`.
//! - **Silences, inhibition and mute timings**: applied when a group is sent; a held-back
//!   alert's rows are recorded as `silenced` (with the silence's id, or the alert that
//!   inhibits it) or `muted` (with the timing) and
//!   left out of the message; the alert stays in its group, so a later message or repeat
//!   carries it once nothing holds it back.
//! - **Posted alerts** (the Alertmanager API) past their `endsAt` are resolved here, every
//!   2 s, and routed like any other resolution.
//! - **Failures**: a timeout per attempt, exponential backoff with jitter, `Retry-After`,
//!   dead letters for refusals and after the last attempt. Sends run concurrently, at
//!   most a few per channel, so a slow channel never holds back another.

pub mod replicas;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, SpawnHandle,
    WrapFuture,
};

use super::evaluator::AlertTransition;
use crate::channels::{self, DeliveryError, ProviderAnswer, SendContext};
use crate::domain::time::SharedClock;
use crate::domain::{ChannelId, NotificationId, TenantId};
use crate::notify::delivery::{after_delivery, due_ms, message_alerts, RetryPolicy};
use crate::notify::inhibit::{inhibited_by, InhibitRule};
use crate::notify::message::{AlertStatus, Notification, NotifiedAlert};
use crate::notify::mute::MuteTiming;
use crate::notify::policy::Timings;
use crate::notify::rate::TokenBucket;
use crate::notify::silence::Silence;
use crate::store::notifications::{
    ChannelRecord, DeliveryOutcome, NotificationRecord, NotificationStatus, OutboxDraft,
};
use crate::store::silences::SilenceRecord;
use crate::store::{Store, StoreError};
use replicas::{Replicas, Wake, RENEW_EVERY};

/// How delivery behaves; one for the process.
#[derive(Clone)]
pub struct NotifierConfig {
    pub send: SendContext,
    pub retry: RetryPolicy,
    /// Sends in flight per channel.
    pub per_channel: usize,
    /// Where links in messages point (`TIDEWATCH_EXTERNAL_URL`).
    pub external_url: String,
    /// Messages per minute for all of a tenant's channels together.
    pub tenant_per_minute: u32,
    /// Messages per minute for a channel without its own `max_per_minute`.
    pub channel_per_minute: u32,
    /// How often the outbox is read without a wake-up (`TIDEWATCH_NOTIFY_POLL_MS`).
    pub poll: Duration,
    /// With `REDIS_URL`: the lease that picks one delivering replica per tenant, and the
    /// wake-ups between replicas.
    pub replicas: Option<Arc<Replicas>>,
}

impl NotifierConfig {
    /// A channel's limit: its own, else the default (SMS, which costs money per message
    /// and wakes people, a sixth of it).
    pub fn channel_limit(&self, channel: &ChannelRecord) -> u32 {
        channel.max_per_minute.unwrap_or(if channel.kind == "sms" {
            (self.channel_per_minute / 6).max(1)
        } else {
            self.channel_per_minute
        })
    }
}

impl NotifierConfig {
    pub fn from_config(config: &crate::config::Config, redis: Option<redis::Client>) -> Self {
        Self {
            send: SendContext::new(
                channels::SmtpSettings {
                    url: config.smtp_url.clone(),
                    from: config.smtp_from.clone(),
                },
                Duration::from_secs(config.notify_timeout_secs),
            ),
            retry: RetryPolicy {
                max_attempts: config.notify_max_attempts,
                base_ms: 1_000,
                max_ms: config.notify_backoff_max_secs as i64 * 1_000,
            },
            per_channel: config.notify_channel_concurrency,
            external_url: config
                .external_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.bind)),
            tenant_per_minute: config.notify_tenant_max_per_minute,
            channel_per_minute: config.notify_channel_max_per_minute,
            poll: Duration::from_millis(config.notify_poll_ms),
            replicas: redis.map(|client| Arc::new(Replicas::new(client))),
        }
    }
}

const TICK: Duration = Duration::from_secs(1);
/// How often posted alerts past their `endsAt` are resolved.
const SWEEP: Duration = Duration::from_secs(2);
/// Open rows read per pass; more wait for the next.
const SCAN_LIMIT: u64 = 5_000;
/// A claim outlives the attempt's timeout by this much before another worker may take it.
const CLAIM_MARGIN_MS: i64 = 5_000;
/// How far back a restart looks for each group's last message.
const HISTORY_MS: i64 = 7 * 24 * 3_600_000;

/// What delivery reads besides the rows, cached between sends: reloaded when an API
/// write says so (`ConfigChanged`) and at least every `CONFIG_TTL`.
struct DeliveryConfig {
    channels: HashMap<ChannelId, ChannelRecord>,
    silences: Vec<Silence>,
    timings: BTreeMap<String, MuteTiming>,
    inhibit_rules: Vec<InhibitRule>,
    loaded: Instant,
}

impl DeliveryConfig {
    async fn load(store: &Store, tenant: TenantId, now_ms: i64) -> Result<Self, StoreError> {
        Ok(Self {
            channels: store
                .list_channels(tenant)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect(),
            silences: store
                .list_silences(tenant, Some(now_ms))
                .await?
                .iter()
                .map(SilenceRecord::silence)
                .collect(),
            timings: store
                .list_mute_timings(tenant)
                .await?
                .into_iter()
                .map(|t| (t.name, t.timing))
                .collect(),
            inhibit_rules: store
                .list_inhibit_rules(tenant)
                .await?
                .into_iter()
                .map(|r| r.rule)
                .collect(),
            loaded: Instant::now(),
        })
    }
}

/// A cached configuration is read again after this long even without a change message.
const CONFIG_TTL: Duration = Duration::from_secs(5);

/// One (channel, group) as delivery knows it.
#[derive(Default)]
struct Group {
    last_sent_ms: Option<i64>,
    /// Alerts last notified as firing and not yet as resolved, by fingerprint.
    active: BTreeMap<String, NotifiedAlert>,
    group_labels: BTreeMap<String, String>,
    timings: Timings,
    mute_timings: Vec<String>,
    active_timings: Vec<String>,
    sending: bool,
    /// Firing alerts held back whose current state no message carried yet, by
    /// fingerprint; `true` when a silence or mute timing held it (released once that is
    /// over), `false` when inhibited (carried by the group's next message).
    held: BTreeMap<String, bool>,
    /// `Notifier::finished` when this group's last send or throttle was recorded: a scan
    /// that began before then read its rows as they were before, and leaves it alone.
    finished_seq: u64,
}

type GroupKey = (ChannelId, String);

impl Group {
    /// A row the notifier queues itself (a repeat, a released alert) for this group.
    fn draft(&self, channel_id: ChannelId, group_key: &str, alert: NotifiedAlert) -> OutboxDraft {
        OutboxDraft {
            channel_id,
            group_key: group_key.to_owned(),
            group_labels: self.group_labels.clone(),
            alert,
            timings: self.timings,
            mute_timings: self.mute_timings.clone(),
            active_timings: self.active_timings.clone(),
            transition_index: 0,
        }
    }
}

/// Whether this replica delivers the tenant's notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lease {
    /// No Redis, or Redis cannot be reached: deliver (nothing is lost; PostgreSQL's row
    /// claims keep replicas from sending one row twice).
    Alone,
    /// This replica holds the tenant's lease.
    Held,
    /// Another replica holds it, or it has not been asked for yet.
    Elsewhere,
}

pub struct Notifier {
    tenant: TenantId,
    store: Store,
    clock: SharedClock,
    config: Arc<NotifierConfig>,
    groups: HashMap<GroupKey, Group>,
    in_flight: HashMap<ChannelId, usize>,
    /// Restored from history before the first pass.
    ready: bool,
    scanning: bool,
    scan_again: bool,
    /// Counts recorded sends and throttles (see `Group::finished_seq`).
    finished: u64,
    /// `finished` when a group was last forgotten (its alerts all over): a scan read
    /// before then may hold its sent rows as open, so it creates no group.
    forgotten_seq: u64,
    wake: Option<(i64, SpawnHandle)>,
    lease: Lease,
    renewing: bool,
    /// Set while the tenant has undelivered rows or firing posted alerts, so the registry
    /// does not stop it for idleness.
    watching: Arc<AtomicBool>,
    sweeping: bool,
    busy_rows: bool,
    firing_posted: bool,
    settings: Option<Arc<DeliveryConfig>>,
    /// Rate limits; full again after a restart.
    tenant_bucket: Option<TokenBucket>,
    channel_buckets: HashMap<ChannelId, TokenBucket>,
}

impl Notifier {
    pub fn new(
        tenant: TenantId,
        store: Store,
        clock: SharedClock,
        config: Arc<NotifierConfig>,
        watching: Arc<AtomicBool>,
    ) -> Self {
        Self {
            watching,
            sweeping: false,
            busy_rows: false,
            firing_posted: false,
            settings: None,
            tenant_bucket: None,
            channel_buckets: HashMap::new(),
            tenant,
            store,
            clock,
            groups: HashMap::new(),
            in_flight: HashMap::new(),
            ready: false,
            scanning: false,
            scan_again: false,
            finished: 0,
            forgotten_seq: 0,
            wake: None,
            lease: if config.replicas.is_some() {
                Lease::Elsewhere
            } else {
                Lease::Alone
            },
            renewing: false,
            config,
        }
    }

    /// Rebuilds each group's last message time and firing alerts from what was sent.
    fn restore(&mut self, ctx: &mut Context<Self>) {
        let (store, tenant) = (self.store.clone(), self.tenant);
        let since = self.clock.now_ms() - HISTORY_MS;
        let load = async move { store.last_notified(tenant, since).await };
        ctx.spawn(load.into_actor(self).map(|sent, act, ctx| {
            match sent {
                Ok(rows) => {
                    for row in rows {
                        let group = act
                            .groups
                            .entry((row.channel_id, row.group_key.clone()))
                            .or_default();
                        group.last_sent_ms = group.last_sent_ms.max(row.sent_at_ms);
                        group.group_labels = row.group_labels.clone();
                        group.timings = row.timings;
                        group.mute_timings = row.mute_timings.clone();
                        group.active_timings = row.active_timings.clone();
                        after_delivery(&mut group.active, std::slice::from_ref(&row.alert));
                    }
                    act.groups
                        .retain(|_, g| !g.active.is_empty() || g.last_sent_ms.is_some());
                    if !act.delivers() {
                        return;
                    }
                    act.ready = true;
                    act.scan(ctx);
                }
                Err(e) => {
                    tracing::warn!(tenant = %act.tenant, error = %e, "reading notification history failed; retrying");
                    ctx.run_later(TICK, |act, ctx| act.restore(ctx));
                }
            }
        }));
    }

    /// Reads the open rows and sends every group that is due; wakes again at the next
    /// due time.
    fn scan(&mut self, ctx: &mut Context<Self>) {
        if !self.ready {
            return;
        }
        if self.scanning {
            self.scan_again = true;
            return;
        }
        self.scanning = true;
        let (store, tenant) = (self.store.clone(), self.tenant);
        let cached = self
            .settings
            .clone()
            .filter(|c| c.loaded.elapsed() < CONFIG_TTL);
        let now_ms = self.clock.now_ms();
        let read_from = self.finished;
        let read = async move {
            let settings = match cached {
                Some(settings) => settings,
                None => Arc::new(DeliveryConfig::load(&store, tenant, now_ms).await?),
            };
            let rows = store.open_notifications(tenant, SCAN_LIMIT).await?;
            Ok::<_, StoreError>((settings, rows))
        };
        ctx.spawn(read.into_actor(self).map(move |read, act, ctx| {
            act.scanning = false;
            match read {
                Ok((settings, rows)) => {
                    act.settings = Some(settings);
                    act.busy_rows = !rows.is_empty();
                    act.dispatch(rows, read_from, ctx)
                }
                Err(e) => {
                    tracing::warn!(tenant = %act.tenant, error = %e, "reading the notification outbox failed")
                }
            }
            act.repeat_due(ctx);
            act.release_held(ctx);
            if std::mem::take(&mut act.scan_again) {
                act.scan(ctx);
            }
        }));
    }

    /// `read_from` is `finished` when the rows were read: a group recorded since then
    /// was read stale (the scan its recording asked for reads it again).
    fn dispatch(&mut self, rows: Vec<NotificationRecord>, read_from: u64, ctx: &mut Context<Self>) {
        let now = self.clock.now_ms();
        let mut by_group: BTreeMap<GroupKey, Vec<NotificationRecord>> = BTreeMap::new();
        for row in rows {
            by_group
                .entry((row.channel_id, row.group_key.clone()))
                .or_default()
                .push(row);
        }
        let mut next_wake: Option<i64> = None;
        for (key, rows) in by_group {
            if self.forgotten_seq > read_from && !self.groups.contains_key(&key) {
                continue;
            }
            let group = self.groups.entry(key.clone()).or_default();
            if group.sending || group.finished_seq > read_from {
                continue;
            }
            // Claimed by a worker that may still be sending: not before its deadline.
            let held_until = rows
                .iter()
                .filter(|r| r.status == NotificationStatus::Sending)
                .filter_map(|r| r.claimed_until_ms)
                .max()
                .unwrap_or(0);
            let timings = rows.last().map_or(group.timings, |r| r.timings);
            let oldest = rows.iter().map(|r| r.created_at_ms).min().unwrap_or(now);
            let latest_attempt = rows.iter().map(|r| r.next_attempt_at_ms).max().unwrap_or(0);
            let due = due_ms(group.last_sent_ms, oldest, latest_attempt, timings)
                .max(held_until.saturating_add(1));
            let busy = self.in_flight.get(&key.0).copied().unwrap_or(0) >= self.config.per_channel;
            if due <= now && !busy {
                group.timings = timings;
                if let Some(last) = rows.last() {
                    group.group_labels = last.group_labels.clone();
                    group.mute_timings = last.mute_timings.clone();
                    group.active_timings = last.active_timings.clone();
                }
                match self.admit(key.0, now) {
                    Ok(()) => self.deliver(key, rows, ctx),
                    Err((until, reason)) => self.throttle(key, rows, until, reason, ctx),
                }
            } else {
                let at = if due <= now { now + 100 } else { due };
                next_wake = Some(next_wake.map_or(at, |w| w.min(at)));
            }
        }
        if let Some(at) = next_wake {
            self.wake_at(at, ctx);
        }
    }

    /// Takes a message's place in the channel's and the tenant's rate limits, or says
    /// when there will be one and which limit is full.
    fn admit(&mut self, channel_id: ChannelId, now: i64) -> Result<(), (i64, String)> {
        let limit = self
            .settings
            .as_ref()
            .and_then(|s| s.channels.get(&channel_id))
            .map_or(self.config.channel_per_minute, |c| {
                self.config.channel_limit(c)
            });
        let channel = self
            .channel_buckets
            .entry(channel_id)
            .or_insert_with(|| TokenBucket::new(limit, now));
        if channel.per_minute() != limit {
            *channel = TokenBucket::new(limit, now);
        }
        let tenant_limit = self.config.tenant_per_minute;
        let tenant = self
            .tenant_bucket
            .get_or_insert_with(|| TokenBucket::new(tenant_limit, now));
        let channel_at = channel.available_at(now);
        if channel_at > now {
            return Err((
                channel_at,
                format!(
                    "throttled: the channel's limit of {limit} messages per minute was reached"
                ),
            ));
        }
        let tenant_at = tenant.available_at(now);
        if tenant_at > now {
            return Err((
                tenant_at,
                format!("throttled: the tenant's limit of {tenant_limit} messages per minute was reached"),
            ));
        }
        channel.take(now);
        tenant.take(now);
        Ok(())
    }

    /// Records a group's rows as `throttled` until a message may go; they stay open and
    /// go out together then.
    fn throttle(
        &mut self,
        key: GroupKey,
        rows: Vec<NotificationRecord>,
        until_ms: i64,
        reason: String,
        ctx: &mut Context<Self>,
    ) {
        let Some(group) = self.groups.get_mut(&key) else {
            return;
        };
        group.sending = true;
        let ids: Vec<NotificationId> = rows.iter().map(|r| r.id).collect();
        let (store, tenant) = (self.store.clone(), self.tenant);
        let outcome = DeliveryOutcome::Throttled { until_ms, reason };
        let write = async move { store.finish_notifications(tenant, &ids, &outcome).await };
        ctx.spawn(write.into_actor(self).map(move |written, act, ctx| {
            act.finished += 1;
            if let Some(group) = act.groups.get_mut(&key) {
                group.sending = false;
                group.finished_seq = act.finished;
            }
            if let Err(e) = written {
                tracing::warn!(tenant = %act.tenant, error = %e, "recording throttled notifications failed");
            }
            act.wake_at(until_ms, ctx);
        }));
    }

    fn wake_at(&mut self, at_ms: i64, ctx: &mut Context<Self>) {
        if let Some((current, handle)) = self.wake {
            if current <= at_ms {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = (at_ms - self.clock.now_ms()).max(0) as u64;
        let handle = ctx.run_later(Duration::from_millis(delay), |act, ctx| {
            act.wake = None;
            act.scan(ctx);
        });
        self.wake = Some((at_ms, handle));
    }

    /// Claims a group's rows, sends one message, records the outcome.
    fn deliver(&mut self, key: GroupKey, rows: Vec<NotificationRecord>, ctx: &mut Context<Self>) {
        // Always there after a scan (the scan that found these rows loaded it).
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let Some(group) = self.groups.get_mut(&key) else {
            return;
        };
        group.sending = true;
        *self.in_flight.entry(key.0).or_default() += 1;
        let now = self.clock.now_ms();
        let send_timeout = self.config.send.timeout;
        let claimed_until = now + send_timeout.as_millis() as i64 + CLAIM_MARGIN_MS;
        let ids: Vec<NotificationId> = rows.iter().map(|r| r.id).collect();
        let active = group.active.clone();
        let group_labels = group.group_labels.clone();
        let (store, tenant, config) = (self.store.clone(), self.tenant, self.config.clone());
        let (retry, clock) = (config.retry, self.clock.clone());
        let channel_id = key.0;
        let group_key = key.1.clone();
        let work = async move {
            let claimed = store
                .claim_notifications(tenant, &ids, now, claimed_until)
                .await?;
            if claimed.is_empty() {
                return Ok::<_, StoreError>(None);
            }
            let rows: Vec<&NotificationRecord> =
                rows.iter().filter(|r| claimed.contains(&r.id)).collect();
            // Silenced and muted alerts change state as usual but notify no one; each
            // held-back row says what held it.
            let (silences, timings, inhibit_rules) = (
                &settings.silences,
                &settings.timings,
                &settings.inhibit_rules,
            );
            let firing = if inhibit_rules.is_empty() {
                Vec::new()
            } else {
                store.firing_alerts(tenant).await?
            };
            // Silenced or inhibited: either way nobody hears of it now.
            let silenced_by = |alert: &NotifiedAlert| {
                silences
                    .iter()
                    .find(|s| s.mutes(&alert.labels, now))
                    .map(|s| format!("silenced by {}", s.id))
                    .or_else(|| {
                        inhibited_by(inhibit_rules, &alert.fingerprint, &alert.labels, &firing)
                    })
            };
            let mut held: BTreeMap<(NotificationStatus, String), Vec<NotificationId>> =
                BTreeMap::new();
            let mut held_alerts = Vec::new();
            let mut kept = Vec::with_capacity(rows.len());
            for row in rows {
                let reason = match muted_by(row, timings, now) {
                    Some(reason) => Some((NotificationStatus::Muted, reason)),
                    None => silenced_by(&row.alert).map(|why| (NotificationStatus::Silenced, why)),
                };
                match reason {
                    Some(reason) => {
                        // Inhibition says "inhibited by …"; silences and mute timings
                        // end on their own, so what they held is released then.
                        let releasable = !reason.1.starts_with("inhibited");
                        held.entry(reason).or_default().push(row.id);
                        held_alerts.push((row.alert.clone(), releasable));
                    }
                    None => kept.push(row),
                }
            }
            for ((status, reason), ids) in held {
                let outcome = DeliveryOutcome::HeldBack { status, reason };
                store.finish_notifications(tenant, &ids, &outcome).await?;
            }
            let rows = kept;
            if rows.is_empty() {
                return Ok(Some(Delivered {
                    outcome: None,
                    sent: Vec::new(),
                    held: held_alerts,
                }));
            }
            let claimed: Vec<NotificationId> = rows.iter().map(|r| r.id).collect();
            let attempts = rows.iter().map(|r| r.attempts + 1).max().unwrap_or(1);
            let mut alerts =
                message_alerts(&active, &rows.iter().map(|r| &r.alert).collect::<Vec<_>>());
            alerts.retain(|a| silenced_by(a).is_none());
            let sent = match settings.channels.get(&channel_id) {
                None => Err(DeliveryError::Refused {
                    message: "the channel was deleted".into(),
                    answer: None,
                }),
                Some(channel) => match channels::kind(&channel.kind) {
                    None => Err(DeliveryError::Refused {
                        message: format!("unknown channel kind {:?}", channel.kind),
                        answer: None,
                    }),
                    Some(kind) => {
                        let message = Notification {
                            receiver: channel.name.clone(),
                            group_key: group_key.clone(),
                            group_labels,
                            alerts: alerts.clone(),
                            external_url: config.external_url.clone(),
                            idempotency_key: idempotency_key(&claimed),
                            template: channel.template.clone(),
                        };
                        let attempt = kind.send(&config.send, &channel.config, &message);
                        // Every kind sets its own timeouts; this bounds the whole attempt.
                        match tokio::time::timeout(send_timeout + Duration::from_secs(1), attempt)
                            .await
                        {
                            Ok(result) => result,
                            Err(_) => Err(DeliveryError::Retry {
                                message: format!("timed out after {send_timeout:?}"),
                                answer: None,
                                after: None,
                            }),
                        }
                    }
                },
            };
            let outcome = outcome_of(&sent, attempts, &retry, clock.now_ms());
            store
                .finish_notifications(tenant, &claimed, &outcome)
                .await?;
            Ok(Some(Delivered {
                outcome: Some(outcome),
                sent: alerts,
                held: held_alerts,
            }))
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            if let Some(count) = act.in_flight.get_mut(&key.0) {
                *count = count.saturating_sub(1);
            }
            let now = act.clock.now_ms();
            let mut forget = false;
            act.finished += 1;
            if let Some(group) = act.groups.get_mut(&key) {
                group.sending = false;
                group.finished_seq = act.finished;
                match result {
                    Ok(Some(delivered)) => {
                        // Held-back alerts are still the group's: a later message (or
                        // repeat) carries them once nothing holds them back.
                        for (alert, releasable) in &delivered.held {
                            match alert.status {
                                AlertStatus::Firing => {
                                    group.held.insert(alert.fingerprint.clone(), *releasable)
                                }
                                AlertStatus::Resolved => group.held.remove(&alert.fingerprint),
                            };
                        }
                        let held: Vec<NotifiedAlert> =
                            delivered.held.into_iter().map(|(alert, _)| alert).collect();
                        after_delivery(&mut group.active, &held);
                        if let Some(DeliveryOutcome::Sent { .. }) = delivered.outcome {
                            group.last_sent_ms = Some(now);
                            for alert in &delivered.sent {
                                group.held.remove(&alert.fingerprint);
                            }
                            after_delivery(&mut group.active, &delivered.sent);
                        }
                        forget = group.active.is_empty() && group.last_sent_ms.is_some();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(tenant = %act.tenant, error = %e, "recording a delivery failed; the rows stay claimed until their deadline");
                    }
                }
            }
            // A group whose alerts are all over starts afresh (with `group_wait`).
            if forget {
                act.forgotten_seq = act.finished;
                act.groups.remove(&key);
            }
            act.scan(ctx);
        }));
    }

    /// Resolves posted alerts whose `endsAt` passed (their resolution is routed like any
    /// other), and keeps the idleness flag true while there is anything to look after.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        self.watching.store(
            self.delivers() && (self.busy_rows || self.firing_posted),
            Ordering::Relaxed,
        );
        if self.sweeping || !self.delivers() {
            return;
        }
        self.sweeping = true;
        let (store, tenant) = (self.store.clone(), self.tenant);
        let work = async move {
            let routing = store.notification_routing(tenant).await?;
            let ended = store
                .resolve_expired_posted_alerts(tenant, &routing)
                .await?;
            let firing = !store.posted_alerts(tenant, false).await?.is_empty();
            Ok::<_, StoreError>((ended, firing))
        };
        ctx.spawn(work.into_actor(self).map(|swept, act, ctx| {
            act.sweeping = false;
            match swept {
                Ok((ended, firing)) => {
                    act.firing_posted = firing;
                    if ended > 0 {
                        act.scan(ctx);
                    }
                }
                Err(e) => tracing::warn!(tenant = %act.tenant, error = %e, "ending expired posted alerts failed"),
            }
        }));
    }

    /// Queues again, at their group's next interval, the alerts a silence or a mute timing
    /// held back once it no longer does (as Alertmanager's next flush of the group would
    /// send them); the send checks everything again.
    fn release_held(&mut self, ctx: &mut Context<Self>) {
        let Some(settings) = self.settings.clone() else {
            return;
        };
        let now = self.clock.now_ms();
        let mut drafts = Vec::new();
        for ((channel_id, group_key), group) in &mut self.groups {
            if group.sending || !group.held.values().any(|releasable| *releasable) {
                continue;
            }
            if group
                .last_sent_ms
                .is_some_and(|last| now < last.saturating_add(group.timings.group_interval_ms))
            {
                continue;
            }
            let timings = &settings.timings;
            if route_muted(&group.mute_timings, &group.active_timings, timings, now).is_some() {
                continue;
            }
            let released: Vec<String> = group
                .held
                .iter()
                .filter(|(_, releasable)| **releasable)
                .filter(|(fingerprint, _)| {
                    group.active.get(*fingerprint).is_some_and(|alert| {
                        !settings
                            .silences
                            .iter()
                            .any(|s| s.mutes(&alert.labels, now))
                    })
                })
                .map(|(fingerprint, _)| fingerprint.clone())
                .collect();
            for fingerprint in released {
                group.held.remove(&fingerprint);
                let Some(alert) = group.active.get(&fingerprint) else {
                    continue;
                };
                let alert = NotifiedAlert {
                    at_ms: now,
                    ..alert.clone()
                };
                drafts.push(group.draft(*channel_id, group_key, alert));
            }
        }
        if drafts.is_empty() {
            return;
        }
        let (store, tenant) = (self.store.clone(), self.tenant);
        let write = async move { store.insert_notifications(tenant, &drafts).await };
        ctx.spawn(write.into_actor(self).map(|written, act, ctx| {
            if let Err(e) = written {
                tracing::warn!(tenant = %act.tenant, error = %e, "queueing released notifications failed");
            }
            act.scan(ctx);
        }));
    }

    /// Queues a repeat of each group still firing after `repeat_interval`.
    fn repeat_due(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now_ms();
        let mut drafts = Vec::new();
        for ((channel_id, group_key), group) in &mut self.groups {
            let interval = group.timings.repeat_interval_ms;
            let Some(last) = group.last_sent_ms else {
                continue;
            };
            if group.sending || interval <= 0 || group.active.is_empty() || now < last + interval {
                continue;
            }
            // Marked as if sent, so the same repeat is not queued twice; the repeat rows
            // are then due at once (their group's interval has passed).
            group.last_sent_ms = Some(now - group.timings.group_interval_ms);
            for alert in group.active.values() {
                let alert = NotifiedAlert {
                    transition: "repeat".into(),
                    at_ms: now,
                    ..alert.clone()
                };
                drafts.push(group.draft(*channel_id, group_key, alert));
            }
        }
        if drafts.is_empty() {
            return;
        }
        let (store, tenant) = (self.store.clone(), self.tenant);
        let write = async move {
            // Acknowledged alerts are not repeated; alerts that are over (resolved where
            // the channel hears no resolutions) leave their group.
            let mut kept = Vec::with_capacity(drafts.len());
            let mut over = Vec::new();
            for draft in drafts {
                let Ok(id) = draft.alert.alert_id.parse() else {
                    continue;
                };
                match store.alert_activity(tenant, id).await? {
                    Some(false) => kept.push(draft),
                    Some(true) => {}
                    None => {
                        over.push(((draft.channel_id, draft.group_key), draft.alert.fingerprint))
                    }
                }
            }
            store.insert_notifications(tenant, &kept).await?;
            Ok::<_, StoreError>(over)
        };
        ctx.spawn(write.into_actor(self).map(|written, act, ctx| {
            match written {
                Ok(over) => {
                    for (key, fingerprint) in over {
                        let emptied = act.groups.get_mut(&key).is_some_and(|g| {
                            g.active.remove(&fingerprint);
                            g.active.is_empty()
                        });
                        if emptied {
                            act.groups.remove(&key);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(tenant = %act.tenant, error = %e, "queueing repeat notifications failed")
                }
            }
            act.scan(ctx);
        }));
    }
}

/// The same for every attempt at the same rows.
fn idempotency_key(ids: &[NotificationId]) -> String {
    use sha2::Digest;
    let mut sorted: Vec<String> = ids.iter().map(ToString::to_string).collect();
    sorted.sort();
    hex::encode(&sha2::Sha256::digest(sorted.join(",").as_bytes())[..16])
}

/// What one delivery did: the outcome of the send (none when everything was held back),
/// the alerts the message carried, and those held back.
struct Delivered {
    outcome: Option<DeliveryOutcome>,
    sent: Vec<NotifiedAlert>,
    /// With whether what held it ends on its own (see `Group::held`).
    held: Vec<(NotifiedAlert, bool)>,
}

/// Why a row's route holds it back now, if it does: a mute timing in force, or active
/// timings none of which is. Timings no longer defined hold nothing back.
fn muted_by(
    row: &NotificationRecord,
    timings: &BTreeMap<String, MuteTiming>,
    now_ms: i64,
) -> Option<String> {
    route_muted(&row.mute_timings, &row.active_timings, timings, now_ms)
}

/// Why a route with these mute and active timings holds its messages back now, if it does.
fn route_muted(
    mute_timings: &[String],
    active_timings: &[String],
    timings: &BTreeMap<String, MuteTiming>,
    now_ms: i64,
) -> Option<String> {
    if let Some(name) = mute_timings
        .iter()
        .find(|name| timings.get(*name).is_some_and(|t| t.in_force(now_ms)))
    {
        return Some(format!("muted by {name}"));
    }
    let defined: Vec<&MuteTiming> = active_timings
        .iter()
        .filter_map(|name| timings.get(name))
        .collect();
    if !defined.is_empty() && !defined.iter().any(|t| t.in_force(now_ms)) {
        return Some(format!(
            "outside its active timings ({})",
            active_timings.join(", ")
        ));
    }
    None
}

fn outcome_of(
    sent: &Result<ProviderAnswer, DeliveryError>,
    attempts: u32,
    retry: &RetryPolicy,
    now_ms: i64,
) -> DeliveryOutcome {
    match sent {
        Ok(answer) => DeliveryOutcome::Sent {
            provider_status: answer.status,
        },
        Err(e) => {
            let provider_status = e.answer().and_then(|a| a.status);
            let error = match e.answer() {
                Some(answer) if !answer.body.is_empty() => {
                    format!("{}: {}", e.message(), answer.body)
                }
                _ => e.message().to_owned(),
            };
            match e {
                DeliveryError::Retry { after, .. } if !retry.exhausted(attempts) => {
                    let wait = retry.delay_ms(
                        attempts,
                        after.map(|a| a.as_millis() as i64),
                        rand::random::<f64>(),
                    );
                    DeliveryOutcome::Retry {
                        next_attempt_at_ms: now_ms + wait,
                        error,
                        provider_status,
                    }
                }
                DeliveryError::Retry { .. } => DeliveryOutcome::Dead {
                    error: format!("{error} (after {attempts} attempts)"),
                    provider_status,
                },
                DeliveryError::Refused { .. } => DeliveryOutcome::Dead {
                    error,
                    provider_status,
                },
            }
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.config.poll, |act, ctx| act.scan(ctx));
        ctx.run_interval(SWEEP, |act, ctx| act.sweep(ctx));
        if self.config.replicas.is_some() {
            self.renew_lease(ctx);
            ctx.run_interval(RENEW_EVERY, |act, ctx| act.renew_lease(ctx));
        } else {
            self.restore(ctx);
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        // Let another replica take over now rather than when the lease runs out.
        if let (Lease::Held, Some(replicas)) = (self.lease, self.config.replicas.clone()) {
            let tenant = self.tenant;
            actix_rt::spawn(async move {
                if let Err(e) = replicas.release(tenant).await {
                    tracing::debug!(%tenant, error = %e, "releasing the delivery lease failed; it runs out by itself");
                }
            });
        }
    }
}

impl Notifier {
    fn delivers(&self) -> bool {
        self.lease != Lease::Elsewhere
    }

    /// Takes or renews the tenant's lease in Redis.
    fn renew_lease(&mut self, ctx: &mut Context<Self>) {
        let Some(replicas) = self.config.replicas.clone() else {
            return;
        };
        if self.renewing {
            return;
        }
        self.renewing = true;
        let tenant = self.tenant;
        let ask = async move { replicas.hold(tenant).await };
        ctx.spawn(ask.into_actor(self).map(|held, act, ctx| {
            act.renewing = false;
            let lease = match held {
                Ok(true) => Lease::Held,
                Ok(false) => Lease::Elsewhere,
                Err(e) => {
                    if act.lease != Lease::Alone {
                        tracing::warn!(tenant = %act.tenant, error = %e, "Redis cannot be reached; delivering this tenant's notifications without a lease");
                    }
                    Lease::Alone
                }
            };
            act.set_lease(lease, ctx);
        }));
    }

    fn set_lease(&mut self, lease: Lease, ctx: &mut Context<Self>) {
        let delivered = self.delivers();
        self.lease = lease;
        match (delivered, self.delivers()) {
            (false, true) => {
                // The previous holder's sends are in the history: start again from it
                // (keeping what this replica still has in flight).
                tracing::debug!(tenant = %self.tenant, "this replica delivers the tenant's notifications");
                self.groups.retain(|_, group| group.sending);
                self.restore(ctx);
            }
            (true, false) => {
                tracing::debug!(tenant = %self.tenant, "another replica delivers the tenant's notifications");
                self.ready = false;
            }
            _ => {}
        }
    }

    /// Looks now if this replica delivers; false when another one does.
    fn look_here(&mut self, wake: Wake, ctx: &mut Context<Self>) -> bool {
        if wake == Wake::Config {
            self.settings = None;
        }
        if self.delivers() {
            self.scan(ctx);
        }
        self.delivers()
    }

    /// Something was written for delivery: look now if this replica delivers, else wake
    /// the one that does (and take the lease if it was just let go).
    fn look_now(&mut self, wake: Wake, ctx: &mut Context<Self>) {
        if self.look_here(wake, ctx) {
            return;
        }
        if let Some(replicas) = self.config.replicas.clone() {
            let tenant = self.tenant;
            actix_rt::spawn(async move {
                if let Err(e) = replicas.wake(tenant, wake).await {
                    tracing::debug!(%tenant, error = %e, "waking the delivering replica failed; it polls the outbox");
                }
            });
        }
        self.renew_lease(ctx);
    }
}

impl Handler<AlertTransition> for Notifier {
    type Result = ();

    fn handle(&mut self, _: AlertTransition, ctx: &mut Self::Context) {
        self.look_now(Wake::Outbox, ctx);
    }
}

/// Another replica wrote for this tenant (a Redis wake-up): look if this one delivers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoteWake(pub Wake);

impl Handler<RemoteWake> for Notifier {
    type Result = ();

    fn handle(&mut self, RemoteWake(wake): RemoteWake, ctx: &mut Self::Context) {
        // Never published again: the wake-up came from the replica that does not deliver.
        self.look_here(wake, ctx);
    }
}

/// Look at the outbox now (a row was written outside a transition: a retry, a test).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckOutbox;

impl Handler<CheckOutbox> for Notifier {
    type Result = ();

    fn handle(&mut self, _: CheckOutbox, ctx: &mut Self::Context) {
        self.look_now(Wake::Outbox, ctx);
    }
}

/// Channels, silences, mute timings or inhibit rules changed: read them again before the
/// next send.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConfigChanged;

impl Handler<ConfigChanged> for Notifier {
    type Result = ();

    fn handle(&mut self, _: ConfigChanged, ctx: &mut Self::Context) {
        self.look_now(Wake::Config, ctx);
    }
}

/// Stop (the tenant is stopping); rows in flight stay claimed until their deadline.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopNotifier;

impl Handler<StopNotifier> for Notifier {
    type Result = ();

    fn handle(&mut self, _: StopNotifier, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_retry_then_die_and_refusals_die_at_once() {
        let retry = RetryPolicy {
            max_attempts: 3,
            base_ms: 1_000,
            max_ms: 10_000,
        };
        let failed = Err(DeliveryError::Retry {
            message: "the provider answered 503".into(),
            answer: Some(ProviderAnswer::new(Some(503), "busy")),
            after: Some(Duration::from_secs(2)),
        });
        match outcome_of(&failed, 1, &retry, 0) {
            DeliveryOutcome::Retry {
                next_attempt_at_ms,
                error,
                provider_status,
            } => {
                assert!(next_attempt_at_ms >= 2_000, "Retry-After honoured");
                assert_eq!(error, "the provider answered 503: busy");
                assert_eq!(provider_status, Some(503));
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        assert!(matches!(
            outcome_of(&failed, 3, &retry, 0),
            DeliveryOutcome::Dead { .. }
        ));
        let refused = Err(DeliveryError::Refused {
            message: "the provider answered 400 Bad Request".into(),
            answer: Some(ProviderAnswer::new(Some(400), "no")),
        });
        assert!(matches!(
            outcome_of(&refused, 1, &retry, 0),
            DeliveryOutcome::Dead {
                provider_status: Some(400),
                ..
            }
        ));
        let key = idempotency_key(&[NotificationId::generate(), NotificationId::generate()]);
        assert_eq!(key.len(), 32);
    }
}
