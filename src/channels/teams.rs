//! `teams`: a Teams incoming webhook or Workflows URL, the message as an Adaptive Card.

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{
    excerpt, field, http, text, ChannelKind, ConfigField, DeliveryError, FieldKind, ProviderAnswer,
    SendContext,
};
use crate::notify::message::Notification;

pub struct Teams;

const FIELDS: &[ConfigField] = &[field("url", FieldKind::Url, true, true)];

pub fn payload(message: &Notification) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": message.title(), "weight": "Bolder",
                     "size": "Medium", "wrap": true},
                    {"type": "TextBlock", "text": excerpt(&message.text(), 20_000), "wrap": true}
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Open in Tidewatch",
                             "url": message.group_link()}]
            }
        }]
    })
}

impl ChannelKind for Teams {
    fn name(&self) -> &'static str {
        "teams"
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
            http::send(ctx.http.post(url).json(&payload(message))).await
        })
    }
}
