//! `/api/v1/alerts` (Prometheus' shape, with Tidewatch's fields added), one alert, its
//! history, and acknowledgements. States come from the store (written before any
//! transition is handed on); the latest values from the tenant's evaluator.

use std::collections::{BTreeMap, HashMap, HashSet};

use actix_web::{delete, get, post, web, HttpRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::actors::evaluator::{DescribeRules, RuleStatus};
use crate::alerting::rule::RuleDraft;
use crate::alerting::{AlertState, Severity};
use crate::auth::principal::{Edit, Read};
use crate::domain::metrics::Labels;
use crate::domain::time::now_ms;
use crate::domain::{AlertId, AlertRuleId, TenantId};
use crate::promql::{parse_within, selector_matchers, Expr, Selection};
use crate::store::alerts::{
    Acknowledgement, AlertEventQuery, AlertEventRecord, AlertInstanceRecord, AlertRuleRecord,
};

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, which Prometheus uses for alert values.
pub(crate) fn go_exponent(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let (sign, digits) = match exponent.strip_prefix('-') {
        Some(digits) => ('-', digits),
        None => ('+', exponent),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// The evaluator's view of the rules in `only` (all: `None`); empty when the tenant's
/// actors cannot answer.
pub(crate) async fn rule_statuses(
    state: &AppState,
    tenant: TenantId,
    only: Option<HashSet<AlertRuleId>>,
) -> HashMap<AlertRuleId, RuleStatus> {
    let Ok(actors) = state.tenants.actors(tenant).await else {
        return HashMap::new();
    };
    actors
        .evaluator
        .send(DescribeRules { only })
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|status| (status.rule_id, status))
        .collect()
}

/// Rules by id, with their annotation templates.
pub(crate) fn annotations_of(rule: &AlertRuleRecord) -> BTreeMap<String, String> {
    serde_json::from_str::<Value>(&rule.definition)
        .ok()
        .and_then(|body| RuleDraft::from_json(&body).ok())
        .map(|draft| draft.annotations)
        .unwrap_or_default()
}

/// An alert as answered: Prometheus' fields, then Tidewatch's.
pub(crate) fn alert_body(
    alert: &AlertInstanceRecord,
    annotations: &BTreeMap<String, String>,
    live_value: Option<f64>,
) -> Value {
    let labels: Value = serde_json::from_str(&alert.labels).unwrap_or_else(|_| json!({}));
    let value = live_value.or(alert.last_value).unwrap_or(f64::NAN);
    // `$labels` is the group's own labels, without the rule's, as in Prometheus.
    let group: BTreeMap<String, String> =
        serde_json::from_str(&alert.group_labels).unwrap_or_default();
    let rendered = crate::alerting::rule::render_annotations(annotations, &group, value);
    json!({
        "labels": labels,
        "annotations": rendered,
        "state": alert.state.as_str(),
        "activeAt": alert.active_since_ms.map(timestamp),
        "value": go_exponent(value),
        "id": alert.id.to_string(),
        "rule_id": alert.rule_id.to_string(),
        "severity": alert.severity.map(Severity::as_str),
        "fingerprint": alert.fingerprint,
        "acknowledged": alert.acknowledgement.is_some(),
        "acknowledgement": alert.acknowledgement.as_ref().map(|a| json!({
            "by": a.by, "at": timestamp(a.at_ms), "comment": a.comment,
        })),
        "flapping": alert.flapping,
        "no_data": alert.no_data,
        "since": alert.active_since_ms.map(timestamp),
        "fired_at": alert.fired_at_ms.map(timestamp),
    })
}

/// A `match[]` selector (`{severity="critical"}`) as a label test.
fn matcher(text: &str, state: &AppState) -> Result<Selection, ApiError> {
    match parse_within(text, &state.config.expression_limits()) {
        Ok(Expr::VectorSelector(vs)) => Ok(Selection {
            matchers: selector_matchers(&vs),
            start_ms: i64::MIN,
            end_ms: i64::MAX,
        }),
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            format!("match[]: {text:?} is not a series selector like {{severity=\"critical\"}}"),
        )),
    }
}

/// 400 `bad_parameter` naming the query parameter.
pub(crate) fn bad(parameter: &str, message: &str) -> ApiError {
    ApiError::bad_request("bad_parameter", format!("{parameter}: {message}"))
}

/// Active alerts in Prometheus' shape; filters `state`, `severity`, `rule_id`, `match[]`.
#[utoipa::path(
    params(
        ("state" = Option<String>, Query, description = "pending or firing"),
        ("severity" = Option<String>, Query, description = "info, warning or critical"),
        ("rule_id" = Option<String>, Query),
        ("match[]" = Option<String>, Query, description = "a label selector; repeatable, any may match"),
    ),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/alerts")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let mut wanted_state = None;
    let mut severity = None;
    let mut rule = None;
    let mut selectors = Vec::new();
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match key.as_ref() {
            "state" => {
                wanted_state = Some(match AlertState::parse(&value) {
                    Some(s @ (AlertState::Pending | AlertState::Firing)) => s,
                    _ => return Err(bad("state", "use pending or firing")),
                })
            }
            "severity" => {
                severity = Some(
                    Severity::parse(&value)
                        .ok_or_else(|| bad("severity", "use info, warning or critical"))?,
                )
            }
            "rule_id" => {
                rule = Some(
                    value
                        .parse::<AlertRuleId>()
                        .map_err(|_| bad("rule_id", "not a rule id"))?,
                )
            }
            "match[]" => selectors.push(matcher(&value, &state)?),
            _ => {}
        }
    }
    let tenant = access.tenant();
    let alerts = state.store.alert_instances(tenant, rule, false).await?;
    // Only the rules these alerts belong to: a tenant may have many more.
    let ids: HashSet<AlertRuleId> = alerts.iter().map(|a| a.rule_id).collect();
    let rules: HashMap<AlertRuleId, AlertRuleRecord> = state
        .store
        .alert_rules_by_id(tenant, &ids)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let statuses = if ids.is_empty() {
        HashMap::new()
    } else {
        rule_statuses(&state, tenant, Some(ids)).await
    };
    let mut bodies = Vec::new();
    for alert in alerts {
        if wanted_state.is_some_and(|s| s != alert.state)
            || severity.is_some_and(|s| Some(s) != alert.severity)
        {
            continue;
        }
        if !selectors.is_empty() {
            let labels: BTreeMap<String, String> =
                serde_json::from_str(&alert.labels).unwrap_or_default();
            let labels = Labels::from_pairs(labels);
            if !selectors.iter().any(|s| s.matches(&labels)) {
                continue;
            }
        }
        let annotations = rules
            .get(&alert.rule_id)
            .map(annotations_of)
            .unwrap_or_default();
        let live = statuses
            .get(&alert.rule_id)
            .and_then(|s| s.values.get(&alert.id).copied());
        bodies.push(alert_body(&alert, &annotations, live));
    }
    Ok(web::Json(
        json!({"status": "success", "data": {"alerts": bodies}}),
    ))
}

async fn one_alert(
    state: &AppState,
    tenant: TenantId,
    alert: AlertInstanceRecord,
) -> Result<Value, ApiError> {
    let annotations = match state.store.alert_rule(tenant, alert.rule_id).await {
        Ok(rule) => annotations_of(&rule),
        Err(_) => BTreeMap::new(),
    };
    let live = rule_statuses(state, tenant, Some(HashSet::from([alert.rule_id])))
        .await
        .get(&alert.rule_id)
        .and_then(|s| s.values.get(&alert.id).copied());
    Ok(alert_body(&alert, &annotations, live))
}

/// One alert, active or resolved (until the same group becomes active again).
#[utoipa::path(
    params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/alerts/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    id: web::Path<AlertId>,
) -> Result<web::Json<Value>, ApiError> {
    let alert = state.store.alert_instance(access.tenant(), *id).await?;
    Ok(web::Json(one_alert(&state, access.tenant(), alert).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

/// Acknowledge an active alert: it stays firing, marked; the notifier will not repeat it.
#[utoipa::path(
    params(("id" = String, Path, description = "alert id")),
    request_body(content = AcknowledgeRequest, description = "An optional comment"),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[post("/alerts/{id}/ack")]
pub async fn acknowledge(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<AlertId>,
    body: Option<super::body::JsonObject<AcknowledgeRequest>>,
) -> Result<web::Json<Value>, ApiError> {
    let comment = body.and_then(|b| b.into_inner().comment);
    if comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "comment: at most 2000 characters",
        ));
    }
    let alert = state
        .store
        .set_alert_acknowledgement(
            access.tenant(),
            *id,
            Some(Acknowledgement {
                by: access.actor(),
                at_ms: now_ms(),
                comment,
            }),
            access.actor(),
            &crate::channels::acknowledging_kinds(),
        )
        .await?;
    super::alert_rules::outbox_written(&state, access.tenant()).await;
    Ok(web::Json(one_alert(&state, access.tenant(), alert).await?))
}

/// Take an acknowledgement back.
#[utoipa::path(
    params(("id" = String, Path, description = "alert id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[delete("/alerts/{id}/ack")]
pub async fn unacknowledge(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<AlertId>,
) -> Result<web::Json<Value>, ApiError> {
    let alert = state
        .store
        .set_alert_acknowledgement(access.tenant(), *id, None, access.actor(), &[])
        .await?;
    Ok(web::Json(one_alert(&state, access.tenant(), alert).await?))
}

fn event_body(event: &AlertEventRecord) -> Value {
    json!({
        "id": event.id.to_string(),
        "alert_id": event.alert_id.to_string(),
        "rule_id": event.rule_id.to_string(),
        "fingerprint": event.fingerprint,
        "transition": event.transition,
        "state": event.state.as_str(),
        "severity": event.severity.map(Severity::as_str),
        "value": event.value,
        "labels": serde_json::from_str::<Value>(&event.labels).unwrap_or_else(|_| json!({})),
        "at": timestamp(event.at_ms),
    })
}

const DEFAULT_HISTORY_PAGE: u64 = 100;
const MAX_HISTORY_PAGE: u64 = 1000;

/// Every transition, newest first: filters `rule_id`, `fingerprint`, `alert_id`, `start`,
/// `end` (RFC 3339 or Unix seconds); `limit` (default 100, at most 1000) and `cursor`
/// (the `next_cursor` of the previous page).
#[utoipa::path(
    params(
        ("rule_id" = Option<String>, Query),
        ("fingerprint" = Option<String>, Query),
        ("alert_id" = Option<String>, Query),
        ("start" = Option<String>, Query),
        ("end" = Option<String>, Query),
        ("cursor" = Option<String>, Query),
        ("limit" = Option<u64>, Query),
    ),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/alerts/history")]
pub async fn history(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let mut query = AlertEventQuery {
        limit: DEFAULT_HISTORY_PAGE,
        ..AlertEventQuery::default()
    };
    let time = |name: &str, value: &str| match crate::promql::parse_time(value, name) {
        Ok(crate::promql::TimeParam::At(ms)) => Ok(ms),
        Ok(crate::promql::TimeParam::Unbounded) => {
            Ok(if name == "start" { i64::MIN } else { i64::MAX })
        }
        Err(_) => Err(bad(name, "use RFC 3339 or Unix seconds")),
    };
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match key.as_ref() {
            "rule_id" => {
                query.rule_id = Some(value.parse().map_err(|_| bad("rule_id", "not a rule id"))?)
            }
            "alert_id" => {
                query.alert_id = Some(
                    value
                        .parse()
                        .map_err(|_| bad("alert_id", "not an alert id"))?,
                )
            }
            "fingerprint" => query.fingerprint = Some(value.into_owned()),
            "start" => query.start_ms = Some(time("start", &value)?),
            "end" => query.end_ms = Some(time("end", &value)?),
            "cursor" => {
                query.before_id = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|c| *c > 0)
                        .ok_or_else(|| bad("cursor", "use the next_cursor of the previous page"))?,
                )
            }
            "limit" => {
                query.limit = value
                    .parse::<u64>()
                    .ok()
                    .filter(|l| (1..=MAX_HISTORY_PAGE).contains(l))
                    .ok_or_else(|| bad("limit", "a whole number from 1 to 1000"))?
            }
            _ => {}
        }
    }
    if let (Some(start), Some(end)) = (query.start_ms, query.end_ms) {
        if end < start {
            return Err(bad("end", "is before start"));
        }
    }
    let events = state.store.alert_events(access.tenant(), &query).await?;
    let next_cursor = (events.len() as u64 == query.limit)
        .then(|| events.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(web::Json(json!({
        "events": events.iter().map(event_body).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(list, __path_list);
    routes.api(history, __path_history);
    routes.api(get_one, __path_get_one);
    routes.api(acknowledge, __path_acknowledge);
    routes.api(unacknowledge, __path_unacknowledge);
}

#[cfg(test)]
mod tests {
    use super::go_exponent;

    #[test]
    fn values_are_written_as_go_writes_them() {
        assert_eq!(go_exponent(1.0), "1e+00");
        assert_eq!(go_exponent(0.75), "7.5e-01");
        assert_eq!(go_exponent(123456.0), "1.23456e+05");
        assert_eq!(go_exponent(1e-300), "1e-300");
        assert_eq!(go_exponent(f64::NAN), "NaN");
        assert_eq!(go_exponent(f64::NEG_INFINITY), "-Inf");
    }
}
