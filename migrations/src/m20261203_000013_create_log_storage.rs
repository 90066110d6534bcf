//! Log storage: `log_blocks`, one row per committed batch of records, its columns
//! compressed apart (times and levels, streams, messages, fields) beside a token filter,
//! so that a search reads and inflates only what it needs (`src/tsdb/log_block.rs`).

use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LogBlocks {
    Table,
    Id,
    TenantId,
    MinTsNs,
    MaxTsNs,
    RecordCount,
    LevelMask,
    RawBytes,
    Times,
    Streams,
    Messages,
    Fields,
    Filter,
    CreatedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LogBlocks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(LogBlocks::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(LogBlocks::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(LogBlocks::MinTsNs).big_integer().not_null())
                    .col(ColumnDef::new(LogBlocks::MaxTsNs).big_integer().not_null())
                    .col(ColumnDef::new(LogBlocks::RecordCount).integer().not_null())
                    .col(ColumnDef::new(LogBlocks::LevelMask).integer().not_null())
                    .col(ColumnDef::new(LogBlocks::RawBytes).big_integer().not_null())
                    .col(ColumnDef::new(LogBlocks::Times).blob().not_null())
                    .col(ColumnDef::new(LogBlocks::Streams).blob().not_null())
                    .col(ColumnDef::new(LogBlocks::Messages).blob().not_null())
                    .col(ColumnDef::new(LogBlocks::Fields).blob().not_null())
                    .col(ColumnDef::new(LogBlocks::Filter).blob().not_null())
                    .col(
                        ColumnDef::new(LogBlocks::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_log_blocks_tenant")
                            .from(LogBlocks::Table, LogBlocks::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Searches walk a tenant's blocks newest first; retention deletes the oldest.
        manager
            .create_index(
                Index::create()
                    .name("idx_log_blocks_tenant_max_ts")
                    .table(LogBlocks::Table)
                    .col(LogBlocks::TenantId)
                    .col(LogBlocks::MaxTsNs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LogBlocks::Table).to_owned())
            .await
    }
}
