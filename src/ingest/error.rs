//! The one name for "ingest stored nothing": every reason a request's samples were not
//! stored, from decoding through validation and admission to the commit.

use crate::domain::metrics::SampleRejection;
use crate::error::{Classify, ErrorKind};

/// Why nothing of an ingest request was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    // Decoding (the format's decoder, pure).
    /// The body does not follow its format. Each message names its position
    /// (`line 17: …`, `metrics[3]: …`); at most [`super::MAX_REPORTED_ERRORS`], first ones
    /// first.
    #[error("malformed request body: {}", errors.join("; "))]
    Malformed { errors: Vec<String> },
    /// The decompressed body is larger than `limit` bytes.
    #[error("the decompressed request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The body decodes to more than `limit` series.
    #[error("the request holds more than {limit} series")]
    TooManySeries { limit: usize },
    /// A `Content-Encoding` we cannot decompress.
    #[error("unsupported Content-Encoding {0:?}; use identity, gzip or snappy")]
    UnsupportedEncoding(String),
    /// A `Content-Type` this endpoint does not decode.
    #[error("unsupported Content-Type {0:?}")]
    UnsupportedMediaType(String),

    // Validation against the data model (pure).
    #[error("{} invalid sample(s); nothing was stored: {}", .0.len(), join(.0))]
    InvalidSamples(Vec<SampleRejection>),

    // Admission (the tenant's aggregator).
    /// The tenant would have more active series than allowed.
    #[error("the tenant has reached its limit of {limit} active series; refused new series {series}; nothing was stored")]
    SeriesLimit { limit: usize, series: String },
    /// A sample is older than what this series has already sealed.
    #[error("{origin}: series {series} already has sealed samples up to {sealed_until_ms} ms; older samples are rejected; nothing was stored")]
    TooOld {
        origin: String,
        series: String,
        sealed_until_ms: i64,
    },
    /// A sample has the timestamp of one already stored (or earlier in the same batch)
    /// with a different value. The same value again is accepted: a retry is idempotent.
    #[error("{origin}: duplicate sample for timestamp {timestamp_ms} ms: series {series} already has a different value there; nothing was stored")]
    DuplicateSample {
        origin: String,
        series: String,
        timestamp_ms: i64,
    },
    /// A sample is older than the tenant's raw retention.
    #[error("{origin}: series {series} has a sample older than the tenant's retention of {retention_days} days; nothing was stored")]
    BeyondRetention {
        origin: String,
        series: String,
        retention_days: i64,
    },
    /// The tenant would write to more distinct log streams within the hour than allowed.
    #[error("the tenant has reached its limit of {limit} log streams (distinct service, host and labels) this hour; nothing was stored")]
    StreamLimit { limit: usize },
    #[error("the tenant's ingest rate limit is exceeded; retry in {retry_after_secs} s; nothing was stored")]
    RateLimited { retry_after_secs: u64 },
    /// The tenant's head could not be rebuilt at start (database down).
    #[error("the tenant's metric store is not ready: {0}")]
    NotReady(String),

    // Making it durable (the persister).
    #[error("the write queue is full ({queued_bytes} bytes waiting); retry shortly")]
    Overloaded { queued_bytes: usize },
    /// The commit failed, or the tenant's actors or the persister went away.
    #[error("storing the batch failed: {0}")]
    StorageFailed(String),
}

fn join(rejections: &[SampleRejection]) -> String {
    rejections
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl IngestError {
    /// A `Malformed` with one message.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::Malformed {
            errors: vec![message.into()],
        }
    }
}

impl Classify for IngestError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Malformed { .. }
            | Self::InvalidSamples(_)
            | Self::TooOld { .. }
            | Self::DuplicateSample { .. }
            | Self::BeyondRetention { .. } => ErrorKind::InvalidInput,
            Self::TooLarge { .. } | Self::TooManySeries { .. } => ErrorKind::TooLarge,
            Self::UnsupportedEncoding(_) | Self::UnsupportedMediaType(_) => {
                ErrorKind::UnsupportedMediaType
            }
            Self::SeriesLimit { .. } | Self::StreamLimit { .. } => ErrorKind::Unprocessable,
            Self::RateLimited { .. } => ErrorKind::RateLimited,
            Self::NotReady(_) | Self::Overloaded { .. } | Self::StorageFailed(_) => {
                ErrorKind::Unavailable
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "invalid_body",
            Self::TooLarge { .. } | Self::TooManySeries { .. } => "payload_too_large",
            Self::UnsupportedEncoding(_) | Self::UnsupportedMediaType(_) => {
                "unsupported_media_type"
            }
            Self::InvalidSamples(_) | Self::BeyondRetention { .. } => "invalid_samples",
            Self::SeriesLimit { .. } => "series_limit",
            Self::StreamLimit { .. } => "stream_limit",
            Self::TooOld { .. } => "out_of_order",
            Self::DuplicateSample { .. } => "duplicate_sample",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotReady(_) => "not_ready",
            Self::Overloaded { .. } => "overloaded",
            Self::StorageFailed(_) => "storage_unavailable",
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Self::NotReady(_) => Some(5),
            Self::Overloaded { .. } | Self::StorageFailed(_) => Some(1),
            _ => None,
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::Malformed { .. } => format!("{self}; nothing was stored"),
            Self::NotReady(detail) => {
                tracing::error!(%detail, "aggregator not ready");
                "the tenant's metric store is not ready; retry shortly".into()
            }
            Self::StorageFailed(detail) => {
                tracing::error!(%detail, "ingest failed");
                "storing the batch failed; nothing was acknowledged; retry".into()
            }
            _ => self.to_string(),
        }
    }
}
