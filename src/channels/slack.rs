//! `slack`: an incoming webhook, the message in Block Kit (a header, one section per alert,
//! a link button) with `text` as the notification fallback.

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{
    excerpt, field, http, text, ChannelKind, ConfigField, DeliveryError, FieldKind, ProviderAnswer,
    SendContext,
};
use crate::notify::message::Notification;

pub struct Slack;

const FIELDS: &[ConfigField] = &[
    // The webhook URL is the credential.
    field("url", FieldKind::Url, true, true),
    field("channel", FieldKind::Text, false, false),
];

/// Slack allows 50 blocks and 3,000 characters per section.
const MAX_ALERT_SECTIONS: usize = 20;
const SECTION_CHARS: usize = 2_900;

pub fn payload(message: &Notification, channel: Option<&str>) -> Value {
    let title = message.title();
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": excerpt(&title, 150)}
    })];
    for alert in message.alerts.iter().take(MAX_ALERT_SECTIONS) {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": excerpt(&message.alert_body(alert), SECTION_CHARS)}
        }));
    }
    if message.alerts.len() > MAX_ALERT_SECTIONS {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn",
                "text": format!("and {} more", message.alerts.len() - MAX_ALERT_SECTIONS)}]
        }));
    }
    blocks.push(json!({
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open in Tidewatch"},
                      "url": message.group_link()}]
    }));
    let mut body = json!({"text": title, "blocks": blocks});
    if let Some(channel) = channel {
        body["channel"] = json!(channel);
    }
    body
}

impl ChannelKind for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn fields(&self) -> &'static [ConfigField] {
        FIELDS
    }

    fn send<'a>(
        &'a self,
        ctx: &'a SendContext,
        config: &'a Map<String, Value>,
        message: &'a Notification,
    ) -> BoxFuture<'a, Result<ProviderAnswer, DeliveryError>> {
        Box::pin(async move {
            let url = text(config, "url").ok_or_else(|| DeliveryError::refused("no url"))?;
            let body = payload(message, text(config, "channel"));
            http::send(ctx.http.post(url).json(&body)).await
        })
    }
}
