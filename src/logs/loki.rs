//! The reads behind Loki's query API: LogQL log queries as streams, metric queries as
//! series, and the streams (label sets) a time range holds.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::reader::{BlockRecord, Visitor};
use super::{Direction, LogReadError, LogsReader, SearchRequest};
use crate::domain::TenantId;
use crate::logquery::logql::{self, LogQuery, MetricExpr, MetricSeries, SeriesPoints};
use crate::logquery::{BlockHints, RecordFilter, RecordView};
use crate::store::logs::{LogBlockMeta, LogColumns};

/// The most records one metric query counts; more is refused (narrow the range).
const MAX_METRIC_RECORDS: usize = 5_000_000;

/// One Loki stream of a log query's answer: its labels and its lines (ns, line), in the
/// asked order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LokiStream {
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<(i64, String)>,
}

/// Index figures for `/loki/api/v1/index/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub streams: u64,
    pub chunks: u64,
    pub entries: u64,
    pub bytes: u64,
}

impl LogsReader {
    /// A LogQL log query's newest (or oldest) `limit` lines, grouped into streams.
    pub async fn loki_streams(
        &self,
        tenant: TenantId,
        query: Arc<LogQuery>,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Vec<LokiStream>, LogReadError> {
        let page = self
            .search_with(
                tenant,
                query.clone(),
                SearchRequest {
                    query: String::new(),
                    start_ns,
                    end_ns,
                    limit,
                    cursor: None,
                    direction,
                },
            )
            .await?;
        let mut streams: BTreeMap<BTreeMap<String, String>, Vec<(i64, String)>> = BTreeMap::new();
        for found in page.records {
            if let Some(processed) = query.process(&found.record) {
                streams
                    .entry(processed.labels)
                    .or_default()
                    .push((found.record.timestamp_ns, processed.line));
            }
        }
        Ok(streams
            .into_iter()
            .map(|(labels, entries)| LokiStream { labels, entries })
            .collect())
    }

    /// A LogQL metric query evaluated at `start, start+step, …, ≤ end`.
    pub async fn loki_metric(
        &self,
        tenant: TenantId,
        expr: &MetricExpr,
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
    ) -> Result<MetricSeries, LogReadError> {
        let (query, range_ns) = expr.log_query();
        let query = Arc::new(query.clone());
        let visitor = MetricPoints {
            query: query.clone(),
            series: HashMap::new(),
            points: Vec::new(),
            records: 0,
            from_ns: start_ns.saturating_sub(range_ns),
            to_ns: end_ns,
        };
        let columns = LogColumns {
            filter: false,
            times: true,
            streams: true,
            messages: true,
            fields: query.block_hints().needs_fields,
        };
        let (visitor, _) = self
            .scan(
                tenant,
                Arc::new(Selector(query)),
                start_ns.saturating_sub(range_ns),
                end_ns,
                Direction::Backward,
                columns,
                visitor,
            )
            .await?;
        if visitor.records > MAX_METRIC_RECORDS {
            return Err(LogReadError::Invalid(format!(
                "the query counts more than {MAX_METRIC_RECORDS} records; narrow the range or the selector"
            )));
        }
        let mut points = visitor.points;
        for series in &mut points {
            series.points.sort_unstable();
        }
        Ok(logql::evaluate(expr, &points, start_ns, end_ns, step_ns))
    }

    /// The distinct stream label sets (as Loki shows them: with `service_name` and
    /// `host`) of the blocks overlapping the range, optionally only those a selector
    /// matches.
    pub async fn loki_label_sets(
        &self,
        tenant: TenantId,
        selector: Option<Arc<LogQuery>>,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<BTreeSet<BTreeMap<String, String>>, LogReadError> {
        let filter: Arc<dyn RecordFilter> = match selector {
            Some(query) => Arc::new(Selector(query)),
            None => Arc::new(crate::logquery::Expr::All),
        };
        let visitor = LabelSets {
            sets: BTreeSet::new(),
            seen: HashSet::new(),
        };
        let columns = LogColumns {
            times: true,
            streams: true,
            ..LogColumns::default()
        };
        let (visitor, _) = self
            .scan(
                tenant,
                filter,
                start_ns,
                end_ns,
                Direction::Backward,
                columns,
                visitor,
            )
            .await?;
        Ok(visitor.sets)
    }

    /// Streams, blocks, records and bytes a selector covers in the range.
    pub async fn loki_index_stats(
        &self,
        tenant: TenantId,
        query: Arc<LogQuery>,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<IndexStats, LogReadError> {
        let visitor = Stats {
            stats: IndexStats::default(),
            streams: BTreeSet::new(),
            blocks: BTreeSet::new(),
            seen: HashSet::new(),
        };
        let columns = LogColumns {
            times: true,
            streams: true,
            messages: true,
            ..LogColumns::default()
        };
        let (visitor, _) = self
            .scan(
                tenant,
                Arc::new(Selector(query)),
                start_ns,
                end_ns,
                Direction::Backward,
                columns,
                visitor,
            )
            .await?;
        let mut stats = visitor.stats;
        stats.streams = visitor.streams.len() as u64;
        stats.chunks = visitor.blocks.len() as u64;
        Ok(stats)
    }
}

/// Only a LogQL query's stream selector (and its block hints): the visitor runs the rest
/// of the pipeline itself, once.
struct Selector(Arc<LogQuery>);

impl RecordFilter for Selector {
    fn matches(&self, record: &dyn RecordView) -> bool {
        self.0.selects(record)
    }

    fn block_hints(&self) -> BlockHints {
        self.0.block_hints()
    }
}

#[derive(Clone)]
struct MetricPoints {
    query: Arc<LogQuery>,
    series: HashMap<BTreeMap<String, String>, usize>,
    points: Vec<SeriesPoints>,
    records: usize,
    from_ns: i64,
    to_ns: i64,
}

impl Visitor for MetricPoints {
    fn wants(&self, _: &LogBlockMeta) -> bool {
        true
    }

    fn done(&self) -> bool {
        self.records > MAX_METRIC_RECORDS
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        let ts = record.key().timestamp_ns;
        if ts <= self.from_ns || ts > self.to_ns {
            return;
        }
        let Some(processed) = self.query.process(record) else {
            return;
        };
        self.records += 1;
        let next = self.points.len();
        let index = *self.series.entry(processed.labels.clone()).or_insert(next);
        if index == next {
            self.points.push(SeriesPoints {
                labels: processed.labels,
                points: Vec::new(),
            });
        }
        self.points[index]
            .points
            .push((ts, processed.line.len() as u64));
    }
}

#[derive(Clone)]
struct LabelSets {
    sets: BTreeSet<BTreeMap<String, String>>,
    /// Streams already seen, by block and stream index, so each is built once per block.
    seen: HashSet<(i64, u32)>,
}

impl Visitor for LabelSets {
    fn wants(&self, _: &LogBlockMeta) -> bool {
        true
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        let key = (record.key().block, record.stream_index());
        if self.seen.insert(key) {
            self.sets.insert(logql::stream_labels(record));
        }
    }
}

#[derive(Clone)]
struct Stats {
    stats: IndexStats,
    streams: BTreeSet<BTreeMap<String, String>>,
    blocks: BTreeSet<i64>,
    seen: HashSet<(i64, u32)>,
}

impl Visitor for Stats {
    fn wants(&self, _: &LogBlockMeta) -> bool {
        true
    }

    fn visit(&mut self, record: &BlockRecord<'_>) {
        self.stats.entries += 1;
        self.stats.bytes += record.message().len() as u64;
        let block = record.key().block;
        self.blocks.insert(block);
        if self.seen.insert((block, record.stream_index())) {
            self.streams.insert(logql::stream_labels(record));
        }
    }
}
