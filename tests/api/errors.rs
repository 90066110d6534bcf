//! Bad input gets the right status and the one JSON error shape, and nothing is half-stored.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[actix_web::test]
async fn malformed_and_mistyped_bodies_are_400() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&acme.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    let response = app
        .post(
            "/api/v1/users",
            &acme.admin_token,
            json!({"email": 5, "password": "x", "role": "viewer"}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    let response = app
        .post(
            "/api/v1/users",
            &acme.admin_token,
            json!({"email": "a@b.io", "password": "long-enough", "role": "superuser"}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    let response = app
        .client
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(&acme.admin_token)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[actix_web::test]
async fn invalid_values_are_422_naming_the_field() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let cases = [
        (
            json!({"email": "not-an-email", "password": "long-enough", "role": "viewer"}),
            "email",
        ),
        (
            json!({"email": "a@acme.test", "password": "short", "role": "viewer"}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let message = assert_error(
            app.post("/api/v1/users", &acme.admin_token, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert!(message.contains(field), "{message} names {field}");
    }
    let message = assert_error(
        app.post(
            "/api/v1/api-keys",
            &acme.admin_token,
            json!({"name": "k", "scopes": []}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.contains("scopes"));
    let platform = app.platform_token().await;
    let message = assert_error(
        app.post(
            "/api/v1/admin/tenants",
            &platform,
            json!({"name": "X", "slug": "Bad Slug"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.contains("slug"));
}

#[actix_web::test]
async fn conflicts_are_409_and_store_nothing() {
    let app = spawn_app().await;
    let platform = app.platform_token().await;
    let acme = app.create_tenant("acme").await;
    app.create_user(&acme.admin_token, "ann@acme.test", "viewer")
        .await;

    let response = app
        .post(
            "/api/v1/users",
            &acme.admin_token,
            json!({"email": "ANN@acme.test", "password": "long-enough", "role": "admin"}),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;

    let response = app
        .post(
            "/api/v1/admin/tenants",
            &platform,
            json!({"name": "Acme again", "slug": "acme"}),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;

    // A tenant whose first admin collides is not created either (all or nothing).
    let response = app
        .post(
            "/api/v1/admin/tenants",
            &platform,
            json!({"name": "Globex", "slug": "globex", "admin_email": "ann@acme.test", "admin_password": "long-enough"}),
        )
        .await;
    assert_error(response, StatusCode::CONFLICT, "conflict").await;
    let tenants: Value = app
        .get("/api/v1/admin/tenants", &platform)
        .await
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, vec!["acme"]);
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .post(
            "/api/v1/api-keys",
            &acme.admin_token,
            json!({"name": "x".repeat(10_000), "scopes": ["read"]}),
        )
        .await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let keys: Value = app
        .get("/api/v1/api-keys", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(keys["api_keys"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn unknown_routes_and_ids_are_404() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    assert_error(
        app.request("GET", "/api/v1/nothing-here", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/api/v1/users/not-a-uuid", &acme.admin_token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let random = uuid::Uuid::new_v4();
    assert_error(
        app.get(&format!("/api/v1/users/{random}"), &acme.admin_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.delete(&format!("/api/v1/api-keys/{random}"), &acme.admin_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let platform = app.platform_token().await;
    assert_error(
        app.get(&format!("/api/v1/admin/tenants/{random}"), &platform)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.delete(&format!("/api/v1/admin/tenants/{random}"), &platform)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn a_wrong_method_on_a_known_path_is_405_with_allow() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let random = uuid::Uuid::new_v4();
    let users_item = format!("/api/v1/users/{random}");
    let cases: [(&str, &str, &str); 6] = [
        ("TRACE", "/api/v1/users", "GET, POST, HEAD"),
        ("PUT", &users_item, "GET, PATCH, DELETE, HEAD"),
        ("GET", "/api/v1/auth/login", "POST"),
        ("DELETE", "/healthz", "GET, HEAD"),
        ("PATCH", "/api/v1/query", "GET, POST, HEAD"),
        ("TRACE", "/api/v1/label/job/values", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = app
            .request(method, path, Some(&acme.admin_token), None)
            .await;
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
        assert_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
    assert_error(
        app.request("TRACE", "/api/v1/nothing-here", None, None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn an_oversized_header_is_431_in_the_error_shape() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "a".repeat(1024 * 1024))
        .send()
        .await
        .expect("answered, not dropped");
    let message = assert_error(
        response,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request_header_fields_too_large",
    )
    .await;
    assert!(message.contains("128 KiB"), "{message}");
    let after = app.request("GET", "/healthz", None, None).await;
    assert_eq!(after.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_json_array_where_an_object_belongs_is_400() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .post(
            "/api/v1/users",
            &acme.admin_token,
            json!(["ann@acme.io", "ann-password", "viewer", null]),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    let platform = app.platform_token().await;
    let response = app
        .patch(
            &format!("/api/v1/admin/tenants/{}", acme.id),
            &platform,
            json!({"limits": [1, 2, 3, 4]}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    let users: Value = app
        .get("/api/v1/users", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["users"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );
}

#[actix_web::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.body_timeout_secs = 1).await;
    let acme = app.create_tenant("acme").await;
    let (_, key) = app.create_api_key(&acme.admin_token, &["ingest"]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v2/write HTTP/1.1\r\nhost: {address}\r\nauthorization: Token {key}\r\ncontent-type: text/plain\r\ncontent-length: 100000\r\n\r\nm value=1\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "no answer within 10 s: {answer}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[actix_web::test]
async fn a_fixed_path_beside_an_id_route_answers_405_for_other_methods() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    for (method, path, allow) in [
        ("PUT", "/api/v1/alert-rules/export", "GET, HEAD"),
        ("DELETE", "/api/v1/alert-rules/import", "POST"),
        ("GET", "/api/v1/alert-rules/preview", "POST"),
        ("POST", "/api/v1/alerts/history", "GET, HEAD"),
    ] {
        let response = app
            .request(method, path, Some(&acme.admin_token), Some(json!({})))
            .await;
        assert_eq!(
            response.headers()["allow"].to_str().unwrap(),
            allow,
            "{method} {path}"
        );
        assert_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
}
