//! Log records as Tidewatch keeps them, whatever shape they arrived in: one normalised
//! record per line or event, and the limits every record is held to. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Severity, from least to most severe. The numbers are stored (one byte per record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Fatal = 5,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    pub fn from_code(code: u8) -> Level {
        Level::ALL
            .get(code as usize)
            .copied()
            .unwrap_or(Level::Info)
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    /// The level a shipper's word for it means: names and their abbreviations in any case
    /// (`WARNING`, `W`, `Err`, `CRIT`, `notice`, `panic`), syslog severities as numbers
    /// (`4` is warning) and their names. `None` for anything else.
    pub fn parse_alias(text: &str) -> Option<Level> {
        let word = text.trim();
        if word.is_empty() || word.len() > 16 {
            return None;
        }
        if let Ok(number) = word.parse::<u8>() {
            return Self::from_syslog_severity(number);
        }
        let lower = word.to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" | "trc" | "t" | "finest" | "finer" | "verbose" | "v" => Level::Trace,
            "debug" | "dbg" | "d" | "fine" | "debug2" | "debug1" => Level::Debug,
            "info" | "inf" | "i" | "information" | "informational" | "notice" | "n" | "log"
            | "config" => Level::Info,
            "warn" | "warning" | "wrn" | "w" => Level::Warn,
            "error" | "err" | "e" | "eror" | "severe" | "fail" | "failure" => Level::Error,
            "fatal" | "ftl" | "f" | "crit" | "critical" | "alert" | "emerg" | "emergency"
            | "panic" | "c" => Level::Fatal,
            _ => return None,
        })
    }

    /// Syslog severity (0 emergency … 7 debug).
    pub fn from_syslog_severity(severity: u8) -> Option<Level> {
        Some(match severity {
            0..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            7 => Level::Debug,
            _ => return None,
        })
    }

    /// OTLP's `SeverityNumber` (1–4 trace, 5–8 debug, 9–12 info, 13–16 warn, 17–20 error,
    /// 21–24 fatal); 0 (unspecified) and anything out of range is `None`.
    pub fn from_otlp_severity(number: i32) -> Option<Level> {
        Some(match number {
            1..=4 => Level::Trace,
            5..=8 => Level::Debug,
            9..=12 => Level::Info,
            13..=16 => Level::Warn,
            17..=20 => Level::Error,
            21..=24 => Level::Fatal,
            _ => return None,
        })
    }
}

/// One normalised log record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// UTC, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    pub level: Level,
    pub service: String,
    pub host: String,
    pub message: String,
    /// Stream labels: few, low-cardinality (Loki's stream labels, OTLP resource
    /// attributes other than service and host).
    pub labels: BTreeMap<String, String>,
    /// Everything else, flattened with dots (`user.id`), JSON values kept typed.
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl LogRecord {
    /// A record with only a message, at level info, at `timestamp_ns`.
    pub fn message_only(timestamp_ns: i64, message: impl Into<String>) -> Self {
        Self {
            timestamp_ns,
            level: Level::Info,
            service: String::new(),
            host: String::new(),
            message: message.into(),
            labels: BTreeMap::new(),
            fields: BTreeMap::new(),
        }
    }

    /// Bytes this record takes as text, about: what the size limit and MB/s count.
    pub fn approximate_size(&self) -> usize {
        let labels: usize = self.labels.iter().map(|(k, v)| k.len() + v.len()).sum();
        let fields: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + json_value_size(v))
            .sum();
        self.service.len() + self.host.len() + self.message.len() + labels + fields + 16
    }
}

fn json_value_size(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::String(s) => s.len(),
        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => 8,
        other => other.to_string().len(),
    }
}

/// The limits every record of a tenant is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// A bigger record is cut to this size and marked `truncated: true`.
    pub max_record_bytes: usize,
    /// Fields per record; more is refused (400 naming the record).
    pub max_fields: usize,
    /// Stream labels per record.
    pub max_labels: usize,
    /// Distinct label sets (streams) a tenant may have in its live window.
    pub max_streams: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            max_record_bytes: 64 * 1024,
            max_fields: 256,
            max_labels: 15,
            max_streams: 10_000,
        }
    }
}

/// What one record broke, by its position in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordProblem {
    /// `line 3`, `item 2`, `resourceLogs[0].scopeLogs[0].logRecords[4]`.
    pub origin: String,
    pub message: String,
}

/// Applies the record limits to a batch: cuts records over the size limit (marking them
/// `truncated`), and lists records over the field or label limits. The batch may be
/// stored only when the list is empty.
pub fn enforce_limits(
    records: &mut [LogRecord],
    origins: &dyn Fn(usize) -> String,
    limits: &RecordLimits,
    max_problems: usize,
) -> Vec<RecordProblem> {
    let mut problems = Vec::new();
    for (index, record) in records.iter_mut().enumerate() {
        if record.fields.len() > limits.max_fields {
            problems.push(RecordProblem {
                origin: origins(index),
                message: format!(
                    "{} fields; at most {} are allowed per record",
                    record.fields.len(),
                    limits.max_fields
                ),
            });
        } else if record.labels.len() > limits.max_labels {
            problems.push(RecordProblem {
                origin: origins(index),
                message: format!(
                    "{} stream labels; at most {} are allowed per record",
                    record.labels.len(),
                    limits.max_labels
                ),
            });
        } else if record.approximate_size() > limits.max_record_bytes {
            truncate(record, limits.max_record_bytes);
        }
        if problems.len() >= max_problems {
            break;
        }
    }
    problems
}

/// Cuts a record to about `max_bytes`: the message first, then big field values; marks it.
fn truncate(record: &mut LogRecord, max_bytes: usize) {
    let keep_message = max_bytes / 2;
    if record.message.len() > keep_message {
        let cut = floor_char_boundary(&record.message, keep_message);
        record.message.truncate(cut);
    }
    let budget = max_bytes / 2;
    let mut used = 0usize;
    let mut dropped = Vec::new();
    for (key, value) in record.fields.iter_mut() {
        let size = key.len() + json_value_size(value);
        if used + size > budget {
            match value {
                serde_json::Value::String(text) if used + key.len() < budget => {
                    let cut = floor_char_boundary(text, budget - used - key.len());
                    text.truncate(cut);
                    used = budget;
                }
                _ => dropped.push(key.clone()),
            }
        } else {
            used += size;
        }
    }
    for key in dropped {
        record.fields.remove(&key);
    }
    record
        .fields
        .insert("truncated".to_owned(), serde_json::Value::Bool(true));
}

/// The largest index ≤ `at` that is a char boundary of `text`.
pub fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    let mut cut = at;
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    cut
}

/// Calls `each` with every word of `text`: the runs of letters, digits and `_`, at most
/// [`MAX_TOKEN_CHARS`] characters each (longer runs are cut in pieces). Search matches
/// words case-insensitively (see [`token_hash`]); the token filters of stored blocks hold
/// the same words.
pub fn for_each_token<'a>(text: &'a str, mut each: impl FnMut(&'a str)) {
    let mut start = None;
    let mut chars = 0usize;
    for (index, ch) in text.char_indices() {
        if ch.is_alphanumeric() || ch == '_' {
            match start {
                None => {
                    start = Some(index);
                    chars = 1;
                }
                Some(s) if chars == MAX_TOKEN_CHARS => {
                    each(&text[s..index]);
                    start = Some(index);
                    chars = 1;
                }
                Some(_) => chars += 1,
            }
        } else if let Some(s) = start.take() {
            each(&text[s..index]);
        }
    }
    if let Some(s) = start {
        each(&text[s..]);
    }
}

/// Words longer than this are cut into pieces of this many characters.
pub const MAX_TOKEN_CHARS: usize = 64;

/// The hash of a word, ignoring case: what token filters store and queries probe. Stable
/// across versions and processes (FNV-1a over the lower-cased UTF-8, then a finaliser),
/// since filters are stored.
pub fn token_hash(token: &str) -> u64 {
    let mut hash = FNV_OFFSET;
    for ch in token.chars() {
        if ch.is_ascii() {
            hash = fnv_byte(hash, ch.to_ascii_lowercase() as u8);
        } else {
            for lower in ch.to_lowercase() {
                let mut buf = [0u8; 4];
                for &b in lower.encode_utf8(&mut buf).as_bytes() {
                    hash = fnv_byte(hash, b);
                }
            }
        }
    }
    mix(hash)
}

/// The hash of an exact `name = value` pair (service, host, a label or a scalar field),
/// case kept: what field terms probe.
pub fn pair_hash(name: &str, value: &str) -> u64 {
    let mut hash = fnv_byte(FNV_OFFSET, 0xff);
    for &b in name.as_bytes() {
        hash = fnv_byte(hash, b);
    }
    hash = fnv_byte(hash, 0);
    for &b in value.as_bytes() {
        hash = fnv_byte(hash, b);
    }
    mix(hash)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_byte(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The text a scalar field value is matched as (`"api"` → `api`, `42` → `42`); `None` for
/// arrays, objects and null, and for strings too long to be worth a filter entry.
pub fn scalar_text(value: &serde_json::Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        serde_json::Value::String(s) if s.len() <= 256 => Some(std::borrow::Cow::Borrowed(s)),
        serde_json::Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        serde_json::Value::Bool(b) => Some(std::borrow::Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letter_and_digit_runs_matched_without_case() {
        let mut words = Vec::new();
        for_each_token(
            "dial tcp 10.0.0.1:5432: connection_refused (Ünïcode)",
            |t| words.push(t),
        );
        assert_eq!(
            words,
            [
                "dial",
                "tcp",
                "10",
                "0",
                "0",
                "1",
                "5432",
                "connection_refused",
                "Ünïcode"
            ]
        );
        assert_eq!(token_hash("ÜNÏCODE"), token_hash("ünïcode"));
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_ne!(pair_hash("service", "api"), pair_hash("servic", "eapi"));
        let long = "x".repeat(130);
        let mut pieces = Vec::new();
        for_each_token(&long, |t| pieces.push(t.len()));
        assert_eq!(pieces, [64, 64, 2]);
    }

    #[test]
    fn aliases_name_the_six_levels() {
        let table = [
            ("WARNING", Some(Level::Warn)),
            ("W", Some(Level::Warn)),
            ("Err", Some(Level::Error)),
            ("CRIT", Some(Level::Fatal)),
            ("notice", Some(Level::Info)),
            ("panic", Some(Level::Fatal)),
            ("4", Some(Level::Warn)),
            ("3", Some(Level::Error)),
            ("7", Some(Level::Debug)),
            ("trace", Some(Level::Trace)),
            ("informational", Some(Level::Info)),
            ("emerg", Some(Level::Fatal)),
            ("9", None),
            ("banana", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(Level::parse_alias(text), want, "{text:?}");
        }
    }

    #[test]
    fn otlp_severity_numbers_map_by_range() {
        assert_eq!(Level::from_otlp_severity(0), None);
        assert_eq!(Level::from_otlp_severity(1), Some(Level::Trace));
        assert_eq!(Level::from_otlp_severity(9), Some(Level::Info));
        assert_eq!(Level::from_otlp_severity(13), Some(Level::Warn));
        assert_eq!(Level::from_otlp_severity(17), Some(Level::Error));
        assert_eq!(Level::from_otlp_severity(24), Some(Level::Fatal));
        assert_eq!(Level::from_otlp_severity(25), None);
    }

    #[test]
    fn an_oversized_record_is_cut_and_marked() {
        let mut records = vec![LogRecord::message_only(1, "é".repeat(100_000))];
        records[0]
            .fields
            .insert("blob".into(), serde_json::json!("x".repeat(100_000)));
        let problems = enforce_limits(
            &mut records,
            &|i| format!("line {}", i + 1),
            &RecordLimits::default(),
            10,
        );
        assert!(problems.is_empty());
        assert!(records[0].approximate_size() <= 64 * 1024 + 64);
        assert_eq!(records[0].fields["truncated"], serde_json::json!(true));
        assert!(records[0].message.len() <= 32 * 1024);
    }

    #[test]
    fn too_many_fields_names_the_record() {
        let mut record = LogRecord::message_only(1, "m");
        for i in 0..300 {
            record.fields.insert(format!("f{i}"), serde_json::json!(i));
        }
        let mut records = vec![LogRecord::message_only(1, "ok"), record];
        let problems = enforce_limits(
            &mut records,
            &|i| format!("line {}", i + 1),
            &RecordLimits::default(),
            10,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].origin, "line 2");
    }
}

/// Longest matching line a log alert carries (a record may be 64 KiB).
const ALERT_LINE_MAX_BYTES: usize = 1_024;

/// One matching record as a log alert's notification shows it:
/// `2026-12-03T09:00:00.123Z error connection refused`, cut at 1 KiB.
pub fn alert_line(timestamp_ns: i64, level: Level, message: &str) -> String {
    let time = crate::domain::time::rfc3339_ms(timestamp_ns.div_euclid(1_000_000));
    let message = message.trim_end();
    let cut = floor_char_boundary(message, ALERT_LINE_MAX_BYTES);
    let ellipsis = if cut < message.len() { "…" } else { "" };
    format!("{time} {} {}{ellipsis}", level.as_str(), &message[..cut])
}

/// Keeps the `max` newest lines, oldest first, as (time in ms, line): a line older than
/// all of a full list is not even made (`line` runs only when it is kept).
pub fn keep_newest_line(
    lines: &mut std::collections::VecDeque<(i64, String)>,
    max: usize,
    at_ms: i64,
    line: impl FnOnce() -> String,
) {
    if lines.len() >= max && lines.front().is_none_or(|(t, _)| *t > at_ms) {
        return;
    }
    let at = lines.partition_point(|(t, _)| *t <= at_ms);
    lines.insert(at, (at_ms, line()));
    while lines.len() > max {
        lines.pop_front();
    }
}

/// The records of one log-rule group as read back from the store, to rebuild its window
/// (after a restart, or when the rule changed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchedGroup {
    /// The `group_by` names the records have, with their values.
    pub group: BTreeMap<String, String>,
    /// Records per whole second (Unix ms of the second's start).
    pub per_second: BTreeMap<i64, u64>,
    /// The newest matching lines ([`alert_line`]), with their times in ms, oldest first.
    pub newest: std::collections::VecDeque<(i64, String)>,
}

/// What a log rule's window rebuild read: its groups, and the blocks it read them from
/// (records of those blocks that are also streamed to the evaluator are not counted
/// twice).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchedWindow {
    pub groups: Vec<MatchedGroup>,
    pub blocks: Vec<i64>,
}
