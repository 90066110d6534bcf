//! Log wire formats: each file one [`Decoder`](super::Decoder) producing a [`LogBatch`]
//! of normalised records ([`normalise`]). All or nothing: a body with one bad entry is
//! refused whole, naming the entry (`line 3`, `records[2]`, `streams[0].values[4]`).

pub mod elastic;
pub mod loki;
pub mod native;
pub mod normalise;
pub mod otlp;
pub mod syslog;

use std::collections::BTreeMap;

use super::{IngestError, MAX_REPORTED_ERRORS};
use crate::domain::logs::LogRecord;

pub use elastic::{BulkBatch, BulkItem, EsBulkDecoder};
pub use loki::LokiPushDecoder;
pub use native::NativeLogDecoder;
pub use normalise::RecordDefaults;
pub use otlp::OtlpLogDecoder;

/// The records of one request, in the order sent, and where each came from.
#[derive(Debug, Clone, Default)]
pub struct LogBatch {
    pub records: Vec<LogRecord>,
    pub origins: Origins,
}

/// A decoded body that holds log records (and maybe more: an Elasticsearch bulk's items,
/// kept for the answer).
pub trait CarriesLogs {
    /// The records, taken out; what stays is what the answer needs.
    fn take_logs(&mut self) -> LogBatch;
}

impl CarriesLogs for LogBatch {
    fn take_logs(&mut self) -> LogBatch {
        std::mem::take(self)
    }
}

impl CarriesLogs for elastic::BulkBatch {
    fn take_logs(&mut self) -> LogBatch {
        std::mem::take(&mut self.logs)
    }
}

/// Where each record of a batch came from, for messages that name it.
#[derive(Debug, Clone, Default)]
pub enum Origins {
    /// The first line number of each record (text and NDJSON bodies).
    Lines(Vec<u32>),
    /// `name[i]`: items of one array.
    #[default]
    Items,
    /// A path per record (nested formats: OTLP, Loki).
    Paths(Vec<String>),
}

impl LogBatch {
    pub fn origin(&self, index: usize) -> String {
        match &self.origins {
            Origins::Lines(lines) => format!("line {}", lines.get(index).copied().unwrap_or(0)),
            Origins::Items => format!("records[{index}]"),
            Origins::Paths(paths) => paths.get(index).cloned().unwrap_or_default(),
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Collects the problems of a body (at most [`MAX_REPORTED_ERRORS`]).
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<String>);

impl Problems {
    pub(crate) fn add(&mut self, origin: impl std::fmt::Display, problem: impl std::fmt::Display) {
        if self.0.len() < MAX_REPORTED_ERRORS {
            self.0.push(format!("{origin}: {problem}"));
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.0.len() >= MAX_REPORTED_ERRORS
    }

    pub(crate) fn finish<T>(self, value: T) -> Result<T, IngestError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(IngestError::Malformed { errors: self.0 })
        }
    }
}

/// The body as UTF-8, or the line of its first invalid byte.
pub(crate) fn utf8_body(body: &[u8]) -> Result<&str, IngestError> {
    std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        IngestError::malformed(format!("line {line}: the body is not valid UTF-8"))
    })
}

/// `service=api&host=web-1` query parameters as defaults for records that name neither.
pub(crate) fn defaults_from_query(query: &str, now_ns: i64) -> RecordDefaults {
    let mut defaults = RecordDefaults {
        now_ns,
        ..RecordDefaults::default()
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "service" => defaults.service = value.into_owned(),
            "host" => defaults.host = value.into_owned(),
            _ => {}
        }
    }
    defaults
}

/// Loki's and Prometheus' label set text, `{app="api", env=~"…"}` with `=` only:
/// `{app="billing",env="prod"}` → labels. Values may hold escaped quotes.
pub fn parse_label_set(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("labels {text:?} are not of the form {{name=\"value\", …}}"))?;
    let mut labels = BTreeMap::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("labels {text:?}: '=' expected"))?;
        let name = rest[..eq].trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("labels {text:?}: invalid label name {name:?}"));
        }
        let after = rest[eq + 1..].trim_start();
        let body = after
            .strip_prefix('"')
            .ok_or_else(|| format!("labels {text:?}: a quoted value expected after {name}="))?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                '"' => {
                    end = Some(i);
                    break;
                }
                other => value.push(other),
            }
        }
        let end = end.ok_or_else(|| format!("labels {text:?}: unterminated value of {name}"))?;
        labels.insert(name.to_owned(), value);
        rest = body[end + 1..].trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma.trim_start();
        } else if !rest.is_empty() {
            return Err(format!("labels {text:?}: ',' expected after {name}"));
        }
    }
    Ok(labels)
}

/// The service and host of a stream, from the labels shippers use for them (Loki's own
/// choice for `service_name`, and Promtail's and Alloy's common labels).
pub(crate) fn service_and_host(labels: &BTreeMap<String, String>) -> (String, String) {
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| labels.get(*k).filter(|v| !v.is_empty()).cloned())
            .unwrap_or_default()
    };
    (
        pick(&[
            "service_name",
            "service",
            "app",
            "application",
            "app_kubernetes_io_name",
            "container",
            "job",
        ]),
        pick(&["host", "hostname", "host_name", "node", "instance", "pod"]),
    )
}

#[cfg(test)]
mod tests;
