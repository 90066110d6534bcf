//! Log rows: one `log_blocks` row per committed batch (`tsdb::log_block` holds the byte
//! formats). Every function takes the tenant first, except the group-commit append, whose
//! blocks each carry their tenant.

use sea_orm::{ConnectionTrait, Statement, Value};

use super::metrics::{placeholder, returned_ids, values_clause};
use super::{Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::TenantId;
use crate::tsdb::log_block::EncodedBlock;

/// Blocks per INSERT: a block is tens of kilobytes, so a statement stays a few megabytes.
const BLOCKS_PER_STATEMENT: usize = 64;
/// Ids per `IN (…)` list.
const IDS_PER_STATEMENT: usize = 256;

/// One committed batch's block, for the group commit.
#[derive(Debug, Clone)]
pub struct LogBlockAppend {
    pub tenant: TenantId,
    pub block: EncodedBlock,
}

impl LogBlockAppend {
    pub fn size(&self) -> usize {
        let b = &self.block;
        b.times.len() + b.streams.len() + b.messages.len() + b.fields.len() + b.filter.len()
    }
}

/// What a search knows of a block before reading its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBlockMeta {
    pub id: i64,
    pub min_ts_ns: i64,
    pub max_ts_ns: i64,
    pub record_count: u32,
    pub level_mask: u8,
}

/// Which columns to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogColumns {
    pub filter: bool,
    pub times: bool,
    pub streams: bool,
    pub messages: bool,
    pub fields: bool,
}

/// The columns read of one block (empty when not asked for).
#[derive(Debug, Clone, Default)]
pub struct LogBlockColumns {
    pub id: i64,
    pub filter: Vec<u8>,
    pub times: Vec<u8>,
    pub streams: Vec<u8>,
    pub messages: Vec<u8>,
    pub fields: Vec<u8>,
}

impl Store {
    /// Group commit of log blocks: one statement per up to 64 blocks, in one transaction
    /// when there are more. Returns each block's id, in order.
    pub async fn append_log_blocks(
        &self,
        blocks: &[LogBlockAppend],
    ) -> Result<Vec<i64>, StoreError> {
        if blocks.len() <= BLOCKS_PER_STATEMENT {
            return insert_blocks(self.db(), blocks, false).await;
        }
        let txn = self.begin_write().await?;
        let ids = insert_blocks(&txn, blocks, false).await?;
        txn.commit().await?;
        Ok(ids)
    }

    /// A tenant's blocks overlapping `[start_ns, end_ns]`, newest (by their last record)
    /// first, at most `limit`.
    pub async fn log_block_metas(
        &self,
        tenant: TenantId,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<Vec<LogBlockMeta>, StoreError> {
        let backend = self.backend();
        let sql = format!(
            "SELECT id, min_ts_ns, max_ts_ns, record_count, level_mask FROM log_blocks \
             WHERE tenant_id = {} AND max_ts_ns >= {} AND min_ts_ns <= {} \
             ORDER BY max_ts_ns DESC, id DESC LIMIT {}",
            placeholder(backend, 1),
            placeholder(backend, 2),
            placeholder(backend, 3),
            limit
        );
        let rows = self
            .db()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.to_string().into(), start_ns.into(), end_ns.into()],
            ))
            .await?;
        rows.into_iter().map(|row| meta_of(&row)).collect()
    }

    /// The asked-for columns of a tenant's blocks `ids` (in no particular order; ids of
    /// other tenants' blocks are simply not found).
    pub async fn log_block_columns(
        &self,
        tenant: TenantId,
        ids: &[i64],
        columns: LogColumns,
    ) -> Result<Vec<LogBlockColumns>, StoreError> {
        let backend = self.backend();
        let mut names = vec!["id"];
        for (wanted, name) in [
            (columns.filter, "filter"),
            (columns.times, "times"),
            (columns.streams, "streams"),
            (columns.messages, "messages"),
            (columns.fields, "fields"),
        ] {
            if wanted {
                names.push(name);
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        for group in ids.chunks(IDS_PER_STATEMENT) {
            let list = (0..group.len())
                .map(|i| placeholder(backend, i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {} FROM log_blocks WHERE tenant_id = {} AND id IN ({list})",
                names.join(", "),
                placeholder(backend, 1)
            );
            let mut values: Vec<Value> = vec![tenant.to_string().into()];
            values.extend(group.iter().map(|&id| Value::from(id)));
            let rows = self
                .db()
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            for row in rows {
                let get = |name: &str, wanted: bool| -> Result<Vec<u8>, StoreError> {
                    if wanted {
                        Ok(row.try_get::<Vec<u8>>("", name)?)
                    } else {
                        Ok(Vec::new())
                    }
                };
                out.push(LogBlockColumns {
                    id: row.try_get("", "id")?,
                    filter: get("filter", columns.filter)?,
                    times: get("times", columns.times)?,
                    streams: get("streams", columns.streams)?,
                    messages: get("messages", columns.messages)?,
                    fields: get("fields", columns.fields)?,
                });
            }
        }
        Ok(out)
    }

    /// Deletes up to `batch` of a tenant's blocks whose newest record is older than
    /// `cutoff_ns`; returns how many. Called repeatedly, so no statement holds locks long.
    pub async fn delete_log_blocks_before(
        &self,
        tenant: TenantId,
        cutoff_ns: i64,
        batch: usize,
    ) -> Result<u64, StoreError> {
        let backend = self.backend();
        let sql = format!(
            "DELETE FROM log_blocks WHERE id IN (SELECT id FROM log_blocks \
             WHERE tenant_id = {} AND max_ts_ns < {} ORDER BY max_ts_ns LIMIT {batch})",
            placeholder(backend, 1),
            placeholder(backend, 2),
        );
        let result = self
            .db()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.to_string().into(), cutoff_ns.into()],
            ))
            .await?;
        Ok(result.rows_affected())
    }

    /// A tenant's blocks as batches committed them (not compacted yet), committed before
    /// `committed_before_ms`: the compactor's candidates, oldest records first, until their
    /// records reach `max_records` (one at least).
    pub async fn uncompacted_log_blocks(
        &self,
        tenant: TenantId,
        committed_before_ms: i64,
        max_records: usize,
    ) -> Result<Vec<LogBlockMeta>, StoreError> {
        let backend = self.backend();
        let sql = format!(
            "SELECT id, min_ts_ns, max_ts_ns, record_count, level_mask FROM log_blocks \
             WHERE tenant_id = {} AND compacted = 0 AND created_at_ms < {} \
             ORDER BY min_ts_ns, id LIMIT {}",
            placeholder(backend, 1),
            placeholder(backend, 2),
            // Never more rows than records wanted (each has one at least).
            max_records.max(1)
        );
        let rows = self
            .db()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.to_string().into(), committed_before_ms.into()],
            ))
            .await?;
        let mut out = Vec::new();
        let mut records = 0usize;
        for row in rows {
            let meta = meta_of(&row)?;
            if records + meta.record_count as usize > max_records && !out.is_empty() {
                break;
            }
            records += meta.record_count as usize;
            out.push(meta);
        }
        Ok(out)
    }

    /// A tenant's compacted blocks of fewer than `below_records` records, oldest first, at
    /// most `limit` (the compactor merges those that share a time partition).
    pub async fn small_compacted_log_blocks(
        &self,
        tenant: TenantId,
        below_records: u32,
        limit: usize,
    ) -> Result<Vec<LogBlockMeta>, StoreError> {
        let backend = self.backend();
        let sql = format!(
            "SELECT id, min_ts_ns, max_ts_ns, record_count, level_mask FROM log_blocks \
             WHERE tenant_id = {} AND compacted = 1 AND record_count < {} \
             ORDER BY min_ts_ns, id LIMIT {limit}",
            placeholder(backend, 1),
            placeholder(backend, 2),
        );
        let rows = self
            .db()
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [tenant.to_string().into(), (below_records as i32).into()],
            ))
            .await?;
        rows.into_iter().map(|row| meta_of(&row)).collect()
    }

    /// Replaces a tenant's blocks `old` by `new` in one transaction (compaction): readers
    /// see either all the old blocks or all the new ones. `false`, and nothing changed,
    /// when some old block is already gone (retention, or another replica's compactor).
    pub async fn replace_log_blocks(
        &self,
        tenant: TenantId,
        old: &[i64],
        new: &[LogBlockAppend],
    ) -> Result<bool, StoreError> {
        let backend = self.backend();
        let txn = self.begin_write().await?;
        let mut deleted = 0u64;
        for group in old.chunks(IDS_PER_STATEMENT) {
            let list = (0..group.len())
                .map(|i| placeholder(backend, i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "DELETE FROM log_blocks WHERE tenant_id = {} AND id IN ({list})",
                placeholder(backend, 1)
            );
            let mut values: Vec<Value> = vec![tenant.to_string().into()];
            values.extend(group.iter().map(|&id| Value::from(id)));
            deleted += txn
                .execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
                .rows_affected();
        }
        if deleted != old.len() as u64 {
            txn.rollback().await?;
            return Ok(false);
        }
        insert_blocks(&txn, new, true).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Tenants that have log blocks (for the retention sweep).
    pub async fn tenants_with_logs(&self) -> Result<Vec<TenantId>, StoreError> {
        let rows = self
            .db()
            .query_all_raw(Statement::from_string(
                self.backend(),
                "SELECT DISTINCT tenant_id FROM log_blocks",
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.try_get::<String>("", "tenant_id").ok())
            .filter_map(|id| id.parse().ok())
            .collect())
    }
}

/// A `SELECT id, min_ts_ns, max_ts_ns, record_count, level_mask` row.
fn meta_of(row: &sea_orm::QueryResult) -> Result<LogBlockMeta, StoreError> {
    Ok(LogBlockMeta {
        id: row.try_get("", "id")?,
        min_ts_ns: row.try_get("", "min_ts_ns")?,
        max_ts_ns: row.try_get("", "max_ts_ns")?,
        record_count: row.try_get::<i32>("", "record_count")?.max(0) as u32,
        level_mask: row.try_get::<i32>("", "level_mask")? as u8,
    })
}

/// Inserts blocks (`compacted`: written by the compactor) and answers their ids, in order.
async fn insert_blocks<C: ConnectionTrait>(
    conn: &C,
    blocks: &[LogBlockAppend],
    compacted: bool,
) -> Result<Vec<i64>, StoreError> {
    let backend = conn.get_database_backend();
    let created = now_ms();
    let mut ids = Vec::with_capacity(blocks.len());
    for group in blocks.chunks(BLOCKS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO log_blocks (tenant_id, min_ts_ns, max_ts_ns, record_count, level_mask, raw_bytes, times, streams, messages, fields, filter, created_at_ms, compacted) VALUES {} RETURNING id",
            values_clause(backend, group.len(), 13)
        );
        let values: Vec<Value> = group
            .iter()
            .flat_map(|append| {
                let b = &append.block;
                [
                    Value::from(append.tenant.to_string()),
                    b.min_ts_ns.into(),
                    b.max_ts_ns.into(),
                    (b.record_count as i32).into(),
                    i32::from(b.level_mask).into(),
                    (b.raw_bytes as i64).into(),
                    b.times.clone().into(),
                    b.streams.clone().into(),
                    b.messages.clone().into(),
                    b.fields.clone().into(),
                    b.filter.clone().into(),
                    created.into(),
                    i32::from(compacted).into(),
                ]
            })
            .collect();
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        ids.extend(returned_ids(rows, group.len(), "log blocks")?);
    }
    Ok(ids)
}
