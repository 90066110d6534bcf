//! OTLP/HTTP logs: `ExportLogsServiceRequest` as protobuf or OTLP/JSON.
//!
//! - resource `service.name` → `service`, `host.name` → `host`; the other resource
//!   attributes → stream labels (they describe the source, and are few), except those that
//!   change with every process start (`service.instance.id`, `process.*`, `telemetry.*`),
//!   which are fields;
//! - the record's attributes → fields; a map body → fields too (its `message`/`msg` the
//!   message), any other body → the message;
//! - `severityNumber` → level, else `severityText` by its aliases, else info;
//! - `timeUnixNano`, else `observedTimeUnixNano`, else the receive time;
//! - `traceId`/`spanId` → fields `trace_id`/`span_id` (hex), the scope's name →
//!   `scope.name`.
//!
//! All or nothing (OTLP's partial success is never used): a request that cannot be read
//! is refused whole. Origins are `resourceLogs[0].scopeLogs[0].logRecords[4]`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::Value;

use super::normalise::{flatten, from_fields, RecordDefaults};
use super::{LogBatch, Origins};
use crate::domain::logs::Level;
use crate::ingest::metrics::otlp::names::to_json;
use crate::ingest::{
    DecodeContext, Decoder, DecoderMemory, IngestError, OtlpDecoder, OtlpEncoding, RequestHead,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtlpLogDecoder {
    pub encoding: OtlpEncoding,
}

impl Decoder for OtlpLogDecoder {
    type Batch = LogBatch;

    fn for_request(head: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        Ok(Self {
            encoding: OtlpDecoder::for_content_type(head.content_type)?.encoding,
        })
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<LogBatch, IngestError> {
        let request: ExportLogsServiceRequest = match self.encoding {
            OtlpEncoding::Protobuf => prost::Message::decode(body).map_err(|e| {
                IngestError::malformed(format!(
                    "the body is not a protobuf ExportLogsServiceRequest: {e}"
                ))
            })?,
            // serde also builds a struct from an array; OTLP/JSON is an object.
            OtlpEncoding::Json if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
                return Err(IngestError::malformed(
                    "the body is not an OTLP/JSON ExportLogsServiceRequest object",
                ))
            }
            OtlpEncoding::Json => serde_json::from_slice(body).map_err(|e| {
                IngestError::malformed(format!(
                    "the body is not an OTLP/JSON ExportLogsServiceRequest: {e}"
                ))
            })?,
        };
        let now_ns = ctx.now_ms.saturating_mul(1_000_000);
        let mut records = Vec::new();
        let mut paths = Vec::new();
        for (r, resource_logs) in request.resource_logs.iter().enumerate() {
            let mut defaults = RecordDefaults {
                now_ns,
                ..RecordDefaults::default()
            };
            let mut resource_fields = BTreeMap::new();
            if let Some(resource) = &resource_logs.resource {
                for kv in &resource.attributes {
                    let text = text_of(kv.value.as_ref());
                    match kv.key.as_str() {
                        "service.name" => defaults.service = text,
                        "host.name" => defaults.host = text,
                        // Attributes that change with every process start would make
                        // a new stream each time: they are fields.
                        key if per_process(key) => {
                            resource_fields.insert(key.to_owned(), Value::String(text));
                        }
                        key => {
                            defaults.labels.insert(key.to_owned(), text);
                        }
                    }
                }
            }
            for (s, scope_logs) in resource_logs.scope_logs.iter().enumerate() {
                let scope = scope_logs
                    .scope
                    .as_ref()
                    .map(|s| s.name.clone())
                    .filter(|n| !n.is_empty());
                for (l, log) in scope_logs.log_records.iter().enumerate() {
                    let mut fields = attributes(&log.attributes);
                    for (k, v) in &resource_fields {
                        fields.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    let message = match log.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(any_value::Value::KvlistValue(_)) => {
                            let body = log.body.as_ref().and_then(|b| b.value.as_ref());
                            if let Some(Value::Object(map)) = body.map(to_json) {
                                for (k, v) in flatten(map) {
                                    fields.entry(k).or_insert(v);
                                }
                            }
                            None
                        }
                        Some(any_value::Value::StringValue(s)) => Some(Value::String(s.clone())),
                        Some(other) => Some(Value::String(match to_json(other) {
                            Value::String(s) => s,
                            json => json.to_string(),
                        })),
                        None => None,
                    };
                    if let Some(message) = message {
                        fields.insert("message".into(), message);
                    }
                    let time = if log.time_unix_nano > 0 {
                        log.time_unix_nano
                    } else {
                        log.observed_time_unix_nano
                    };
                    let time = i64::try_from(time).ok().filter(|t| *t > 0);
                    // The record's own time, level and message win over attributes
                    // that happen to share their names.
                    let mut record = from_fields(
                        fields,
                        defaults.labels.clone(),
                        &RecordDefaults {
                            now_ns: time.unwrap_or(now_ns),
                            ..defaults.clone()
                        },
                    );
                    if let Some(time) = time {
                        record.timestamp_ns = time;
                    }
                    if let Some(level) = Level::from_otlp_severity(log.severity_number)
                        .or_else(|| Level::parse_alias(&log.severity_text))
                    {
                        record.level = level;
                    }
                    if !log.trace_id.is_empty() {
                        record
                            .fields
                            .insert("trace_id".into(), Value::String(hex::encode(&log.trace_id)));
                    }
                    if !log.span_id.is_empty() {
                        record
                            .fields
                            .insert("span_id".into(), Value::String(hex::encode(&log.span_id)));
                    }
                    if let Some(scope) = &scope {
                        record
                            .fields
                            .insert("scope.name".into(), Value::String(scope.clone()));
                    }
                    records.push(record);
                    paths.push(format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{l}]"));
                }
            }
        }
        Ok(LogBatch {
            records,
            origins: Origins::Paths(paths),
        })
    }
}

/// Resource attributes that differ between runs of the same service (OpenTelemetry SDKs
/// give every process a new `service.instance.id`).
fn per_process(key: &str) -> bool {
    key == "service.instance.id" || key.starts_with("process.") || key.starts_with("telemetry.")
}

fn text_of(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => match to_json(other) {
            Value::String(s) => s,
            json => json.to_string(),
        },
    }
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for kv in list {
        let value = kv
            .value
            .as_ref()
            .and_then(|v| v.value.as_ref())
            .map_or(Value::Null, to_json);
        match value {
            Value::Object(map) => {
                for (k, v) in flatten(map) {
                    out.insert(format!("{}.{k}", kv.key), v);
                }
            }
            other => {
                out.insert(kv.key.clone(), other);
            }
        }
    }
    out
}
