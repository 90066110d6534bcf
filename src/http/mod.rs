//! HTTP routes, one file per resource. Handlers are thin: extract the credential and
//! body, call one function, shape the answer.

pub mod alert_rules;
pub mod alertmanager;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod body;
pub mod channels;
pub mod current_tenant;
pub mod error;
pub mod extract;
pub mod ingest;
pub mod inhibit_rules;
pub mod logs;
pub mod loki;
pub mod middleware;
pub mod mute_timings;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod prometheus;
pub mod routes;
pub mod rules;
pub mod silences;
pub mod state;
pub mod tenants;
pub mod users;

use actix_web::web;

use crate::domain::time::rfc3339_ms;

/// Every resource, in the order its routes are matched. Adding a resource: a file with
/// its handlers and a `register` function, and one line here.
pub const RESOURCES: &[routes::Register] = &[
    ops::register,
    openapi::register,
    ingest::register,
    logs::register,
    loki::register,
    auth::register,
    tenants::register,
    current_tenant::register,
    users::register,
    api_keys::register,
    alert_rules::register,
    alerts::register,
    rules::register,
    channels::register,
    notifications::register,
    silences::register,
    mute_timings::register,
    inhibit_rules::register,
    alertmanager::register,
    audit::register,
    prometheus::register,
];

/// Registers every route; used by the server and by tests alike.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes::serve(cfg, RESOURCES);
}

/// Stored millisecond timestamps are shown as RFC 3339 text.
pub(crate) fn timestamp(ms: i64) -> String {
    rfc3339_ms(ms)
}
