//! Query results and their JSON form, identical to the Prometheus HTTP API `data` object.

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use crate::domain::metrics::{Labels, Sample};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// One series of a range vector (matrix), samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// The result of a query: what Prometheus calls `resultType` plus `result`.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar { timestamp_ms: i64, value: f64 },
    String { timestamp_ms: i64, value: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

/// Formats a sample value as Prometheus does (Go's `strconv.FormatFloat(v, 'f', -1, 64)`,
/// with `NaN`, `+Inf` and `-Inf`): shortest round-tripping digits, never an exponent.
pub fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust's Display for f64 is the shortest round-trip representation in plain decimal,
        // which is exactly what Go's 'f' format with precision -1 produces.
        format!("{value}")
    }
}

/// A timestamp as float seconds: whole seconds print as integers, others with their
/// millisecond digits (`1700000000.123`), numerically what Prometheus writes.
struct Seconds(i64);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            serializer.serialize_i64(self.0 / 1000)
        } else {
            serializer.serialize_f64(self.0 as f64 / 1000.0)
        }
    }
}

/// `[seconds, "text"]`, the shape of every point in the API.
struct Point<'a>(i64, &'a str);

impl Serialize for Point<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(2))?;
        seq.serialize_element(&Seconds(self.0))?;
        seq.serialize_element(self.1)?;
        seq.end()
    }
}

/// A label set as a JSON object, `__name__` included.
struct Metric<'a>(&'a Labels);

impl Serialize for Metric<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for label in self.0.iter() {
            map.serialize_entry(&label.name, &label.value)?;
        }
        map.end()
    }
}

struct VectorElement<'a>(&'a InstantSample);

impl Serialize for VectorElement<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let sample = self.0;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("metric", &Metric(&sample.labels))?;
        let text = format_value(sample.value);
        map.serialize_entry("value", &Point(sample.timestamp_ms, &text))?;
        map.end()
    }
}

struct MatrixElement<'a>(&'a RangeSeries);

impl Serialize for MatrixElement<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let series = self.0;
        let texts: Vec<(i64, String)> = series
            .samples
            .iter()
            .map(|s| (s.timestamp_ms, format_value(s.value)))
            .collect();
        let points: Vec<Point<'_>> = texts.iter().map(|(t, v)| Point(*t, v)).collect();
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("metric", &Metric(&series.labels))?;
        map.serialize_entry("values", &points)?;
        map.end()
    }
}

impl Serialize for QueryValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        match self {
            Self::Scalar {
                timestamp_ms,
                value,
            } => {
                map.serialize_entry("resultType", "scalar")?;
                let text = format_value(*value);
                map.serialize_entry("result", &Point(*timestamp_ms, &text))?;
            }
            Self::String {
                timestamp_ms,
                value,
            } => {
                map.serialize_entry("resultType", "string")?;
                map.serialize_entry("result", &Point(*timestamp_ms, value))?;
            }
            Self::Vector(samples) => {
                map.serialize_entry("resultType", "vector")?;
                let elements: Vec<_> = samples.iter().map(VectorElement).collect();
                map.serialize_entry("result", &elements)?;
            }
            Self::Matrix(series) => {
                map.serialize_entry("resultType", "matrix")?;
                let elements: Vec<_> = series.iter().map(MatrixElement).collect();
                map.serialize_entry("result", &elements)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_go_strconv_f_minus_one() {
        for (value, expected) in [
            (1.5, "1.5"),
            (2.0, "2"),
            (-3.0, "-3"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1e21, "1000000000000000000000"),
            (1.5e-7, "0.00000015"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
        ] {
            assert_eq!(format_value(value), expected, "{value:?}");
        }
    }

    #[test]
    fn results_serialise_as_the_prometheus_api_data_object() {
        let labels = Labels::with_name("x", [("a", "b")]);
        let cases = [
            (
                QueryValue::Vector(vec![InstantSample {
                    labels: labels.clone(),
                    timestamp_ms: 1_700_000_000_123,
                    value: 1.5,
                }]),
                r#"{"resultType":"vector","result":[{"metric":{"__name__":"x","a":"b"},"value":[1700000000.123,"1.5"]}]}"#,
            ),
            (
                QueryValue::Matrix(vec![RangeSeries {
                    labels: Labels::default(),
                    samples: vec![
                        Sample {
                            timestamp_ms: 1_000,
                            value: f64::INFINITY,
                        },
                        Sample {
                            timestamp_ms: 2_500,
                            value: f64::NAN,
                        },
                    ],
                }]),
                r#"{"resultType":"matrix","result":[{"metric":{},"values":[[1,"+Inf"],[2.5,"NaN"]]}]}"#,
            ),
            (
                QueryValue::Scalar {
                    timestamp_ms: 1_700_000_000_000,
                    value: 1e21,
                },
                r#"{"resultType":"scalar","result":[1700000000,"1000000000000000000000"]}"#,
            ),
            (
                QueryValue::String {
                    timestamp_ms: 5,
                    value: "hi".into(),
                },
                r#"{"resultType":"string","result":[0.005,"hi"]}"#,
            ),
            (
                QueryValue::Vector(vec![]),
                r#"{"resultType":"vector","result":[]}"#,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(serde_json::to_string(&value).expect("serialises"), expected);
        }
    }
}
