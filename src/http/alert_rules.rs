//! `/api/v1/alert-rules`: editors and admins write alert rules, viewers read them. A rule
//! is stored as the JSON object it was accepted as, after the validation the evaluator
//! relies on; every write tells the tenant's evaluator to reload.

use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::alerting::rule::{Rule, RuleDraft};
use crate::alerting::rule_file::Imported;
use crate::auth::principal::{Edit, Read};
use crate::domain::{AlertRuleId, TenantId};
use crate::store::alerts::{AlertRuleRecord, AlertRuleWrite};

/// A rule as answered: its definition with `id`, `created_at`, `updated_at`, `created_by`.
pub(crate) fn rule_body(record: &AlertRuleRecord) -> Result<Value, ApiError> {
    let mut body: Map<String, Value> = serde_json::from_str(&record.definition)
        .map_err(|e| ApiError::internal(format!("stored rule {} is not JSON: {e}", record.id)))?;
    body.insert("id".into(), Value::String(record.id.to_string()));
    body.insert("enabled".into(), Value::Bool(record.enabled));
    body.insert("created_at".into(), timestamp(record.created_at_ms).into());
    body.insert("updated_at".into(), timestamp(record.updated_at_ms).into());
    body.insert(
        "created_by".into(),
        record.created_by.clone().map_or(Value::Null, Value::String),
    );
    Ok(Value::Object(body))
}

/// Fields a rule is answered with that are not part of its definition.
const READ_ONLY_FIELDS: &[&str] = &["id", "created_at", "updated_at", "created_by"];

/// Reads and validates a rule body into what the store keeps.
pub(crate) fn validated(
    state: &AppState,
    mut body: Value,
) -> Result<(Rule, AlertRuleWrite), ApiError> {
    // What a GET answers can be sent back as it is: the read-only fields are dropped.
    if let Some(object) = body.as_object_mut() {
        for read_only in READ_ONLY_FIELDS {
            object.remove(*read_only);
        }
    }
    let draft = RuleDraft::from_json(&body)?;
    let rule = draft.validate(&state.config.expression_limits())?;
    let kind = match draft.kind {
        crate::alerting::rule::RuleKindDraft::Threshold(_) => "threshold",
        crate::alerting::rule::RuleKindDraft::Promql(_) => "promql",
        crate::alerting::rule::RuleKindDraft::Log(_) => "log",
    };
    let write = AlertRuleWrite {
        name: rule.name.clone(),
        kind: kind.to_owned(),
        enabled: rule.enabled,
        definition: body.to_string(),
    };
    Ok((rule, write))
}

/// The tenant's evaluator picks up rule changes at once (and its next reload would anyway),
/// and so does its notifier (channels and policies change with the same call).
pub(crate) async fn rules_changed(state: &AppState, tenant: TenantId) {
    if let Ok(actors) = state.tenants.actors(tenant).await {
        actors
            .evaluator
            .do_send(crate::actors::evaluator::ReloadRules);
        actors
            .notifier
            .do_send(crate::actors::notifier::ConfigChanged);
    }
}

/// The tenant's notifier reads silences, mute timings and inhibit rules again before its
/// next send.
pub(crate) async fn delivery_changed(state: &AppState, tenant: TenantId) {
    if let Ok(actors) = state.tenants.actors(tenant).await {
        actors
            .notifier
            .do_send(crate::actors::notifier::ConfigChanged);
    }
}

/// Rows were written to the tenant's outbox outside a transition (an acknowledgement, a
/// posted alert, a retry): its notifier looks now.
pub(crate) async fn outbox_written(state: &AppState, tenant: TenantId) {
    if let Ok(actors) = state.tenants.actors(tenant).await {
        actors
            .notifier
            .do_send(crate::actors::notifier::CheckOutbox);
    }
}

/// Create an alert rule (`threshold` or `promql`).
#[utoipa::path(
    request_body(content = Object, description = "A rule: see the README's alert rules section"),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[post("/alert-rules")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    body: super::body::JsonObject<Value>,
) -> Result<HttpResponse, ApiError> {
    let (_, write) = validated(&state, body.into_inner())?;
    let record = state
        .store
        .create_alert_rule(
            access.tenant(),
            write,
            access.actor(),
            state.config.alert_max_rules,
        )
        .await?;
    rules_changed(&state, access.tenant()).await;
    Ok(HttpResponse::Created().json(rule_body(&record)?))
}

/// Whether a stored rule passes the list filters.
fn listed(
    record: &AlertRuleRecord,
    kind: Option<&str>,
    enabled: Option<bool>,
    labels: &[(String, String)],
) -> bool {
    if kind.is_some_and(|kind| kind != record.kind) || enabled.is_some_and(|e| e != record.enabled)
    {
        return false;
    }
    if labels.is_empty() {
        return true;
    }
    let definition: Value = serde_json::from_str(&record.definition).unwrap_or_default();
    labels
        .iter()
        .all(|(name, value)| definition["labels"][name].as_str() == Some(value.as_str()))
}

/// The tenant's alert rules; filters `kind`, `enabled`, and `label=name=value` (repeatable,
/// all must match).
#[utoipa::path(
    params(
        ("kind" = Option<String>, Query, description = "threshold or promql"),
        ("enabled" = Option<bool>, Query),
        ("label" = Option<String>, Query, description = "name=value; repeat for several"),
    ),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/alert-rules")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let mut kind = None;
    let mut enabled = None;
    let mut labels = Vec::new();
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match key.as_ref() {
            "kind" => match value.as_ref() {
                "threshold" | "promql" => kind = Some(value.into_owned()),
                other => {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        format!("kind: {other:?} is not a rule kind; use threshold or promql"),
                    ))
                }
            },
            "enabled" => {
                enabled = Some(value.parse::<bool>().map_err(|_| {
                    ApiError::bad_request("bad_parameter", "enabled: use true or false")
                })?)
            }
            "label" => match value.split_once('=') {
                Some((name, wanted)) if !name.is_empty() => {
                    labels.push((name.to_owned(), wanted.to_owned()))
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "bad_parameter",
                        "label: use name=value, e.g. label=team=web",
                    ))
                }
            },
            _ => {}
        }
    }
    let rules = state.store.list_alert_rules(access.tenant()).await?;
    let bodies = rules
        .iter()
        .filter(|r| listed(r, kind.as_deref(), enabled, &labels))
        .map(rule_body)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(serde_json::json!({ "rules": bodies })))
}

/// One alert rule.
#[utoipa::path(
    params(("id" = String, Path, description = "alert rule id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/alert-rules/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    id: web::Path<AlertRuleId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.alert_rule(access.tenant(), *id).await?;
    Ok(web::Json(rule_body(&record)?))
}

async fn replace(
    state: &AppState,
    access: &TenantAccess<Edit>,
    id: AlertRuleId,
    body: Value,
) -> Result<web::Json<Value>, ApiError> {
    let (_, write) = validated(state, body)?;
    let record = state
        .store
        .update_alert_rule(access.tenant(), id, write, access.actor())
        .await?;
    rules_changed(state, access.tenant()).await;
    Ok(web::Json(rule_body(&record)?))
}

/// Replace an alert rule with a whole new definition.
#[utoipa::path(
    params(("id" = String, Path, description = "alert rule id")),
    request_body(content = Object, description = "A whole rule, as for create"),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[put("/alert-rules/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<AlertRuleId>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    replace(&state, &access, *id, body.into_inner()).await
}

/// Change some fields of an alert rule (JSON merge patch: a `null` removes a field).
#[utoipa::path(
    params(("id" = String, Path, description = "alert rule id")),
    request_body(content = Object, description = "The fields to change"),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[patch("/alert-rules/{id}")]
pub async fn modify(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<AlertRuleId>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.alert_rule(access.tenant(), *id).await?;
    let mut merged: Value = serde_json::from_str(&record.definition)
        .map_err(|e| ApiError::internal(format!("stored rule {} is not JSON: {e}", record.id)))?;
    merge_patch(&mut merged, body.into_inner());
    replace(&state, &access, *id, merged).await
}

/// RFC 7396: objects merge key by key, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(target) = target {
                for (key, value) in patch {
                    if value.is_null() {
                        target.remove(&key);
                    } else {
                        merge_patch(target.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// Delete an alert rule; its alerts end, its history stays.
#[utoipa::path(
    params(("id" = String, Path, description = "alert rule id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[delete("/alert-rules/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<AlertRuleId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_alert_rule(access.tenant(), *id, access.actor())
        .await?;
    rules_changed(&state, access.tenant()).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Media types a Prometheus rule file is sent as.
const YAML_TYPES: &[&str] = &[
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "text/x-yaml",
];

/// Import a Prometheus rule file (YAML): each alerting rule becomes a `promql` rule;
/// answers what was created, what was skipped (recording rules) and what was refused, and
/// why, each with its group and index in the file.
#[utoipa::path(
    request_body(content = Object, content_type = "application/yaml", description = "A Prometheus rule file (a YAML mapping with `groups`)"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[post("/alert-rules/import")]
pub async fn import(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<Value>, ApiError> {
    let media_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !YAML_TYPES.contains(&media_type.as_str()) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the rule file as Content-Type: application/yaml",
        ));
    }
    let body = super::body::read_limited(payload, None, state.config.max_body_bytes).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("invalid_yaml", "the rule file is not UTF-8 text"))?;
    let items = crate::alerting::rule_file::import(text)?;
    let mut created = Vec::new();
    let mut skipped = Vec::new();
    let mut refused = Vec::new();
    for item in items {
        let place =
            serde_json::json!({"group": item.group, "index": item.index, "name": item.name});
        let with_reason = |reason: String| {
            let mut entry = place.clone();
            entry["reason"] = Value::String(reason);
            entry
        };
        match item.outcome {
            Imported::Skipped(reason) => skipped.push(with_reason(reason)),
            Imported::Refused(reason) => refused.push(with_reason(reason)),
            Imported::Draft(body) => {
                let stored = match validated(&state, body) {
                    Ok((_, write)) => state
                        .store
                        .create_alert_rule(
                            access.tenant(),
                            write,
                            access.actor(),
                            state.config.alert_max_rules,
                        )
                        .await
                        .map_err(ApiError::from),
                    Err(e) => Err(e),
                };
                match stored {
                    Ok(record) => created.push(rule_body(&record)?),
                    Err(e) if e.status.is_client_error() => refused.push(with_reason(e.message)),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if !created.is_empty() {
        rules_changed(&state, access.tenant()).await;
    }
    Ok(web::Json(serde_json::json!({
        "created": created,
        "skipped": skipped,
        "refused": refused,
    })))
}

/// The tenant's rules as a Prometheus rule file (threshold rules as the equivalent PromQL).
#[utoipa::path(
    responses((status = 200, content_type = "application/yaml", body = Object, description = "A Prometheus rule file (`groups[].rules[]`)"), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[get("/alert-rules/export")]
pub async fn export(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
) -> Result<HttpResponse, ApiError> {
    let limits = state.config.expression_limits();
    let rules: Vec<Rule> = state
        .store
        .list_alert_rules(access.tenant())
        .await?
        .iter()
        .filter_map(|record| {
            let body: Value = serde_json::from_str(&record.definition).ok()?;
            RuleDraft::from_json(&body).ok()?.validate(&limits).ok()
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/yaml")
        .body(crate::alerting::rule_file::export(&rules)))
}

/// How far back a preview may look.
const MAX_PREVIEW_RANGE_MS: i64 = 31 * 86_400_000;
const DEFAULT_PREVIEW_RANGE_MS: i64 = 3_600_000;

/// A `start`/`end` of a preview body: RFC 3339 text or Unix seconds.
fn preview_time(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    let text = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("{name}: use RFC 3339 or Unix seconds"),
            ))
        }
    };
    match crate::promql::parse_time(&text, name) {
        Ok(crate::promql::TimeParam::At(ms)) => Ok(Some(ms)),
        _ => Err(ApiError::bad_request(
            "bad_parameter",
            format!("{name}: use RFC 3339 or Unix seconds"),
        )),
    }
}

/// Evaluate a draft rule (the body of a create, plus optional `start` and `end`, default
/// the last hour) over stored data: the transitions it would have made, oldest first.
#[utoipa::path(
    request_body(content = Object, description = "A rule as for create, with optional start and end"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alerts"
)]
#[post("/alert-rules/preview")]
pub async fn preview(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    use crate::actors::evaluator::preview::{preview_promql, preview_threshold};
    use crate::alerting::rule::RuleKind;
    use crate::promql::QueryValue;
    let mut body = body.into_inner();
    let object = body.as_object_mut().ok_or_else(|| {
        ApiError::bad_request("invalid_json", "invalid JSON body: expected a JSON object")
    })?;
    let end = preview_time(object, "end")?.unwrap_or_else(|| state.clock.now_ms());
    let start = preview_time(object, "start")?.unwrap_or(end - DEFAULT_PREVIEW_RANGE_MS);
    object.remove("start");
    object.remove("end");
    if end < start {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "end: is before start",
        ));
    }
    if end - start > MAX_PREVIEW_RANGE_MS {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "start: a preview covers at most 31 days",
        ));
    }
    let (rule, _) = validated(&state, body)?;
    let tenant = access.tenant();
    let budget = state.reader.budget(None);
    let max_alerts = state.config.alert_max_instances_per_rule;
    let matrix = |value: QueryValue| match value {
        QueryValue::Matrix(series) => series,
        _ => Vec::new(),
    };
    let found = match &rule.kind {
        RuleKind::Threshold {
            selector,
            window_ms,
            ..
        } => {
            let lookback = end - start + window_ms;
            let data = state
                .reader
                .instant(tenant, format!("{selector}[{lookback}ms]"), end, &budget)
                .await?;
            preview_threshold(rule.clone(), matrix(data), start, end, max_alerts)
        }
        RuleKind::Promql { expr, interval_ms } => {
            let step = (*interval_ms).max((end - start) / 10_000).max(1);
            let data = state
                .reader
                .range(
                    tenant,
                    crate::metrics::RangeQuery {
                        text: expr.to_string(),
                        start_ms: start,
                        end_ms: end,
                        step_ms: step,
                    },
                    &budget,
                )
                .await?;
            preview_promql(rule.clone(), matrix(data), start, end, step, max_alerts)
        }
        RuleKind::Log { .. } => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported",
                "kind: a preview replays threshold and PromQL rules; log rules are not \
                 replayed yet (the log histogram, GET /api/v1/logs/histogram, shows the counts)",
            ))
        }
    };
    let transitions: Vec<Value> = found
        .transitions
        .iter()
        .map(|t| {
            serde_json::json!({
                "at": timestamp(t.at_ms),
                "transition": t.transition,
                "state": t.state.as_str(),
                "severity": t.severity.map(crate::alerting::Severity::as_str),
                "value": (!t.value.is_nan()).then_some(t.value),
                "fingerprint": t.fingerprint,
                "labels": t.labels,
            })
        })
        .collect();
    Ok(web::Json(serde_json::json!({
        "start": timestamp(start),
        "end": timestamp(end),
        "evaluations": found.evaluations,
        "transitions": transitions,
        "truncated": found.truncated,
        "error": found.last_error,
    })))
}

/// This resource's routes, each served and documented by its one line. The fixed paths
/// come before `{id}`, which would otherwise take them.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(import, __path_import);
    routes.api(export, __path_export);
    routes.api(preview, __path_preview);
    routes.api(create, __path_create);
    routes.api(list, __path_list);
    routes.api(get_one, __path_get_one);
    routes.api(update, __path_update);
    routes.api(modify, __path_modify);
    routes.api(remove, __path_remove);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": 1, "labels": {"x": "1", "y": "2"}, "b": [1]});
        merge_patch(
            &mut target,
            json!({"a": null, "labels": {"y": null, "z": "3"}, "b": [2]}),
        );
        assert_eq!(target, json!({"labels": {"x": "1", "z": "3"}, "b": [2]}));
    }
}
