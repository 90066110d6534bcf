//! Prometheus rule files (`groups[].rules[]`), read for import and written for export.
//!
//! Import turns each alerting rule into the body of a `promql` rule (validated then like
//! any other), reports recording rules as skipped, and refuses what cannot be read, each
//! with its place in the file. Export writes every rule as Prometheus would run it:
//! PromQL rules as they are, threshold rules as the equivalent PromQL (one Prometheus rule
//! per severity level, the level in the `severity` label; Prometheus has no hysteresis,
//! so a resolve bound is not carried over). Groups are per evaluation interval, since a
//! Prometheus group has one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::promql_form::{format_duration, group_value, level_condition};
use super::rule::{Rule, RuleKind};

#[derive(Debug, Deserialize)]
struct FileIn {
    #[serde(default)]
    groups: Vec<GroupIn>,
}

#[derive(Debug, Deserialize)]
struct GroupIn {
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    rules: Vec<serde_norway::Value>,
}

/// What became of one rule of an imported file.
#[derive(Debug, Clone, PartialEq)]
pub enum Imported {
    /// An alerting rule, as the body of a `promql` rule to validate and create.
    Draft(Value),
    /// A recording rule: Tidewatch records nothing.
    Skipped(String),
    /// Unreadable (no `expr`, neither `alert` nor `record`, a field of the wrong type).
    Refused(String),
}

/// One rule's place in the file and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportItem {
    pub group: String,
    /// Index in its group's `rules`.
    pub index: usize,
    /// `alert` (or `record`) as written.
    pub name: Option<String>,
    pub outcome: Imported,
}

/// Why a whole file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleFileError(pub String);

impl crate::error::Classify for RuleFileError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::InvalidInput
    }

    fn code(&self) -> &'static str {
        "invalid_yaml"
    }
}

fn text_of(value: &serde_norway::Value) -> Option<String> {
    match value {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_map(
    value: Option<&serde_norway::Value>,
    field: &str,
) -> Result<BTreeMap<String, String>, String> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    if value.is_null() {
        return Ok(BTreeMap::new());
    }
    let mapping = value
        .as_mapping()
        .ok_or_else(|| format!("{field} must be a mapping of names to texts"))?;
    mapping
        .iter()
        .map(|(k, v)| match (text_of(k), text_of(v)) {
            (Some(k), Some(v)) => Ok((k, v)),
            _ => Err(format!("{field} must be a mapping of names to texts")),
        })
        .collect()
}

fn import_rule(rule: &serde_norway::Value, interval: Option<&str>) -> (Option<String>, Imported) {
    let get = |key: &str| rule.get(key);
    let alert = get("alert").and_then(text_of);
    let record = get("record").and_then(text_of);
    let name = alert.clone().or_else(|| record.clone());
    if rule.as_mapping().is_none() {
        return (None, Imported::Refused("a rule must be a mapping".into()));
    }
    let known = [
        "alert",
        "record",
        "expr",
        "for",
        "keep_firing_for",
        "labels",
        "annotations",
    ];
    if let Some(unknown) = rule
        .as_mapping()
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(text_of)
        .find(|k| !known.contains(&k.as_str()))
    {
        return (
            name,
            Imported::Refused(format!("{unknown}: not a field of a Prometheus rule")),
        );
    }
    if record.is_some() {
        return (
            name,
            Imported::Skipped(
                "recording rules are not imported: Tidewatch evaluates alerting rules only".into(),
            ),
        );
    }
    let Some(alert) = alert else {
        return (
            None,
            Imported::Refused("a rule needs alert (or record)".into()),
        );
    };
    let Some(expr) = get("expr").and_then(text_of) else {
        return (name, Imported::Refused("expr: is required".into()));
    };
    let labels = match string_map(get("labels"), "labels") {
        Ok(labels) => labels,
        Err(e) => return (name, Imported::Refused(e)),
    };
    let annotations = match string_map(get("annotations"), "annotations") {
        Ok(annotations) => annotations,
        Err(e) => return (name, Imported::Refused(e)),
    };
    let mut body = json!({
        "name": alert,
        "kind": "promql",
        "expr": expr,
        "labels": labels,
        "annotations": annotations,
    });
    for key in ["for", "keep_firing_for"] {
        match get(key) {
            None => {}
            Some(v) => match text_of(v) {
                Some(text) => body[key] = json!(text),
                None => {
                    return (
                        name,
                        Imported::Refused(format!("{key}: must be a duration")),
                    )
                }
            },
        }
    }
    if let Some(interval) = interval {
        body["interval"] = json!(interval);
    }
    (name, Imported::Draft(body))
}

/// Reads a Prometheus rule file.
pub fn import(yaml: &str) -> Result<Vec<ImportItem>, RuleFileError> {
    let file: FileIn = serde_norway::from_str(yaml)
        .map_err(|e| RuleFileError(format!("not a Prometheus rule file: {e}")))?;
    let mut items = Vec::new();
    for (g, group) in file.groups.iter().enumerate() {
        let group_name = group.name.clone().unwrap_or_else(|| format!("groups[{g}]"));
        for (index, rule) in group.rules.iter().enumerate() {
            let (name, outcome) = import_rule(rule, group.interval.as_deref());
            items.push(ImportItem {
                group: group_name.clone(),
                index,
                name,
                outcome,
            });
        }
    }
    Ok(items)
}

#[derive(Debug, Serialize)]
struct FileOut {
    groups: Vec<GroupOut>,
}

#[derive(Debug, Serialize)]
struct GroupOut {
    name: String,
    interval: String,
    rules: Vec<RuleOut>,
}

#[derive(Debug, Serialize)]
struct RuleOut {
    alert: String,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// The rules as a Prometheus rule file (`promtool check rules` accepts it).
pub fn export(rules: &[Rule]) -> String {
    let mut groups: BTreeMap<i64, Vec<RuleOut>> = BTreeMap::new();
    for rule in rules {
        let duration = |ms: i64| (ms > 0).then(|| format_duration(ms));
        let out = |expr: String, labels: BTreeMap<String, String>| RuleOut {
            alert: rule.name.clone(),
            expr,
            for_: duration(rule.lifecycle.for_ms),
            keep_firing_for: duration(rule.lifecycle.keep_firing_for_ms),
            labels,
            annotations: rule.annotations.clone(),
        };
        match &rule.kind {
            // A Prometheus rule file holds PromQL: log rules have no place in it.
            RuleKind::Log { .. } => {}
            RuleKind::Promql { expr, interval_ms } => groups
                .entry(*interval_ms)
                .or_default()
                .push(out(expr.to_string(), rule.labels.clone())),
            RuleKind::Threshold {
                selector,
                aggregation,
                window_ms,
                group_by,
                levels,
            } => {
                let value = group_value(&selector.to_string(), *aggregation, *window_ms, group_by);
                for level in levels.iter().rev() {
                    let mut labels = rule.labels.clone();
                    labels.insert("severity".into(), level.severity.as_str().into());
                    // Threshold rules evaluate on every sample; 1 s is the tick.
                    groups
                        .entry(1000)
                        .or_default()
                        .push(out(level_condition(&value, level), labels));
                }
            }
        }
    }
    let file = FileOut {
        groups: groups
            .into_iter()
            .map(|(interval_ms, rules)| GroupOut {
                name: format!("tidewatch-{}", format_duration(interval_ms)),
                interval: format_duration(interval_ms),
                rules,
            })
            .collect(),
    };
    serde_norway::to_string(&file).unwrap_or_else(|e| format!("# not written: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
groups:
  - name: example
    interval: 30s
    rules:
      - alert: HighRequestLatency
        expr: job:request_latency_seconds:mean5m{job="myjob"} > 0.5
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: page
        annotations:
          summary: High request latency on {{ $labels.instance }}
      - record: job:http_inprogress_requests:sum
        expr: sum by (job) (http_inprogress_requests)
      - alert: NoExpr
      - alert: Odd
        expr: up == 0
        labels: [a, b]
  - name: second
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        labels: {severity: critical, priority: 1}
"#;

    #[test]
    fn a_prometheus_file_becomes_drafts_skips_and_refusals() {
        let items = import(FILE).expect("a rule file");
        assert_eq!(items.len(), 5);
        let Imported::Draft(first) = &items[0].outcome else {
            panic!("{:?}", items[0]);
        };
        assert_eq!(
            first,
            &json!({
                "name": "HighRequestLatency",
                "kind": "promql",
                "expr": "job:request_latency_seconds:mean5m{job=\"myjob\"} > 0.5",
                "for": "10m",
                "keep_firing_for": "5m",
                "interval": "30s",
                "labels": {"severity": "page"},
                "annotations": {"summary": "High request latency on {{ $labels.instance }}"},
            })
        );
        assert!(matches!(items[1].outcome, Imported::Skipped(_)));
        assert_eq!(
            items[1].name.as_deref(),
            Some("job:http_inprogress_requests:sum")
        );
        assert_eq!(
            items[2].outcome,
            Imported::Refused("expr: is required".into())
        );
        assert!(matches!(&items[3].outcome, Imported::Refused(r) if r.starts_with("labels")));
        let Imported::Draft(last) = &items[4].outcome else {
            panic!("{:?}", items[4]);
        };
        assert_eq!(items[4].group, "second");
        assert_eq!(last["labels"]["priority"], "1");
        assert!(last.get("interval").is_none());
    }

    #[test]
    fn what_is_not_a_rule_file_is_refused_whole() {
        assert!(import("groups: 3").is_err());
        assert!(import(": : :").is_err());
        assert_eq!(import("groups: []").expect("empty file"), vec![]);
    }
}
