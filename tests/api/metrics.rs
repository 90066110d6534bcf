//! Metrics ingest in every format, all-or-nothing validation, limits, durability across a
//! head rebuild, and the Prometheus query API over what was stored.

use std::io::Write;

use prost::Message;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, checkpoint, post_raw, remote_write_body, spawn_app, spawn_app_with,
    tenant_with_key, write_lines, TestApp,
};

fn now_ms() -> i64 {
    tidewatch::domain::time::now_ms()
}

/// Runs an instant query and returns `data.result`.
async fn query(app: &TestApp, key: &str, promql: &str, time_ms: i64) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/v1/query"))
        .bearer_auth(key)
        .query(&[
            ("query", promql.to_owned()),
            ("time", format!("{:.3}", time_ms as f64 / 1000.0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "query {promql}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The single value of an instant query, as text.
async fn single_value(app: &TestApp, key: &str, promql: &str, time_ms: i64) -> String {
    let result = query(app, key, promql, time_ms).await;
    assert_eq!(result.len(), 1, "{promql}: {result:?}");
    result[0]["value"][1].as_str().unwrap().to_owned()
}

async fn series_count(app: &TestApp, key: &str) -> usize {
    let body: Value = app
        .client
        .get(app.url("/api/v1/series"))
        .bearer_auth(key)
        .query(&[("match[]", "{__name__=~\".+\"}")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().unwrap().len()
}

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

/// Stops the tenant's actors so the next request rebuilds the head from the database.
async fn restart_tenant(app: &TestApp, tenant_id: &str) {
    let tenant = tenant_id.parse().unwrap();
    app.state.tenants.stop(tenant).await.unwrap();
}

#[actix_web::test]
async fn a_checkpoint_sealing_several_chunks_of_a_series_merges_their_rollups() {
    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    // 300 samples one second apart inside one past hour, from its 30th second: one
    // checkpoint seals two full 120-sample chunks that share their hour bucket and the
    // minute where they meet (seconds 120–179: 30 samples in each); the last 60 stay open.
    let hour_ms = 3_600_000;
    let hour = (now_ms() / hour_ms - 1) * hour_ms;
    let lines: String = (0..300)
        .map(|i| format!("busy,host=a value={i} {}\n", hour + 30_000 + i * 1000))
        .collect();
    write_lines(&app, &key, lines).await;
    checkpoint(&app, &acme.id).await;
    let tenant = acme.id.parse().unwrap();
    let store = &app.state.store;
    let usage = store.storage_usage(tenant).await.unwrap();
    assert_eq!(
        (usage.chunks, usage.chunk_samples, usage.wal_samples),
        (2, 240, 60),
        "the checkpoint was written: {usage:?}"
    );
    let ids: Vec<i64> = store
        .load_series(tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let hours = store
        .load_rollups(tenant, &ids, 3600, 0, i64::MAX)
        .await
        .unwrap();
    let sum: f64 = (0..240).map(f64::from).sum();
    let summary = |r: &tidewatch::store::metrics::RollupRow| {
        (r.bucket_start_ms, r.count, r.sum, r.min, r.max, r.last)
    };
    assert_eq!(
        hours.iter().map(summary).collect::<Vec<_>>(),
        [(hour, 240, sum, 0.0, 239.0, 239.0)],
        "one row for the hour"
    );
    let minutes = store
        .load_rollups(tenant, &ids, 60, 0, i64::MAX)
        .await
        .unwrap();
    let counts: Vec<(i64, i64)> = minutes
        .iter()
        .map(|m| ((m.bucket_start_ms - hour) / 60_000, m.count))
        .collect();
    assert_eq!(counts, [(0, 30), (1, 60), (2, 60), (3, 60), (4, 30)]);
    assert_eq!(
        (minutes[2].min, minutes[2].max, minutes[2].last),
        (90.0, 149.0, 149.0)
    );
}

#[actix_web::test]
async fn samples_survive_head_rebuilds_from_the_write_ahead_table_and_chunks() {
    // A one-minute head window, so older samples can only come back from sealed chunks.
    let app = spawn_app_with(|c| c.head_window_secs = 60).await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let start = now_ms() - 40 * 60 * 1000;
    let lines: String = (0..130)
        .map(|i| format!("counter,host=a value={i} {}\n", start + i * 10_000))
        .collect();
    write_lines(&app, &key, lines).await;
    let last = start + 129 * 10_000;
    let range_expr = "count_over_time(counter[30m])";

    assert_eq!(single_value(&app, &key, "counter", start).await, "0");
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");

    // 1. Replay of the write-ahead records.
    restart_tenant(&app, &acme.id).await;
    assert_eq!(single_value(&app, &key, "counter", last).await, "129");
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");

    // 2. A checkpoint seals 120 samples into a chunk and carries 10 over; the one-minute
    //    head window then holds only the carried ones, the rest comes from the chunk.
    checkpoint(&app, &acme.id).await;
    let usage = app
        .state
        .store
        .storage_usage(acme.id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (
            usage.series,
            usage.chunks,
            usage.chunk_samples,
            usage.wal_rows,
            usage.wal_samples
        ),
        (1, 1, 120, 1, 10),
        "{usage:?}"
    );
    assert!(usage.rollup_rows > 0);
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");
    assert_eq!(
        single_value(&app, &key, "counter", start + 50 * 10_000).await,
        "50"
    );

    // 3. Rebuilt from chunk + carry-over record.
    restart_tenant(&app, &acme.id).await;
    assert_eq!(single_value(&app, &key, range_expr, last).await, "130");
    assert_eq!(
        single_value(&app, &key, "counter", start + 5 * 10_000).await,
        "5"
    );
    let matrix: Value = app
        .client
        .get(app.url("/api/v1/query_range"))
        .bearer_auth(&key)
        .query(&[
            ("query", "counter".to_owned()),
            ("start", format!("{:.3}", start as f64 / 1000.0)),
            ("end", format!("{:.3}", last as f64 / 1000.0)),
            ("step", "10".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        matrix["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        130
    );

    // 4. A sample older than what is sealed is refused, naming it.
    let response = post_raw(
        &app,
        "/api/v2/write?precision=ms",
        &format!("Token {key}"),
        "text/plain",
        format!("counter,host=a value=1 {}\n", start + 5).into_bytes(),
    )
    .await;
    let message = assert_error(response, StatusCode::BAD_REQUEST, "out_of_order").await;
    assert!(message.contains("line 1"), "{message}");
}

#[actix_web::test]
async fn prometheus_api_parameters_and_errors() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "acme").await;
    let t = now_ms() - 1000;
    app.post(
        "/api/v1/ingest/metrics",
        &key,
        json!({"metrics": [{"name": "up", "labels": {"job": "api"}, "value": 1, "timestamp": t}]}),
    )
    .await;

    // POST form bodies work like query strings.
    let body: Value = app
        .client
        .post(app.url("/api/v1/query"))
        .bearer_auth(&key)
        .form(&[("query", "up"), ("time", &format!("{}", t as f64 / 1000.0))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(
        body["data"]["result"][0]["metric"],
        json!({"__name__": "up", "job": "api"})
    );

    let get = |params: Vec<(&'static str, String)>, path: &'static str| {
        let app = &app;
        let key = key.clone();
        async move {
            app.client
                .get(app.url(path))
                .bearer_auth(key)
                .query(&params)
                .send()
                .await
                .unwrap()
        }
    };
    type Case = (
        &'static str,
        Vec<(&'static str, String)>,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "/api/v1/query",
            vec![("query", "sum(".into())],
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        ("/api/v1/query", vec![], StatusCode::BAD_REQUEST, "bad_data"),
        (
            "/api/v1/query",
            vec![("query", "up".into()), ("time", "yesterday".into())],
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query",
            vec![(
                "query",
                "label_replace(up, \"a\", \"$1\", \"job\", \"(.*)\")".into(),
            )],
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported",
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "up".into()),
                ("start", "100".into()),
                ("end", "50".into()),
                ("step", "1".into()),
            ],
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
        (
            "/api/v1/query_range",
            vec![
                ("query", "up".into()),
                ("start", "0".into()),
                ("end", "100000".into()),
                ("step", "1".into()),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        ),
        (
            "/api/v1/series",
            vec![],
            StatusCode::BAD_REQUEST,
            "bad_data",
        ),
    ];
    for (path, params, status, code) in cases {
        let response = get(params.clone(), path).await;
        assert_eq!(response.status(), status, "{path} {params:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "error");
        assert_eq!(body["error"]["code"], code, "{path} {params:?}: {body}");
        assert!(body["errorType"].is_string());
    }
    let message = get(
        vec![(
            "query",
            "label_replace(up, \"a\", \"$1\", \"job\", \"(.*)\")".into(),
        )],
        "/api/v1/query",
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(message.contains("label_replace"), "{message}");

    let build: Value = get(vec![], "/api/v1/status/buildinfo")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(build["status"], "success");
    assert!(build["data"]["version"].is_string());
    let labels: Value = get(vec![], "/api/v1/labels").await.json().await.unwrap();
    assert_eq!(labels["data"], json!(["__name__", "job"]));
}

#[actix_web::test]
async fn retention_removes_chunks_past_the_tenants_window() {
    let writer = spawn_app().await;
    let (acme, key) = tenant_with_key(&writer, "acme").await;
    // Five days ago: sealed at the first checkpoint, since it is older than a chunk's span.
    let old = now_ms() - 5 * 24 * 3600 * 1000;
    let recent = now_ms() - 60_000;
    let lines = format!("disk value=1 {old}\ndisk value=2 {recent}\n");
    write_lines(&writer, &key, lines).await;
    checkpoint(&writer, &acme.id).await;
    assert_eq!(
        single_value(&writer, &key, "count_over_time(disk[6d])", recent).await,
        "2"
    );

    // The same database served with a one-day retention.
    let database_url = writer.database_url.clone();
    let reader = spawn_app_with(move |c| {
        c.database_url = database_url;
        c.raw_retention_days = 1;
    })
    .await;
    let tenant: tidewatch::domain::TenantId = acme.id.parse().unwrap();
    let aggregator = reader.state.tenants.aggregator(tenant).await.unwrap();
    let (chunks, _) = aggregator
        .send(tidewatch::actors::aggregator::EnforceRetention)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chunks, 1);
    let usage = reader.state.store.storage_usage(tenant).await.unwrap();
    assert_eq!(usage.chunks, 0);
    assert_eq!(
        single_value(&reader, &key, "count_over_time(disk[6d])", recent).await,
        "1"
    );
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

/// A checkpoint that runs while a request's write-ahead record is committing must not seal
/// past that request's samples: they are acknowledged right after, and a sealed boundary
/// beyond them would drop them. Driven through the aggregator's messages to hold a batch
/// between admission and apply, as a slow commit does.
#[actix_web::test]
async fn checkpoints_wait_for_samples_still_committing() {
    use std::sync::Arc;
    use tidewatch::actors::aggregator::{wal_append, AbandonBatch, AdmitBatch, ApplyBatch};
    use tidewatch::domain::metrics::{Labels, MetricBatch, Origin, Sample, SeriesSamples};

    let app = spawn_app().await;
    let (acme, key) = tenant_with_key(&app, "acme").await;
    let tenant: tidewatch::domain::TenantId = acme.id.parse().unwrap();
    let start = now_ms() - 40 * 60 * 1000;
    let lines: String = (0..130)
        .map(|i| format!("counter,host=a value={i} {}\n", start + i * 10_000))
        .collect();
    write_lines(&app, &key, lines).await;
    let late_at = start + 50 * 10_000 + 5_000;
    let late = Arc::new(MetricBatch {
        series: vec![SeriesSamples {
            labels: Labels::with_name("counter", [("host", "a")]),
            samples: smallvec::smallvec![Sample {
                timestamp_ms: late_at,
                value: -1.0,
            }],
            origin: Origin::Line(1),
        }],
    });
    let aggregator = app.state.tenants.aggregator(tenant).await.unwrap();

    // Admitted, then abandoned (its commit failed): checkpoints are not held back.
    let abandoned = aggregator
        .send(AdmitBatch(late.clone()))
        .await
        .unwrap()
        .unwrap();
    aggregator
        .send(AbandonBatch {
            ticket: abandoned.ticket,
        })
        .await
        .unwrap();

    // Admitted and committing while the checkpoint runs.
    let admitted = aggregator
        .send(AdmitBatch(late.clone()))
        .await
        .unwrap()
        .unwrap();
    checkpoint(&app, &acme.id).await;
    let usage = app.state.store.storage_usage(tenant).await.unwrap();
    assert_eq!(
        usage.chunk_samples, 0,
        "the first full chunk reaches past the committing sample: {usage:?}"
    );
    // Committed as the persister commits it (the writer's persister is its own).
    let wal_id = app
        .state
        .store
        .append_wal(&[wal_append(tenant, &late).unwrap()])
        .await
        .unwrap()[0];
    aggregator
        .send(ApplyBatch {
            wal_id,
            batch: late.clone(),
            admitted,
            applied: None,
        })
        .await
        .unwrap();
    let last = start + 129 * 10_000;
    assert_eq!(
        single_value(&app, &key, "count_over_time(counter[30m])", last).await,
        "131"
    );
    assert_eq!(single_value(&app, &key, "counter", late_at).await, "-1");

    // Nothing in flight: the next checkpoint seals the first 120 samples, the late one
    // among them, and a restart still finds it.
    checkpoint(&app, &acme.id).await;
    let usage = app.state.store.storage_usage(tenant).await.unwrap();
    assert_eq!(usage.chunk_samples, 120, "{usage:?}");
    restart_tenant(&app, &acme.id).await;
    assert_eq!(single_value(&app, &key, "counter", late_at).await, "-1");
    assert_eq!(
        single_value(&app, &key, "count_over_time(counter[30m])", last).await,
        "131"
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
