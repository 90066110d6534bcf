//! Ingest limits: the series limit (also for batches still committing), the rate limit,
//! body sizes, and per-tenant overrides.

use super::metric_queries::{now_ms, single_value};
use crate::helpers::{assert_error, post_raw, spawn_app, spawn_app_with, tenant_with_key};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;

#[actix_web::test]
async fn series_limit_is_422_naming_the_series_and_stores_nothing() {
    let app = spawn_app_with(|c| c.max_series_per_tenant = 2).await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = now_ms() - 1000;
    let ok = app.post("/api/v1/ingest/metrics", &key, json!({"metrics": [{"name": "a", "value": 1, "timestamp": t}, {"name": "b", "value": 1, "timestamp": t}]})).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let response = app
        .post("/api/v1/ingest/metrics", &key, json!({"metrics": [{"name": "a", "value": 2, "timestamp": t + 1}, {"name": "c", "labels": {"k": "v"}, "value": 1, "timestamp": t}]}))
        .await;
    let message = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "series_limit").await;
    assert!(message.contains("c{k=\"v\"}"), "{message}");
    assert_eq!(
        single_value(&app, &key, "a", t + 1).await,
        "1",
        "the batch's other sample was not stored"
    );
}

#[actix_web::test]
async fn ingest_rate_limit_is_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.ingest_samples_per_sec = 1;
        c.ingest_burst_samples = 3;
    })
    .await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let three: Vec<Value> = (0..3)
        .map(|i| json!({"name": "m", "labels": {"i": i.to_string()}, "value": 1}))
        .collect();
    assert_eq!(
        app.post("/api/v1/ingest/metrics", &key, json!({"metrics": three}))
            .await
            .status(),
        StatusCode::OK
    );
    let response = app
        .post(
            "/api/v1/ingest/metrics",
            &key,
            json!({"metrics": [{"name": "m", "value": 1}, {"name": "n", "value": 1}]}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn oversized_and_bomb_bodies_are_413() {
    let app = spawn_app_with(|c| c.ingest_max_body_bytes = 10_000).await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let big = "m value=1\n".repeat(2_000).into_bytes();
    let response = post_raw(
        &app,
        "/api/v2/write",
        &format!("Token {key}"),
        "text/plain",
        big.clone(),
    )
    .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&big).unwrap();
    let response = app
        .client
        .post(app.url("/api/v2/write"))
        .header("authorization", format!("Token {key}"))
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[actix_web::test]
async fn per_tenant_limit_overrides_apply_to_that_tenant_only() {
    let app = spawn_app().await;
    let platform = app.platform_token().await;
    let (acme, acme_key) = tenant_with_key(&app, "acme").await;
    let (_, globex_key) = tenant_with_key(&app, "globex").await;
    let response = app
        .patch(
            &format!("/api/v1/admin/tenants/{}", acme.id),
            &platform,
            json!({"limits": {"max_series": 1, "raw_retention_days": 1}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["limits"]["max_series"], 1);
    assert_eq!(body["limits"]["ingest_samples_per_sec"], Value::Null);

    let two_series = json!({"metrics": [{"name": "a", "value": 1}, {"name": "b", "value": 1}]});
    let response = app
        .post("/api/v1/ingest/metrics", &acme_key, two_series.clone())
        .await;
    assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "series_limit").await;
    assert_eq!(
        app.post("/api/v1/ingest/metrics", &globex_key, two_series)
            .await
            .status(),
        StatusCode::OK
    );

    let two_days_ago = now_ms() - 2 * 24 * 3600 * 1000;
    let old = json!({"metrics": [{"name": "a", "value": 1, "timestamp": two_days_ago}]});
    let message = assert_error(
        app.post("/api/v1/ingest/metrics", &acme_key, old.clone())
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_samples",
    )
    .await;
    assert!(message.contains("retention of 1 days"), "{message}");
    assert_eq!(
        app.post("/api/v1/ingest/metrics", &globex_key, old)
            .await
            .status(),
        StatusCode::OK
    );

    let response = app
        .patch(
            &format!("/api/v1/admin/tenants/{}", acme.id),
            &platform,
            json!({"limits": {"max_series": 0}}),
        )
        .await;
    let message = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    assert!(message.contains("limits.max_series"), "{message}");
    // Clearing the overrides restores the defaults.
    app.patch(
        &format!("/api/v1/admin/tenants/{}", acme.id),
        &platform,
        json!({"limits": {}}),
    )
    .await;
    let two_more = json!({"metrics": [{"name": "c", "value": 1}, {"name": "d", "value": 1}]});
    assert_eq!(
        app.post("/api/v1/ingest/metrics", &acme_key, two_more)
            .await
            .status(),
        StatusCode::OK
    );
}

/// Two requests admitted together cannot overshoot the series limit: new series of a batch
/// still committing hold their places until it is applied or abandoned.
#[actix_web::test]
async fn series_in_flight_hold_their_place_under_the_limit() {
    use std::sync::Arc;
    use tidewatch::actors::aggregator::{AbandonBatch, AdmitBatch};
    use tidewatch::domain::metrics::{Labels, MetricBatch, Origin, Sample, SeriesSamples};

    let app = spawn_app_with(|c| c.max_series_per_tenant = 1).await;
    let (acme, _key) = tenant_with_key(&app, "acme").await;
    let aggregator = app
        .state
        .tenants
        .aggregator(acme.id.parse().unwrap())
        .await
        .unwrap();
    let batch_of = |host: &str| {
        Arc::new(MetricBatch {
            series: vec![SeriesSamples {
                labels: Labels::with_name("cpu", [("host", host)]),
                samples: smallvec::smallvec![Sample {
                    timestamp_ms: now_ms(),
                    value: 1.0,
                }],
                origin: Origin::Line(1),
            }],
        })
    };
    let first = aggregator
        .send(AdmitBatch(batch_of("a")))
        .await
        .unwrap()
        .expect("the first new series fits");
    let second = aggregator.send(AdmitBatch(batch_of("b"))).await.unwrap();
    assert!(
        matches!(
            second,
            Err(tidewatch::ingest::IngestError::SeriesLimit { .. })
        ),
        "{second:?}"
    );
    // Once the first is abandoned (its commit failed), its place is free again.
    aggregator
        .send(AbandonBatch {
            ticket: first.ticket,
        })
        .await
        .unwrap();
    assert!(aggregator
        .send(AdmitBatch(batch_of("b")))
        .await
        .unwrap()
        .is_ok());
}
