//! Schema migrations, shared by SQLite (embedded default) and PostgreSQL.
//!
//! One file per migration; they run at service start and via `tidewatch migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_tenants;
mod m20261125_000002_create_users;
mod m20261125_000003_create_memberships;
mod m20261125_000004_create_api_keys;
mod m20261125_000005_create_refresh_tokens;
mod m20261125_000006_create_audit_log;
mod m20261125_000007_create_metric_storage;
mod m20261125_000008_add_tenant_limits;
mod m20261125_000009_store_payloads_uncompressed;
mod m20261202_000010_create_alerting;
mod m20261202_000011_create_notifications;
mod m20261202_000012_add_channel_rate_and_template;
mod m20261203_000013_create_log_storage;
mod m20261203_000014_add_tenant_log_limits;
mod m20261203_000015_add_log_block_compacted;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tenants::Migration),
            Box::new(m20261125_000002_create_users::Migration),
            Box::new(m20261125_000003_create_memberships::Migration),
            Box::new(m20261125_000004_create_api_keys::Migration),
            Box::new(m20261125_000005_create_refresh_tokens::Migration),
            Box::new(m20261125_000006_create_audit_log::Migration),
            Box::new(m20261125_000007_create_metric_storage::Migration),
            Box::new(m20261125_000008_add_tenant_limits::Migration),
            Box::new(m20261125_000009_store_payloads_uncompressed::Migration),
            Box::new(m20261202_000010_create_alerting::Migration),
            Box::new(m20261202_000011_create_notifications::Migration),
            Box::new(m20261202_000012_add_channel_rate_and_template::Migration),
            Box::new(m20261203_000013_create_log_storage::Migration),
            Box::new(m20261203_000014_add_tenant_log_limits::Migration),
            Box::new(m20261203_000015_add_log_block_compacted::Migration),
        ]
    }
}
