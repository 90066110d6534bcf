//! Time-series rows: the series index, write-ahead records, sealed chunks and rollups.
//!
//! Hot paths use hand-built multi-row statements (one statement per up to
//! `ROWS_PER_STATEMENT` rows), never a statement per row. Every function takes the tenant
//! first, except the group-commit append, whose records each carry their tenant.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::{Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::TenantId;

/// Rows per multi-row INSERT: keeps bind parameters well under SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 500;

/// One acknowledged batch, compressed, for the write-ahead table.
#[derive(Debug, Clone)]
pub struct WalAppend {
    pub tenant: TenantId,
    pub payload: Vec<u8>,
    pub sample_count: i64,
    pub min_ts_ms: i64,
    pub max_ts_ms: i64,
}

/// A series to add to the index.
#[derive(Debug, Clone)]
pub struct NewSeries {
    pub series_id: i64,
    pub metric_name: String,
    /// Canonical JSON object of the labels (sorted keys).
    pub labels_json: String,
}

/// A sealed chunk of one series.
#[derive(Debug, Clone)]
pub struct ChunkRow {
    pub series_id: i64,
    pub min_ts_ms: i64,
    pub max_ts_ms: i64,
    pub sample_count: i32,
    pub payload: Vec<u8>,
}

/// One rollup bucket's partial aggregate; merged into any stored value for the bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRow {
    pub series_id: i64,
    pub resolution_secs: i32,
    pub bucket_start_ms: i64,
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
}

/// Everything one aggregator checkpoint writes, in one transaction: new series, sealed
/// chunks and rollups; the still-open samples re-written as one carry-over record; and
/// the write-ahead records this replaces, deleted.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub new_series: Vec<NewSeries>,
    pub chunks: Vec<ChunkRow>,
    pub rollups: Vec<RollupRow>,
    pub carry_over: Option<WalAppend>,
    pub replaced_wal_ids: Vec<i64>,
}

/// Bytes and rows a tenant's time series take in the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    pub series: i64,
    pub wal_rows: i64,
    pub wal_bytes: i64,
    pub wal_samples: i64,
    pub chunks: i64,
    pub chunk_bytes: i64,
    pub chunk_samples: i64,
    pub rollup_rows: i64,
}

/// `$1, $2 …` for PostgreSQL, `?` for SQLite.
pub(crate) fn placeholder(backend: DbBackend, index: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${index}"),
        _ => "?".to_owned(),
    }
}

/// `(p1, p2, p3), (p4, p5, p6) …` for `rows` rows of `columns` columns.
pub(crate) fn values_clause(backend: DbBackend, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 4);
    let mut index = 1;
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push_str(&placeholder(backend, index));
            index += 1;
        }
        out.push(')');
    }
    out
}

async fn insert_rows<C: ConnectionTrait>(
    conn: &C,
    head: &str,
    tail: &str,
    columns: usize,
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let backend = conn.get_database_backend();
    for group in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{head} VALUES {} {tail}",
            values_clause(backend, group.len(), columns)
        );
        let values: Vec<Value> = group.iter().flat_map(|row| row.iter().cloned()).collect();
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

/// Inserts write-ahead records with multi-row `INSERT … RETURNING`; returns their ids in
/// the order of `records`.
/// Write-ahead rows per INSERT statement.
const WAL_ROWS_PER_STATEMENT: usize = 64;

async fn insert_wal<C: ConnectionTrait>(
    conn: &C,
    records: &[WalAppend],
) -> Result<Vec<i64>, StoreError> {
    let backend = conn.get_database_backend();
    let created = now_ms();
    let mut ids = Vec::with_capacity(records.len());
    // Write-ahead payloads can be megabytes each; fewer rows per statement keeps one
    // statement's size sane.
    for group in records.chunks(WAL_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO metric_wal (tenant_id, sample_count, min_ts_ms, max_ts_ms, payload, created_at_ms) VALUES {} RETURNING id",
            values_clause(backend, group.len(), 6)
        );
        let values: Vec<Value> = group
            .iter()
            .flat_map(|r| {
                [
                    Value::from(r.tenant.to_string()),
                    r.sample_count.into(),
                    r.min_ts_ms.into(),
                    r.max_ts_ms.into(),
                    r.payload.clone().into(),
                    created.into(),
                ]
            })
            .collect();
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        ids.extend(returned_ids(rows, group.len(), "write-ahead records")?);
    }
    Ok(ids)
}

/// The ids a multi-row `INSERT … RETURNING id` gave, in VALUES order: ids come from one
/// sequence in VALUES order, but RETURNING's row order is not guaranteed, so they are
/// sorted before being paired with the rows inserted.
pub(crate) fn returned_ids(
    rows: Vec<sea_orm::QueryResult>,
    inserted: usize,
    what: &str,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = rows
        .into_iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<Vec<i64>, _>>()?;
    if ids.len() != inserted {
        return Err(StoreError::Corrupt(format!(
            "inserted {inserted} {what} but got {} ids back",
            ids.len()
        )));
    }
    ids.sort_unstable();
    Ok(ids)
}

fn in_list(backend: DbBackend, first_index: usize, count: usize) -> String {
    (0..count)
        .map(|i| placeholder(backend, first_index + i))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Runs `sql` (whose one `{}` is the tenant placeholder) and reads two columns per row.
    async fn tenant_pairs<A, B>(
        &self,
        sql: &str,
        tenant: TenantId,
        first: &str,
        second: &str,
    ) -> Result<Vec<(A, B)>, StoreError>
    where
        A: sea_orm::TryGetable,
        B: sea_orm::TryGetable,
    {
        let backend = self.backend();
        let sql = sql.replace("{}", &placeholder(backend, 1));
        let rows = self
            .db()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.to_string().into()],
            ))
            .await?;
        rows.into_iter()
            .map(|row| Ok((row.try_get::<A>("", first)?, row.try_get::<B>("", second)?)))
            .collect()
    }

    /// Group commit: all records in one transaction, one commit (one fsync) for all.
    /// Returns each record's id, in order.
    pub async fn append_wal(&self, records: &[WalAppend]) -> Result<Vec<i64>, StoreError> {
        if records.len() <= WAL_ROWS_PER_STATEMENT {
            // One statement is atomic on its own: without BEGIN and COMMIT around it the
            // group is durable in one round trip instead of three.
            return insert_wal(self.db(), records).await;
        }
        let txn = self.begin_write().await?;
        let ids = insert_wal(&txn, records).await?;
        txn.commit().await?;
        Ok(ids)
    }

    /// A tenant's write-ahead records, oldest first, for replay at start.
    pub async fn load_wal(&self, tenant: TenantId) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
        self.tenant_pairs(
            "SELECT id, payload FROM metric_wal WHERE tenant_id = {} ORDER BY id",
            tenant,
            "id",
            "payload",
        )
        .await
    }

    /// A tenant's series index: (series id, labels JSON).
    pub async fn load_series(&self, tenant: TenantId) -> Result<Vec<(i64, String)>, StoreError> {
        self.tenant_pairs(
            "SELECT series_id, labels FROM metric_series WHERE tenant_id = {} ORDER BY series_id",
            tenant,
            "series_id",
            "labels",
        )
        .await
    }

    /// For each series with sealed chunks, the newest sealed timestamp: samples at or before
    /// it are closed for writing.
    pub async fn sealed_boundaries(&self, tenant: TenantId) -> Result<Vec<(i64, i64)>, StoreError> {
        self.tenant_pairs(
            "SELECT series_id, MAX(max_ts_ms) AS sealed FROM metric_chunks WHERE tenant_id = {} GROUP BY series_id",
            tenant,
            "series_id",
            "sealed",
        )
        .await
    }

    /// Writes a checkpoint atomically; returns the id of the carry-over record, if any.
    pub async fn write_checkpoint(
        &self,
        tenant: TenantId,
        checkpoint: Checkpoint,
    ) -> Result<Option<i64>, StoreError> {
        let txn = self.begin_write().await?;
        let backend = txn.get_database_backend();
        let tenant_text = tenant.to_string();
        let created = now_ms();
        let series_rows = checkpoint
            .new_series
            .into_iter()
            .map(|s| {
                vec![
                    tenant_text.clone().into(),
                    s.series_id.into(),
                    s.metric_name.into(),
                    s.labels_json.into(),
                    created.into(),
                ]
            })
            .collect();
        insert_rows(
            &txn,
            "INSERT INTO metric_series (tenant_id, series_id, metric_name, labels, created_at_ms)",
            "ON CONFLICT (tenant_id, series_id) DO NOTHING",
            5,
            series_rows,
        )
        .await?;
        let chunk_rows = checkpoint
            .chunks
            .into_iter()
            .map(|c| {
                vec![
                    tenant_text.clone().into(),
                    c.series_id.into(),
                    c.min_ts_ms.into(),
                    c.max_ts_ms.into(),
                    c.sample_count.into(),
                    c.payload.into(),
                ]
            })
            .collect();
        insert_rows(
            &txn,
            "INSERT INTO metric_chunks (tenant_id, series_id, min_ts_ms, max_ts_ms, sample_count, payload)",
            "",
            6,
            chunk_rows,
        )
        .await?;
        let rollup_rows = checkpoint
            .rollups
            .into_iter()
            .map(|r| {
                vec![
                    tenant_text.clone().into(),
                    r.series_id.into(),
                    r.resolution_secs.into(),
                    r.bucket_start_ms.into(),
                    r.count.into(),
                    r.sum.into(),
                    r.min.into(),
                    r.max.into(),
                    r.last.into(),
                ]
            })
            .collect();
        // A bucket can straddle two checkpoints: merge into what is stored.
        insert_rows(
            &txn,
            "INSERT INTO metric_rollups (tenant_id, series_id, resolution_secs, bucket_start_ms, count, sum, min, max, last)",
            "ON CONFLICT (tenant_id, series_id, resolution_secs, bucket_start_ms) DO UPDATE SET \
             count = metric_rollups.count + excluded.count, \
             sum = metric_rollups.sum + excluded.sum, \
             min = CASE WHEN excluded.min < metric_rollups.min THEN excluded.min ELSE metric_rollups.min END, \
             max = CASE WHEN excluded.max > metric_rollups.max THEN excluded.max ELSE metric_rollups.max END, \
             last = excluded.last",
            9,
            rollup_rows,
        )
        .await?;
        let carry_over_id = match &checkpoint.carry_over {
            Some(record) => insert_wal(&txn, std::slice::from_ref(record)).await?.pop(),
            None => None,
        };
        for ids in checkpoint.replaced_wal_ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM metric_wal WHERE tenant_id = {} AND id IN ({})",
                placeholder(backend, 1),
                in_list(backend, 2, ids.len())
            );
            let mut values: Vec<Value> = vec![tenant_text.clone().into()];
            values.extend(ids.iter().map(|id| Value::from(*id)));
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
        }
        txn.commit().await?;
        Ok(carry_over_id)
    }

    /// Sealed chunks of the given series overlapping `[start_ms, end_ms]`, ordered by series
    /// then time.
    pub async fn load_chunks(
        &self,
        tenant: TenantId,
        series_ids: &[i64],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<ChunkRow>, StoreError> {
        let backend = self.backend();
        let mut out = Vec::new();
        for ids in series_ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT series_id, min_ts_ms, max_ts_ms, sample_count, payload FROM metric_chunks \
                 WHERE tenant_id = {} AND max_ts_ms >= {} AND min_ts_ms <= {} AND series_id IN ({}) \
                 ORDER BY series_id, min_ts_ms",
                placeholder(backend, 1),
                placeholder(backend, 2),
                placeholder(backend, 3),
                in_list(backend, 4, ids.len())
            );
            let mut values: Vec<Value> =
                vec![tenant.to_string().into(), start_ms.into(), end_ms.into()];
            values.extend(ids.iter().map(|id| Value::from(*id)));
            for row in self
                .db()
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
            {
                out.push(ChunkRow {
                    series_id: row.try_get("", "series_id")?,
                    min_ts_ms: row.try_get("", "min_ts_ms")?,
                    max_ts_ms: row.try_get("", "max_ts_ms")?,
                    sample_count: row.try_get("", "sample_count")?,
                    payload: row.try_get("", "payload")?,
                });
            }
        }
        Ok(out)
    }

    /// Rollup buckets of one resolution for the given series overlapping the range.
    pub async fn load_rollups(
        &self,
        tenant: TenantId,
        series_ids: &[i64],
        resolution_secs: i32,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let backend = self.backend();
        let mut out = Vec::new();
        for ids in series_ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT series_id, resolution_secs, bucket_start_ms, count, sum, min, max, last FROM metric_rollups \
                 WHERE tenant_id = {} AND resolution_secs = {} AND bucket_start_ms >= {} AND bucket_start_ms <= {} \
                 AND series_id IN ({}) ORDER BY series_id, bucket_start_ms",
                placeholder(backend, 1),
                placeholder(backend, 2),
                placeholder(backend, 3),
                placeholder(backend, 4),
                in_list(backend, 5, ids.len())
            );
            let mut values: Vec<Value> = vec![
                tenant.to_string().into(),
                resolution_secs.into(),
                start_ms.into(),
                end_ms.into(),
            ];
            values.extend(ids.iter().map(|id| Value::from(*id)));
            for row in self
                .db()
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
            {
                out.push(RollupRow {
                    series_id: row.try_get("", "series_id")?,
                    resolution_secs: row.try_get("", "resolution_secs")?,
                    bucket_start_ms: row.try_get("", "bucket_start_ms")?,
                    count: row.try_get("", "count")?,
                    sum: row.try_get("", "sum")?,
                    min: row.try_get("", "min")?,
                    max: row.try_get("", "max")?,
                    last: row.try_get("", "last")?,
                });
            }
        }
        Ok(out)
    }

    /// Retention: drops a tenant's chunks that end before `raw_cutoff_ms` and rollups
    /// that start before `rollup_cutoff_ms`. Returns (chunks, rollups) deleted.
    pub async fn delete_expired_samples(
        &self,
        tenant: TenantId,
        raw_cutoff_ms: i64,
        rollup_cutoff_ms: i64,
    ) -> Result<(u64, u64), StoreError> {
        let backend = self.backend();
        let chunks = self
            .db()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "DELETE FROM metric_chunks WHERE tenant_id = {} AND max_ts_ms < {}",
                    placeholder(backend, 1),
                    placeholder(backend, 2)
                ),
                [tenant.to_string().into(), raw_cutoff_ms.into()],
            ))
            .await?
            .rows_affected();
        let rollups = self
            .db()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "DELETE FROM metric_rollups WHERE tenant_id = {} AND bucket_start_ms < {}",
                    placeholder(backend, 1),
                    placeholder(backend, 2)
                ),
                [tenant.to_string().into(), rollup_cutoff_ms.into()],
            ))
            .await?
            .rows_affected();
        Ok((chunks, rollups))
    }

    /// Rows and bytes of a tenant's time series, for the bytes-per-sample report.
    pub async fn storage_usage(&self, tenant: TenantId) -> Result<StorageUsage, StoreError> {
        let backend = self.backend();
        let p = placeholder(backend, 1);
        let length = match backend {
            DbBackend::Postgres => "octet_length",
            _ => "length",
        };
        let sql = format!(
            "SELECT \
               (SELECT COUNT(*) FROM metric_series WHERE tenant_id = {p}) AS series, \
               (SELECT COUNT(*) FROM metric_wal WHERE tenant_id = {p}) AS wal_rows, \
               (SELECT CAST(COALESCE(SUM({length}(payload)), 0) AS BIGINT) FROM metric_wal WHERE tenant_id = {p}) AS wal_bytes, \
               (SELECT CAST(COALESCE(SUM(sample_count), 0) AS BIGINT) FROM metric_wal WHERE tenant_id = {p}) AS wal_samples, \
               (SELECT COUNT(*) FROM metric_chunks WHERE tenant_id = {p}) AS chunks, \
               (SELECT CAST(COALESCE(SUM({length}(payload)), 0) AS BIGINT) FROM metric_chunks WHERE tenant_id = {p}) AS chunk_bytes, \
               (SELECT CAST(COALESCE(SUM(sample_count), 0) AS BIGINT) FROM metric_chunks WHERE tenant_id = {p}) AS chunk_samples, \
               (SELECT COUNT(*) FROM metric_rollups WHERE tenant_id = {p}) AS rollup_rows"
        );
        // SQLite numbers each `?`; PostgreSQL reuses $1.
        let binds = if backend == DbBackend::Postgres { 1 } else { 8 };
        let values: Vec<Value> = (0..binds).map(|_| tenant.to_string().into()).collect();
        let row = self
            .db()
            .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?
            .ok_or_else(|| StoreError::Corrupt("usage query returned no row".into()))?;
        let get = |col: &str| -> Result<i64, StoreError> { Ok(row.try_get::<i64>("", col)?) };
        Ok(StorageUsage {
            series: get("series")?,
            wal_rows: get("wal_rows")?,
            wal_bytes: get("wal_bytes")?,
            wal_samples: get("wal_samples")?,
            chunks: get("chunks")?,
            chunk_bytes: get("chunk_bytes")?,
            chunk_samples: get("chunk_samples")?,
            rollup_rows: get("rollup_rows")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{TenantName, TenantSlug};

    #[tokio::test]
    async fn group_commit_returns_each_records_own_id() {
        let store = Store::connect("sqlite::memory:", 1).await.unwrap();
        store.migrate().await.unwrap();
        let (tenant, _) = store
            .create_tenant(
                TenantSlug::parse("t").unwrap(),
                TenantName::parse("T").unwrap(),
                None,
                None,
            )
            .await
            .unwrap();
        let records: Vec<WalAppend> = (0..150)
            .map(|i| WalAppend {
                tenant: tenant.id,
                payload: vec![i as u8; 3],
                sample_count: i,
                min_ts_ms: i,
                max_ts_ms: i,
            })
            .collect();
        let ids = store.append_wal(&records).await.unwrap();
        assert_eq!(ids.len(), 150);
        let stored: std::collections::HashMap<i64, Vec<u8>> = store
            .load_wal(tenant.id)
            .await
            .unwrap()
            .into_iter()
            .collect();
        for (record, id) in records.iter().zip(&ids) {
            assert_eq!(
                stored[id], record.payload,
                "id {id} belongs to record {}",
                record.sample_count
            );
        }
    }

    #[test]
    fn values_clauses_number_postgres_placeholders() {
        assert_eq!(
            values_clause(DbBackend::Postgres, 2, 2),
            "($1, $2), ($3, $4)"
        );
        assert_eq!(values_clause(DbBackend::Sqlite, 1, 3), "(?, ?, ?)");
        assert_eq!(in_list(DbBackend::Postgres, 3, 2), "$3, $4");
    }
}
