//! The metrics write path, shared by every ingest format:
//! validate (pure) → admit (the tenant's aggregator: limits, ordering) → make durable
//! (the persister's group commit) → apply to the head → acknowledge.
//! Nothing reaches the database unless the whole batch is valid and admitted, and an
//! admitted batch always ends applied or abandoned: both happen here, in one task.

use std::sync::Arc;

use actix::Addr;

use crate::actors::aggregator::{
    wal_append, AbandonBatch, AdmitBatch, ApplyBatch, MetricAggregator,
};
use crate::actors::persister::{AppendRecord, PersistError, Persister};
use crate::actors::registry::{RegistryError, TenantRegistryHandle};
use crate::domain::metrics::{validate_batch, MetricBatch, SampleLimits};
use crate::domain::time::SharedClock;
use crate::domain::TenantId;
use crate::ingest::IngestError;
use crate::self_metrics::{IngestStage, ServiceMetrics, StageTimer};

/// How many problems a rejection lists.
pub const MAX_REPORTED_REJECTIONS: usize = 10;

/// Stores decoded batches: the one way samples enter a tenant's store.
#[derive(Clone)]
pub struct MetricsWriter {
    tenants: TenantRegistryHandle,
    persister: Addr<Persister>,
    metrics: ServiceMetrics,
    limits: SampleLimits,
    clock: SharedClock,
}

impl MetricsWriter {
    pub fn new(
        tenants: TenantRegistryHandle,
        persister: Addr<Persister>,
        metrics: ServiceMetrics,
        limits: SampleLimits,
        clock: SharedClock,
    ) -> Self {
        Self {
            tenants,
            persister,
            metrics,
            limits,
            clock,
        }
    }

    /// Stores a decoded batch for `tenant`; returns the number of samples acknowledged
    /// (durable: they survive a crash from here on).
    pub async fn write(&self, tenant: TenantId, batch: MetricBatch) -> Result<usize, IngestError> {
        let stages = StageTimer::new(&self.metrics);
        let rejections = validate_batch(
            &batch,
            &self.limits,
            self.clock.now_ms(),
            MAX_REPORTED_REJECTIONS,
        );
        if !rejections.is_empty() {
            return Err(IngestError::InvalidSamples(rejections));
        }
        let samples = batch.sample_count();
        if samples == 0 {
            return Ok(0);
        }
        let batch = Arc::new(batch);
        stages.lap(IngestStage::Validate);
        let aggregator = self.tenants.aggregator(tenant).await?;
        // The rest runs as a task of its own: once admitted, a batch must end up applied or
        // abandoned (and an acknowledged one in the head) even if the client goes away and
        // this request's future is dropped half-way.
        let tail = store_admitted(
            tenant,
            aggregator,
            self.persister.clone(),
            self.metrics.clone(),
            batch,
        );
        let samples = actix_rt::spawn(tail).await.map_err(|e| {
            tracing::error!(%tenant, error = %e, "ingest task failed");
            IngestError::from(PersistError::Lost)
        })??;
        self.metrics.ingested_samples.inc_by(samples as u64);
        Ok(samples)
    }
}

/// Admit → make durable → apply, for one validated batch.
async fn store_admitted(
    tenant: TenantId,
    aggregator: Addr<MetricAggregator>,
    persister: Addr<Persister>,
    metrics: ServiceMetrics,
    batch: Arc<MetricBatch>,
) -> Result<usize, IngestError> {
    let stages = StageTimer::new(&metrics);
    // Encode while the aggregator decides: the record is only used once admitted, and a
    // refused batch (rare) costs one wasted encoding.
    let admission = aggregator.send(AdmitBatch(batch.clone()));
    let record = wal_append(tenant, &batch).expect("a batch with samples has a write-ahead record");
    let stages = stages.lap(IngestStage::Encode);
    let admitted = admission.await.map_err(RegistryError::SupervisorLost)??;
    let stages = stages.lap(IngestStage::Admit);
    let committed = persister.send(AppendRecord(record)).await;
    let wal_id = match committed.unwrap_or(Err(PersistError::Lost)) {
        Ok(id) => id,
        Err(e) => {
            aggregator.do_send(AbandonBatch {
                ticket: admitted.ticket,
            });
            return Err(e.into());
        }
    };
    stages.lap(IngestStage::Commit);
    // Durable from here on. The answer need not wait for the head: the apply is queued in
    // the aggregator's mailbox (do_send: never held back by a full mailbox), so any query
    // the client sends after this answer is handled after it. If the aggregator is gone,
    // its successor replays the record.
    let samples = batch.sample_count();
    let (applied, on_applied) = tokio::sync::oneshot::channel();
    aggregator.do_send(ApplyBatch {
        wal_id,
        batch: batch.clone(),
        admitted,
        applied: Some(applied),
    });
    // Free the batch here, on the HTTP worker that decoded it, once the head has it.
    actix_rt::spawn(async move {
        let _ = on_applied.await;
        drop(batch);
    });
    Ok(samples)
}
