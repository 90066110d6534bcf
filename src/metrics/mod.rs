//! The metric write and read paths, as components built once at start
//! (by `app::Application`) and handed to whoever needs them: the HTTP handlers today,
//! the alert evaluator and the live hub next. Neither knows about HTTP.
//!
//! - [`MetricsWriter`]: validate → admit (the tenant's aggregator) → make durable (the
//!   persister's group commit) → apply → acknowledge.
//! - [`MetricsReader`]: parse within limits (query threads) → fetch from the head and sealed
//!   chunks → evaluate, within one deadline.

mod alert_data;
mod fetch;
mod reader;
mod writer;

pub use alert_data::AlertDataAccess;
pub use fetch::{Prefetched, SeriesData};
pub use reader::{MetricsReader, QueryBudget, RangeQuery, ReadError, ReaderLimits, SeriesQuery};
pub use writer::{MetricsWriter, MAX_REPORTED_REJECTIONS};

#[cfg(test)]
mod tests;
