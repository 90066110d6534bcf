//! A tenant's log pipeline: admits batches (the ingest rate and the stream limit, with the
//! tenant's overrides), tells the evaluator (log alert rules) and subscribers (live tails)
//! every committed batch. Retention is applied to every tenant by [`sweep_all_tenants`]
//! (running or not, each with its own retention), and on demand here. Records are made
//! durable by the log persister before they are announced here, so a subscriber never
//! sees a record a crash could take back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient,
    WrapFuture,
};

use crate::domain::logs::LogRecord;
use crate::domain::time::SharedClock;
use crate::domain::TenantId;
use crate::ingest::IngestError;
use crate::store::tenants::TenantLimits;
use crate::store::Store;

/// What the pipeline is configured with (from `Config`).
#[derive(Debug, Clone, Copy)]
pub struct LogPipelineConfig {
    pub records_per_sec: u64,
    pub max_streams: usize,
    pub retention_days: u64,
}

impl LogPipelineConfig {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            records_per_sec: config.log_ingest_records_per_sec,
            max_streams: config.log_max_streams,
            retention_days: config.log_retention_days,
        }
    }

    /// This policy with a tenant's overrides (`tenants.log_*` columns) applied.
    pub fn with_overrides(mut self, limits: &TenantLimits) -> Self {
        if let Some(rate) = limits.log_ingest_records_per_sec {
            self.records_per_sec = rate.max(1) as u64;
        }
        if let Some(streams) = limits.log_max_streams {
            self.max_streams = streams.max(1) as usize;
        }
        self.retention_days = retention_days(self.retention_days, limits);
        self
    }
}

/// A tenant's log retention: its own, else `default`.
fn retention_days(default: u64, limits: &TenantLimits) -> u64 {
    limits
        .log_retention_days
        .map_or(default, |days| days.max(1) as u64)
}

/// Blocks whose newest record is older than this (Unix ns) are past a retention of
/// `days` at `now_ms`.
fn retention_cutoff_ns(now_ms: i64, days: u64) -> i64 {
    (now_ms - days as i64 * 86_400_000).saturating_mul(1_000_000)
}

/// How often retention looks for blocks past the tenants' retention.
pub const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// Blocks deleted per statement; the sweep yields between statements.
const RETENTION_BATCH: usize = 200;
/// Streams are counted per window of this length.
const STREAM_WINDOW_MS: i64 = 3_600_000;

/// A batch committed for this tenant, in time order, with the id of its block.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct LogsCommitted {
    pub block_id: i64,
    pub records: Arc<Vec<LogRecord>>,
}

pub struct LogPipeline {
    tenant: TenantId,
    store: Store,
    clock: SharedClock,
    config: LogPipelineConfig,
    /// Token bucket: records that may pass now, refilled at `records_per_sec`.
    tokens: f64,
    refilled_at_ms: i64,
    streams: HashSet<u64>,
    streams_window_start_ms: i64,
    subscribers: Vec<Recipient<LogsCommitted>>,
    /// The tenant's alert evaluator: told of every committed block, never skipped when
    /// busy (a log rule must count every record), unlike live views.
    evaluator: Option<Recipient<LogsCommitted>>,
}

impl LogPipeline {
    pub fn new(
        tenant: TenantId,
        store: Store,
        clock: SharedClock,
        config: LogPipelineConfig,
    ) -> Self {
        let now = clock.now_ms();
        Self {
            tenant,
            store,
            clock,
            tokens: Self::burst(&config),
            config,
            refilled_at_ms: now,
            streams: HashSet::new(),
            streams_window_start_ms: now,
            subscribers: Vec::new(),
            evaluator: None,
        }
    }

    /// Committed blocks go to `evaluator` too (log alert rules).
    pub fn with_evaluator(mut self, evaluator: Recipient<LogsCommitted>) -> Self {
        self.evaluator = Some(evaluator);
        self
    }

    fn burst(config: &LogPipelineConfig) -> f64 {
        config.records_per_sec as f64 * 2.0
    }

    /// Records whose newest is older than this are past retention.
    fn cutoff_ns(&self) -> i64 {
        retention_cutoff_ns(self.clock.now_ms(), self.config.retention_days)
    }
}

/// Deletes the tenant's blocks past `cutoff_ns` in batches, yielding between them so
/// ingest is never held behind one long delete.
pub async fn delete_before(
    store: &Store,
    tenant: TenantId,
    cutoff_ns: i64,
) -> Result<u64, crate::store::StoreError> {
    let mut deleted = 0;
    loop {
        let n = store
            .delete_log_blocks_before(tenant, cutoff_ns, RETENTION_BATCH)
            .await?;
        deleted += n;
        if (n as usize) < RETENTION_BATCH {
            if deleted > 0 {
                tracing::debug!(%tenant, deleted, "log retention");
            }
            return Ok(deleted);
        }
        tokio::task::yield_now().await;
    }
}

impl Actor for LogPipeline {
    type Context = Context<Self>;

    /// The tenant's overrides first: `wait` holds back admissions until they apply (a
    /// change to them restarts the tenant's actors, so this is the only place).
    fn started(&mut self, ctx: &mut Self::Context) {
        let (store, tenant) = (self.store.clone(), self.tenant);
        let load = async move { store.get_tenant(tenant).await };
        ctx.wait(load.into_actor(self).map(|loaded, act, _| match loaded {
            Ok(Some(record)) => {
                act.config = act.config.with_overrides(&record.limits);
                act.tokens = Self::burst(&act.config);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(tenant = %act.tenant, error = %e, "reading the tenant's log limits failed; the defaults apply")
            }
        }));
    }
}

/// May this batch come in? `records` records, the hashes of the streams it writes to.
#[derive(Message)]
#[rtype(result = "Result<(), IngestError>")]
pub struct AdmitLogs {
    pub records: usize,
    pub streams: Vec<u64>,
}

impl Handler<AdmitLogs> for LogPipeline {
    type Result = Result<(), IngestError>;

    fn handle(&mut self, msg: AdmitLogs, _: &mut Self::Context) -> Self::Result {
        let now = self.clock.now_ms();
        if now - self.streams_window_start_ms >= STREAM_WINDOW_MS {
            self.streams.clear();
            self.streams_window_start_ms = now;
        }
        let new: HashSet<u64> = msg
            .streams
            .iter()
            .copied()
            .filter(|s| !self.streams.contains(s))
            .collect();
        if self.streams.len() + new.len() > self.config.max_streams {
            return Err(IngestError::StreamLimit {
                limit: self.config.max_streams,
            });
        }
        let rate = self.config.records_per_sec as f64;
        let elapsed = (now - self.refilled_at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(Self::burst(&self.config));
        self.refilled_at_ms = now;
        let wanted = msg.records as f64;
        // A batch bigger than the whole burst passes when the bucket is full, so no batch
        // size is refused for ever.
        if wanted > self.tokens && self.tokens < Self::burst(&self.config) {
            let retry_after_secs = ((wanted - self.tokens) / rate).ceil().max(1.0) as u64;
            return Err(IngestError::RateLimited { retry_after_secs });
        }
        self.tokens -= wanted;
        self.streams.extend(new);
        Ok(())
    }
}

impl Handler<LogsCommitted> for LogPipeline {
    type Result = ();

    fn handle(&mut self, msg: LogsCommitted, _: &mut Self::Context) {
        // A full subscriber misses the batch (it is bounded, the pipeline is not held up);
        // a stopped one is dropped.
        if let Some(evaluator) = &self.evaluator {
            evaluator.do_send(msg.clone());
        }
        self.subscribers.retain(|s| s.connected());
        for subscriber in &self.subscribers {
            let _ = subscriber.try_send(msg.clone());
        }
    }
}

/// Hear every committed batch of this tenant from now on.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeLogs(pub Recipient<LogsCommitted>);

impl Handler<SubscribeLogs> for LogPipeline {
    type Result = ();

    fn handle(&mut self, msg: SubscribeLogs, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

/// Applies retention now; answers how many blocks it deleted (tests, and the admin who
/// lowered a retention and wants the space back).
#[derive(Message)]
#[rtype(result = "Result<u64, crate::store::StoreError>")]
pub struct SweepLogRetention;

impl Handler<SweepLogRetention> for LogPipeline {
    type Result = actix::ResponseFuture<Result<u64, crate::store::StoreError>>;

    fn handle(&mut self, _: SweepLogRetention, _: &mut Self::Context) -> Self::Result {
        let (store, tenant, cutoff_ns) = (self.store.clone(), self.tenant, self.cutoff_ns());
        Box::pin(async move { delete_before(&store, tenant, cutoff_ns).await })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct StopLogPipeline;

impl Handler<StopLogPipeline> for LogPipeline {
    type Result = ();

    fn handle(&mut self, _: StopLogPipeline, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Applies log retention to every tenant that has logs, running or not (the app runs it
/// every [`RETENTION_EVERY`]); a failure is logged and retried on the next round.
pub async fn sweep_all_tenants(store: &Store, clock: &SharedClock, default_days: u64) {
    let tenants = match store.tenants_with_logs().await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(error = %e, "log retention: listing tenants failed; retried later");
            return;
        }
    };
    for tenant in tenants {
        // Each tenant's own retention, where it has one.
        let days = match store.get_tenant(tenant).await {
            Ok(record) => record.map_or(default_days, |r| retention_days(default_days, &r.limits)),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "log retention: reading the tenant failed; retried later");
                continue;
            }
        };
        let cutoff_ns = retention_cutoff_ns(clock.now_ms(), days);
        if let Err(e) = delete_before(store, tenant, cutoff_ns).await {
            tracing::warn!(%tenant, error = %e, "log retention failed; retried later");
        }
    }
}
