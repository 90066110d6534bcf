//! Integration tests through HTTP against a spawned app (one test binary, many modules).

mod api_keys;
mod auth;
mod errors;
mod helpers;
mod hostile_queries;
mod isolation;
mod metrics;
mod ops;
mod outage;
mod rbac;
mod refusals;
mod storage;
mod tenants;
mod users;
