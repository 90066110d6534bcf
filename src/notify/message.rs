//! What a notification says: the alerts of one group as one channel receives them, the
//! default text every kind starts from, and Alertmanager's webhook body (version 4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::template::MessageTemplate;
use crate::alerting::Transition;
use crate::domain::time::rfc3339_ms;

/// Whether an alert is notified as firing or as over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }
}

/// What a transition tells channels, if anything: the status, and the name notifications
/// give it (`firing`, `resolved`, `escalated`, `de-escalated`, `flapping`, `stable`).
/// Pending, cancelled and no-data transitions notify no one (a no-data alert that fires
/// has its own `firing` transition).
pub fn notified(transition: Transition) -> Option<(AlertStatus, &'static str)> {
    Some(match transition {
        Transition::Firing { .. } => (AlertStatus::Firing, "firing"),
        Transition::Escalated { .. } => (AlertStatus::Firing, "escalated"),
        Transition::DeEscalated { .. } => (AlertStatus::Firing, "de-escalated"),
        Transition::Resolved => (AlertStatus::Resolved, "resolved"),
        Transition::Flapping => (AlertStatus::Firing, "flapping"),
        Transition::FlappingStopped => (AlertStatus::Firing, "stable"),
        Transition::Pending { .. } | Transition::Cancelled | Transition::NoData => return None,
    })
}

/// One alert in a notification, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub fingerprint: String,
    pub status: AlertStatus,
    /// `firing`, `resolved`, `escalated`, `de-escalated`, `flapping`, `stable`, `repeat`.
    pub transition: String,
    pub severity: Option<String>,
    pub value: Option<f64>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: Option<i64>,
    /// When the transition happened.
    pub at_ms: i64,
    /// Where the alert came from, when another system posted it (Prometheus' graph
    /// link); Tidewatch's own alerts link to their page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
    /// Log rules: the newest matching lines (at most 5), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_lines: Vec<String>,
}

/// One message to one channel: a group's alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The channel's name (Alertmanager's `receiver`).
    pub receiver: String,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub alerts: Vec<NotifiedAlert>,
    /// Where the dashboard is, for links (`TIDEWATCH_EXTERNAL_URL`).
    pub external_url: String,
    /// The same for every attempt at the same message, so receivers can drop repeats.
    pub idempotency_key: String,
    /// The channel's own subject and body, if it has them.
    pub template: Option<MessageTemplate>,
}

fn common<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut maps = maps;
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut shared = first.clone();
    for map in maps {
        shared.retain(|k, v| map.get(k) == Some(v));
    }
    shared
}

/// Alertmanager's zero time, which its webhooks send as `endsAt` of a firing alert.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Notification {
    /// `firing` while any alert in it fires, else `resolved`.
    pub fn status(&self) -> AlertStatus {
        if self.alerts.iter().any(|a| a.status == AlertStatus::Firing) {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        }
    }

    pub fn firing(&self) -> impl Iterator<Item = &NotifiedAlert> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing)
    }

    pub fn resolved(&self) -> impl Iterator<Item = &NotifiedAlert> {
        self.alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Resolved)
    }

    pub fn common_labels(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.labels))
    }

    pub fn common_annotations(&self) -> BTreeMap<String, String> {
        common(self.alerts.iter().map(|a| &a.annotations))
    }

    /// The highest severity among the firing alerts (or all, when none fires).
    pub fn severity(&self) -> Option<String> {
        let rank = |s: &str| match s {
            "critical" => 3,
            "warning" => 2,
            "info" => 1,
            _ => 0,
        };
        let highest = |alerts: Vec<&NotifiedAlert>| {
            alerts
                .into_iter()
                .filter_map(|a| a.severity.as_deref())
                .max_by_key(|s| rank(s))
                .map(str::to_owned)
        };
        highest(self.firing().collect()).or_else(|| highest(self.alerts.iter().collect()))
    }

    /// The alert's page in the dashboard.
    pub fn alert_link(&self, alert: &NotifiedAlert) -> String {
        format!(
            "{}/alerts/{}",
            self.external_url.trim_end_matches('/'),
            alert.alert_id
        )
    }

    /// The group's page: the alerts of its rule (or the alert list).
    pub fn group_link(&self) -> String {
        match self.alerts.first() {
            Some(alert) if self.alerts.len() == 1 => self.alert_link(alert),
            _ => format!("{}/alerts", self.external_url.trim_end_matches('/')),
        }
    }

    /// `[FIRING:2] HighLatency (critical)`, Alertmanager's title shape.
    pub fn title(&self) -> String {
        if let Some(subject) = self.template.as_ref().and_then(|t| t.subject(self)) {
            return subject;
        }
        let status = self.status();
        let count = match status {
            AlertStatus::Firing => self.firing().count(),
            AlertStatus::Resolved => self.alerts.len(),
        };
        let mut name = self
            .common_labels()
            .get("alertname")
            .cloned()
            .or_else(|| self.alerts.first().map(|a| a.rule_name.clone()))
            .unwrap_or_else(|| "alert".to_owned());
        if let Some(severity) = self.severity() {
            name = format!("{name} ({severity})");
        }
        format!("[{}:{count}] {name}", status.as_str().to_uppercase())
    }

    /// The plain-text body: per alert its name, severity, state, value, labels,
    /// annotations, since when and a link.
    pub fn text(&self) -> String {
        if let Some(body) = self.template.as_ref().and_then(|t| t.body(self)) {
            return body;
        }
        let mut out = String::new();
        for alert in &self.alerts {
            out.push_str(&alert_text(alert));
            out.push_str(&format!("Link: {}\n\n", self.alert_link(alert)));
        }
        out.trim_end().to_owned()
    }

    /// One alert's part of a message: the channel's body template for it, else the default.
    pub fn alert_body(&self, alert: &NotifiedAlert) -> String {
        self.template
            .as_ref()
            .and_then(|t| t.alert_body(self, alert))
            .unwrap_or_else(|| alert_text(alert))
    }

    /// Alertmanager's webhook body, `version: "4"`.
    pub fn alertmanager_webhook(&self) -> Value {
        let alerts: Vec<Value> = self
            .alerts
            .iter()
            .map(|a| {
                let mut alert = json!({
                    "status": a.status.as_str(),
                    "labels": a.labels,
                    "annotations": a.annotations,
                    "startsAt": rfc3339_ms(a.starts_at_ms),
                    "endsAt": a.ends_at_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339_ms),
                    "generatorURL": a.generator_url.clone().unwrap_or_else(|| self.alert_link(a)),
                    "fingerprint": a.fingerprint,
                });
                // Log alerts carry their newest matching lines; Alertmanager's receivers
                // ignore a key they do not know.
                if !a.log_lines.is_empty() {
                    alert["logLines"] = json!(a.log_lines);
                }
                alert
            })
            .collect();
        json!({
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": 0,
            "status": self.status().as_str(),
            "receiver": self.receiver,
            "groupLabels": self.group_labels,
            "commonLabels": self.common_labels(),
            "commonAnnotations": self.common_annotations(),
            "externalURL": self.external_url,
            "alerts": alerts,
        })
    }
}

/// One alert as text: what every default message body is made of.
pub fn alert_text(alert: &NotifiedAlert) -> String {
    let mut out = format!(
        "{} — {}{}\n",
        alert.rule_name,
        alert.transition,
        alert
            .severity
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    if let Some(value) = alert.value {
        out.push_str(&format!("Value: {value}\n"));
    }
    out.push_str(&format!("Since: {}\n", rfc3339_ms(alert.starts_at_ms)));
    if let Some(ends) = alert.ends_at_ms {
        out.push_str(&format!("Ended: {}\n", rfc3339_ms(ends)));
    }
    let labels: Vec<String> = alert
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    out.push_str(&format!("Labels: {}\n", labels.join(", ")));
    for (name, text) in &alert.annotations {
        out.push_str(&format!("{name}: {text}\n"));
    }
    if !alert.log_lines.is_empty() {
        out.push_str("Matching lines:\n");
        for line in &alert.log_lines {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn alert(name: &str, status: AlertStatus, host: &str) -> NotifiedAlert {
        NotifiedAlert {
            alert_id: format!("id-{host}"),
            rule_id: "rule-1".into(),
            rule_name: name.into(),
            fingerprint: format!("fp{host}"),
            status,
            transition: status.as_str().into(),
            severity: Some("critical".into()),
            value: Some(0.75),
            labels: [("alertname", name), ("host", host), ("env", "prod")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            annotations: [("summary".to_owned(), format!("{host} is slow"))].into(),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: (status == AlertStatus::Resolved).then_some(1_700_000_060_000),
            at_ms: 1_700_000_000_000,
            generator_url: None,
            log_lines: Vec::new(),
        }
    }

    pub(crate) fn notification() -> Notification {
        Notification {
            receiver: "ops".into(),
            group_key: "policy::{alertname=\"HighLatency\"}".into(),
            group_labels: [("alertname".to_owned(), "HighLatency".to_owned())].into(),
            alerts: vec![
                alert("HighLatency", AlertStatus::Firing, "a"),
                alert("HighLatency", AlertStatus::Resolved, "b"),
            ],
            external_url: "http://tidewatch.example:8080/".into(),
            idempotency_key: "key-1".into(),
            template: None,
        }
    }

    #[test]
    fn the_webhook_body_has_alertmanagers_shape() {
        let body = notification().alertmanager_webhook();
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "ops");
        assert_eq!(body["groupLabels"], json!({"alertname": "HighLatency"}));
        assert_eq!(
            body["commonLabels"],
            json!({"alertname": "HighLatency", "env": "prod"})
        );
        assert_eq!(body["commonAnnotations"], json!({}));
        assert_eq!(body["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(body["alerts"][0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["alerts"][1]["status"], "resolved");
        assert_eq!(body["alerts"][1]["endsAt"], "2023-11-14T22:14:20.000Z");
        assert_eq!(body["alerts"][1]["fingerprint"], "fpb");
        assert_eq!(
            body["alerts"][0]["generatorURL"],
            "http://tidewatch.example:8080/alerts/id-a"
        );
    }

    #[test]
    fn a_log_alert_carries_its_lines_in_text_and_webhook() {
        let mut alert = alert("ApiErrors", AlertStatus::Firing, "h1");
        alert.log_lines = vec!["2026-12-03T09:00:00.000Z error connection refused".into()];
        let text = alert_text(&alert);
        assert!(
            text.ends_with(
                "Matching lines:\n  2026-12-03T09:00:00.000Z error connection refused\n"
            ),
            "{text}"
        );
        let mut message = notification();
        message.alerts = vec![alert];
        let body = message.alertmanager_webhook();
        assert_eq!(
            body["alerts"][0]["logLines"],
            json!(["2026-12-03T09:00:00.000Z error connection refused"])
        );
        // Alerts of other rules carry no such key.
        assert!(notification().alertmanager_webhook()["alerts"][0]
            .get("logLines")
            .is_none());
    }

    #[test]
    fn titles_and_text_say_what_happened() {
        let n = notification();
        assert_eq!(n.title(), "[FIRING:1] HighLatency (critical)");
        let text = n.text();
        assert!(text.contains("HighLatency — firing (critical)"), "{text}");
        assert!(text.contains("Value: 0.75"), "{text}");
        assert!(text.contains("summary: a is slow"), "{text}");
        assert!(
            text.contains("Link: http://tidewatch.example:8080/alerts/id-b"),
            "{text}"
        );
        let resolved = Notification {
            alerts: vec![alert("HighLatency", AlertStatus::Resolved, "b")],
            ..n
        };
        assert_eq!(resolved.title(), "[RESOLVED:1] HighLatency (critical)");
    }
}
