//! Metrics ingest in every wire format (JSON, InfluxDB line protocol v1/v2, Prometheus remote
//! write, OTLP), all-or-nothing validation, and who may ingest.

use super::metric_queries::{now_ms, query, series_count, single_value};
use crate::helpers::{assert_error, post_raw, remote_write_body, spawn_app, tenant_with_key};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::Write;

#[actix_web::test]
async fn json_ingest_is_queryable_and_all_or_nothing() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = now_ms() - 1000;
    let response = app
        .post(
            "/api/v1/ingest/metrics",
            &key,
            json!({"metrics": [
                {"name": "cpu_usage", "labels": {"host": "a"}, "value": 1.5, "timestamp": t},
                {"name": "cpu_usage", "labels": {"host": "b"}, "value": "NaN", "timestamp": t},
            ]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["accepted_samples"], 2);
    assert_eq!(
        single_value(&app, &key, "cpu_usage{host=\"a\"}", t).await,
        "1.5"
    );
    assert_eq!(
        single_value(&app, &key, "cpu_usage{host=\"b\"}", t).await,
        "NaN"
    );

    // One bad sample: 400 naming it, and the good one beside it is not stored either.
    let response = app
        .post(
            "/api/v1/ingest/metrics",
            &key,
            json!({"metrics": [
                {"name": "disk_free", "labels": {"host": "a"}, "value": 1, "timestamp": t},
                {"name": "disk free", "labels": {"host": "a"}, "value": 1, "timestamp": t},
            ]}),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_samples").await;
    assert!(message.contains("metrics[1]"), "{message}");
    assert!(query(&app, &key, "disk_free", t).await.is_empty());
    assert_eq!(series_count(&app, &key).await, 2);

    let response = app
        .post(
            "/api/v1/ingest/metrics",
            &key,
            json!({"metrics": [{"name": "x", "value": 1, "timestamp": now_ms() + 3_600_000}]}),
        )
        .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_samples").await;
    assert!(message.contains("future"), "{message}");
    let response = app
        .post(
            "/api/v1/ingest/metrics",
            &key,
            json!({"metrics": [{"name": "x", "value": "lots"}]}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[actix_web::test]
async fn influx_line_protocol_v1_and_v2_with_precision() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let seconds = now_ms() / 1000 - 10;
    let body = format!(
        "# comment\nweather,city=oslo temp=-3.5,humid=80i,raining=true {seconds}\ncpu,host=a value=42 {seconds}\n"
    );
    let response = post_raw(
        &app,
        "/api/v2/write?precision=s&org=x&bucket=y",
        &format!("Token {key}"),
        "text/plain",
        body.into_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let at = seconds * 1000;
    assert_eq!(
        single_value(&app, &key, "weather_temp{city=\"oslo\"}", at).await,
        "-3.5"
    );
    assert_eq!(single_value(&app, &key, "weather_humid", at).await, "80");
    assert_eq!(single_value(&app, &key, "weather_raining", at).await, "1");
    assert_eq!(single_value(&app, &key, "cpu{host=\"a\"}", at).await, "42");

    let ms = now_ms() - 5_000;
    let response = post_raw(
        &app,
        "/write?db=telegraf&precision=ms",
        &format!("Token {key}"),
        "text/plain",
        format!("mem,host=a used=7 {ms}\n").into_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(single_value(&app, &key, "mem_used", ms).await, "7");

    // A string field on line 3: 400 naming the line, and lines 1–2 are not stored.
    let bad = format!("good_one value=1 {seconds}\ngood_two value=2 {seconds}\nbad,host=a usage=\"high\" {seconds}\n");
    let response = post_raw(
        &app,
        "/api/v2/write?precision=s",
        &format!("Token {key}"),
        "text/plain",
        bad.into_bytes(),
    )
    .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
    assert!(message.contains("line 3"), "{message}");
    assert!(query(&app, &key, "good_one", at).await.is_empty());
    let response = post_raw(
        &app,
        "/api/v2/write?precision=weeks",
        &format!("Token {key}"),
        "text/plain",
        b"x value=1".to_vec(),
    )
    .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[actix_web::test]
async fn prometheus_remote_write_with_basic_or_bearer_auth() {
    use base64::Engine;
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = now_ms() - 2_000;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{key}"));
    let response = post_raw(
        &app,
        "/api/v1/write",
        &format!("Basic {basic}"),
        "application/x-protobuf",
        remote_write_body("up", "a", &[(t - 1000, 0.0), (t, 1.0)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = post_raw(
        &app,
        "/api/v1/write",
        &format!("Bearer {key}"),
        "application/x-protobuf",
        remote_write_body("up", "b", &[(t, 1.0)]),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(single_value(&app, &key, "sum(up)", t).await, "2");

    let response = post_raw(
        &app,
        "/api/v1/write",
        &format!("Bearer {key}"),
        "application/x-protobuf",
        b"not snappy".to_vec(),
    )
    .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[actix_web::test]
async fn otlp_json_and_protobuf_map_like_prometheus() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = now_ms() - 1_000;
    let nanos = (t as u128 * 1_000_000).to_string();
    let body = json!({"resourceMetrics": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "checkout"}},
            {"key": "service.instance.id", "value": {"stringValue": "pod-1"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "queue.depth", "gauge": {"dataPoints": [{"asDouble": 7.0, "timeUnixNano": nanos, "attributes": [{"key": "queue", "value": {"stringValue": "orders"}}]}]}},
            {"name": "latency", "histogram": {"aggregationTemporality": 2, "dataPoints": [{
                "timeUnixNano": nanos, "count": "10", "sum": 5.5, "bucketCounts": ["3", "5", "2"], "explicitBounds": [0.1, 1.0]}]}}
        ]}]
    }]});
    let response = post_raw(
        &app,
        "/v1/metrics",
        &format!("Bearer {key}"),
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        single_value(
            &app,
            &key,
            "queue_depth{job=\"checkout\",instance=\"pod-1\",queue=\"orders\"}",
            t
        )
        .await,
        "7"
    );
    assert_eq!(
        single_value(&app, &key, "latency_bucket{le=\"+Inf\"}", t).await,
        "10"
    );
    assert_eq!(
        single_value(&app, &key, "latency_bucket{le=\"1\"}", t).await,
        "8"
    );
    assert_eq!(single_value(&app, &key, "latency_count", t).await, "10");

    // The same request as protobuf, gzip-compressed.
    let parsed: opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest =
        serde_json::from_value(body.clone()).expect("OTLP JSON parses into the prost types");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&parsed.encode_to_vec()).unwrap();
    let response = app
        .client
        .post(app.url("/v1/metrics"))
        .bearer_auth(&key)
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let response = post_raw(
        &app,
        "/v1/metrics",
        &format!("Bearer {key}"),
        "text/csv",
        b"a,b".to_vec(),
    )
    .await;
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[actix_web::test]
async fn ingest_needs_the_ingest_scope_or_an_editor() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let (_, viewer) = app
        .create_user(&acme.admin_token, "viewer@acme.test", "viewer")
        .await;
    let (_, editor) = app
        .create_user(&acme.admin_token, "editor@acme.test", "editor")
        .await;
    let (_, read_key) = app.create_api_key(&acme.admin_token, &["read"]).await;
    let (_, ingest_key) = app.create_api_key(&acme.admin_token, &["ingest"]).await;
    let body = json!({"metrics": [{"name": "m", "value": 1}]});
    assert_error(
        app.request("POST", "/api/v1/ingest/metrics", None, Some(body.clone()))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.post("/api/v1/ingest/metrics", &viewer, body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_error(
        app.post("/api/v1/ingest/metrics", &read_key, body.clone())
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.post("/api/v1/ingest/metrics", &editor, body.clone())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post("/api/v1/ingest/metrics", &ingest_key, body.clone())
            .await
            .status(),
        StatusCode::OK
    );
    // An ingest-only key cannot read.
    let response = app
        .client
        .get(app.url("/api/v1/query?query=m"))
        .bearer_auth(&ingest_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn tenants_never_see_each_others_metrics() {
    let app = spawn_app().await;
    let (_, acme_key) = tenant_with_key(&app, "acme").await;
    let (_, globex_key) = tenant_with_key(&app, "globex").await;
    let t = now_ms() - 1000;
    app.post("/api/v1/ingest/metrics", &acme_key, json!({"metrics": [{"name": "secret", "labels": {"x": "acme"}, "value": 1, "timestamp": t}]})).await;
    app.post("/api/v1/ingest/metrics", &globex_key, json!({"metrics": [{"name": "secret", "labels": {"x": "globex"}, "value": 2, "timestamp": t}]})).await;
    let seen = query(&app, &globex_key, "secret", t).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["metric"]["x"], "globex");
    assert_eq!(series_count(&app, &acme_key).await, 1);
    let values: Value = app
        .client
        .get(app.url("/api/v1/label/x/values"))
        .bearer_auth(&acme_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(values["data"], json!(["acme"]));
}
