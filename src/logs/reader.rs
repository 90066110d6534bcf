//! The log read path: search (newest or oldest first, with a stable cursor), the level
//! histogram, field names and their top values. Every read walks the tenant's blocks
//! that overlap the time range, skips those whose level set or token filter rules a
//! match out without reading them, reads only the columns the query needs, and matches
//! records one by one (off the async workers, one group of blocks at a time).

use std::cell::OnceCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::domain::logs::{
    alert_line, keep_newest_line, Level, LogRecord, MatchedGroup, MatchedWindow,
};
use crate::domain::TenantId;
use crate::error::{Classify, ErrorKind};
use crate::logquery::{BlockHints, Expr, QueryError, RecordFilter, RecordView};
use crate::store::logs::{LogBlockColumns, LogBlockMeta, LogColumns};
use crate::store::{Store, StoreError};
use crate::tsdb::log_block::{
    decode_streams, decode_texts, decode_times, filter_may_contain, LogBlockError, Stream, Texts,
};

/// How a scan ended: over every block it listed, or with some of them gone (compacted).
enum Scanned<V> {
    Whole(V, usize),
    BlocksGone(V, usize),
}

/// Scans of one read before it answers with what it has.
const MAX_SCAN_ATTEMPTS: usize = 4;

/// Records read per step at most (after the first block): a compacted block is big, and
/// a newest-first read that is done after one should not have fetched 31 more.
const RECORDS_PER_STEP: usize = 16_384;
/// Blocks read from the database and matched per step.
const BLOCKS_PER_STEP: usize = 32;
/// The most blocks one read considers (about 200 million records at 1,000 per block).
const MAX_BLOCKS: usize = 200_000;

#[derive(Debug, Clone, Copy)]
pub struct LogReaderLimits {
    /// One read's deadline.
    pub timeout: Duration,
    /// Largest page.
    pub max_limit: usize,
    /// Most histogram buckets.
    pub max_buckets: usize,
    /// Field names and values are counted over this many of the newest matching records.
    pub field_sample_records: usize,
}

impl Default for LogReaderLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_limit: 5_000,
            max_buckets: 11_000,
            field_sample_records: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogReadError {
    #[error("query: {0}")]
    Query(#[from] QueryError),
    #[error("{0}")]
    Invalid(String),
    #[error("the log query did not finish within {0:?}; narrow the time range or the query")]
    Timeout(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Corrupt(#[from] LogBlockError),
    #[error("the log read failed: {0}")]
    Failed(String),
}

impl Classify for LogReadError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Query(_) | Self::Invalid(_) => ErrorKind::InvalidInput,
            Self::Timeout(_) => ErrorKind::Unavailable,
            Self::Store(e) => e.kind(),
            Self::Corrupt(_) | Self::Failed(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Query(_) => "bad_query",
            Self::Invalid(_) => "invalid_parameter",
            Self::Timeout(_) => "timeout",
            Self::Store(e) => e.code(),
            Self::Corrupt(_) | Self::Failed(_) => "internal",
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Timeout(_) => Some(1),
            Self::Store(e) => e.retry_after_secs(),
            _ => None,
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::Store(e) => e.public_message(),
            Self::Corrupt(_) | Self::Failed(_) => {
                tracing::error!(error = %self, "log read failed");
                "the log read failed".into()
            }
            other => other.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first.
    Backward,
    /// Oldest first.
    Forward,
}

/// A record's place in the total order every read uses: time, then block, then position.
/// Blocks get increasing ids as they commit, so records that arrive later with the same
/// time sort after, and a cursor never returns a record twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    pub timestamp_ns: i64,
    pub block: i64,
    pub index: u32,
}

impl RecordKey {
    /// The cursor text: opaque to clients.
    pub fn cursor(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            "{}.{}.{}",
            self.timestamp_ns, self.block, self.index
        ))
    }

    pub fn from_cursor(text: &str) -> Result<Self, LogReadError> {
        let bad = || LogReadError::Invalid(format!("cursor {text:?} is not one this API gave"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        let plain = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = plain.split('.');
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(bad)
        };
        let (timestamp_ns, block, index) = (next()?, next()?, next()?);
        Ok(Self {
            timestamp_ns,
            block,
            index: u32::try_from(index).map_err(|_| bad())?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub limit: usize,
    pub cursor: Option<RecordKey>,
    pub direction: Direction,
}

#[derive(Debug, Clone)]
pub struct FoundRecord {
    pub key: RecordKey,
    pub record: LogRecord,
}

#[derive(Debug, Clone)]
pub struct SearchPage {
    pub records: Vec<FoundRecord>,
    /// Set when the page is full: pass it back for the next page.
    pub next_cursor: Option<String>,
    pub blocks_read: usize,
}

#[derive(Debug, Clone)]
pub struct HistogramRequest {
    pub query: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub step_ns: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub start_ns: i64,
    pub step_ns: i64,
    /// Per bucket, per level code, the count.
    pub buckets: Vec<[u64; 6]>,
    pub total: u64,
}

/// A field name or value and how many of the sampled records have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCounts {
    pub counts: Vec<Counted>,
    pub records_sampled: u64,
}

#[derive(Clone)]
pub struct LogsReader {
    store: Store,
    limits: LogReaderLimits,
}

impl LogsReader {
    pub fn new(store: Store, limits: LogReaderLimits) -> Self {
        Self { store, limits }
    }

    pub fn limits(&self) -> LogReaderLimits {
        self.limits
    }

    /// One page of records matching the query, in the asked order.
    pub async fn search(
        &self,
        tenant: TenantId,
        request: SearchRequest,
    ) -> Result<SearchPage, LogReadError> {
        let expr = Expr::parse(&request.query)?;
        self.search_with(tenant, Arc::new(expr), request).await
    }

    /// [`LogsReader::search`] with a query already parsed (LogQL's, for the Loki API);
    /// `request.query` is not read.
    pub async fn search_with(
        &self,
        tenant: TenantId,
        expr: Arc<dyn RecordFilter>,
        request: SearchRequest,
    ) -> Result<SearchPage, LogReadError> {
        let limit = request.limit.clamp(1, self.limits.max_limit);
        let (mut start, mut end) = (request.start_ns, request.end_ns);
        if let Some(cursor) = request.cursor {
            match request.direction {
                Direction::Backward => end = end.min(cursor.timestamp_ns),
                Direction::Forward => start = start.max(cursor.timestamp_ns),
            }
        }
        let visitor = TopRecords {
            limit,
            direction: request.direction,
            cursor: request.cursor,
            start_ns: start,
            end_ns: end,
            backward: BinaryHeap::new(),
            forward: BinaryHeap::new(),
        };
        let columns = LogColumns {
            filter: false,
            times: true,
            streams: true,
            messages: true,
            fields: true,
        };
        let (visitor, blocks_read) = self
            .scan(
                tenant,
                expr,
                start,
                end,
                request.direction,
                columns,
                visitor,
            )
            .await?;
        let mut records: Vec<FoundRecord> = match request.direction {
            Direction::Backward => visitor
                .backward
                .into_iter()
                .map(|Reverse(hit)| hit.into())
                .collect(),
            Direction::Forward => visitor.forward.into_iter().map(FoundRecord::from).collect(),
        };
        records.sort_by_key(|r| r.key);
        if request.direction == Direction::Backward {
            records.reverse();
        }
        let next_cursor = (records.len() == limit)
            .then(|| records.last().map(|r| r.key.cursor()))
            .flatten();
        Ok(SearchPage {
            records,
            next_cursor,
            blocks_read,
        })
    }

    /// Matching records counted per step and level over `[start, end)`.
    pub async fn histogram(
        &self,
        tenant: TenantId,
        request: HistogramRequest,
    ) -> Result<Histogram, LogReadError> {
        let expr = Expr::parse(&request.query)?;
        if request.step_ns <= 0 {
            return Err(LogReadError::Invalid("step must be positive".into()));
        }
        let span = request.end_ns.saturating_sub(request.start_ns).max(0);
        let buckets =
            (span / request.step_ns + i64::from(span % request.step_ns != 0)).max(1) as usize;
        if buckets > self.limits.max_buckets {
            return Err(LogReadError::Invalid(format!(
                "{buckets} buckets; at most {} are allowed: make the step longer or the range shorter",
                self.limits.max_buckets
            )));
        }
        let hints = expr.block_hints();
        let visitor = Buckets {
            histogram: Histogram {
                start_ns: request.start_ns,
                step_ns: request.step_ns,
                buckets: vec![[0; 6]; buckets],
                total: 0,
            },
            end_ns: request.end_ns,
        };
        let columns = LogColumns {
            filter: false,
            times: true,
            streams: hints.needs_streams,
            messages: hints.needs_messages,
            fields: hints.needs_fields,
        };
        let (visitor, _) = self
            .scan(
                tenant,
                Arc::new(expr),
                request.start_ns,
                request.end_ns.saturating_sub(1),
                Direction::Backward,
                columns,
                visitor,
            )
            .await?;
        Ok(visitor.histogram)
    }

    /// The records of `[start, end]` matching a log rule's query, per group of the
    /// `group_by` names, counted per second with the newest `lines` of each group: a log
    /// rule's window, rebuilt from the store.
    pub async fn matched_window(
        &self,
        tenant: TenantId,
        query: &str,
        group_by: Vec<String>,
        start_ns: i64,
        end_ns: i64,
        lines: usize,
    ) -> Result<MatchedWindow, LogReadError> {
        let expr = Expr::parse(query)?;
        let hints = expr.block_hints();
        let visitor = WindowGroups {
            group_by,
            lines,
            start_ns,
            end_ns,
            groups: HashMap::new(),
            blocks: Vec::new(),
        };
        let columns = LogColumns {
            filter: false,
            times: true,
            streams: true,
            // The lines are messages; the fields are read when the query or a group needs them.
            messages: true,
            fields: hints.needs_fields || !visitor.group_by.is_empty(),
        };
        let (visitor, _) = self
            .scan(
                tenant,
                Arc::new(expr),
                start_ns,
                end_ns,
                Direction::Backward,
                columns,
                visitor,
            )
            .await?;
        let mut blocks = visitor.blocks;
        blocks.sort_unstable();
        blocks.dedup();
        Ok(MatchedWindow {
            groups: visitor
                .groups
                .into_iter()
                .map(|(group, matched)| MatchedGroup { group, ..matched })
                .collect(),
            blocks,
        })
    }

    /// Field names (labels, fields and the built-in `level`, `service`, `host`) of the
    /// newest matching records, most common first.
    pub async fn field_names(
        &self,
        tenant: TenantId,
        query: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<FieldCounts, LogReadError> {
        self.sample_fields(tenant, query, start_ns, end_ns, None)
            .await
    }

    /// The values of one field among the newest matching records, most common first.
    pub async fn field_values(
        &self,
        tenant: TenantId,
        name: &str,
        query: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<FieldCounts, LogReadError> {
        self.sample_fields(tenant, query, start_ns, end_ns, Some(name.to_owned()))
            .await
    }

    async fn sample_fields(
        &self,
        tenant: TenantId,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        values_of: Option<String>,
    ) -> Result<FieldCounts, LogReadError> {
        let expr = Expr::parse(query)?;
        let visitor = FieldSample {
            values_of,
            counts: HashMap::new(),
            sampled: 0,
            max: self.limits.field_sample_records as u64,
        };
        let columns = LogColumns {
            filter: false,
            times: true,
            streams: true,
            messages: false,
            fields: true,
        };
        // The message column is read only when the query searches words.
        let columns = LogColumns {
            messages: expr.block_hints().needs_messages,
            ..columns
        };
        let (visitor, _) = self
            .scan(
                tenant,
                Arc::new(expr),
                start_ns,
                end_ns,
                Direction::Backward,
                columns,
                visitor,
            )
            .await?;
        let mut counts: Vec<Counted> = visitor
            .counts
            .into_iter()
            .map(|(name, count)| Counted { name, count })
            .collect();
        counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        Ok(FieldCounts {
            counts,
            records_sampled: visitor.sampled,
        })
    }

    /// Walks the blocks overlapping `[start, end]` in `direction`, skipping what cannot
    /// match, and hands every matching record to the visitor until it is done.
    ///
    /// Blocks compacted while a scan runs disappear from under it (their records move to
    /// a new block, in the same transaction): a scan that finds blocks gone starts over,
    /// so it never answers with records missing or counted twice.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn scan<V: Visitor>(
        &self,
        tenant: TenantId,
        expr: Arc<dyn RecordFilter>,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        columns: LogColumns,
        visitor: V,
    ) -> Result<(V, usize), LogReadError> {
        let deadline = Instant::now() + self.limits.timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let scanned = self
                .scan_once(
                    tenant,
                    expr.clone(),
                    start_ns,
                    end_ns,
                    direction,
                    columns,
                    visitor.clone(),
                    deadline,
                )
                .await?;
            match scanned {
                Scanned::Whole(visitor, read) => return Ok((visitor, read)),
                Scanned::BlocksGone(visitor, read) if attempt >= MAX_SCAN_ATTEMPTS => {
                    tracing::warn!(%tenant, "log blocks kept changing under a read; answered with the last attempt");
                    return Ok((visitor, read));
                }
                Scanned::BlocksGone(..) => continue,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn scan_once<V: Visitor>(
        &self,
        tenant: TenantId,
        expr: Arc<dyn RecordFilter>,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        columns: LogColumns,
        mut visitor: V,
        deadline: Instant,
    ) -> Result<Scanned<V>, LogReadError> {
        let mut gone = false;
        let hints = expr.block_hints();
        let mut metas = self
            .store
            .log_block_metas(tenant, start_ns, end_ns, MAX_BLOCKS)
            .await?;
        metas.retain(|m| m.level_mask & hints.level_mask != 0);
        if direction == Direction::Forward {
            metas.sort_by_key(|m| (m.min_ts_ns, m.id));
        }
        let mut read = 0usize;
        let mut at = 0usize;
        while at < metas.len() && !visitor.done() {
            if Instant::now() > deadline {
                return Err(LogReadError::Timeout(self.limits.timeout));
            }
            let mut step: Vec<LogBlockMeta> = Vec::with_capacity(BLOCKS_PER_STEP);
            let mut step_records = 0usize;
            while at < metas.len()
                && step.len() < BLOCKS_PER_STEP
                && step_records < RECORDS_PER_STEP
            {
                if visitor.wants(&metas[at]) {
                    step_records += metas[at].record_count as usize;
                    step.push(metas[at]);
                } else if visitor.ordered_stop() {
                    // Blocks come in the visitor's order: none after this one can help.
                    at = metas.len();
                    break;
                }
                at += 1;
            }
            if step.is_empty() {
                continue;
            }
            let (ids, vanished) = self.candidates(tenant, &step, &hints).await?;
            if vanished {
                gone = true;
                break;
            }
            if ids.is_empty() {
                continue;
            }
            let loaded = self.store.log_block_columns(tenant, &ids, columns).await?;
            if loaded.len() < ids.len() {
                gone = true;
                break;
            }
            read += loaded.len();
            let expr = expr.clone();
            visitor = actix_web::rt::task::spawn_blocking(move || -> Result<V, LogReadError> {
                for block in loaded {
                    let decoded = DecodedBlock::decode(block, columns)?;
                    for index in 0..decoded.timestamps.len() {
                        let view = BlockRecord::new(&decoded, index);
                        if expr.matches(&view) {
                            visitor.visit(&view);
                        }
                    }
                }
                Ok(visitor)
            })
            .await
            .map_err(|e| LogReadError::Failed(e.to_string()))??;
        }
        Ok(if gone {
            Scanned::BlocksGone(visitor, read)
        } else {
            Scanned::Whole(visitor, read)
        })
    }

    /// The ids of the blocks whose token filter allows every word and pair the query
    /// requires (all of them when it requires none), and whether some block was gone.
    async fn candidates(
        &self,
        tenant: TenantId,
        step: &[LogBlockMeta],
        hints: &BlockHints,
    ) -> Result<(Vec<i64>, bool), LogReadError> {
        let ids: Vec<i64> = step.iter().map(|m| m.id).collect();
        if hints.required.is_empty() {
            return Ok((ids, false));
        }
        let filters = self
            .store
            .log_block_columns(
                tenant,
                &ids,
                LogColumns {
                    filter: true,
                    ..LogColumns::default()
                },
            )
            .await?;
        let vanished = filters.len() < ids.len();
        let kept = filters
            .into_iter()
            .filter(|b| {
                hints
                    .required
                    .iter()
                    .all(|&h| filter_may_contain(&b.filter, h))
            })
            .map(|b| b.id)
            .collect();
        Ok((kept, vanished))
    }
}

/// A block's columns, decoded as far as a read needs them.
pub struct DecodedBlock {
    pub id: i64,
    pub timestamps: Vec<i64>,
    pub levels: Vec<Level>,
    streams: Vec<Stream>,
    stream_refs: Vec<u32>,
    messages: Option<Texts>,
    fields: Option<Texts>,
}

static NO_STREAM: std::sync::LazyLock<Stream> = std::sync::LazyLock::new(|| Stream {
    service: String::new(),
    host: String::new(),
    labels: BTreeMap::new(),
});

impl DecodedBlock {
    pub(crate) fn decode(
        columns: LogBlockColumns,
        wanted: LogColumns,
    ) -> Result<Self, LogReadError> {
        let (timestamps, levels) = decode_times(&columns.times)?;
        let (streams, stream_refs) = if wanted.streams {
            decode_streams(&columns.streams)?
        } else {
            (Vec::new(), Vec::new())
        };
        let messages = wanted
            .messages
            .then(|| decode_texts(&columns.messages, "messages"))
            .transpose()?;
        let fields = wanted
            .fields
            .then(|| decode_texts(&columns.fields, "fields"))
            .transpose()?;
        let count = timestamps.len();
        let consistent = levels.len() == count
            && (!wanted.streams || stream_refs.len() == count)
            && messages.as_ref().is_none_or(|m| m.len() == count)
            && fields.as_ref().is_none_or(|f| f.len() == count);
        if !consistent {
            return Err(LogBlockError::Corrupt("column lengths").into());
        }
        Ok(Self {
            id: columns.id,
            timestamps,
            levels,
            streams,
            stream_refs,
            messages,
            fields,
        })
    }
}

/// One record of a decoded block, as the query language sees it; fields are parsed
/// from their JSON text only when a term asks for one.
pub(crate) struct BlockRecord<'a> {
    block: &'a DecodedBlock,
    index: usize,
    fields: OnceCell<BTreeMap<String, Value>>,
}

impl<'a> BlockRecord<'a> {
    pub(crate) fn new(block: &'a DecodedBlock, index: usize) -> Self {
        Self {
            block,
            index,
            fields: OnceCell::new(),
        }
    }

    pub(crate) fn stream_index(&self) -> u32 {
        self.block.stream_refs.get(self.index).copied().unwrap_or(0)
    }

    pub(crate) fn stream(&self) -> &Stream {
        self.block
            .stream_refs
            .get(self.index)
            .and_then(|&i| self.block.streams.get(i as usize))
            .unwrap_or(&NO_STREAM)
    }

    fn parsed_fields(&self) -> &BTreeMap<String, Value> {
        self.fields.get_or_init(|| {
            let text = self.block.fields.as_ref().map_or("", |f| f.get(self.index));
            if text.is_empty() {
                BTreeMap::new()
            } else {
                serde_json::from_str(text).unwrap_or_default()
            }
        })
    }

    pub fn key(&self) -> RecordKey {
        RecordKey {
            timestamp_ns: self.block.timestamps[self.index],
            block: self.block.id,
            index: self.index as u32,
        }
    }

    pub fn to_record(&self) -> LogRecord {
        let stream = self.stream();
        LogRecord {
            timestamp_ns: self.block.timestamps[self.index],
            level: self.block.levels[self.index],
            service: stream.service.clone(),
            host: stream.host.clone(),
            message: self.message().to_owned(),
            labels: stream.labels.clone(),
            fields: self.parsed_fields().clone(),
        }
    }
}

impl RecordView for BlockRecord<'_> {
    fn level(&self) -> Level {
        self.block.levels[self.index]
    }
    fn service(&self) -> &str {
        &self.stream().service
    }
    fn host(&self) -> &str {
        &self.stream().host
    }
    fn message(&self) -> &str {
        self.block
            .messages
            .as_ref()
            .map_or("", |m| m.get(self.index))
    }
    fn labels(&self) -> &BTreeMap<String, String> {
        &self.stream().labels
    }
    fn fields(&self) -> &BTreeMap<String, Value> {
        self.parsed_fields()
    }
}

/// What a read does with the matching records it is handed.
/// Cloned once before a scan starts (an empty visitor: cheap), so that a scan that finds
/// blocks gone under it (compacted meanwhile) starts over with a fresh one.
pub(crate) trait Visitor: Send + Clone + 'static {
    /// Whether this block can still contribute.
    fn wants(&self, block: &LogBlockMeta) -> bool;
    /// Whether a block this visitor does not want means no later one is wanted either.
    fn ordered_stop(&self) -> bool {
        false
    }
    fn done(&self) -> bool {
        false
    }
    fn visit(&mut self, record: &BlockRecord<'_>);
}

#[derive(Clone)]
struct Hit {
    key: RecordKey,
    record: LogRecord,
}

impl From<Hit> for FoundRecord {
    fn from(hit: Hit) -> Self {
        FoundRecord {
            key: hit.key,
            record: hit.record,
        }
    }
}

impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Hit {}
impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Hit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// Keeps the `limit` first records in the read's order past the cursor.
#[derive(Clone)]
struct TopRecords {
    limit: usize,
    direction: Direction,
    cursor: Option<RecordKey>,
    start_ns: i64,
    end_ns: i64,
    /// Newest first: a min-heap of the newest seen, its top the oldest kept.
    backward: BinaryHeap<Reverse<Hit>>,
    /// Oldest first: a max-heap of the oldest seen, its top the newest kept.
    forward: BinaryHeap<Hit>,
}

impl TopRecords {
    fn full(&self) -> bool {
        self.backward.len() + self.forward.len() >= self.limit
    }
}

impl Visitor for TopRecords {
    fn wants(&self, block: &LogBlockMeta) -> bool {
        if !self.full() {
            return true;
        }
        match self.direction {
            Direction::Backward => self
                .backward
                .peek()
                .is_none_or(|Reverse(worst)| block.max_ts_ns >= worst.key.timestamp_ns),
            Direction::Forward => self
                .forward
                .peek()
                .is_none_or(|worst| block.min_ts_ns <= worst.key.timestamp_ns),
        }
    }

    fn ordered_stop(&self) -> bool {
        true
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        let key = record.key();
        if key.timestamp_ns < self.start_ns || key.timestamp_ns > self.end_ns {
            return;
        }
        match (self.direction, self.cursor) {
            (Direction::Backward, Some(cursor)) if key >= cursor => return,
            (Direction::Forward, Some(cursor)) if key <= cursor => return,
            _ => {}
        }
        match self.direction {
            Direction::Backward => {
                if self.full() {
                    match self.backward.peek() {
                        Some(Reverse(worst)) if key > worst.key => {
                            self.backward.pop();
                        }
                        _ => return,
                    }
                }
                self.backward.push(Reverse(Hit {
                    key,
                    record: record.to_record(),
                }));
            }
            Direction::Forward => {
                if self.full() {
                    match self.forward.peek() {
                        Some(worst) if key < worst.key => {
                            self.forward.pop();
                        }
                        _ => return,
                    }
                }
                self.forward.push(Hit {
                    key,
                    record: record.to_record(),
                });
            }
        }
    }
}

#[derive(Clone)]
struct Buckets {
    histogram: Histogram,
    end_ns: i64,
}

impl Visitor for Buckets {
    fn wants(&self, _: &LogBlockMeta) -> bool {
        true
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        let ts = record.block.timestamps[record.index];
        let h = &mut self.histogram;
        if ts < h.start_ns || ts >= self.end_ns {
            return;
        }
        let bucket = ((ts - h.start_ns) / h.step_ns) as usize;
        if let Some(counts) = h.buckets.get_mut(bucket) {
            counts[record.level().code() as usize] += 1;
            h.total += 1;
        }
    }
}

/// A log rule's window: matching records per group and second, and each group's newest
/// lines.
#[derive(Clone)]
struct WindowGroups {
    group_by: Vec<String>,
    lines: usize,
    start_ns: i64,
    end_ns: i64,
    groups: HashMap<BTreeMap<String, String>, MatchedGroup>,
    blocks: Vec<i64>,
}

impl Visitor for WindowGroups {
    fn wants(&self, _: &LogBlockMeta) -> bool {
        true
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        let ts = record.block.timestamps[record.index];
        if ts < self.start_ns || ts > self.end_ns {
            return;
        }
        if self.blocks.last() != Some(&record.block.id) {
            self.blocks.push(record.block.id);
        }
        // The group is the map's key; `MatchedGroup::group` is filled in at the end.
        let matched = self
            .groups
            .entry(crate::logquery::group_of(record, &self.group_by))
            .or_default();
        let ms = ts.div_euclid(1_000_000);
        *matched
            .per_second
            .entry(ms - ms.rem_euclid(1_000))
            .or_default() += 1;
        keep_newest_line(&mut matched.newest, self.lines, ms, || {
            alert_line(ts, record.level(), record.message())
        });
    }
}

/// Counts field names (or one field's values) over the newest matching records.
#[derive(Clone)]
struct FieldSample {
    values_of: Option<String>,
    counts: HashMap<String, u64>,
    sampled: u64,
    max: u64,
}

impl FieldSample {
    fn count(&mut self, name: &str) {
        match self.counts.get_mut(name) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(name.to_owned(), 1);
            }
        }
    }
}

impl Visitor for FieldSample {
    fn wants(&self, _: &LogBlockMeta) -> bool {
        true
    }

    fn done(&self) -> bool {
        self.sampled >= self.max
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        if self.sampled >= self.max {
            return;
        }
        self.sampled += 1;
        match self.values_of.clone() {
            None => {
                self.count("level");
                if !record.service().is_empty() {
                    self.count("service");
                }
                if !record.host().is_empty() {
                    self.count("host");
                }
                for name in record.stream().labels.keys() {
                    self.count(name);
                }
                for name in record.parsed_fields().keys() {
                    self.count(name);
                }
            }
            Some(name) => {
                if let Some(value) = crate::logquery::named_value(record, &name) {
                    self.count(&value);
                }
            }
        }
    }
}
