//! Persistence through SeaORM, for SQLite and PostgreSQL alike.
//!
//! Every function that reads or writes tenant data takes the [`TenantId`] first and puts
//! it in the `WHERE` clause, so no query can forget the tenant. The only lookups that are
//! not tenant-scoped are those that *establish* a tenant from a credential (an email at
//! login, an API key prefix) and the platform admin's operations on tenants themselves.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod entities;
pub mod external_alerts;
pub mod inhibit_rules;
pub mod logs;
pub mod metrics;
pub mod mute_timings;
pub mod notifications;
pub mod sessions;
pub mod silences;
pub mod tenants;
pub mod users;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, RuntimeErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

pub use crate::domain::TenantId;

/// How long a request waits for a pooled connection unless configured otherwise.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long an SQLite writer waits for another to finish.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A per-tenant limit on stored objects (rules, …) is reached.
    #[error("{0}")]
    Limit(String),
    #[error("stored value is invalid: {0}")]
    Corrupt(String),
    #[error("creating the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the database could not be reached or was busy — a condition that passes
    /// (503 and retry), as opposed to a fault in a statement or in stored data (500).
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(err) = self else {
            return false;
        };
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                sqlx_unavailable(e)
            }
            _ => false,
        }
    }

    /// Turns a unique-constraint violation into a conflict with a readable message;
    /// anything else stays a database error.
    pub(crate) fn conflict_on_unique(err: DbErr, message: impl Into<String>) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(message.into()),
            _ => StoreError::Database(err),
        }
    }
}

/// I/O, pool and connection-class errors, SQLite's busy/locked, and PostgreSQL's
/// "shutting down / cannot connect now / too many connections" (SQLSTATE 08, 57P, 53300).
fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            matches!(code.as_ref(), "5" | "6" | "261" | "517" | "53300")
                || code.starts_with("08")
                || code.starts_with("57P")
        }
        _ => false,
    }
}

/// The database handle; cheap to clone (a pool inside).
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects with the default wait for a pooled connection ([`DEFAULT_ACQUIRE_TIMEOUT`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// Connects. A request waits at most `acquire_timeout` for a connection, so a database
    /// that is down is answered 503 within that time rather than hanging.
    ///
    /// SQLite, on every pooled connection (pragmas are per connection): WAL so readers
    /// never wait on the writer; `synchronous=FULL` so every acknowledged commit is
    /// fsynced (NORMAL may lose the last commits on power loss, though not on `kill -9`);
    /// a busy timeout so a writer waits for another instead of failing "database is
    /// locked". Write transactions start `IMMEDIATE` ([`Store::begin_write`]) so that
    /// waiting happens at `BEGIN`, where SQLite can wait, not at the first write.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Self, StoreError> {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        create_sqlite_directory(url)?;
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(acquire_timeout)
            .acquire_timeout(acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
            });
        let db = Database::connect(options).await?;
        Ok(Self { db })
    }

    /// Starts a transaction that will write: on SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout for another writer); a deferred
    /// one that read first would fail "database is locked" when another writer got in
    /// between. PostgreSQL: an ordinary transaction.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    /// PostgreSQL's `synchronous_commit` when it is not `on` (then an acknowledged commit
    /// can be lost on a server crash); `None` on SQLite or when it is `on`.
    pub async fn weak_synchronous_commit(&self) -> Result<Option<String>, StoreError> {
        if self.backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_setting('synchronous_commit') AS value",
            ))
            .await?;
        let value: String = match row {
            Some(row) => row.try_get("", "value")?,
            None => return Ok(None),
        };
        Ok((!matches!(value.as_str(), "on" | "remote_apply" | "remote_write")).then_some(value))
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

impl crate::error::Classify for StoreError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Limit(_) => ErrorKind::Unprocessable,
            other if other.is_unavailable() => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound(_) => "not_found",
            StoreError::Conflict(_) => "conflict",
            StoreError::Limit(_) => "limit_exceeded",
            other if other.is_unavailable() => "unavailable",
            _ => "internal",
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        self.is_unavailable().then_some(1)
    }

    fn public_message(&self) -> String {
        if self.is_unavailable() {
            tracing::warn!(error = %self, "database unavailable");
            return "the database is unavailable; nothing was changed; retry shortly".into();
        }
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_sqlite_connection_is_wal_full_sync_with_a_busy_timeout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url, 4).await.expect("connects");
        // Hold four transactions at once: four distinct pooled connections.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(store.db().begin().await.expect("a connection"));
        }
        for txn in &held {
            for (pragma, expected) in [
                ("synchronous", "2"),
                ("journal_mode", "wal"),
                ("busy_timeout", "10000"),
            ] {
                let row = txn
                    .query_one_raw(Statement::from_string(
                        DbBackend::Sqlite,
                        format!("PRAGMA {pragma}"),
                    ))
                    .await
                    .expect("pragma answers")
                    .expect("one row");
                let value = row
                    .try_get_by_index::<i64>(0)
                    .map(|v| v.to_string())
                    .or_else(|_| row.try_get_by_index::<String>(0))
                    .expect("a value");
                assert_eq!(value, expected, "PRAGMA {pragma}");
            }
        }
    }
}
