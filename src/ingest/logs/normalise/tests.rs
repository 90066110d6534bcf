//! Record by record: an input line or object and the record it must become.

use serde_json::json;

use super::*;

const NOW: i64 = 1_764_756_000_000_000_000; // 2025-12-03T10:00:00Z

fn defaults() -> RecordDefaults {
    RecordDefaults {
        now_ns: NOW,
        service: "default-svc".into(),
        host: "default-host".into(),
        labels: BTreeMap::new(),
    }
}

fn ns(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_nanos_opt()
        .unwrap()
}

/// (line, timestamp, level, service, host, message, fields)
type Case = (
    &'static str,
    i64,
    Level,
    &'static str,
    &'static str,
    &'static str,
    serde_json::Value,
);

#[test]
fn text_lines_become_records() {
    let table: Vec<Case> = vec![
        (
            r#"{"ts":"2026-12-01T10:00:00.123Z","level":"WARNING","msg":"disk low","service":"api","host":"web-1","user":{"id":42},"free":0.5}"#,
            ns("2026-12-01T10:00:00.123Z"),
            Level::Warn,
            "api",
            "web-1",
            "disk low",
            json!({"user.id": 42, "free": 0.5}),
        ),
        (
            r#"{"@timestamp":1764756000123,"log.level":"err","message":"boom"}"#,
            1_764_756_000_123_000_000,
            Level::Error,
            "default-svc",
            "default-host",
            "boom",
            json!({}),
        ),
        (
            r#"{"time":1764756000,"level":50,"msg":"pino says"}"#,
            1_764_756_000_000_000_000,
            Level::Error,
            "default-svc",
            "default-host",
            "pino says",
            json!({}),
        ),
        (
            r#"level=error msg="connection refused" service=db status=502 took=0.12"#,
            NOW,
            Level::Error,
            "db",
            "default-host",
            "connection refused",
            json!({"status": "502", "took": "0.12"}),
        ),
        (
            r#"ts=2026-12-01T10:00:00Z lvl=W msg="quoted \"inner\" text" retry"#,
            ns("2026-12-01T10:00:00Z"),
            Level::Warn,
            "default-svc",
            "default-host",
            "quoted \"inner\" text",
            json!({"retry": "true"}),
        ),
        (
            r#"<165>1 2026-12-01T10:00:00.5Z mymachine evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="App"] An application event"#,
            ns("2026-12-01T10:00:00.5Z"),
            Level::Info,
            "evntslog",
            "mymachine",
            "An application event",
            json!({"facility": "local4", "procid": "8710", "msgid": "ID47", "exampleSDID@32473.iut": "3", "exampleSDID@32473.eventSource": "App"}),
        ),
        (
            "<34>1 2026-12-01T10:00:00Z host-a su - - - 'su root' failed",
            ns("2026-12-01T10:00:00Z"),
            Level::Fatal,
            "su",
            "host-a",
            "'su root' failed",
            json!({"facility": "auth"}),
        ),
        (
            "<36>Dec  3 09:59:00 gw sshd[4242]: Failed password for root",
            ns("2025-12-03T09:59:00Z"),
            Level::Warn,
            "sshd",
            "gw",
            "Failed password for root",
            json!({"facility": "auth", "procid": "4242"}),
        ),
        (
            "Dec  2 08:00:01 box CRON[99]: (root) CMD (run-parts)",
            ns("2025-12-02T08:00:01Z"),
            Level::Info,
            "CRON",
            "box",
            "(root) CMD (run-parts)",
            json!({"procid": "99"}),
        ),
        (
            r#"10.0.0.1 - frank [01/Dec/2026:10:00:00 +0000] "GET /api/items/42 HTTP/1.1" 503 512 "-" "curl/8.0" 0.250"#,
            ns("2026-12-01T10:00:00Z"),
            Level::Error,
            "default-svc",
            "default-host",
            r#"10.0.0.1 - frank [01/Dec/2026:10:00:00 +0000] "GET /api/items/42 HTTP/1.1" 503 512 "-" "curl/8.0" 0.250"#,
            json!({"method": "GET", "path": "/api/items/42", "protocol": "HTTP/1.1", "status": 503, "bytes": 512, "client": "10.0.0.1", "user": "frank", "user_agent": "curl/8.0", "duration": 0.25}),
        ),
        (
            r#"192.168.1.2 - - [01/Dec/2026:10:00:00 +0100] "POST /login HTTP/2.0" 404 - "https://a.example/" "Mozilla/5.0""#,
            ns("2026-12-01T09:00:00Z"),
            Level::Warn,
            "default-svc",
            "default-host",
            r#"192.168.1.2 - - [01/Dec/2026:10:00:00 +0100] "POST /login HTTP/2.0" 404 - "https://a.example/" "Mozilla/5.0""#,
            json!({"method": "POST", "path": "/login", "protocol": "HTTP/2.0", "status": 404, "client": "192.168.1.2", "referer": "https://a.example/", "user_agent": "Mozilla/5.0"}),
        ),
        (
            "2026-12-01 10:00:00,123 ERROR [main] com.example.App - it broke",
            ns("2026-12-01T10:00:00.123Z"),
            Level::Error,
            "default-svc",
            "default-host",
            "[main] com.example.App - it broke",
            json!({}),
        ),
        (
            "2026-12-01 10:00:00,456 - worker - WARNING - queue is full",
            ns("2026-12-01T10:00:00.456Z"),
            Level::Warn,
            "default-svc",
            "default-host",
            "queue is full",
            json!({}),
        ),
        (
            "2026/12/01 10:00:00 listening on :8080",
            ns("2026-12-01T10:00:00Z"),
            Level::Info,
            "default-svc",
            "default-host",
            "listening on :8080",
            json!({}),
        ),
        (
            "just some words, a=b in prose",
            NOW,
            Level::Info,
            "default-svc",
            "default-host",
            "just some words, a=b in prose",
            json!({}),
        ),
        (
            "{not json at all",
            NOW,
            Level::Info,
            "default-svc",
            "default-host",
            "{not json at all",
            json!({}),
        ),
    ];
    for (line, timestamp_ns, level, service, host, message, fields) in table {
        let record = from_line(line, &defaults());
        let want_fields: BTreeMap<String, Value> =
            serde_json::from_value(fields).expect("fields are an object");
        assert_eq!(
            (
                record.timestamp_ns,
                record.level,
                record.service.as_str(),
                record.host.as_str(),
                record.message.as_str(),
                &record.fields
            ),
            (timestamp_ns, level, service, host, message, &want_fields),
            "{line}"
        );
    }
}

#[test]
fn timestamps_in_every_form_shippers_write() {
    let table: [(&str, Option<i64>); 13] = [
        ("2026-12-01T10:00:00Z", Some(ns("2026-12-01T10:00:00Z"))),
        (
            "2026-12-01T10:00:00.123456789+02:00",
            Some(ns("2026-12-01T08:00:00.123456789Z")),
        ),
        ("2026-12-01 10:00:00", Some(ns("2026-12-01T10:00:00Z"))),
        ("2026-12-01T10:00:00.5", Some(ns("2026-12-01T10:00:00.5Z"))),
        (
            "Tue, 01 Dec 2026 10:00:00 +0000",
            Some(ns("2026-12-01T10:00:00Z")),
        ),
        ("1764756000", Some(1_764_756_000_000_000_000)),
        ("1764756000.25", Some(1_764_756_000_250_000_000)),
        ("1764756000123", Some(1_764_756_000_123_000_000)),
        ("1764756000123456", Some(1_764_756_000_123_456_000)),
        ("1764756000123456789", Some(1_764_756_000_123_456_789)),
        (
            "01/Dec/2026:10:00:00 -0500",
            Some(ns("2026-12-01T15:00:00Z")),
        ),
        (
            "2026-12-01 10:00:00,250",
            Some(ns("2026-12-01T10:00:00.25Z")),
        ),
        ("yesterday", None),
    ];
    for (text, want) in table {
        assert_eq!(parse_timestamp(text), want, "{text}");
    }
    // Syslog's yearless date takes the current year, or the last one when it would be
    // more than a day ahead.
    let january = ns("2026-01-02T00:00:00Z");
    assert_eq!(
        parse_syslog_date("Dec 31 23:00:00", january),
        Some(ns("2025-12-31T23:00:00Z"))
    );
    assert_eq!(
        parse_syslog_date("Jan  1 23:00:00", january),
        Some(ns("2026-01-01T23:00:00Z"))
    );
}

#[test]
fn objects_keep_typed_fields_and_explicit_labels() {
    let object = json!({
        "message": {"nested": true},
        "labels": {"env": "prod"},
        "http": {"status": 500, "headers": {"x": "y"}},
        "tags": ["a", "b"],
        "severity": "notice",
        "level": "not-a-level"
    });
    let Value::Object(object) = object else {
        unreachable!()
    };
    let record = from_object(object, &defaults());
    assert_eq!(record.message, r#"{"nested":true}"#);
    assert_eq!(record.level, Level::Info, "severity read after a bad level");
    assert_eq!(record.labels.get("env").map(String::as_str), Some("prod"));
    assert_eq!(record.fields["http.status"], json!(500));
    assert_eq!(record.fields["http.headers.x"], json!("y"));
    assert_eq!(record.fields["tags"], json!(["a", "b"]));
    assert_eq!(record.fields["level"], json!("not-a-level"));
    assert_eq!(record.timestamp_ns, NOW);
}

#[test]
fn stack_traces_stay_one_record() {
    let body = "2026-12-01 10:00:00,123 ERROR [main] boom\n\
                java.lang.IllegalStateException: bad\n\
                \tat com.example.A.run(A.java:10)\n\
                \tat com.example.B.main(B.java:5)\n\
                Caused by: java.io.IOException: closed\n\
                \t... 2 more\n\
                \n\
                next line\r\n";
    let entries = split_entries(body);
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].0, 1);
    assert_eq!(entries[1].0, 2);
    assert!(entries[1]
        .1
        .starts_with("java.lang.IllegalStateException: bad\n\tat com.example.A"));
    assert!(entries[1].1.ends_with("\t... 2 more"));
    assert_eq!(entries[2], (8, "next line".to_owned()));
}

#[test]
fn logfmt_refuses_prose() {
    assert_eq!(logfmt("a=b"), None, "one pair is prose");
    assert_eq!(logfmt("the value x=1 was bad"), None);
    assert_eq!(
        logfmt(r#"a=1 b="two words""#),
        Some(vec![
            ("a".into(), "1".into()),
            ("b".into(), "two words".into())
        ])
    );
    assert_eq!(logfmt(r#"a=1 b="unterminated"#), None);
}
