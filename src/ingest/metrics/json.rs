//! Tidewatch's own JSON format:
//! `{"metrics":[{"name":"cpu_usage","labels":{"host":"a"},"value":1.5,"timestamp":1700000000000}]}`.
//!
//! `timestamp` is Unix ms and optional (absent → server time); `labels` is optional;
//! `value` is a number or one of the strings `"NaN"`, `"+Inf"`, `"-Inf"`, `"Inf"`.
//! Unknown fields are refused so that typos (`"lables"`) do not silently drop data, and so
//! is a key given twice in one object (`{"a":"x","a":"y"}`).
//! Origins are `metrics[i]`.

mod strict_value;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{labels_with_name, special_float, BatchBuilder, DecodeContext, IngestError};
use crate::domain::metrics::{Labels, MetricBatch, Origin, Sample};
use crate::ingest::{Decoder, DecoderMemory, RequestHead};

/// Decodes `application/json` bodies of the shape above.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonDecoder;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBody {
    metrics: Vec<strict_value::StrictValue>,
}

const FIELDS: &str = "\"name\", \"labels\", \"value\", \"timestamp\"";

impl JsonDecoder {
    /// `application/json` or a `+json` type; no header is taken as JSON.
    pub fn check_content_type(content_type: Option<&str>) -> Result<(), IngestError> {
        let Some(content_type) = content_type else {
            return Ok(());
        };
        let media = crate::ingest::media_type(content_type);
        if media == "application/json" || media.ends_with("+json") {
            Ok(())
        } else {
            Err(IngestError::UnsupportedMediaType(content_type.to_owned()))
        }
    }
}

impl Decoder for JsonDecoder {
    type Batch = MetricBatch;

    fn for_request(head: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        Self::check_content_type(head.content_type)?;
        Ok(JsonDecoder)
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<MetricBatch, IngestError> {
        // serde also builds a struct from an array (`[[]]` would be `{"metrics":[]}`).
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(IngestError::malformed(
                "the body is not a JSON object of the form {\"metrics\": [...]}",
            ));
        }
        let parsed: JsonBody = serde_json::from_slice(body).map_err(|e| {
            IngestError::malformed(format!(
                "the body is not a JSON object of the form {{\"metrics\": [...]}}: {e}"
            ))
        })?;
        let mut batch = BatchBuilder::new(ctx);
        for (i, strict_value::StrictValue(entry)) in parsed.metrics.iter().enumerate() {
            let origin = Origin::Item("metrics", i);
            match metric(entry, ctx) {
                Ok((labels, sample)) => batch.push(labels, sample, origin)?,
                Err(problem) => {
                    batch.error(format!("{origin}: {problem}"));
                    if batch.is_full() {
                        break;
                    }
                }
            }
        }
        batch.finish()
    }
}

fn metric(entry: &Value, ctx: &DecodeContext) -> Result<(Labels, Sample), String> {
    let Value::Object(fields) = entry else {
        return Err(format!(
            "expected an object with {FIELDS}, found {}",
            kind(entry)
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "labels" | "value" | "timestamp"))
    {
        return Err(format!(
            "unknown field {unknown:?}; the fields are {FIELDS}"
        ));
    }
    let name = match fields.get("name") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(format!(
                "field \"name\" is {}; expected a string",
                kind(other)
            ))
        }
        None => return Err("field \"name\" is missing".into()),
    };
    let labels = labels_with_name(name, label_pairs(fields)?)?;
    let value = match fields.get("value") {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| format!("field \"value\" {n} is not representable as a float"))?,
        Some(Value::String(s)) => special_float(s).ok_or_else(|| {
            format!(
                "field \"value\" is the string {s:?}; expected a number or one of \"NaN\", \"+Inf\", \"-Inf\", \"Inf\""
            )
        })?,
        Some(other) => {
            return Err(format!(
                "field \"value\" is {}; expected a number or one of \"NaN\", \"+Inf\", \"-Inf\", \"Inf\"",
                kind(other)
            ))
        }
        None => return Err("field \"value\" is missing".into()),
    };
    let timestamp_ms = match fields.get("timestamp") {
        None | Some(Value::Null) => ctx.now_ms,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            format!("field \"timestamp\" is {n}; expected whole Unix milliseconds")
        })?,
        Some(other) => {
            return Err(format!(
                "field \"timestamp\" is {}; expected whole Unix milliseconds",
                kind(other)
            ))
        }
    };
    Ok((
        labels,
        Sample {
            timestamp_ms,
            value,
        },
    ))
}

fn label_pairs(fields: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    match fields.get("labels") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(labels)) => labels
            .iter()
            .map(|(name, value)| match value {
                Value::String(v) => Ok((name.clone(), v.clone())),
                other => Err(format!(
                    "label {name:?} is {}; label values must be strings",
                    kind(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "field \"labels\" is {}; expected an object of string values",
            kind(other)
        )),
    }
}

/// What a JSON value is, for messages: `a string "abc"`, `an array`, `null`.
fn kind(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests;
