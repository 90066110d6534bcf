//! Log blocks: the records of one committed batch, stored as one row of compressed
//! columns, the way VictoriaLogs and Loki keep logs rather than one row per record.
//!
//! A block's records are sorted by time. Each column is deflated on its own, so a search
//! reads only what it needs: a level histogram only `times` (timestamps and levels), a
//! service filter adds `streams`, a word search `messages`, a field search `fields`.
//! Beside the columns a block has a token filter (a Bloom filter of its words and its
//! `name=value` pairs) so that a search skips blocks that cannot match without
//! decompressing them.
//!
//! Column formats (before deflate), all counts and lengths as LEB128 varints:
//! - `times`: format byte 1, count, first timestamp (zig-zag), then count−1 deltas
//!   (zig-zag), then count level bytes;
//! - `streams`: format byte 1, the number of distinct streams, each as service, host and
//!   labels (count, then name/value pairs) as length-prefixed strings, then one stream
//!   index per record;
//! - `messages` and `fields`: format byte 1, count, the byte length of each entry, then
//!   the entries' bytes back to back (fields as a JSON object's text, empty for none).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::varint::{put_ivarint, put_uvarint, ByteCursor};
use crate::domain::logs::{for_each_token, pair_hash, scalar_text, token_hash, Level, LogRecord};

const COLUMN_FORMAT_V1: u8 = 1;
const FILTER_FORMAT_V1: u8 = 1;
/// Bits of the token filter per distinct token: with [`FILTER_PROBES`] probes, about one
/// false positive in 120.
const FILTER_BITS_PER_TOKEN: usize = 10;
const FILTER_PROBES: u64 = 6;
/// The most bytes one column may inflate to: bounds what a corrupt row can cost.
const MAX_COLUMN_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogBlockError {
    #[error("log block column {0} is corrupt")]
    Corrupt(&'static str),
}

/// One stream: what a record shares with the records of the same source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stream {
    pub service: String,
    pub host: String,
    pub labels: BTreeMap<String, String>,
}

/// A block ready to store.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    pub min_ts_ns: i64,
    pub max_ts_ns: i64,
    pub record_count: u32,
    /// Bit `level.code()` set for each level present.
    pub level_mask: u8,
    pub times: Vec<u8>,
    pub streams: Vec<u8>,
    pub messages: Vec<u8>,
    pub fields: Vec<u8>,
    pub filter: Vec<u8>,
    /// Bytes of the records as text, before compression (for MB/s and the stored ratio).
    pub raw_bytes: usize,
}

/// How hard the columns are deflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Level 1: what ingest uses, where every microsecond is on the acknowledged path.
    Fast,
    /// Level 6: what compaction uses, off that path, for smaller blocks.
    Small,
}

/// Sorts `records` by time (stable: equal times keep their order) and encodes them as a
/// block, deflated fast (ingest). `None` for no records.
pub fn encode_block(records: &mut [LogRecord]) -> Option<EncodedBlock> {
    encode_block_packed(records, Packing::Fast)
}

/// [`encode_block`] with the deflate effort chosen.
pub fn encode_block_packed(records: &mut [LogRecord], packing: Packing) -> Option<EncodedBlock> {
    if records.is_empty() {
        return None;
    }
    records.sort_by_key(|r| r.timestamp_ns);
    let count = records.len();
    let mut tokens: HashSet<u64> = HashSet::with_capacity(count * 4);
    let mut raw_bytes = 0usize;

    let mut times = Vec::with_capacity(count * 3 + 8);
    times.push(COLUMN_FORMAT_V1);
    put_uvarint(&mut times, count as u64);
    let mut previous = 0i64;
    for (i, r) in records.iter().enumerate() {
        let value = if i == 0 {
            r.timestamp_ns
        } else {
            r.timestamp_ns.wrapping_sub(previous)
        };
        put_ivarint(&mut times, value);
        previous = r.timestamp_ns;
    }
    let mut level_mask = 0u8;
    for r in records.iter() {
        times.push(r.level.code());
        level_mask |= 1 << r.level.code();
    }

    let mut stream_index: HashMap<(&str, &str, &BTreeMap<String, String>), u64> = HashMap::new();
    let mut stream_table = Vec::new();
    let mut stream_refs = Vec::with_capacity(count * 2);
    for r in records.iter() {
        let key = (r.service.as_str(), r.host.as_str(), &r.labels);
        let next = stream_index.len() as u64;
        let index = *stream_index.entry(key).or_insert_with(|| {
            put_str(&mut stream_table, &r.service);
            put_str(&mut stream_table, &r.host);
            put_uvarint(&mut stream_table, r.labels.len() as u64);
            for (name, value) in &r.labels {
                put_str(&mut stream_table, name);
                put_str(&mut stream_table, value);
            }
            next
        });
        if index == next {
            tokens.insert(pair_hash("service", &r.service));
            tokens.insert(pair_hash("host", &r.host));
            for (name, value) in &r.labels {
                tokens.insert(pair_hash(name, value));
            }
        }
        put_uvarint(&mut stream_refs, index);
    }
    let mut streams = Vec::with_capacity(stream_table.len() + stream_refs.len() + 8);
    streams.push(COLUMN_FORMAT_V1);
    put_uvarint(&mut streams, stream_index.len() as u64);
    streams.extend_from_slice(&stream_table);
    streams.extend_from_slice(&stream_refs);

    let mut messages = TextColumn::with_capacity(count);
    let mut fields = TextColumn::with_capacity(count);
    let mut field_text = String::new();
    for r in records.iter() {
        for_each_token(&r.message, |t| {
            tokens.insert(token_hash(t));
        });
        messages.push(r.message.as_bytes());
        field_text.clear();
        if !r.fields.is_empty() {
            field_text = serde_json::to_string(&r.fields).unwrap_or_default();
            for (name, value) in &r.fields {
                if let Some(text) = scalar_text(value) {
                    tokens.insert(pair_hash(name, &text));
                }
            }
        }
        fields.push(field_text.as_bytes());
        raw_bytes += r.message.len() + field_text.len() + r.service.len() + r.host.len() + 9;
    }

    Some(EncodedBlock {
        min_ts_ns: records[0].timestamp_ns,
        max_ts_ns: records[count - 1].timestamp_ns,
        record_count: count as u32,
        level_mask,
        times: deflate(&times, packing),
        streams: deflate(&streams, packing),
        messages: deflate(&messages.finish(), packing),
        fields: deflate(&fields.finish(), packing),
        filter: build_filter(&tokens),
        raw_bytes,
    })
}

fn put_str(buf: &mut Vec<u8>, text: &str) {
    put_uvarint(buf, text.len() as u64);
    buf.extend_from_slice(text.as_bytes());
}

/// Entries' lengths first, then their bytes: the lengths compress well together.
struct TextColumn {
    lengths: Vec<u8>,
    data: Vec<u8>,
    count: usize,
}

impl TextColumn {
    fn with_capacity(count: usize) -> Self {
        Self {
            lengths: Vec::with_capacity(count * 2),
            data: Vec::with_capacity(count * 64),
            count: 0,
        }
    }

    fn push(&mut self, entry: &[u8]) {
        put_uvarint(&mut self.lengths, entry.len() as u64);
        self.data.extend_from_slice(entry);
        self.count += 1;
    }

    fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lengths.len() + self.data.len() + 8);
        out.push(COLUMN_FORMAT_V1);
        put_uvarint(&mut out, self.count as u64);
        out.extend_from_slice(&self.lengths);
        out.extend_from_slice(&self.data);
        out
    }
}

fn deflate(bytes: &[u8], packing: Packing) -> Vec<u8> {
    let level = match packing {
        Packing::Fast => Compression::fast(),
        Packing::Small => Compression::default(),
    };
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(bytes.len() / 4 + 16), level);
    encoder
        .write_all(bytes)
        .expect("writing into a Vec does not fail");
    encoder.finish().expect("writing into a Vec does not fail")
}

fn inflate(bytes: &[u8], column: &'static str) -> Result<Vec<u8>, LogBlockError> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    DeflateDecoder::new(bytes)
        .take(MAX_COLUMN_BYTES)
        .read_to_end(&mut out)
        .map_err(|_| LogBlockError::Corrupt(column))?;
    Ok(out)
}

/// Timestamps and levels of a block's records, in the block's (time) order.
pub fn decode_times(column: &[u8]) -> Result<(Vec<i64>, Vec<Level>), LogBlockError> {
    const NAME: &str = "times";
    let plain = inflate(column, NAME)?;
    let mut cursor = ByteCursor::new(&plain);
    let corrupt = || LogBlockError::Corrupt(NAME);
    if cursor.u8() != Some(COLUMN_FORMAT_V1) {
        return Err(corrupt());
    }
    let count = cursor.uvarint().ok_or_else(corrupt)? as usize;
    if count > cursor.remaining() {
        return Err(corrupt());
    }
    let mut timestamps = Vec::with_capacity(count);
    let mut previous = 0i64;
    for i in 0..count {
        let value = cursor.ivarint().ok_or_else(corrupt)?;
        previous = if i == 0 {
            value
        } else {
            previous.wrapping_add(value)
        };
        timestamps.push(previous);
    }
    let levels = cursor.bytes(count).ok_or_else(corrupt)?;
    Ok((
        timestamps,
        levels.iter().map(|&b| Level::from_code(b)).collect(),
    ))
}

/// The block's distinct streams, and each record's index into them.
pub fn decode_streams(column: &[u8]) -> Result<(Vec<Stream>, Vec<u32>), LogBlockError> {
    const NAME: &str = "streams";
    let plain = inflate(column, NAME)?;
    let mut cursor = ByteCursor::new(&plain);
    let corrupt = || LogBlockError::Corrupt(NAME);
    if cursor.u8() != Some(COLUMN_FORMAT_V1) {
        return Err(corrupt());
    }
    let distinct = cursor.uvarint().ok_or_else(corrupt)? as usize;
    if distinct > cursor.remaining() {
        return Err(corrupt());
    }
    let mut streams = Vec::with_capacity(distinct);
    for _ in 0..distinct {
        let service = get_str(&mut cursor).ok_or_else(corrupt)?;
        let host = get_str(&mut cursor).ok_or_else(corrupt)?;
        let pairs = cursor.uvarint().ok_or_else(corrupt)? as usize;
        let mut labels = BTreeMap::new();
        for _ in 0..pairs.min(cursor.remaining()) {
            let name = get_str(&mut cursor).ok_or_else(corrupt)?;
            let value = get_str(&mut cursor).ok_or_else(corrupt)?;
            labels.insert(name, value);
        }
        streams.push(Stream {
            service,
            host,
            labels,
        });
    }
    let mut refs = Vec::new();
    while cursor.remaining() > 0 {
        let index = cursor.uvarint().ok_or_else(corrupt)? as usize;
        if index >= streams.len() {
            return Err(corrupt());
        }
        refs.push(index as u32);
    }
    Ok((streams, refs))
}

fn get_str(cursor: &mut ByteCursor<'_>) -> Option<String> {
    let len = cursor.uvarint()? as usize;
    let bytes = cursor.bytes(len)?;
    String::from_utf8(bytes.to_vec()).ok()
}

/// A decoded text column (messages, or fields as JSON text): one string, cut by offsets.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    data: String,
    ends: Vec<u32>,
}

impl Texts {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> &str {
        let start = if index == 0 {
            0
        } else {
            self.ends[index - 1] as usize
        };
        &self.data[start..self.ends[index] as usize]
    }
}

/// A `messages` or `fields` column.
pub fn decode_texts(column: &[u8], name: &'static str) -> Result<Texts, LogBlockError> {
    let plain = inflate(column, name)?;
    let mut cursor = ByteCursor::new(&plain);
    let corrupt = || LogBlockError::Corrupt(name);
    if cursor.u8() != Some(COLUMN_FORMAT_V1) {
        return Err(corrupt());
    }
    let count = cursor.uvarint().ok_or_else(corrupt)? as usize;
    if count > cursor.remaining() {
        return Err(corrupt());
    }
    let mut ends = Vec::with_capacity(count);
    let mut end = 0u64;
    for _ in 0..count {
        end += cursor.uvarint().ok_or_else(corrupt)?;
        ends.push(u32::try_from(end).map_err(|_| corrupt())?);
    }
    let rest = cursor.rest();
    if rest.len() as u64 != end {
        return Err(corrupt());
    }
    // Each entry was a whole string, so a cut at an end is a char boundary of valid
    // UTF-8 exactly when the whole is valid and each end is a boundary.
    let data = String::from_utf8(rest.to_vec()).map_err(|_| corrupt())?;
    if ends.iter().any(|&e| !data.is_char_boundary(e as usize)) {
        return Err(corrupt());
    }
    Ok(Texts { data, ends })
}

fn build_filter(tokens: &HashSet<u64>) -> Vec<u8> {
    let bits = (tokens.len() * FILTER_BITS_PER_TOKEN)
        .max(64)
        .next_power_of_two();
    let mut filter = vec![0u8; bits / 8 + 1];
    filter[0] = FILTER_FORMAT_V1;
    let mask = bits as u64 - 1;
    for &hash in tokens {
        for bit in probes(hash, mask) {
            filter[1 + (bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    filter
}

fn probes(hash: u64, mask: u64) -> impl Iterator<Item = u64> {
    let h1 = hash;
    let h2 = (hash >> 32) | 1;
    (0..FILTER_PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & mask)
}

/// Whether a block whose filter is `filter` may hold the token or pair `hash` (false
/// positives possible, false negatives not). An unreadable filter says yes.
pub fn filter_may_contain(filter: &[u8], hash: u64) -> bool {
    if filter.first() != Some(&FILTER_FORMAT_V1) || filter.len() < 9 {
        return true;
    }
    let bits = ((filter.len() - 1) * 8) as u64;
    if !bits.is_power_of_two() {
        return true;
    }
    let mask = bits - 1;
    probes(hash, mask).all(|bit| filter[1 + (bit / 8) as usize] & (1 << (bit % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(ts: i64, level: Level, service: &str, message: &str) -> LogRecord {
        let mut r = LogRecord::message_only(ts, message);
        r.level = level;
        r.service = service.into();
        r.host = "web-1".into();
        r
    }

    #[test]
    fn a_block_round_trips_sorted_by_time() {
        let mut records = vec![
            record(30, Level::Error, "api", "connection refused"),
            record(10, Level::Info, "db", "ready"),
            record(20, Level::Warn, "api", "slow: ünïcode ✓"),
        ];
        records[0].labels.insert("env".into(), "prod".into());
        records[2].fields.insert("user.id".into(), json!(42));
        let block = encode_block(&mut records).unwrap();
        assert_eq!(
            (block.min_ts_ns, block.max_ts_ns, block.record_count),
            (10, 30, 3)
        );
        assert_eq!(block.level_mask, 0b10100 | 0b1000);
        let (ts, levels) = decode_times(&block.times).unwrap();
        assert_eq!(ts, [10, 20, 30]);
        assert_eq!(levels, [Level::Info, Level::Warn, Level::Error]);
        let (streams, refs) = decode_streams(&block.streams).unwrap();
        assert_eq!(refs.len(), 3);
        assert_eq!(streams[refs[0] as usize].service, "db");
        assert_eq!(streams[refs[2] as usize].labels["env"], "prod");
        assert_ne!(refs[1], refs[2], "labels make a stream of their own");
        let messages = decode_texts(&block.messages, "messages").unwrap();
        assert_eq!(messages.get(1), "slow: ünïcode ✓");
        let fields = decode_texts(&block.fields, "fields").unwrap();
        assert_eq!(fields.get(0), "");
        assert_eq!(fields.get(1), r#"{"user.id":42}"#);
        for present in [
            token_hash("CONNECTION"),
            pair_hash("service", "db"),
            pair_hash("user.id", "42"),
            pair_hash("env", "prod"),
        ] {
            assert!(filter_may_contain(&block.filter, present));
        }
        let absent = (0..1000)
            .filter(|i| filter_may_contain(&block.filter, token_hash(&format!("absent{i}"))))
            .count();
        assert!(absent < 30, "{absent} false positives of 1000");
    }

    #[test]
    fn corrupt_columns_are_errors_not_panics() {
        let mut records = vec![record(1, Level::Info, "a", "b")];
        let block = encode_block(&mut records).unwrap();
        for column in [&block.times, &block.streams, &block.messages] {
            for cut in 0..column.len() {
                let _ = decode_times(&column[..cut]);
                let _ = decode_streams(&column[..cut]);
                let _ = decode_texts(&column[..cut], "messages");
            }
        }
        assert!(decode_times(b"garbage").is_err());
        assert!(filter_may_contain(b"", 1), "no filter: may contain");
    }
}
