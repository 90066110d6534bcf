//! The net under every request: a panic is logged once with its backtrace, counted in
//! `tidewatch_panics_total`, and — inside a request — answered 500 with the JSON error
//! shape and the request id, instead of a dropped connection. The causes are fixed where
//! they are found; this only keeps one bad request from hurting the others.
//!
//! Code that *expects* a library to panic on some input (the PromQL parser on
//! out-of-range numbers) runs it under [`quietly`]: the panic becomes an `Err` and is
//! neither logged as a fault nor counted.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use futures_util::FutureExt as _;
use tracing_actix_web::RequestId;

use crate::http::error::ApiError;

static PANICS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Panics since start that were not expected ([`quietly`] ones are not counted).
pub fn panics_total() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Installs the process-wide panic hook (once; later calls do nothing).
pub fn install_hook() {
    INSTALL.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                return;
            }
            // Before logging is set up (or in unit tests) the message still reaches stderr.
            if !tracing::dispatcher::has_been_set() {
                PANICS.fetch_add(1, Ordering::Relaxed);
                default_hook(info);
                return;
            }
            PANICS.fetch_add(1, Ordering::Relaxed);
            let backtrace = std::backtrace::Backtrace::force_capture();
            let thread = std::thread::current();
            tracing::error!(
                thread = thread.name().unwrap_or("unnamed"),
                panic = %info,
                %backtrace,
                "panic"
            );
        }));
    });
}

/// Runs `f`, turning a panic into `Err(message)` without logging or counting it.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let was = QUIET.with(|q| q.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    outcome.map_err(|payload| panic_message(payload.as_ref()))
}

/// The text a panic was raised with.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::test as actix_test;
    use actix_web::{web, App, HttpResponse};

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

    #[test]
    fn quietly_turns_a_panic_into_its_message_and_does_not_count_it() {
        install_hook();
        let before = panics_total();
        let outcome: Result<(), String> = quietly(|| panic!("out of range: {}", 7));
        assert_eq!(outcome, Err("out of range: 7".to_owned()));
        assert_eq!(quietly(|| 41 + 1), Ok(42));
        assert_eq!(panics_total(), before);
    }
}
