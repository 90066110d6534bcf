//! Sealed chunks: one series' samples, compressed Gorilla style for one storage row.
//!
//! Format version 1, all integers big-endian or LEB128:
//!
//! ```text
//! u8       version = 1
//! uvarint  sample count n
//! if n > 0:
//!   ivarint  first timestamp (zig-zag)
//!   u64      first value's IEEE-754 bits
//!   bits     samples 1..n, each a timestamp then a value, MSB first, zero padded
//! ```
//!
//! Timestamps are delta-of-delta coded (the delta before the first is taken as 0):
//! `0` for dod = 0, `10`+14 bits, `110`+17 bits, `1110`+20 bits, `1111`+64 bits, the
//! payload a two's-complement dod. Deltas are computed modulo 2^64, so any two increasing
//! `i64` timestamps fit. Values are XORed with the previous value's bits: `0` when
//! equal, `10`+meaningful bits inside the previous leading/length window, or
//! `11`+5-bit leading zeros+6-bit meaningful length (0 means 64)+meaningful bits.
//! Working on raw bits keeps NaN payloads, -0.0 and subnormals exact.

use thiserror::Error;

use super::bits::{BitReader, BitWriter};
use super::varint::{put_ivarint, put_uvarint, ByteCursor};
use crate::domain::metrics::Sample;

/// The version byte [`encode_chunk`] writes.
pub const CHUNK_FORMAT_V1: u8 = 1;

/// Widths of the signed delta-of-delta payloads after the `10`, `110`, `1110` prefixes.
const DOD_WIDTHS: [u32; 3] = [14, 17, 20];

/// Why a chunk could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChunkError {
    #[error(
        "sample {index}: timestamp {timestamp_ms} ms is not after the previous one \
         ({previous_ms} ms); a chunk holds strictly increasing timestamps"
    )]
    NotIncreasing {
        index: usize,
        previous_ms: i64,
        timestamp_ms: i64,
    },
    #[error("chunk is empty: it has no format version byte")]
    Empty,
    #[error("chunk format version {0} is not supported; this build reads version 1")]
    UnsupportedVersion(u8),
    #[error("chunk is truncated in its header: {0} is missing or malformed")]
    TruncatedHeader(&'static str),
    #[error("chunk declares {declared} samples but its {bytes} bytes cannot hold that many")]
    ImpossibleCount { declared: u64, bytes: usize },
    #[error("chunk is truncated at sample {index}")]
    TruncatedSample { index: usize },
    #[error("chunk is corrupt at sample {index}: {reason}")]
    Corrupt { index: usize, reason: &'static str },
    #[error("chunk has data after its last sample")]
    TrailingData,
}

/// Encodes samples with strictly increasing timestamps into a version 1 chunk.
pub fn encode_chunk(samples: &[Sample]) -> Result<Vec<u8>, ChunkError> {
    let mut header = Vec::with_capacity(24 + samples.len() * 2);
    header.push(CHUNK_FORMAT_V1);
    put_uvarint(&mut header, samples.len() as u64);
    let Some((first, rest)) = samples.split_first() else {
        return Ok(header);
    };
    put_ivarint(&mut header, first.timestamp_ms);
    header.extend_from_slice(&first.value.to_bits().to_be_bytes());

    let mut out = BitWriter::with_prefix(header);
    let mut prev = *first;
    let mut prev_delta = 0u64;
    let mut window: Option<XorWindow> = None;
    for (i, sample) in rest.iter().enumerate() {
        if sample.timestamp_ms <= prev.timestamp_ms {
            return Err(ChunkError::NotIncreasing {
                index: i + 1,
                previous_ms: prev.timestamp_ms,
                timestamp_ms: sample.timestamp_ms,
            });
        }
        // Modulo 2^64 the delta of two increasing i64s is exact, even across the range.
        let delta = sample.timestamp_ms.wrapping_sub(prev.timestamp_ms) as u64;
        write_dod(&mut out, delta.wrapping_sub(prev_delta) as i64);
        write_value(
            &mut out,
            prev.value.to_bits() ^ sample.value.to_bits(),
            &mut window,
        );
        prev = *sample;
        prev_delta = delta;
    }
    Ok(out.finish())
}

/// Decodes a whole chunk, validating it to the last byte.
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let iter = ChunkIter::new(bytes)?;
    let mut samples = Vec::with_capacity(iter.remaining());
    for sample in iter {
        samples.push(sample?);
    }
    Ok(samples)
}

/// The bit window of the last explicitly written XOR: leading zeros and meaningful bits.
#[derive(Debug, Clone, Copy)]
struct XorWindow {
    leading: u32,
    meaningful: u32,
}

impl XorWindow {
    fn trailing(self) -> u32 {
        64 - self.leading - self.meaningful
    }
}

fn write_dod(out: &mut BitWriter, dod: i64) {
    if dod == 0 {
        out.write_bit(false);
        return;
    }
    for (i, &width) in DOD_WIDTHS.iter().enumerate() {
        let half = 1i64 << (width - 1);
        if (-half..half).contains(&dod) {
            // Prefix: i + 1 ones then a zero.
            let ones = i as u32 + 1;
            out.write_bits(((1u64 << ones) - 1) << 1, ones + 1);
            out.write_bits(dod as u64, width);
            return;
        }
    }
    out.write_bits(0b1111, 4);
    out.write_bits(dod as u64, 64);
}

fn write_value(out: &mut BitWriter, xor: u64, window: &mut Option<XorWindow>) {
    if xor == 0 {
        out.write_bit(false);
        return;
    }
    // Five bits hold the leading count; a longer run just becomes meaningful zeros.
    let leading = xor.leading_zeros().min(31);
    let trailing = xor.trailing_zeros();
    if let Some(w) = *window {
        if leading >= w.leading && trailing >= w.trailing() {
            out.write_bits(0b10, 2);
            out.write_bits(xor >> w.trailing(), w.meaningful);
            return;
        }
    }
    let meaningful = 64 - leading - trailing;
    out.write_bits(0b11, 2);
    out.write_bits(u64::from(leading), 5);
    // 64 meaningful bits are written as 0, since 0 never occurs.
    out.write_bits(u64::from(meaningful & 63), 6);
    out.write_bits(xor >> trailing, meaningful);
    *window = Some(XorWindow {
        leading,
        meaningful,
    });
}

/// Streams the samples of a chunk without materialising them. Yields an error at most
/// once, then stops; the last item checks that nothing follows the final sample.
#[derive(Debug, Clone)]
pub struct ChunkIter<'a> {
    bits: BitReader<'a>,
    count: usize,
    index: usize,
    first: Sample,
    prev_ts: i64,
    prev_delta: u64,
    prev_bits: u64,
    window: Option<XorWindow>,
    done: bool,
}

impl<'a> ChunkIter<'a> {
    /// Parses the header; sample errors come from iteration.
    pub fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let mut cursor = ByteCursor::new(bytes);
        let version = cursor.u8().ok_or(ChunkError::Empty)?;
        if version != CHUNK_FORMAT_V1 {
            return Err(ChunkError::UnsupportedVersion(version));
        }
        let declared = cursor
            .uvarint()
            .ok_or(ChunkError::TruncatedHeader("the sample count"))?;
        let first = if declared == 0 {
            Sample {
                timestamp_ms: 0,
                value: 0.0,
            }
        } else {
            let timestamp_ms = cursor
                .ivarint()
                .ok_or(ChunkError::TruncatedHeader("the first timestamp"))?;
            let bits = cursor
                .u64_be()
                .ok_or(ChunkError::TruncatedHeader("the first value"))?;
            Sample {
                timestamp_ms,
                value: f64::from_bits(bits),
            }
        };
        let bits = BitReader::new(cursor.rest());
        // Every sample after the first takes at least two bits, which bounds the count
        // before anything is allocated from it.
        let max_count = bits.remaining_bits() as u64 / 2 + 1;
        if declared > max_count {
            return Err(ChunkError::ImpossibleCount {
                declared,
                bytes: bytes.len(),
            });
        }
        Ok(Self {
            bits,
            count: declared as usize,
            index: 0,
            first,
            prev_ts: first.timestamp_ms,
            prev_delta: 0,
            prev_bits: first.value.to_bits(),
            window: None,
            done: false,
        })
    }

    /// Samples the header declares that have not been yielded yet.
    pub fn remaining(&self) -> usize {
        self.count - self.index
    }

    fn next_sample(&mut self) -> Result<Sample, ChunkError> {
        let index = self.index;
        let truncated = ChunkError::TruncatedSample { index };
        let corrupt = |reason| ChunkError::Corrupt { index, reason };

        let dod = self.read_dod().ok_or(truncated.clone())?;
        let delta = self.prev_delta.wrapping_add(dod as u64);
        if delta == 0 {
            return Err(corrupt("timestamp does not increase"));
        }
        let timestamp = i128::from(self.prev_ts) + i128::from(delta);
        let timestamp_ms =
            i64::try_from(timestamp).map_err(|_| corrupt("timestamp overflows i64"))?;

        let xor = match self.read_value_xor() {
            Ok(Some(xor)) => xor,
            Ok(None) => return Err(truncated),
            Err(reason) => return Err(corrupt(reason)),
        };
        self.prev_ts = timestamp_ms;
        self.prev_delta = delta;
        self.prev_bits ^= xor;
        Ok(Sample {
            timestamp_ms,
            value: f64::from_bits(self.prev_bits),
        })
    }

    fn read_dod(&mut self) -> Option<i64> {
        let mut ones = 0;
        while ones < 4 && self.bits.read_bit()? {
            ones += 1;
        }
        let width = match ones {
            0 => return Some(0),
            4 => return self.bits.read_bits(64).map(|raw| raw as i64),
            n => DOD_WIDTHS[n - 1],
        };
        let raw = self.bits.read_bits(width)?;
        let shift = 64 - width;
        Some(((raw << shift) as i64) >> shift)
    }

    /// `Ok(None)` when the data ends, `Err` when the bits contradict the format.
    fn read_value_xor(&mut self) -> Result<Option<u64>, &'static str> {
        let Some(changed) = self.bits.read_bit() else {
            return Ok(None);
        };
        if !changed {
            return Ok(Some(0));
        }
        let Some(new_window) = self.bits.read_bit() else {
            return Ok(None);
        };
        let window = if new_window {
            let (Some(leading), Some(meaningful)) =
                (self.bits.read_bits(5), self.bits.read_bits(6))
            else {
                return Ok(None);
            };
            let meaningful = if meaningful == 0 { 64 } else { meaningful };
            if leading + meaningful > 64 {
                return Err("value window is wider than 64 bits");
            }
            let window = XorWindow {
                leading: leading as u32,
                meaningful: meaningful as u32,
            };
            self.window = Some(window);
            window
        } else {
            self.window
                .ok_or("value reuses a bit window before one was written")?
        };
        Ok(self
            .bits
            .read_bits(window.meaningful)
            .map(|bits| bits << window.trailing()))
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = Result<Sample, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index == self.count {
            self.done = true;
            return (!self.bits.at_clean_end()).then_some(Err(ChunkError::TrailingData));
        }
        let result = if self.index == 0 {
            Ok(self.first)
        } else {
            self.next_sample()
        };
        match result {
            Ok(_) => self.index += 1,
            Err(_) => self.done = true,
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // An error may end iteration early, or be one item past the samples.
        (0, Some(self.remaining() + 1))
    }
}

#[cfg(test)]
mod tests;
