//! The metrics write path, shared by every ingest format:
//! validate (pure) → admit (the tenant's aggregator: limits, ordering) → make durable
//! (the persister's group commit) → apply to the head → acknowledge.
//! Nothing reaches the database unless the whole batch is valid and admitted.

use std::sync::Arc;
use std::time::Instant;

use crate::actors::aggregator::{wal_append, AdmitBatch, ApplyBatch, Refusal};
use crate::actors::persister::{AppendRecord, PersistError};
use crate::actors::registry::RegistryError;
use crate::app::AppState;
use crate::domain::metrics::{validate_batch, MetricBatch, SampleRejection};
use crate::domain::time::now_ms;
use crate::domain::TenantId;

/// How many problems a rejection lists.
pub const MAX_REPORTED_REJECTIONS: usize = 10;

/// Why an ingest request stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum IngestFailure {
    #[error("{} invalid sample(s); nothing was stored: {}", .0.len(), join(.0))]
    Invalid(Vec<SampleRejection>),
    #[error(transparent)]
    Refused(#[from] RefusalError),
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The aggregator's refusal, as an error.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
pub struct RefusalError(pub Refusal);

fn join(rejections: &[SampleRejection]) -> String {
    rejections
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Stores a decoded batch for `tenant`; returns the number of samples acknowledged.
pub async fn ingest(
    state: &AppState,
    tenant: TenantId,
    batch: MetricBatch,
) -> Result<usize, IngestFailure> {
    let stages = StageTimer::new(state);
    let rejections = validate_batch(
        &batch,
        &state.config.sample_limits(),
        now_ms(),
        MAX_REPORTED_REJECTIONS,
    );
    if !rejections.is_empty() {
        return Err(IngestFailure::Invalid(rejections));
    }
    let samples = batch.sample_count();
    if samples == 0 {
        return Ok(0);
    }
    let batch = Arc::new(batch);
    let stages = stages.lap("validate");
    let aggregator = state.registry.aggregator(tenant).await?;
    let admitted = aggregator
        .send(AdmitBatch(batch.clone()))
        .await
        .map_err(RegistryError::SupervisorLost)?
        .map_err(RefusalError)?;
    let stages = stages.lap("admit");
    // Encoded only once admitted: a refused batch costs no encoding.
    let record = wal_append(tenant, &batch).expect("a batch with samples has a write-ahead record");
    let stages = stages.lap("encode");
    let wal_id = state
        .persister
        .send(AppendRecord(record))
        .await
        .map_err(|_| PersistError::Lost)??;
    let stages = stages.lap("commit");
    // Durable from here on: if the aggregator is gone, its successor replays the record.
    let apply = ApplyBatch {
        wal_id,
        batch: batch.clone(),
        admitted,
    };
    if let Err(e) = aggregator.send(apply).await {
        tracing::warn!(%tenant, error = %e, "aggregator stopped before applying a durable batch; it will be replayed");
    }
    stages.lap("apply");
    // Our clone is usually the last one, so the batch is freed here on the HTTP worker
    // rather than on the aggregator's thread, which every tenant's ingest goes through.
    drop(batch);
    state.metrics.ingested_samples.inc_by(samples as u64);
    Ok(samples)
}

/// Observes how long each write-path stage took into `ingest_stage_seconds`.
pub(crate) struct StageTimer<'a> {
    state: &'a AppState,
    since: Instant,
}

impl<'a> StageTimer<'a> {
    pub(crate) fn new(state: &'a AppState) -> Self {
        Self {
            state,
            since: Instant::now(),
        }
    }

    /// Records the time since the previous lap as `stage` and starts the next lap.
    pub(crate) fn lap(self, stage: &str) -> Self {
        self.state
            .metrics
            .ingest_stage_seconds
            .with_label_values(&[stage])
            .observe(self.since.elapsed().as_secs_f64());
        Self::new(self.state)
    }
}
