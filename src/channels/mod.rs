//! Channel kinds: one file each, all behind [`ChannelKind`]. A kind declares its config
//! fields (which are secrets, which are required), checks a config, and sends one
//! [`Notification`]; delivery (retries, backoff, dead letters) is the notifier's.
//!
//! Adding a kind: a file with a unit struct implementing [`ChannelKind`], and one entry in
//! [`KINDS`]. Its provider's base URL must be configurable (tests point it at loopback).

mod discord;
mod email;
mod http;
mod opsgenie;
mod pagerduty;
mod slack;
mod sms;
mod teams;
mod telegram;
mod webhook;

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::notify::message::Notification;
use crate::notify::FieldError;

pub use email::SmtpSettings;

/// What every send needs besides the channel's own config.
#[derive(Clone)]
pub struct SendContext {
    pub http: reqwest::Client,
    pub smtp: SmtpSettings,
    /// Per attempt.
    pub timeout: Duration,
}

impl SendContext {
    pub fn new(smtp: SmtpSettings, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("Tidewatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            http,
            smtp,
            timeout,
        }
    }
}

/// What the provider answered, kept short for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAnswer {
    pub status: Option<u16>,
    pub body: String,
}

const EXCERPT_CHARS: usize = 500;

impl ProviderAnswer {
    pub fn new(status: Option<u16>, body: &str) -> Self {
        Self {
            status,
            body: excerpt(body, EXCERPT_CHARS),
        }
    }
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Why a send did not succeed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// A timeout, a network error, 5xx, 429: try again, not before `after` if given.
    Retry {
        message: String,
        answer: Option<ProviderAnswer>,
        after: Option<Duration>,
    },
    /// The provider refused the message (4xx, a permanent SMTP error, no server set up):
    /// repeating it will not help.
    Refused {
        message: String,
        answer: Option<ProviderAnswer>,
    },
}

impl DeliveryError {
    pub fn message(&self) -> &str {
        match self {
            Self::Retry { message, .. } | Self::Refused { message, .. } => message,
        }
    }

    pub fn answer(&self) -> Option<&ProviderAnswer> {
        match self {
            Self::Retry { answer, .. } | Self::Refused { answer, .. } => answer.as_ref(),
        }
    }

    fn refused(message: impl Into<String>) -> Self {
        Self::Refused {
            message: message.into(),
            answer: None,
        }
    }
}

/// How a config field is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An `http://` or `https://` URL.
    Url,
    Text,
    /// A list of e-mail addresses.
    Emails,
    /// A list of phone numbers (`+` and digits).
    Phones,
}

/// One config field of a kind.
#[derive(Debug, Clone, Copy)]
pub struct ConfigField {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    /// Write-only: answered masked, never logged.
    pub secret: bool,
}

const fn field(name: &'static str, kind: FieldKind, required: bool, secret: bool) -> ConfigField {
    ConfigField {
        name,
        kind,
        required,
        secret,
    }
}

/// A kind of channel.
pub trait ChannelKind: Send + Sync + 'static {
    /// The `kind` the API names it by.
    fn name(&self) -> &'static str;

    fn fields(&self) -> &'static [ConfigField];

    /// Checks beyond each field's own (e.g. one of two fields): errors name the field.
    fn check(&self, _config: &Map<String, Value>) -> Result<(), FieldError> {
        Ok(())
    }

    /// Whether the provider has an acknowledge action: then acknowledging an alert sends
    /// the group again with it marked `acknowledged`.
    fn hears_acknowledgements(&self) -> bool {
        false
    }

    fn send<'a>(
        &'a self,
        ctx: &'a SendContext,
        config: &'a Map<String, Value>,
        message: &'a Notification,
    ) -> BoxFuture<'a, Result<ProviderAnswer, DeliveryError>>;
}

/// Every kind, by name.
pub const KINDS: &[&dyn ChannelKind] = &[
    &email::Email,
    &slack::Slack,
    &teams::Teams,
    &discord::Discord,
    &telegram::Telegram,
    &pagerduty::PagerDuty,
    &opsgenie::Opsgenie,
    &webhook::Webhook,
    &sms::Sms,
];

pub fn kind(name: &str) -> Option<&'static dyn ChannelKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

pub fn acknowledging_kinds() -> Vec<&'static str> {
    KINDS
        .iter()
        .filter(|k| k.hears_acknowledgements())
        .map(|k| k.name())
        .collect()
}

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// What a masked secret reads as.
pub const MASK: &str = "********";
const MAX_TEXT_CHARS: usize = 2_000;
const MAX_LIST: usize = 50;

fn valid_url(text: &str) -> bool {
    reqwest::Url::parse(text)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .unwrap_or(false)
}

fn valid_email(text: &str) -> bool {
    text.parse::<lettre::Address>().is_ok()
}

fn valid_phone(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or(text);
    (4..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn check_field(spec: &ConfigField, value: &Value) -> Result<(), String> {
    let text_ok = |text: &str| -> Result<(), String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("at most {MAX_TEXT_CHARS} characters"));
        }
        Ok(())
    };
    match (spec.kind, value) {
        (FieldKind::Url, Value::String(s)) => {
            text_ok(s)?;
            if valid_url(s) {
                Ok(())
            } else {
                Err("must be an http:// or https:// URL".into())
            }
        }
        (FieldKind::Text, Value::String(s)) => text_ok(s),
        (FieldKind::Text, Value::Number(n)) => text_ok(&n.to_string()),
        (FieldKind::Emails | FieldKind::Phones, Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_LIST {
                return Err(format!("must list 1 to {MAX_LIST} entries"));
            }
            for (i, item) in items.iter().enumerate() {
                let ok = match (spec.kind, item) {
                    (FieldKind::Emails, Value::String(s)) => valid_email(s),
                    (_, Value::String(s)) => valid_phone(s),
                    _ => false,
                };
                if !ok {
                    let what = if spec.kind == FieldKind::Emails {
                        "an e-mail address"
                    } else {
                        "a phone number like +15551234567"
                    };
                    return Err(format!("[{i}] is not {what}"));
                }
            }
            Ok(())
        }
        (FieldKind::Emails | FieldKind::Phones, _) => Err("must be a list".into()),
        (_, _) => Err("must be a string".into()),
    }
}

/// Checks a channel's config for its kind; errors name the field (`config.url`).
pub fn validate(kind: &dyn ChannelKind, config: &Value) -> Result<Map<String, Value>, FieldError> {
    let object = config
        .as_object()
        .ok_or_else(|| FieldError::new("config", "must be a JSON object"))?;
    let fields = kind.fields();
    if let Some(unknown) = object
        .keys()
        .find(|k| !fields.iter().any(|f| f.name == k.as_str()))
    {
        let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
        return Err(FieldError::new(
            format!("config.{unknown}"),
            format!(
                "unknown field; a {} channel has {}",
                kind.name(),
                known.join(", ")
            ),
        ));
    }
    for spec in fields {
        match object.get(spec.name) {
            None | Some(Value::Null) if spec.required => {
                return Err(FieldError::new(
                    format!("config.{}", spec.name),
                    "is required",
                ))
            }
            None | Some(Value::Null) => {}
            Some(value) => check_field(spec, value).map_err(|message| {
                let at = if message.starts_with('[') {
                    let (index, rest) = message.split_once(' ').unwrap_or((&message, ""));
                    return FieldError::new(format!("config.{}{index}", spec.name), rest.trim());
                } else {
                    format!("config.{}", spec.name)
                };
                FieldError::new(at, message)
            })?,
        }
    }
    kind.check(object).map_err(|e| e.under("config"))?;
    // Nulls mean "not set": not kept.
    Ok(object
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// The config as answered: secrets replaced by [`MASK`].
pub fn masked(kind: &dyn ChannelKind, config: &Map<String, Value>) -> Map<String, Value> {
    config
        .iter()
        .map(|(k, v)| {
            let secret = kind.fields().iter().any(|f| f.name == k && f.secret);
            (
                k.clone(),
                if secret {
                    Value::String(MASK.to_owned())
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

/// An update's config with the secrets it did not change (sent as [`MASK`] or left out)
/// taken from the stored one.
pub fn keep_secrets(kind: &dyn ChannelKind, update: &Value, stored: &Map<String, Value>) -> Value {
    let Some(object) = update.as_object() else {
        return update.clone();
    };
    let mut merged = object.clone();
    for spec in kind.fields().iter().filter(|f| f.secret) {
        let unchanged = match object.get(spec.name) {
            None => true,
            Some(Value::String(s)) => s == MASK,
            Some(_) => false,
        };
        if unchanged {
            match stored.get(spec.name) {
                Some(old) => merged.insert(spec.name.to_owned(), old.clone()),
                None => merged.remove(spec.name),
            };
        }
    }
    Value::Object(merged)
}

fn text<'a>(config: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    config.get(name).and_then(Value::as_str)
}

/// A number or string field as text (chat ids may be numbers).
fn text_or_number(config: &Map<String, Value>, name: &str) -> Option<String> {
    match config.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(config: &Map<String, Value>, name: &str) -> Vec<String> {
    config
        .get(name)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn base_url<'a>(config: &'a Map<String, Value>, default: &'a str) -> &'a str {
    text(config, "base_url")
        .unwrap_or(default)
        .trim_end_matches('/')
}

/// A stable short id for a group (PagerDuty's `dedup_key`, Opsgenie's `alias`).
fn group_id(message: &Notification) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(message.group_key.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn configs_are_checked_field_by_field() {
        let webhook = kind("webhook").expect("webhook kind");
        assert!(validate(webhook, &json!({"url": "http://127.0.0.1:9/hook"})).is_ok());
        let cases = [
            ("webhook", json!({}), "config.url"),
            ("webhook", json!({"url": "ftp://x"}), "config.url"),
            (
                "webhook",
                json!({"url": "http://x", "colour": 1}),
                "config.colour",
            ),
            (
                "email",
                json!({"to": ["ops@example.com", "nope"]}),
                "config.to[1]",
            ),
            ("email", json!({"to": []}), "config.to"),
            (
                "sms",
                json!({"account_sid": "AC1", "auth_token": "t", "from": "+1555", "to": ["12a"]}),
                "config.to[0]",
            ),
            ("telegram", json!({"bot_token": "1:abc"}), "config.chat_id"),
            (
                "pagerduty",
                json!({"routing_key": "k", "base_url": "localhost"}),
                "config.base_url",
            ),
        ];
        for (name, config, field) in cases {
            let e = validate(kind(name).expect("kind"), &config).expect_err("invalid config");
            assert_eq!(e.field, field, "{name} {config}");
        }
        assert!(validate(webhook, &json!([1])).is_err());
    }

    #[test]
    fn secrets_are_masked_and_kept_across_updates() {
        let webhook = kind("webhook").expect("webhook kind");
        let stored =
            validate(webhook, &json!({"url": "http://a/", "secret": "s3cret"})).expect("valid");
        let shown = masked(webhook, &stored);
        assert_eq!(shown["secret"], MASK);
        assert_eq!(shown["url"], "http://a/");
        // Sent back as answered: the secret stays.
        let update = keep_secrets(webhook, &Value::Object(shown), &stored);
        assert_eq!(update["secret"], "s3cret");
        // A new value replaces it.
        let update = keep_secrets(
            webhook,
            &json!({"url": "http://b/", "secret": "new"}),
            &stored,
        );
        assert_eq!(update["secret"], "new");
        // Left out: kept.
        let update = keep_secrets(webhook, &json!({"url": "http://b/"}), &stored);
        assert_eq!(update["secret"], "s3cret");
    }

    #[test]
    fn every_kind_has_a_unique_name() {
        let mut names = kind_names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }
}
