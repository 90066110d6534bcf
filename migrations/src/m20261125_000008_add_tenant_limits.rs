//! Per-tenant overrides of the ingest and retention limits; NULL means the process-wide
//! default from the configuration.

use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TenantLimits {
    MaxSeries,
    IngestSamplesPerSec,
    RawRetentionDays,
    RollupRetentionDays,
}

impl TenantLimits {
    const ALL: [TenantLimits; 4] = [
        TenantLimits::MaxSeries,
        TenantLimits::IngestSamplesPerSec,
        TenantLimits::RawRetentionDays,
        TenantLimits::RollupRetentionDays,
    ];
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in TenantLimits::ALL {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in TenantLimits::ALL {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tenants::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
