//! MSB-first bit writer and reader for the Gorilla chunk format. The reader returns
//! `None` instead of reading past the end, so a truncated chunk is an error, not a panic.

/// Appends bits most-significant first to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    buf: Vec<u8>,
    /// Pending bits in the low `pending` bits; always fewer than 8 between calls.
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// Continues after `prefix`, which holds the byte-aligned header.
    pub(crate) fn with_prefix(prefix: Vec<u8>) -> Self {
        Self {
            buf: prefix,
            acc: 0,
            pending: 0,
        }
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        self.write_small(u64::from(bit), 1);
    }

    /// Writes the low `count` bits of `value`, `count` at most 64.
    pub(crate) fn write_bits(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count > 32 {
            self.write_small(value >> 32, count - 32);
            self.write_small(value, 32);
        } else {
            self.write_small(value, count);
        }
    }

    /// `count` at most 32, so the accumulator (under 8 pending bits) cannot overflow.
    fn write_small(&mut self, value: u64, count: u32) {
        if count == 0 {
            return;
        }
        let mask = u64::MAX >> (64 - count);
        self.acc = (self.acc << count) | (value & mask);
        self.pending += count;
        while self.pending >= 8 {
            self.pending -= 8;
            self.buf.push((self.acc >> self.pending) as u8);
        }
    }

    /// Pads the last byte with zero bits and returns the bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            let pad = 8 - self.pending;
            self.write_small(0, pad);
        }
        self.buf
    }
}

/// Reads bits most-significant first from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits from the start of `data`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn remaining_bits(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `count` bits (at most 64) into the low bits of the result.
    pub(crate) fn read_bits(&mut self, count: u32) -> Option<u64> {
        debug_assert!(count <= 64);
        if count == 0 {
            return Some(0);
        }
        if count as usize > self.remaining_bits() {
            return None;
        }
        let start = self.pos / 8;
        let offset = (self.pos % 8) as u32;
        let value = match self.data.get(start..start + 8) {
            // Fast path: one unaligned load covers the whole read.
            Some(word) if offset + count <= 64 => {
                let word = u64::from_be_bytes(word.try_into().ok()?);
                (word << offset) >> (64 - count)
            }
            _ => self.read_bytewise(count)?,
        };
        self.pos += count as usize;
        Some(value)
    }

    /// Slow path near the end of the data or for reads straddling nine bytes.
    fn read_bytewise(&self, count: u32) -> Option<u64> {
        let mut value = 0u64;
        let mut pos = self.pos;
        let mut left = count;
        while left > 0 {
            let byte = *self.data.get(pos / 8)?;
            let offset = (pos % 8) as u32;
            let take = (8 - offset).min(left);
            let bits = (u32::from(byte) >> (8 - offset - take)) & ((1 << take) - 1);
            value = (value << take) | u64::from(bits);
            pos += take as usize;
            left -= take;
        }
        Some(value)
    }

    /// True when only zero padding is left in the current byte and no byte follows.
    pub(crate) fn at_clean_end(&self) -> bool {
        if self.remaining_bits() >= 8 {
            return false;
        }
        let tail = self.remaining_bits() as u32;
        match self.data.last() {
            Some(&last) if tail > 0 => u32::from(last) & ((1 << tail) - 1) == 0,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_in_every_width_and_alignment() {
        let mut writes = Vec::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for width in 0..=64u32 {
            for _ in 0..3 {
                seed = seed.rotate_left(17).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ 0x94d0;
                let mask = if width == 0 {
                    0
                } else {
                    u64::MAX >> (64 - width)
                };
                writes.push((seed & mask, width));
                writes.push((u64::from(width % 2 == 0), 1));
            }
        }
        let mut writer = BitWriter::default();
        for &(value, width) in &writes {
            writer.write_bits(value, width);
        }
        let total: u32 = writes.iter().map(|w| w.1).sum();
        let bytes = writer.finish();
        assert_eq!(bytes.len(), total.div_ceil(8) as usize);

        let mut reader = BitReader::new(&bytes);
        for &(value, width) in &writes {
            assert_eq!(reader.read_bits(width), Some(value), "width {width}");
        }
        assert!(reader.at_clean_end());
        assert_eq!(reader.read_bits(9), None);
    }

    #[test]
    fn reader_stops_at_the_end_and_checks_padding() {
        let mut reader = BitReader::new(&[0b1010_0000]);
        assert_eq!(reader.read_bit(), Some(true));
        assert_eq!(reader.read_bits(2), Some(0b01));
        assert!(reader.at_clean_end());
        assert_eq!(reader.read_bits(6), None, "only five bits are left");
        assert_eq!(reader.read_bits(5), Some(0));
        assert_eq!(reader.read_bit(), None);

        let mut dirty = BitReader::new(&[0b1000_0001]);
        assert_eq!(dirty.read_bit(), Some(true));
        assert!(!dirty.at_clean_end());
        assert!(!BitReader::new(&[0, 0]).at_clean_end());
        assert!(BitReader::new(&[]).at_clean_end());
    }
}
