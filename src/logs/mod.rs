//! The log write and read paths, as components built once at start (by
//! `app::Application`) and handed to whoever needs them. Neither knows about HTTP.
//!
//! - [`LogsWriter`]: record limits → admit (the tenant's log pipeline) → encode one block
//!   → make durable (the log persister's group commit) → announce → acknowledge.
//! - [`LogsReader`]: search, histogram, field names and values over the tenant's blocks.
//! - [`compactor`]: merges committed batches' blocks into time-partitioned ones.

pub mod compactor;
mod loki;
mod reader;
pub mod syslog;
mod writer;

pub use loki::{IndexStats, LokiStream};
pub use reader::{
    Counted, Direction, FieldCounts, FoundRecord, Histogram, HistogramRequest, LogReadError,
    LogReaderLimits, LogsReader, RecordKey, SearchPage, SearchRequest,
};
pub use writer::{LogsWriter, LogsWritten};
