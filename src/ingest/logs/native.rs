//! `POST /api/v1/ingest/logs`: a JSON array of objects (or one object), NDJSON, or plain
//! text with one record per line (indented continuation lines join the record above).
//! `?service=…&host=…` name the source of records that do not name their own.

use serde_json::Value;

use super::normalise::{from_line, from_object, split_entries, RecordDefaults};
use super::{defaults_from_query, utf8_body, LogBatch, Origins, Problems};
use crate::ingest::{media_type, DecodeContext, Decoder, DecoderMemory, IngestError, RequestHead};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeFormat {
    Json,
    Ndjson,
    Text,
}

#[derive(Debug, Clone)]
pub struct NativeLogDecoder {
    pub format: NativeFormat,
    defaults: RecordDefaults,
}

impl Decoder for NativeLogDecoder {
    type Batch = LogBatch;

    fn for_request(head: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        let content_type = head.content_type.unwrap_or("");
        let format = match media_type(content_type).as_str() {
            "application/json" => NativeFormat::Json,
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => NativeFormat::Ndjson,
            "text/plain" => NativeFormat::Text,
            _ => {
                return Err(IngestError::UnsupportedMediaType(format!(
                    "{content_type}; send application/json, application/x-ndjson or text/plain"
                )))
            }
        };
        Ok(Self {
            format,
            // The receive time is set per request in `decode` (from the context's clock).
            defaults: defaults_from_query(head.query, 0),
        })
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<LogBatch, IngestError> {
        let text = utf8_body(body)?;
        let defaults = RecordDefaults {
            now_ns: ctx.now_ms.saturating_mul(1_000_000),
            ..self.defaults.clone()
        };
        let mut problems = Problems::default();
        let mut batch = LogBatch::default();
        match self.format {
            NativeFormat::Json => {
                let parsed: Value = serde_json::from_str(text).map_err(|e| {
                    IngestError::malformed(format!(
                        "the body is not JSON (an array of records or one record): {e}"
                    ))
                })?;
                let items = match parsed {
                    Value::Array(items) => items,
                    object @ Value::Object(_) => vec![object],
                    _ => {
                        return Err(IngestError::malformed(
                            "the body is neither an array of records nor one record object",
                        ))
                    }
                };
                batch.records.reserve(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::Object(object) => batch.records.push(from_object(object, &defaults)),
                        Value::String(line) => batch.records.push(from_line(&line, &defaults)),
                        other => problems.add(
                            format!("records[{i}]"),
                            format!("expected an object or a string, got {}", kind(&other)),
                        ),
                    }
                    if problems.is_full() {
                        break;
                    }
                }
                batch.origins = Origins::Items;
            }
            NativeFormat::Ndjson => {
                let mut lines = Vec::new();
                for (i, line) in text.split('\n').enumerate() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Value>(line) {
                        Ok(Value::Object(object)) => {
                            batch.records.push(from_object(object, &defaults));
                            lines.push(i as u32 + 1);
                        }
                        Ok(other) => problems.add(
                            format!("line {}", i + 1),
                            format!("expected a JSON object, got {}", kind(&other)),
                        ),
                        Err(e) => {
                            problems.add(format!("line {}", i + 1), format!("invalid JSON: {e}"))
                        }
                    }
                    if problems.is_full() {
                        break;
                    }
                }
                batch.origins = Origins::Lines(lines);
            }
            NativeFormat::Text => {
                let entries = split_entries(text);
                let mut lines = Vec::with_capacity(entries.len());
                batch.records.reserve(entries.len());
                for (line, entry) in entries {
                    batch.records.push(from_line(&entry, &defaults));
                    lines.push(line as u32);
                }
                batch.origins = Origins::Lines(lines);
            }
        }
        problems.finish(batch)
    }
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
