//! `pagerduty`: Events API v2 (`{base_url}/v2/enqueue`): `trigger` while the group fires,
//! `acknowledge` once every firing alert in it was acknowledged, `resolve` when it is
//! over; one incident per group (`dedup_key`).

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::{
    base_url, excerpt, field, group_id, http, text, ChannelKind, ConfigField, DeliveryError,
    FieldKind, ProviderAnswer, SendContext,
};
use crate::notify::message::{AlertStatus, Notification};

pub struct PagerDuty;

const FIELDS: &[ConfigField] = &[
    field("routing_key", FieldKind::Text, true, true),
    field("base_url", FieldKind::Url, false, false),
    field("source", FieldKind::Text, false, false),
];

const DEFAULT_BASE_URL: &str = "https://events.pagerduty.com";

/// PagerDuty's severities: critical, error, warning, info.
fn severity(message: &Notification) -> &'static str {
    match message.severity().as_deref() {
        Some("critical") => "critical",
        Some("warning") => "warning",
        Some("info") => "info",
        _ => "error",
    }
}

pub fn payload(message: &Notification, routing_key: &str, source: &str) -> Value {
    let dedup_key = group_id(message);
    let firing: Vec<_> = message.firing().collect();
    if !firing.is_empty() && firing.iter().all(|a| a.transition == "acknowledged") {
        return json!({
            "routing_key": routing_key,
            "event_action": "acknowledge",
            "dedup_key": dedup_key,
        });
    }
    match message.status() {
        AlertStatus::Resolved => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        AlertStatus::Firing => json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": excerpt(&message.title(), 1_024),
                "source": source,
                "severity": severity(message),
                "custom_details": {
                    "firing": message.firing().count(),
                    "resolved": message.resolved().count(),
                    "group_labels": message.group_labels,
                    "common_labels": message.common_labels(),
                    "common_annotations": message.common_annotations(),
                    "alerts": excerpt(&message.text(), 10_000),
                }
            },
            "client": "Tidewatch",
            "client_url": message.group_link(),
            "links": [{"href": message.group_link(), "text": "Open in Tidewatch"}]
        }),
    }
}

impl ChannelKind for PagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn fields(&self) -> &'static [ConfigField] {
        FIELDS
    }

    fn hears_acknowledgements(&self) -> bool {
        true
    }

    fn send<'a>(
        &'a self,
        ctx: &'a SendContext,
        config: &'a Map<String, Value>,
        message: &'a Notification,
    ) -> BoxFuture<'a, Result<ProviderAnswer, DeliveryError>> {
        Box::pin(async move {
            let key = text(config, "routing_key")
                .ok_or_else(|| DeliveryError::refused("no routing_key"))?;
            let source = text(config, "source").unwrap_or("tidewatch");
            let url = format!("{}/v2/enqueue", base_url(config, DEFAULT_BASE_URL));
            http::send(ctx.http.post(url).json(&payload(message, key, source))).await
        })
    }
}
