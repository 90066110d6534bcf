//! Alerting's pure core. The rules API, the per-tenant `AlertEvaluator` actor (a child of
//! the tenant supervisor fed by the aggregator's applied batches) and the alert history
//! build on it (issue 15); today it holds the instance lifecycle and the rule model.
//!
//! - [`lifecycle`]: one instance's states and transitions (`for`, `keep_firing_for`,
//!   hysteresis, severities, no data, flapping), driven by verdicts and time.
//! - [`rule`]: rules as sent (`RuleDraft`) and as evaluated (`Rule`), with the validation
//!   that names each bad field.

pub mod lifecycle;
pub mod promql_form;
pub mod rule;
pub mod rule_file;
pub mod template;
pub mod window;

pub use lifecycle::{
    AlertState, FlapPolicy, Instance, LifecyclePolicy, NoDataPolicy, Severity, StoredInstance,
    Transition, Verdict,
};
