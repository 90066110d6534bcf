//! Health, readiness, the service's own metrics and the OpenAPI document.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health: Value = app
        .request("GET", "/healthz", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let response = app.request("GET", "/readyz", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["redis"], "not_configured");
}

#[actix_web::test]
async fn readiness_fails_when_redis_is_configured_but_unreachable() {
    // Port 1 on loopback refuses connections.
    let app = spawn_app_with(|c| c.redis_url = Some("redis://127.0.0.1:1/".into())).await;
    let response = app.request("GET", "/readyz", None, None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_ne!(body["checks"]["redis"], "ok");
}

#[actix_web::test]
async fn readiness_checks_a_real_redis_when_configured() {
    let app = spawn_app_with(|c| c.redis_url = Some(crate::helpers::redis_url())).await;
    let response = app.request("GET", "/readyz", None, None).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["checks"]["redis"], "ok",
        "{body} (the test script starts Redis)"
    );
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = spawn_app().await;
    app.request("GET", "/healthz", None, None).await;
    app.request("GET", "/api/v1/auth/me", None, None).await;
    let acme = app.create_tenant("acme").await;
    app.get("/api/v1/tenant", &acme.admin_token).await;
    let text = app
        .request("GET", "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"tidewatch_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"tidewatch_http_requests_total{method="GET",route="/api/v1/auth/me",status="401"} 1"#
    ));
    assert!(text.contains("tidewatch_http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"tidewatch_actor_mailbox_pending{actor="tenant_registry"} 0"#));
    assert!(text.contains("tidewatch_tenant_supervisors 1"));
}

#[actix_web::test]
async fn the_openapi_document_lists_every_json_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app
        .request("GET", "/api/v1/openapi.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/admin/tenants",
        "/api/v1/admin/tenants/{id}",
        "/api/v1/tenant",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/api-keys",
        "/api/v1/api-keys/{id}",
        "/api/v1/audit-log",
        "/healthz",
        "/readyz",
        "/api/v1/ingest/metrics",
        "/api/v2/write",
        "/write",
        "/api/v1/write",
        "/v1/metrics",
        "/api/v1/query",
        "/api/v1/query_range",
        "/api/v1/series",
        "/api/v1/labels",
        "/api/v1/label/{name}/values",
        "/api/v1/status/buildinfo",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/api/v1/users"]["post"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[actix_web::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let response = app.request("GET", "/healthz", None, None).await;
    assert!(!response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .is_empty());
}
