//! InfluxDB line protocol (v1 and v2 share the wire format):
//! `measurement[,tag=value…] field=value[,field=value…] [timestamp]`, one point a line.
//!
//! Mapping: field `f` of measurement `m` becomes metric `m_f`, a field named `value`
//! becomes `m`; tags become labels; floats, integers (`12i`), unsigned (`12u`) and
//! booleans (`t`/`true`… → 1, `f`/`false`… → 0) are samples; string fields are refused.
//! Timestamps are in [`Precision`] units, optional (absent → server time). `#` comments
//! and blank lines are skipped; CRLF is accepted. Origins are `line N`, 1-based over all
//! physical lines.
//!
//! Names are kept as sent, not sanitised as Prometheus' influx adapters do: a measurement
//! `cpu.load` or a tag `data-center` reaches `validate_batch`, which rejects it naming the
//! line, so clients learn their names are invalid instead of finding them renamed.
//!
//! Escaping: in measurements `\,` `\ ` and `\\`; in tag keys, tag values and field keys
//! also `\=`; in string fields `\"` and `\\`. A backslash before any other character is
//! a literal backslash.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use smallvec::SmallVec;

use super::{BatchBuilder, DecodeContext, IngestError};
use crate::domain::metrics::{Label, Labels, MetricBatch, Origin, Sample, METRIC_NAME_LABEL};
use crate::domain::TenantId;
use crate::ingest::{Decoder, DecoderMemory, RequestHead};

/// Unit of line protocol timestamps, from the `precision` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// Parses a v2 `precision` (`ns`, `us`, `ms`, `s`) or a v1 one (`n`, `u`, `ms`, `s`,
    /// `m`, `h`).
    pub fn parse(text: &str) -> Result<Self, IngestError> {
        match text {
            "ns" | "n" => Ok(Self::Nanoseconds),
            "us" | "u" | "µ" | "µs" => Ok(Self::Microseconds),
            "ms" => Ok(Self::Milliseconds),
            "s" => Ok(Self::Seconds),
            "m" => Ok(Self::Minutes),
            "h" => Ok(Self::Hours),
            other => Err(IngestError::malformed(format!(
                "precision {other:?} is not one of ns, us, ms, s (or v1's n, u, m, h)"
            ))),
        }
    }

    /// A timestamp in this unit as Unix ms, rounding down; `None` if out of range.
    pub fn to_ms(self, timestamp: i64) -> Option<i64> {
        match self {
            Self::Nanoseconds => Some(timestamp.div_euclid(1_000_000)),
            Self::Microseconds => Some(timestamp.div_euclid(1_000)),
            Self::Milliseconds => Some(timestamp),
            Self::Seconds => timestamp.checked_mul(1_000),
            Self::Minutes => timestamp.checked_mul(60_000),
            Self::Hours => timestamp.checked_mul(3_600_000),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Self::Nanoseconds => "ns",
            Self::Microseconds => "us",
            Self::Milliseconds => "ms",
            Self::Seconds => "s",
            Self::Minutes => "m",
            Self::Hours => "h",
        }
    }
}

/// Decodes `text/plain` line protocol bodies, with the request's `precision`.
#[derive(Clone, Default)]
pub struct InfluxDecoder {
    pub precision: Precision,
    /// Label sets of series keys seen before, shared by every request.
    series_labels: Arc<SeriesLabelMemo>,
}

impl InfluxDecoder {
    /// A decoder with its own (empty) memo: tests, fuzzing, one-off decoding.
    pub fn with_precision(precision: Precision) -> Self {
        Self {
            precision,
            series_labels: Arc::default(),
        }
    }
}

const MEASUREMENT_ESCAPES: &[char] = &[',', ' ', '\\'];
const KEY_ESCAPES: &[char] = &[',', '=', ' ', '\\'];
const SHAPE: &str =
    "lines look like measurement[,tag=value…] field=value[,field=value…] [timestamp]";

impl Decoder for InfluxDecoder {
    type Batch = MetricBatch;

    /// Any `Content-Type` (agents send `text/plain` or nothing); `precision` from the query
    /// string (`ns` when absent).
    fn for_request(head: &RequestHead<'_>, memory: &DecoderMemory) -> Result<Self, IngestError> {
        let precision = form_urlencoded::parse(head.query.as_bytes())
            .filter(|(name, _)| name == "precision")
            .last()
            .map(|(_, value)| Precision::parse(&value))
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            precision,
            series_labels: memory.series_labels.clone(),
        })
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<MetricBatch, IngestError> {
        let text = std::str::from_utf8(body).map_err(|e| {
            let line = 1 + body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            IngestError::malformed(format!("line {line}: the text is not valid UTF-8"))
        })?;
        let b = text.as_bytes();
        // About one series per line (more with several fields, fewer with comments).
        let lines = b.iter().filter(|&&c| c == b'\n').count() + 1;
        let mut batch = BatchBuilder::with_capacity(ctx, lines);
        SERIES_MEMO.with(|memo| {
            let mut memo = memo.borrow_mut();
            memo.clear();
            let decoded = decode_lines(text, ctx, self, &mut batch, &mut memo);
            memo.clear();
            decoded
        })?;
        batch.finish()
    }
}

/// Decodes every line of `text` into `batch`.
fn decode_lines(
    text: &str,
    ctx: &DecodeContext,
    decoder: &InfluxDecoder,
    batch: &mut BatchBuilder,
    seen_series: &mut SeriesMemo,
) -> Result<(), IngestError> {
    let b = text.as_bytes();
    let mut pos = 0;
    let mut line_no = 1;
    while pos < b.len() && !batch.is_full() {
        let start = skip_blanks(b, pos);
        // Lines this point covered: one, unless a quoted string ran past a newline (only
        // a refused line can hold a string, so only those are counted).
        let mut lines = 1;
        let end = if start >= b.len() || is_eol(b, start) || b[start] == b'#' {
            next_newline(b, start)
        } else {
            match parse_line(text, start, decoder.precision) {
                Ok((point, end)) => {
                    let timestamp_ms = point.timestamp_ms.unwrap_or(ctx.now_ms);
                    for (field, value) in point.fields.iter() {
                        let labels = match field {
                            // Agents send a series several times per body (one line per
                            // scrape or per field set): build its label set once.
                            Cow::Borrowed(field) => {
                                let key = point.series_key;
                                let known = &decoder.series_labels;
                                let hash = known.hash(ctx.tenant, key, field);
                                seen_series.labels(text, key, field, hash, || {
                                    known.labels(ctx.tenant, key, field, hash, || {
                                        point.labels_for(field)
                                    })
                                })
                            }
                            Cow::Owned(field) => point.labels_for(field),
                        };
                        batch.push(
                            labels,
                            Sample {
                                timestamp_ms,
                                value: *value,
                            },
                            Origin::Line(line_no),
                        )?;
                    }
                    next_newline(b, end)
                }
                Err((problem, at)) => {
                    batch.error(format!("line {line_no}: {problem}"));
                    let end = next_newline(b, at);
                    lines += b[pos..end].iter().filter(|&&c| c == b'\n').count();
                    end
                }
            }
        };
        line_no += lines;
        pos = end + 1;
    }
    Ok(())
}

/// Label sets already built for this body, by series key and field, so a series sent
/// several times in one body (one line per scrape, or per field set) is built once. Keys
/// are offsets into the body, so one memo per thread is reused, emptied, for every body
/// instead of a fresh table per request.
#[derive(Default)]
struct SeriesMemo {
    /// Indexes into `entries`, by [`SeriesLabelMemo::hash`] of key and field.
    table: hashbrown::HashTable<u32>,
    /// That hash, (series key, field) as byte ranges of the body, and their labels.
    entries: Vec<(u64, Range<usize>, Range<usize>, Labels)>,
}

thread_local! {
    static SERIES_MEMO: RefCell<SeriesMemo> = RefCell::new(SeriesMemo::default());
}

impl SeriesMemo {
    /// Entries kept between bodies; a rare huge body does not pin its memory.
    const KEEP_ENTRIES: usize = 1 << 16;

    fn clear(&mut self) {
        self.table.clear();
        self.entries.clear();
        if self.entries.capacity() > Self::KEEP_ENTRIES {
            *self = Self::default();
        }
    }

    /// The labels for `key` and `field` (both slices of `text`, hashing to `hash`),
    /// built by `build` the first time.
    fn labels(
        &mut self,
        text: &str,
        key: &str,
        field: &str,
        hash: u64,
        build: impl FnOnce() -> Labels,
    ) -> Labels {
        let Self { table, entries } = self;
        let range_of = |part: &str| {
            let start = part.as_ptr() as usize - text.as_ptr() as usize;
            start..start + part.len()
        };
        let entry = table.entry(
            hash,
            |&at| {
                let (_, k, f, _) = &entries[at as usize];
                &text[k.clone()] == key && &text[f.clone()] == field
            },
            |&at| entries[at as usize].0,
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(found) => {
                entries[*found.get() as usize].3.clone()
            }
            hashbrown::hash_table::Entry::Vacant(slot) => {
                slot.insert(entries.len() as u32);
                let labels = build();
                entries.push((hash, range_of(key), range_of(field), labels.clone()));
                labels
            }
        }
    }
}

/// Label sets built from series keys, kept across requests and shared by every worker
/// thread (one per process, in [`DecoderMemory`], built at start). Agents send the same series every few seconds, so nearly every line finds its
/// labels here instead of building them (six strings, a list and its `Arc`), and every
/// request then carries the very label-set allocation the aggregator's series index holds,
/// which that index compares by address instead of string by string. Only a memo: an entry
/// is a pure function of its key, and a lost entry costs one rebuild. Entries are filed
/// per tenant, so no tenant's request runs faster because another sent the same series.
pub struct SeriesLabelMemo {
    shards: Box<[Mutex<hashbrown::HashTable<KnownSeriesEntry>>]>,
    hasher: foldhash::fast::RandomState,
}

/// A tenant's series key as written and a field name (stored as one string), with their
/// hash and labels.
struct KnownSeriesEntry {
    hash: u64,
    tenant: Option<TenantId>,
    /// Inline up to 48 bytes (nearly every series): comparing then reads the table slot
    /// alone, where a separate allocation cost a second cache miss per line.
    key_and_field: SmallVec<[u8; 48]>,
    key_len: usize,
    labels: Labels,
}

impl KnownSeriesEntry {
    fn parts(&self) -> (&[u8], &[u8]) {
        self.key_and_field.split_at(self.key_len)
    }
}

impl Default for SeriesLabelMemo {
    fn default() -> Self {
        Self::new()
    }
}

impl SeriesLabelMemo {
    /// Shards: enough that worker threads rarely wait on each other's lock.
    const SHARDS: usize = 64;
    /// Entries kept per shard; a full shard is emptied (262,144 series in all, about
    /// 25 MiB), so a flood of one-off series cannot grow the memo without bound.
    const SHARD_ENTRIES: usize = 4096;

    pub fn new() -> Self {
        Self {
            shards: (0..Self::SHARDS).map(|_| Mutex::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// What `tenant`'s series key `key` and field `field` are filed under (here and in
    /// the per-body memo, so a line is hashed once).
    fn hash(&self, tenant: Option<TenantId>, key: &str, field: &str) -> u64 {
        self.hasher.hash_one((tenant, key, field))
    }

    /// The labels of field `field` of `tenant`'s series `key` (hashing to `hash`), built
    /// by `build` if not known yet.
    fn labels(
        &self,
        tenant: Option<TenantId>,
        key: &str,
        field: &str,
        hash: u64,
        build: impl FnOnce() -> Labels,
    ) -> Labels {
        let shard = &self.shards[(hash >> 32) as usize % Self::SHARDS];
        let is_it = |entry: &KnownSeriesEntry| {
            entry.tenant == tenant && entry.parts() == (key.as_bytes(), field.as_bytes())
        };
        if let Some(entry) = shard.lock().expect("known-series lock").find(hash, is_it) {
            return entry.labels.clone();
        }
        let labels = build();
        let entry = KnownSeriesEntry {
            hash,
            tenant,
            key_and_field: key.bytes().chain(field.bytes()).collect(),
            key_len: key.len(),
            labels: labels.clone(),
        };
        let mut shard = shard.lock().expect("known-series lock");
        if shard.len() >= Self::SHARD_ENTRIES {
            shard.clear();
        }
        let rehash = |entry: &KnownSeriesEntry| entry.hash;
        if let hashbrown::hash_table::Entry::Vacant(slot) = shard.entry(hash, is_it, rehash) {
            slot.insert(entry);
        }
        labels
    }
}

/// One parsed line: the measurement, its tags, its numeric fields and the timestamp,
/// borrowing from the body wherever nothing was escaped.
struct Point<'a> {
    /// The measurement and tags as written (escapes included): equal keys, equal series.
    series_key: &'a str,
    measurement: Cow<'a, str>,
    tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    fields: Vec<(Cow<'a, str>, f64)>,
    timestamp_ms: Option<i64>,
}

impl Point<'_> {
    /// The series of one field: metric `measurement_field` (or `measurement` for a field
    /// named `value`) with the tags as labels. Built directly: the parser has already
    /// refused empty and repeated tags and the reserved `__name__`.
    fn labels_for(&self, field: &str) -> Labels {
        let name = if field == "value" {
            self.measurement.clone().into_owned()
        } else {
            format!("{}_{field}", self.measurement)
        };
        let mut labels = Vec::with_capacity(self.tags.len() + 1);
        labels.push(Label {
            name: METRIC_NAME_LABEL.to_owned(),
            value: name,
        });
        labels.extend(self.tags.iter().map(|(name, value)| Label {
            name: name.clone().into_owned(),
            value: value.clone().into_owned(),
        }));
        Labels::from_distinct(labels)
    }
}

/// Keys per line checked for repeats by a linear scan; beyond this a set is used.
const LINEAR_KEY_CHECK: usize = 16;

/// Whether `key` is among the keys already taken on this line (`earlier`). A linear scan
/// for the usual handful of keys; past [`LINEAR_KEY_CHECK`] a set is built once and kept
/// in `seen`, so a line with thousands of tags or fields cannot make the check quadratic.
fn seen_before<T>(
    seen: &mut Option<HashSet<String>>,
    earlier: &[(Cow<'_, str>, T)],
    key: &str,
) -> bool {
    let set = match seen {
        Some(set) => set,
        None if earlier.len() < LINEAR_KEY_CHECK => return earlier.iter().any(|(k, _)| k == key),
        None => seen.insert(earlier.iter().map(|(k, _)| k.to_string()).collect()),
    };
    !set.insert(key.to_owned())
}

/// A problem on a line and the position to resume scanning from (past any string).
type LineError = (String, usize);

fn parse_line(
    text: &str,
    start: usize,
    precision: Precision,
) -> Result<(Point<'_>, usize), LineError> {
    let b = text.as_bytes();
    let end = scan_key(b, start, b", ");
    let measurement = unescape(&text[start..end], MEASUREMENT_ESCAPES);
    if measurement.is_empty() {
        return Err((format!("the measurement name is missing; {SHAPE}"), end));
    }

    let mut tags: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    let mut seen_tags = None;
    let mut pos = end;
    while pos < b.len() && b[pos] == b',' {
        let key_end = scan_key(b, pos + 1, b",= ");
        let key = unescape(&text[pos + 1..key_end], KEY_ESCAPES);
        if key_end >= b.len() || b[key_end] != b'=' {
            return Err((
                format!("tag {key:?} has no value; tags are written key=value"),
                key_end,
            ));
        }
        if key.is_empty() {
            return Err(("a tag has an empty key".into(), key_end));
        }
        let value_end = scan_key(b, key_end + 1, b", ");
        let value = unescape(&text[key_end + 1..value_end], KEY_ESCAPES);
        if value.is_empty() {
            return Err((format!("tag {key:?} has an empty value"), value_end));
        }
        if key == METRIC_NAME_LABEL {
            return Err((
                format!("tag {key:?} is reserved for the metric name"),
                value_end,
            ));
        }
        if seen_before(&mut seen_tags, &tags, &key) {
            return Err((format!("tag {key:?} appears twice"), value_end));
        }
        tags.push((key, value));
        pos = value_end;
    }

    let series_key = &text[start..pos];
    pos = skip_blanks(b, pos);
    if pos >= b.len() || is_eol(b, pos) {
        return Err((format!("the line has no fields; {SHAPE}"), pos));
    }
    let mut fields: Vec<(Cow<'_, str>, f64)> = Vec::new();
    let mut seen = None;
    loop {
        let key_end = scan_key(b, pos, b",= ");
        let key = unescape(&text[pos..key_end], KEY_ESCAPES);
        if key_end >= b.len() || b[key_end] != b'=' {
            return Err((
                format!("field {key:?} has no value; fields are written key=value"),
                key_end,
            ));
        }
        if key.is_empty() {
            return Err(("a field has an empty key".into(), key_end));
        }
        let value_start = key_end + 1;
        if b.get(value_start) == Some(&b'"') {
            let close = scan_string(b, value_start + 1).ok_or_else(|| {
                (
                    format!("field {key:?} has an unterminated string value"),
                    b.len(),
                )
            })?;
            return Err((
                format!("field {key:?} has a string value; only numbers and booleans are accepted"),
                close + 1,
            ));
        }
        let value_end = scan_value(b, value_start);
        let value = field_value(&key, &text[value_start..value_end])
            .map_err(|problem| (problem, value_end))?;
        let repeated = seen_before(&mut seen, &fields, &key);
        if repeated {
            return Err((format!("field {key:?} appears twice"), value_end));
        }
        fields.push((key, value));
        pos = value_end;
        if pos < b.len() && b[pos] == b',' {
            pos += 1;
        } else {
            break;
        }
    }

    pos = skip_blanks(b, pos);
    let mut timestamp_ms = None;
    if pos < b.len() && !is_eol(b, pos) {
        let ts_end = scan_value(b, pos);
        let raw = &text[pos..ts_end];
        let timestamp: i64 = raw
            .parse()
            .map_err(|_| (format!("timestamp {raw:?} is not an integer"), ts_end))?;
        timestamp_ms = Some(precision.to_ms(timestamp).ok_or_else(|| {
            (
                format!("timestamp {timestamp} {} is out of range", precision.unit()),
                ts_end,
            )
        })?);
        pos = skip_blanks(b, ts_end);
        if pos < b.len() && !is_eol(b, pos) {
            let rest_end = scan_value(b, pos);
            return Err((
                format!(
                    "unexpected {:?} after the timestamp; {SHAPE}",
                    &text[pos..rest_end]
                ),
                rest_end,
            ));
        }
    }
    let point = Point {
        series_key,
        measurement,
        tags,
        fields,
        timestamp_ms,
    };
    Ok((point, pos))
}

/// A numeric or boolean field value as a sample value.
fn field_value(key: &str, raw: &str) -> Result<f64, String> {
    let expected = "expected a float (1.5), an integer (12i), an unsigned integer (12u) or a boolean (t, f, true, false)";
    match raw {
        "" => return Err(format!("field {key:?} has an empty value; {expected}")),
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(1.0),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(0.0),
        _ => {}
    }
    let parsed = if let Some(digits) = raw.strip_suffix('i') {
        digits.parse::<i64>().ok().map(|v| v as f64)
    } else if let Some(digits) = raw.strip_suffix('u') {
        digits.parse::<u64>().ok().map(|v| v as f64)
    } else if raw
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        // Only number characters: Rust would also take "inf" and "NaN", line protocol does not.
        raw.parse::<f64>().ok()
    } else {
        None
    };
    parsed.ok_or_else(|| format!("field {key:?} has the value {raw:?}; {expected}"))
}

/// The end of a name or tag value starting at `pos`: the first unescaped byte of `stops`
/// or the end of the line.
fn scan_key(b: &[u8], mut pos: usize, stops: &[u8]) -> usize {
    while pos < b.len() && !is_eol(b, pos) {
        if b[pos] == b'\\' && pos + 1 < b.len() && !is_eol(b, pos + 1) {
            pos += 2;
        } else if stops.contains(&b[pos]) {
            break;
        } else {
            pos += 1;
        }
    }
    pos
}

/// The end of an unquoted field value or timestamp: `,`, a blank or the end of the line.
fn scan_value(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && !is_eol(b, pos) && !matches!(b[pos], b',' | b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// The position of the closing quote of a string whose content starts at `pos`.
fn scan_string(b: &[u8], mut pos: usize) -> Option<usize> {
    while pos < b.len() {
        match b[pos] {
            b'\\' => pos += 2,
            b'"' => return Some(pos),
            _ => pos += 1,
        }
    }
    None
}

fn skip_blanks(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\t') {
        pos += 1;
    }
    pos
}

/// `\n`, or the `\r` of a `\r\n` (or of a final `\r`).
fn is_eol(b: &[u8], pos: usize) -> bool {
    b[pos] == b'\n' || (b[pos] == b'\r' && (pos + 1 == b.len() || b[pos + 1] == b'\n'))
}

/// The index of the next `\n` at or after `pos`, or the end of the body.
fn next_newline(b: &[u8], pos: usize) -> usize {
    b.get(pos..)
        .and_then(|rest| rest.iter().position(|&c| c == b'\n'))
        .map_or(b.len(), |i| pos + i)
}

/// Removes the backslash of `\x` for each `x` in `escapes`; other backslashes stay.
/// `raw` without its escapes; borrowed when it has none (almost always).
fn unescape<'a>(raw: &'a str, escapes: &[char]) -> Cow<'a, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && escapes.contains(&next) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
