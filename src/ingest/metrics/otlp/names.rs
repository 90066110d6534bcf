//! OTLP names and attributes → Prometheus names and labels, as Prometheus' OTLP receiver
//! maps them with metric suffixes off (`otlp.translation_strategy: UnderscoreEscapingWithoutSuffixes`).

use std::collections::BTreeMap;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// A metric name with each run of characters outside `[a-zA-Z0-9_:]` turned into one `_`
/// (leading and trailing runs dropped), and `_` put before a leading digit:
/// `http.server.request.duration` → `http_server_request_duration`.
pub(crate) fn metric_name(name: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let joined = name
        .split(|c: char| !valid(c))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if joined.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{joined}")
    } else {
        joined
    }
}

/// A label name with each character outside `[a-zA-Z0-9_]` turned into `_`, `key_` before a
/// leading digit and `key` before a single leading `_`: `http.method` → `http_method`,
/// `0x` → `key_0x`, `_tmp` → `key_tmp`. `__x` stays (and is refused as reserved later).
pub(crate) fn label_name(key: &str) -> String {
    let sanitized: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if sanitized.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{sanitized}")
    } else if sanitized.starts_with('_') && !sanitized.starts_with("__") {
        format!("key{sanitized}")
    } else {
        sanitized
    }
}

/// Attributes as label pairs. Keys that sanitise to the same name have their values
/// joined with `;` in the order of their original keys, as Prometheus does.
pub(crate) fn attribute_labels(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut by_name: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    for kv in attributes {
        by_name
            .entry(label_name(&kv.key))
            .or_default()
            .push((kv.key.as_str(), value_string(kv.value.as_ref())));
    }
    by_name
        .into_iter()
        .map(|(name, mut values)| {
            values.sort_by(|a, b| a.0.cmp(b.0));
            let joined = values
                .into_iter()
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(";");
            (name, joined)
        })
        .collect()
}

/// `job` from `service.namespace`/`service.name` and `instance` from `service.instance.id`.
/// Other resource attributes are not labels (Prometheus puts them on `target_info`,
/// which Tidewatch does not build yet).
pub(crate) fn resource_labels(resource: Option<&Resource>) -> Vec<(String, String)> {
    let Some(resource) = resource else {
        return Vec::new();
    };
    let find = |key: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| value_string(kv.value.as_ref()))
            .filter(|v| !v.is_empty())
    };
    let mut labels = Vec::new();
    if let Some(name) = find("service.name") {
        let job = match find("service.namespace") {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name,
        };
        labels.push(("job".to_owned(), job));
    }
    if let Some(instance) = find("service.instance.id") {
        labels.push(("instance".to_owned(), instance));
    }
    labels
}

/// An attribute value as text: strings as they are, numbers and booleans as written,
/// bytes in base64, arrays and maps as JSON.
pub(crate) fn value_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_float(*d),
        Some(Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        // A reference into a profiles dictionary: meaningless in metrics.
        Some(Value::StringValueStrindex(_)) => String::new(),
        Some(nested) => to_json(nested).to_string(),
    }
}

pub(crate) fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        Value::StringValue(s) => Json::String(s.clone()),
        Value::BoolValue(b) => Json::Bool(*b),
        Value::IntValue(i) => Json::from(*i),
        Value::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Json::String(format_float(*d)), Json::Number),
        Value::BytesValue(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::StringValueStrindex(_) => Json::Null,
        Value::ArrayValue(array) => Json::Array(
            array
                .values
                .iter()
                .map(|v| v.value.as_ref().map_or(Json::Null, to_json))
                .collect(),
        ),
        Value::KvlistValue(list) => Json::Object(
            list.values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
                    (kv.key.clone(), v.map_or(Json::Null, to_json))
                })
                .collect(),
        ),
    }
}

/// A float as Prometheus writes label values such as `le`: shortest exact decimal,
/// never an exponent, `+Inf`, `-Inf`, `NaN`.
pub(crate) fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_sanitised_like_prometheus() {
        for (input, expected) in [
            ("cpu_usage", "cpu_usage"),
            (
                "http.server.request.duration",
                "http_server_request_duration",
            ),
            ("a..b--c", "a_b_c"),
            (".leading.and.trailing.", "leading_and_trailing"),
            ("ns:sub", "ns:sub"),
            ("2xx.count", "_2xx_count"),
            ("ünï", "n"),
            ("ü", ""),
        ] {
            assert_eq!(metric_name(input), expected, "{input:?}");
        }
    }

    #[test]
    fn label_names_are_sanitised_like_prometheus() {
        for (input, expected) in [
            ("host", "host"),
            ("http.method", "http_method"),
            ("a-b c", "a_b_c"),
            ("0x", "key_0x"),
            ("_tmp", "key_tmp"),
            ("__reserved", "__reserved"),
            ("", ""),
        ] {
            assert_eq!(label_name(input), expected, "{input:?}");
        }
    }

    fn kv(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn attribute_values_become_text_and_colliding_keys_are_joined() {
        use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
        let attributes = [
            kv("b.x", Value::StringValue("dot".into())),
            kv("b_x", Value::StringValue("underscore".into())),
            kv("int", Value::IntValue(-3)),
            kv("dbl", Value::DoubleValue(0.25)),
            kv("yes", Value::BoolValue(true)),
            kv("raw", Value::BytesValue(vec![1, 2, 3])),
            kv(
                "list",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "map",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("k", Value::BoolValue(false))],
                }),
            ),
        ];
        let labels = attribute_labels(&attributes);
        let expected: Vec<(String, String)> = [
            ("b_x", "dot;underscore"),
            ("dbl", "0.25"),
            ("int", "-3"),
            ("list", "[1]"),
            ("map", "{\"k\":false}"),
            ("raw", "AQID"),
            ("yes", "true"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn floats_are_written_without_exponents() {
        for (value, expected) in [
            (0.1, "0.1"),
            (1.0, "1"),
            (1e6, "1000000"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_float(value), expected);
        }
    }
}
