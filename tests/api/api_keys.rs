//! API keys: shown once, stored hashed, listed without secrets, revocable.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn a_key_is_shown_once_and_listed_without_its_secret() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .post(
            "/api/v1/api-keys",
            &acme.admin_token,
            json!({"name": "telegraf", "scopes": ["ingest", "read", "read"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("tw_{}_", created["prefix"].as_str().unwrap())));
    assert_eq!(created["scopes"], json!(["ingest", "read"]));
    assert_eq!(created["name"], "telegraf");

    let listed = app
        .get("/api/v1/api-keys", &acme.admin_token)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(key), "the secret must never be listed");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["api_keys"][0]["id"], created["id"]);
    assert_eq!(listed["api_keys"][0]["revoked"], false);

    let me: Value = app.get("/api/v1/auth/me", key).await.json().await.unwrap();
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["tenant"]["id"], acme.id.as_str());
}

#[actix_web::test]
async fn a_revoked_key_stops_working_at_once() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let (id, key) = app.create_api_key(&acme.admin_token, &["read"]).await;
    assert_eq!(
        app.get("/api/v1/tenant", &key).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), &acme.admin_token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get("/api/v1/tenant", &key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let listed: Value = app
        .get("/api/v1/api-keys", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["api_keys"][0]["revoked"], true);
    assert!(listed["api_keys"][0]["revoked_at"].is_string());
}

#[actix_web::test]
async fn wrong_or_altered_keys_are_401() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let (_, key) = app.create_api_key(&acme.admin_token, &["read"]).await;
    let altered = format!("{}x", key);
    let unknown_prefix = format!("tw_000000000000_{}", &key[16..]);
    for bad in [altered.as_str(), unknown_prefix.as_str(), "tw_nonsense"] {
        assert_error(
            app.get("/api/v1/tenant", bad).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    // Token and Basic schemes are for ingest endpoints only.
    let response = app
        .client
        .get(app.url("/api/v1/tenant"))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("prometheus:{key}"));
    let response = app
        .client
        .get(app.url("/api/v1/tenant"))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
