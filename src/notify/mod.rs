//! Notification's pure core: which channels hear of an alert and when ([`policy`]), the
//! label matchers policies (and later silences and inhibition) use ([`matcher`]), and what
//! a notification says ([`message`], a channel's own [`template`]). The notifier actor (`actors::notifier`) and the
//! channel kinds (`channels`) build on it; nothing here does I/O.

pub mod delivery;
pub mod inhibit;
pub mod matcher;
pub mod message;
pub mod mute;
pub mod policy;
pub mod rate;
pub mod routing;
pub mod silence;
pub mod template;

/// A field of a notification setting that is not valid, named as the request spells it
/// (`routes[0].matchers[1].op`, `config.url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, under a parent field (`config` + `url` → `config.url`).
    pub fn under(self, parent: &str) -> Self {
        let field = if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        Self { field, ..self }
    }
}

impl crate::error::Classify for FieldError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Unprocessable
    }

    fn code(&self) -> &'static str {
        "invalid_field"
    }
}
