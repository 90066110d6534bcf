//! Pure domain types: values that can only be built valid, and the rules over them.
//! Nothing here does I/O.

pub mod ids;
pub mod logs;
pub mod metrics;
pub mod role;
pub mod tenant;
pub mod time;
pub mod user;

pub use ids::{
    AlertId, AlertRuleId, ApiKeyId, ChannelId, InhibitRuleId, MuteTimingId, NotificationId,
    SessionId, SilenceId, TenantId, UserId,
};
pub use role::{ApiKeyScope, Role};
pub use tenant::{TenantName, TenantSlug};
pub use user::{Email, Password};

/// A value that failed validation, with a message that says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl crate::error::Classify for ValidationError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Unprocessable
    }

    fn code(&self) -> &'static str {
        "invalid_field"
    }
}
