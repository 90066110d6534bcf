//! Turns what shippers send — JSON objects and text lines of many shapes — into
//! [`LogRecord`]s. Pure; tested record by record in `normalise/tests.rs`.
//!
//! Text lines are recognised in this order: a JSON object, RFC 5424 or RFC 3164 syslog,
//! an Apache/nginx access log, a `2026-12-01 10:00:00,123 ERROR …` prefix, logfmt; anything
//! else is kept whole as the message at level info.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::domain::logs::{Level, LogRecord};

/// What every record of one request starts from.
#[derive(Debug, Clone, Default)]
pub struct RecordDefaults {
    /// Receive time, for records that carry none (ns).
    pub now_ns: i64,
    pub service: String,
    pub host: String,
    pub labels: BTreeMap<String, String>,
}

/// Keys read as the timestamp, in order of preference.
const TIMESTAMP_KEYS: [&str; 6] = ["timestamp", "@timestamp", "ts", "time", "date", "t"];
/// Keys read as the level.
const LEVEL_KEYS: [&str; 7] = [
    "level",
    "severity",
    "lvl",
    "loglevel",
    "log.level",
    "severity_text",
    "levelname",
];
/// Keys read as the message.
const MESSAGE_KEYS: [&str; 6] = ["message", "msg", "log", "body", "text", "_msg"];
const SERVICE_KEYS: [&str; 5] = [
    "service",
    "service.name",
    "service_name",
    "app",
    "application",
];
const HOST_KEYS: [&str; 4] = ["host", "host.name", "hostname", "host.hostname"];

/// Flattens nested objects with dots: `{"user":{"id":42}}` → `user.id: 42`. Arrays and
/// scalars are kept as they are.
pub fn flatten(object: Map<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    flatten_into(&mut out, String::new(), object, 0);
    out
}

fn flatten_into(
    out: &mut BTreeMap<String, Value>,
    prefix: String,
    object: Map<String, Value>,
    depth: usize,
) {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            // Deeper than this is kept as one JSON value: bounds the work on hostile input.
            Value::Object(inner) if depth < 16 && !inner.is_empty() => {
                flatten_into(out, name, inner, depth + 1)
            }
            other => {
                out.insert(name, other);
            }
        }
    }
}

/// A record from a JSON object (a JSON array item, an NDJSON line, an Elasticsearch
/// document, a JSON text line).
pub fn from_object(object: Map<String, Value>, defaults: &RecordDefaults) -> LogRecord {
    let mut labels = defaults.labels.clone();
    let mut object = object;
    // A structured `message`/`msg` stays one value (its JSON text), not flattened fields.
    // (`log` is not: in Elastic's schema it is an object of fields, `log.level` among them.)
    for key in ["message", "msg"] {
        if let Some(value @ (Value::Object(_) | Value::Array(_))) = object.get_mut(key) {
            *value = Value::String(value.to_string());
        }
    }
    // Tidewatch's own JSON may carry stream labels explicitly.
    if let Some(Value::Object(given)) = object.get("labels") {
        if given.values().all(Value::is_string) {
            if let Some(Value::Object(given)) = object.remove("labels") {
                for (k, v) in given {
                    if let Value::String(v) = v {
                        labels.insert(k, v);
                    }
                }
            }
        }
    }
    from_fields(flatten(object), labels, defaults)
}

/// A record from flattened fields: takes the timestamp, level, message, service and host
/// out of them by their usual keys; the rest stay fields.
pub fn from_fields(
    mut fields: BTreeMap<String, Value>,
    labels: BTreeMap<String, String>,
    defaults: &RecordDefaults,
) -> LogRecord {
    let timestamp_ns =
        take_first(&mut fields, &TIMESTAMP_KEYS, parse_timestamp_value).unwrap_or(defaults.now_ns);
    let level = take_first(&mut fields, &LEVEL_KEYS, parse_level_value);
    let message = take_first(&mut fields, &MESSAGE_KEYS, |v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
    .unwrap_or_default();
    let service = take_first(&mut fields, &SERVICE_KEYS, string_value)
        .unwrap_or_else(|| defaults.service.clone());
    let host =
        take_first(&mut fields, &HOST_KEYS, string_value).unwrap_or_else(|| defaults.host.clone());
    LogRecord {
        timestamp_ns,
        level: level.unwrap_or(Level::Info),
        service,
        host,
        message,
        labels,
        fields,
    }
}

fn string_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Removes and returns the first key of `keys` whose value `parse` accepts; keys whose
/// value it refuses stay fields.
fn take_first<T>(
    fields: &mut BTreeMap<String, Value>,
    keys: &[&str],
    parse: impl Fn(&Value) -> Option<T>,
) -> Option<T> {
    for key in keys {
        if let Some(value) = fields.get(*key) {
            if let Some(parsed) = parse(value) {
                fields.remove(*key);
                return Some(parsed);
            }
        }
    }
    None
}

fn parse_level_value(value: &Value) -> Option<Level> {
    match value {
        Value::String(s) => Level::parse_alias(s),
        Value::Number(n) => {
            let n = n.as_i64()?;
            match n {
                // pino and bunyan: 10 trace … 60 fatal.
                10 | 20 | 30 | 40 | 50 | 60 => Some(Level::from_code((n / 10 - 1) as u8)),
                0..=7 => Level::from_syslog_severity(n as u8),
                _ => None,
            }
        }
        _ => None,
    }
}

fn parse_timestamp_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(whole) => epoch_int_to_ns(whole),
            None => epoch_to_ns(n.as_f64()?),
        },
        Value::String(s) => parse_timestamp(s),
        _ => None,
    }
}

/// An epoch number in s, ms, µs or ns (told apart by magnitude) → ns.
fn epoch_to_ns(number: f64) -> Option<i64> {
    if !number.is_finite() || number <= 0.0 {
        return None;
    }
    let ns = if number < 1e11 {
        number * 1e9
    } else if number < 1e14 {
        number * 1e6
    } else if number < 1e17 {
        number * 1e3
    } else {
        number
    };
    (ns < i64::MAX as f64).then_some(ns as i64)
}

/// A whole epoch number in s, ms, µs or ns → ns, exactly.
fn epoch_int_to_ns(number: i64) -> Option<i64> {
    if number <= 0 {
        return None;
    }
    let scale = if number < 100_000_000_000 {
        1_000_000_000
    } else if number < 100_000_000_000_000 {
        1_000_000
    } else if number < 100_000_000_000_000_000 {
        1_000
    } else {
        1
    };
    number.checked_mul(scale)
}

/// `1764756000`, `1764756000.25`: exact decimal arithmetic, no float rounding.
fn epoch_text_to_ns(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || whole.len() > 19 || fraction.contains('.') {
        return None;
    }
    let whole_ns = epoch_int_to_ns(whole.parse::<i64>().ok()?)?;
    if fraction.is_empty() {
        return Some(whole_ns);
    }
    // The unit of the whole part decides what the fraction is a fraction of.
    let unit_ns = whole_ns / whole.parse::<i64>().ok()?;
    let digits: String = fraction.chars().take(9).collect();
    let fraction_value: i64 = digits.parse().ok()?;
    let fraction_ns = fraction_value * unit_ns / 10i64.pow(digits.len() as u32);
    whole_ns.checked_add(fraction_ns)
}

/// A timestamp in any of the forms shippers write: RFC 3339 (also with a space and
/// without a zone, read as UTC), RFC 2822, epoch s/ms/µs/ns as text, the common log
/// format (`03/Dec/2026:10:00:00 +0000`), `2026-12-01 10:00:00,123`, `2026/12/01
/// 10:00:00`. Syslog's yearless dates need a year: [`parse_syslog_date`].
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return epoch_text_to_ns(text);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt();
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return t.timestamp_nanos_opt();
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%d/%b/%Y:%H:%M:%S %z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return t.timestamp_nanos_opt();
        }
    }
    // Without a zone: UTC. A comma before the fraction (Java, Python) reads as a dot.
    let dotted = text.replacen(',', ".", 1);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&dotted, format) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

/// A syslog (RFC 3164) date, `Dec  3 10:00:00`, which has no year: the year of `now_ns`,
/// or the year before when that would put it more than a day ahead (December's lines read
/// in January).
pub fn parse_syslog_date(text: &str, now_ns: i64) -> Option<i64> {
    let now = Utc.timestamp_nanos(now_ns);
    let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for year in [now.year(), now.year() - 1] {
        let dated = format!("{year} {squeezed}");
        let parsed = NaiveDateTime::parse_from_str(&dated, "%Y %b %d %H:%M:%S%.f").ok()?;
        let ns = parsed.and_utc().timestamp_nanos_opt()?;
        if ns <= now_ns + 86_400_000_000_000 {
            return Some(ns);
        }
    }
    None
}

/// A text line (or a multi-line entry), recognised by its shape.
pub fn from_line(line: &str, defaults: &RecordDefaults) -> LogRecord {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    if trimmed.starts_with('{') {
        if let Ok(Value::Object(object)) = serde_json::from_str::<Value>(trimmed) {
            return from_object(object, defaults);
        }
    }
    if let Some(record) = super::syslog::parse(trimmed, defaults) {
        return record;
    }
    if let Some(record) = access_log(trimmed, defaults) {
        return record;
    }
    if let Some(record) = prefixed(trimmed, defaults) {
        return record;
    }
    if let Some(pairs) = logfmt(trimmed) {
        let fields = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return from_fields(fields, defaults.labels.clone(), defaults);
    }
    plain(trimmed, defaults)
}

fn plain(text: &str, defaults: &RecordDefaults) -> LogRecord {
    LogRecord {
        timestamp_ns: defaults.now_ns,
        level: Level::Info,
        service: defaults.service.clone(),
        host: defaults.host.clone(),
        message: text.to_owned(),
        labels: defaults.labels.clone(),
        fields: BTreeMap::new(),
    }
}

/// logfmt: `level=error msg="connection refused" took=12ms`. Accepted when the line is
/// only pairs (a bare key counts as `true`) and at least two of them have values, so
/// prose with one `=` in it stays prose.
pub fn logfmt(line: &str) -> Option<Vec<(String, String)>> {
    let bytes = line.as_bytes();
    let mut pairs = Vec::new();
    let mut valued = 0;
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b' ' && bytes[i] != b'"' {
            i += 1;
        }
        if i == key_start {
            return None;
        }
        let key = &line[key_start..i];
        if i < bytes.len() && bytes[i] == b'"' {
            return None;
        }
        if i >= bytes.len() || bytes[i] == b' ' {
            pairs.push((key.to_owned(), "true".to_owned()));
            continue;
        }
        i += 1; // '='
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut value = String::new();
            let mut closed = false;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' if i + 1 < bytes.len() => {
                        let escaped = bytes[i + 1];
                        value.push(match escaped {
                            b'n' => '\n',
                            b't' => '\t',
                            other => other as char,
                        });
                        i += 2;
                    }
                    b'"' => {
                        closed = true;
                        i += 1;
                        break;
                    }
                    _ => {
                        let ch_len = utf8_len(bytes[i]);
                        value.push_str(&line[i..(i + ch_len).min(line.len())]);
                        i += ch_len;
                    }
                }
            }
            if !closed || (i < bytes.len() && bytes[i] != b' ') {
                return None;
            }
            value
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b' ' {
                if bytes[i] == b'"' {
                    return None;
                }
                i += 1;
            }
            line[start..i].to_owned()
        };
        valued += 1;
        pairs.push((key.to_owned(), value));
    }
    (valued >= 2).then_some(pairs)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Apache/nginx combined (or common) access log:
/// `10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "ref" "ua" [duration]`.
/// Status ≥ 500 is an error, ≥ 400 a warning.
pub fn access_log(line: &str, defaults: &RecordDefaults) -> Option<LogRecord> {
    let (client, rest) = line.split_once(' ')?;
    let (ident, rest) = rest.split_once(' ')?;
    let (user, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix('[')?;
    let (date, rest) = rest.split_once("] \"")?;
    let timestamp_ns = parse_timestamp(date)?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = rest.split_whitespace();
    let status: u16 = parts.next()?.parse().ok()?;
    let bytes = parts.next()?;
    let mut fields = BTreeMap::new();
    let mut words = request.splitn(3, ' ');
    if let (Some(method), Some(path)) = (words.next(), words.next()) {
        fields.insert("method".into(), Value::String(method.to_owned()));
        fields.insert("path".into(), Value::String(path.to_owned()));
        if let Some(protocol) = words.next() {
            fields.insert("protocol".into(), Value::String(protocol.to_owned()));
        }
    }
    fields.insert("status".into(), Value::from(status));
    if let Ok(bytes) = bytes.parse::<u64>() {
        fields.insert("bytes".into(), Value::from(bytes));
    }
    fields.insert("client".into(), Value::String(client.to_owned()));
    if user != "-" {
        fields.insert("user".into(), Value::String(user.to_owned()));
    }
    let _ = ident;
    // The quoted referer and user agent, then an optional duration.
    let quoted: Vec<&str> = rest.split('"').collect();
    if quoted.len() >= 4 {
        if quoted[1] != "-" {
            fields.insert("referer".into(), Value::String(quoted[1].to_owned()));
        }
        fields.insert("user_agent".into(), Value::String(quoted[3].to_owned()));
        if let Some(tail) = quoted.get(4) {
            if let Some(duration) = tail.split_whitespace().next() {
                if let Ok(d) = duration.parse::<f64>() {
                    fields.insert("duration".into(), Value::from(d));
                }
            }
        }
    }
    let level = if status >= 500 {
        Level::Error
    } else if status >= 400 {
        Level::Warn
    } else {
        Level::Info
    };
    Some(LogRecord {
        timestamp_ns,
        level,
        service: defaults.service.clone(),
        host: defaults.host.clone(),
        message: line.to_owned(),
        labels: defaults.labels.clone(),
        fields,
    })
}

/// `2026-12-01 10:00:00,123 ERROR [main] com.example.App - it broke` and its cousins
/// (Go's `2026/12/01 10:00:00 …`, Python's `… - name - ERROR - …`): a date and time, then
/// a level among the next few words.
pub fn prefixed(line: &str, defaults: &RecordDefaults) -> Option<LogRecord> {
    let bytes = line.as_bytes();
    if bytes.len() < 19 || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if !matches!(bytes[4], b'-' | b'/') || !matches!(bytes[10], b' ' | b'T') {
        return None;
    }
    // The timestamp runs to the first space after the time.
    let time_end = line[11..].find(' ').map(|i| i + 11)?;
    let (stamp, rest) = line.split_at(time_end);
    let timestamp_ns = parse_timestamp(stamp).or_else(|| {
        // `2026-12-01 10:00:00,123 +0100`: a zone after the space.
        let (zone, _) = rest.trim_start().split_once(' ')?;
        parse_timestamp(&format!("{stamp} {zone}"))
    })?;
    let rest = rest.trim_start();
    let mut level = None;
    let mut message_start = 0;
    let mut offset = 0;
    for word in rest.split(' ').take(4) {
        let bare = word.trim_matches(|c: char| matches!(c, '[' | ']' | ':' | '-' | '|'));
        // Short words count only when they look like a level (`E`, `[W]`), so prose
        // after a timestamp keeps its first word.
        let looks_like_level = bare.len() >= 3
            || word.starts_with('[')
            || (!bare.is_empty() && bare.chars().all(|c| c.is_ascii_uppercase()));
        if looks_like_level && bare.parse::<u8>().is_err() {
            if let Some(found) = Level::parse_alias(bare) {
                level = Some(found);
                message_start = offset + word.len();
                break;
            }
        }
        offset += word.len() + 1;
    }
    let message = rest[message_start.min(rest.len())..]
        .trim_start_matches([' ', '-', ':'])
        .to_owned();
    Some(LogRecord {
        timestamp_ns,
        level: level.unwrap_or(Level::Info),
        service: defaults.service.clone(),
        host: defaults.host.clone(),
        message: if level.is_some() {
            message
        } else {
            rest.to_owned()
        },
        labels: defaults.labels.clone(),
        fields: BTreeMap::new(),
    })
}

/// A text body split into entries: one per line, except that indented continuation lines
/// (a stack trace's `\tat …`, `Caused by: …`, `... 3 more`) join the entry above them.
/// Each entry keeps the number of its first line (from 1). Empty lines are skipped.
pub fn split_entries(body: &str) -> Vec<(usize, String)> {
    let mut entries: Vec<(usize, String)> = Vec::new();
    for (index, line) in body.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let continues = line.starts_with([' ', '\t'])
            || line.starts_with("Caused by:")
            || line.starts_with("... ");
        match entries.last_mut() {
            Some((_, text)) if continues => {
                text.push('\n');
                text.push_str(line);
            }
            _ => entries.push((index + 1, line.to_owned())),
        }
    }
    entries
}

/// `2026-12-03` and similar dates, for tests and callers that need a day's start (ns).
pub fn day_start_ns(year: i32, month: u32, day: u32) -> Option<i64> {
    NaiveDate::from_ymd_opt(year, month, day)?
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        .timestamp_nanos_opt()
}

#[cfg(test)]
mod tests;
