//! `email`: SMTP through lettre, a plain-text and an HTML part. The server is
//! `TIDEWATCH_SMTP_URL` (`smtp://host:2525` plain, `smtp://host:587?tls=required` STARTTLS,
//! `smtps://user:pass@host:465`) and the sender `TIDEWATCH_SMTP_FROM`; a channel may name
//! its own (`smtp_url`, `from`), which is how a tenant uses its own mail server.

use futures_util::future::BoxFuture;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Map, Value};

use super::{
    field, strings, text, ChannelKind, ConfigField, DeliveryError, FieldKind, ProviderAnswer,
    SendContext,
};
use crate::alerting::template::html_escape;
use crate::notify::message::Notification;
use crate::notify::FieldError;

pub struct Email;

/// The service-wide SMTP server and sender, from the environment.
#[derive(Debug, Clone, Default)]
pub struct SmtpSettings {
    pub url: Option<String>,
    pub from: Option<String>,
}

const FIELDS: &[ConfigField] = &[
    field("to", FieldKind::Emails, true, false),
    field("from", FieldKind::Text, false, false),
    // May carry a password.
    field("smtp_url", FieldKind::Text, false, true),
];

const DEFAULT_FROM: &str = "Tidewatch <tidewatch@localhost>";

pub fn html(message: &Notification) -> String {
    let mut out = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2>",
        html_escape(&message.title())
    );
    for alert in &message.alerts {
        out.push_str(&format!(
            "<h3>{} — {}{}</h3><table>",
            html_escape(&alert.rule_name),
            html_escape(&alert.transition),
            alert
                .severity
                .as_deref()
                .map(|s| format!(" ({})", html_escape(s)))
                .unwrap_or_default()
        ));
        let mut row = |name: &str, value: &str| {
            out.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                html_escape(name),
                html_escape(value)
            ));
        };
        if let Some(value) = alert.value {
            row("Value", &value.to_string());
        }
        row(
            "Since",
            &crate::domain::time::rfc3339_ms(alert.starts_at_ms),
        );
        for (k, v) in &alert.labels {
            row(k, v);
        }
        for (k, v) in &alert.annotations {
            row(k, v);
        }
        if !alert.log_lines.is_empty() {
            out.push_str(&format!(
                "<tr><th align=\"left\">Matching lines</th><td><pre>{}</pre></td></tr>",
                html_escape(&alert.log_lines.join("\n"))
            ));
        }
        out.push_str(&format!(
            "</table><p><a href=\"{0}\">{0}</a></p>",
            html_escape(&message.alert_link(alert))
        ));
    }
    out.push_str("</body></html>");
    out
}

fn mailbox(text: &str, field: &str) -> Result<Mailbox, DeliveryError> {
    text.parse::<Mailbox>()
        .map_err(|e| DeliveryError::refused(format!("{field} {text:?} is not an address: {e}")))
}

pub fn build(message: &Notification, from: &str, to: &[String]) -> Result<Message, DeliveryError> {
    let mut builder = Message::builder()
        .from(mailbox(from, "from")?)
        .subject(message.title())
        .message_id(Some(format!("<{}@tidewatch>", message.idempotency_key)));
    for address in to {
        builder = builder.to(mailbox(address, "to")?);
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(message.text()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html(message)),
                ),
        )
        .map_err(|e| DeliveryError::refused(format!("building the message: {e}")))
}

impl ChannelKind for Email {
    fn name(&self) -> &'static str {
        "email"
    }

    fn fields(&self) -> &'static [ConfigField] {
        FIELDS
    }

    fn check(&self, config: &Map<String, Value>) -> Result<(), FieldError> {
        if let Some(from) = text(config, "from") {
            from.parse::<Mailbox>().map_err(|_| {
                FieldError::new("from", "must be an address like Ops <ops@example.com>")
            })?;
        }
        if let Some(url) = text(config, "smtp_url") {
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|_| {
                FieldError::new(
                    "smtp_url",
                    "must be smtp://host:port, smtp://…?tls=required or smtps://user:pass@host:465",
                )
            })?;
        }
        Ok(())
    }

    fn send<'a>(
        &'a self,
        ctx: &'a SendContext,
        config: &'a Map<String, Value>,
        message: &'a Notification,
    ) -> BoxFuture<'a, Result<ProviderAnswer, DeliveryError>> {
        Box::pin(async move {
            let url = text(config, "smtp_url")
                .map(str::to_owned)
                .or_else(|| ctx.smtp.url.clone())
                .ok_or_else(|| {
                    DeliveryError::refused(
                        "no SMTP server: set TIDEWATCH_SMTP_URL or the channel's smtp_url",
                    )
                })?;
            let from = text(config, "from")
                .map(str::to_owned)
                .or_else(|| ctx.smtp.from.clone())
                .unwrap_or_else(|| DEFAULT_FROM.to_owned());
            let email = build(message, &from, &strings(config, "to"))?;
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                .map_err(|_| DeliveryError::refused("the SMTP URL is not valid"))?
                .timeout(Some(ctx.timeout))
                .build();
            match transport.send(email).await {
                Ok(response) => {
                    let code: u16 = response.code().to_string().parse().unwrap_or(250);
                    Ok(ProviderAnswer::new(
                        Some(code),
                        &response.message().collect::<Vec<_>>().join(" "),
                    ))
                }
                // The error's text never holds the URL (and so no password).
                Err(e) if e.is_permanent() => Err(DeliveryError::Refused {
                    message: format!("the SMTP server refused the message: {e}"),
                    answer: e.status().map(|code| {
                        ProviderAnswer::new(code.to_string().parse().ok(), &e.to_string())
                    }),
                }),
                Err(e) => Err(DeliveryError::Retry {
                    message: format!("SMTP: {e}"),
                    answer: e.status().map(|code| {
                        ProviderAnswer::new(code.to_string().parse().ok(), &e.to_string())
                    }),
                    after: None,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notification;

    #[test]
    fn an_email_has_a_plain_and_an_html_part() {
        let n = notification();
        let email = build(
            &n,
            "Tidewatch <tw@example.com>",
            &["ops@example.com".into()],
        )
        .expect("builds");
        let raw = String::from_utf8(email.formatted()).expect("utf-8");
        assert!(
            raw.contains("Subject: [FIRING:1] HighLatency (critical)"),
            "{raw}"
        );
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(raw.contains("Message-ID: <key-1@tidewatch>"), "{raw}");
        assert!(html(&n).contains("<h2>[FIRING:1] HighLatency (critical)</h2>"));
    }
}
