//! Login, refresh, logout, token validation, rate limiting, disabled accounts.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, password_for, spawn_app, JWT_SECRET, PLATFORM_EMAIL};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[actix_web::test]
async fn login_returns_bearer_tokens_that_identify_the_user() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let tokens = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["tenant_id"], acme.id.as_str());
    assert_eq!(tokens["role"], "admin");
    assert!(tokens["refresh_token"].as_str().unwrap().len() > 30);

    let me: Value = app
        .get("/api/v1/auth/me", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "user");
    assert_eq!(me["email"], "admin@acme.test");
    assert_eq!(me["tenant"]["slug"], "acme");
    assert_eq!(me["tenant"]["role"], "admin");
    assert_eq!(me["platform_admin"], false);
}

#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let wrong = assert_error(
        app.login("admin@acme.test", "not-the-password", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let unknown = assert_error(
        app.login("nobody@acme.test", "whatever-pass", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        wrong, unknown,
        "the answer must not reveal which emails exist"
    );
    let response = app
        .request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "x@y.io"})),
        )
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[actix_web::test]
async fn invalid_refresh_tokens_are_throttled_like_failed_logins() {
    let app = spawn_app().await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = app
            .request(
                "POST",
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": format!("guess-{i}")})),
            )
            .await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
            assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        statuses.len() <= 6,
        "throttled after the account limit: {statuses:?}"
    );
}

#[actix_web::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let first = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    let refresh_1 = first["refresh_token"].as_str().unwrap();

    let response = app
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_1})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    let refresh_2 = second["refresh_token"].as_str().unwrap();
    let access_2 = second["access_token"].as_str().unwrap();
    assert_ne!(refresh_1, refresh_2);
    assert_eq!(second["role"], "admin");
    assert_eq!(
        app.get("/api/v1/auth/me", access_2).await.status(),
        StatusCode::OK
    );

    // Replaying the rotated token is theft: the whole session dies.
    let replay = app
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_1})),
        )
        .await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let after = app
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh_2})),
        )
        .await;
    assert_error(after, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        app.get("/api/v1/auth/me", access_2).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Another login is a separate session and still works.
    app.login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
}

#[actix_web::test]
async fn logout_ends_the_session_for_access_and_refresh_tokens() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let tokens = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;

    let response = app
        .request(
            "POST",
            "/api/v1/auth/logout",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/api/v1/auth/me", access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let refreshed = app
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_error(refreshed, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Logging out with just the bearer access token works too, and only ends that session.
    let other_access = other["access_token"].as_str().unwrap();
    let third = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    let response = app
        .request("POST", "/api/v1/auth/logout", Some(other_access), None)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/api/v1/auth/me", other_access).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/auth/me", third["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );

    let nothing = app
        .request("POST", "/api/v1/auth/logout", None, Some(json!({})))
        .await;
    assert_error(nothing, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

fn claims_for(sub: &str, sid: &str, aud: &str, exp: u64) -> Value {
    json!({"sub": sub, "sid": sid, "padm": false, "iss": "tidewatch", "aud": aud, "iat": now_secs() - 10, "exp": exp, "jti": "x"})
}

#[actix_web::test]
async fn expired_tampered_unsigned_and_foreign_tokens_are_rejected() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    let tokens = app
        .login_ok("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    let good = tokens["access_token"].as_str().unwrap();
    let me: Value = app.get("/api/v1/auth/me", good).await.json().await.unwrap();
    let user_id = me["user_id"].as_str().unwrap();
    // The session id is inside the good token's payload.
    let payload: Value = {
        use base64::Engine;
        let part = good.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    };
    let sid = payload["sid"].as_str().unwrap();
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let sign = |claims: &Value, alg: Algorithm| encode(&Header::new(alg), claims, &key).unwrap();

    // Control: a token we sign ourselves with the right claims is accepted.
    let valid = sign(
        &claims_for(user_id, sid, "tidewatch-api", now_secs() + 300),
        Algorithm::HS256,
    );
    assert_eq!(
        app.get("/api/v1/auth/me", &valid).await.status(),
        StatusCode::OK
    );

    let expired = sign(
        &claims_for(user_id, sid, "tidewatch-api", now_secs() - 120),
        Algorithm::HS256,
    );
    let wrong_audience = sign(
        &claims_for(user_id, sid, "someone-else", now_secs() + 300),
        Algorithm::HS256,
    );
    let wrong_algorithm = sign(
        &claims_for(user_id, sid, "tidewatch-api", now_secs() + 300),
        Algorithm::HS512,
    );
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims_for(user_id, sid, "tidewatch-api", now_secs() + 300),
        &EncodingKey::from_secret(b"not-the-server-secret-not-the-server-secret"),
    )
    .unwrap();
    let unsigned = {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body =
            engine.encode(claims_for(user_id, sid, "tidewatch-api", now_secs() + 300).to_string());
        format!("{header}.{body}.")
    };
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims = payload.clone();
        claims["padm"] = json!(true);
        parts[1] = engine.encode(claims.to_string());
        parts.join(".")
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = claims_for(user_id, sid, "tidewatch-api", now_secs() + 300);
        change(&mut claims);
        sign(&claims, Algorithm::HS256)
    };
    let not_yet_valid = with(&|c| c["nbf"] = json!(now_secs() + 3600));
    let issued_in_future = with(&|c| {
        c["iat"] = json!(now_secs() + 3600);
        c["exp"] = json!(now_secs() + 3900);
    });
    let ten_years = with(&|c| c["exp"] = json!(now_secs() + 10 * 365 * 86_400));
    for (name, token) in [
        ("nbf in the future", not_yet_valid),
        ("iat in the future", issued_in_future),
        ("exp ten years ahead", ten_years),
        ("expired", expired),
        ("wrong audience", wrong_audience),
        ("HS512", wrong_algorithm),
        ("forged", forged),
        ("alg none", unsigned),
        ("tampered", tampered),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let response = app.get("/api/v1/auth/me", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name} token");
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_error(
        app.request("GET", "/api/v1/auth/me", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
}

#[actix_web::test]
async fn failed_logins_are_rate_limited_per_account() {
    let app = spawn_app().await;
    app.create_tenant("acme").await;
    for attempt in 1..=5 {
        let response = app.login("admin@acme.test", "wrong-password", None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Even the right password is refused while the account is locked.
    let response = app
        .login("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry_after > 0 && retry_after <= 900,
        "Retry-After {retry_after}"
    );
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other accounts are not locked by this one's failures.
    app.login_ok(PLATFORM_EMAIL, crate::helpers::PLATFORM_PASSWORD, None)
        .await;
}

#[actix_web::test]
async fn failed_logins_are_rate_limited_per_address() {
    let app = crate::helpers::spawn_app_with(|c| c.login_max_failures_per_address = 3).await;
    app.create_tenant("acme").await;
    for n in 0..3 {
        let response = app
            .login(&format!("guess{n}@acme.test"), "wrong-password", None)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .login("admin@acme.test", &password_for("admin@acme.test"), None)
        .await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[actix_web::test]
async fn a_disabled_user_loses_access_at_once() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let (user_id, token) = app
        .create_user(&acme.admin_token, "ann@acme.test", "editor")
        .await;
    let tokens = app
        .login_ok("ann@acme.test", &password_for("ann@acme.test"), None)
        .await;
    assert_eq!(
        app.get("/api/v1/tenant", &token).await.status(),
        StatusCode::OK
    );

    let response = app
        .patch(
            &format!("/api/v1/users/{user_id}"),
            &acme.admin_token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        app.get("/api/v1/tenant", &token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let refresh = app
        .request(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": tokens["refresh_token"]})),
        )
        .await;
    assert_error(refresh, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(
        app.login("ann@acme.test", &password_for("ann@acme.test"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Re-enabled, the user can log in again.
    app.patch(
        &format!("/api/v1/users/{user_id}"),
        &acme.admin_token,
        json!({"disabled": false}),
    )
    .await;
    app.login_ok("ann@acme.test", &password_for("ann@acme.test"), None)
        .await;
}

#[actix_web::test]
async fn a_demotion_applies_to_existing_tokens() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    let (user_id, token) = app
        .create_user(&acme.admin_token, "bob@acme.test", "admin")
        .await;
    assert_eq!(
        app.get("/api/v1/users", &token).await.status(),
        StatusCode::OK
    );
    app.patch(
        &format!("/api/v1/users/{user_id}"),
        &acme.admin_token,
        json!({"role": "viewer"}),
    )
    .await;
    assert_error(
        app.get("/api/v1/users", &token).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[actix_web::test]
async fn deleted_and_disabled_tenants_lose_access_at_once() {
    let app = spawn_app().await;
    let platform = app.platform_token().await;
    let acme = app.create_tenant("acme").await;
    let globex = app.create_tenant("globex").await;
    let (_, acme_key) = app.create_api_key(&acme.admin_token, &["read"]).await;
    let (_, globex_key) = app.create_api_key(&globex.admin_token, &["read"]).await;

    let response = app
        .patch(
            &format!("/api/v1/admin/tenants/{}", globex.id),
            &platform,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        app.get("/api/v1/tenant", &globex.admin_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/api/v1/tenant", &globex_key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.get("/api/v1/tenant", &acme_key).await.status(),
        StatusCode::OK,
        "another tenant's key is untouched"
    );
    app.patch(
        &format!("/api/v1/admin/tenants/{}", globex.id),
        &platform,
        json!({"disabled": false}),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/tenant", &globex_key).await.status(),
        StatusCode::OK
    );

    let response = app
        .delete(&format!("/api/v1/admin/tenants/{}", acme.id), &platform)
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.get("/api/v1/tenant", &acme.admin_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.get("/api/v1/tenant", &acme_key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_error(
        app.login("admin@acme.test", &password_for("admin@acme.test"), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // The other tenant is untouched.
    assert_eq!(
        app.get("/api/v1/tenant", &globex.admin_token)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/tenant", &globex_key).await.status(),
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_user_in_several_tenants_names_one_at_login() {
    let app = spawn_app().await;
    let acme = app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    app.create_user(&acme.admin_token, "multi@acme.test", "editor")
        .await;
    tidewatch::admin::create_user(
        &app.state.store,
        tidewatch::admin::CreateUserCommand {
            email: "multi@acme.test",
            password: None,
            tenant: Some("globex"),
            role: tidewatch::domain::Role::Viewer,
            platform_admin: false,
        },
    )
    .await
    .unwrap();

    let response = app
        .login("multi@acme.test", &password_for("multi@acme.test"), None)
        .await;
    assert_error(response, StatusCode::BAD_REQUEST, "tenant_required").await;
    let in_globex = app
        .login_ok(
            "multi@acme.test",
            &password_for("multi@acme.test"),
            Some("globex"),
        )
        .await;
    assert_eq!(in_globex["role"], "viewer");
    let in_acme = app
        .login_ok(
            "multi@acme.test",
            &password_for("multi@acme.test"),
            Some(&acme.id),
        )
        .await;
    assert_eq!(in_acme["role"], "editor");
    // Naming a tenant the user does not belong to is just a failed login.
    app.create_tenant("initech").await;
    let response = app
        .login(
            "multi@acme.test",
            &password_for("multi@acme.test"),
            Some("initech"),
        )
        .await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
