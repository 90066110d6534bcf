use prost::Message as _;

use super::*;
use crate::ingest::metrics::tests::{assert_one_error, malformed, NOW};
use crate::ingest::{decode_request, decompress};

fn label(name: &str, value: &str) -> proto::Label {
    proto::Label {
        name: name.into(),
        value: value.into(),
    }
}

fn time_series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels.iter().map(|(n, v)| label(n, v)).collect(),
        samples: samples
            .iter()
            .map(|&(timestamp, value)| proto::Sample { value, timestamp })
            .collect(),
        histograms: Vec::new(),
    }
}

/// A body as Prometheus sends it: protobuf, then snappy block format.
fn snappy_body(series: Vec<proto::TimeSeries>) -> Vec<u8> {
    let request = proto::WriteRequest { timeseries: series };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("compress in memory")
}

fn decode(series: Vec<proto::TimeSeries>) -> Result<MetricBatch, IngestError> {
    let body = snappy_body(series);
    decode_request(
        &RemoteWriteDecoder,
        &body,
        Some("snappy"),
        &DecodeContext::new(NOW),
    )
}

#[test]
fn decodes_a_snappy_write_request() {
    let batch = decode(vec![
        time_series(
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ],
            &[(1_000, 1.0), (2_000, 2.5)],
        ),
        time_series(
            &[("job", "api"), ("__name__", "up"), ("empty", "")],
            &[(3_000, 1.0)],
        ),
    ])
    .expect("valid");
    assert_eq!(
        batch.series,
        vec![
            SeriesSamples {
                labels: Labels::with_name("http_requests_total", [("job", "api"), ("code", "200")]),
                samples: smallvec::smallvec![
                    Sample {
                        timestamp_ms: 1_000,
                        value: 1.0
                    },
                    Sample {
                        timestamp_ms: 2_000,
                        value: 2.5
                    },
                ],
                origin: Origin::Item("timeseries", 0),
            },
            SeriesSamples {
                labels: Labels::with_name("up", [("job", "api")]),
                samples: smallvec::smallvec![Sample {
                    timestamp_ms: 3_000,
                    value: 1.0
                }],
                origin: Origin::Item("timeseries", 1),
            },
        ]
    );
}

#[test]
fn special_values_survive_including_stale_markers() {
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let batch = decode(vec![time_series(
        &[("__name__", "x")],
        &[
            (1, f64::NAN),
            (2, f64::INFINITY),
            (3, f64::NEG_INFINITY),
            (4, stale),
        ],
    )])
    .expect("valid");
    let values: Vec<f64> = batch.series[0].samples.iter().map(|s| s.value).collect();
    assert!(values[0].is_nan());
    assert_eq!(values[1..3], [f64::INFINITY, f64::NEG_INFINITY]);
    assert_eq!(values[3].to_bits(), stale.to_bits());
}

#[test]
fn series_without_samples_are_skipped_and_metadata_is_ignored() {
    // Field 3 of WriteRequest is metadata; an unknown field to this decoder.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Metadata {
        #[prost(string, tag = "4")]
        metric_family_name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct WriteRequestWithMetadata {
        #[prost(message, repeated, tag = "1")]
        timeseries: Vec<proto::TimeSeries>,
        #[prost(message, repeated, tag = "3")]
        metadata: Vec<Metadata>,
    }
    let request = WriteRequestWithMetadata {
        timeseries: vec![
            time_series(&[("__name__", "only_exemplars")], &[]),
            time_series(&[("__name__", "up")], &[(5, 1.0)]),
        ],
        metadata: vec![Metadata {
            metric_family_name: "up".into(),
        }],
    };
    let batch = RemoteWriteDecoder
        .decode(&request.encode_to_vec(), &DecodeContext::new(NOW))
        .expect("valid");
    assert_eq!(batch.series.len(), 1);
    assert_eq!(batch.series[0].origin.to_string(), "timeseries[1]");
}

#[test]
fn bad_series_are_named_by_index() {
    let mut histogram = time_series(&[("__name__", "latency")], &[]);
    histogram.histograms.push(proto::Histogram {});
    let cases = [
        (
            time_series(&[("job", "a")], &[(1, 1.0)]),
            "the series has no \"__name__\" label (labels: {job=\"a\"})",
        ),
        (
            time_series(&[("__name__", "")], &[(1, 1.0)]),
            "has no \"__name__\" label",
        ),
        (
            time_series(&[("__name__", "x"), ("", "v")], &[(1, 1.0)]),
            "a label has an empty name",
        ),
        (
            time_series(&[("__name__", "x"), ("a", "1"), ("a", "2")], &[(1, 1.0)]),
            "label \"a\" appears twice",
        ),
        (histogram, "native histograms are not supported"),
    ];
    for (bad, expected) in cases {
        let ok = time_series(&[("__name__", "up")], &[(1, 1.0)]);
        let errors = malformed(decode(vec![ok, bad]));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("timeseries[1]: ") && errors[0].contains(expected),
            "{:?} should contain {expected:?}",
            errors[0]
        );
    }
}

#[test]
fn bodies_that_are_not_write_requests_are_malformed() {
    let ctx = DecodeContext::new(NOW);
    assert_one_error(
        RemoteWriteDecoder.decode(b"\x0a\x05abc", &ctx),
        "the body is not a protobuf prometheus.WriteRequest",
    );
    // Not snappy at all: refused before protobuf decoding.
    assert_one_error(
        decode_request(&RemoteWriteDecoder, b"\xff\xff\xff\xff\xff\xff", None, &ctx),
        "the snappy-compressed body is corrupt",
    );
}

#[test]
fn snappy_bomb_is_too_large_before_decoding() {
    let big = vec![
        time_series(
            &[("__name__", "x"), ("pad", &"p".repeat(4096))],
            &[(1, 1.0)]
        );
        64
    ];
    let body = snappy_body(big);
    let mut ctx = DecodeContext::new(NOW);
    ctx.max_decompressed_bytes = 64 * 1024;
    assert!(body.len() < ctx.max_decompressed_bytes, "compresses well");
    assert_eq!(
        decode_request(&RemoteWriteDecoder, &body, Some("snappy"), &ctx),
        Err(IngestError::TooLarge { limit: 64 * 1024 })
    );
    assert!(decompress(&body, Some("snappy"), 1024 * 1024).is_ok());
}

#[test]
fn content_types() {
    for ok in [
        None,
        Some("application/x-protobuf"),
        Some("application/x-protobuf; proto=prometheus.WriteRequest"),
        Some("Application/X-Protobuf;proto=\"prometheus.WriteRequest\""),
    ] {
        assert_eq!(RemoteWriteDecoder::check_content_type(ok), Ok(()), "{ok:?}");
    }
    for bad in [
        "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        "application/json",
        "text/plain",
    ] {
        assert_eq!(
            RemoteWriteDecoder::check_content_type(Some(bad)),
            Err(IngestError::UnsupportedMediaType(bad.into()))
        );
    }
}
