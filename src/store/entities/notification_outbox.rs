use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub channel_id: String,
    pub group_key: String,
    pub group_labels: String,
    pub alert_id: String,
    pub rule_id: String,
    pub fingerprint: String,
    pub event_id: Option<i64>,
    pub transition: String,
    /// The alert as notified (JSON: labels, annotations, state, value, times).
    pub alert: String,
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    /// The route's mute and active timings by name (JSON lists).
    pub mute_timings: String,
    pub active_timings: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at_ms: i64,
    pub claimed_until_ms: Option<i64>,
    pub last_error: Option<String>,
    pub provider_status: Option<i32>,
    pub event_at_ms: i64,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
