//! Platform admins manage tenants.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn a_platform_admin_creates_lists_updates_and_deletes_tenants() {
    let app = spawn_app().await;
    let platform = app.platform_token().await;
    let response = app
        .post(
            "/api/v1/admin/tenants",
            &platform,
            json!({"name": "Acme Corp."}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let acme: Value = response.json().await.unwrap();
    assert_eq!(acme["slug"], "acme-corp");
    assert_eq!(acme["disabled"], false);
    assert!(acme["admin"].is_null());
    let id = acme["id"].as_str().unwrap();

    let fetched: Value = app
        .get(&format!("/api/v1/admin/tenants/{id}"), &platform)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "Acme Corp.");
    let renamed: Value = app
        .patch(
            &format!("/api/v1/admin/tenants/{id}"),
            &platform,
            json!({"name": "Acme"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "Acme");
    let listed: Value = app
        .get("/api/v1/admin/tenants", &platform)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["tenants"].as_array().unwrap().len(), 1);

    assert_eq!(
        app.delete(&format!("/api/v1/admin/tenants/{id}"), &platform)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        app.get(&format!("/api/v1/admin/tenants/{id}"), &platform)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[actix_web::test]
async fn a_generated_first_admin_password_is_returned_once_and_works() {
    let app = spawn_app().await;
    let platform = app.platform_token().await;
    let created: Value = app
        .post(
            "/api/v1/admin/tenants",
            &platform,
            json!({"name": "Globex", "admin_email": "boss@globex.test"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let password = created["admin"]["password"]
        .as_str()
        .expect("generated password");
    assert!(password.len() >= 16);
    let tokens = app.login_ok("boss@globex.test", password, None).await;
    assert_eq!(tokens["role"], "admin");
    assert_eq!(tokens["tenant_id"], created["id"]);
}

#[actix_web::test]
async fn the_tenant_runtime_is_served_by_its_supervisor() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let first: Value = app
        .get("/api/v1/tenant", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .get("/api/v1/tenant", &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["slug"], "acme");
    assert_eq!(first["runtime"]["tenant_id"], acme.id.as_str());
    assert_eq!(second["runtime"]["incarnation"], 1);
    assert_eq!(
        second["runtime"]["messages_handled"].as_u64().unwrap(),
        first["runtime"]["messages_handled"].as_u64().unwrap() + 1
    );
}
