//! The metrics read path: PromQL instant and range queries and series lookups for one
//! tenant, each within one deadline across parsing (on a query thread), fetching and
//! evaluating (on a query thread again). Answers domain values; the Prometheus HTTP API
//! and, next, the alert evaluator and the live hub shape them.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use super::fetch::{matching_series, prefetch, Prefetched, Sources};
use crate::actors::registry::{RegistryError, TenantRegistryHandle};
use crate::domain::metrics::{Labels, METRIC_NAME_LABEL};
use crate::domain::TenantId;
use crate::error::{Classify, ErrorKind};
use crate::promql::{
    check_time_order, parse_within, required_selections, Engine, Expr, ExpressionLimits,
    QueryError, QueryLimits, QueryValue, Selection,
};
use crate::query_threads::{QueryThreadError, QueryThreads};
use crate::store::{Store, StoreError};

/// Why a read could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    QueryThreads(#[from] QueryThreadError),
    #[error("a stored chunk is unreadable: {0}")]
    Corrupt(String),
}

impl Classify for ReadError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Query(e) => e.kind(),
            Self::QueryThreads(e) => e.kind(),
            _ => ErrorKind::Unavailable,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Query(e) => e.code(),
            Self::QueryThreads(e) => e.code(),
            _ => "unavailable",
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Query(e) => e.retry_after_secs(),
            Self::QueryThreads(e) => e.retry_after_secs(),
            _ => Some(1),
        }
    }
}

/// What bounds every read.
#[derive(Debug, Clone, Copy)]
pub struct ReaderLimits {
    /// The longest any read may take (a request may ask for less).
    pub timeout: Duration,
    /// Most series one query selects; also caps series lookups.
    pub max_series: usize,
    /// Most points per series a range query may return.
    pub max_points_per_series: usize,
    /// Checked on the text and the tree before anything runs.
    pub expression: ExpressionLimits,
}

/// A range query: `text` evaluated at `start_ms`, every `step_ms`, through `end_ms`.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    pub text: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// A series lookup: series matching any of `matches` (all series when empty) with samples
/// in `[start_ms, end_ms]`; without a range, every indexed series counts.
#[derive(Debug, Clone, Default)]
pub struct SeriesQuery {
    pub matches: Vec<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

/// One read's deadline, counted from when it was made.
#[derive(Debug, Clone, Copy)]
pub struct QueryBudget {
    deadline: Instant,
}

impl QueryBudget {
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Runs `work` until the deadline; past it, [`QueryError::Timeout`] and the work is
    /// dropped.
    async fn within<T>(
        &self,
        work: impl Future<Output = Result<T, ReadError>>,
    ) -> Result<T, ReadError> {
        tokio::time::timeout(self.remaining(), work)
            .await
            .unwrap_or_else(|_| Err(QueryError::Timeout.into()))
    }
}

/// Answers PromQL and series lookups for any tenant.
#[derive(Clone)]
pub struct MetricsReader {
    sources: Sources,
    threads: QueryThreads,
    limits: ReaderLimits,
}

impl MetricsReader {
    pub fn new(
        tenants: TenantRegistryHandle,
        store: Store,
        threads: QueryThreads,
        limits: ReaderLimits,
    ) -> Self {
        Self {
            sources: Sources { tenants, store },
            threads,
            limits,
        }
    }

    pub fn limits(&self) -> &ReaderLimits {
        &self.limits
    }

    /// A deadline from now: the configured timeout, or `requested` when shorter.
    pub fn budget(&self, requested: Option<Duration>) -> QueryBudget {
        let timeout = requested.map_or(self.limits.timeout, |t| t.min(self.limits.timeout));
        QueryBudget {
            deadline: Instant::now() + timeout,
        }
    }

    fn engine(&self, budget: &QueryBudget) -> Engine {
        Engine::new(QueryLimits {
            max_points_per_series: self.limits.max_points_per_series,
            max_series: self.limits.max_series,
            timeout: budget.remaining(),
            ..QueryLimits::default()
        })
    }

    /// Runs `job` on a query thread within the deadline.
    async fn on_query_thread<T: Send + 'static>(
        &self,
        budget: &QueryBudget,
        job: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T, ReadError> {
        budget
            .within(async { Ok(self.threads.run(job).await??) })
            .await
    }

    /// Parses the query on a query thread and fetches what it needs for
    /// `[start_ms, end_ms]`.
    async fn parse_and_fetch(
        &self,
        tenant: TenantId,
        budget: &QueryBudget,
        text: String,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<(Expr, Prefetched), ReadError> {
        let limits = self.limits.expression;
        let lookback = QueryLimits::default().lookback_ms;
        let (expr, selections) = self
            .on_query_thread(budget, move || {
                let expr = parse_within(&text, &limits)?;
                let selections = required_selections(&expr, start_ms, end_ms, lookback);
                Ok((expr, selections))
            })
            .await?;
        let data = budget
            .within(prefetch(
                &self.sources,
                tenant,
                selections,
                self.limits.max_series,
            ))
            .await?;
        Ok((expr, data))
    }

    /// The value of `text` at `time_ms`.
    pub async fn instant(
        &self,
        tenant: TenantId,
        text: String,
        time_ms: i64,
        budget: &QueryBudget,
    ) -> Result<QueryValue, ReadError> {
        let (expr, data) = self
            .parse_and_fetch(tenant, budget, text, time_ms, time_ms)
            .await?;
        let engine = self.engine(budget);
        self.on_query_thread(budget, move || engine.instant(&expr, time_ms, &data))
            .await
    }

    /// The values of a range query; its resolution is checked (by the engine's rule)
    /// before anything is parsed or fetched.
    pub async fn range(
        &self,
        tenant: TenantId,
        query: RangeQuery,
        budget: &QueryBudget,
    ) -> Result<QueryValue, ReadError> {
        let RangeQuery {
            text,
            start_ms,
            end_ms,
            step_ms,
        } = query;
        if let Some(problem) = self.engine(budget).range_problem(start_ms, end_ms, step_ms) {
            return Err(problem.naming_parameter().into());
        }
        let (expr, data) = self
            .parse_and_fetch(tenant, budget, text, start_ms, end_ms)
            .await?;
        let engine = self.engine(budget);
        self.on_query_thread(budget, move || {
            engine.range(&expr, start_ms, end_ms, step_ms, &data)
        })
        .await
    }

    /// Label sets of the series a lookup refers to.
    pub async fn series(
        &self,
        tenant: TenantId,
        query: SeriesQuery,
        budget: &QueryBudget,
    ) -> Result<BTreeSet<Labels>, ReadError> {
        if query.matches.len() > self.limits.expression.max_selectors {
            return Err(QueryError::BadData(format!(
                "{} match[] parameters; the limit is {} (TIDEWATCH_QUERY_MAX_SELECTORS)",
                query.matches.len(),
                self.limits.expression.max_selectors
            ))
            .into());
        }
        if let (Some(start), Some(end)) = (query.start_ms, query.end_ms) {
            check_time_order(start, end)?;
        }
        let ranged = query.start_ms.is_some() || query.end_ms.is_some();
        let (start, end) = (
            query.start_ms.unwrap_or(i64::MIN / 2),
            query.end_ms.unwrap_or(i64::MAX / 2),
        );
        let texts = if query.matches.is_empty() {
            vec!["{__name__=~\".+\"}".to_owned()]
        } else {
            query.matches
        };
        let limits = self.limits.expression;
        let selections = self
            .on_query_thread(budget, move || {
                texts
                    .iter()
                    .map(|text| selection_of(text, &limits, start, end))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        budget
            .within(matching_series(
                &self.sources,
                tenant,
                selections,
                self.limits.max_series,
                ranged,
            ))
            .await
    }
}

/// A `match[]` text as a selection over `[start, end]`.
fn selection_of(
    text: &str,
    limits: &ExpressionLimits,
    start_ms: i64,
    end_ms: i64,
) -> Result<Selection, QueryError> {
    let expr = parse_within(text, limits)?;
    let Expr::VectorSelector(selector) = expr else {
        return Err(QueryError::BadData(format!(
            "invalid parameter \"match[]\": {text:?} is not a series selector"
        )));
    };
    let mut matchers = selector.matchers.clone();
    if let Some(name) = &selector.name {
        matchers.matchers.push(promql_parser::label::Matcher::new(
            promql_parser::label::MatchOp::Equal,
            METRIC_NAME_LABEL,
            name,
        ));
    }
    Ok(Selection {
        matchers,
        start_ms,
        end_ms,
    })
}
