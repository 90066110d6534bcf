//! HTTP routes, one file per resource. Handlers are thin: extract the credential and
//! body, call one function, shape the answer.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod body;
pub mod error;
pub mod extract;
pub mod ingest;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod prometheus;
pub mod state;
pub mod tenant;
pub mod tenants;
pub mod users;

use actix_web::web;

use crate::domain::time::rfc3339_ms;

/// Registers every route; used by the server and by tests alike.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(ops::index)
        .service(openapi::openapi_json)
        .service(ingest::influx_v1)
        .service(ingest::influx_v2)
        .service(ingest::otlp)
        .service(
            web::scope("/api/v1")
                .service(auth::login)
                .service(auth::refresh)
                .service(auth::logout)
                .service(auth::me)
                .service(tenants::create)
                .service(tenants::list)
                .service(tenants::get)
                .service(tenants::update)
                .service(tenants::delete)
                .service(tenant::current)
                .service(users::create)
                .service(users::list)
                .service(users::get)
                .service(users::update)
                .service(users::delete)
                .service(api_keys::create)
                .service(api_keys::list)
                .service(api_keys::revoke)
                .service(audit::list)
                .service(ingest::json)
                .service(ingest::remote_write)
                .service(prometheus::query)
                .service(prometheus::query_range)
                .service(prometheus::series)
                .service(prometheus::labels)
                .service(prometheus::label_values)
                .service(prometheus::buildinfo),
        );
}

/// Stored millisecond timestamps are shown as RFC 3339 text.
pub(crate) fn timestamp(ms: i64) -> String {
    rfc3339_ms(ms)
}
