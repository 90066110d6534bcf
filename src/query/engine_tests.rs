//! Engine behaviour promtool cannot check: range queries, limits, timeouts, parameter
//! errors, negative offsets and `@` over a range, result types.

use std::time::Duration;

use super::numeric::stale_nan;
use super::series_notation::{parse_labels, parse_values};
use super::{parse, Engine, InMemorySeries, QueryError, QueryLimits, QueryValue};
use crate::domain::metrics::{Labels, Sample};

const MIN: i64 = 60_000;

fn source(series: &[(&str, &str)]) -> InMemorySeries {
    InMemorySeries::new(
        series
            .iter()
            .map(|(l, v)| (parse_labels(l), parse_values(v, MIN)))
            .collect(),
    )
}

fn requests() -> InMemorySeries {
    source(&[
        (r#"http_requests{job="api",instance="a"}"#, "0+10x20"),
        (r#"http_requests{job="api",instance="b"}"#, "0+20x20"),
    ])
}

fn engine() -> Engine {
    Engine::new(QueryLimits::default())
}

/// A matrix as `(labels, [(minutes, value)])`.
fn matrix(value: QueryValue) -> Vec<(String, Vec<(i64, f64)>)> {
    let QueryValue::Matrix(series) = value else {
        panic!("expected a matrix, got {value:?}");
    };
    series
        .into_iter()
        .map(|s| {
            let points = s
                .samples
                .iter()
                .map(|p| (p.timestamp_ms / MIN, p.value))
                .collect();
            (s.labels.to_string(), points)
        })
        .collect()
}

#[test]
fn range_queries_evaluate_every_step() {
    type Case = (&'static str, i64, i64, Vec<(&'static str, Vec<(i64, f64)>)>);
    let cases: Vec<Case> = vec![
        (
            r#"http_requests{instance="a"}"#,
            2,
            4,
            vec![(
                r#"http_requests{instance="a",job="api"}"#,
                vec![(2, 20.0), (3, 30.0), (4, 40.0)],
            )],
        ),
        // Negative offsets read ahead (promtool only loads data up to the eval time).
        (
            r#"http_requests{instance="a"} offset -2m"#,
            2,
            3,
            vec![(
                r#"http_requests{instance="a",job="api"}"#,
                vec![(2, 40.0), (3, 50.0)],
            )],
        ),
        // `@` pins every step to one time; start() is the range start.
        (
            r#"http_requests{instance="b"} @ start()"#,
            2,
            4,
            vec![(
                r#"http_requests{instance="b",job="api"}"#,
                vec![(2, 40.0), (3, 40.0), (4, 40.0)],
            )],
        ),
        (
            r#"sum(http_requests) > 100"#,
            3,
            5,
            vec![("{}", vec![(4, 120.0), (5, 150.0)])],
        ),
        ("time()", 1, 2, vec![("{}", vec![(1, 60.0), (2, 120.0)])]),
        // Data ends at 20m; the lookback keeps it visible until 25m.
        (
            r#"http_requests{instance="a"}"#,
            24,
            26,
            vec![(
                r#"http_requests{instance="a",job="api"}"#,
                vec![(24, 200.0), (25, 200.0)],
            )],
        ),
    ];
    for (query, from, to, expected) in cases {
        let expr = parse(query).expect("valid query");
        let got = engine()
            .range(&expr, from * MIN, to * MIN, MIN, &requests())
            .expect("evaluates");
        let expected: Vec<(String, Vec<(i64, f64)>)> = expected
            .into_iter()
            .map(|(l, p)| (l.replace("{}", ""), p))
            .collect();
        assert_eq!(matrix(got), expected, "{query}");
    }
}

#[test]
fn range_results_are_sorted_by_labels_and_merge_steps() {
    let expr = parse("http_requests * 1").expect("valid");
    let got = matrix(
        engine()
            .range(&expr, 0, 2 * MIN, MIN, &requests())
            .expect("evaluates"),
    );
    let labels: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        vec![r#"{instance="a",job="api"}"#, r#"{instance="b",job="api"}"#]
    );
    assert!(got.iter().all(|(_, points)| points.len() == 3));
}

#[test]
fn bad_parameters_and_limits_are_refused() {
    let expr = parse("http_requests").expect("valid");
    let small = Engine::new(QueryLimits {
        max_series: 1,
        ..QueryLimits::default()
    });
    let cases: Vec<(Result<QueryValue, QueryError>, QueryError)> = vec![
        (
            engine().range(&expr, 0, MIN, 0, &requests()),
            QueryError::BadData("zero or negative query resolution step widths are not accepted. Try a positive integer".into()),
        ),
        (
            engine().range(&expr, MIN, 0, 1_000, &requests()),
            QueryError::BadData("end timestamp must not be before start time".into()),
        ),
        (
            engine().range(&expr, 0, 11_001_000, 1_000, &requests()),
            QueryError::LimitExceeded("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into()),
        ),
        (
            small.instant(&expr, MIN, &requests()),
            QueryError::LimitExceeded(
                "the query selects more than max_series=1 series; narrow the selectors".into(),
            ),
        ),
        (
            engine().range(&parse("http_requests[5m]").expect("valid"), 0, MIN, MIN, &requests()),
            QueryError::BadData("invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into()),
        ),
        (
            engine().instant(&parse("max_over_time(http_requests[5m:1m])").expect("valid"), MIN, &requests()),
            QueryError::Unsupported("subqueries".into()),
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, Err(want), "case {i}");
    }
    // 11,000 steps exactly is allowed.
    assert!(engine()
        .range(&expr, 0, 11_000_000, 1_000, &requests())
        .is_ok());
}

#[test]
fn dropping_the_name_may_not_merge_series() {
    let data = source(&[(r#"a{x="1"}"#, "1"), (r#"b{x="1"}"#, "2")]);
    let expr = parse(r#"abs({__name__=~"a|b"})"#).expect("valid");
    assert_eq!(
        engine().instant(&expr, 0, &data),
        Err(QueryError::Execution(
            "vector cannot contain metrics with the same labelset".into()
        ))
    );
}

#[test]
fn a_spent_budget_times_out() {
    let engine = Engine::new(QueryLimits {
        timeout: Duration::ZERO,
        ..QueryLimits::default()
    });
    let expr = parse("http_requests").expect("valid");
    assert_eq!(
        engine.range(&expr, 0, 10 * MIN, MIN, &requests()),
        Err(QueryError::Timeout)
    );
}

#[test]
fn instant_queries_return_every_result_type() {
    let at = 5 * MIN;
    let series = |query: &str| engine().instant(&parse(query).expect("valid"), at, &requests());
    assert_eq!(
        series("1 + 1"),
        Ok(QueryValue::Scalar {
            timestamp_ms: at,
            value: 2.0
        })
    );
    assert_eq!(
        series("\"hello\""),
        Ok(QueryValue::String {
            timestamp_ms: at,
            value: "hello".into()
        })
    );
    let Ok(QueryValue::Matrix(raw)) = series(r#"http_requests{instance="a"}[2m]"#) else {
        panic!("a range selector gives a matrix");
    };
    assert_eq!(raw.len(), 1);
    let times: Vec<i64> = raw[0]
        .samples
        .iter()
        .map(|s| s.timestamp_ms / MIN)
        .collect();
    assert_eq!(
        times,
        vec![3, 4, 5],
        "raw samples in [t-2m, t] keep their own times"
    );
    let Ok(QueryValue::Vector(vector)) = series("sort_desc(http_requests)") else {
        panic!("a selector gives a vector");
    };
    assert_eq!(vector[0].labels.get("instance"), Some("b"), "order is kept");
    assert!(vector.iter().all(|s| s.timestamp_ms == at));
}

#[test]
fn staleness_markers_end_a_series() {
    let data = InMemorySeries::new(vec![(
        Labels::with_name("s", Vec::<(String, String)>::new()),
        vec![
            Sample {
                timestamp_ms: 0,
                value: 1.0,
            },
            Sample {
                timestamp_ms: MIN,
                value: stale_nan(),
            },
        ],
    )]);
    let expr = parse("s").expect("valid");
    for (t, present) in [(0, true), (MIN, false), (2 * MIN, false)] {
        let Ok(QueryValue::Vector(v)) = engine().instant(&expr, t, &data) else {
            panic!("vector");
        };
        assert_eq!(!v.is_empty(), present, "at {t}");
    }
}

#[test]
fn query_values_serialise_end_to_end() {
    let expr = parse(r#"http_requests{instance="a"} / 4"#).expect("valid");
    let value = engine()
        .instant(&expr, 3 * MIN, &requests())
        .expect("evaluates");
    assert_eq!(
        serde_json::to_string(&value).expect("serialises"),
        r#"{"resultType":"vector","result":[{"metric":{"instance":"a","job":"api"},"value":[180,"7.5"]}]}"#
    );
}
