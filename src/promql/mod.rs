//! A pure, synchronous PromQL evaluator with Prometheus 2.x semantics.
//!
//! The caller parses a query ([`parse`]), asks which series and time ranges it needs
//! ([`required_selections`]), fetches them into a [`SeriesSource`], and evaluates with
//! [`Engine::instant`] or [`Engine::range`]. Results serialise exactly as the `data` object of
//! the Prometheus HTTP API. Anything not implemented is refused with
//! [`QueryError::Unsupported`] naming it, never answered approximately.
//!
//! Windows follow Prometheus 2.x (the version `promtool` checks us against): a range selector
//! `x[5m]` at `t` takes samples in `[t-5m, t]`, and an instant selector the latest sample in
//! `[t-lookback, t]`.

mod aggregate;
mod binary;
mod engine;
#[cfg(test)]
mod engine_tests;
mod functions;
mod histogram;
mod limits;
mod numeric;
mod params;
mod range_functions;
mod selection;
mod support;
mod value;

#[cfg(test)]
mod compat_cases;
#[cfg(test)]
mod promtool_compat;
#[cfg(test)]
mod series_notation;

pub use engine::{Engine, QueryLimits, RangeProblem};
pub use limits::{check_text, parse_within, ExpressionLimits, MAX_QUERY_DURATION_MS};
pub use numeric::stale_nan;
pub use params::{check_time_order, parse_duration, parse_limit, parse_time, TimeParam};
pub use promql_parser::parser::Expr;
pub use selection::{
    required_selections, selector_matchers, InMemorySeries, Selection, SeriesSource,
};
pub use value::{format_value, InstantSample, QueryValue, RangeSeries};

/// Why a query could not be answered. Each variant maps to one Prometheus API error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query text or a parameter is malformed (HTTP 400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Valid PromQL this engine does not evaluate; names the function or feature (HTTP 422).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A configured limit was hit; names the limit (HTTP 422).
    #[error("{0}")]
    LimitExceeded(String),
    /// Evaluation failed the way Prometheus fails it, e.g. duplicate label sets after a
    /// function dropped the metric name (HTTP 422, `execution`).
    #[error("{0}")]
    Execution(String),
    /// The evaluation ran past the configured timeout (HTTP 503, `timeout`).
    #[error("query timed out in expression evaluation")]
    Timeout,
}

/// Parses PromQL text into an expression tree; syntax and type errors are `BadData`.
/// Trusted text only (tests, built-in rules): requests go through [`parse_within`].
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    promql_parser::parser::parse(query).map_err(QueryError::BadData)
}

impl crate::error::Classify for QueryError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            Self::BadData(_) => ErrorKind::InvalidInput,
            Self::Unsupported(_) | Self::LimitExceeded(_) | Self::Execution(_) => {
                ErrorKind::Unprocessable
            }
            Self::Timeout => ErrorKind::Unavailable,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadData(_) => "bad_data",
            Self::Unsupported(_) => "unsupported",
            Self::LimitExceeded(_) => "limit_exceeded",
            Self::Execution(_) => "execution",
            Self::Timeout => "timeout",
        }
    }
}
