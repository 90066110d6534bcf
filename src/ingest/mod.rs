//! Wire formats → domain: each format is one file implementing [`MetricDecoder`], turning
//! an already decompressed request body into a [`MetricBatch`]. Pure: no I/O, no HTTP.
//!
//! The HTTP layer picks a decoder, builds a [`DecodeContext`] from the config and the
//! request (server clock, limits, `precision`), and calls [`decode_request`], which
//! decompresses by `Content-Encoding` and decodes. Decoders check the format only; names
//! are kept as sent (after the sanitising OTLP's mapping prescribes) and the data model is
//! checked afterwards by [`crate::domain::metrics::validate_batch`], which reports problems
//! with the same `origin` strings (`line 17`, `metrics[3]`, `timeseries[2]` …).

pub mod compression;
mod error;
pub mod influx;
pub mod json;
pub mod otlp;
pub mod remote_write;

use crate::domain::metrics::{
    Labels, MetricBatch, Origin, Sample, SeriesSamples, METRIC_NAME_LABEL,
};
use crate::domain::TenantId;

pub use compression::decompress;
pub use error::IngestError;
pub use influx::{InfluxDecoder, Precision};
pub use json::JsonDecoder;
pub use otlp::{OtlpDecoder, OtlpEncoding};
pub use remote_write::RemoteWriteDecoder;

/// How many problems a [`IngestError::Malformed`] lists at most: enough to fix a client,
/// bounded so a garbage body cannot produce a garbage-sized answer.
pub const MAX_REPORTED_ERRORS: usize = 10;

/// Per-request parameters for decoding: the server clock, the limits, and the format
/// parameters some formats take from the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeContext {
    /// Server time in Unix ms, given to samples sent without a timestamp.
    pub now_ms: i64,
    /// The largest body accepted after decompression ([`IngestError::TooLarge`]).
    pub max_decompressed_bytes: usize,
    /// The most series one request may decode to ([`IngestError::TooManySeries`]); bounds
    /// the memory of formats that expand (one OTLP histogram point becomes many series).
    pub max_series: usize,
    /// Unit of InfluxDB line protocol timestamps (`?precision=`); ignored by other formats.
    pub precision: Precision,
    /// Whose request this is. Decoders that remember series between requests keep each
    /// tenant's apart, so one tenant cannot learn (from timing) what another sends; `None`
    /// is a scope of its own, for callers without a tenant.
    pub tenant: Option<TenantId>,
}

impl DecodeContext {
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;
    pub const DEFAULT_MAX_SERIES: usize = 200_000;

    /// A context with the default limits and nanosecond precision.
    pub fn new(now_ms: i64) -> Self {
        Self {
            now_ms,
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_series: Self::DEFAULT_MAX_SERIES,
            precision: Precision::default(),
            tenant: None,
        }
    }
}

/// One wire format. Adding a format is adding a file with one of these.
pub trait MetricDecoder {
    /// The `Content-Encoding` the protocol implies when a request sends none (Prometheus
    /// remote write bodies are always snappy-compressed).
    fn implied_encoding(&self) -> Option<&'static str> {
        None
    }

    /// Decodes an already decompressed body. All or nothing: any bad entry fails the
    /// whole body, so the caller never stores part of a request.
    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<MetricBatch, IngestError>;
}

/// Decompresses `body` by its `Content-Encoding` (or the one the format implies) within
/// `ctx.max_decompressed_bytes`, then decodes it.
pub fn decode_request(
    decoder: &dyn MetricDecoder,
    body: &[u8],
    content_encoding: Option<&str>,
    ctx: &DecodeContext,
) -> Result<MetricBatch, IngestError> {
    let encoding = content_encoding.or(decoder.implied_encoding());
    let plain = decompress(body, encoding, ctx.max_decompressed_bytes)?;
    decoder.decode(&plain, ctx)
}

/// The media type of a `Content-Type` header, lower-cased and without parameters:
/// `Application/JSON; charset=utf-8` → `application/json`.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Collects a format's series and its error messages: stops taking errors after
/// [`MAX_REPORTED_ERRORS`] and refuses series beyond `ctx.max_series`.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    series: Vec<SeriesSamples>,
    errors: Vec<String>,
    max_series: usize,
}

impl BatchBuilder {
    pub(crate) fn new(ctx: &DecodeContext) -> Self {
        Self::with_capacity(ctx, 0)
    }

    /// A builder expecting about `series` series (capped by the context's limit), so
    /// a large body does not regrow and copy its series list.
    pub(crate) fn with_capacity(ctx: &DecodeContext, series: usize) -> Self {
        Self {
            series: Vec::with_capacity(series.min(ctx.max_series)),
            errors: Vec::new(),
            max_series: ctx.max_series,
        }
    }

    /// Adds a one-sample series; fails once the request holds more than `max_series`.
    pub(crate) fn push(
        &mut self,
        labels: Labels,
        sample: Sample,
        origin: Origin,
    ) -> Result<(), IngestError> {
        self.push_series(SeriesSamples {
            labels,
            samples: smallvec::smallvec![sample],
            origin,
        })
    }

    pub(crate) fn push_series(&mut self, series: SeriesSamples) -> Result<(), IngestError> {
        if self.series.len() >= self.max_series {
            return Err(IngestError::TooManySeries {
                limit: self.max_series,
            });
        }
        // Once the body is known to be bad its series are dropped anyway.
        if self.errors.is_empty() {
            self.series.push(series);
        }
        Ok(())
    }

    pub(crate) fn error(&mut self, message: String) {
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(message);
        }
    }

    /// True once enough errors are collected that decoding further is pointless.
    pub(crate) fn is_full(&self) -> bool {
        self.errors.len() >= MAX_REPORTED_ERRORS
    }

    pub(crate) fn finish(self) -> Result<MetricBatch, IngestError> {
        if self.errors.is_empty() {
            Ok(MetricBatch {
                series: self.series,
            })
        } else {
            Err(IngestError::Malformed {
                errors: self.errors,
            })
        }
    }
}

/// Labels for metric `name` with `pairs`, refusing a `__name__` among the pairs, which
/// [`Labels::with_name`] would otherwise drop without a word.
pub(crate) fn labels_with_name<I>(name: &str, pairs: I) -> Result<Labels, String>
where
    I: IntoIterator<Item = (String, String)>,
{
    let pairs: Vec<(String, String)> = pairs.into_iter().collect();
    if pairs.iter().any(|(n, _)| n == METRIC_NAME_LABEL) {
        return Err(format!(
            "label {METRIC_NAME_LABEL:?} is reserved for the metric name"
        ));
    }
    Ok(Labels::with_name(name, pairs))
}

/// Parses the special values Prometheus' text format accepts: `NaN`, `+Inf`, `-Inf`, `Inf`.
pub(crate) fn special_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
