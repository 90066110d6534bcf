//! Users in a tenant: create, list, change, remove; the last admin is protected.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, password_for, spawn_app};

#[actix_web::test]
async fn an_admin_manages_the_tenants_users() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let response = app
        .post("/api/v1/users", &acme.admin_token, json!({"email": "Ann@Acme.test", "password": "ann-password", "role": "viewer", "name": "Ann"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let ann: Value = response.json().await.unwrap();
    assert_eq!(ann["email"], "ann@acme.test");
    assert_eq!(ann["role"], "viewer");
    assert_eq!(ann["name"], "Ann");
    let ann_id = ann["id"].as_str().unwrap();

    let users: Value = app
        .get("/api/v1/users", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 2);

    let updated: Value = app
        .patch(
            &format!("/api/v1/users/{ann_id}"),
            &acme.admin_token,
            json!({"role": "editor", "password": "new-ann-password"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["role"], "editor");
    assert_error(
        app.login("ann@acme.test", "ann-password", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let tokens = app
        .login_ok("ann@acme.test", "new-ann-password", None)
        .await;
    assert_eq!(tokens["role"], "editor");

    assert_eq!(
        app.delete(&format!("/api/v1/users/{ann_id}"), &acme.admin_token)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&format!("/api/v1/users/{ann_id}"), &acme.admin_token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        app.get("/api/v1/tenant", tokens["access_token"].as_str().unwrap())
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.login("ann@acme.test", "new-ann-password", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[actix_web::test]
async fn the_last_active_admin_cannot_be_removed_demoted_or_disabled() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let path = format!("/api/v1/users/{}", acme.admin_id);
    for body in [json!({"role": "editor"}), json!({"disabled": true})] {
        assert_error(
            app.patch(&path, &acme.admin_token, body).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
    assert_error(
        app.delete(&path, &acme.admin_token).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // With a second admin, the first may step down.
    app.create_user(&acme.admin_token, "second@acme.test", "admin")
        .await;
    let response = app
        .patch(&path, &acme.admin_token, json!({"role": "viewer"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    assert_eq!(me["role"], "viewer");
}
