//! `discord`: a Discord webhook, the title as `content` and the alerts as one embed.

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{
    excerpt, field, http, text, ChannelKind, ConfigField, DeliveryError, FieldKind, ProviderAnswer,
    SendContext,
};
use crate::notify::message::{AlertStatus, Notification};

pub struct Discord;

const FIELDS: &[ConfigField] = &[field("url", FieldKind::Url, true, true)];

pub fn payload(message: &Notification) -> Value {
    // Red while firing, green when over.
    let color = match message.status() {
        AlertStatus::Firing => 0xD0_30_30,
        AlertStatus::Resolved => 0x2E_A0_43,
    };
    json!({
        "content": excerpt(&message.title(), 2_000),
        "embeds": [{
            "title": excerpt(&message.title(), 256),
            "description": excerpt(&message.text(), 4_000),
            "url": message.group_link(),
            "color": color
        }]
    })
}

impl ChannelKind for Discord {
    fn name(&self) -> &'static str {
        "discord"
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
