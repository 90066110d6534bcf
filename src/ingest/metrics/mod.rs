//! Metric wire formats: each file one [`Decoder`](super::Decoder) producing a
//! [`MetricBatch`]. Decoders check the format only; names are kept as sent (after the
//! sanitising OTLP's mapping prescribes) and the data model is checked afterwards by
//! [`crate::domain::metrics::validate_batch`], which reports problems with the same
//! `origin` strings (`line 17`, `metrics[3]`, `timeseries[2]` …).

pub mod influx;
pub mod json;
pub mod otlp;
pub mod remote_write;

use super::{DecodeContext, IngestError, MAX_REPORTED_ERRORS};
use crate::domain::metrics::{
    Labels, MetricBatch, Origin, Sample, SeriesSamples, METRIC_NAME_LABEL,
};

pub use influx::{InfluxDecoder, Precision, SeriesLabelMemo};
pub use json::JsonDecoder;
pub use otlp::{OtlpDecoder, OtlpEncoding};
pub use remote_write::RemoteWriteDecoder;

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
pub(crate) mod tests;
