//! Write-ahead records: one acknowledged ingest batch as one compact, checksummed row,
//! replayed after a crash until its samples are sealed into chunks.
//!
//! Format version 1:
//!
//! ```text
//! u8       version = 1
//! u8       compression: 0 = none, 1 = Snappy raw block
//! bytes    payload, compressed as the previous byte says
//! u32 LE   CRC-32 (IEEE) of everything before it
//! ```
//!
//! The uncompressed payload is LEB128 throughout:
//!
//! ```text
//! uvarint  d, then d × (uvarint length, UTF-8 bytes)         label dictionary
//! uvarint  s, then s series:
//!   uvarint  l, then l × (uvarint name index, uvarint value index)
//!   uvarint  n
//!   n × ivarint   timestamp minus the previous one in the record (the very first
//!                 minus 0), modulo 2^64
//!   n × value     bits XOR the previous value's (the first XOR 0): a tag byte
//!                 (leading zero bytes << 4 | kept bytes) then the kept bytes, big-endian
//! ```
//!
//! Timestamp deltas run across series because a scrape stamps all its series alike;
//! batches are not sorted, so deltas may be negative. Origins are not stored.

use std::cell::RefCell;
use std::fmt;
use std::hash::BuildHasher;

use smallvec::SmallVec;
use thiserror::Error;

use super::varint::{put_ivarint, put_uvarint, ByteCursor};
use crate::domain::metrics::{Labels, MetricBatch, Origin, Sample, SeriesSamples};

/// The version byte [`encode_wal_record`] writes.
pub const WAL_FORMAT_V1: u8 = 1;

const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_SNAPPY: u8 = 1;
/// Version byte, compression byte and checksum.
const FRAMING_BYTES: usize = 6;

/// Which part of a record's payload a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalPart {
    Dictionary,
    SeriesCount,
    Series(usize),
    End,
}

impl fmt::Display for WalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dictionary => f.write_str("the label dictionary"),
            Self::SeriesCount => f.write_str("the series count"),
            Self::Series(i) => write!(f, "series {i}"),
            Self::End => f.write_str("the end of the payload"),
        }
    }
}

/// Why a write-ahead record could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WalError {
    #[error("WAL record has {len} bytes; at least {FRAMING_BYTES} are needed (torn write?)")]
    TooShort { len: usize },
    #[error("WAL record format version {0} is not supported; this build reads version 1")]
    UnsupportedVersion(u8),
    #[error("WAL record checksum is {computed:#010x} but {stored:#010x} is stored: the row is torn or corrupt")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("WAL record names compression {0}, which is unknown")]
    UnknownCompression(u8),
    #[error("WAL record does not decompress: {0}")]
    Decompress(String),
    #[error("WAL record payload is malformed in {part}: {problem}")]
    Malformed {
        part: WalPart,
        problem: &'static str,
    },
}

/// Encodes a batch as one record. Never fails: a payload Snappy cannot take or shrink is
/// stored uncompressed.
pub fn encode_wal_record(batch: &MetricBatch) -> Vec<u8> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let Scratch {
            dictionary,
            written_labels,
            body,
            payload,
            compressed,
        } = &mut *scratch;
        encode_payload(batch, dictionary, written_labels, body, payload);
        let bound = snap::raw::max_compress_len(payload.len());
        if compressed.len() < bound {
            compressed.resize(bound, 0);
        }
        let compressed_len = snap::raw::Encoder::new()
            .compress(payload, compressed)
            .ok()
            .filter(|&n| n < payload.len());
        let (kind, body): (u8, &[u8]) = match compressed_len {
            Some(n) => (COMPRESSION_SNAPPY, &compressed[..n]),
            None => (COMPRESSION_NONE, payload),
        };
        let mut record = Vec::with_capacity(body.len() + FRAMING_BYTES);
        record.push(WAL_FORMAT_V1);
        record.push(kind);
        record.extend_from_slice(body);
        let crc = crc32fast::hash(&record);
        record.extend_from_slice(&crc.to_le_bytes());
        scratch.shrink_if_huge();
        record
    })
}

/// Per-thread buffers the encoder reuses: a record's intermediate buffers are several
/// times its final size, and allocating them afresh for every request made the kernel
/// zero new pages for each (a tenth of the ingest CPU in profiles).
#[derive(Default)]
struct Scratch {
    dictionary: Dictionary,
    written_labels: WrittenLabels,
    body: Vec<u8>,
    payload: Vec<u8>,
    compressed: Vec<u8>,
}

impl Scratch {
    /// Buffers kept between records; a rare huge body does not pin its memory.
    const KEEP_BYTES: usize = 8 << 20;

    fn shrink_if_huge(&mut self) {
        let dictionary = &mut self.dictionary.bytes;
        for buffer in [
            &mut self.body,
            &mut self.payload,
            &mut self.compressed,
            dictionary,
        ] {
            if buffer.capacity() > Self::KEEP_BYTES {
                *buffer = Vec::new();
            }
        }
        if self.dictionary.spans.capacity() > Self::KEEP_BYTES / 16 {
            self.dictionary = Dictionary::default();
        }
        if self.written_labels.table.capacity() > Self::KEEP_BYTES / 32 {
            self.written_labels = WrittenLabels::default();
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Checks and decodes a record. Every series comes back with an empty `origin`.
pub fn decode_wal_record(record: &[u8]) -> Result<MetricBatch, WalError> {
    if record.len() < FRAMING_BYTES {
        return Err(WalError::TooShort { len: record.len() });
    }
    if record[0] != WAL_FORMAT_V1 {
        return Err(WalError::UnsupportedVersion(record[0]));
    }
    let (framed, crc) = record.split_at(record.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32fast::hash(framed);
    if stored != computed {
        return Err(WalError::ChecksumMismatch { stored, computed });
    }
    let body = &framed[2..];
    match framed[1] {
        COMPRESSION_NONE => decode_payload(body),
        COMPRESSION_SNAPPY => {
            let payload = snap::raw::Decoder::new()
                .decompress_vec(body)
                .map_err(|e| WalError::Decompress(e.to_string()))?;
            decode_payload(&payload)
        }
        other => Err(WalError::UnknownCompression(other)),
    }
}

/// Writes `batch`'s uncompressed payload into `payload`, using `body` and `dictionary` as
/// scratch.
fn encode_payload(
    batch: &MetricBatch,
    dictionary: &mut Dictionary,
    written_labels: &mut WrittenLabels,
    body: &mut Vec<u8>,
    payload: &mut Vec<u8>,
) {
    dictionary.clear();
    written_labels.clear();
    // Series go to their own buffer as the dictionary fills, which must come first.
    body.clear();
    put_uvarint(body, batch.series.len() as u64);
    let mut prev_ts = 0i64;
    for series in &batch.series {
        if let Some(earlier) = written_labels.find(&series.labels) {
            body.extend_from_within(earlier);
        } else {
            let start = body.len();
            put_uvarint(body, series.labels.len() as u64);
            for label in series.labels.iter() {
                put_uvarint(body, dictionary.intern(&label.name));
                put_uvarint(body, dictionary.intern(&label.value));
            }
            written_labels.insert(&series.labels, start..body.len());
        }
        put_uvarint(body, series.samples.len() as u64);
        for sample in &series.samples {
            put_ivarint(body, sample.timestamp_ms.wrapping_sub(prev_ts));
            prev_ts = sample.timestamp_ms;
        }
        let mut prev_bits = 0u64;
        for sample in &series.samples {
            let bits = sample.value.to_bits();
            put_xor(body, bits ^ prev_bits);
            prev_bits = bits;
        }
    }
    payload.clear();
    put_uvarint(payload, dictionary.len() as u64);
    for s in dictionary.strings() {
        put_uvarint(payload, s.len() as u64);
        payload.extend_from_slice(s);
    }
    payload.extend_from_slice(body);
    dictionary.clear();
}

/// Where in the record's body each label set was written, by the label set's allocation:
/// a body usually holds a series several times (one line per scrape), all sharing one
/// label set, and copying its codes is cheaper than looking up its strings again. Valid
/// for one record: the batch keeps its label sets, so their addresses, alive meanwhile.
#[derive(Default)]
struct WrittenLabels {
    table: hashbrown::HashTable<(usize, std::ops::Range<usize>)>,
    hasher: foldhash::fast::RandomState,
}

impl WrittenLabels {
    fn clear(&mut self) {
        self.table.clear();
    }

    fn find(&self, labels: &Labels) -> Option<std::ops::Range<usize>> {
        let identity = labels.identity();
        self.table
            .find(self.hasher.hash_one(identity), |(id, _)| *id == identity)
            .map(|(_, range)| range.clone())
    }

    fn insert(&mut self, labels: &Labels, written: std::ops::Range<usize>) {
        let identity = labels.identity();
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(identity), (identity, written), |(id, _)| {
                hasher.hash_one(*id)
            });
    }
}

/// Each distinct label string once, numbered in order of first use. Owns its strings'
/// bytes (not borrowed from the batch) so one per thread can be reused, emptied, for every
/// record: a fresh table per request cost more in page faults than in hashing.
#[derive(Default)]
struct Dictionary {
    /// Indexes into `spans`, found by the string's hash.
    table: hashbrown::HashTable<u32>,
    /// (offset, length) of each string in `bytes`, by index.
    spans: Vec<(usize, usize)>,
    bytes: Vec<u8>,
    hasher: foldhash::fast::RandomState,
}

impl Dictionary {
    fn clear(&mut self) {
        self.table.clear();
        self.spans.clear();
        self.bytes.clear();
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn strings(&self) -> impl Iterator<Item = &[u8]> {
        self.spans
            .iter()
            .map(|&(offset, len)| &self.bytes[offset..offset + len])
    }

    fn intern(&mut self, s: &str) -> u64 {
        let Self {
            table,
            spans,
            bytes,
            hasher,
        } = self;
        let hash = hasher.hash_one(s.as_bytes());
        let text = |at: &u32| {
            let (offset, len) = spans[*at as usize];
            &bytes[offset..offset + len]
        };
        let entry = table.entry(
            hash,
            |at| text(at) == s.as_bytes(),
            |at| hasher.hash_one(text(at)),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(found) => u64::from(*found.get()),
            hashbrown::hash_table::Entry::Vacant(slot) => {
                let at = spans.len() as u32;
                slot.insert(at);
                spans.push((bytes.len(), s.len()));
                bytes.extend_from_slice(s.as_bytes());
                u64::from(at)
            }
        }
    }
}

/// Writes the XOR without its zero bytes at either end; equal values take one byte.
fn put_xor(out: &mut Vec<u8>, xor: u64) {
    let leading = xor.leading_zeros() / 8;
    let trailing = if xor == 0 {
        0
    } else {
        xor.trailing_zeros() / 8
    };
    let kept = 8 - leading - trailing;
    out.push(((leading << 4) | kept) as u8);
    let bytes = xor.to_be_bytes();
    out.extend_from_slice(&bytes[leading as usize..(leading + kept) as usize]);
}

fn decode_payload(payload: &[u8]) -> Result<MetricBatch, WalError> {
    let mut reader = PayloadReader {
        cursor: ByteCursor::new(payload),
        part: WalPart::Dictionary,
    };
    // Each string takes at least its length byte.
    let count = reader.count(1)?;
    let mut dictionary = Vec::with_capacity(count);
    for _ in 0..count {
        let len = reader.count(1)?;
        let bytes = reader
            .cursor
            .bytes(len)
            .ok_or_else(|| reader.malformed("a string is truncated"))?;
        let s =
            std::str::from_utf8(bytes).map_err(|_| reader.malformed("a string is not UTF-8"))?;
        dictionary.push(s);
    }

    reader.part = WalPart::SeriesCount;
    // Each series takes at least its label and sample count bytes.
    let series_count = reader.count(2)?;
    let mut series = Vec::with_capacity(series_count);
    let mut prev_ts = 0i64;
    for i in 0..series_count {
        reader.part = WalPart::Series(i);
        series.push(reader.series(&dictionary, &mut prev_ts)?);
    }
    reader.part = WalPart::End;
    if reader.cursor.remaining() > 0 {
        return Err(reader.malformed("bytes follow the last series"));
    }
    Ok(MetricBatch { series })
}

struct PayloadReader<'a> {
    cursor: ByteCursor<'a>,
    part: WalPart,
}

impl PayloadReader<'_> {
    fn malformed(&self, problem: &'static str) -> WalError {
        WalError::Malformed {
            part: self.part,
            problem,
        }
    }

    /// A count of items taking at least `min_bytes` each, refused before it can size an
    /// allocation beyond what the payload could hold.
    fn count(&mut self, min_bytes: usize) -> Result<usize, WalError> {
        let n = self
            .cursor
            .uvarint()
            .ok_or_else(|| self.malformed("a count is truncated"))?;
        match usize::try_from(n) {
            Ok(n) if n <= self.cursor.remaining() / min_bytes => Ok(n),
            _ => Err(self.malformed("a count exceeds what the payload can hold")),
        }
    }

    fn index(&mut self, dictionary: &[&str]) -> Result<String, WalError> {
        let index = self
            .cursor
            .uvarint()
            .ok_or_else(|| self.malformed("a label index is truncated"))?;
        usize::try_from(index)
            .ok()
            .and_then(|i| dictionary.get(i))
            .map(|s| (*s).to_owned())
            .ok_or_else(|| self.malformed("a label index is outside the dictionary"))
    }

    fn series(
        &mut self,
        dictionary: &[&str],
        prev_ts: &mut i64,
    ) -> Result<SeriesSamples, WalError> {
        let label_count = self.count(2)?;
        let mut pairs = Vec::with_capacity(label_count);
        for _ in 0..label_count {
            let name = self.index(dictionary)?;
            let value = self.index(dictionary)?;
            pairs.push((name, value));
        }
        // Each sample takes at least a timestamp byte and a value tag byte.
        let sample_count = self.count(2)?;
        let mut timestamps = Vec::with_capacity(sample_count);
        for _ in 0..sample_count {
            let delta = self
                .cursor
                .ivarint()
                .ok_or_else(|| self.malformed("a timestamp is truncated"))?;
            *prev_ts = prev_ts.wrapping_add(delta);
            timestamps.push(*prev_ts);
        }
        let mut samples = SmallVec::with_capacity(sample_count);
        let mut prev_bits = 0u64;
        for timestamp_ms in timestamps {
            prev_bits ^= self.xor()?;
            samples.push(Sample {
                timestamp_ms,
                value: f64::from_bits(prev_bits),
            });
        }
        Ok(SeriesSamples {
            labels: Labels::from_pairs(pairs),
            samples,
            origin: Origin::Unknown,
        })
    }

    fn xor(&mut self) -> Result<u64, WalError> {
        let tag = self
            .cursor
            .u8()
            .ok_or_else(|| self.malformed("a value is truncated"))?;
        let leading = usize::from(tag >> 4);
        let kept = usize::from(tag & 0x0f);
        if leading + kept > 8 {
            return Err(self.malformed("a value tag spans more than 8 bytes"));
        }
        let bytes = self
            .cursor
            .bytes(kept)
            .ok_or_else(|| self.malformed("a value is truncated"))?;
        let mut word = [0u8; 8];
        word[leading..leading + kept].copy_from_slice(bytes);
        Ok(u64::from_be_bytes(word))
    }
}

#[cfg(test)]
mod tests;
