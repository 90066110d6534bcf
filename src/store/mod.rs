//! Persistence through SeaORM, for SQLite and PostgreSQL alike.
//!
//! Every function that reads or writes tenant data takes the [`TenantId`] first and puts
//! it in the `WHERE` clause, so no query can forget the tenant. The only lookups that are
//! not tenant-scoped are those that *establish* a tenant from a credential (an email at
//! login, an API key prefix) and the platform admin's operations on tenants themselves.

pub mod api_keys;
pub mod audit;
pub mod entities;
pub mod metrics;
pub mod sessions;
pub mod tenants;
pub mod users;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
};

pub use crate::domain::TenantId;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("creating the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Turns a unique-constraint violation into a conflict with a readable message;
    /// anything else stays a database error.
    pub(crate) fn conflict_on_unique(err: DbErr, message: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(message.into()),
            _ => StoreError::Database(err),
        }
    }
}

/// The database handle; cheap to clone (a pool inside).
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects and, for SQLite, turns on WAL so readers never wait on the writer.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        create_sqlite_directory(url)?;
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let db = Database::connect(options).await?;
        if db.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
            db.execute_unprepared("PRAGMA synchronous=NORMAL").await?;
        }
        Ok(Self { db })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// SQLite creates the database file (`mode=rwc`) but not its directory.
fn create_sqlite_directory(url: &str) -> Result<(), StoreError> {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    match std::path::Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Directory {
                path: parent.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Parses an id column written by this crate.
pub(crate) fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} id \"{raw}\" is not a UUID")))
}
