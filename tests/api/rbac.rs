//! Every role against every route class, through HTTP. The table is the contract; the
//! test prints it, and fails listing every cell that differs.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Any valid credential.
    Authenticated,
    /// Viewer and up, or an API key with `read`.
    Read,
    /// Editor and admin.
    Edit,
    /// Tenant admin.
    Manage,
    /// Platform admin.
    Platform,
    /// Editor, admin, or an API key with `ingest`.
    Ingest,
}

const CALLERS: [&str; 7] = [
    "anonymous",
    "platform",
    "admin",
    "editor",
    "viewer",
    "key:read",
    "key:ingest",
];

/// Who a class lets through; everyone else gets 403 (or 401 when anonymous).
fn allowed(class: Class, caller: &str) -> bool {
    match class {
        Class::Authenticated => caller != "anonymous",
        Class::Read => matches!(caller, "admin" | "editor" | "viewer" | "key:read"),
        Class::Edit => matches!(caller, "admin" | "editor"),
        Class::Manage => caller == "admin",
        Class::Platform => caller == "platform",
        Class::Ingest => matches!(caller, "admin" | "editor" | "key:ingest"),
    }
}

#[actix_web::test]
async fn every_role_against_every_route_class() {
    let app = spawn_app().await;
    let platform = app.platform_token().await;
    let acme = app.create_tenant("acme").await;
    let (_, editor) = app
        .create_user(&acme.admin_token, "editor@acme.test", "editor")
        .await;
    let (viewer_id, viewer) = app
        .create_user(&acme.admin_token, "viewer@acme.test", "viewer")
        .await;
    let (_, key_read) = app.create_api_key(&acme.admin_token, &["read"]).await;
    let (_, key_ingest) = app.create_api_key(&acme.admin_token, &["ingest"]).await;
    let (spare_key_id, _) = app.create_api_key(&acme.admin_token, &["read"]).await;
    let rule = crate::alerts::create_rule(&app, &acme.admin_token, crate::alerts::cpu_rule()).await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();

    let token_of = |caller: &str| -> Option<String> {
        match caller {
            "anonymous" => None,
            "platform" => Some(platform.clone()),
            "admin" => Some(acme.admin_token.clone()),
            "editor" => Some(editor.clone()),
            "viewer" => Some(viewer.clone()),
            "key:read" => Some(key_read.clone()),
            "key:ingest" => Some(key_ingest.clone()),
            other => panic!("unknown caller {other}"),
        }
    };

    // (class, method, path, body maker)
    type Body = fn(&str) -> Option<Value>;
    let routes: Vec<(Class, &str, String, Body)> = vec![
        (
            Class::Authenticated,
            "GET",
            "/api/v1/auth/me".into(),
            |_| None,
        ),
        (Class::Read, "GET", "/api/v1/tenant".into(), |_| None),
        (Class::Read, "GET", "/api/v1/query?query=up".into(), |_| {
            None
        }),
        (Class::Read, "GET", "/api/v1/labels".into(), |_| None),
        (
            Class::Ingest,
            "POST",
            "/api/v1/ingest/metrics".into(),
            |_| Some(json!({"metrics": [{"name": "up", "value": 1}]})),
        ),
        (Class::Ingest, "POST", "/api/v1/ingest/logs".into(), |_| {
            Some(json!([{"msg": "hello"}]))
        }),
        (Class::Ingest, "POST", "/loki/api/v1/push".into(), |_| {
            Some(
                json!({"streams": [{"stream": {"app": "a"}, "values": [["1764756000000000000", "x"]]}]}),
            )
        }),
        (Class::Read, "GET", "/api/v1/logs".into(), |_| None),
        (Class::Read, "GET", "/loki/api/v1/labels".into(), |_| None),
        (
            Class::Read,
            "GET",
            "/loki/api/v1/query_range?query=%7Bapp%3D%22a%22%7D".into(),
            |_| None,
        ),
        (Class::Read, "GET", "/api/v1/logs/histogram".into(), |_| {
            None
        }),
        (Class::Read, "GET", "/api/v1/logs/fields".into(), |_| None),
        (
            Class::Read,
            "GET",
            "/api/v1/logs/fields/service/values".into(),
            |_| None,
        ),
        (Class::Read, "GET", "/api/v1/alert-rules".into(), |_| None),
        (
            Class::Read,
            "GET",
            format!("/api/v1/alert-rules/{rule_id}"),
            |_| None,
        ),
        (Class::Edit, "POST", "/api/v1/alert-rules".into(), |_| {
            Some(crate::alerts::cpu_rule())
        }),
        (
            Class::Edit,
            "PATCH",
            format!("/api/v1/alert-rules/{rule_id}"),
            |_| Some(json!({"enabled": true})),
        ),
        (
            Class::Edit,
            "PUT",
            format!("/api/v1/alert-rules/{rule_id}"),
            |_| Some(crate::alerts::cpu_rule()),
        ),
        (Class::Read, "GET", "/api/v1/alerts".into(), |_| None),
        (Class::Read, "GET", "/api/v1/alerts/history".into(), |_| {
            None
        }),
        (Class::Read, "GET", "/api/v1/rules".into(), |_| None),
        (Class::Manage, "GET", "/api/v1/users".into(), |_| None),
        (Class::Manage, "POST", "/api/v1/users".into(), |caller| {
            let local = caller.replace(':', "-");
            Some(
                json!({"email": format!("new-{local}@acme.test"), "password": "long-enough-pw", "role": "viewer"}),
            )
        }),
        (
            Class::Manage,
            "GET",
            format!("/api/v1/users/{viewer_id}"),
            |_| None,
        ),
        (
            Class::Manage,
            "PATCH",
            format!("/api/v1/users/{viewer_id}"),
            |_| Some(json!({"name": "Viewer"})),
        ),
        (Class::Manage, "GET", "/api/v1/api-keys".into(), |_| None),
        (Class::Manage, "POST", "/api/v1/api-keys".into(), |_| {
            Some(json!({"name": "k", "scopes": ["read"]}))
        }),
        (
            Class::Manage,
            "DELETE",
            format!("/api/v1/api-keys/{spare_key_id}"),
            |_| None,
        ),
        (Class::Manage, "GET", "/api/v1/audit-log".into(), |_| None),
        (
            Class::Platform,
            "GET",
            "/api/v1/admin/tenants".into(),
            |_| None,
        ),
        (
            Class::Platform,
            "POST",
            "/api/v1/admin/tenants".into(),
            |caller| {
                let slug = format!("t-{}", caller.replace(':', "-"));
                Some(json!({"name": slug, "slug": slug}))
            },
        ),
        (
            Class::Platform,
            "GET",
            format!("/api/v1/admin/tenants/{}", acme.id),
            |_| None,
        ),
        (
            Class::Platform,
            "PATCH",
            format!("/api/v1/admin/tenants/{}", acme.id),
            |_| Some(json!({"name": "Acme"})),
        ),
    ];

    let mut table = String::new();
    let mut mismatches = Vec::new();
    table.push_str(&format!("{:<44}", "route"));
    for caller in CALLERS {
        table.push_str(&format!("{caller:>11}"));
    }
    table.push('\n');
    for (class, method, path, body) in &routes {
        table.push_str(&format!(
            "{:<44}",
            format!("{method} {path}")
                .chars()
                .take(43)
                .collect::<String>()
        ));
        for caller in CALLERS {
            let token = token_of(caller);
            let response = app
                .request(method, path, token.as_deref(), body(caller))
                .await;
            let status = response.status();
            let expected_ok = allowed(*class, caller);
            let ok = if expected_ok {
                status.is_success()
            } else if caller == "anonymous" {
                status == StatusCode::UNAUTHORIZED
            } else {
                status == StatusCode::FORBIDDEN
            };
            if !status.is_success() {
                let body: Value = response.json().await.expect("error JSON");
                assert!(
                    body["error"]["code"].is_string(),
                    "{method} {path} as {caller}: {body}"
                );
            }
            table.push_str(&format!("{:>11}", status.as_u16()));
            if !ok {
                mismatches.push(format!(
                    "{method} {path} as {caller}: got {status}, expected {}",
                    if expected_ok { "2xx" } else { "401/403" }
                ));
            }
        }
        table.push('\n');
    }
    println!("{table}");
    assert!(
        mismatches.is_empty(),
        "RBAC mismatches:\n{}\n{table}",
        mismatches.join("\n")
    );
}
