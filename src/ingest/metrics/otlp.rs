//! OTLP/HTTP metrics: `ExportMetricsServiceRequest` as protobuf (`application/x-protobuf`)
//! or as OTLP/JSON (`application/json`), mapped as Prometheus' OTLP receiver maps it:
//!
//! - metric names and attribute keys sanitised only as needed (`http.server.duration` →
//!   `http_server_duration`); no unit or type suffixes are added, so a metric keeps the
//!   name its instrumentation gave it and queries need not guess `_seconds_total`;
//! - resource `service.namespace`/`service.name` → `job`, `service.instance.id` →
//!   `instance`; data point attributes → labels;
//! - gauges and cumulative sums (int or double): one sample per data point;
//! - explicit-bucket histograms: `name_bucket{le="…"}` (cumulative, `+Inf` included),
//!   `name_sum`, `name_count`; summaries: `name{quantile="…"}`, `name_sum`, `name_count`;
//! - points flagged "no recorded value" become Prometheus stale markers;
//! - `timeUnixNano` → ms (0, i.e. unset, → server time).
//!
//! Refused as malformed, naming the metric: exponential histograms, delta (or
//! unspecified) temporality sums and histograms, metrics without data, points without a
//! value, histograms whose bucket counts do not fit their bounds. Refusing keeps the
//! all-or-nothing rule of every format; silently skipping would lose data unseen.
//!
//! Origins are paths: `resourceMetrics[0].scopeMetrics[0].metrics[2].dataPoints[1]`.

pub(crate) mod names;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, DataPointFlags, HistogramDataPoint,
    Metric, NumberDataPoint, SummaryDataPoint,
};

use super::{BatchBuilder, DecodeContext, IngestError};
use crate::domain::metrics::{Labels, MetricBatch, Origin, Sample};
use crate::ingest::{media_type, Decoder, DecoderMemory, RequestHead};

/// Prometheus' stale marker: the NaN with this exact bit pattern.
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// How the `ExportMetricsServiceRequest` is serialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpEncoding {
    Protobuf,
    Json,
}

/// Decodes OTLP/HTTP metrics in one encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtlpDecoder {
    pub encoding: OtlpEncoding,
}

impl OtlpDecoder {
    /// The decoder for a request's `Content-Type`: `application/x-protobuf` or
    /// `application/json` (parameters ignored); anything else, or none, is refused.
    pub fn for_content_type(content_type: Option<&str>) -> Result<Self, IngestError> {
        let content_type = content_type.unwrap_or_default();
        let encoding = match media_type(content_type).as_str() {
            "application/x-protobuf" => OtlpEncoding::Protobuf,
            "application/json" => OtlpEncoding::Json,
            _ => return Err(IngestError::UnsupportedMediaType(content_type.to_owned())),
        };
        Ok(Self { encoding })
    }

    fn parse(&self, body: &[u8]) -> Result<ExportMetricsServiceRequest, IngestError> {
        match self.encoding {
            OtlpEncoding::Protobuf => prost::Message::decode(body).map_err(|e| {
                IngestError::malformed(format!(
                    "the body is not a protobuf ExportMetricsServiceRequest: {e}"
                ))
            }),
            OtlpEncoding::Json => serde_json::from_slice(body).map_err(|e| {
                IngestError::malformed(format!(
                    "the body is not an OTLP/JSON ExportMetricsServiceRequest: {e}"
                ))
            }),
        }
    }
}

impl Decoder for OtlpDecoder {
    type Batch = MetricBatch;

    fn for_request(head: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        Self::for_content_type(head.content_type)
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<MetricBatch, IngestError> {
        let request = self.parse(body)?;
        let mut out = Converter {
            batch: BatchBuilder::new(ctx),
            now_ms: ctx.now_ms,
            json: self.encoding == OtlpEncoding::Json,
        };
        'all: for (r, resource_metrics) in request.resource_metrics.iter().enumerate() {
            let resource = names::resource_labels(resource_metrics.resource.as_ref());
            for (s, scope_metrics) in resource_metrics.scope_metrics.iter().enumerate() {
                for (m, metric) in scope_metrics.metrics.iter().enumerate() {
                    let path = format!("resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}]");
                    out.metric(metric, &path, &resource)?;
                    if out.batch.is_full() {
                        break 'all;
                    }
                }
            }
        }
        out.batch.finish()
    }
}

/// Turns one request's metrics into series, collecting problems in the batch.
struct Converter {
    batch: BatchBuilder,
    now_ms: i64,
    json: bool,
}

impl Converter {
    fn metric(
        &mut self,
        metric: &Metric,
        path: &str,
        resource: &[(String, String)],
    ) -> Result<(), IngestError> {
        let name = names::metric_name(&metric.name);
        let refuse = |problem: &str| format!("{path} ({:?}): {problem}", metric.name);
        let cumulative = AggregationTemporality::Cumulative as i32;
        match &metric.data {
            None => {
                let mut problem = "the metric has no data (gauge, sum, histogram or summary)".to_owned();
                if self.json {
                    // serde drops a flattened oneof that fails to parse, so say so.
                    problem.push_str(", or its data does not parse as OTLP/JSON");
                }
                self.batch.error(refuse(&problem));
            }
            Some(Data::Sum(sum)) if sum.aggregation_temporality != cumulative => {
                self.batch.error(refuse(&temporality_problem(sum.aggregation_temporality)));
            }
            Some(Data::Histogram(h)) if h.aggregation_temporality != cumulative => {
                self.batch.error(refuse(&temporality_problem(h.aggregation_temporality)));
            }
            Some(Data::ExponentialHistogram(_)) => self.batch.error(refuse(
                "exponential histograms are not supported; configure the exporter to send explicit bucket histograms",
            )),
            Some(Data::Gauge(gauge)) => {
                self.number_points(&name, &gauge.data_points, path, resource)?;
            }
            Some(Data::Sum(sum)) => self.number_points(&name, &sum.data_points, path, resource)?,
            Some(Data::Histogram(histogram)) => {
                for (p, point) in histogram.data_points.iter().enumerate() {
                    self.histogram_point(&name, point, &point_origin(path, p), resource)?;
                }
            }
            Some(Data::Summary(summary)) => {
                for (p, point) in summary.data_points.iter().enumerate() {
                    self.summary_point(&name, point, &point_origin(path, p), resource)?;
                }
            }
        }
        Ok(())
    }

    fn number_points(
        &mut self,
        name: &str,
        points: &[NumberDataPoint],
        path: &str,
        resource: &[(String, String)],
    ) -> Result<(), IngestError> {
        for (p, point) in points.iter().enumerate() {
            let origin = point_origin(path, p);
            let value = match point.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                Some(number_data_point::Value::AsInt(v)) => v as f64,
                None => {
                    let mut problem =
                        format!("{origin}: the data point has no value (asDouble or asInt)");
                    if self.json {
                        problem.push_str(
                            ", or it does not parse (asDouble must be a JSON number, asInt an integer or a string of one)",
                        );
                    }
                    self.batch.error(problem);
                    continue;
                }
            };
            let sample = sample(self.now_ms, point.time_unix_nano, point.flags, value);
            let labels = series_labels(name, &point.attributes, resource, None);
            self.batch.push(labels, sample, origin)?;
        }
        Ok(())
    }

    fn histogram_point(
        &mut self,
        name: &str,
        point: &HistogramDataPoint,
        origin: &Origin,
        resource: &[(String, String)],
    ) -> Result<(), IngestError> {
        let bounds = &point.explicit_bounds;
        let counts = &point.bucket_counts;
        let has_buckets = !(bounds.is_empty() && counts.is_empty());
        if has_buckets && counts.len() != bounds.len() + 1 {
            self.batch.error(format!(
                "{origin}: the histogram has {} explicit bounds and {} bucket counts; there must be one count more than bounds",
                bounds.len(),
                counts.len()
            ));
            return Ok(());
        }
        let attributes = &point.attributes;
        let now_ms = self.now_ms;
        let at = |value: f64| sample(now_ms, point.time_unix_nano, point.flags, value);
        if let Some(sum) = point.sum {
            let labels = series_labels(&format!("{name}_sum"), attributes, resource, None);
            self.batch.push(labels, at(sum), origin.clone())?;
        }
        let labels = series_labels(&format!("{name}_count"), attributes, resource, None);
        self.batch
            .push(labels, at(point.count as f64), origin.clone())?;
        let bucket = format!("{name}_bucket");
        let mut cumulative: u64 = 0;
        for (bound, count) in bounds.iter().zip(counts) {
            cumulative = cumulative.saturating_add(*count);
            let le = ("le", names::format_float(*bound));
            let labels = series_labels(&bucket, attributes, resource, Some(le));
            self.batch
                .push(labels, at(cumulative as f64), origin.clone())?;
        }
        let le = ("le", "+Inf".to_owned());
        let labels = series_labels(&bucket, attributes, resource, Some(le));
        self.batch
            .push(labels, at(point.count as f64), origin.clone())
    }

    fn summary_point(
        &mut self,
        name: &str,
        point: &SummaryDataPoint,
        origin: &Origin,
        resource: &[(String, String)],
    ) -> Result<(), IngestError> {
        let attributes = &point.attributes;
        let now_ms = self.now_ms;
        let at = |value: f64| sample(now_ms, point.time_unix_nano, point.flags, value);
        let labels = series_labels(&format!("{name}_sum"), attributes, resource, None);
        self.batch.push(labels, at(point.sum), origin.clone())?;
        let labels = series_labels(&format!("{name}_count"), attributes, resource, None);
        self.batch
            .push(labels, at(point.count as f64), origin.clone())?;
        for quantile in &point.quantile_values {
            let q = ("quantile", names::format_float(quantile.quantile));
            let labels = series_labels(name, attributes, resource, Some(q));
            self.batch
                .push(labels, at(quantile.value), origin.clone())?;
        }
        Ok(())
    }
}

/// A sample at `time_unix_nano` (0 → server time); a stale marker if `flags` say no value was recorded.
fn sample(now_ms: i64, time_unix_nano: u64, flags: u32, value: f64) -> Sample {
    let timestamp_ms = if time_unix_nano == 0 {
        now_ms
    } else {
        // u64 ns / 10^6 always fits in i64.
        i64::try_from(time_unix_nano / 1_000_000).unwrap_or(i64::MAX)
    };
    let no_value = DataPointFlags::NoRecordedValueMask as u32;
    let value = if flags & no_value != 0 {
        f64::from_bits(STALE_NAN)
    } else {
        value
    };
    Sample {
        timestamp_ms,
        value,
    }
}

/// Data point attributes, then `job`/`instance` from the resource, then `le`/`quantile`:
/// later ones win a name clash, as in Prometheus.
fn series_labels(
    name: &str,
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    resource: &[(String, String)],
    extra: Option<(&str, String)>,
) -> Labels {
    let mut pairs = names::attribute_labels(attributes);
    pairs.extend(resource.iter().cloned());
    pairs.extend(extra.map(|(n, v)| (n.to_owned(), v)));
    Labels::with_name(name, pairs)
}

/// Where data point `p` of the metric at `path` is: `…metrics[2].dataPoints[1]`.
fn point_origin(path: &str, p: usize) -> Origin {
    Origin::Path(format!("{path}.dataPoints[{p}]").into())
}

fn temporality_problem(temporality: i32) -> String {
    let which = if temporality == AggregationTemporality::Delta as i32 {
        "delta"
    } else {
        "unspecified"
    };
    format!(
        "{which} aggregation temporality is not supported; configure the exporter for cumulative temporality"
    )
}

#[cfg(test)]
mod tests;
