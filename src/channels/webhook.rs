//! `webhook`: Alertmanager's webhook body (`version: "4"`), an `Idempotency-Key` header,
//! and `X-Tidewatch-Signature: sha256=<hex HMAC-SHA256 of the body>` when a secret is set.

use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};

use super::{
    field, http, text, ChannelKind, ConfigField, DeliveryError, FieldKind, ProviderAnswer,
    SendContext,
};
use crate::notify::message::Notification;

pub struct Webhook;

const FIELDS: &[ConfigField] = &[
    field("url", FieldKind::Url, true, false),
    field("secret", FieldKind::Text, false, true),
];

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl ChannelKind for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
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
            let body = serde_json::to_vec(&message.alertmanager_webhook())
                .map_err(|e| DeliveryError::refused(format!("encoding the body: {e}")))?;
            let mut request = ctx
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("idempotency-key", &message.idempotency_key);
            if let Some(secret) = text(config, "secret") {
                request = request.header("x-tidewatch-signature", signature(secret, &body));
            }
            http::send(request.body(body)).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
