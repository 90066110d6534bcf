//! The pipelines as the alert evaluator sees them: PromQL instant queries (PromQL rules,
//! rebuilding threshold windows), writes (the `ALERTS` series) and log reads (rebuilding
//! log rules' windows).

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{MetricsReader, MetricsWriter};
use crate::actors::evaluator::AlertData;
use crate::domain::logs::MatchedWindow;
use crate::domain::metrics::MetricBatch;
use crate::domain::TenantId;
use crate::logs::LogsReader;
use crate::promql::QueryValue;

pub struct AlertDataAccess {
    pub reader: MetricsReader,
    pub writer: MetricsWriter,
    pub logs: LogsReader,
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

    fn log_window(
        &self,
        tenant: TenantId,
        query: String,
        group_by: Vec<String>,
        start_ms: i64,
        end_ms: i64,
        lines: usize,
    ) -> BoxFuture<'static, Result<MatchedWindow, String>> {
        let logs = self.logs.clone();
        Box::pin(async move {
            logs.matched_window(
                tenant,
                &query,
                group_by,
                start_ms.saturating_mul(1_000_000),
                end_ms.saturating_mul(1_000_000),
                lines,
            )
            .await
            .map_err(|e| e.to_string())
        })
    }
}
