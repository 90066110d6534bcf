//! The database under pressure: concurrent management writes never fail with "database is
//! locked" (SQLite), and a weakened PostgreSQL durability setting is reported.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, tenant_with_key, write_lines};

#[actix_web::test]
async fn concurrent_management_writes_all_succeed() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("busy-writes").await;
    // Eight sessions refreshed at once.
    let mut refresh_tokens = Vec::new();
    for i in 0..8 {
        let email = format!("u{i}@busy.test");
        app.create_user(&tenant.admin_token, &email, "viewer").await;
        let tokens = app
            .login_ok(&email, &crate::helpers::password_for(&email), None)
            .await;
        refresh_tokens.push(tokens["refresh_token"].as_str().expect("token").to_owned());
    }
    let refreshes = refresh_tokens.iter().map(|token| {
        app.request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": token})),
        )
    });
    for response in futures_util::future::join_all(refreshes).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Eight PATCHes of users at once, ten rounds.
    let users: Value = app
        .get("/api/v1/users", &tenant.admin_token)
        .await
        .json()
        .await
        .expect("JSON");
    let ids: Vec<String> = users["users"]
        .as_array()
        .or_else(|| users.as_array())
        .expect("a list of users")
        .iter()
        .filter(|u| u["role"] == "viewer")
        .map(|u| u["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 8);
    for round in 0..10 {
        let role = if round % 2 == 0 { "editor" } else { "viewer" };
        let paths: Vec<String> = ids.iter().map(|id| format!("/api/v1/users/{id}")).collect();
        let patches = paths
            .iter()
            .map(|path| app.patch(path, &tenant.admin_token, json!({"role": role})));
        for response in futures_util::future::join_all(patches).await {
            assert_eq!(response.status(), StatusCode::OK, "round {round}");
        }
    }
}

#[actix_web::test]
async fn tenant_limits_can_be_patched_during_ingest() {
    let app = spawn_app().await;
    let (tenant, key) = tenant_with_key(&app, "limits-under-load").await;
    let platform = app.platform_token().await;
    let now = tidewatch::domain::time::now_ms();
    let writers = (0..4).map(|w| {
        let lines: String = (0..2000)
            .map(|i| format!("load,w=w{w},i=i{i} value={i} {now}\n"))
            .collect();
        write_lines(&app, &key, lines)
    });
    let path = format!("/api/v1/admin/tenants/{}", tenant.id);
    let patches = (0..10).map(|i| {
        app.patch(
            &path,
            &platform,
            json!({"limits": {"raw_retention_days": 10 + i}}),
        )
    });
    let (_, patched) = futures_util::future::join(
        futures_util::future::join_all(writers),
        futures_util::future::join_all(patches),
    )
    .await;
    for response in patched {
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[actix_web::test]
async fn readyz_warns_when_postgres_may_lose_acknowledged_commits() {
    let postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    let app = spawn_app_with(|c| {
        if c.database_url.starts_with("postgres") {
            let joiner = if c.database_url.contains('?') {
                '&'
            } else {
                '?'
            };
            c.database_url
                .push_str(&format!("{joiner}options=-c%20synchronous_commit%3Doff"));
        }
    })
    .await;
    let body: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let warnings = body["warnings"].as_array().expect("a warnings list");
    if postgres {
        assert_eq!(warnings.len(), 1, "{body}");
        assert!(warnings[0]
            .as_str()
            .expect("text")
            .contains("synchronous_commit"));
    } else {
        assert!(warnings.is_empty(), "SQLite has no such setting: {body}");
    }
    assert_eq!(body["status"], "ready");
}
