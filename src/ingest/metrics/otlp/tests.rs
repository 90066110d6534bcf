use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    summary_data_point::ValueAtQuantile, ExponentialHistogram, ExponentialHistogramDataPoint,
    Gauge, Histogram, ResourceMetrics, ScopeMetrics, Sum, Summary,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;

use super::*;
use crate::domain::metrics::SeriesSamples;
use crate::ingest::metrics::tests::{assert_one_error, malformed, series, NOW};

const T_NS: u64 = 1_700_000_000_123_456_789;
const T_MS: i64 = 1_700_000_000_123;
const POINT: &str = "resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[0]";

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn request(resource: &[(&str, &str)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metric(name: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn number(value: number_data_point::Value, attributes: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attributes.iter().map(|(k, v)| kv(k, v)).collect(),
        time_unix_nano: T_NS,
        value: Some(value),
        ..Default::default()
    }
}

fn cumulative_sum(points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: true,
    })
}

fn decode_proto(request: &ExportMetricsServiceRequest) -> Result<MetricBatch, IngestError> {
    let decoder = OtlpDecoder::for_content_type(Some("application/x-protobuf")).expect("known");
    decoder.decode(&request.encode_to_vec(), &DecodeContext::new(NOW))
}

fn decode_json(body: &str) -> Result<MetricBatch, IngestError> {
    let decoder = OtlpDecoder::for_content_type(Some("application/json")).expect("known");
    decoder.decode(body.as_bytes(), &DecodeContext::new(NOW))
}

fn decoded(request: &ExportMetricsServiceRequest) -> Vec<SeriesSamples> {
    match decode_proto(request) {
        Ok(batch) => batch.series,
        Err(e) => panic!("should decode: {e}"),
    }
}

#[test]
fn gauges_and_sums_map_names_resource_and_attributes() {
    let request = request(
        &[
            ("service.name", "checkout"),
            ("service.namespace", "shop"),
            ("service.instance.id", "pod-1"),
            ("host.name", "not-a-label"),
        ],
        vec![
            metric(
                "system.cpu.utilization",
                Data::Gauge(Gauge {
                    data_points: vec![
                        number(
                            number_data_point::Value::AsDouble(0.5),
                            &[("cpu", "0"), ("cpu.state", "idle")],
                        ),
                        number(
                            number_data_point::Value::AsInt(-2),
                            &[("job", "overridden")],
                        ),
                    ],
                }),
            ),
            metric(
                "http.server.requests",
                cumulative_sum(vec![number(
                    number_data_point::Value::AsInt(42),
                    &[("http.method", "GET")],
                )]),
            ),
        ],
    );
    let resource = [("job", "shop/checkout"), ("instance", "pod-1")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = extra.to_vec();
        all.extend(resource);
        all
    };
    assert_eq!(
        decoded(&request),
        vec![
            series(
                "system_cpu_utilization",
                &with(&[("cpu", "0"), ("cpu_state", "idle")]),
                T_MS,
                0.5,
                POINT
            ),
            series(
                "system_cpu_utilization",
                &resource,
                T_MS,
                -2.0,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[1]",
            ),
            series(
                "http_server_requests",
                &with(&[("http_method", "GET")]),
                T_MS,
                42.0,
                "resourceMetrics[0].scopeMetrics[0].metrics[1].dataPoints[0]",
            ),
        ]
    );
}

#[test]
fn job_without_namespace_and_unset_times_use_the_server_clock() {
    let mut point = number(number_data_point::Value::AsDouble(1.0), &[]);
    point.time_unix_nano = 0;
    let request = request(
        &[("service.name", "api")],
        vec![metric(
            "up",
            Data::Gauge(Gauge {
                data_points: vec![point],
            }),
        )],
    );
    assert_eq!(
        decoded(&request),
        vec![series("up", &[("job", "api")], NOW, 1.0, POINT)]
    );
}

#[test]
fn histograms_become_cumulative_buckets_sum_and_count() {
    let point = HistogramDataPoint {
        attributes: vec![kv("route", "/a")],
        time_unix_nano: T_NS,
        count: 10,
        sum: Some(12.5),
        bucket_counts: vec![1, 2, 3, 4],
        explicit_bounds: vec![0.1, 1.0, 1e6],
        ..Default::default()
    };
    let request = request(
        &[],
        vec![metric(
            "http.duration",
            Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    let route = ("route", "/a");
    assert_eq!(
        decoded(&request),
        vec![
            series("http_duration_sum", &[route], T_MS, 12.5, POINT),
            series("http_duration_count", &[route], T_MS, 10.0, POINT),
            series(
                "http_duration_bucket",
                &[route, ("le", "0.1")],
                T_MS,
                1.0,
                POINT
            ),
            series(
                "http_duration_bucket",
                &[route, ("le", "1")],
                T_MS,
                3.0,
                POINT
            ),
            series(
                "http_duration_bucket",
                &[route, ("le", "1000000")],
                T_MS,
                6.0,
                POINT
            ),
            series(
                "http_duration_bucket",
                &[route, ("le", "+Inf")],
                T_MS,
                10.0,
                POINT
            ),
        ]
    );
}

#[test]
fn histograms_without_buckets_or_sum_keep_count_and_inf() {
    let point = HistogramDataPoint {
        time_unix_nano: T_NS,
        count: 3,
        ..Default::default()
    };
    let request = request(
        &[],
        vec![metric(
            "h",
            Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    assert_eq!(
        decoded(&request),
        vec![
            series("h_count", &[], T_MS, 3.0, POINT),
            series("h_bucket", &[("le", "+Inf")], T_MS, 3.0, POINT),
        ]
    );
}

#[test]
fn summaries_become_quantiles_sum_and_count() {
    let point = SummaryDataPoint {
        time_unix_nano: T_NS,
        count: 4,
        sum: 2.0,
        quantile_values: vec![
            ValueAtQuantile {
                quantile: 0.5,
                value: 0.4,
            },
            ValueAtQuantile {
                quantile: 0.99,
                value: f64::INFINITY,
            },
        ],
        ..Default::default()
    };
    let request = request(
        &[],
        vec![metric(
            "rpc.latency",
            Data::Summary(Summary {
                data_points: vec![point],
            }),
        )],
    );
    assert_eq!(
        decoded(&request),
        vec![
            series("rpc_latency_sum", &[], T_MS, 2.0, POINT),
            series("rpc_latency_count", &[], T_MS, 4.0, POINT),
            series("rpc_latency", &[("quantile", "0.5")], T_MS, 0.4, POINT),
            series(
                "rpc_latency",
                &[("quantile", "0.99")],
                T_MS,
                f64::INFINITY,
                POINT
            ),
        ]
    );
}

#[test]
fn points_without_a_recorded_value_become_stale_markers() {
    let mut point = number(number_data_point::Value::AsDouble(7.0), &[]);
    point.flags = DataPointFlags::NoRecordedValueMask as u32;
    let request = request(
        &[],
        vec![metric(
            "g",
            Data::Gauge(Gauge {
                data_points: vec![point],
            }),
        )],
    );
    let series = decoded(&request);
    assert_eq!(series[0].samples[0].value.to_bits(), STALE_NAN);
}

#[test]
fn unsupported_metrics_are_refused_naming_the_metric() {
    let delta = Data::Sum(Sum {
        data_points: vec![number(number_data_point::Value::AsInt(1), &[])],
        aggregation_temporality: AggregationTemporality::Delta as i32,
        is_monotonic: true,
    });
    let unspecified_histogram = Data::Histogram(Histogram {
        data_points: vec![],
        aggregation_temporality: AggregationTemporality::Unspecified as i32,
    });
    let exponential = Data::ExponentialHistogram(ExponentialHistogram {
        data_points: vec![ExponentialHistogramDataPoint::default()],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    });
    let mismatched = Data::Histogram(Histogram {
        data_points: vec![HistogramDataPoint {
            bucket_counts: vec![1, 2],
            explicit_bounds: vec![1.0, 2.0],
            ..Default::default()
        }],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    });
    let valueless = Data::Gauge(Gauge {
        data_points: vec![NumberDataPoint::default()],
    });
    let metric_path = "resourceMetrics[0].scopeMetrics[0].metrics[1]";
    let cases = [
        (Some(delta), format!("{metric_path} (\"m\"): delta aggregation temporality is not supported")),
        (Some(unspecified_histogram), format!("{metric_path} (\"m\"): unspecified aggregation temporality")),
        (Some(exponential), format!("{metric_path} (\"m\"): exponential histograms are not supported; configure the exporter to send explicit bucket histograms")),
        (None, format!("{metric_path} (\"m\"): the metric has no data")),
        (Some(mismatched), format!("{metric_path}.dataPoints[0]: the histogram has 2 explicit bounds and 2 bucket counts")),
        (Some(valueless), format!("{metric_path}.dataPoints[0]: the data point has no value (asDouble or asInt)")),
    ];
    for (data, expected) in cases {
        let ok = metric(
            "ok",
            Data::Gauge(Gauge {
                data_points: vec![number(number_data_point::Value::AsInt(1), &[])],
            }),
        );
        let bad = Metric {
            name: "m".into(),
            data,
            ..Default::default()
        };
        let errors = malformed(decode_proto(&request(&[], vec![ok, bad])));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(&expected),
            "{:?} should start with {expected:?}",
            errors[0]
        );
    }
}

#[test]
fn json_follows_the_otlp_json_mapping() {
    // camelCase names, 64-bit integers as strings or numbers, enums as integers.
    let body = r#"{"resourceMetrics":[{
        "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
        "scopeMetrics":[{"scope":{"name":"lib"},"metrics":[
          {"name":"requests","unit":"1","sum":{"aggregationTemporality":2,"isMonotonic":true,
            "dataPoints":[{"attributes":[{"key":"code","value":{"intValue":"200"}}],
                           "startTimeUnixNano":"1","timeUnixNano":"1700000000123456789","asInt":"5"},
                          {"timeUnixNano":1700000000123456789,"asInt":6}]}},
          {"name":"temp","gauge":{"dataPoints":[{"timeUnixNano":"1700000000123456789","asDouble":21.5}]}},
          {"name":"lat","histogram":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":"1700000000123456789",
            "count":"3","sum":1.5,"bucketCounts":["1",2],"explicitBounds":[0.5]}]}}
        ]}]}]}"#;
    let job = ("job", "api");
    let path = |m: usize, p: usize| {
        format!("resourceMetrics[0].scopeMetrics[0].metrics[{m}].dataPoints[{p}]")
    };
    assert_eq!(
        decode_json(body).expect("valid").series,
        vec![
            series("requests", &[("code", "200"), job], T_MS, 5.0, &path(0, 0)),
            series("requests", &[job], T_MS, 6.0, &path(0, 1)),
            series("temp", &[job], T_MS, 21.5, &path(1, 0)),
            series("lat_sum", &[job], T_MS, 1.5, &path(2, 0)),
            series("lat_count", &[job], T_MS, 3.0, &path(2, 0)),
            series("lat_bucket", &[job, ("le", "0.5")], T_MS, 1.0, &path(2, 0)),
            series("lat_bucket", &[job, ("le", "+Inf")], T_MS, 3.0, &path(2, 0)),
        ]
    );
    assert_eq!(decode_json("{}"), Ok(MetricBatch::default()));
}

#[test]
fn bad_json_is_named() {
    let cases = [
        ("", "the body is not an OTLP/JSON ExportMetricsServiceRequest: EOF while parsing"),
        ("null", "the body is not an OTLP/JSON ExportMetricsServiceRequest: invalid type: null"),
        (r#"{"resourceMetrics":{}}"#, "invalid type: map, expected a sequence at line 1 column 19"),
        (
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":5}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0] (\"x\"): the metric has no data (gauge, sum, histogram or summary), or its data does not parse as OTLP/JSON",
        ),
        (
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asDouble":"oops"}]}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[0]: the data point has no value (asDouble or asInt), or it does not parse",
        ),
    ];
    for (body, expected) in cases {
        assert_one_error(decode_json(body), expected);
    }
}

#[test]
fn bad_protobuf_is_named() {
    let decoder = OtlpDecoder {
        encoding: OtlpEncoding::Protobuf,
    };
    assert_one_error(
        decoder.decode(b"\x0a\x05ab", &DecodeContext::new(NOW)),
        "the body is not a protobuf ExportMetricsServiceRequest",
    );
}

#[test]
fn histograms_expanding_past_the_series_limit_are_refused() {
    let point = HistogramDataPoint {
        count: 1,
        bucket_counts: vec![0; 1001],
        explicit_bounds: (0..1000).map(f64::from).collect(),
        ..Default::default()
    };
    let request = request(
        &[],
        vec![metric(
            "h",
            Data::Histogram(Histogram {
                data_points: vec![point],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        )],
    );
    let mut ctx = DecodeContext::new(NOW);
    ctx.max_series = 500;
    let decoder = OtlpDecoder {
        encoding: OtlpEncoding::Protobuf,
    };
    assert_eq!(
        decoder.decode(&request.encode_to_vec(), &ctx),
        Err(IngestError::TooManySeries { limit: 500 })
    );
}

#[test]
fn content_types_select_the_encoding() {
    for (content_type, expected) in [
        ("application/x-protobuf", OtlpEncoding::Protobuf),
        ("application/json", OtlpEncoding::Json),
        ("Application/JSON; charset=utf-8", OtlpEncoding::Json),
    ] {
        assert_eq!(
            OtlpDecoder::for_content_type(Some(content_type)).map(|d| d.encoding),
            Ok(expected)
        );
    }
    for bad in [Some("text/plain"), Some("application/grpc"), None] {
        assert_eq!(
            OtlpDecoder::for_content_type(bad),
            Err(IngestError::UnsupportedMediaType(
                bad.unwrap_or_default().into()
            ))
        );
    }
}
