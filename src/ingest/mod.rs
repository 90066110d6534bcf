//! Wire formats → domain, by signal: `metrics/` today (InfluxDB line protocol,
//! Prometheus remote write, OTLP, Tidewatch JSON), `logs/` next. Each format is one file
//! implementing [`Decoder`]: it reads what the request says about its body (content type,
//! parameters) and turns the decompressed body into its signal's batch. Pure: no I/O, no
//! HTTP.
//!
//! The HTTP layer builds the decoder for a request ([`Decoder::for_request`]) and a
//! [`DecodeContext`] (server clock, limits, tenant), then calls [`decode_request`], which
//! decompresses by `Content-Encoding` (or the one the format implies) and decodes. One
//! generic handler (`http::ingest`) serves every decoder.

pub mod compression;
mod error;
pub mod logs;
pub mod metrics;

use crate::domain::TenantId;

pub use compression::decompress;
pub use error::IngestError;
pub use metrics::{
    InfluxDecoder, JsonDecoder, OtlpDecoder, OtlpEncoding, Precision, RemoteWriteDecoder,
    SeriesLabelMemo,
};

/// How many problems a [`IngestError::Malformed`] lists at most: enough to fix a client,
/// bounded so a garbage body cannot produce a garbage-sized answer.
pub const MAX_REPORTED_ERRORS: usize = 10;

/// Per-request parameters for decoding: the server clock, the limits, the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeContext {
    /// Server time in Unix ms, given to samples sent without a timestamp.
    pub now_ms: i64,
    /// The largest body accepted after decompression ([`IngestError::TooLarge`]).
    pub max_decompressed_bytes: usize,
    /// The most series one request may decode to ([`IngestError::TooManySeries`]); bounds
    /// the memory of formats that expand (one OTLP histogram point becomes many series).
    pub max_series: usize,
    /// Whose request this is. Decoders that remember series between requests keep each
    /// tenant's apart, so one tenant cannot learn (from timing) what another sends; `None`
    /// is a scope of its own, for callers without a tenant.
    pub tenant: Option<TenantId>,
}

impl DecodeContext {
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;
    pub const DEFAULT_MAX_SERIES: usize = 200_000;

    /// A context with the default limits.
    pub fn new(now_ms: i64) -> Self {
        Self {
            now_ms,
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_series: Self::DEFAULT_MAX_SERIES,
            tenant: None,
        }
    }
}

/// What a decoder is told about a request before its body is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestHead<'a> {
    /// The `Content-Type` header, as sent.
    pub content_type: Option<&'a str>,
    /// The URL's query string (`precision=ms`), undecoded.
    pub query: &'a str,
}

/// What decoders keep across requests, built once at start and handed to
/// [`Decoder::for_request`].
#[derive(Clone, Default)]
pub struct DecoderMemory {
    /// Label sets of series keys seen before (InfluxDB line protocol).
    pub series_labels: std::sync::Arc<SeriesLabelMemo>,
}

/// One wire format of one signal. Adding a format is adding a file with one of these and
/// a route that names it (`http::ingest`).
pub trait Decoder: Sized {
    /// What a body decodes to: [`crate::domain::metrics::MetricBatch`] for metrics.
    type Batch;

    /// The decoder for one request: refuses a content type it does not read (415) or a
    /// bad format parameter (400) before the body is read.
    fn for_request(head: &RequestHead<'_>, memory: &DecoderMemory) -> Result<Self, IngestError>;

    /// The `Content-Encoding` the protocol implies when a request sends none (Prometheus
    /// remote write bodies are always snappy-compressed).
    fn implied_encoding(&self) -> Option<&'static str> {
        None
    }

    /// Decodes an already decompressed body. All or nothing: any bad entry fails the
    /// whole body, so the caller never stores part of a request.
    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<Self::Batch, IngestError>;
}

/// Decompresses `body` by its `Content-Encoding` (or the one the format implies) within
/// `ctx.max_decompressed_bytes`, then decodes it.
pub fn decode_request<D: Decoder>(
    decoder: &D,
    body: &[u8],
    content_encoding: Option<&str>,
    ctx: &DecodeContext,
) -> Result<D::Batch, IngestError> {
    let encoding = content_encoding.or(decoder.implied_encoding());
    let plain = decompress(body, encoding, ctx.max_decompressed_bytes)?;
    decoder.decode(&plain, ctx)
}

/// The media type of a `Content-Type` header, lower-cased and without parameters:
/// `Application/JSON; charset=utf-8` → `application/json`.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}
