//! Byte formats of Tidewatch's time-series storage: sealed per-series chunks
//! ([`chunk`]) and write-ahead records of whole ingest batches ([`wal`]). Pure codecs:
//! the store decides which rows hold them.

mod bits;
pub mod chunk;
pub mod log_block;
mod varint;
pub mod wal;

#[cfg(test)]
mod testdata;

pub use chunk::{decode_chunk, encode_chunk, ChunkError, ChunkIter, CHUNK_FORMAT_V1};
pub use wal::{decode_wal_record, encode_wal_record, WalError, WAL_FORMAT_V1};
