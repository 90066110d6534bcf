//! SeaORM entities, one per table. Only the store layer uses them.

pub mod alert_event;
pub mod alert_instance;
pub mod alert_rule;
pub mod api_key;
pub mod audit_entry;
pub mod channel;
pub mod external_alert;
pub mod inhibit_rule;
pub mod membership;
pub mod mute_timing;
pub mod notification_outbox;
pub mod notification_policy;
pub mod refresh_token;
pub mod silence;
pub mod tenant;
pub mod user;
