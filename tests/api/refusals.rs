//! Inputs that must be refused and were once accepted: a second value for a stored
//! timestamp, a label key given twice, JSON under another content type. Each refusal has
//! its stable code, stores nothing, and is counted per tenant in /metrics.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, checkpoint, post_raw, remote_write_body, spawn_app, tenant_with_key, TestApp,
};

async fn remote_write(app: &TestApp, key: &str, points: &[(i64, f64)]) -> reqwest::Response {
    post_raw(
        app,
        "/api/v1/write",
        &format!("Bearer {key}"),
        "application/x-protobuf",
        remote_write_body("temperature", "a", points),
    )
    .await
}

async fn json_write(app: &TestApp, key: &str, body: String) -> reqwest::Response {
    post_raw(
        app,
        "/api/v1/ingest/metrics",
        &format!("Bearer {key}"),
        "application/json",
        body.into_bytes(),
    )
    .await
}

async fn value_at(app: &TestApp, key: &str, time_ms: i64) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/query"))
        .bearer_auth(key)
        .query(&[
            ("query", "temperature"),
            ("time", &(time_ms as f64 / 1000.0).to_string()),
        ])
        .send()
        .await
        .expect("answered");
    let body: Value = response.json().await.expect("JSON");
    body["data"]["result"][0]["value"][1].clone()
}

#[actix_web::test]
async fn a_second_value_for_a_timestamp_is_400_and_the_same_value_is_idempotent() {
    let app = spawn_app().await;
    let (tenant, key) = tenant_with_key(&app, "dupes").await;
    let t = tidewatch::domain::time::now_ms() - 60_000;
    assert_eq!(
        remote_write(&app, &key, &[(t, 1.0)]).await.status(),
        StatusCode::NO_CONTENT
    );
    // Across requests, remote write and JSON.
    let message = assert_error(
        remote_write(&app, &key, &[(t, 2.0)]).await,
        StatusCode::BAD_REQUEST,
        "duplicate_sample",
    )
    .await;
    assert!(
        message.contains("duplicate sample for timestamp"),
        "{message}"
    );
    let body = json!({"metrics": [{"name": "temperature", "labels": {"host": "a"}, "value": 3.0, "timestamp": t}]});
    assert_error(
        json_write(&app, &key, body.to_string()).await,
        StatusCode::BAD_REQUEST,
        "duplicate_sample",
    )
    .await;
    // Within one request.
    let message = assert_error(
        remote_write(&app, &key, &[(t + 1000, 1.0), (t + 1000, 5.0)]).await,
        StatusCode::BAD_REQUEST,
        "duplicate_sample",
    )
    .await;
    assert!(message.contains("timeseries[0]"), "{message}");
    let body = json!({"metrics": [
        {"name": "temperature", "labels": {"host": "a"}, "value": 1.0, "timestamp": t + 2000},
        {"name": "temperature", "labels": {"host": "a"}, "value": 7.0, "timestamp": t + 2000},
    ]});
    let message = assert_error(
        json_write(&app, &key, body.to_string()).await,
        StatusCode::BAD_REQUEST,
        "duplicate_sample",
    )
    .await;
    assert!(message.contains("metrics[1]"), "{message}");
    assert_eq!(
        value_at(&app, &key, t).await,
        "1",
        "nothing was overwritten"
    );
    // The same value again: a retry, 2xx, before and after a checkpoint seals it.
    assert_eq!(
        remote_write(&app, &key, &[(t, 1.0)]).await.status(),
        StatusCode::NO_CONTENT
    );
    checkpoint(&app, &tenant.id).await;
    assert_eq!(
        remote_write(&app, &key, &[(t, 1.0)]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        remote_write(&app, &key, &[(t, 4.0)]).await,
        StatusCode::BAD_REQUEST,
        "duplicate_sample",
    )
    .await;
    assert_eq!(value_at(&app, &key, t).await, "1");
    // Counted per tenant and reason.
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("text");
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("tidewatch_discarded_samples_total")
                && l.contains(&tenant.id)
                && l.contains("duplicate_sample")
        })
        .unwrap_or_else(|| panic!("no per-tenant discarded counter in:\n{metrics}"));
    let count: f64 = line
        .rsplit(' ')
        .next()
        .expect("a value")
        .parse()
        .expect("a number");
    assert_eq!(count, 7.0, "1 + 1 + 2 + 2 + 1 refused samples: {line}");
}

#[actix_web::test]
async fn a_label_key_given_twice_is_400_naming_it() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "twice").await;
    let body = r#"{"metrics":[{"name":"m","labels":{"a":"first","a":"second"},"value":1}]}"#;
    let message = assert_error(
        json_write(&app, &key, body.into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    assert!(message.contains("duplicate key \"a\""), "{message}");
    let series: Value = app
        .client
        .get(app.url("/api/v1/series?match[]=m"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    assert_eq!(series["data"], json!([]), "nothing stored");
}

#[actix_web::test]
async fn json_ingest_under_another_content_type_is_415() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "ctype").await;
    let body = r#"{"metrics":[{"name":"m","value":1}]}"#;
    let cases = [
        ("text/html", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("application/json", StatusCode::OK),
        ("application/json; charset=utf-8", StatusCode::OK),
        ("application/vnd.tidewatch+json", StatusCode::OK),
    ];
    for (content_type, status) in cases {
        let response = post_raw(
            &app,
            "/api/v1/ingest/metrics",
            &format!("Bearer {key}"),
            content_type,
            body.into(),
        )
        .await;
        if status == StatusCode::OK {
            assert_eq!(response.status(), status, "{content_type}");
        } else {
            assert_error(response, status, "unsupported_media_type").await;
        }
    }
}
