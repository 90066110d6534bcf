//! Time-series storage inside the database, the way TSDBs lay it out:
//! - `metric_series`: the series index (labels → id) per tenant;
//! - `metric_wal`: one compressed write-ahead record per acknowledged batch (group commit),
//!   deleted once a checkpoint has sealed what it holds;
//! - `metric_chunks`: sealed, compressed per-series chunks (delta-of-delta + XOR);
//! - `metric_rollups`: 1 min and 1 h aggregates (count, sum, min, max, last) for long ranges.

use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MetricSeries {
    Table,
    TenantId,
    SeriesId,
    MetricName,
    Labels,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum MetricWal {
    Table,
    Id,
    TenantId,
    SampleCount,
    MinTsMs,
    MaxTsMs,
    Payload,
    CreatedAtMs,
}

#[derive(DeriveIden)]
enum MetricChunks {
    Table,
    TenantId,
    SeriesId,
    MinTsMs,
    MaxTsMs,
    SampleCount,
    Payload,
}

#[derive(DeriveIden)]
enum MetricRollups {
    Table,
    TenantId,
    SeriesId,
    ResolutionSecs,
    BucketStartMs,
    Count,
    Sum,
    Min,
    Max,
    Last,
}

fn tenant_fk(table: impl IntoIden, column: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MetricSeries::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MetricSeries::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    // Chosen by the tenant's aggregator from the label fingerprint (probing
                    // on the rare collision), so it is known before the row is written.
                    .col(
                        ColumnDef::new(MetricSeries::SeriesId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MetricSeries::MetricName).text().not_null())
                    .col(ColumnDef::new(MetricSeries::Labels).text().not_null())
                    .col(
                        ColumnDef::new(MetricSeries::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(MetricSeries::TenantId)
                            .col(MetricSeries::SeriesId),
                    )
                    .foreign_key(&mut tenant_fk(
                        MetricSeries::Table,
                        MetricSeries::TenantId,
                        "fk_metric_series_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MetricWal::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MetricWal::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(MetricWal::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricWal::SampleCount)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MetricWal::MinTsMs).big_integer().not_null())
                    .col(ColumnDef::new(MetricWal::MaxTsMs).big_integer().not_null())
                    .col(ColumnDef::new(MetricWal::Payload).blob().not_null())
                    .col(
                        ColumnDef::new(MetricWal::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(&mut tenant_fk(
                        MetricWal::Table,
                        MetricWal::TenantId,
                        "fk_metric_wal_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_metric_wal_tenant")
                    .table(MetricWal::Table)
                    .col(MetricWal::TenantId)
                    .col(MetricWal::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MetricChunks::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MetricChunks::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricChunks::SeriesId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricChunks::MinTsMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricChunks::MaxTsMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricChunks::SampleCount)
                            .integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MetricChunks::Payload).blob().not_null())
                    .primary_key(
                        Index::create()
                            .col(MetricChunks::TenantId)
                            .col(MetricChunks::SeriesId)
                            .col(MetricChunks::MinTsMs),
                    )
                    .foreign_key(&mut tenant_fk(
                        MetricChunks::Table,
                        MetricChunks::TenantId,
                        "fk_metric_chunks_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_metric_chunks_max_ts")
                    .table(MetricChunks::Table)
                    .col(MetricChunks::TenantId)
                    .col(MetricChunks::MaxTsMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MetricRollups::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(MetricRollups::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricRollups::SeriesId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricRollups::ResolutionSecs)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricRollups::BucketStartMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MetricRollups::Count)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(MetricRollups::Sum).double().not_null())
                    .col(ColumnDef::new(MetricRollups::Min).double().not_null())
                    .col(ColumnDef::new(MetricRollups::Max).double().not_null())
                    .col(ColumnDef::new(MetricRollups::Last).double().not_null())
                    .primary_key(
                        Index::create()
                            .col(MetricRollups::TenantId)
                            .col(MetricRollups::SeriesId)
                            .col(MetricRollups::ResolutionSecs)
                            .col(MetricRollups::BucketStartMs),
                    )
                    .foreign_key(&mut tenant_fk(
                        MetricRollups::Table,
                        MetricRollups::TenantId,
                        "fk_metric_rollups_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MetricRollups::Table.into_iden(),
            MetricChunks::Table.into_iden(),
            MetricWal::Table.into_iden(),
            MetricSeries::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
