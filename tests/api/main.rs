//! Integration tests through HTTP against a spawned app (one test binary, many modules).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod alerts;
mod api_keys;
mod auth;
mod durability;
mod errors;
mod helpers;
mod hostile_queries;
mod ingest_formats;
mod ingest_limits;
mod isolation;
mod log_alerts;
mod logs;
mod loki;
mod metric_queries;
mod notification_replicas;
mod notifications;
mod ops;
mod outage;
mod prometheus_api;
mod rbac;
mod receivers;
mod refusals;
mod storage;
mod tenants;
mod users;
