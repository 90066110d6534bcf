use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub kind: String,
    /// The channel's config as accepted, secrets included (JSON).
    pub config: String,
    pub send_resolved: bool,
    /// Messages per minute; NULL: the process default.
    pub max_per_minute: Option<i64>,
    /// `{subject, body}` (JSON); NULL: the kind's default text.
    pub template: Option<String>,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
