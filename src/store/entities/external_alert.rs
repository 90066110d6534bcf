use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "external_alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub fingerprint: String,
    pub alert_id: String,
    pub labels: String,
    pub annotations: String,
    pub generator_url: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// `firing` or `resolved`.
    pub state: String,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
