//! WebSocket sessions: Loki's live tail ([`loki_tail`]) today, live dashboards next.
//!
//! Every use of the deprecated `actix-web-actors` crate stays in this folder, so a later
//! move to `actix-ws` touches nothing else. The live-update protocol arrives with the
//! dashboards capability. A dashboard session will
//! authenticate as HTTP requests do (`http::extract::authenticate_header` over the
//! `auth::Authenticator`), and read through `metrics::MetricsReader` and the aggregator's
//! applied-batch subscription.

pub mod loki_tail;
