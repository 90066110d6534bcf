//! A channel's own subject and body: the annotation template language (Go's
//! `text/template` as Prometheus uses it) with a notification's variables besides
//! `$labels` and `$value`. The subject is rendered for the message's first alert (firing
//! ones come first), the body once per alert, joined by a blank line; a channel without
//! them uses its kind's default text.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::message::{Notification, NotifiedAlert};
use super::FieldError;
use crate::alerting::template::{ExtraVar, Template, TemplateData};
use crate::domain::time::rfc3339_ms;

/// What a message template sees besides Prometheus' `$labels`, `$value`,
/// `$externalLabels` and `$externalURL` (the last two empty).
pub const VARIABLES: &[&str] = &[
    "$annotations",
    "$status",
    "$transition",
    "$alertname",
    "$severity",
    "$since",
    "$link",
    "$receiver",
];

const MAX_SUBJECT_CHARS: usize = 1_000;
const MAX_BODY_CHARS: usize = 20_000;
/// A rendered subject is one line of at most this many characters.
const MAX_RENDERED_SUBJECT: usize = 500;

/// A channel's `template`: either part may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageTemplate {
    pub subject: Option<String>,
    pub body: Option<String>,
}

impl MessageTemplate {
    /// Reads `{"subject": "…", "body": "…"}`; every part must parse, and an error names
    /// the field and the position in it (`template.body: line 2, column 7: …`).
    pub fn from_json(value: &Value) -> Result<Option<Self>, FieldError> {
        let object = match value {
            Value::Null => return Ok(None),
            Value::Object(object) => object,
            _ => {
                return Err(FieldError::new(
                    "template",
                    "must be an object {subject, body}",
                ))
            }
        };
        if let Some(unknown) = object
            .keys()
            .find(|k| !["subject", "body"].contains(&k.as_str()))
        {
            return Err(FieldError::new(
                format!("template.{unknown}"),
                "unknown field; a template has subject and body",
            ));
        }
        let part = |name: &str, max: usize| -> Result<Option<String>, FieldError> {
            let field = format!("template.{name}");
            match object.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if text.chars().count() > max => {
                    Err(FieldError::new(field, format!("at most {max} characters")))
                }
                Some(Value::String(text)) => match Template::parse_with(text, VARIABLES) {
                    Ok(_) => Ok(Some(text.clone())),
                    Err(e) => Err(FieldError::new(field, e.to_string())),
                },
                Some(_) => Err(FieldError::new(field, "must be a string")),
            }
        };
        let template = Self {
            subject: part("subject", MAX_SUBJECT_CHARS)?,
            body: part("body", MAX_BODY_CHARS)?,
        };
        Ok((template != Self::default()).then_some(template))
    }

    pub fn to_json(&self) -> Value {
        json!({"subject": self.subject, "body": self.body})
    }

    /// The subject for `message`, when the template has one.
    pub fn subject(&self, message: &Notification) -> Option<String> {
        let text = self.subject.as_deref()?;
        let alert = message.alerts.first()?;
        let rendered = render(text, message, alert)?;
        let line = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(line.chars().take(MAX_RENDERED_SUBJECT).collect())
    }

    /// One alert's part of the body, when the template has one.
    pub fn alert_body(&self, message: &Notification, alert: &NotifiedAlert) -> Option<String> {
        render(self.body.as_deref()?, message, alert)
    }

    /// The body for `message`, when the template has one.
    pub fn body(&self, message: &Notification) -> Option<String> {
        let text = self.body.as_deref()?;
        let parts: Option<Vec<String>> = message
            .alerts
            .iter()
            .map(|alert| render(text, message, alert))
            .collect();
        Some(parts?.join("\n\n"))
    }
}

/// `None` only when the text no longer parses (it did when the channel was saved).
fn render(text: &str, message: &Notification, alert: &NotifiedAlert) -> Option<String> {
    let template = Template::parse_with(text, VARIABLES).ok()?;
    let none = BTreeMap::new();
    let data = TemplateData {
        labels: &alert.labels,
        external_labels: &none,
        value: alert.value.unwrap_or(f64::NAN),
    };
    let text = |s: &str| ExtraVar::Text(s.to_owned());
    let extra = [
        ("$annotations", ExtraVar::Map(&alert.annotations)),
        ("$status", text(alert.status.as_str())),
        ("$transition", text(&alert.transition)),
        ("$alertname", text(&alert.rule_name)),
        ("$severity", text(alert.severity.as_deref().unwrap_or(""))),
        ("$since", text(&rfc3339_ms(alert.starts_at_ms))),
        ("$link", text(&message.alert_link(alert))),
        ("$receiver", text(&message.receiver)),
    ];
    Some(template.render_with(&data, &extra))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notification;

    #[test]
    fn parts_render_per_alert_with_the_notification_variables() {
        let template = MessageTemplate::from_json(&json!({
            "subject": "{{ $status | toUpper }}: {{ $alertname }}\non {{ $labels.host }}",
            "body": "{{ $labels.host }} {{ $transition }} ({{ $severity }}) {{ $annotations.summary }} {{ $value }} {{ $link }}"
        }))
        .unwrap()
        .unwrap();
        let message = notification();
        assert_eq!(
            template.subject(&message).unwrap(),
            "FIRING: HighLatency on a"
        );
        assert_eq!(
            template.body(&message).unwrap(),
            "a firing (critical) a is slow 0.75 http://tidewatch.example:8080/alerts/id-a\n\n\
             b resolved (critical) b is slow 0.75 http://tidewatch.example:8080/alerts/id-b"
        );
        let only_body = MessageTemplate::from_json(&json!({"body": "x"}))
            .unwrap()
            .unwrap();
        assert_eq!(only_body.subject(&message), None);
    }

    #[test]
    fn errors_name_the_part_and_the_position() {
        let error = MessageTemplate::from_json(&json!({"body": "ok\n  {{ $nope }}"})).unwrap_err();
        assert_eq!(error.field, "template.body");
        assert!(
            error.message.starts_with("line 2, column 6:"),
            "{}",
            error.message
        );
        let error = MessageTemplate::from_json(&json!({"subject": "{{ if }}"})).unwrap_err();
        assert_eq!(error.field, "template.subject");
        assert!(
            error.message.starts_with("line 1, column"),
            "{}",
            error.message
        );
        assert_eq!(
            MessageTemplate::from_json(&json!({"colour": "x"}))
                .unwrap_err()
                .field,
            "template.colour"
        );
        assert_eq!(
            MessageTemplate::from_json(&json!({"body": 1}))
                .unwrap_err()
                .field,
            "template.body"
        );
        assert_eq!(MessageTemplate::from_json(&json!({})).unwrap(), None);
        assert_eq!(MessageTemplate::from_json(&Value::Null).unwrap(), None);
        assert_eq!(
            MessageTemplate::from_json(&json!("x")).unwrap_err().field,
            "template"
        );
    }
}
