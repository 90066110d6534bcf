use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub slug: String,
    pub name: String,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub max_series: Option<i64>,
    pub ingest_samples_per_sec: Option<i64>,
    pub raw_retention_days: Option<i64>,
    pub rollup_retention_days: Option<i64>,
    pub log_ingest_records_per_sec: Option<i64>,
    pub log_max_streams: Option<i64>,
    pub log_retention_days: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
