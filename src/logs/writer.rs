//! The log write path, shared by every log format: limits (pure) → admit (the tenant's
//! log pipeline: rate, streams) → encode one block → make durable (the log persister's
//! group commit) → announce to the pipeline's subscribers → acknowledge.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use actix::Addr;

use crate::actors::log_pipeline::{AdmitLogs, LogsCommitted};
use crate::actors::persister::{AppendRecord, PersistError, Persister};
use crate::actors::registry::{RegistryError, TenantRegistryHandle};
use crate::domain::logs::{enforce_limits, RecordLimits};
use crate::domain::TenantId;
use crate::ingest::logs::LogBatch;
use crate::ingest::{IngestError, MAX_REPORTED_ERRORS};
use crate::self_metrics::ServiceMetrics;
use crate::store::logs::LogBlockAppend;
use crate::tsdb::log_block::encode_block;

/// Stores decoded log batches: the one way records enter a tenant's store.
#[derive(Clone)]
pub struct LogsWriter {
    tenants: TenantRegistryHandle,
    persister: Addr<Persister<LogBlockAppend>>,
    metrics: ServiceMetrics,
    limits: RecordLimits,
}

/// What one write stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogsWritten {
    pub records: usize,
    /// Bytes of the records as text (before compression).
    pub bytes: usize,
}

impl LogsWriter {
    pub fn new(
        tenants: TenantRegistryHandle,
        persister: Addr<Persister<LogBlockAppend>>,
        metrics: ServiceMetrics,
        limits: RecordLimits,
    ) -> Self {
        Self {
            tenants,
            persister,
            metrics,
            limits,
        }
    }

    /// Stores a decoded batch for `tenant`, all or nothing; answers once it is durable.
    pub async fn write(
        &self,
        tenant: TenantId,
        batch: LogBatch,
    ) -> Result<LogsWritten, IngestError> {
        let LogBatch {
            mut records,
            origins,
        } = batch;
        if records.is_empty() {
            return Ok(LogsWritten {
                records: 0,
                bytes: 0,
            });
        }
        let named = LogBatch {
            records: Vec::new(),
            origins,
        };
        let problems = enforce_limits(
            &mut records,
            &|i| named.origin(i),
            &self.limits,
            MAX_REPORTED_ERRORS,
        );
        if !problems.is_empty() {
            return Err(IngestError::Malformed {
                errors: problems
                    .into_iter()
                    .map(|p| format!("{}: {}", p.origin, p.message))
                    .collect(),
            });
        }
        let streams = stream_hashes(&records);
        let pipeline = self.tenants.actors(tenant).await?.log_pipeline;
        pipeline
            .send(AdmitLogs {
                records: records.len(),
                streams,
            })
            .await
            .map_err(RegistryError::SupervisorLost)??;
        // Encoding (sorting, columns, deflate) is CPU work: off the async workers.
        let (records, block) = actix_web::rt::task::spawn_blocking(move || {
            let block = encode_block(&mut records);
            (records, block)
        })
        .await
        .map_err(|e| IngestError::StorageFailed(format!("encoding the log block failed: {e}")))?;
        let Some(block) = block else {
            return Ok(LogsWritten {
                records: 0,
                bytes: 0,
            });
        };
        let written = LogsWritten {
            records: records.len(),
            bytes: block.raw_bytes,
        };
        // From here a task of its own: a client that goes away does not stop a commit
        // half-way, and a committed batch is always announced.
        let persister = self.persister.clone();
        let block_id = actix_rt::spawn(async move {
            let committed = persister
                .send(AppendRecord(LogBlockAppend { tenant, block }))
                .await;
            let id = committed.unwrap_or(Err(PersistError::Lost))?;
            pipeline.do_send(LogsCommitted {
                block_id: id,
                records: Arc::new(records),
            });
            Ok::<i64, PersistError>(id)
        })
        .await
        .map_err(|e| {
            tracing::error!(%tenant, error = %e, "log ingest task failed");
            IngestError::from(PersistError::Lost)
        })??;
        let _ = block_id;
        self.metrics
            .ingested_log_records
            .inc_by(written.records as u64);
        Ok(written)
    }
}

/// One hash per distinct stream (service, host, labels) of the batch.
fn stream_hashes(records: &[crate::domain::logs::LogRecord]) -> Vec<u64> {
    let mut hashes: Vec<u64> = records
        .iter()
        .map(|r| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (&r.service, &r.host, &r.labels).hash(&mut hasher);
            hasher.finish()
        })
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}
