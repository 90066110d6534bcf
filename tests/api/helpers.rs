//! Test harness: each test gets its own app on a random port and its own database —
//! a SQLite file in a temp dir, or a fresh PostgreSQL database when TEST_DATABASE_URL
//! is set. The same test bodies run on both backends.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::web;
use prost::Message;
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use tidewatch::app::{AppState, Application};
use tidewatch::config::Config;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PLATFORM_EMAIL: &str = "root@tidewatch.test";
pub const PLATFORM_PASSWORD: &str = "platform-password";

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    _data_dir: tempfile::TempDir,
}

/// A tenant with a logged-in admin.
pub struct TenantFixture {
    pub id: String,
    pub admin_id: String,
    pub admin_token: String,
}

/// A fresh database URL for one test.
pub async fn fresh_database_url(data_dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(server_url) if !server_url.is_empty() => {
            let name = format!("tw_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(server_url.as_str())
                .await
                .expect("TEST_DATABASE_URL is reachable");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("can create a test database");
            admin.close().await.expect("closes");
            replace_database_name(&server_url, &name)
        }
        _ => format!("sqlite://{}/tidewatch.db?mode=rwc", data_dir.display()),
    }
}

/// `postgres://u@h:5432/postgres?x=y` with the database part replaced.
fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_and_path = &base[scheme_end..];
    let host = host_and_path.split('/').next().unwrap_or(host_and_path);
    let mut out = format!("{}{}/{}", &base[..scheme_end], host, name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

pub fn test_config(database_url: String, data_dir: &std::path::Path) -> Config {
    Config {
        bind: "127.0.0.1:0".into(),
        database_url,
        database_max_connections: 5,
        data_dir: data_dir.to_path_buf(),
        jwt_secret: Some(JWT_SECRET.into()),
        admin_email: PLATFORM_EMAIL.into(),
        admin_password: Some(PLATFORM_PASSWORD.into()),
        workers: 1,
        shutdown_timeout_secs: 1,
        log_level: "warn".into(),
        redis_url: with_redis().then(redis_url),
        ..Config::default()
    }
}

/// The Redis the tests use (`TEST_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// `TEST_WITH_REDIS=1`: every app the tests start uses Redis (the test script runs the
/// notification tests once so, once without).
pub fn with_redis() -> bool {
    std::env::var("TEST_WITH_REDIS").is_ok_and(|v| v == "1")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_clock(adjust, tidewatch::domain::time::SystemClock::shared()).await
}

/// An app whose time-dependent decisions read `clock` (e.g. an `OffsetClock` the test
/// moves on).
pub async fn spawn_app_with_clock(
    adjust: impl FnOnce(&mut Config),
    clock: tidewatch::domain::time::SharedClock,
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(fresh_database_url(data_dir.path()).await, data_dir.path());
    adjust(&mut config);
    let database_url = config.database_url.clone();
    tidewatch::telemetry::init(config.log_format, &config.log_level).expect("a valid log filter");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let app = Application::build_with_clock(config, listener, clock)
        .await
        .expect("the application builds");
    let (port, state, _handle) = app.spawn();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        database_url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        state,
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request is sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.request("POST", path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Response {
        self.request("PATCH", path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request("DELETE", path, Some(token), None).await
    }

    pub async fn login(&self, email: &str, password: &str, tenant: Option<&str>) -> Response {
        let mut body = json!({"email": email, "password": password});
        if let Some(tenant) = tenant {
            body["tenant"] = json!(tenant);
        }
        self.request("POST", "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// Logs in and returns the whole token response.
    pub async fn login_ok(&self, email: &str, password: &str, tenant: Option<&str>) -> Value {
        let response = self.login(email, password, tenant).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        response.json().await.expect("token JSON")
    }

    pub async fn platform_token(&self) -> String {
        let tokens = self.login_ok(PLATFORM_EMAIL, PLATFORM_PASSWORD, None).await;
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Creates a tenant with an admin `admin@<slug>.test` and logs that admin in.
    pub async fn create_tenant(&self, slug: &str) -> TenantFixture {
        let platform = self.platform_token().await;
        let email = format!("admin@{slug}.test");
        let response = self
            .post(
                "/api/v1/admin/tenants",
                &platform,
                json!({"name": format!("Tenant {slug}"), "slug": slug, "admin_email": email, "admin_password": password_for(&email)}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create tenant {slug}"
        );
        let body: Value = response.json().await.expect("JSON");
        let tokens = self.login_ok(&email, &password_for(&email), None).await;
        TenantFixture {
            id: body["id"].as_str().expect("id").to_owned(),
            admin_id: body["admin"]["id"].as_str().expect("admin id").to_owned(),
            admin_token: tokens["access_token"].as_str().expect("token").to_owned(),
        }
    }

    /// Creates a user with `role` in the admin's tenant; returns (user id, access token).
    pub async fn create_user(
        &self,
        admin_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let response = self
            .post(
                "/api/v1/users",
                admin_token,
                json!({"email": email, "password": password_for(email), "role": role}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "create user {email}"
        );
        let body: Value = response.json().await.expect("JSON");
        let tokens = self.login_ok(email, &password_for(email), None).await;
        (
            body["id"].as_str().expect("id").to_owned(),
            tokens["access_token"].as_str().expect("token").to_owned(),
        )
    }

    /// Creates an API key; returns (key id, key).
    pub async fn create_api_key(&self, admin_token: &str, scopes: &[&str]) -> (String, String) {
        let response = self
            .post(
                "/api/v1/api-keys",
                admin_token,
                json!({"name": "test key", "scopes": scopes}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "create API key");
        let body: Value = response.json().await.expect("JSON");
        (
            body["id"].as_str().expect("id").to_owned(),
            body["key"].as_str().expect("key").to_owned(),
        )
    }
}

/// A tenant and a key with `ingest` and `read`.
pub async fn tenant_with_key(app: &TestApp, slug: &str) -> (TenantFixture, String) {
    let tenant = app.create_tenant(slug).await;
    let (_, key) = app
        .create_api_key(&tenant.admin_token, &["ingest", "read"])
        .await;
    (tenant, key)
}

pub async fn post_raw(
    app: &TestApp,
    path: &str,
    auth: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("authorization", auth)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request is sent")
}

/// Writes line protocol (ms timestamps) with `key` and expects it stored (204).
pub async fn write_lines(app: &TestApp, key: &str, lines: String) {
    let response = post_raw(
        app,
        "/api/v2/write?precision=ms",
        &format!("Token {key}"),
        "text/plain",
        lines.into_bytes(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// A snappy remote-write body with one series `name{host}` and `points` (ms, value).
pub fn remote_write_body(name: &str, host: &str, points: &[(i64, f64)]) -> Vec<u8> {
    let request = tidewatch::ingest::metrics::remote_write::proto::WriteRequest {
        timeseries: vec![
            tidewatch::ingest::metrics::remote_write::proto::TimeSeries {
                labels: vec![
                    tidewatch::ingest::metrics::remote_write::proto::Label {
                        name: "__name__".into(),
                        value: name.into(),
                    },
                    tidewatch::ingest::metrics::remote_write::proto::Label {
                        name: "host".into(),
                        value: host.into(),
                    },
                ],
                samples: points
                    .iter()
                    .map(
                        |(t, v)| tidewatch::ingest::metrics::remote_write::proto::Sample {
                            value: *v,
                            timestamp: *t,
                        },
                    )
                    .collect(),
                ..Default::default()
            },
        ],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

/// Makes the tenant's aggregator checkpoint now (seal chunks).
pub async fn checkpoint(app: &TestApp, tenant_id: &str) {
    let aggregator = app
        .state
        .tenants
        .aggregator(tenant_id.parse().unwrap())
        .await
        .unwrap();
    aggregator
        .send(tidewatch::actors::aggregator::CheckpointNow)
        .await
        .unwrap()
        .expect("the checkpoint was written");
}

pub fn password_for(email: &str) -> String {
    format!("pw-{email}")
}

/// Asserts the status and the `{"error":{"code","message"}}` shape; returns the message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    let message = body["error"]["message"]
        .as_str()
        .expect("error message")
        .to_owned();
    assert!(!message.is_empty(), "error message is empty");
    message
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(
        replace_database_name("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        replace_database_name("postgres://u:p@h/db?sslmode=disable", "y"),
        "postgres://u:p@h/y?sslmode=disable"
    );
    assert_eq!(
        replace_database_name("postgres://h:1", "z"),
        "postgres://h:1/z"
    );
}
