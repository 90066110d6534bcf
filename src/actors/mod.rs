//! Actors: each owns its state and is reached only through typed messages.
//!
//! - [`registry::TenantRegistry`]: one per process; starts a [`supervisor::TenantSupervisor`]
//!   per tenant on first use, restarts it after a crash, stops it when idle.
//! - [`login_throttle::LoginThrottle`]: counts failed logins per account and per address.

pub mod aggregator;
pub mod evaluator;
pub mod log_pipeline;
pub mod login_throttle;
pub mod notifier;
pub mod persister;
pub mod registry;
pub mod supervisor;
