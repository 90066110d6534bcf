//! The per-tenant metric aggregator: owns the tenant's head (series index, recent and
//! unsealed samples), admits and applies ingested batches, serves selections to queries,
//! and checkpoints: seals chunks and rollups, carries open samples over, and deletes the
//! write-ahead records that the checkpoint replaces; tells its subscribers every batch it
//! applies ([`AppliedBatch`]). On start it rebuilds the head from the database: series
//! index, the head window's chunks, then every write-ahead record.

pub mod head;
pub mod rollup;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, MessageResult, WrapFuture,
};

use self::head::{CheckpointPlan, ChunkPolicy, Head, SeriesId};
use crate::config::Config;
use crate::domain::metrics::{Labels, MetricBatch, Sample};
use crate::domain::time::{SharedClock, DAY_MS};
use crate::domain::TenantId;
use crate::ingest::IngestError;
use crate::self_metrics::ServiceMetrics;
use crate::store::metrics::{Checkpoint, ChunkRow, NewSeries, WalAppend};
use crate::store::tenants::TenantLimits;
use crate::store::Store;
use crate::tsdb::chunk::{decode_chunk, encode_chunk};
use crate::tsdb::wal::{decode_wal_record, encode_wal_record};

/// Per-tenant limits and storage policy.
#[derive(Debug, Clone, Copy)]
pub struct AggregatorConfig {
    pub head_window_ms: i64,
    pub chunk: ChunkPolicy,
    pub max_active_series: usize,
    /// Sustained ingest rate, samples per second; bursts up to `ingest_burst_samples`.
    pub ingest_samples_per_sec: f64,
    pub ingest_burst_samples: f64,
    /// Checkpoint when this many samples were written ahead since the last one …
    pub checkpoint_after_samples: usize,
    /// … or when this much time has passed with anything written ahead.
    pub checkpoint_interval: Duration,
    pub raw_retention_ms: i64,
    pub rollup_retention_ms: i64,
}

impl AggregatorConfig {
    /// This policy with a tenant's overrides applied.
    pub fn with_overrides(mut self, limits: &TenantLimits) -> Self {
        if let Some(series) = limits.max_series {
            self.max_active_series = series as usize;
        }
        if let Some(rate) = limits.ingest_samples_per_sec {
            self.ingest_samples_per_sec = rate as f64;
            // The burst allowance scales with the tenant's rate: two seconds' worth.
            self.ingest_burst_samples = self
                .ingest_burst_samples
                .min(2.0 * rate as f64)
                .max(rate as f64);
        }
        if let Some(days) = limits.raw_retention_days {
            self.raw_retention_ms = days * DAY_MS;
        }
        if let Some(days) = limits.rollup_retention_days {
            self.rollup_retention_ms = days * DAY_MS;
        }
        self
    }
}

impl AggregatorConfig {
    /// The policy the service's options describe.
    pub fn from_config(config: &Config) -> Self {
        Self {
            head_window_ms: config.head_window_secs as i64 * 1000,
            chunk: ChunkPolicy {
                max_samples: 120,
                max_span_ms: 2 * 3600 * 1000,
            },
            max_active_series: config.max_series_per_tenant,
            ingest_samples_per_sec: config.ingest_samples_per_sec as f64,
            ingest_burst_samples: config.ingest_burst_samples as f64,
            checkpoint_after_samples: config.checkpoint_after_samples,
            checkpoint_interval: Duration::from_secs(config.checkpoint_interval_secs),
            raw_retention_ms: config.raw_retention_days as i64 * DAY_MS,
            rollup_retention_ms: config.rollup_retention_days as i64 * DAY_MS,
        }
    }
}

/// The defaults are the service's defaults ([`Config::default`]): one source for both.
impl Default for AggregatorConfig {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

impl crate::error::Classify for AggregatorError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Unavailable
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotReady(_) => "not_ready",
            Self::CheckpointFailed(_) | Self::RetentionFailed(_) => "storage_unavailable",
        }
    }
}

/// Why the aggregator could not do what it was asked (other than refusing a batch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggregatorError {
    /// The head could not be rebuilt at start (database down); retry later.
    #[error("the tenant's metric head could not be rebuilt: {0}")]
    NotReady(String),
    /// Nothing of the checkpoint was committed; the write-ahead records still hold it.
    #[error("the checkpoint failed: {0}")]
    CheckpointFailed(String),
    #[error("the retention sweep failed: {0}")]
    RetentionFailed(String),
}

struct TokenBucket {
    tokens: f64,
    refilled: Instant,
}

/// One tenant's aggregator actor.
pub struct MetricAggregator {
    tenant: TenantId,
    store: Store,
    config: AggregatorConfig,
    metrics: ServiceMetrics,
    clock: SharedClock,
    head: Head,
    /// Write-ahead records whose samples are in the head and not yet replaced by a checkpoint.
    applied_wal_ids: Vec<i64>,
    /// Batches admitted and not yet applied (their write-ahead record is committing), by
    /// ticket: each series' oldest timestamp in the batch. Checkpoints seal nothing at or
    /// after these, so a sample acknowledged after the checkpoint is never behind it.
    in_flight: HashMap<u64, InFlight>,
    next_ticket: u64,
    samples_since_checkpoint: usize,
    last_checkpoint: Instant,
    checkpointing: bool,
    /// Asked to stop while a checkpoint was being written: stop once it is done, so its
    /// transaction is neither torn down mid-flight nor dropped outside the runtime.
    stop_when_checkpointed: bool,
    load_error: Option<String>,
    bucket: TokenBucket,
    /// Head size last reported to the process-wide gauges.
    reported: (i64, i64),
    /// Callers of [`CheckpointNow`] waiting for the running checkpoint.
    checkpoint_waiters: Vec<tokio::sync::oneshot::Sender<Result<(), AggregatorError>>>,
    /// Told about every applied batch ([`AppliedBatch`]).
    subscribers: Vec<actix::Recipient<AppliedBatch>>,
    /// Sequence number of the last applied batch (0: none yet).
    applied_sequence: u64,
}

impl MetricAggregator {
    pub fn new(
        tenant: TenantId,
        store: Store,
        config: AggregatorConfig,
        metrics: ServiceMetrics,
        clock: SharedClock,
    ) -> Self {
        Self {
            tenant,
            store,
            config,
            metrics,
            head: Head::new(clock.now_ms() - config.head_window_ms),
            clock,
            applied_wal_ids: Vec::new(),
            in_flight: HashMap::new(),
            next_ticket: 0,
            samples_since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            checkpointing: false,
            stop_when_checkpointed: false,
            load_error: None,
            bucket: TokenBucket {
                tokens: config.ingest_burst_samples,
                refilled: Instant::now(),
            },
            reported: (0, 0),
            checkpoint_waiters: Vec::new(),
            subscribers: Vec::new(),
            applied_sequence: 0,
        }
    }

    /// Starts with these subscribers to applied batches.
    pub fn with_subscribers(mut self, subscribers: Vec<actix::Recipient<AppliedBatch>>) -> Self {
        self.subscribers = subscribers;
        self
    }

    fn notify_checkpoint_waiters(&mut self, outcome: Result<(), AggregatorError>) {
        for waiter in self.checkpoint_waiters.drain(..) {
            // A waiter that gave up needs no answer.
            let _ = waiter.send(outcome.clone());
        }
    }

    /// Tells every subscriber about an applied batch. A subscriber whose mailbox is full
    /// misses it (and sees the gap in `sequence`); one that stopped is forgotten.
    fn tell_subscribers(&mut self, batch: &Arc<MetricBatch>) {
        self.applied_sequence += 1;
        if self.subscribers.is_empty() {
            return;
        }
        let applied = AppliedBatch {
            tenant: self.tenant,
            sequence: self.applied_sequence,
            batch: batch.clone(),
        };
        let metrics = &self.metrics;
        self.subscribers
            .retain(|subscriber| match subscriber.try_send(applied.clone()) {
                Ok(()) => true,
                Err(actix::dev::SendError::Full(_)) => {
                    metrics.applied_batches_missed.inc();
                    true
                }
                Err(actix::dev::SendError::Closed(_)) => false,
            });
    }

    fn report_size(&mut self) {
        let now = (
            self.head.series_count() as i64,
            self.head.sample_count() as i64,
        );
        self.metrics.head_series.add(now.0 - self.reported.0);
        self.metrics.head_samples.add(now.1 - self.reported.1);
        self.reported = now;
    }

    fn take_tokens(&mut self, samples: usize) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.bucket.refilled).as_secs_f64();
        self.bucket.tokens = (self.bucket.tokens + elapsed * self.config.ingest_samples_per_sec)
            .min(self.config.ingest_burst_samples);
        self.bucket.refilled = now;
        let needed = samples as f64;
        if needed <= self.bucket.tokens {
            self.bucket.tokens -= needed;
            return Ok(());
        }
        let deficit = needed.min(self.config.ingest_burst_samples) - self.bucket.tokens;
        Err((deficit / self.config.ingest_samples_per_sec)
            .ceil()
            .max(1.0) as u64)
    }

    fn maybe_checkpoint(&mut self, ctx: &mut Context<Self>) {
        let due = self.samples_since_checkpoint >= self.config.checkpoint_after_samples
            || (!self.applied_wal_ids.is_empty()
                && self.last_checkpoint.elapsed() >= self.config.checkpoint_interval);
        if due && !self.checkpointing && self.load_error.is_none() {
            self.checkpoint(ctx);
        }
    }

    /// Series that batches admitted and not yet applied will create: they hold places
    /// under the series limit until applied or abandoned.
    /// Only the batches' new series are visited: this runs on every admission.
    fn reserved_new_series(&self) -> HashSet<&Labels, foldhash::fast::RandomState> {
        self.in_flight
            .values()
            .flat_map(|batch| &batch.new)
            .map(|(labels, _)| labels)
            .filter(|labels| self.head.id_of(labels).is_none())
            .collect()
    }

    /// Per series, the oldest timestamp of any admitted batch not yet applied.
    fn in_flight_limits(&self) -> HashMap<SeriesId, i64> {
        let mut limits: HashMap<SeriesId, i64> = HashMap::new();
        for batch in self.in_flight.values() {
            let known = batch.known.iter().map(|&(id, oldest)| (Some(id), oldest));
            // A new series may have been created by another batch's append since.
            let new = (batch.new.iter()).map(|(labels, oldest)| (self.head.id_of(labels), *oldest));
            for (id, oldest) in known.chain(new) {
                if let Some(id) = id {
                    let limit = limits.entry(id).or_insert(oldest);
                    *limit = (*limit).min(oldest);
                }
            }
        }
        limits
    }

    /// Seals what is due, writes it with the carry-over record in one transaction, then
    /// forgets the replaced write-ahead ids and trims the head to its window.
    fn checkpoint(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now_ms();
        let plan = self
            .head
            .plan_checkpoint(now, self.config.chunk, &self.in_flight_limits());
        let replaced = std::mem::take(&mut self.applied_wal_ids);
        self.checkpointing = true;
        self.samples_since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        let store = self.store.clone();
        let tenant = self.tenant;
        let replaced_for_store = replaced.clone();
        let work = async move {
            // Encoding is CPU work; keep it off the actor's thread.
            let (plan, checkpoint) = tokio::task::spawn_blocking(move || {
                let checkpoint = build_checkpoint(tenant, &plan, replaced_for_store);
                (plan, checkpoint)
            })
            .await
            .map_err(|e| AggregatorError::CheckpointFailed(format!("encoding: {e}")))?;
            let checkpoint = checkpoint.map_err(AggregatorError::CheckpointFailed)?;
            let carry_id = store
                .write_checkpoint(tenant, checkpoint)
                .await
                .map_err(|e| AggregatorError::CheckpointFailed(e.to_string()))?;
            Ok::<_, AggregatorError>((plan, carry_id))
        };
        ctx.spawn(work.into_actor(self).map(move |result, actor, ctx| {
            actor.checkpointing = false;
            let outcome = match result {
                Ok((plan, carry_id)) => {
                    actor.head.checkpoint_written(&plan);
                    actor.applied_wal_ids.extend(carry_id);
                    actor
                        .head
                        .trim(actor.clock.now_ms() - actor.config.head_window_ms);
                    actor.report_size();
                    tracing::debug!(tenant = %actor.tenant, chunks = plan.chunks.len(), "checkpoint written");
                    Ok(())
                }
                Err(e) => {
                    // Nothing was committed: the write-ahead records still hold everything.
                    tracing::error!(tenant = %actor.tenant, error = %e, "checkpoint failed; will retry");
                    let mut ids = replaced;
                    ids.append(&mut actor.applied_wal_ids);
                    actor.applied_wal_ids = ids;
                    Err(e)
                }
            };
            actor.notify_checkpoint_waiters(outcome);
            if actor.stop_when_checkpointed {
                actix::ActorContext::stop(ctx);
            }
        }));
    }

    /// Deletes chunks and rollups past the tenant's retention; returns how many of each.
    fn retention_sweep(
        &self,
    ) -> impl std::future::Future<Output = Result<(u64, u64), AggregatorError>> + 'static {
        let store = self.store.clone();
        let tenant = self.tenant;
        let now = self.clock.now_ms();
        let (raw_cutoff, rollup_cutoff) = (
            now - self.config.raw_retention_ms,
            now - self.config.rollup_retention_ms,
        );
        async move {
            let deleted = store
                .delete_expired_samples(tenant, raw_cutoff, rollup_cutoff)
                .await
                .map_err(|e| AggregatorError::RetentionFailed(e.to_string()))?;
            if deleted.0 + deleted.1 > 0 {
                tracing::info!(%tenant, chunks = deleted.0, rollups = deleted.1, "retention removed expired data");
            }
            Ok(deleted)
        }
    }

    fn enforce_retention(&mut self, ctx: &mut Context<Self>) {
        let tenant = self.tenant;
        let sweep = self.retention_sweep();
        ctx.spawn(
            async move {
                if let Err(e) = sweep.await {
                    tracing::error!(%tenant, error = %e, "retention sweep failed");
                }
            }
            .into_actor(self),
        );
    }
}

/// Encodes a checkpoint plan: chunks, rollups, the new index rows and the carry-over record.
fn build_checkpoint(
    tenant: TenantId,
    plan: &CheckpointPlan,
    replaced_wal_ids: Vec<i64>,
) -> Result<Checkpoint, String> {
    let mut chunks = Vec::with_capacity(plan.chunks.len());
    let mut rollups = Vec::new();
    for (series_id, samples) in &plan.chunks {
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            continue;
        };
        let payload = encode_chunk(samples).map_err(|e| format!("series {series_id}: {e}"))?;
        chunks.push(ChunkRow {
            series_id: *series_id,
            min_ts_ms: first.timestamp_ms,
            max_ts_ms: last.timestamp_ms,
            sample_count: samples.len() as i32,
            payload,
        });
        rollups.extend(rollup::rollups_for(*series_id, samples));
    }
    let carry_over = wal_append(tenant, &plan.carry_over);
    Ok(Checkpoint {
        new_series: plan
            .new_series
            .iter()
            .map(|(id, labels)| NewSeries {
                series_id: *id,
                metric_name: labels.metric_name().unwrap_or_default().to_owned(),
                labels_json: labels.to_json(),
            })
            .collect(),
        chunks,
        rollups: rollup::merge_partials(rollups),
        carry_over,
        replaced_wal_ids,
    })
}

/// The write-ahead form of a batch; `None` for an empty batch.
pub fn wal_append(tenant: TenantId, batch: &MetricBatch) -> Option<WalAppend> {
    let timestamps = batch
        .series
        .iter()
        .flat_map(|s| s.samples.iter().map(|x| x.timestamp_ms));
    let (min, max) = timestamps.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let count = batch.sample_count();
    (count > 0).then(|| WalAppend {
        tenant,
        payload: encode_wal_record(batch),
        sample_count: count as i64,
        min_ts_ms: min,
        max_ts_ms: max,
    })
}

/// The head as stored: series index, chunks of the head window, write-ahead records.
struct LoadedHead {
    limits: TenantLimits,
    series: Vec<(i64, String)>,
    boundaries: Vec<(i64, i64)>,
    chunks: Vec<ChunkRow>,
    wal: Vec<(i64, Vec<u8>)>,
}

impl Actor for MetricAggregator {
    type Context = Context<Self>;

    fn stopping(&mut self, _: &mut Self::Context) -> actix::Running {
        if self.checkpointing {
            self.stop_when_checkpointed = true;
            return actix::Running::Continue;
        }
        actix::Running::Stop
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        let store = self.store.clone();
        let tenant = self.tenant;
        let window_start = self.clock.now_ms() - self.config.head_window_ms;
        let load = async move {
            let limits = store
                .get_tenant(tenant)
                .await?
                .map(|t| t.limits)
                .unwrap_or_default();
            let series = store.load_series(tenant).await?;
            let ids: Vec<i64> = series.iter().map(|(id, _)| *id).collect();
            let chunks = store
                .load_chunks(tenant, &ids, window_start, i64::MAX)
                .await?;
            let boundaries = store.sealed_boundaries(tenant).await?;
            let wal = store.load_wal(tenant).await?;
            Ok::<_, crate::store::StoreError>(LoadedHead {
                limits,
                series,
                boundaries,
                chunks,
                wal,
            })
        };
        // `wait` holds back every other message until the head is rebuilt.
        ctx.wait(load.into_actor(self).map(|result, actor, _| {
            let started = Instant::now();
            match result.map_err(|e| e.to_string()).and_then(|loaded| actor.restore(loaded)) {
                Ok(()) => tracing::info!(
                    tenant = %actor.tenant,
                    series = actor.head.series_count(),
                    samples = actor.head.sample_count(),
                    replayed_records = actor.applied_wal_ids.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "metric head rebuilt"
                ),
                Err(e) => {
                    tracing::error!(tenant = %actor.tenant, error = %e, "rebuilding the metric head failed");
                    actor.load_error = Some(e);
                }
            }
            actor.report_size();
        }));
        ctx.run_interval(Duration::from_secs(1), |actor, ctx| {
            actor.maybe_checkpoint(ctx)
        });
        ctx.run_later(Duration::from_secs(60), |actor, ctx| {
            actor.enforce_retention(ctx)
        });
        ctx.run_interval(Duration::from_secs(3600), |actor, ctx| {
            actor.enforce_retention(ctx)
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.metrics.head_series.sub(self.reported.0);
        self.metrics.head_samples.sub(self.reported.1);
    }
}

impl MetricAggregator {
    fn restore(&mut self, loaded: LoadedHead) -> Result<(), String> {
        self.config = self.config.with_overrides(&loaded.limits);
        self.bucket.tokens = self.config.ingest_burst_samples;
        for (id, labels_json) in loaded.series {
            self.head
                .restore_series(id, Labels::from_json(&labels_json)?);
        }
        for (id, sealed_until_ms) in loaded.boundaries {
            self.head.restore_sealed_boundary(id, sealed_until_ms);
        }
        for chunk in loaded.chunks {
            let samples = decode_chunk(&chunk.payload)
                .map_err(|e| format!("chunk of series {}: {e}", chunk.series_id))?;
            self.head.restore_sealed(chunk.series_id, &samples);
        }
        for (id, payload) in loaded.wal {
            let batch =
                decode_wal_record(&payload).map_err(|e| format!("write-ahead record {id}: {e}"))?;
            self.head.append(&batch, &[]);
            self.samples_since_checkpoint += batch.sample_count();
            self.applied_wal_ids.push(id);
        }
        Ok(())
    }
}

/// May this batch be stored? Checks the rate limit, the series limit and ordering; answers
/// the ids of the batch's series that exist already, to hand back in [`ApplyBatch`].
#[derive(Message)]
#[rtype(result = "Result<Admitted, IngestError>")]
pub struct AdmitBatch(pub Arc<MetricBatch>);

/// An admitted batch: its ticket (hand it back in [`ApplyBatch`] or [`AbandonBatch`]) and
/// its series ids in batch order (`None`: new series).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    pub ticket: u64,
    pub ids: Vec<Option<SeriesId>>,
}

/// A batch admitted and not yet applied: the oldest timestamp it has for each series,
/// by id for series that existed at admission and by labels for new ones.
#[derive(Debug, Default)]
struct InFlight {
    known: Vec<(SeriesId, i64)>,
    new: Vec<(Labels, i64)>,
}

impl Handler<AdmitBatch> for MetricAggregator {
    type Result = Result<Admitted, IngestError>;

    fn handle(&mut self, msg: AdmitBatch, _: &mut Self::Context) -> Self::Result {
        if let Some(e) = &self.load_error {
            return Err(IngestError::NotReady(e.clone()));
        }
        let oldest_allowed = self.clock.now_ms() - self.config.raw_retention_ms;
        for series in &msg.0.series {
            if series
                .samples
                .iter()
                .any(|s| s.timestamp_ms < oldest_allowed)
            {
                return Err(IngestError::BeyondRetention {
                    origin: series.origin.to_string(),
                    series: series.labels.to_string(),
                    retention_days: self.config.raw_retention_ms / DAY_MS,
                });
            }
        }
        let reserved = self.reserved_new_series();
        let resolved = self
            .head
            .admit(&msg.0, self.config.max_active_series, &reserved)?;
        self.take_tokens(msg.0.sample_count())
            .map_err(|retry_after_secs| IngestError::RateLimited { retry_after_secs })?;
        let mut in_flight = InFlight::default();
        for (series, id) in msg.0.series.iter().zip(&resolved) {
            let Some(oldest) = series.samples.iter().map(|s| s.timestamp_ms).min() else {
                continue;
            };
            match id {
                Some(id) => in_flight.known.push((*id, oldest)),
                None => in_flight.new.push((series.labels.clone(), oldest)),
            }
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.in_flight.insert(ticket, in_flight);
        Ok(Admitted {
            ticket,
            ids: resolved,
        })
    }
}

/// An admitted batch will not be applied (its write-ahead record was not committed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AbandonBatch {
    pub ticket: u64,
}

impl Handler<AbandonBatch> for MetricAggregator {
    type Result = ();

    fn handle(&mut self, msg: AbandonBatch, _: &mut Self::Context) {
        self.in_flight.remove(&msg.ticket);
    }
}

/// A durable batch (write-ahead record `wal_id`) to add to the head.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyBatch {
    pub wal_id: i64,
    pub batch: Arc<MetricBatch>,
    /// What [`AdmitBatch`] answered for this batch.
    pub admitted: Admitted,
    /// Signalled once the head holds the batch, after the aggregator has let go of it.
    pub applied: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Handler<ApplyBatch> for MetricAggregator {
    type Result = ();

    fn handle(&mut self, msg: ApplyBatch, ctx: &mut Self::Context) {
        let ApplyBatch {
            wal_id,
            batch,
            admitted,
            applied,
        } = msg;
        self.in_flight.remove(&admitted.ticket);
        let dropped = self.head.append(&batch, &admitted.ids);
        if dropped > 0 {
            tracing::warn!(tenant = %self.tenant, dropped, "samples older than sealed chunks were dropped");
        }
        self.applied_wal_ids.push(wal_id);
        self.samples_since_checkpoint += batch.sample_count();
        self.tell_subscribers(&batch);
        // Let go before signalling, so the sender's clone is the last and the batch is
        // freed on the thread that allocated it (cross-thread frees made the allocator take
        // fresh pages for every request).
        drop(batch);
        if let Some(applied) = applied {
            let _ = applied.send(());
        }
        self.report_size();
        self.maybe_checkpoint(ctx);
    }
}

/// What the aggregator applied: every batch, in the order the head took them. `sequence`
/// counts applied batches from 1 per aggregator start, so a gap shows a subscriber that
/// fell behind its mailbox bound.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct AppliedBatch {
    pub tenant: TenantId,
    pub sequence: u64,
    /// The series (labels) and their samples, as admitted.
    pub batch: Arc<MetricBatch>,
}

/// Add a subscriber to applied batches (the supervisor keeps the list across restarts;
/// see [`crate::actors::supervisor::SubscribeApplied`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub actix::Recipient<AppliedBatch>);

impl Handler<Subscribe> for MetricAggregator {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

/// Apply the retention policy now (it also runs hourly); answers (chunks, rollups) deleted.
#[derive(Message)]
#[rtype(result = "Result<(u64, u64), AggregatorError>")]
pub struct EnforceRetention;

impl Handler<EnforceRetention> for MetricAggregator {
    type Result = actix::ResponseFuture<Result<(u64, u64), AggregatorError>>;

    fn handle(&mut self, _: EnforceRetention, _: &mut Self::Context) -> Self::Result {
        Box::pin(self.retention_sweep())
    }
}

/// Stop the aggregator (its tenant's supervisor is stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAggregator;

impl Handler<StopAggregator> for MetricAggregator {
    type Result = ();

    fn handle(&mut self, _: StopAggregator, ctx: &mut Self::Context) {
        actix::ActorContext::stop(ctx);
    }
}

/// A label predicate for selections; `Send` so it can cross into the actor.
pub type LabelFilter = Arc<dyn Fn(&Labels) -> bool + Send + Sync>;

/// The series that match, with their samples from memory.
#[derive(Message)]
#[rtype(result = "SelectedSeries")]
pub struct SelectSeries {
    /// Narrows the search to one metric name's series when known.
    pub metric_name: Option<String>,
    pub filter: LabelFilter,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// What [`SelectSeries`] answers.
pub struct SelectedSeries {
    pub series: Vec<(SeriesId, Arc<Labels>, Vec<Sample>)>,
    /// Samples at or after this instant are all in `series`; earlier ones must be read
    /// from sealed chunks.
    pub covered_from_ms: i64,
}

impl Handler<SelectSeries> for MetricAggregator {
    type Result = MessageResult<SelectSeries>;

    fn handle(&mut self, msg: SelectSeries, _: &mut Self::Context) -> Self::Result {
        let series = self.head.select(
            msg.metric_name.as_deref(),
            msg.filter.as_ref(),
            msg.start_ms,
            msg.end_ms,
        );
        MessageResult(SelectedSeries {
            series,
            covered_from_ms: self.head.covered_from_ms(),
        })
    }
}

/// Checkpoint now (tests, shutdown, benchmarks); answers when that checkpoint (or the one
/// already running) has finished, with its outcome.
#[derive(Message)]
#[rtype(result = "Result<(), AggregatorError>")]
pub struct CheckpointNow;

impl Handler<CheckpointNow> for MetricAggregator {
    type Result = actix::ResponseFuture<Result<(), AggregatorError>>;

    fn handle(&mut self, _: CheckpointNow, ctx: &mut Self::Context) -> Self::Result {
        if let Some(e) = &self.load_error {
            let refused = Err(AggregatorError::NotReady(e.clone()));
            return Box::pin(async move { refused });
        }
        let (done, finished) = tokio::sync::oneshot::channel();
        self.checkpoint_waiters.push(done);
        if !self.checkpointing {
            self.checkpoint(ctx);
        }
        Box::pin(async move {
            finished.await.unwrap_or_else(|_| {
                Err(AggregatorError::CheckpointFailed(
                    "the aggregator stopped before the checkpoint finished".into(),
                ))
            })
        })
    }
}
