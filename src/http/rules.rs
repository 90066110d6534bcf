//! `GET /api/v1/rules` in Prometheus' shape (`groups[].rules[]` with `state`, `health`,
//! `lastError`, `lastEvaluation`, `evaluationTime`, `alerts`), so Grafana's alert list
//! panel and other Prometheus tools read Tidewatch's rules. All of a tenant's rules are
//! one group, `tidewatch`.

use std::collections::HashMap;

use actix_web::{get, web};
use serde_json::{json, Value};

use super::alerts::{alert_body, annotations_of, rule_statuses};
use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::alerting::promql_form::rule_query;
use crate::alerting::rule::RuleDraft;
use crate::alerting::AlertState;
use crate::auth::principal::Read;
use crate::domain::AlertRuleId;
use crate::store::alerts::AlertInstanceRecord;

/// Prometheus writes a never-run rule's `lastEvaluation` as Go's zero time.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// The tenant's alert rules with their state, health and alerts.
#[utoipa::path(
    params(("type" = Option<String>, Query, description = "alert (recording rules do not exist here)")),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/rules")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    query: web::Query<HashMap<String, String>>,
) -> Result<web::Json<Value>, ApiError> {
    let tenant = access.tenant();
    let record_rules = query.get("type").is_some_and(|t| t == "record");
    let rules = if record_rules {
        Vec::new()
    } else {
        state.store.list_alert_rules(tenant).await?
    };
    let mut alerts: HashMap<AlertRuleId, Vec<AlertInstanceRecord>> = HashMap::new();
    for alert in state.store.alert_instances(tenant, None, false).await? {
        alerts.entry(alert.rule_id).or_default().push(alert);
    }
    let statuses = rule_statuses(&state, tenant, None).await;
    let limits = state.config.expression_limits();
    let mut bodies = Vec::new();
    let mut group_seconds = 0.0;
    let mut group_last: Option<i64> = None;
    for record in &rules {
        let definition: Value = serde_json::from_str(&record.definition).unwrap_or_default();
        let validated = RuleDraft::from_json(&definition).and_then(|d| d.validate(&limits));
        let status = statuses.get(&record.id);
        let own = alerts.remove(&record.id).unwrap_or_default();
        // The definition was just read: a valid rule's annotations need no second parse.
        let annotations = validated
            .as_ref()
            .map(|rule| rule.annotations.clone())
            .unwrap_or_else(|_| annotations_of(record));
        let rule_state = if own.iter().any(|a| a.state == AlertState::Firing) {
            "firing"
        } else if own.iter().any(|a| a.state == AlertState::Pending) {
            "pending"
        } else {
            "inactive"
        };
        let (query_text, duration, keep_firing_for, labels) = match &validated {
            Ok(rule) => (
                rule_query(&rule.kind),
                rule.lifecycle.for_ms / 1000,
                rule.lifecycle.keep_firing_for_ms / 1000,
                json!(rule.labels),
            ),
            Err(_) => (String::new(), 0, 0, json!({})),
        };
        let (health, last_error, seconds, last) = match (status, &validated) {
            (_, Err(e)) => ("err", e.to_string(), 0.0, None),
            (Some(s), _) => (
                s.health,
                s.last_error.clone().unwrap_or_default(),
                s.evaluation_seconds,
                s.last_evaluation_ms,
            ),
            (None, _) => ("unknown", String::new(), 0.0, None),
        };
        let (health, last_error) = if record.enabled {
            (health, last_error)
        } else {
            ("unknown", "the rule is disabled".to_owned())
        };
        group_seconds += seconds;
        group_last = group_last.max(last);
        let alert_bodies: Vec<Value> = own
            .iter()
            .map(|a| {
                let live = status.and_then(|s| s.values.get(&a.id).copied());
                alert_body(a, &annotations, live)
            })
            .collect();
        bodies.push(json!({
            "state": rule_state,
            "name": record.name,
            "query": query_text,
            "duration": duration,
            "keepFiringFor": keep_firing_for,
            "labels": labels,
            "annotations": annotations,
            "alerts": alert_bodies,
            "health": health,
            "lastError": last_error,
            "evaluationTime": seconds,
            "lastEvaluation": last.map_or_else(|| NEVER.to_owned(), timestamp),
            "type": "alerting",
            "id": record.id.to_string(),
            "kind": record.kind,
            "enabled": record.enabled,
        }));
    }
    let groups = if bodies.is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "name": "tidewatch",
            "file": "tidewatch",
            "rules": bodies,
            "interval": 1,
            "limit": 0,
            "evaluationTime": group_seconds,
            "lastEvaluation": group_last.map_or_else(|| NEVER.to_owned(), timestamp),
        })]
    };
    Ok(web::Json(
        json!({"status": "success", "data": {"groups": groups}}),
    ))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(list, __path_list);
}
