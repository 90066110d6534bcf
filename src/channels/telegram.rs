//! `telegram`: the Bot API's `sendMessage` (`{base_url}/bot{token}/sendMessage`).

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{
    base_url, excerpt, field, http, text, text_or_number, ChannelKind, ConfigField, DeliveryError,
    FieldKind, ProviderAnswer, SendContext,
};
use crate::notify::message::Notification;

pub struct Telegram;

const FIELDS: &[ConfigField] = &[
    field("bot_token", FieldKind::Text, true, true),
    field("chat_id", FieldKind::Text, true, false),
    field("base_url", FieldKind::Url, false, false),
];

const DEFAULT_BASE_URL: &str = "https://api.telegram.org";

pub fn payload(message: &Notification, chat_id: &str) -> Value {
    json!({
        "chat_id": chat_id,
        "text": excerpt(&format!("{}\n\n{}", message.title(), message.text()), 4_096),
        "disable_web_page_preview": true
    })
}

impl ChannelKind for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
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
            let token =
                text(config, "bot_token").ok_or_else(|| DeliveryError::refused("no bot_token"))?;
            let chat = text_or_number(config, "chat_id")
                .ok_or_else(|| DeliveryError::refused("no chat_id"))?;
            let url = format!(
                "{}/bot{token}/sendMessage",
                base_url(config, DEFAULT_BASE_URL)
            );
            http::send(ctx.http.post(url).json(&payload(message, &chat))).await
        })
    }
}
