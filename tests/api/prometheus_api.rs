//! The Prometheus query API over stored samples: parameters, answers and errors.

use super::metric_queries::now_ms;
use crate::helpers::{spawn_app, tenant_with_key};
use reqwest::StatusCode;
use serde_json::{json, Value};

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
