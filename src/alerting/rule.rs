//! Alert rules as users write them (`RuleDraft`, the body of `POST /api/v1/alert-rules`)
//! and as the evaluator uses them (`Rule`), with the one validation between: every problem
//! names its field as the body spells it (`thresholds[1].value`, `window`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::lifecycle::{LifecyclePolicy, NoDataPolicy, Severity};
use crate::error::{Classify, ErrorKind};
use crate::promql::{parse_duration, parse_within, Expr, ExpressionLimits};

/// A rule field that is not valid, named as the request body spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl RuleError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Classify for RuleError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unprocessable
    }

    fn code(&self) -> &'static str {
        "invalid_field"
    }
}

/// How a threshold rule reduces each group's samples in its window to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    Last,
    Avg,
    Min,
    Max,
    Sum,
    Count,
    Rate,
    Increase,
    P50,
    P90,
    P95,
    P99,
}

/// A comparison of the aggregated value with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Above,
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "<")]
    Below,
    #[serde(rename = "<=")]
    AtMost,
    #[serde(rename = "==")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AtLeast => value >= threshold,
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
            Self::Equal => value == threshold,
            Self::NotEqual => value != threshold,
        }
    }
}

/// One severity level of a threshold rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdLevel {
    pub severity: Severity,
    pub op: Comparison,
    pub value: f64,
    /// A firing alert resolves only once this no longer holds against `op` (hysteresis).
    pub resolve_value: Option<f64>,
}

impl ThresholdLevel {
    /// The condition holds: the level raises (or keeps) an alert.
    pub fn raises(&self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }

    /// A firing alert at this level is kept: the resolve bound is not crossed yet.
    pub fn keeps(&self, value: f64) -> bool {
        self.op
            .holds(value, self.resolve_value.unwrap_or(self.value))
    }
}

/// A threshold rule's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdDraft {
    pub selector: String,
    pub aggregation: Aggregation,
    pub window: String,
    #[serde(default)]
    pub group_by: Vec<String>,
    pub op: Option<Comparison>,
    pub threshold: Option<f64>,
    pub resolve_threshold: Option<f64>,
    pub severity: Option<Severity>,
    pub thresholds: Option<Vec<ThresholdLevel>>,
    pub no_data: Option<NoDataPolicy>,
    pub no_data_after: Option<String>,
}

/// How a log rule reduces each group's matching records in its window to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogAggregation {
    /// Records in the window.
    Count,
    /// Records per second over the window.
    Rate,
}

/// A log rule's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogDraft {
    /// Tidewatch's log query language (`level:error service:api`).
    pub query: String,
    pub aggregation: LogAggregation,
    pub window: String,
    #[serde(default)]
    pub group_by: Vec<String>,
    pub op: Option<Comparison>,
    pub threshold: Option<f64>,
    pub resolve_threshold: Option<f64>,
    pub severity: Option<Severity>,
    pub thresholds: Option<Vec<ThresholdLevel>>,
}

/// A PromQL rule's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlDraft {
    pub expr: String,
    pub interval: Option<String>,
}

/// The rule's annotations rendered for one alert (`$labels`, `$value`), as Prometheus
/// renders them; a template that fails at run time renders as its error text.
pub fn render_annotations(
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    value: f64,
) -> BTreeMap<String, String> {
    let none = BTreeMap::new();
    let data = super::template::TemplateData {
        labels,
        external_labels: &none,
        value,
    };
    annotations
        .iter()
        .map(|(key, text)| {
            let rendered = super::template::expand(text, &data)
                .unwrap_or_else(|e| format!("<error expanding template: {e}>"));
            (key.clone(), rendered)
        })
        .collect()
}

/// A value checked against a threshold rule's levels (highest severity first).
pub fn threshold_verdict(levels: &[ThresholdLevel], value: f64) -> super::Verdict {
    super::Verdict {
        raising: levels.iter().find(|l| l.raises(value)).map(|l| l.severity),
        keeping: levels.iter().find(|l| l.keeps(value)).map(|l| l.severity),
        value,
    }
}

/// The rule kinds' own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RuleKindDraft {
    Threshold(ThresholdDraft),
    Promql(PromqlDraft),
    Log(LogDraft),
}

/// A rule as sent: `POST /api/v1/alert-rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDraft {
    pub name: String,
    #[serde(flatten)]
    pub kind: RuleKindDraft,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub keep_firing_for: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub channels: Vec<String>,
    pub enabled: Option<bool>,
    /// Notification timing for rules that route to their own channels (the notifier
    /// reads them; validated here).
    pub group_wait: Option<String>,
    pub group_interval: Option<String>,
    pub repeat_interval: Option<String>,
    /// Flap detection: more than this many state changes within `flap_window` (default
    /// 6 in 30m).
    pub flap_max_changes: Option<usize>,
    pub flap_window: Option<String>,
}

/// Fields every rule may carry, and each kind's own.
const COMMON_FIELDS: &[&str] = &[
    "name",
    "kind",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
    "channels",
    "enabled",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "flap_max_changes",
    "flap_window",
];
const THRESHOLD_FIELDS: &[&str] = &[
    "selector",
    "aggregation",
    "window",
    "group_by",
    "op",
    "threshold",
    "resolve_threshold",
    "severity",
    "thresholds",
    "no_data",
    "no_data_after",
];
const PROMQL_FIELDS: &[&str] = &["expr", "interval"];
const LOG_FIELDS: &[&str] = &[
    "query",
    "aggregation",
    "window",
    "group_by",
    "op",
    "threshold",
    "resolve_threshold",
    "severity",
    "thresholds",
];

/// What a validated rule evaluates.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Threshold {
        selector: Expr,
        aggregation: Aggregation,
        window_ms: i64,
        group_by: Vec<String>,
        /// Highest severity first.
        levels: Vec<ThresholdLevel>,
    },
    Promql {
        expr: Expr,
        interval_ms: i64,
    },
    /// Counts the records matching `query` as they are committed, per group.
    Log {
        query: crate::logquery::Expr,
        /// As written, for listings and for rebuilding the window from the log store.
        query_text: String,
        aggregation: LogAggregation,
        window_ms: i64,
        /// Group names: `service`, `host`, `level`, a stream label or a field.
        group_by: Vec<String>,
        /// Highest severity first.
        levels: Vec<ThresholdLevel>,
    },
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub kind: RuleKind,
    pub lifecycle: LifecyclePolicy,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub channels: Vec<String>,
    /// `group_wait`, `group_interval`, `repeat_interval` for alerts routed by `channels`.
    pub notify_timings: RuleTimings,
    pub enabled: bool,
}

/// A rule's own notification timings, each optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTimings {
    pub group_wait_ms: Option<i64>,
    pub group_interval_ms: Option<i64>,
    pub repeat_interval_ms: Option<i64>,
}

/// Default and bounds.
const DEFAULT_PROMQL_INTERVAL_MS: i64 = 15_000;
const MIN_PROMQL_INTERVAL_MS: i64 = 1_000;
const MAX_NAME_CHARS: usize = 200;
/// A log rule's window: its groups keep counts for this long.
const MAX_LOG_WINDOW_MS: i64 = 86_400_000;
/// Matching lines a log alert keeps for its notification.
pub const LOG_LINES_KEPT: usize = 5;

fn duration(text: &str, field: &str, at_least_ms: i64) -> Result<i64, RuleError> {
    let ms = parse_duration(text, field).map_err(|_| {
        RuleError::new(
            field,
            format!("{text:?} is not a duration like 30s, 5m or 1h30m"),
        )
    })?;
    if ms < at_least_ms {
        return Err(RuleError::new(
            field,
            format!("must be at least {} ms", at_least_ms),
        ));
    }
    Ok(ms)
}

fn optional_duration(text: &Option<String>, field: &str) -> Result<i64, RuleError> {
    text.as_deref()
        .map_or(Ok(0), |text| duration(text, field, 0))
}

impl RuleDraft {
    /// Reads a request body: an object whose every field is known for its kind, each of
    /// the right type; a problem names its field (`thresholds[1].op`).
    pub fn from_json(body: &serde_json::Value) -> Result<Self, RuleError> {
        let Some(object) = body.as_object() else {
            return Err(RuleError::new("", "a rule is a JSON object"));
        };
        let kind_fields = match object.get("kind").and_then(|k| k.as_str()) {
            Some("threshold") => THRESHOLD_FIELDS,
            Some("promql") => PROMQL_FIELDS,
            Some("log") => LOG_FIELDS,
            Some(other) => {
                return Err(RuleError::new(
                    "kind",
                    format!(
                        "{other:?} is not a rule kind; use \"threshold\", \"promql\" or \"log\""
                    ),
                ))
            }
            None => {
                return Err(RuleError::new(
                    "kind",
                    "is required: \"threshold\", \"promql\" or \"log\"",
                ))
            }
        };
        if let Some(unknown) = object.keys().find(|key| {
            !COMMON_FIELDS.contains(&key.as_str()) && !kind_fields.contains(&key.as_str())
        }) {
            return Err(RuleError::new(
                unknown.as_str(),
                "is not a field of this kind of rule",
            ));
        }
        fn at_path(e: serde_path_to_error::Error<serde_json::Error>) -> RuleError {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            RuleError::new(field, e.into_inner().to_string())
        }
        // The kind's fields first, as a plain struct: serde loses the path inside the
        // flattened part of the whole draft, so its errors would name no field.
        let own: serde_json::Map<String, serde_json::Value> = object
            .iter()
            .filter(|(key, _)| kind_fields.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let own = serde_json::Value::Object(own);
        if kind_fields == THRESHOLD_FIELDS {
            serde_path_to_error::deserialize::<_, ThresholdDraft>(&own).map_err(at_path)?;
        } else if kind_fields == LOG_FIELDS {
            serde_path_to_error::deserialize::<_, LogDraft>(&own).map_err(at_path)?;
        } else {
            serde_path_to_error::deserialize::<_, PromqlDraft>(&own).map_err(at_path)?;
        }
        serde_path_to_error::deserialize(body).map_err(at_path)
    }

    /// Checks every field; the first problem is answered, naming its field.
    pub fn validate(&self, limits: &ExpressionLimits) -> Result<Rule, RuleError> {
        let name = self.name.trim();
        if name.is_empty() || self.name.chars().count() > MAX_NAME_CHARS {
            return Err(RuleError::new(
                "name",
                "must be 1 to 200 characters long, not only spaces",
            ));
        }
        let mut lifecycle = LifecyclePolicy {
            for_ms: optional_duration(&self.for_, "for")?,
            keep_firing_for_ms: optional_duration(&self.keep_firing_for, "keep_firing_for")?,
            ..LifecyclePolicy::default()
        };
        let timed = |text: &Option<String>, field: &str| -> Result<Option<i64>, RuleError> {
            text.as_deref()
                .map(|text| duration(text, field, 0))
                .transpose()
        };
        let notify_timings = RuleTimings {
            group_wait_ms: timed(&self.group_wait, "group_wait")?,
            group_interval_ms: timed(&self.group_interval, "group_interval")?,
            repeat_interval_ms: timed(&self.repeat_interval, "repeat_interval")?,
        };
        for (index, channel) in self.channels.iter().enumerate() {
            if channel.parse::<crate::domain::ChannelId>().is_err() {
                return Err(RuleError::new(
                    format!("channels[{index}]"),
                    format!("{channel:?} is not a channel id"),
                ));
            }
        }
        if let Some(max_changes) = self.flap_max_changes {
            if max_changes == 0 {
                return Err(RuleError::new("flap_max_changes", "must be at least 1"));
            }
            lifecycle.flap.max_changes = max_changes;
        }
        if let Some(window) = &self.flap_window {
            lifecycle.flap.window_ms = duration(window, "flap_window", 1)?;
        }
        let kind = match &self.kind {
            RuleKindDraft::Promql(PromqlDraft { expr, interval }) => {
                let expr = parse_within(expr, limits)
                    .map_err(|e| RuleError::new("expr", e.to_string()))?;
                let interval_ms = match interval {
                    Some(text) => duration(text, "interval", MIN_PROMQL_INTERVAL_MS)?,
                    None => DEFAULT_PROMQL_INTERVAL_MS,
                };
                RuleKind::Promql { expr, interval_ms }
            }
            RuleKindDraft::Threshold(ThresholdDraft {
                selector,
                aggregation,
                window,
                group_by,
                op,
                threshold,
                resolve_threshold,
                severity,
                thresholds,
                no_data,
                no_data_after,
            }) => {
                let selector = match parse_within(selector, limits) {
                    Ok(Expr::VectorSelector(vs)) if vs.offset.is_some() || vs.at.is_some() => {
                        return Err(RuleError::new(
                            "selector",
                            "a threshold rule watches samples as they arrive: no offset or @",
                        ))
                    }
                    Ok(expr @ Expr::VectorSelector(_)) => expr,
                    Ok(_) => {
                        return Err(RuleError::new(
                            "selector",
                            "must be a series selector like http_requests_total{env=\"prod\"}",
                        ))
                    }
                    Err(e) => return Err(RuleError::new("selector", e.to_string())),
                };
                let window_ms = duration(window, "window", 1)?;
                let levels = threshold_levels(
                    *op,
                    *threshold,
                    *resolve_threshold,
                    *severity,
                    thresholds.as_deref(),
                )?;
                lifecycle.no_data = no_data.unwrap_or_default();
                lifecycle.no_data_after_ms = no_data_after
                    .as_deref()
                    .map(|text| duration(text, "no_data_after", 1))
                    .transpose()?;
                lifecycle.highest_severity = levels.first().map(|level| level.severity);
                RuleKind::Threshold {
                    selector,
                    aggregation: *aggregation,
                    window_ms,
                    group_by: group_by.clone(),
                    levels,
                }
            }
            RuleKindDraft::Log(LogDraft {
                query,
                aggregation,
                window,
                group_by,
                op,
                threshold,
                resolve_threshold,
                severity,
                thresholds,
            }) => {
                let parsed = crate::logquery::Expr::parse(query)
                    .map_err(|e| RuleError::new("query", e.to_string()))?;
                let window_ms = duration(window, "window", 1_000)?;
                if window_ms > MAX_LOG_WINDOW_MS {
                    return Err(RuleError::new("window", "must be at most 24h"));
                }
                for (index, name) in group_by.iter().enumerate() {
                    if name.trim().is_empty() || name.starts_with("__") {
                        return Err(RuleError::new(
                            format!("group_by[{index}]"),
                            "names service, host, level, a stream label or a field",
                        ));
                    }
                }
                let levels = threshold_levels(
                    *op,
                    *threshold,
                    *resolve_threshold,
                    *severity,
                    thresholds.as_deref(),
                )?;
                lifecycle.highest_severity = levels.first().map(|level| level.severity);
                RuleKind::Log {
                    query: parsed,
                    query_text: query.clone(),
                    aggregation: *aggregation,
                    window_ms,
                    group_by: group_by.clone(),
                    levels,
                }
            }
        };
        for (key, text) in &self.annotations {
            if let Err(e) = super::template::Template::parse(text) {
                return Err(RuleError::new(format!("annotations.{key}"), e.to_string()));
            }
        }
        for key in self.labels.keys() {
            if key.is_empty() || key.starts_with("__") {
                return Err(RuleError::new(
                    format!("labels.{key}"),
                    "label names must be non-empty and not start with __",
                ));
            }
        }
        Ok(Rule {
            name: name.to_owned(),
            kind,
            lifecycle,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            channels: self.channels.clone(),
            notify_timings,
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

/// The levels of a threshold rule, highest severity first: either the single
/// `op`/`threshold`/`resolve_threshold`/`severity` or the `thresholds` list, not both.
fn threshold_levels(
    op: Option<Comparison>,
    threshold: Option<f64>,
    resolve_threshold: Option<f64>,
    severity: Option<Severity>,
    thresholds: Option<&[ThresholdLevel]>,
) -> Result<Vec<ThresholdLevel>, RuleError> {
    let finite = |value: f64, field: String| {
        if value.is_finite() {
            Ok(())
        } else {
            Err(RuleError::new(field, "must be a finite number"))
        }
    };
    let mut levels = match (thresholds, op, threshold) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(RuleError::new(
                "thresholds",
                "give either thresholds or op and threshold, not both",
            ))
        }
        (Some([]), None, None) => {
            return Err(RuleError::new("thresholds", "give at least one threshold"))
        }
        (Some(levels), None, None) => {
            for (i, level) in levels.iter().enumerate() {
                finite(level.value, format!("thresholds[{i}].value"))?;
                if let Some(resolve) = level.resolve_value {
                    finite(resolve, format!("thresholds[{i}].resolve_value"))?;
                }
                if levels[..i].iter().any(|l| l.severity == level.severity) {
                    return Err(RuleError::new(
                        format!("thresholds[{i}].severity"),
                        "each severity may appear once",
                    ));
                }
            }
            levels.to_vec()
        }
        (None, Some(op), Some(value)) => {
            finite(value, "threshold".into())?;
            if let Some(resolve) = resolve_threshold {
                finite(resolve, "resolve_threshold".into())?;
            }
            vec![ThresholdLevel {
                severity: severity.unwrap_or(Severity::Warning),
                op,
                value,
                resolve_value: resolve_threshold,
            }]
        }
        (None, None, _) => return Err(RuleError::new("op", "is required with threshold")),
        (None, Some(_), None) => return Err(RuleError::new("threshold", "is required")),
    };
    levels.sort_by_key(|level| std::cmp::Reverse(level.severity));
    Ok(levels)
}

#[cfg(test)]
mod tests;
