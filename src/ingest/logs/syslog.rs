//! Syslog messages, RFC 5424 and RFC 3164 (BSD), as they arrive on the listeners or as
//! lines of a text body. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use super::normalise::{parse_syslog_date, parse_timestamp, RecordDefaults};
use crate::domain::logs::{Level, LogRecord};

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A syslog line, or `None` when the line is not one.
pub fn parse(line: &str, defaults: &RecordDefaults) -> Option<LogRecord> {
    if let Some(rest) = line.strip_prefix('<') {
        let (pri, rest) = rest.split_once('>')?;
        if pri.is_empty() || pri.len() > 3 {
            return None;
        }
        let pri: u16 = pri.parse().ok()?;
        if pri > 191 {
            return None;
        }
        let (facility, severity) = ((pri / 8) as usize, (pri % 8) as u8);
        let mut record = if let Some(after_version) = rest.strip_prefix("1 ") {
            rfc5424(after_version, defaults)?
        } else {
            rfc3164(rest, defaults)?
        };
        record.level = Level::from_syslog_severity(severity).unwrap_or(Level::Info);
        record.fields.insert(
            "facility".into(),
            Value::String(FACILITIES[facility].to_owned()),
        );
        return Some(record);
    }
    // Lines of a syslog file carry no priority: `Dec  3 10:00:00 host sshd[42]: …`.
    if MONTHS.iter().any(|m| line.starts_with(m)) && line.as_bytes().get(3) == Some(&b' ') {
        return rfc3164(line, defaults);
    }
    None
}

/// `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`, `-` for nil.
fn rfc5424(rest: &str, defaults: &RecordDefaults) -> Option<LogRecord> {
    let mut parts = rest.splitn(5, ' ');
    let timestamp = parts.next()?;
    let hostname = parts.next()?;
    let app = parts.next()?;
    let procid = parts.next()?;
    let rest = parts.next()?;
    let (msgid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let timestamp_ns = if timestamp == "-" {
        defaults.now_ns
    } else {
        parse_timestamp(timestamp)?
    };
    let mut fields = BTreeMap::new();
    let message = structured_data(rest, &mut fields)?;
    if procid != "-" {
        fields.insert("procid".into(), Value::String(procid.to_owned()));
    }
    if msgid != "-" {
        fields.insert("msgid".into(), Value::String(msgid.to_owned()));
    }
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    Some(LogRecord {
        timestamp_ns,
        level: Level::Info,
        service: nil_or(app, &defaults.service),
        host: nil_or(hostname, &defaults.host),
        message: message.to_owned(),
        labels: defaults.labels.clone(),
        fields,
    })
}

fn nil_or(value: &str, default: &str) -> String {
    if value == "-" || value.is_empty() {
        default.to_owned()
    } else {
        value.to_owned()
    }
}

/// Reads `-` or `[id k="v" …][…]` into fields named `id.k`; returns the message after it.
fn structured_data<'a>(text: &'a str, fields: &mut BTreeMap<String, Value>) -> Option<&'a str> {
    if let Some(message) = text.strip_prefix('-') {
        return Some(message.strip_prefix(' ').unwrap_or(message));
    }
    let mut rest = text;
    while let Some(element) = rest.strip_prefix('[') {
        let bytes = element.as_bytes();
        let id_end = element.find([' ', ']'])?;
        let id = &element[..id_end];
        let mut i = id_end;
        loop {
            match bytes.get(i)? {
                b']' => {
                    i += 1;
                    break;
                }
                b' ' => i += 1,
                _ => {
                    let eq = element[i..].find('=')? + i;
                    let name = &element[i..eq];
                    if bytes.get(eq + 1) != Some(&b'"') {
                        return None;
                    }
                    let mut value = String::new();
                    let mut j = eq + 2;
                    loop {
                        match bytes.get(j)? {
                            b'\\' => {
                                let next = element[j + 1..].chars().next()?;
                                value.push(next);
                                j += 1 + next.len_utf8();
                            }
                            b'"' => break,
                            _ => {
                                let ch = element[j..].chars().next()?;
                                value.push(ch);
                                j += ch.len_utf8();
                            }
                        }
                    }
                    fields.insert(format!("{id}.{name}"), Value::String(value));
                    i = j + 1;
                }
            }
        }
        rest = &element[i..];
    }
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` (the timestamp may also be RFC 3339, as
/// rsyslog writes it).
fn rfc3164(rest: &str, defaults: &RecordDefaults) -> Option<LogRecord> {
    let (timestamp_ns, rest) = if MONTHS.iter().any(|m| rest.starts_with(m)) {
        // "Dec  3 10:00:00" is 15 characters, days padded with a space.
        let stamp = rest.get(..15)?;
        (parse_syslog_date(stamp, defaults.now_ns)?, rest.get(15..)?)
    } else if let Some((first, after)) = rest.split_once(' ') {
        match parse_timestamp(first) {
            Some(ns) => (ns, after),
            None => (defaults.now_ns, rest),
        }
    } else {
        (defaults.now_ns, rest)
    };
    let rest = rest.trim_start();
    let mut fields = BTreeMap::new();
    // HOSTNAME then TAG: a tag ends at ':' or '['; when the first word is already the tag
    // (no hostname, as `logger` sends to a local socket), the host stays the default.
    let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let (host, tagged) = if first.ends_with(':') || first.contains('[') {
        (defaults.host.clone(), rest)
    } else {
        (first.to_owned(), after)
    };
    let (service, message) = match tagged.split_once(": ") {
        Some((tag, message)) if !tag.contains(' ') && !tag.is_empty() => {
            let (name, pid) = match tag.split_once('[') {
                Some((name, pid)) => (name, pid.strip_suffix(']')),
                None => (tag, None),
            };
            if let Some(pid) = pid {
                fields.insert("procid".into(), Value::String(pid.to_owned()));
            }
            (name.to_owned(), message)
        }
        _ => (defaults.service.clone(), tagged),
    };
    Some(LogRecord {
        timestamp_ns,
        level: Level::Info,
        service: if service.is_empty() {
            defaults.service.clone()
        } else {
            service
        },
        host,
        message: message.to_owned(),
        labels: defaults.labels.clone(),
        fields,
    })
}
