//! Tidewatch: a multi-tenant monitoring and alerting service.
//!
//! The binary in `main.rs` is a thin CLI over this library; integration tests build the
//! same application through [`app::Application`].

pub mod accounts;
pub mod actors;
pub mod admin;
pub mod alerting;
pub mod app;
pub mod auth;
pub mod channels;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod ingest;
pub mod logquery;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod panic_net;
pub mod promql;
pub mod query_threads;
pub mod self_metrics;
pub mod store;
pub mod telemetry;
pub mod tsdb;
pub mod ws;
