//! The OpenAPI document of every JSON endpoint, generated from the handlers' annotations.

use actix_web::{get, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api_keys, audit, auth, error, ingest, ops, prometheus, tenant, tenants, users};

struct BearerAuth;

/// Handlers inside the `/api/v1` scope are annotated with their path relative to it;
/// the document lists full paths, as clients call them.
struct ApiPrefix;

const ROOT_PATHS: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/write",
    "/api/v2/write",
    "/v1/metrics",
];

impl Modify for ApiPrefix {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let paths = std::mem::take(&mut openapi.paths.paths);
        openapi.paths.paths = paths
            .into_iter()
            .map(|(path, item)| {
                if ROOT_PATHS.contains(&path.as_str()) || path.starts_with("/api/") {
                    (path, item)
                } else {
                    (format!("/api/v1{path}"), item)
                }
            })
            .collect();
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A JWT from /api/v1/auth/login, or an API key"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tidewatch API", description = "Multi-tenant monitoring and alerting"),
    paths(
        ops::healthz, ops::readyz, ops::metrics,
        auth::login, auth::refresh, auth::logout, auth::me,
        tenants::create, tenants::list, tenants::get, tenants::update, tenants::delete,
        tenant::current,
        users::create, users::list, users::get, users::update, users::delete,
        api_keys::create, api_keys::list, api_keys::revoke,
        audit::list,
        ingest::json, ingest::influx_v2, ingest::influx_v1, ingest::remote_write, ingest::otlp,
        prometheus::query, prometheus::query_range, prometheus::series, prometheus::labels,
        prometheus::label_values, prometheus::buildinfo,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth, &ApiPrefix)
)]
pub struct ApiDoc;

/// The methods each documented path answers, for 405 `Allow` on the others: built once
/// from the document, so the two cannot disagree.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    static ROUTES: std::sync::OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> =
        std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let mut routes: Vec<(Vec<String>, Vec<&'static str>)> = ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let mut methods: Vec<&'static str> = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, present)| present.then_some(name))
                .collect();
                if methods.contains(&"GET") {
                    methods.push("HEAD");
                }
                (template.split('/').map(str::to_owned).collect(), methods)
            })
            .collect();
        for page in ["/api/v1/openapi.json", "/"] {
            routes.push((
                page.split('/').map(str::to_owned).collect(),
                vec!["GET", "HEAD"],
            ));
        }
        routes
    });
    let segments: Vec<&str> = path.split('/').collect();
    let mut allowed: Vec<&'static str> = Vec::new();
    for (template, methods) in routes {
        let matches = template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()));
        if matches {
            for method in methods {
                if !allowed.contains(method) {
                    allowed.push(method);
                }
            }
        }
    }
    (!allowed.is_empty()).then_some(allowed)
}

/// `GET /api/v1/openapi.json`.
#[get("/api/v1/openapi.json")]
pub async fn openapi_json() -> web::Json<utoipa::openapi::OpenApi> {
    web::Json(ApiDoc::openapi())
}
