//! The metrics pipeline as the alert evaluator sees it: PromQL instant queries (PromQL
//! rules, rebuilding threshold windows) and writes (the `ALERTS` series).

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{MetricsReader, MetricsWriter};
use crate::actors::evaluator::AlertData;
use crate::domain::metrics::MetricBatch;
use crate::domain::TenantId;
use crate::promql::QueryValue;

pub struct AlertDataAccess {
    pub reader: MetricsReader,
    pub writer: MetricsWriter,
    /// Longest one rule evaluation may take.
    pub timeout: Duration,
}

impl AlertData for AlertDataAccess {
    fn instant(
        &self,
        tenant: TenantId,
        query: String,
        time_ms: i64,
    ) -> BoxFuture<'static, Result<QueryValue, String>> {
        let reader = self.reader.clone();
        let budget = reader.budget(Some(self.timeout));
        Box::pin(async move {
            reader
                .instant(tenant, query, time_ms, &budget)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn write(
        &self,
        tenant: TenantId,
        batch: MetricBatch,
    ) -> BoxFuture<'static, Result<usize, String>> {
        let writer = self.writer.clone();
        Box::pin(async move { writer.write(tenant, batch).await.map_err(|e| e.to_string()) })
    }
}
