use super::*;
use crate::ingest::metrics::tests::{assert_one_error, malformed, series, NOW};

fn decode(body: &str) -> Result<MetricBatch, IngestError> {
    JsonDecoder.decode(body.as_bytes(), &DecodeContext::new(NOW))
}

#[test]
fn decodes_metrics_with_and_without_timestamps() {
    let body = r#"{"metrics":[
        {"name":"cpu_usage","labels":{"host":"a","dc":"x"},"value":1.5,"timestamp":1700000000123},
        {"name":"up","value":1},
        {"name":"temp","labels":{},"value":-3e2,"timestamp":null},
        {"name":"empty_label","labels":{"host":""},"value":0}
    ]}"#;
    let batch = decode(body).expect("valid");
    assert_eq!(
        batch.series,
        vec![
            series(
                "cpu_usage",
                &[("host", "a"), ("dc", "x")],
                1_700_000_000_123,
                1.5,
                "metrics[0]"
            ),
            series("up", &[], NOW, 1.0, "metrics[1]"),
            series("temp", &[], NOW, -300.0, "metrics[2]"),
            series("empty_label", &[], NOW, 0.0, "metrics[3]"),
        ]
    );
    assert_eq!(decode(r#"{"metrics":[]}"#), Ok(MetricBatch::default()));
}

#[test]
fn special_values_are_strings() {
    let body = r#"{"metrics":[
        {"name":"a","value":"NaN"},{"name":"b","value":"+Inf"},
        {"name":"c","value":"Inf"},{"name":"d","value":"-Inf"}]}"#;
    let values: Vec<f64> = decode(body)
        .expect("valid")
        .series
        .iter()
        .map(|s| s.samples[0].value)
        .collect();
    assert!(values[0].is_nan());
    assert_eq!(
        &values[1..],
        &[f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY]
    );
}

#[test]
fn bad_entries_are_named_by_index() {
    let cases = [
        (r#"[1]"#, "metrics[0]: expected an object"),
        (r#"{"value":1}"#, "metrics[0]: field \"name\" is missing"),
        (
            r#"{"name":5,"value":1}"#,
            "field \"name\" is the number 5; expected a string",
        ),
        (r#"{"name":"a"}"#, "field \"value\" is missing"),
        (
            r#"{"name":"a","value":"1.5"}"#,
            "field \"value\" is the string \"1.5\"; expected a number",
        ),
        (
            r#"{"name":"a","value":"nan"}"#,
            "field \"value\" is the string \"nan\"",
        ),
        (
            r#"{"name":"a","value":true}"#,
            "field \"value\" is the boolean true",
        ),
        (r#"{"name":"a","value":null}"#, "field \"value\" is null"),
        (
            r#"{"name":"a","value":1,"timestamp":"1700000000000"}"#,
            "field \"timestamp\" is the string",
        ),
        (
            r#"{"name":"a","value":1,"timestamp":1.5}"#,
            "field \"timestamp\" is 1.5; expected whole Unix milliseconds",
        ),
        (
            r#"{"name":"a","value":1,"timestamp":1e30}"#,
            "field \"timestamp\"",
        ),
        (
            r#"{"name":"a","value":1,"labels":[]}"#,
            "field \"labels\" is an array",
        ),
        (
            r#"{"name":"a","value":1,"labels":{"host":1}}"#,
            "label \"host\" is the number 1; label values must be strings",
        ),
        (
            r#"{"name":"a","value":1,"labels":{"__name__":"b"}}"#,
            "label \"__name__\" is reserved",
        ),
        (
            r#"{"name":"a","value":1,"lables":{}}"#,
            "unknown field \"lables\"",
        ),
    ];
    for (entry, expected) in cases {
        let body = format!(r#"{{"metrics":[{{"name":"ok","value":1}},{entry}]}}"#).replace(
            r#"[{"name":"ok","value":1},[1]]"#,
            r#"[{"name":"ok","value":1},1]"#,
        );
        let errors = malformed(decode(&body));
        assert_eq!(errors.len(), 1, "{entry}: {errors:?}");
        assert!(
            errors[0].starts_with("metrics[1]: "),
            "{entry}: {}",
            errors[0]
        );
        assert!(
            errors[0].contains(expected.trim_start_matches("metrics[0]: ")),
            "{entry}: {}",
            errors[0]
        );
    }
}

#[test]
fn every_bad_entry_is_listed() {
    let body = r#"{"metrics":[{"name":"a"},{"name":"ok","value":1},{"value":2}]}"#;
    let errors = malformed(decode(body));
    assert_eq!(
        errors,
        vec![
            "metrics[0]: field \"value\" is missing".to_owned(),
            "metrics[2]: field \"name\" is missing".to_owned(),
        ]
    );
}

#[test]
fn a_wrong_top_level_shape_is_named_with_its_position() {
    let cases = [
        ("", "not a JSON object"),
        ("[]", "not a JSON object"),
        (
            "{\"metric\":[]}",
            "unknown field `metric`, expected `metrics`",
        ),
        ("{}", "missing field `metrics`"),
        ("{\"metrics\":{}}", "invalid type: map, expected a sequence"),
        (
            "{\"metrics\":[]} x",
            "trailing characters at line 1 column 16",
        ),
        ("{\n\"metrics\": [\n{\"name\": \"a\",}\n]}", "line 3 column"),
    ];
    for (body, expected) in cases {
        assert_one_error(decode(body), expected);
    }
    assert_one_error(
        JsonDecoder.decode(b"\xff", &DecodeContext::new(NOW)),
        "the body is not a JSON object of the form {\"metrics\": [...]}",
    );
}

#[test]
fn only_an_object_is_a_body() {
    for body in [
        "[[]]",
        "[[{\"name\":\"m\",\"value\":1}]]",
        "\"metrics\"",
        "null",
        "  [ ]",
    ] {
        assert_one_error(decode(body), "not a JSON object");
    }
    assert!(decode(" \n{\"metrics\":[]}").is_ok());
}
