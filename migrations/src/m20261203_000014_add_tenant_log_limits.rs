//! Per-tenant overrides of the log limits (ingest rate, streams per hour, retention);
//! NULL means the process-wide default from the configuration.

use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

// The variants are the column names, which all start with `log_`.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum TenantLogLimits {
    LogIngestRecordsPerSec,
    LogMaxStreams,
    LogRetentionDays,
}

impl TenantLogLimits {
    const ALL: [TenantLogLimits; 3] = [
        TenantLogLimits::LogIngestRecordsPerSec,
        TenantLogLimits::LogMaxStreams,
        TenantLogLimits::LogRetentionDays,
    ];
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in TenantLogLimits::ALL {
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
        for column in TenantLogLimits::ALL {
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
