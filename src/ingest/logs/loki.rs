//! Loki push, `POST /loki/api/v1/push`, as Promtail, Grafana Alloy, Fluent Bit's and
//! Vector's Loki outputs send it: protobuf (`logproto.PushRequest`, snappy-compressed,
//! `application/x-protobuf`) or JSON (`{"streams":[{"stream":{…},"values":[["<ns>",
//! "<line>", {<structured metadata>}]]}]}`, also the older `labels`/`entries` form), gzip
//! allowed.
//!
//! A Loki line is opaque: it is kept whole as the message, so Loki queries give back
//! what was pushed. Stream labels stay labels; `service` and `host` are read from the
//! labels shippers use for them (`service_name`, `app`, `job`, … / `host`, `instance`, …);
//! the level from a `level`/`detected_level` label, else from the line's own shape (a
//! JSON or logfmt `level`, a syslog priority, …); structured metadata become fields.
//! Origins are `streams[0].values[4]`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::normalise::{from_line, parse_timestamp, RecordDefaults};
use super::{parse_label_set, service_and_host, utf8_body, LogBatch, Origins, Problems};
use crate::domain::logs::{Level, LogRecord};
use crate::ingest::{media_type, DecodeContext, Decoder, DecoderMemory, IngestError, RequestHead};

pub mod proto {
    //! Loki's `pkg/push/push.proto`, the fields a push carries.

    /// `logproto.PushRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }

    /// `logproto.StreamAdapter`: labels in their text form, `{app="api"}`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        #[prost(string, tag = "1")]
        pub labels: String,
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }

    /// `logproto.EntryAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(string, tag = "2")]
        pub line: String,
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }

    /// `logproto.LabelPairAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LokiEncoding {
    Protobuf,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LokiPushDecoder {
    pub encoding: LokiEncoding,
}

impl Decoder for LokiPushDecoder {
    type Batch = LogBatch;

    fn for_request(head: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        let content_type = head.content_type.unwrap_or("");
        let encoding = match media_type(content_type).as_str() {
            // Loki itself takes a push without a Content-Type as protobuf.
            "application/x-protobuf" | "" => LokiEncoding::Protobuf,
            "application/json" => LokiEncoding::Json,
            _ => {
                return Err(IngestError::UnsupportedMediaType(format!(
                    "{content_type}; send application/x-protobuf (snappy) or application/json"
                )))
            }
        };
        Ok(Self { encoding })
    }

    fn implied_encoding(&self) -> Option<&'static str> {
        (self.encoding == LokiEncoding::Protobuf).then_some("snappy")
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<LogBatch, IngestError> {
        let now_ns = ctx.now_ms.saturating_mul(1_000_000);
        let streams = match self.encoding {
            LokiEncoding::Protobuf => from_protobuf(body)?,
            LokiEncoding::Json => from_json(utf8_body(body)?)?,
        };
        let mut problems = Problems::default();
        let mut batch = LogBatch::default();
        let mut paths = Vec::new();
        for (s, stream) in streams.into_iter().enumerate() {
            let labels = match stream.labels {
                Ok(labels) => labels,
                Err(problem) => {
                    problems.add(format!("streams[{s}]"), problem);
                    continue;
                }
            };
            let (service, host) = service_and_host(&labels);
            let stated_level = ["level", "detected_level", "severity", "lvl"]
                .iter()
                .find_map(|k| labels.get(*k).and_then(|v| Level::parse_alias(v)));
            let defaults = RecordDefaults {
                now_ns,
                service,
                host,
                labels,
            };
            for (e, entry) in stream.entries.into_iter().enumerate() {
                let Some(timestamp_ns) = entry.timestamp_ns else {
                    problems.add(
                        format!("streams[{s}].values[{e}]"),
                        "the timestamp is not Unix nanoseconds (or RFC 3339)",
                    );
                    if problems.is_full() {
                        break;
                    }
                    continue;
                };
                let level = stated_level.unwrap_or_else(|| from_line(&entry.line, &defaults).level);
                batch.records.push(LogRecord {
                    timestamp_ns,
                    level,
                    service: defaults.service.clone(),
                    host: defaults.host.clone(),
                    message: entry.line,
                    labels: defaults.labels.clone(),
                    fields: entry.metadata,
                });
                paths.push(format!("streams[{s}].values[{e}]"));
            }
            if problems.is_full() {
                break;
            }
        }
        batch.origins = Origins::Paths(paths);
        problems.finish(batch)
    }
}

/// One pushed stream, whatever encoding it came in.
struct PushedStream {
    labels: Result<BTreeMap<String, String>, String>,
    entries: Vec<PushedEntry>,
}

struct PushedEntry {
    /// `None` when the timestamp cannot be read.
    timestamp_ns: Option<i64>,
    line: String,
    metadata: BTreeMap<String, Value>,
}

fn from_protobuf(body: &[u8]) -> Result<Vec<PushedStream>, IngestError> {
    let request: proto::PushRequest = prost::Message::decode(body).map_err(|e| {
        IngestError::malformed(format!(
            "the body is not a protobuf logproto.PushRequest: {e}"
        ))
    })?;
    Ok(request
        .streams
        .into_iter()
        .map(|stream| PushedStream {
            labels: parse_label_set(&stream.labels),
            entries: stream
                .entries
                .into_iter()
                .map(|entry| PushedEntry {
                    timestamp_ns: entry.timestamp.and_then(|t| {
                        t.seconds
                            .checked_mul(1_000_000_000)?
                            .checked_add(i64::from(t.nanos))
                            .filter(|ns| *ns > 0)
                    }),
                    line: entry.line,
                    metadata: entry
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, Value::String(p.value)))
                        .collect(),
                })
                .collect(),
        })
        .collect())
}

#[derive(Deserialize)]
struct JsonPush {
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    /// The current form: labels as an object.
    #[serde(default)]
    stream: Option<BTreeMap<String, String>>,
    #[serde(default)]
    values: Vec<Vec<Value>>,
    /// The older form: labels as text, entries as objects.
    #[serde(default)]
    labels: Option<String>,
    #[serde(default)]
    entries: Vec<JsonEntry>,
}

#[derive(Deserialize)]
struct JsonEntry {
    #[serde(alias = "timestamp")]
    ts: Value,
    line: String,
}

fn from_json(text: &str) -> Result<Vec<PushedStream>, IngestError> {
    let push: JsonPush = serde_json::from_str(text).map_err(|e| {
        IngestError::malformed(format!(
            "the body is not a Loki push ({{\"streams\":[{{\"stream\":{{…}},\"values\":[[\"<ns>\",\"<line>\"]]}}]}}): {e}"
        ))
    })?;
    let mut problems = Problems::default();
    let mut streams = Vec::with_capacity(push.streams.len());
    for (s, stream) in push.streams.into_iter().enumerate() {
        let labels = match (stream.stream, stream.labels) {
            (Some(labels), _) => Ok(labels),
            (None, Some(text)) => parse_label_set(&text),
            (None, None) => Ok(BTreeMap::new()),
        };
        let mut entries = Vec::with_capacity(stream.values.len() + stream.entries.len());
        for (e, value) in stream.values.into_iter().enumerate() {
            let mut parts = value.into_iter();
            let (Some(ts), Some(Value::String(line))) = (parts.next(), parts.next()) else {
                problems.add(
                    format!("streams[{s}].values[{e}]"),
                    "expected [\"<unix ns>\", \"<line>\"] or [\"<unix ns>\", \"<line>\", {…}]",
                );
                continue;
            };
            let metadata = match parts.next() {
                Some(Value::Object(map)) => map
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(_) => (k, v),
                        other => (k, Value::String(other.to_string())),
                    })
                    .collect(),
                _ => BTreeMap::new(),
            };
            entries.push(PushedEntry {
                timestamp_ns: timestamp_of(&ts),
                line,
                metadata,
            });
        }
        for entry in stream.entries {
            entries.push(PushedEntry {
                timestamp_ns: timestamp_of(&entry.ts),
                line: entry.line,
                metadata: BTreeMap::new(),
            });
        }
        streams.push(PushedStream { labels, entries });
    }
    problems.finish(streams)
}

/// Loki's JSON timestamps: Unix ns as a string (or a number), RFC 3339 in the old form.
fn timestamp_of(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse::<i64>().ok(),
        Value::String(s) => parse_timestamp(s),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .filter(|ns| *ns > 0)
}
