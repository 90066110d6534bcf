//! LogQL: what each query selects, what the pipeline makes of a line, metric values.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::domain::logs::{Level, LogRecord};

fn record(labels: &[(&str, &str)], line: &str, fields: serde_json::Value) -> LogRecord {
    let mut r = LogRecord::message_only(1, line);
    r.level = Level::Info;
    r.service = "api".into();
    r.host = "web-1".into();
    r.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    r.fields = serde_json::from_value(fields).unwrap();
    r
}

fn logs(query: &str) -> LogQuery {
    match parse(query).unwrap_or_else(|e| panic!("{query}: {e}")) {
        Query::Logs(q) => q,
        Query::Metric(_) => panic!("{query} is a metric query"),
    }
}

#[test]
fn selectors_filters_and_parsers() {
    let records = [
        record(
            &[("app", "billing"), ("env", "prod")],
            r#"{"level":"error","msg":"charge failed","status":502,"req":{"path":"/pay"}}"#,
            json!({"trace_id": "t1"}),
        ),
        record(
            &[("app", "billing"), ("env", "dev")],
            "level=info msg=\"ok\" status=200 duration=12",
            json!({}),
        ),
        record(
            &[("app", "search")],
            "plain text with connection refused",
            json!({}),
        ),
    ];
    let table: [(&str, &[usize]); 14] = [
        (r#"{app="billing"}"#, &[0, 1]),
        (r#"{app="billing", env!="dev"}"#, &[0]),
        (r#"{app=~"bill.*|search"}"#, &[0, 1, 2]),
        (r#"{app!~"bill.*"}"#, &[2]),
        (r#"{service_name="api", host="web-1"}"#, &[0, 1, 2]),
        (r#"{app="search"} |= "connection refused""#, &[2]),
        (r#"{app=~".+"} != "status""#, &[2]),
        (r#"{app=~".+"} |~ "status=[0-9]+""#, &[1]),
        (r#"{app="billing"} | json | status >= 500"#, &[0]),
        (r#"{app="billing"} | json | req_path = "/pay""#, &[0]),
        (r#"{app="billing"} | logfmt | duration > 10"#, &[1]),
        (r#"{app="billing"} | trace_id="t1""#, &[0]),
        (r#"{app="billing"} | logfmt | __error__="""#, &[1]),
        (r#"{app=~".+"} !~ "(?i)CONNECTION""#, &[0, 1]),
    ];
    for (query, want) in table {
        let q = logs(query);
        let got: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| q.process(*r).is_some())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, want, "{query}");
    }
    let q = logs(r#"{app="billing"} | json | line_format "{{.msg}} ({{ .status }})""#);
    let processed = q.process(&records[0]).unwrap();
    assert_eq!(processed.line, "charge failed (502)");
    assert_eq!(processed.labels["level"], "error");
    assert_eq!(processed.labels["service_name"], "api");
    assert_eq!(processed.labels["trace_id"], "t1");
    let hints = logs(r#"{app="billing"} |= "a connection refused here""#).block_hints();
    assert!(hints.required.contains(&pair_hash("app", "billing")));
    assert!(
        hints.required.contains(&token_hash("connection"))
            && hints.required.contains(&token_hash("refused"))
    );
    assert!(
        !hints.required.contains(&token_hash("a")),
        "edge words may be parts of words"
    );
}

#[test]
fn metric_queries_count_per_step_and_aggregate() {
    let Query::Metric(expr) = parse(r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#).unwrap()
    else {
        panic!("metric")
    };
    let s = |app: &str, env: &str, points: &[i64]| SeriesPoints {
        labels: [("app", app), ("env", env)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        points: points.iter().map(|&t| (t * 1_000_000_000, 10)).collect(),
    };
    let series = [
        s("a", "prod", &[10, 20, 70]),
        s("a", "dev", &[30]),
        s("b", "prod", &[65]),
    ];
    let result = evaluate(
        &expr,
        &series,
        60_000_000_000,
        120_000_000_000,
        60_000_000_000,
    );
    assert_eq!(result.len(), 2);
    assert_eq!(result[0].0["app"], "a");
    assert_eq!(result[0].1, [(60_000_000_000, 3.0), (120_000_000_000, 1.0)]);
    assert_eq!(result[1].1, [(120_000_000_000, 1.0)]);

    let Query::Metric(rate) = parse(r#"rate({app="a"}[1m])"#).unwrap() else {
        panic!()
    };
    let result = evaluate(&rate, &series[..1], 60_000_000_000, 60_000_000_000, 0);
    assert_eq!(result[0].1, [(60_000_000_000, 2.0 / 60.0)]);
    let Query::Metric(bytes) = parse(r#"bytes_over_time({app="a"}[1m])"#).unwrap() else {
        panic!()
    };
    assert_eq!(
        evaluate(&bytes, &series[..1], 60_000_000_000, 60_000_000_000, 0)[0].1,
        [(60_000_000_000, 20.0)]
    );
    let Query::Metric(top) = parse(r#"topk(1, count_over_time({app=~".+"}[2m]))"#).unwrap() else {
        panic!()
    };
    let result = evaluate(&top, &series, 120_000_000_000, 120_000_000_000, 0);
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].0["env"], "prod");
    assert_eq!(result[0].0["app"], "a");
}

#[test]
fn what_is_not_supported_is_named() {
    let table = [
        (r#"{app="a"} | pattern "<ip> <_>""#, "the pattern stage"),
        (
            r#"quantile_over_time(0.9, {app="a"} | unwrap x [1m])"#,
            "unsupported: quantile_over_time",
        ),
        (
            r#"{app="a"} | line_format "{{ToUpper .msg}}""#,
            "line_format expression",
        ),
        (r#"{app="a""#, "'}' expected"),
        (r#"{app=~"("}"#, "invalid regular expression"),
        (r#"count_over_time({app="a"}[soon])"#, "not a duration"),
        (r#"{app="a"} | status > 5xx"#, "unexpected"),
    ];
    for (query, message) in table {
        let err = parse(query).expect_err(query);
        assert!(err.message.contains(message), "{query}: {err}");
    }
}

#[test]
fn ranges_and_times_at_the_edges_do_not_overflow() {
    let Query::Metric(expr) = parse(r#"count_over_time({app="a"}[10000y])"#).unwrap() else {
        panic!("metric")
    };
    let series = [SeriesPoints {
        labels: BTreeMap::new(),
        points: vec![(5, 1)],
    }];
    assert_eq!(evaluate(&expr, &series, 10, 10, 0)[0].1, [(10, 1.0)]);
    assert_eq!(
        evaluate(&expr, &series, i64::MAX - 1, i64::MAX, i64::MAX).len(),
        1
    );
}
