//! `opsgenie`: the Alerts API: create (`POST /v2/alerts`) while the group fires, close
//! (`POST /v2/alerts/{alias}/close?identifierType=alias`) when it is over; one alert per
//! group (`alias`).

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{
    base_url, excerpt, field, group_id, http, text, ChannelKind, ConfigField, DeliveryError,
    FieldKind, ProviderAnswer, SendContext,
};
use crate::notify::message::{AlertStatus, Notification};

pub struct Opsgenie;

const FIELDS: &[ConfigField] = &[
    field("api_key", FieldKind::Text, true, true),
    field("base_url", FieldKind::Url, false, false),
];

const DEFAULT_BASE_URL: &str = "https://api.opsgenie.com";

fn priority(message: &Notification) -> &'static str {
    match message.severity().as_deref() {
        Some("critical") => "P1",
        Some("warning") => "P3",
        Some("info") => "P5",
        _ => "P3",
    }
}

pub fn create_payload(message: &Notification) -> Value {
    json!({
        "message": excerpt(&message.title(), 130),
        "alias": group_id(message),
        "description": excerpt(&message.text(), 15_000),
        "details": message.common_labels(),
        "priority": priority(message),
        "source": "Tidewatch",
    })
}

impl ChannelKind for Opsgenie {
    fn name(&self) -> &'static str {
        "opsgenie"
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
            let key =
                text(config, "api_key").ok_or_else(|| DeliveryError::refused("no api_key"))?;
            let base = base_url(config, DEFAULT_BASE_URL);
            let request = match message.status() {
                AlertStatus::Firing => ctx
                    .http
                    .post(format!("{base}/v2/alerts"))
                    .json(&create_payload(message)),
                AlertStatus::Resolved => ctx
                    .http
                    .post(format!(
                        "{base}/v2/alerts/{}/close?identifierType=alias",
                        group_id(message)
                    ))
                    .json(&json!({"source": "Tidewatch", "note": message.title()})),
            };
            http::send(request.header("authorization", format!("GenieKey {key}"))).await
        })
    }
}
