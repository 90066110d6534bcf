use serde_json::{json, Value};

use super::*;

fn validate(body: Value) -> Result<Rule, RuleError> {
    RuleDraft::from_json(&body)?.validate(&ExpressionLimits::default())
}

fn threshold_rule() -> Value {
    json!({
        "name": "slow requests",
        "kind": "threshold",
        "selector": "http_request_duration_seconds{env=\"prod\"}",
        "aggregation": "p99",
        "window": "1m",
        "group_by": ["host"],
        "op": ">",
        "threshold": 0.5,
        "resolve_threshold": 0.4,
        "for": "30s",
        "keep_firing_for": "1m",
        "no_data": "alerting",
        "no_data_after": "5m",
        "severity": "critical",
        "labels": {"team": "web"},
        "annotations": {"summary": "{{ $labels.host }} is slow: {{ $value }}"}
    })
}

#[test]
fn a_threshold_rule_becomes_its_levels_and_lifecycle() {
    let rule = validate(threshold_rule()).expect("valid");
    assert_eq!(rule.name, "slow requests");
    assert!(rule.enabled);
    assert_eq!(rule.lifecycle.for_ms, 30_000);
    assert_eq!(rule.lifecycle.keep_firing_for_ms, 60_000);
    assert_eq!(rule.lifecycle.no_data_after_ms, Some(300_000));
    assert_eq!(rule.lifecycle.no_data, NoDataPolicy::Alerting);
    assert_eq!(rule.lifecycle.highest_severity, Some(Severity::Critical));
    let RuleKind::Threshold {
        window_ms,
        levels,
        aggregation,
        group_by,
        ..
    } = rule.kind
    else {
        panic!("a threshold rule");
    };
    assert_eq!((window_ms, aggregation), (60_000, Aggregation::P99));
    assert_eq!(group_by, vec!["host".to_owned()]);
    assert_eq!(
        levels,
        vec![ThresholdLevel {
            severity: Severity::Critical,
            op: Comparison::Above,
            value: 0.5,
            resolve_value: Some(0.4),
        }]
    );
    // Hysteresis: 0.45 keeps a firing alert but does not raise one.
    assert!(!levels[0].raises(0.45) && levels[0].keeps(0.45));
    assert!(levels[0].raises(0.6) && !levels[0].keeps(0.35));
}

#[test]
fn several_severities_are_ordered_highest_first() {
    let mut body = threshold_rule();
    let object = body.as_object_mut().expect("an object");
    for key in ["op", "threshold", "resolve_threshold", "severity"] {
        object.remove(key);
    }
    object.insert(
        "thresholds".into(),
        json!([
            {"severity": "warning", "op": ">", "value": 0.5, "resolve_value": 0.4},
            {"severity": "critical", "op": ">", "value": 0.9}
        ]),
    );
    let rule = validate(body).expect("valid");
    let RuleKind::Threshold { levels, .. } = rule.kind else {
        panic!("a threshold rule");
    };
    let severities: Vec<Severity> = levels.iter().map(|l| l.severity).collect();
    assert_eq!(severities, vec![Severity::Critical, Severity::Warning]);
}

#[test]
fn a_promql_rule_needs_an_interval_of_a_second_or_more() {
    let rule = validate(json!({
        "name": "errors",
        "kind": "promql",
        "expr": "sum by (job) (rate(http_errors_total[5m])) > 10",
        "interval": "15s",
        "for": "1m"
    }))
    .expect("valid");
    assert!(matches!(
        rule.kind,
        RuleKind::Promql {
            interval_ms: 15_000,
            ..
        }
    ));
    let refused =
        validate(json!({"name": "e", "kind": "promql", "expr": "up", "interval": "500ms"}));
    assert_eq!(refused.map_err(|e| e.field), Err("interval".to_owned()));
}

/// A change to the valid threshold rule's body.
type Edit = fn(&mut serde_json::Map<String, Value>);

#[test]
fn each_problem_names_its_field() {
    let with = |edit: Edit| {
        let mut body = threshold_rule();
        edit(body.as_object_mut().expect("an object"));
        validate(body).map(drop).map_err(|e| e.field)
    };
    let cases: [(Edit, &str); 8] = [
        (|b| drop(b.insert("name".into(), json!("  "))), "name"),
        (|b| drop(b.insert("window".into(), json!("soon"))), "window"),
        (|b| drop(b.insert("for".into(), json!("-1s"))), "for"),
        (
            |b| drop(b.insert("selector".into(), json!("rate(x[5m])"))),
            "selector",
        ),
        (
            |b| drop(b.insert("selector".into(), json!("x{"))),
            "selector",
        ),
        (|b| drop(b.remove("threshold")), "threshold"),
        (
            |b| drop(b.insert("labels".into(), json!({"__name__": "x"}))),
            "labels.__name__",
        ),
        (
            |b| {
                for key in ["op", "threshold", "resolve_threshold", "severity"] {
                    b.remove(key);
                }
                b.insert(
                    "thresholds".into(),
                    json!([
                        {"severity": "warning", "op": ">", "value": 1.0},
                        {"severity": "warning", "op": ">", "value": 2.0}
                    ]),
                );
            },
            "thresholds[1].severity",
        ),
    ];
    for (edit, field) in cases {
        assert_eq!(with(edit), Err(field.to_owned()));
    }
}

#[test]
fn rule_errors_are_422_invalid_field() {
    let error = RuleError::new("window", "must be at least 1 ms");
    assert_eq!(error.kind(), ErrorKind::Unprocessable);
    assert_eq!(error.code(), "invalid_field");
    assert_eq!(error.to_string(), "window: must be at least 1 ms");
}

#[test]
fn unknown_fields_and_wrong_types_name_their_field() {
    let field_of = |body: Value| validate(body).expect_err("refused").field;
    let mut unknown = threshold_rule();
    unknown["treshold"] = json!(1);
    assert_eq!(field_of(unknown), "treshold");
    let mut other_kinds_field = threshold_rule();
    other_kinds_field["expr"] = json!("up");
    assert_eq!(field_of(other_kinds_field), "expr");
    let mut wrong_type = threshold_rule();
    wrong_type["thresholds"] = json!([{"severity": "warning", "op": ">", "value": 1}, {"severity": "critical", "op": "~", "value": 2}]);
    wrong_type.as_object_mut().expect("object").remove("op");
    wrong_type
        .as_object_mut()
        .expect("object")
        .remove("threshold");
    wrong_type
        .as_object_mut()
        .expect("object")
        .remove("severity");
    wrong_type
        .as_object_mut()
        .expect("object")
        .remove("resolve_threshold");
    assert_eq!(field_of(wrong_type), "thresholds[1].op");
    let mut bad_aggregation = threshold_rule();
    bad_aggregation["aggregation"] = json!("median");
    assert_eq!(field_of(bad_aggregation), "aggregation");
    assert_eq!(field_of(json!({"name": "x"})), "kind");
    assert_eq!(field_of(json!({"name": "x", "kind": "sql"})), "kind");
    let mut flap = threshold_rule();
    flap["flap_max_changes"] = json!(0);
    assert_eq!(field_of(flap), "flap_max_changes");
    let mut timing = threshold_rule();
    timing["repeat_interval"] = json!("often");
    assert_eq!(field_of(timing), "repeat_interval");
}

#[test]
fn flap_settings_reach_the_lifecycle() {
    let mut body = threshold_rule();
    body["flap_max_changes"] = json!(3);
    body["flap_window"] = json!("10m");
    let rule = validate(body).expect("valid");
    assert_eq!(rule.lifecycle.flap.max_changes, 3);
    assert_eq!(rule.lifecycle.flap.window_ms, 600_000);
}

#[test]
fn annotation_templates_are_checked_with_their_position() {
    let mut body = threshold_rule();
    body["annotations"] =
        json!({"summary": "ok {{ $labels.host }}", "description": "value {{ $value | humanise }}"});
    let error = validate(body).expect_err("refused");
    assert_eq!(error.field, "annotations.description");
    assert!(
        error.message.starts_with("line 1, column 19:"),
        "{}",
        error.message
    );
    assert!(error.message.contains("humanise"), "{}", error.message);
}

#[test]
fn annotations_render_with_labels_and_value() {
    let annotations = BTreeMap::from([(
        "summary".to_owned(),
        "{{ $labels.host }} is slow: {{ $value | humanize }}s".to_owned(),
    )]);
    let labels = BTreeMap::from([("host".to_owned(), "db1".to_owned())]);
    let rendered = render_annotations(&annotations, &labels, 1234.5);
    assert_eq!(rendered["summary"], "db1 is slow: 1.234ks");
}

#[test]
fn a_log_rule_becomes_its_query_window_groups_and_levels() {
    let rule = validate(json!({
        "name": "api errors",
        "kind": "log",
        "query": "level:error service:api",
        "aggregation": "rate",
        "window": "5m",
        "group_by": ["service", "host"],
        "thresholds": [
            {"severity": "warning", "op": ">", "value": 1},
            {"severity": "critical", "op": ">", "value": 10}
        ]
    }))
    .expect("valid");
    let RuleKind::Log {
        query_text,
        aggregation,
        window_ms,
        group_by,
        levels,
        ..
    } = rule.kind
    else {
        panic!("a log rule: {:?}", rule.kind);
    };
    assert_eq!(query_text, "level:error service:api");
    assert_eq!(aggregation, LogAggregation::Rate);
    assert_eq!(window_ms, 300_000);
    assert_eq!(group_by, ["service", "host"]);
    // Highest severity first.
    assert_eq!(levels[0].severity, Severity::Critical);
    assert_eq!(rule.lifecycle.highest_severity, Some(Severity::Critical));
}

#[test]
fn a_log_rule_refuses_what_is_not_its_own() {
    let base = json!({"name": "e", "kind": "log", "query": "level:error",
        "aggregation": "count", "window": "5m", "op": ">", "threshold": 1});
    assert!(validate(base.clone()).is_ok());
    for (field, value, named) in [
        ("no_data", json!("alerting"), "no_data"),
        ("expr", json!("up"), "expr"),
        ("aggregation", json!("avg"), "aggregation"),
        ("query", json!("\"unclosed"), "query"),
        ("window", json!("2d"), "window"),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let error = validate(body).expect_err(field);
        assert_eq!(error.field, named, "{error}");
    }
}
