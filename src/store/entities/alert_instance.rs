use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub rule_id: String,
    pub fingerprint: String,
    pub labels: String,
    pub group_labels: String,
    pub state: String,
    pub severity: Option<String>,
    pub active_since_ms: Option<i64>,
    pub fired_at_ms: Option<i64>,
    pub cleared_since_ms: Option<i64>,
    pub last_value: Option<f64>,
    pub last_data_ms: Option<i64>,
    pub no_data: bool,
    pub flapping: bool,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at_ms: Option<i64>,
    pub ack_comment: Option<String>,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
