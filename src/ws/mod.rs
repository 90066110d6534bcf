//! WebSocket sessions for live dashboards.
//!
//! Every use of the deprecated `actix-web-actors` crate stays in this folder, so a later
//! move to `actix-ws` touches nothing else. The live-update protocol arrives with the
//! dashboards capability; until then no WebSocket route is registered. A session will
//! authenticate as HTTP requests do (`http::extract::authenticate_header` over the
//! `auth::Authenticator`), and read through `metrics::MetricsReader` and the aggregator's
//! applied-batch subscription.
