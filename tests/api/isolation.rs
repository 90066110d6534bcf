//! Another tenant's credential can neither read nor change a tenant's objects: the
//! answer is 404, never 403, so ids cannot be probed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn another_tenants_admin_cannot_read_or_change_users() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let (ann, _) = app
        .create_user(&acme.admin_token, "ann@acme.test", "editor")
        .await;

    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"role": "admin"}))),
        ("DELETE", None),
    ] {
        let response = app
            .request(
                method,
                &format!("/api/v1/users/{ann}"),
                Some(&globex.admin_token),
                body,
            )
            .await;
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Unchanged, and not listed to the other tenant.
    let ann_now: Value = app
        .get(&format!("/api/v1/users/{ann}"), &acme.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ann_now["role"], "editor");
    let globex_users: Value = app
        .get("/api/v1/users", &globex.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = globex_users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec!["admin@globex.test"]);
}

#[actix_web::test]
async fn another_tenants_admin_cannot_list_or_revoke_api_keys() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let (acme_key_id, acme_key) = app.create_api_key(&acme.admin_token, &["read"]).await;

    let response = app
        .delete(
            &format!("/api/v1/api-keys/{acme_key_id}"),
            &globex.admin_token,
        )
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        app.get("/api/v1/tenant", &acme_key).await.status(),
        StatusCode::OK,
        "key still works"
    );
    let listed: Value = app
        .get("/api/v1/api-keys", &globex.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["api_keys"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn credentials_only_ever_reach_their_own_tenant() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let (_, acme_key) = app.create_api_key(&acme.admin_token, &["read"]).await;

    let seen: Value = app
        .get("/api/v1/tenant", &acme_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["id"], acme.id.as_str());
    let seen: Value = app
        .get("/api/v1/tenant", &globex.admin_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["id"], globex.id.as_str());

    // The tenant comes from the credential; a body cannot name another one.
    let response = app
        .post(
            "/api/v1/users",
            &globex.admin_token,
            json!({"email": "sneaky@acme.test", "password": "long-enough-pw", "role": "admin", "tenant_id": acme.id}),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;

    // Audit logs are per tenant.
    let audit: Value = app
        .get("/api/v1/audit-log", &globex.admin_token)
        .await
        .json()
        .await
        .unwrap();
    for entry in audit["entries"].as_array().unwrap() {
        assert!(
            !entry.to_string().contains(&acme.id),
            "acme entry leaked: {entry}"
        );
    }

    // A tenant admin cannot reach another tenant through the platform routes either.
    let response = app
        .get(
            &format!("/api/v1/admin/tenants/{}", acme.id),
            &globex.admin_token,
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "forbidden").await;
}
