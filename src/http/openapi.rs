//! The OpenAPI document of every JSON endpoint, generated from the handlers' annotations.

use actix_web::{get, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error;

struct BearerAuth;

/// Handlers inside the `/api/v1` scope are annotated with their path relative to it;
/// the document lists full paths, as clients call them.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        for (path, item) in openapi.paths.paths.iter_mut() {
            // The Prometheus routes share one annotation for GET and POST; only POST has
            // the form body.
            if let Some(get) = item.get.as_mut() {
                get.request_body = None;
            }
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let params = operation.parameters.as_deref().unwrap_or_default();
                let has_path_param = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Path));
                let has_query_param = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let uses_database = !matches!(path.as_str(), "/healthz" | "/metrics");
                let query_api = path.starts_with("/api/v1/query")
                    || path.starts_with("/api/v1/series")
                    || path.starts_with("/api/v1/label");
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                };
                if secured {
                    add("401", "missing or invalid credential (`unauthorized`)");
                    add(
                        "403",
                        "the credential's role or scope does not allow this (`forbidden`)",
                    );
                }
                if has_body {
                    add("400", "malformed body (`invalid_json`, `invalid_body`)");
                    add("408", "the body was not received in time (`body_timeout`)");
                    add("413", "the body is over the limit (`payload_too_large`)");
                    add(
                        "415",
                        "an unsupported Content-Type (`unsupported_media_type`)",
                    );
                }
                if has_query_param {
                    add("400", "an invalid parameter");
                }
                if has_path_param {
                    add(
                        "404",
                        "no such object in the credential's tenant (`not_found`)",
                    );
                }
                if uses_database {
                    add(
                        "503",
                        "the database (or the tenant's store, or the query threads) is unavailable; retry after `Retry-After` (`unavailable`)",
                    );
                }
                if query_api {
                    add("400", "invalid query or parameter (`bad_data`)");
                    add(
                        "413",
                        "the form body is over the limit (`payload_too_large`)",
                    );
                    add(
                        "422",
                        "a query limit or an unsupported feature (`limit_exceeded`, `unsupported`)",
                    );
                }
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
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
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The API document: every resource's registered routes ([`super::RESOURCES`]) with the
/// schemas they use, and the responses every operation shares.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut openapi = ApiDoc::openapi();
    let (paths, schemas) = super::routes::document(super::RESOURCES);
    openapi.paths = paths;
    let components = openapi.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
    CommonResponses.modify(&mut openapi);
    openapi
}

/// The methods each documented path answers, for 405 `Allow` on the others: built once
/// from the document, so the two cannot disagree.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    static ROUTES: std::sync::OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> =
        std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let mut routes: Vec<(Vec<String>, Vec<&'static str>)> = document()
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
    // A fixed path (`/alert-rules/export`) wins over a template it also fits
    // (`/alert-rules/{id}`), as in routing.
    let literal = |template: &Vec<String>| {
        template.iter().zip(&segments).all(|(t, s)| t == s) && template.len() == segments.len()
    };
    let exact = routes.iter().any(|(template, _)| literal(template));
    let mut allowed: Vec<&'static str> = Vec::new();
    for (template, methods) in routes {
        let matches = if exact {
            literal(template)
        } else {
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        };
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
    web::Json(document())
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.root_undocumented(openapi_json);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_states_the_servers_own_patterns() {
        let document = serde_json::to_value(document()).expect("serialises");
        let text = document.to_string();
        for pattern in [
            crate::domain::user::EMAIL_PATTERN,
            crate::domain::tenant::DISPLAY_NAME_PATTERN,
        ] {
            let quoted = serde_json::to_string(pattern).expect("a JSON string");
            assert!(
                text.contains(&quoted),
                "the OpenAPI document lacks {pattern}"
            );
        }
    }

    #[test]
    fn documented_paths_answer_their_methods_for_405() {
        assert_eq!(
            allowed_methods("/api/v1/users"),
            Some(vec!["GET", "POST", "HEAD"])
        );
        assert_eq!(allowed_methods("/api/v1/no-such-thing"), None);
        assert_eq!(
            allowed_methods("/api/v1/alert-rules/export"),
            Some(vec!["GET", "HEAD"])
        );
        assert_eq!(
            allowed_methods("/api/v1/alert-rules/some-id"),
            Some(vec!["GET", "PUT", "PATCH", "DELETE", "HEAD"])
        );
        assert_eq!(
            allowed_methods("/api/v1/users/"),
            None,
            "an empty id segment is no id"
        );
    }
}
