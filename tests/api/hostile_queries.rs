//! Queries a careless script or an attacker sends: each is refused with a clear 400/413/503
//! in the Prometheus error shape, quickly, and the process keeps serving everyone else.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, tenant_with_key, write_lines, TestApp};

/// POSTs a form to a Prometheus API path with `key`.
async fn form(app: &TestApp, path: &str, key: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    app.client
        .post(app.url(path))
        .bearer_auth(key)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("the request is answered, not dropped")
}

/// Asserts a Prometheus-shaped error with our `{code,message}`; returns the message.
async fn assert_prom_error(response: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("a message")
        .to_owned()
}

async fn healthy(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("healthz answers within 2 s");
    assert_eq!(response.status(), StatusCode::OK);
}

#[actix_web::test]
async fn queries_that_used_to_crash_or_stall_the_process_are_refused_quickly() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "hostile").await;
    let cases: Vec<(String, &str)> = vec![
        // 25 KB: overflowed a worker's stack (SIGABRT, every tenant down).
        (vec!["up"; 5000].join("+"), "TIDEWATCH_QUERY_MAX_DEPTH"),
        (
            format!("{}up{}", "(".repeat(100_000), ")".repeat(100_000)),
            "TIDEWATCH_QUERY_MAX_LENGTH",
        ),
        (
            format!("{}up{}", "(".repeat(1_000), ")".repeat(1_000)),
            "TIDEWATCH_QUERY_MAX_DEPTH",
        ),
        // 1 MB: minutes of parser CPU (`*`: not escaped in a form, so it stays 1 MB).
        (vec!["1"; 500_000].join("*"), "TIDEWATCH_QUERY_MAX_LENGTH"),
    ];
    for (text, limit) in &cases {
        for path in ["/api/v1/query", "/api/v1/query_range"] {
            let started = Instant::now();
            let response = form(
                &app,
                path,
                &key,
                &[
                    ("query", text),
                    ("start", "0"),
                    ("end", "60"),
                    ("step", "15"),
                    ("time", "60"),
                ],
            )
            .await;
            let message = assert_prom_error(response, StatusCode::BAD_REQUEST, "bad_data").await;
            assert!(message.contains(limit), "{path}: {message}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{path}: slow refusal"
            );
        }
    }
    let (_, series_key) = tenant_with_key(&app, "hostile-b").await;
    let deep = vec!["up"; 5000].join("+");
    let response = form(&app, "/api/v1/series", &series_key, &[("match[]", &deep)]).await;
    assert_prom_error(response, StatusCode::BAD_REQUEST, "bad_data").await;
    healthy(&app).await;
}

#[actix_web::test]
async fn health_answers_while_large_queries_are_refused() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "busy").await;
    let big = vec!["1"; 150_000].join("+");
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let (app_url, key, big, client) = (
                app.url("/api/v1/query"),
                key.clone(),
                big.clone(),
                app.client.clone(),
            );
            actix_web::rt::spawn(async move {
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", &big)
                    .finish();
                client
                    .post(app_url)
                    .bearer_auth(key)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status())
            })
        })
        .collect();
    healthy(&app).await;
    for sender in senders {
        let status = sender.await.expect("joined").expect("answered");
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[actix_web::test]
async fn non_finite_and_out_of_range_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "params").await;
    let range = |step: &'static str, start: &'static str, end: &'static str| {
        vec![
            ("query", "up"),
            ("start", start),
            ("end", end),
            ("step", step),
        ]
    };
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("/api/v1/query_range", range("NaN", "0", "60"), "\"step\""),
        ("/api/v1/query_range", range("Inf", "0", "60"), "\"step\""),
        ("/api/v1/query_range", range("-Inf", "0", "60"), "\"step\""),
        ("/api/v1/query_range", range("1e20", "0", "60"), "\"step\""),
        ("/api/v1/query_range", range("0", "0", "60"), "\"step\""),
        ("/api/v1/query_range", range("-15", "0", "60"), "\"step\""),
        ("/api/v1/query_range", range("15", "NaN", "60"), "\"start\""),
        ("/api/v1/query_range", range("15", "0", "1e300"), "\"end\""),
        ("/api/v1/query_range", range("15", "60", "0"), "\"end\""),
        (
            "/api/v1/query",
            vec![("query", "up"), ("time", "Inf")],
            "\"time\"",
        ),
        (
            "/api/v1/query",
            vec![("query", "up"), ("timeout", "NaN")],
            "\"timeout\"",
        ),
        (
            "/api/v1/query",
            vec![("query", "up"), ("timeout", "-1")],
            "\"timeout\"",
        ),
        (
            "/api/v1/query",
            vec![("query", "rate(up[1e9999])")],
            "out of range",
        ),
        (
            "/api/v1/query",
            vec![("query", "up offset 1e9999")],
            "out of range",
        ),
        (
            "/api/v1/query",
            vec![("query", "rate(up[20000y])")],
            "10000 years",
        ),
        (
            "/api/v1/series",
            vec![("match[]", "up"), ("start", "NaN")],
            "\"start\"",
        ),
        (
            "/api/v1/series",
            vec![("match[]", "up"), ("limit", "-1")],
            "\"limit\"",
        ),
        ("/api/v1/labels", vec![("end", "Inf")], "\"end\""),
    ];
    for (path, pairs, named) in cases {
        let response = form(&app, path, &key, &pairs).await;
        let message = assert_prom_error(response, StatusCode::BAD_REQUEST, "bad_data").await;
        assert!(message.contains(named), "{path} {pairs:?}: {message}");
    }
    let response = app
        .client
        .get(app.url("/api/v1/label/job/values?start=NaN"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("answered");
    assert_prom_error(response, StatusCode::BAD_REQUEST, "bad_data").await;
    healthy(&app).await;
}

#[actix_web::test]
async fn a_form_body_over_the_limit_is_413_in_the_error_shape() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "big-form").await;
    let query = "1".repeat(2 * 1024 * 1024);
    let response = form(&app, "/api/v1/query", &key, &[("query", &query)]).await;
    assert_prom_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[actix_web::test]
async fn every_query_endpoint_stops_at_its_timeout() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "slow").await;
    let now = tidewatch::domain::time::now_ms();
    let lines: String = (0..20_000)
        .map(|i| format!("load,host=h{i},dc=d{} value={i} {now}\n", i % 7))
        .collect();
    write_lines(&app, &key, lines).await;
    let (start, end) = ((now / 1000 - 3600).to_string(), (now / 1000).to_string());
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/api/v1/query_range",
            vec![
                (
                    "query",
                    "sum by (dc) (rate(load[5m])) / count by (dc) (load)",
                ),
                ("start", &start),
                ("end", &end),
                ("step", "1"),
                ("timeout", "1ms"),
            ],
        ),
        (
            "/api/v1/series",
            vec![("match[]", "{host=~\"h.*1.*\"}"), ("timeout", "1ms")],
        ),
        (
            "/api/v1/labels",
            vec![("match[]", "{host=~\"h.*2.*\"}"), ("timeout", "1ms")],
        ),
    ];
    for (path, pairs) in cases {
        let response = form(&app, path, &key, &pairs).await;
        assert_prom_error(response, StatusCode::SERVICE_UNAVAILABLE, "timeout").await;
    }
    let response = app
        .client
        .get(app.url("/api/v1/label/host/values?match[]=%7Bhost%3D~%22h.*3.*%22%7D&timeout=1ms"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("answered");
    assert_prom_error(response, StatusCode::SERVICE_UNAVAILABLE, "timeout").await;
    healthy(&app).await;
}

#[actix_web::test]
async fn metadata_limit_caps_the_answer_and_configured_limits_apply() {
    let app = spawn_app_with(|c| {
        c.query_max_selectors = 2;
        c.query_max_length = 64;
    })
    .await;
    let (_, key) = tenant_with_key(&app, "limits").await;
    let now = tidewatch::domain::time::now_ms();
    let lines: String = (0..5)
        .map(|i| format!("m,host=h{i} value=1 {now}\n"))
        .collect();
    write_lines(&app, &key, lines).await;
    let response = form(
        &app,
        "/api/v1/series",
        &key,
        &[("match[]", "m"), ("limit", "3")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"].as_array().expect("list").len(), 3, "{body}");
    let response = form(&app, "/api/v1/query", &key, &[("query", "m + m + m")]).await;
    let message = assert_prom_error(response, StatusCode::BAD_REQUEST, "bad_data").await;
    assert!(
        message.contains("TIDEWATCH_QUERY_MAX_SELECTORS"),
        "{message}"
    );
    let long = format!("m{{host=\"{}\"}}", "x".repeat(80));
    let response = form(&app, "/api/v1/query", &key, &[("query", &long)]).await;
    let message = assert_prom_error(response, StatusCode::BAD_REQUEST, "bad_data").await;
    assert!(message.contains("TIDEWATCH_QUERY_MAX_LENGTH"), "{message}");
    let response = form(&app, "/api/v1/query", &key, &[("query", "sum(m)")]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The range-query point limit is the engine's, with Prometheus' comparison:
/// `(end - start) / step > 11000` is refused, 11,000 steps after the first are answered.
#[actix_web::test]
async fn the_range_point_limit_follows_prometheus() {
    let app = spawn_app().await;
    let (_, key) = tenant_with_key(&app, "resolution").await;
    let answered = form(
        &app,
        "/api/v1/query_range",
        &key,
        &[
            ("query", "1"),
            ("start", "0"),
            ("end", "11000"),
            ("step", "1"),
        ],
    )
    .await;
    assert_eq!(answered.status(), StatusCode::OK);
    let body: Value = answered.json().await.expect("a JSON body");
    let points = body["data"]["result"][0]["values"]
        .as_array()
        .expect("one series of values")
        .len();
    assert_eq!(points, 11_001, "{body}");

    let refused = form(
        &app,
        "/api/v1/query_range",
        &key,
        &[
            ("query", "1"),
            ("start", "0"),
            ("end", "11001"),
            ("step", "1"),
        ],
    )
    .await;
    let message =
        assert_prom_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded").await;
    assert!(message.contains("11,000 points"), "{message}");
}
