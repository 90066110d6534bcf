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

/// Range queries compute range functions series by series over all steps; each step must
/// still equal an instant query at that time, whatever the function, offset, `@`,
/// staleness markers, counter resets or gaps.
#[test]
fn range_steps_equal_instant_queries_at_each_step() {
    let mut series: Vec<(Labels, Vec<Sample>)> = vec![
        (
            parse_labels(r#"c{job="api",i="a"}"#),
            parse_values("0+10x10 5+7x10 _x3 40+1x20", MIN),
        ),
        (
            parse_labels(r#"c{job="api",i="b"}"#),
            parse_values("1 3 _ 9 2 30x5 _x10 7+3x15", MIN),
        ),
        (
            parse_labels(r#"c{job="db",i="a"}"#),
            parse_values("-2+0.5x40", MIN),
        ),
    ];
    // A staleness marker in the middle of one series.
    series[2].1[12].value = stale_nan();
    let data = InMemorySeries::new(series);
    let expressions = [
        "rate(c[5m])",
        "increase(c[3m])",
        "delta(c[4m] offset 2m)",
        "irate(c[5m])",
        "idelta(c[2m])",
        "deriv(c[6m])",
        "predict_linear(c[6m], 120)",
        "changes(c[10m])",
        "resets(c[10m])",
        "avg_over_time(c[4m])",
        "min_over_time(c[4m])",
        "max_over_time(c[4m])",
        "sum_over_time(c[4m])",
        "count_over_time(c[7m])",
        "last_over_time(c[3m])",
        "quantile_over_time(0.9, c[8m])",
        "stddev_over_time(c[5m])",
        "stdvar_over_time(c[5m])",
        "present_over_time(c[2m])",
        "absent_over_time(c[2m])",
        "rate(c[5m] @ 1200)",
        "sum by (job) (rate(c[5m]))",
        "avg without (i) (abs(c))",
        "topk(2, rate(c[5m]))",
        "count_values(\"n\", count_over_time(c[7m]))",
        "max by (job) (sum by (job, i) (c))",
        "rate(c[5m]) * on(i, job) group_left increase(c[5m])",
    ];
    let (start, end, step) = (-3 * MIN, 50 * MIN, MIN / 2);
    for text in expressions {
        let expr = parse(text).expect("valid");
        let mut stepped: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
        let mut t = start;
        while t <= end {
            let Ok(QueryValue::Vector(v)) = engine().instant(&expr, t, &data) else {
                panic!("{text} at {t}: not a vector");
            };
            for s in v {
                let key = s.labels.to_string();
                let at = match stepped.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        stepped.push((key, Vec::new()));
                        stepped.len() - 1
                    }
                };
                stepped[at].1.push((t, s.value));
            }
            t += step;
        }
        stepped.sort_by(|a, b| a.0.cmp(&b.0));
        let as_bits = |m: Vec<(String, Vec<(i64, f64)>)>| -> Vec<(String, Vec<(i64, u64)>)> {
            m.into_iter()
                .map(|(k, points)| {
                    (
                        k,
                        points.into_iter().map(|(t, v)| (t, v.to_bits())).collect(),
                    )
                })
                .collect()
        };
        let ranged: Vec<(String, Vec<(i64, f64)>)> = engine()
            .range(&expr, start, end, step, &data)
            .map(|v| {
                let QueryValue::Matrix(series) = v else {
                    panic!("matrix")
                };
                series
                    .into_iter()
                    .map(|s| {
                        (
                            s.labels.to_string(),
                            s.samples
                                .iter()
                                .map(|p| (p.timestamp_ms, p.value))
                                .collect(),
                        )
                    })
                    .collect()
            })
            .expect(text);
        assert!(!ranged.is_empty(), "{text}: some output expected");
        assert_eq!(as_bits(ranged), as_bits(stepped), "{text}");
    }
}
