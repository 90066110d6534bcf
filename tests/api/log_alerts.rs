//! Log alert rules end to end: records committed through the ingest API are counted by
//! the tenant's evaluator as they commit, the alert fires and its notification carries
//! the newest matching lines to a real webhook receiver; the count slides out of the
//! window and the alert resolves; a rule made after its records arrived rebuilds its
//! window from the log store (without counting a record twice); another tenant's
//! records never count.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use tidewatch::domain::time::OffsetClock;

use crate::alerts::{alerts_until, create_rule};
use crate::helpers::{assert_error, spawn_app, spawn_app_with_clock, tenant_with_key, TestApp};
use crate::notifications::webhook_channel;
use crate::receivers::HttpReceiver;

fn error_rule(channels: &[&str]) -> Value {
    json!({
        "name": "ApiErrors",
        "kind": "log",
        "query": "level:error service:api",
        "aggregation": "count",
        "window": "5m",
        "group_by": ["service"],
        "op": ">=",
        "threshold": 3,
        "for": "0s",
        "severity": "critical",
        "channels": channels,
        "group_wait": "0s",
        "group_interval": "0s",
        "annotations": {"summary": "{{ $labels.service }}: {{ $value }} errors in 5m"}
    })
}

/// Posts NDJSON records (stamped on arrival) with `key`; asserts they were accepted.
async fn ship(app: &TestApp, key: &str, records: &[Value]) {
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    let response = app
        .client
        .post(app.url("/api/v1/ingest/logs"))
        .bearer_auth(key)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "ingest");
}

fn error(service: &str, message: &str) -> Value {
    json!({"level": "error", "service": service, "msg": message})
}

#[actix_web::test]
async fn a_log_rule_fires_with_its_newest_lines_and_resolves_when_they_slide_out() {
    let clock = OffsetClock::shared();
    let receiver = HttpReceiver::start();
    let app = spawn_app_with_clock(|_| {}, clock.clone()).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let (_, other_key) = tenant_with_key(&app, "other").await;
    let token = &acme.admin_token;
    let hook = webhook_channel(&app, token, &receiver.url("/logs")).await;
    let rule = create_rule(&app, token, error_rule(&[hook["id"].as_str().unwrap()])).await;
    assert_eq!(rule["kind"], "log");

    // Below the line: two errors of api; others that do not match (another service, the
    // wrong level), and another tenant's errors, which are not acme's.
    ship(
        &app,
        &key,
        &[
            error("api", "connection refused 1"),
            error("api", "connection refused 2"),
            error("web", "web is down"),
            json!({"level": "info", "service": "api", "msg": "all good"}),
        ],
    )
    .await;
    ship(
        &app,
        &other_key,
        &(0..5)
            .map(|i| error("api", &format!("other tenant {i}")))
            .collect::<Vec<_>>(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver.received().is_empty(),
        "nothing crossed the line yet"
    );
    let listed = alerts_until(&app, token, "no alert", |_| true).await;
    assert!(listed.is_empty(), "{listed:?}");

    // The third error crosses it: firing at once (for: 0s), with the lines.
    ship(
        &app,
        &key,
        &(3..=7)
            .map(|i| error("api", &format!("connection refused {i}")))
            .collect::<Vec<_>>(),
    )
    .await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let body = got[0].json();
    assert_eq!(body["status"], "firing", "{body}");
    let alert = &body["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "ApiErrors");
    assert_eq!(alert["labels"]["service"], "api");
    assert_eq!(alert["labels"]["severity"], "critical");
    let summary = alert["annotations"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("api: "), "{summary}");
    let lines: Vec<&str> = alert["logLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(!lines.is_empty() && lines.len() <= 5, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains(" error connection refused ")),
        "{lines:?}"
    );
    let firing = alerts_until(&app, token, "one firing alert", |alerts| {
        alerts.len() == 1 && alerts[0]["state"] == "firing"
    })
    .await;
    // Every matching record counted once: 2 + 5.
    let value: f64 = firing[0]["value"].as_str().unwrap().parse().unwrap();
    assert_eq!(value, 7.0);

    // Six minutes on, the errors left the 5 m window: resolved, with a notification.
    clock.advance(Duration::from_secs(360));
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].json()["status"], "resolved");
    alerts_until(&app, token, "no alert", |alerts| alerts.is_empty()).await;
}

#[actix_web::test]
async fn a_new_log_rule_counts_the_records_already_stored_once() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let token = &acme.admin_token;
    ship(
        &app,
        &key,
        &(0..4)
            .map(|i| error("api", &format!("timeout {i}")))
            .collect::<Vec<_>>(),
    )
    .await;
    let mut rule = error_rule(&[]);
    rule["threshold"] = json!(4);
    create_rule(&app, token, rule).await;
    let firing = alerts_until(&app, token, "firing from stored records", |alerts| {
        alerts.len() == 1 && alerts[0]["state"] == "firing"
    })
    .await;
    let value: f64 = firing[0]["value"].as_str().unwrap().parse().unwrap();
    assert_eq!(value, 4.0);
    // Streamed records add to the rebuilt window.
    ship(&app, &key, &[error("api", "timeout 4")]).await;
    alerts_until(&app, token, "five counted", |alerts| {
        alerts.len() == 1
            && alerts[0]["value"]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                == Some(5.0)
    })
    .await;
}

#[actix_web::test]
async fn log_rules_are_validated_field_by_field() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    for (change, field) in [
        (json!({"query": "level:(error"}), "query"),
        (json!({"aggregation": "p99"}), "aggregation"),
        (json!({"window": "25h"}), "window"),
        (json!({"window": "500ms"}), "window"),
        (json!({"group_by": [""]}), "group_by[0]"),
        (json!({"selector": "up"}), "selector"),
        (json!({"threshold": null}), "threshold"),
    ] {
        let mut rule = error_rule(&[]);
        for (k, v) in change.as_object().unwrap() {
            rule[k] = v.clone();
        }
        let response = app
            .post("/api/v1/alert-rules", &acme.admin_token, rule)
            .await;
        let message =
            assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(
            message.starts_with(&format!("{field}:")),
            "{field}: {message}"
        );
    }
    // A preview replays metrics; of a log rule it says so.
    let response = app
        .post(
            "/api/v1/alert-rules/preview",
            &acme.admin_token,
            error_rule(&[]),
        )
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "unsupported").await;
}
