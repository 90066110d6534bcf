//! A draft rule replayed over stored data: the transitions it would have made, for tuning
//! a rule without noise. The same rule runtime as live evaluation, driven by a simulated
//! clock instead of the tick.

use std::collections::BTreeMap;

use super::rules::RuleRuntime;
use crate::alerting::rule::{Rule, RuleKind};
use crate::alerting::{AlertState, Severity};
use crate::domain::metrics::Labels;
use crate::domain::AlertRuleId;
use crate::promql::{InstantSample, QueryValue, RangeSeries};

/// Most simulated evaluations one preview makes (the step grows for long ranges).
pub const MAX_PREVIEW_STEPS: i64 = 10_000;
/// Most transitions one preview answers.
pub const MAX_PREVIEW_TRANSITIONS: usize = 1000;

/// One transition the rule would have made.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewTransition {
    pub at_ms: i64,
    pub transition: &'static str,
    pub state: AlertState,
    pub severity: Option<Severity>,
    pub value: f64,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
}

/// What a preview found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Preview {
    pub transitions: Vec<PreviewTransition>,
    pub evaluations: usize,
    /// More transitions than [`MAX_PREVIEW_TRANSITIONS`] happened.
    pub truncated: bool,
    /// The rule failed at some evaluation (e.g. over its alert limit).
    pub last_error: Option<String>,
}

/// The step between simulated evaluations of a threshold rule over `[start, end]`: the
/// live tick (1 s), or longer when the range would need more than the cap.
pub fn threshold_step(start_ms: i64, end_ms: i64) -> i64 {
    ((end_ms - start_ms) / MAX_PREVIEW_STEPS).max(1000)
}

fn collect(preview: &mut Preview, out: Vec<super::rules::Outgoing>) {
    for outgoing in out {
        for transition in &outgoing.transitions {
            if preview.transitions.len() >= MAX_PREVIEW_TRANSITIONS {
                preview.truncated = true;
                return;
            }
            preview.transitions.push(PreviewTransition {
                at_ms: outgoing.at_ms,
                transition: transition.name(),
                state: outgoing.change.instance.state,
                severity: outgoing.change.instance.severity,
                value: outgoing.value,
                fingerprint: outgoing.change.instance.fingerprint.clone(),
                labels: outgoing.labels.clone(),
            });
        }
    }
}

/// Replays a threshold rule over raw samples (`series`: its selector's samples from
/// `start - window` to `end`), evaluating every `threshold_step`.
pub fn preview_threshold(
    rule: Rule,
    series: Vec<RangeSeries>,
    start_ms: i64,
    end_ms: i64,
    max_alerts: usize,
) -> Preview {
    let mut runtime = RuleRuntime::new(AlertRuleId::generate(), 0, rule, max_alerts, start_ms);
    let mut samples: Vec<(i64, usize, f64)> = series
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.samples.iter().map(move |p| (p.timestamp_ms, i, p.value)))
        .collect();
    samples.sort_by_key(|(t, i, _)| (*t, *i));
    let keys: Vec<u64> = series.iter().map(|s| s.labels.fingerprint()).collect();
    let step = threshold_step(start_ms, end_ms);
    let mut preview = Preview::default();
    let mut next = 0;
    let mut at = start_ms;
    while at <= end_ms {
        let mut fresh = Vec::new();
        while let Some(&(t, i, value)) = samples.get(next) {
            if t > at {
                break;
            }
            next += 1;
            let sample = crate::domain::metrics::Sample {
                timestamp_ms: t,
                value,
            };
            if let Some(key) = runtime.offer(&series[i].labels, keys[i], &[sample]) {
                if !fresh.contains(&key) {
                    fresh.push(key);
                }
            }
        }
        let mut out = Vec::new();
        runtime.evaluate_threshold(&fresh, true, at, &mut out);
        preview.evaluations += 1;
        collect(&mut preview, out);
        if preview.truncated {
            break;
        }
        at += step;
    }
    preview.last_error = runtime.health.last_error;
    preview
}

/// Replays a PromQL rule over its range query's result (one point per series per
/// evaluation, at `step_ms`).
pub fn preview_promql(
    rule: Rule,
    series: Vec<RangeSeries>,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    max_alerts: usize,
) -> Preview {
    debug_assert!(matches!(rule.kind, RuleKind::Promql { .. }));
    let mut runtime = RuleRuntime::new(AlertRuleId::generate(), 0, rule, max_alerts, start_ms);
    let mut cursors = vec![0usize; series.len()];
    let mut preview = Preview::default();
    let mut at = start_ms;
    while at <= end_ms {
        let mut vector = Vec::new();
        for (s, cursor) in series.iter().zip(cursors.iter_mut()) {
            while s.samples.get(*cursor).is_some_and(|p| p.timestamp_ms < at) {
                *cursor += 1;
            }
            if let Some(point) = s.samples.get(*cursor).filter(|p| p.timestamp_ms == at) {
                vector.push(InstantSample {
                    labels: Labels::clone(&s.labels),
                    timestamp_ms: at,
                    value: point.value,
                });
            }
        }
        let mut out = Vec::new();
        runtime.apply_promql(Ok(QueryValue::Vector(vector)), at, 0.0, &mut out);
        preview.evaluations += 1;
        if runtime.health.last_error.is_some() {
            preview.last_error = runtime.health.last_error.clone();
        }
        collect(&mut preview, out);
        if preview.truncated {
            break;
        }
        at += step_ms;
    }
    preview
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::alerting::rule::RuleDraft;
    use crate::domain::metrics::Sample;
    use crate::promql::ExpressionLimits;

    fn rule(body: serde_json::Value) -> Rule {
        RuleDraft::from_json(&body)
            .and_then(|d| d.validate(&ExpressionLimits::default()))
            .expect("a valid rule")
    }

    fn series(host: &str, points: &[(i64, f64)]) -> RangeSeries {
        RangeSeries {
            labels: Labels::with_name("cpu", [("host", host)]),
            samples: points
                .iter()
                .map(|&(timestamp_ms, value)| Sample {
                    timestamp_ms,
                    value,
                })
                .collect(),
        }
    }

    #[test]
    fn a_threshold_rule_replays_its_firing_and_resolving() {
        let rule = rule(
            json!({"name": "Hot", "kind": "threshold", "selector": "cpu", "aggregation": "last",
            "window": "1m", "group_by": ["host"], "op": ">", "threshold": 90, "for": "10s"}),
        );
        let data = vec![
            series(
                "a",
                &[(0, 50.0), (5_000, 95.0), (30_000, 96.0), (60_000, 10.0)],
            ),
            series("b", &[(0, 10.0), (60_000, 20.0)]),
        ];
        let preview = preview_threshold(rule, data, 0, 120_000, 1000);
        let seen: Vec<(i64, &str)> = preview
            .transitions
            .iter()
            .map(|t| (t.at_ms, t.transition))
            .collect();
        assert_eq!(
            seen,
            vec![(5_000, "pending"), (15_000, "firing"), (60_000, "resolved")]
        );
        assert!(preview.transitions.iter().all(|t| t.labels["host"] == "a"));
        assert_eq!(preview.evaluations, 121);
        assert!(!preview.truncated);
    }

    #[test]
    fn a_promql_rule_replays_per_result_series() {
        let rule = rule(
            json!({"name": "Deep", "kind": "promql", "expr": "queue > 100", "interval": "15s"}),
        );
        let data = vec![RangeSeries {
            labels: Labels::with_name("queue", [("q", "a")]),
            samples: vec![
                Sample {
                    timestamp_ms: 15_000,
                    value: 150.0,
                },
                Sample {
                    timestamp_ms: 30_000,
                    value: 160.0,
                },
            ],
        }];
        let preview = preview_promql(rule, data, 0, 60_000, 15_000, 1000);
        let seen: Vec<(i64, &str)> = preview
            .transitions
            .iter()
            .map(|t| (t.at_ms, t.transition))
            .collect();
        assert_eq!(seen, vec![(15_000, "firing"), (45_000, "resolved")]);
        assert_eq!(preview.transitions[0].labels["q"], "a");
        assert_eq!(preview.evaluations, 5);
    }
}
