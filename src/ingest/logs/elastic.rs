//! Elasticsearch's bulk API (`POST /es/_bulk`, `/es/{index}/_bulk`, `/api/v1/logs/_bulk`):
//! NDJSON pairs of an action line (`{"index":{…}}` or `{"create":{…}}`, `_index`
//! optional when the path names one) and a document, as Filebeat, Fluent Bit's and
//! Vector's Elasticsearch outputs send them. Documents are normalised like any JSON
//! record (`@timestamp`, `message`, `log.level`, `host.name`, `service.name` are read);
//! the index becomes the stream label `index`. Other actions (`delete`, `update`) are
//! refused: the request is all or nothing, naming the line.

use serde_json::Value;

use super::normalise::{from_object, RecordDefaults};
use super::{utf8_body, LogBatch, Origins, Problems};
use crate::ingest::{DecodeContext, Decoder, DecoderMemory, IngestError, RequestHead};

/// One bulk item, for the answer in Elasticsearch's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// `index` or `create`.
    pub action: &'static str,
    pub index: String,
    /// As given, or generated.
    pub id: String,
}

/// A decoded bulk body: its records and the items to answer.
#[derive(Debug, Clone, Default)]
pub struct BulkBatch {
    pub logs: LogBatch,
    pub items: Vec<BulkItem>,
}

#[derive(Debug, Clone, Default)]
pub struct EsBulkDecoder {
    /// The index the path names (`/es/{index}/_bulk`), for actions that name none.
    pub path_index: Option<String>,
}

impl Decoder for EsBulkDecoder {
    type Batch = BulkBatch;

    /// Any content type: shippers send `application/x-ndjson`, `application/json` or
    /// none at all.
    fn for_request(_: &RequestHead<'_>, _: &DecoderMemory) -> Result<Self, IngestError> {
        Ok(Self::default())
    }

    fn decode(&self, body: &[u8], ctx: &DecodeContext) -> Result<BulkBatch, IngestError> {
        let text = utf8_body(body)?;
        // As Elasticsearch: a bulk request without a single action is a mistake (a
        // shipper's misconfiguration, a truncated body), not an empty success.
        if text.trim().is_empty() {
            return Err(IngestError::malformed(
                "the bulk body is empty: send action/document line pairs",
            ));
        }
        let defaults = RecordDefaults {
            now_ns: ctx.now_ms.saturating_mul(1_000_000),
            ..RecordDefaults::default()
        };
        let mut problems = Problems::default();
        let mut out = BulkBatch::default();
        let mut lines_of_records = Vec::new();
        let mut lines = text
            .split('\n')
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        while let Some((action_index, action_line)) = lines.next() {
            let line_number = action_index + 1;
            let action = match serde_json::from_str::<Value>(action_line) {
                Ok(Value::Object(action)) if action.len() == 1 => action,
                Ok(_) => {
                    problems.add(
                        format!("line {line_number}"),
                        "an action line holds one action: {\"index\":{…}} or {\"create\":{…}}",
                    );
                    break;
                }
                Err(e) => {
                    problems.add(format!("line {line_number}"), format!("invalid JSON: {e}"));
                    break;
                }
            };
            let (name, meta) = action.into_iter().next().expect("one entry");
            let action: &'static str = match name.as_str() {
                "index" => "index",
                "create" => "create",
                other => {
                    problems.add(
                        format!("line {line_number}"),
                        format!("the bulk action {other:?} is not supported; use index or create"),
                    );
                    break;
                }
            };
            let meta_text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_owned);
            let Some(index) = meta_text("_index").or_else(|| self.path_index.clone()) else {
                problems.add(
                    format!("line {line_number}"),
                    "the action names no _index and the path names none",
                );
                break;
            };
            let Some((doc_index, doc_line)) = lines.next() else {
                problems.add(
                    format!("line {line_number}"),
                    "the action has no document line after it",
                );
                break;
            };
            match serde_json::from_str::<Value>(doc_line) {
                Ok(Value::Object(document)) => {
                    let mut record = from_object(document, &defaults);
                    record.labels.insert("index".into(), index.clone());
                    out.logs.records.push(record);
                    lines_of_records.push(doc_index as u32 + 1);
                    out.items.push(BulkItem {
                        action,
                        index,
                        id: meta_text("_id")
                            .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string()),
                    });
                }
                Ok(_) => problems.add(
                    format!("line {}", doc_index + 1),
                    "the document is not a JSON object",
                ),
                Err(e) => problems.add(
                    format!("line {}", doc_index + 1),
                    format!("invalid JSON: {e}"),
                ),
            }
            if problems.is_full() {
                break;
            }
        }
        out.logs.origins = Origins::Lines(lines_of_records);
        problems.finish(out)
    }
}
