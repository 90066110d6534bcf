//! Middleware and fallbacks every request passes: the panic net's 500, request metrics
//! and ids, and the answer for a route that does not exist (404, or 405 with `Allow`).

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::FutureExt as _;
use tracing_actix_web::RequestId;

use super::error::ApiError;
use super::state::AppState;

/// Middleware: a handler (or extractor) that panics gets a 500 answer. It is returned as
/// an error (the request itself went down with the panic), which actix renders with
/// [`ApiError`]'s JSON shape.
pub async fn catch_request_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string())
        .unwrap_or_default();
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error (request id {request_id}); the server log has details"),
        )
        .into()),
    }
}

/// 405 with `Allow` when `path` exists under other methods than the request's, if it does.
pub fn method_not_allowed(req: &actix_web::HttpRequest) -> Option<actix_web::HttpResponse> {
    let allowed = crate::http::openapi::allowed_methods(req.path())?;
    if allowed.contains(&req.method().as_str()) {
        return None;
    }
    let allow = allowed.join(", ");
    let error = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; allowed: {allow}",
            req.method(),
            req.path()
        ),
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        HeaderValue::from_str(&allow).expect("method names are valid header text"),
    );
    Some(response)
}

/// No route matched: 405 with `Allow` when the path exists under other methods (TRACE,
/// a GET on a POST-only route, …), 404 otherwise.
pub async fn unknown_route(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, ApiError> {
    method_not_allowed(&req).ok_or_else(|| ApiError::not_found("route"))
}

/// Counts and times every request by its route pattern, and returns the request id.
pub async fn observe_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let method = req.method().to_string();
    let mut response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(metrics) = metrics {
        let status = response.status().as_u16().to_string();
        metrics
            .http_requests
            .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
            .inc();
        metrics
            .http_latency
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panic_net::{install_hook, panics_total};
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{App, HttpResponse};

    #[actix_web::test]
    async fn a_panicking_handler_gets_500_json_with_the_request_id_and_is_counted() {
        install_hook();
        let before = panics_total();
        let app = actix_test::init_service(
            App::new()
                .route(
                    "/boom",
                    web::get().to(|| async {
                        if std::hint::black_box(true) {
                            panic!("injected handler fault");
                        }
                        HttpResponse::Ok().finish()
                    }),
                )
                .route(
                    "/fine",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                )
                .wrap(from_fn(catch_request_panics))
                .wrap(tracing_actix_web::TracingLogger::default()),
        )
        .await;
        // The server renders a middleware's error as the response; do the same here.
        let failed = actix_test::try_call_service(
            &app,
            actix_test::TestRequest::get().uri("/boom").to_request(),
        )
        .await;
        let response = failed
            .err()
            .expect("the panic became an error")
            .error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("a body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(body["error"]["code"], "internal");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("request id "),
            "{body}"
        );
        assert_eq!(panics_total(), before + 1);
        // The service goes on.
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/fine").to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}
