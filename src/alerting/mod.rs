//! Alerting's pure core. The rules API, the per-tenant `AlertEvaluator` actor (a child of
//! the tenant supervisor fed by the aggregator's applied batches) and the alert history
//! build on it (issue 15); today it holds the instance lifecycle.
//!
//! - [`lifecycle`]: one instance's states and transitions (`for`, `keep_firing_for`,
//!   hysteresis, severities, no data, flapping), driven by verdicts and time.

pub mod lifecycle;

pub use lifecycle::{
    AlertState, FlapPolicy, Instance, LifecyclePolicy, NoDataPolicy, Severity, Transition, Verdict,
};
