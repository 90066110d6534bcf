//! Threshold rules written as the equivalent PromQL, for `/api/v1/rules` and the export
//! as a Prometheus rule file. The pooled aggregations (avg, min, max, sum, count) are
//! exact; `last`, `rate` and the percentiles are Prometheus' closest per-series forms
//! combined over the group (Prometheus' `rate` also extrapolates to the window's edges).

use super::rule::{Aggregation, Comparison, RuleKind, ThresholdLevel};

/// `90000` → `1m30s`; `0` → `0s`; sub-second parts as `ms`.
pub fn format_duration(ms: i64) -> String {
    if ms <= 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn comparison(op: Comparison) -> &'static str {
    match op {
        Comparison::Above => ">",
        Comparison::AtLeast => ">=",
        Comparison::Below => "<",
        Comparison::AtMost => "<=",
        Comparison::Equal => "==",
        Comparison::NotEqual => "!=",
    }
}

/// A threshold rule's value per group as PromQL.
pub fn group_value(
    selector: &str,
    aggregation: Aggregation,
    window_ms: i64,
    group_by: &[String],
) -> String {
    let range = format!("{selector}[{}]", format_duration(window_ms));
    let by = if group_by.is_empty() {
        String::new()
    } else {
        format!(" by ({})", group_by.join(", "))
    };
    let quantile = |phi: &str| format!("max{by} (quantile_over_time({phi}, {range}))");
    match aggregation {
        Aggregation::Last => format!("max{by} (last_over_time({range}))"),
        Aggregation::Avg => {
            format!("sum{by} (sum_over_time({range})) / sum{by} (count_over_time({range}))")
        }
        Aggregation::Min => format!("min{by} (min_over_time({range}))"),
        Aggregation::Max => format!("max{by} (max_over_time({range}))"),
        Aggregation::Sum => format!("sum{by} (sum_over_time({range}))"),
        Aggregation::Count => format!("sum{by} (count_over_time({range}))"),
        Aggregation::Rate => format!("sum{by} (rate({range}))"),
        Aggregation::Increase => format!("sum{by} (increase({range}))"),
        Aggregation::P50 => quantile("0.5"),
        Aggregation::P90 => quantile("0.9"),
        Aggregation::P95 => quantile("0.95"),
        Aggregation::P99 => quantile("0.99"),
    }
}

/// One level's condition as PromQL.
pub fn level_condition(value_expr: &str, level: &ThresholdLevel) -> String {
    format!("({value_expr}) {} {}", comparison(level.op), level.value)
}

/// The PromQL a rule evaluates: a PromQL rule's expression; a threshold rule's condition
/// at its lowest severity (the one that raises first).
pub fn rule_query(kind: &RuleKind) -> String {
    match kind {
        RuleKind::Promql { expr, .. } => expr.to_string(),
        RuleKind::Threshold {
            selector,
            aggregation,
            window_ms,
            group_by,
            levels,
        } => {
            let value = group_value(&selector.to_string(), *aggregation, *window_ms, group_by);
            match levels.last() {
                Some(level) => level_condition(&value, level),
                None => value,
            }
        }
        // Not PromQL: the rule as its own words, in the same shape.
        RuleKind::Log {
            query_text,
            aggregation,
            window_ms,
            group_by,
            levels,
            ..
        } => {
            let by = if group_by.is_empty() {
                String::new()
            } else {
                format!(" by ({})", group_by.join(", "))
            };
            let aggregation = match aggregation {
                super::rule::LogAggregation::Count => "count",
                super::rule::LogAggregation::Rate => "rate",
            };
            let value = format!(
                "{aggregation}{by} of logs matching {query_text:?} over {}",
                format_duration(*window_ms)
            );
            match levels.last() {
                Some(level) => level_condition(&value, level),
                None => value,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::Severity;

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(90_000), "1m30s");
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_duration(86_400_000 * 8), "1w1d");
    }

    #[test]
    fn threshold_conditions_as_promql() {
        let value = group_value(
            "http_errors_total{env=\"prod\"}",
            Aggregation::Rate,
            300_000,
            &["host".into()],
        );
        assert_eq!(
            value,
            "sum by (host) (rate(http_errors_total{env=\"prod\"}[5m]))"
        );
        let level = ThresholdLevel {
            severity: Severity::Warning,
            op: Comparison::AtLeast,
            value: 0.5,
            resolve_value: None,
        };
        assert_eq!(
            level_condition(&group_value("up", Aggregation::Avg, 60_000, &[]), &level),
            "(sum (sum_over_time(up[1m])) / sum (count_over_time(up[1m]))) >= 0.5"
        );
    }
}
