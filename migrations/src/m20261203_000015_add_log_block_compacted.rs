//! `log_blocks.compacted`: 0 for a block as one batch committed it, 1 for a block the
//! compactor wrote (one time partition). Only uncompacted blocks are merged, so a
//! compacted block is written once; the index finds a tenant's candidates oldest first.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LogBlocks {
    Table,
    TenantId,
    Compacted,
    MinTsNs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(LogBlocks::Table)
                    .add_column(
                        ColumnDef::new(LogBlocks::Compacted)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_log_blocks_tenant_compacted_min_ts")
                    .table(LogBlocks::Table)
                    .col(LogBlocks::TenantId)
                    .col(LogBlocks::Compacted)
                    .col(LogBlocks::MinTsNs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_log_blocks_tenant_compacted_min_ts")
                    .table(LogBlocks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LogBlocks::Table)
                    .drop_column(LogBlocks::Compacted)
                    .to_owned(),
            )
            .await
    }
}
