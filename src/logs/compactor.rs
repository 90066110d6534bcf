//! Log compaction: a tenant's small blocks (one per committed batch, each spanning however
//! long its shipper waited) are merged, once they are a little old, into blocks that each
//! cover one time partition. A newest-first search then reads the newest partitions'
//! blocks instead of every block whose batch reached into the recent past, and bigger
//! columns deflate better.
//!
//! One round: the oldest uncompacted blocks committed before `min_age` (up to
//! `max_records` records), decoded, sorted by time (stable: equal times keep their order), cut at
//! partition boundaries and every `target_records`, encoded, and swapped for the old
//! blocks in one transaction (`Store::replace_log_blocks`), which refuses when an old
//! block is gone meanwhile (retention, another replica): nothing is lost or doubled.
//! Rounds of uncompacted blocks whose records span much time leave several small blocks
//! per partition; once no uncompacted block waits, a round merges the small compacted
//! blocks of one partition instead. Reads that find blocks gone under them start over
//! (`LogsReader::scan`).

use std::time::Duration;

use super::reader::{BlockRecord, DecodedBlock, LogReadError};
use crate::domain::logs::LogRecord;
use crate::domain::time::SharedClock;
use crate::domain::TenantId;
use crate::store::logs::{LogBlockAppend, LogColumns};
use crate::store::Store;
use crate::tsdb::log_block::{encode_block_packed, Packing};

/// What a round may take and make.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// Blocks committed more recently are left for the next round (a live tail and the
    /// alert evaluator have them already; a reader benefits little).
    pub min_age: Duration,
    /// Compacted blocks hold at most this many records.
    pub target_records: u32,
    /// Records one round reads (memory: about 1 KiB each while decoded and re-encoded).
    pub max_records: usize,
    /// Time partition: no new block spans a boundary of this length.
    pub partition: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            min_age: Duration::from_secs(30),
            target_records: 20_000,
            max_records: 50_000,
            partition: Duration::from_secs(300),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    pub blocks_read: usize,
    pub blocks_written: usize,
    pub records: usize,
}

/// Small compacted blocks looked at per partition round.
const SMALL_BLOCKS_LISTED: usize = 10_000;

/// One compaction round for `tenant`: the oldest uncompacted blocks, or when there are
/// none, the small compacted blocks of the oldest time partition that has several (a
/// round of uncompacted blocks leaves at most one small block per partition, but rounds
/// follow each other and late records arrive); `Compacted::default()` when there was
/// nothing to do or the swap was refused.
pub async fn compact_tenant(
    store: &Store,
    clock: &SharedClock,
    tenant: TenantId,
    policy: CompactionPolicy,
) -> Result<Compacted, LogReadError> {
    let committed_before = clock.now_ms() - policy.min_age.as_millis() as i64;
    let fresh = store
        .uncompacted_log_blocks(tenant, committed_before, policy.max_records)
        .await?;
    if !fresh.is_empty() {
        return merge(store, tenant, fresh.iter().map(|m| m.id).collect(), policy).await;
    }
    let partition_ns = (policy.partition.as_nanos() as i64).max(1);
    let small = store
        .small_compacted_log_blocks(tenant, policy.target_records, SMALL_BLOCKS_LISTED)
        .await?;
    // Oldest first: the first partition with two small blocks or more, as many of them
    // as one round takes.
    let mut at = 0;
    while at < small.len() {
        let partition = small[at].min_ts_ns.div_euclid(partition_ns);
        let end = at
            + small[at..]
                .iter()
                .take_while(|m| m.min_ts_ns.div_euclid(partition_ns) == partition)
                .count();
        if end - at >= 2 {
            let mut ids = Vec::new();
            let mut records = 0usize;
            for meta in &small[at..end] {
                if records + meta.record_count as usize > policy.max_records && ids.len() >= 2 {
                    break;
                }
                records += meta.record_count as usize;
                ids.push(meta.id);
            }
            return merge(store, tenant, ids, policy).await;
        }
        at = end;
    }
    Ok(Compacted::default())
}

/// Reads blocks `ids`, cuts their records into partition blocks and swaps them in.
async fn merge(
    store: &Store,
    tenant: TenantId,
    ids: Vec<i64>,
    policy: CompactionPolicy,
) -> Result<Compacted, LogReadError> {
    let all = LogColumns {
        filter: false,
        times: true,
        streams: true,
        messages: true,
        fields: true,
    };
    let mut loaded = store.log_block_columns(tenant, &ids, all).await?;
    if loaded.len() < ids.len() {
        // Some went (retention) between the two reads: next round.
        return Ok(Compacted::default());
    }
    // Block id order: equal timestamps keep the order they committed in.
    loaded.sort_by_key(|b| b.id);
    let target = policy.target_records as usize;
    let partition_ns = (policy.partition.as_nanos() as i64).max(1);
    let encoded = actix_web::rt::task::spawn_blocking(
        move || -> Result<(Vec<LogBlockAppend>, usize), LogReadError> {
            let mut records: Vec<LogRecord> = Vec::new();
            for block in loaded {
                let decoded = DecodedBlock::decode(block, all)?;
                for index in 0..decoded.timestamps.len() {
                    records.push(BlockRecord::new(&decoded, index).to_record());
                }
            }
            records.sort_by_key(|r| r.timestamp_ns);
            let total = records.len();
            let mut blocks = Vec::new();
            let mut start = 0;
            while start < records.len() {
                let partition = records[start].timestamp_ns.div_euclid(partition_ns);
                let mut end = start + 1;
                while end < records.len()
                    && end - start < target
                    && records[end].timestamp_ns.div_euclid(partition_ns) == partition
                {
                    end += 1;
                }
                if let Some(block) = encode_block_packed(&mut records[start..end], Packing::Small) {
                    blocks.push(LogBlockAppend { tenant, block });
                }
                start = end;
            }
            Ok((blocks, total))
        },
    )
    .await
    .map_err(|e| LogReadError::Failed(e.to_string()))??;
    let (blocks, records) = encoded;
    if !store.replace_log_blocks(tenant, &ids, &blocks).await? {
        return Ok(Compacted::default());
    }
    tracing::debug!(%tenant, blocks_read = ids.len(), blocks_written = blocks.len(), records, "log blocks compacted");
    Ok(Compacted {
        blocks_read: ids.len(),
        blocks_written: blocks.len(),
        records,
    })
}

/// Rounds for every tenant with logs, each tenant until a round finds nothing (at most
/// `max_rounds` per tenant, so one busy tenant cannot hold the others back for long).
pub async fn compact_all_tenants(
    store: &Store,
    clock: &SharedClock,
    policy: CompactionPolicy,
    max_rounds: usize,
) {
    let tenants = match store.tenants_with_logs().await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(error = %e, "log compaction: listing tenants failed; retried later");
            return;
        }
    };
    for tenant in tenants {
        for _ in 0..max_rounds {
            match compact_tenant(store, clock, tenant, policy).await {
                Ok(done) if done.blocks_read == 0 => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "log compaction failed; retried later");
                    break;
                }
            }
        }
    }
}
