//! Byte-aligned primitives shared by the chunk and WAL formats: LEB128 varints, zig-zag
//! signed integers and a bounds-checked cursor. Readers return `None` on truncation or
//! overflow so that each format can report it in its own error type.

/// A varint never needs more than this many bytes for a `u64`.
const MAX_VARINT_BYTES: usize = 10;

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Appends `value` zig-zag encoded, so small negative numbers stay short.
pub(crate) fn put_ivarint(buf: &mut Vec<u8>, value: i64) {
    put_uvarint(buf, zigzag(value));
}

pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// A read position in a byte slice that never reads past its end.
#[derive(Debug, Clone)]
pub(crate) struct ByteCursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteCursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let byte = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    pub(crate) fn u64_be(&mut self) -> Option<u64> {
        let bytes: [u8; 8] = self.bytes(8)?.try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    }

    /// Reads an unsigned LEB128 varint; `None` if truncated or wider than 64 bits.
    pub(crate) fn uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..MAX_VARINT_BYTES {
            let byte = self.u8()?;
            let shift = 7 * i as u32;
            // The tenth byte may only carry the single remaining bit of a u64.
            if i == MAX_VARINT_BYTES - 1 && byte > 1 {
                return None;
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    pub(crate) fn ivarint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        let unsigned = [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let signed = [0, -1, 1, -64, 64, i64::MIN, i64::MAX, -1_700_000_000_000];
        let mut buf = Vec::new();
        for &v in &unsigned {
            put_uvarint(&mut buf, v);
        }
        for &v in &signed {
            put_ivarint(&mut buf, v);
        }
        let mut cursor = ByteCursor::new(&buf);
        for &v in &unsigned {
            assert_eq!(cursor.uvarint(), Some(v));
        }
        for &v in &signed {
            assert_eq!(cursor.ivarint(), Some(v));
        }
        assert_eq!(cursor.remaining(), 0);
        assert_eq!(cursor.uvarint(), None);
    }

    #[test]
    fn malformed_varints_are_refused() {
        for (name, bytes) in [
            ("empty", vec![]),
            ("unterminated", vec![0x80, 0x80]),
            ("eleven bytes", vec![0xff; 11]),
            ("tenth byte overflows", [vec![0xff; 9], vec![0x02]].concat()),
        ] {
            assert_eq!(ByteCursor::new(&bytes).uvarint(), None, "{name}");
        }
    }
}
