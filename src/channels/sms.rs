//! `sms`: Twilio's Messages API (`{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`,
//! form-encoded, HTTP Basic with the account and token), so any compatible provider works.
//! The text is cut to one SMS segment (160 GSM-7 characters, or 70 when it needs UCS-2),
//! keeping the link whole.

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use super::{
    base_url, field, http, strings, text, ChannelKind, ConfigField, DeliveryError, FieldKind,
    ProviderAnswer, SendContext,
};
use crate::notify::message::Notification;

pub struct Sms;

const FIELDS: &[ConfigField] = &[
    field("account_sid", FieldKind::Text, true, false),
    field("auth_token", FieldKind::Text, true, true),
    field("from", FieldKind::Text, true, false),
    field("to", FieldKind::Phones, true, false),
    field("base_url", FieldKind::Url, false, false),
];

const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
const GSM_SEGMENT: usize = 160;
const UCS2_SEGMENT: usize = 70;

/// GSM 03.38's basic set (one septet each) and its extension (two septets each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// The text's size in its encoding's units, and the segment size of that encoding.
fn units(text: &str) -> (usize, usize) {
    let mut septets = 0;
    for c in text.chars() {
        if GSM_BASIC.contains(c) {
            septets += 1;
        } else if GSM_EXTENSION.contains(c) {
            septets += 2;
        } else {
            return (text.encode_utf16().count(), UCS2_SEGMENT);
        }
    }
    (septets, GSM_SEGMENT)
}

fn fits(text: &str) -> bool {
    let (size, segment) = units(text);
    size <= segment
}

/// The one-segment text: the title cut to leave room for the link.
pub fn sms_text(message: &Notification) -> String {
    let link = message.group_link();
    let title = message.title();
    let whole = format!("{title} {link}");
    if fits(&whole) {
        return whole;
    }
    let mut cut: Vec<char> = title.chars().collect();
    while !cut.is_empty() {
        cut.pop();
        let candidate = format!("{}… {link}", cut.iter().collect::<String>());
        if fits(&candidate) {
            return candidate;
        }
    }
    // The link alone is too long: the title, cut.
    let mut text: String = title.chars().collect();
    while !fits(&text) {
        text.pop();
    }
    text
}

impl ChannelKind for Sms {
    fn name(&self) -> &'static str {
        "sms"
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
            let missing = |name: &str| DeliveryError::refused(format!("no {name}"));
            let account = text(config, "account_sid").ok_or_else(|| missing("account_sid"))?;
            let token = text(config, "auth_token").ok_or_else(|| missing("auth_token"))?;
            let from = text(config, "from").ok_or_else(|| missing("from"))?;
            let url = format!(
                "{}/2010-04-01/Accounts/{account}/Messages.json",
                base_url(config, DEFAULT_BASE_URL)
            );
            let body = sms_text(message);
            let mut last = None;
            for to in strings(config, "to") {
                let form = form_urlencoded::Serializer::new(String::new())
                    .append_pair("To", &to)
                    .append_pair("From", from)
                    .append_pair("Body", &body)
                    .finish();
                let request = ctx
                    .http
                    .post(&url)
                    .basic_auth(account, Some(token))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form);
                last = Some(http::send(request).await?);
            }
            last.ok_or_else(|| missing("to"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notification;

    #[test]
    fn an_sms_is_one_segment_with_the_link_whole() {
        let mut n = notification();
        n.alerts.truncate(1);
        let short = sms_text(&n);
        assert_eq!(
            short,
            "[FIRING:1] HighLatency (critical) http://tidewatch.example:8080/alerts/id-a"
        );
        n.alerts[0]
            .labels
            .insert("alertname".into(), "x".repeat(300));
        let long = sms_text(&n);
        assert!(units(&long).0 <= GSM_SEGMENT, "{long}");
        assert!(
            long.ends_with("… http://tidewatch.example:8080/alerts/id-a"),
            "{long}"
        );
        // Outside GSM-7 the segment is 70 UTF-16 units.
        n.alerts[0]
            .labels
            .insert("alertname".into(), "Ошибка".repeat(30));
        let cyrillic = sms_text(&n);
        assert!(
            cyrillic.encode_utf16().count() <= UCS2_SEGMENT,
            "{cyrillic}"
        );
        assert!(cyrillic.contains("/alerts/id-a"), "{cyrillic}");
    }
}
