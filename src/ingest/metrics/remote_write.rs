//! Prometheus remote write 1.0: a snappy-compressed (block format) protobuf
//! `prometheus.WriteRequest`. Each `TimeSeries` becomes one series with all its samples;
//! its labels must include `__name__`. Metadata and exemplars are ignored (skipped by the
//! decoder); native histograms are refused, naming the series. Origins are `timeseries[i]`.

use super::{BatchBuilder, DecodeContext, IngestError};
use crate::domain::metrics::{
    Labels, MetricBatch, Origin, Sample, SeriesSamples, METRIC_NAME_LABEL,
};
use crate::ingest::{media_type, Decoder, DecoderMemory, RequestHead};

/// The remote write 1.0 messages, declared by hand (no protoc). Fields this decoder does
/// not read (metadata, exemplars) are left out and skipped on decode.
pub mod proto {
    /// `prometheus.WriteRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        /// Only their presence is read, to refuse them clearly.
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<Histogram>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `prometheus.Sample`: a value at Unix ms.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }

    /// `prometheus.Histogram` (native histograms), with its content skipped.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {}
}

/// Decodes remote write 1.0 bodies (decompressed: see [`Decoder::implied_encoding`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RemoteWriteDecoder;

impl RemoteWriteDecoder {
    /// Accepts `application/x-protobuf` (or no `Content-Type`, as old senders do) with no
    /// `proto` parameter or `proto=prometheus.WriteRequest`; remote write 2.0
    /// (`proto=io.prometheus.write.v2.Request`) and anything else are refused.
    pub fn check_content_type(content_type: Option<&str>) -> Result<(), IngestError> {
        let Some(content_type) = content_type else {
            return Ok(());
        };
        let unsupported = || IngestError::UnsupportedMediaType(content_type.to_owned());
        if media_type(content_type) != "application/x-protobuf" {
            return Err(unsupported());
        }
        for param in content_type.split(';').skip(1) {
            if let Some((key, value)) = param.split_once('=') {
                let value = value.trim().trim_matches('"');
                if key.trim().eq_ignore_ascii_case("proto") && value != "prometheus.WriteRequest" {
                    return Err(unsupported());
                }
            }
        }
        Ok(())
    }
}

impl Decoder for RemoteWriteDecoder {
    type Batch = MetricBatch;

    fn for_request(head: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        Self::check_content_type(head.content_type)?;
        Ok(RemoteWriteDecoder)
    }

    fn implied_encoding(&self) -> Option<&'static str> {
        Some("snappy")
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<MetricBatch, IngestError> {
        let request: proto::WriteRequest = prost::Message::decode(body).map_err(|e| {
            IngestError::malformed(format!(
                "the body is not a protobuf prometheus.WriteRequest: {e}"
            ))
        })?;
        let mut batch = BatchBuilder::new(ctx);
        for (i, series) in request.timeseries.into_iter().enumerate() {
            let origin = Origin::Item("timeseries", i);
            match series_samples(series, origin.clone()) {
                Ok(Some(series)) => batch.push_series(series)?,
                Ok(None) => {}
                Err(problem) => {
                    batch.error(format!("{origin}: {problem}"));
                    if batch.is_full() {
                        break;
                    }
                }
            }
        }
        batch.finish()
    }
}

/// The series, `None` if it carries no samples (only exemplars, say).
fn series_samples(
    series: proto::TimeSeries,
    origin: Origin,
) -> Result<Option<SeriesSamples>, String> {
    if !series.histograms.is_empty() {
        return Err(
            "native histograms are not supported; send classic histograms (_bucket, _sum and _count series)"
                .into(),
        );
    }
    let mut names: Vec<&str> = series.labels.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    if names.first() == Some(&"") {
        return Err("a label has an empty name".into());
    }
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!("label {:?} appears twice", pair[0]));
    }
    let has_name = series
        .labels
        .iter()
        .any(|l| l.name == METRIC_NAME_LABEL && !l.value.is_empty());
    if !has_name {
        return Err(format!(
            "the series has no {METRIC_NAME_LABEL:?} label (labels: {})",
            Labels::from_pairs(
                series
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
            )
        ));
    }
    if series.samples.is_empty() {
        return Ok(None);
    }
    let labels = Labels::from_pairs(series.labels.into_iter().map(|l| (l.name, l.value)));
    let samples = series
        .samples
        .into_iter()
        .map(|s| Sample {
            timestamp_ms: s.timestamp,
            value: s.value,
        })
        .collect();
    Ok(Some(SeriesSamples {
        labels,
        samples,
        origin,
    }))
}

#[cfg(test)]
mod tests;
