//! The query language: what each query matches, what it lets a search skip, what it refuses.

use serde_json::json;

use super::*;
use crate::domain::logs::LogRecord;

fn record(
    level: Level,
    service: &str,
    host: &str,
    message: &str,
    fields: serde_json::Value,
) -> LogRecord {
    let mut r = LogRecord::message_only(1, message);
    r.level = level;
    r.service = service.into();
    r.host = host.into();
    r.labels.insert("env".into(), "prod".into());
    r.fields = serde_json::from_value(fields).unwrap();
    r
}

#[test]
fn queries_match_the_records_they_name() {
    let records = [
        record(
            Level::Error,
            "api",
            "web-1",
            "dial tcp: Connection REFUSED",
            json!({"status": 502, "user.id": 42}),
        ),
        record(
            Level::Debug,
            "api",
            "web-2",
            "cache miss for key 7",
            json!({"status": "200"}),
        ),
        record(
            Level::Warn,
            "db",
            "db-1",
            "refused connection from 10.0.0.9",
            json!({"tags": ["slow", "io"]}),
        ),
        record(
            Level::Info,
            "web",
            "web-10",
            "GET /healthz",
            json!({"path": "/healthz", "status": 200}),
        ),
    ];
    // query → indexes of the records it matches
    let table: [(&str, &[usize]); 25] = [
        ("", &[0, 1, 2, 3]),
        ("level:error", &[0]),
        ("level:WARNING", &[2]),
        ("level>=warn", &[0, 2]),
        ("level:<info", &[1]),
        ("service:api", &[0, 1]),
        ("host:web-*", &[0, 1, 3]),
        ("host:web-?", &[0, 1]),
        ("\"connection refused\"", &[0]),
        ("refused", &[0, 2]),
        ("conn*", &[0, 2]),
        ("-level:debug service:api", &[0]),
        ("-cache service:api", &[0]),
        ("NOT service:api", &[2, 3]),
        ("status>=500", &[0]),
        ("status:<300", &[1, 3]),
        ("user.id:42", &[0]),
        ("env:prod level:info", &[3]),
        ("tags:slow", &[2]),
        ("service:api OR service:db", &[0, 1, 2]),
        ("(service:api OR service:db) AND refused", &[0, 2]),
        ("user.id:*", &[0]),
        ("path:\"/healthz\"", &[3]),
        ("message:\"cache miss\"", &[1]),
        ("-(level:debug OR level:info)", &[0, 2]),
    ];
    for (query, want) in table {
        let expr = Expr::parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        let got: Vec<usize> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| expr.matches(*r))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, want, "{query}");
    }
}

#[test]
fn hints_require_only_what_every_match_has() {
    let hints = Expr::parse("level:error service:api \"connection refused\"")
        .unwrap()
        .block_hints();
    assert_eq!(hints.level_mask, 1 << Level::Error.code());
    assert!(hints.required.contains(&pair_hash("service", "api")));
    assert!(hints.required.contains(&token_hash("connection")));
    assert!(hints.required.contains(&token_hash("refused")));
    assert!(hints.needs_messages && hints.needs_streams && !hints.needs_fields);

    let hints = Expr::parse("service:api OR -refused")
        .unwrap()
        .block_hints();
    assert!(
        hints.required.is_empty(),
        "nothing is required under OR or NOT"
    );
    assert_eq!(hints.level_mask, ALL_LEVELS);

    let hints = Expr::parse("-level:debug level>=info")
        .unwrap()
        .block_hints();
    assert_eq!(hints.level_mask, 0b11_1100);
    let hints = Expr::parse("level:error OR level:fatal")
        .unwrap()
        .block_hints();
    assert_eq!(hints.level_mask, 0b11_0000);
}

#[test]
fn bad_queries_say_where() {
    let table = [
        ("\"unterminated", 0, "unterminated quote"),
        ("level:loud", 0, "not a level"),
        ("status>=lots", 0, "not a number"),
        ("(a OR b", 7, "')' expected"),
        ("a OR", 4, "missing"),
        (":x", 0, "no field name"),
        ("a )", 2, "unexpected ')'"),
        ("name:", 0, "has no value"),
    ];
    for (query, position, message) in table {
        let err = Expr::parse(query).expect_err(query);
        assert_eq!(err.position, position, "{query}: {err}");
        assert!(err.message.contains(message), "{query}: {err}");
    }
    assert!(Expr::parse(&"a ".repeat(100)).is_err(), "too many terms");
    assert!(Expr::parse(&"(".repeat(40)).is_err(), "too deep");
    assert!(Expr::parse(&"x".repeat(5000)).is_err(), "too long");
}

#[test]
fn wildcards() {
    assert!(wildcard_match("web-*", "web-10"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("a*b*c", "axxbyyc"));
    assert!(!wildcard_match("a*b", "ac"));
    assert!(wildcard_match("?b", "ab"));
    assert!(!wildcard_match("?b", "b"));
}
