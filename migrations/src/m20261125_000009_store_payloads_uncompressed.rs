//! PostgreSQL: keep write-ahead and chunk payloads out of TOAST compression. They are
//! Snappy- or Gorilla-compressed already, so pglz only burns the server's CPU on every
//! group commit trying to shrink them (`STORAGE EXTERNAL`: out of line, uncompressed).
//! SQLite has no such setting; nothing to do there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["metric_wal", "metric_chunks"];

async fn set_storage(manager: &SchemaManager<'_>, storage: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for table in TABLES {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE {table} ALTER COLUMN payload SET STORAGE {storage}"
            ))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_storage(manager, "EXTERNAL").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_storage(manager, "EXTENDED").await
    }
}
