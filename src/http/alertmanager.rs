//! Alertmanager's API v2 on Tidewatch's data, so existing tools work unchanged:
//! Prometheus and vmalert post alerts (`POST /api/v2/alerts`, with an API key holding the
//! `alerts` scope as their `authorization`), amtool manages silences. Posted alerts are
//! routed by the tenant's notification policies like the evaluator's; shapes follow
//! Alertmanager's OpenAPI document.

use std::collections::BTreeMap;

use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::{AlertsRead, AlertsWrite};
use crate::domain::metrics::has_label_name_shape;
use crate::domain::time::now_ms;
use crate::domain::{SilenceId, TenantId};
use crate::notify::matcher::{all_match, Matcher};
use crate::notify::message::AlertStatus;
use crate::notify::routing::{Routed, Routing};
use crate::notify::silence::{state_of, time_field, Silence, SilenceDraft};
use crate::store::external_alerts::{PostedAlert, EXTERNAL_RULE};
use crate::store::silences::SilenceRecord;

/// Alerts one `POST /api/v2/alerts` may carry.
const MAX_POSTED_ALERTS: usize = 10_000;
const MAX_LABELS: usize = 128;
const MAX_TEXT_BYTES: usize = 16 * 1024;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_alert", message)
}

fn string_map(
    value: Option<&Value>,
    what: &str,
    index: usize,
) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let object = value.as_object().ok_or_else(|| {
        invalid(format!(
            "alerts[{index}].{what}: must be an object of strings"
        ))
    })?;
    if object.len() > MAX_LABELS {
        return Err(invalid(format!(
            "alerts[{index}].{what}: at most {MAX_LABELS}"
        )));
    }
    object
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) if s.len() <= MAX_TEXT_BYTES && k.len() <= MAX_TEXT_BYTES => {
                Ok((k.clone(), s.clone()))
            }
            _ => Err(invalid(format!(
                "alerts[{index}].{what}.{k}: must be a string of at most {MAX_TEXT_BYTES} bytes"
            ))),
        })
        .collect()
}

fn posted_alerts(body: &Value) -> Result<Vec<PostedAlert>, ApiError> {
    let items = body
        .as_array()
        .ok_or_else(|| invalid("the body is a JSON array of alerts"))?;
    if items.len() > MAX_POSTED_ALERTS {
        return Err(invalid(format!(
            "at most {MAX_POSTED_ALERTS} alerts per request"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let object = item
                .as_object()
                .ok_or_else(|| invalid(format!("alerts[{i}]: an alert is an object")))?;
            let labels = string_map(object.get("labels"), "labels", i)?;
            if labels.is_empty() {
                return Err(invalid(format!(
                    "alerts[{i}].labels: at least one label is required"
                )));
            }
            if let Some(bad) = labels.keys().find(|k| !has_label_name_shape(k)) {
                return Err(invalid(format!(
                    "alerts[{i}].labels: {bad:?} is not a valid label name"
                )));
            }
            let annotations = string_map(object.get("annotations"), "annotations", i)?;
            let time = |field: &str| {
                time_field(object, field).map_err(|e| invalid(format!("alerts[{i}].{e}")))
            };
            let (starts_at_ms, ends_at_ms) = (time("startsAt")?, time("endsAt")?);
            // Go's zero time means "not set".
            let set = |t: Option<i64>| t.filter(|ms| *ms > 0);
            let generator_url = match object.get("generatorURL") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) if s.len() <= MAX_TEXT_BYTES => s.clone(),
                Some(_) => {
                    return Err(invalid(format!(
                        "alerts[{i}].generatorURL: must be a URL text"
                    )))
                }
            };
            Ok(PostedAlert {
                labels,
                annotations,
                starts_at_ms: set(starts_at_ms),
                ends_at_ms: set(ends_at_ms),
                generator_url,
            })
        })
        .collect()
}

/// Receive alerts (Prometheus' and vmalert's notifier): firing until `endsAt` (or 5 m
/// after the last post without one), then resolved.
#[utoipa::path(
    request_body(content = Object, description = "Alertmanager's PostableAlerts: [{labels, annotations, startsAt, endsAt, generatorURL}]"),
    responses((status = 200), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[post("/api/v2/alerts")]
pub async fn post_alerts(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsWrite>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let posted = posted_alerts(&body)?;
    let routing = state.store.notification_routing(access.tenant()).await?;
    state
        .store
        .record_posted_alerts(access.tenant(), &posted, &routing)
        .await?;
    super::alert_rules::outbox_written(&state, access.tenant()).await;
    Ok(HttpResponse::Ok().finish())
}

/// An alert of either source, as the v2 API lists it.
struct Listed {
    fingerprint: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    starts_at_ms: i64,
    ends_at_ms: Option<i64>,
    updated_at_ms: i64,
    generator_url: String,
    rule_id: String,
}

async fn listed_alerts(state: &AppState, tenant: TenantId) -> Result<Vec<Listed>, ApiError> {
    let mut out = Vec::new();
    for instance in state.store.alert_instances(tenant, None, false).await? {
        if instance.state != crate::alerting::AlertState::Firing {
            continue;
        }
        out.push(Listed {
            fingerprint: instance.fingerprint.clone(),
            labels: serde_json::from_str(&instance.labels).unwrap_or_default(),
            annotations: BTreeMap::new(),
            starts_at_ms: instance
                .fired_at_ms
                .or(instance.active_since_ms)
                .unwrap_or(instance.updated_at_ms),
            ends_at_ms: None,
            updated_at_ms: instance.updated_at_ms,
            generator_url: format!(
                "{}/alerts/{}",
                state.notifier.external_url.trim_end_matches('/'),
                instance.id
            ),
            rule_id: instance.rule_id.to_string(),
        });
    }
    for posted in state.store.posted_alerts(tenant, false).await? {
        out.push(Listed {
            fingerprint: posted.fingerprint,
            labels: posted.labels,
            annotations: posted.annotations,
            starts_at_ms: posted.starts_at_ms,
            ends_at_ms: Some(posted.ends_at_ms),
            updated_at_ms: posted.updated_at_ms,
            generator_url: posted.generator_url,
            rule_id: EXTERNAL_RULE.to_owned(),
        });
    }
    Ok(out)
}

/// `filter=name="value"` parameters (repeatable), as amtool sends them.
fn filters(request: &HttpRequest) -> Result<Vec<Matcher>, ApiError> {
    form_urlencoded::parse(request.query_string().as_bytes())
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| {
            Matcher::from_json(&Value::String(v.into_owned())).map_err(|e| {
                ApiError::bad_request("bad_parameter", format!("filter: {}", e.message))
            })
        })
        .collect()
}

/// A boolean parameter (`true` or `false`), `default` when absent.
fn flag(request: &HttpRequest, name: &str, default: bool) -> Result<bool, ApiError> {
    let mut value = default;
    for (key, text) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if key == name {
            value = text.parse().map_err(|_| {
                ApiError::bad_request("bad_parameter", format!("{name}: use true or false"))
            })?;
        }
    }
    Ok(value)
}

struct Context {
    routing: Routing,
    channel_names: BTreeMap<String, String>,
    silences: Vec<Silence>,
    now: i64,
}

async fn context(state: &AppState, tenant: TenantId) -> Result<Context, ApiError> {
    let routing = state.store.notification_routing(tenant).await?;
    let channel_names = state
        .store
        .list_channels(tenant)
        .await?
        .into_iter()
        .map(|c| (c.id.to_string(), c.name))
        .collect();
    let now = now_ms();
    let silences = state
        .store
        .list_silences(tenant, Some(now))
        .await?
        .iter()
        .map(SilenceRecord::silence)
        .collect();
    Ok(Context {
        routing,
        channel_names,
        silences,
        now,
    })
}

impl Context {
    /// (channel name, group key, group labels) for each place the alert goes.
    fn routes(
        &self,
        alert: &Listed,
        rule_channels: &[String],
    ) -> Vec<(String, String, BTreeMap<String, String>)> {
        self.routing
            .plan(&Routed {
                rule_id: &alert.rule_id,
                rule_channels,
                rule_timings: Default::default(),
                labels: &alert.labels,
                status: AlertStatus::Firing,
            })
            .into_iter()
            .map(|p| {
                let name = self
                    .channel_names
                    .get(&p.channel_id)
                    .cloned()
                    .unwrap_or(p.channel_id);
                (name, p.group_key, p.group_labels)
            })
            .collect()
    }

    fn gettable(&self, alert: &Listed, receivers: &[String]) -> Value {
        let silenced_by: Vec<&str> = self
            .silences
            .iter()
            .filter(|s| s.mutes(&alert.labels, self.now))
            .map(|s| s.id.as_str())
            .collect();
        json!({
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": timestamp(alert.starts_at_ms),
            "endsAt": alert.ends_at_ms.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), timestamp),
            "updatedAt": timestamp(alert.updated_at_ms),
            "generatorURL": alert.generator_url,
            "fingerprint": alert.fingerprint,
            "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
            "status": {
                "state": if silenced_by.is_empty() { "active" } else { "suppressed" },
                "silencedBy": silenced_by,
                "inhibitedBy": [],
                "mutedBy": [],
            },
        })
    }
}

/// Rules' own channels, by rule id (an evaluator alert routes by them first).
async fn rule_channels(
    state: &AppState,
    tenant: TenantId,
) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut out = BTreeMap::new();
    for record in state.store.list_alert_rules(tenant).await? {
        let channels = serde_json::from_str::<Value>(&record.definition)
            .ok()
            .and_then(|d| d.get("channels").cloned())
            .and_then(|c| serde_json::from_value::<Vec<String>>(c).ok())
            .unwrap_or_default();
        out.insert(record.id.to_string(), channels);
    }
    Ok(out)
}

/// Firing alerts (the evaluator's and posted ones); `active`, `silenced` filter by
/// state, `filter` by label matchers.
#[utoipa::path(
    params(("filter" = Option<String>, Query), ("active" = Option<bool>, Query), ("silenced" = Option<bool>, Query)),
    responses((status = 200, body = [Object]), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[get("/api/v2/alerts")]
pub async fn get_alerts(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let matchers = filters(&request)?;
    let (show_active, show_silenced) = (
        flag(&request, "active", true)?,
        flag(&request, "silenced", true)?,
    );
    let ctx = context(&state, access.tenant()).await?;
    let channels = rule_channels(&state, access.tenant()).await?;
    let mut out = Vec::new();
    for alert in listed_alerts(&state, access.tenant()).await? {
        if !all_match(&matchers, &alert.labels) {
            continue;
        }
        let receivers: Vec<String> = ctx
            .routes(
                &alert,
                channels.get(&alert.rule_id).map_or(&[][..], Vec::as_slice),
            )
            .into_iter()
            .map(|(name, _, _)| name)
            .collect();
        let body = ctx.gettable(&alert, &receivers);
        let suppressed = body["status"]["state"] == "suppressed";
        if (suppressed && show_silenced) || (!suppressed && show_active) {
            out.push(body);
        }
    }
    Ok(web::Json(Value::Array(out)))
}

/// One group's labels and alerts, by (receiver, group key).
type GroupOfAlerts = (BTreeMap<String, String>, Vec<Value>);

/// Firing alerts by notification group: `[{labels, receiver: {name}, alerts}]`.
#[utoipa::path(
    params(("filter" = Option<String>, Query)),
    responses((status = 200, body = [Object]), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[get("/api/v2/alerts/groups")]
pub async fn get_groups(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let matchers = filters(&request)?;
    let ctx = context(&state, access.tenant()).await?;
    let channels = rule_channels(&state, access.tenant()).await?;
    let mut groups: BTreeMap<(String, String), GroupOfAlerts> = BTreeMap::new();
    for alert in listed_alerts(&state, access.tenant()).await? {
        if !all_match(&matchers, &alert.labels) {
            continue;
        }
        let routes = ctx.routes(
            &alert,
            channels.get(&alert.rule_id).map_or(&[][..], Vec::as_slice),
        );
        for (receiver, key, labels) in routes {
            let body = ctx.gettable(&alert, std::slice::from_ref(&receiver));
            groups
                .entry((receiver, key))
                .or_insert_with(|| (labels, Vec::new()))
                .1
                .push(body);
        }
    }
    let out: Vec<Value> = groups
        .into_iter()
        .map(|((receiver, _), (labels, alerts))| {
            json!({"labels": labels, "receiver": {"name": receiver}, "alerts": alerts})
        })
        .collect();
    Ok(web::Json(Value::Array(out)))
}

fn gettable_silence(record: &SilenceRecord, now: i64) -> Value {
    json!({
        "id": record.id.to_string(),
        "status": {"state": state_of(record.starts_at_ms, record.ends_at_ms, now).as_str()},
        "updatedAt": timestamp(record.updated_at_ms),
        "matchers": record.matchers.iter().map(Matcher::to_alertmanager).collect::<Vec<_>>(),
        "startsAt": timestamp(record.starts_at_ms),
        "endsAt": timestamp(record.ends_at_ms),
        "createdBy": record.created_by,
        "comment": record.comment,
    })
}

/// Silences in Alertmanager's shape; `filter` keeps those whose equality matchers satisfy
/// every filter matcher.
#[utoipa::path(
    params(("filter" = Option<String>, Query)),
    responses((status = 200, body = [Object]), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[get("/api/v2/silences")]
pub async fn get_silences(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let matchers = filters(&request)?;
    let now = now_ms();
    let silences = state.store.list_silences(access.tenant(), None).await?;
    let out: Vec<Value> = silences
        .iter()
        .filter(|s| {
            let named: BTreeMap<String, String> = s
                .matchers
                .iter()
                .map(|m| (m.name.clone(), m.value.clone()))
                .collect();
            all_match(&matchers, &named)
        })
        .map(|s| gettable_silence(s, now))
        .collect();
    Ok(web::Json(Value::Array(out)))
}

/// Create a silence, or replace one when the body has its `id`; answers `{silenceID}`.
#[utoipa::path(
    request_body(content = Object, description = "Alertmanager's PostableSilence"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[post("/api/v2/silences")]
pub async fn post_silence(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsWrite>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    let mut body: Map<String, Value> = body.into_inner().as_object().cloned().unwrap_or_default();
    let id = match body.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(
            s.parse::<SilenceId>()
                .map_err(|_| ApiError::not_found("silence"))?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_silence",
                "id: must be a string",
            ))
        }
    };
    body.remove("status");
    body.remove("updatedAt");
    // Alertmanager answers a bad silence 400.
    let draft = SilenceDraft::from_json(&Value::Object(body), now_ms())
        .map_err(|e| ApiError::bad_request("invalid_silence", e.to_string()))?;
    let record = match id {
        Some(id) => {
            state
                .store
                .update_silence(access.tenant(), id, &draft, access.actor())
                .await?
        }
        None => {
            state
                .store
                .create_silence(access.tenant(), &draft, access.actor())
                .await?
        }
    };
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(web::Json(json!({"silenceID": record.id.to_string()})))
}

/// One silence.
#[utoipa::path(
    params(("id" = String, Path, description = "silence id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[get("/api/v2/silence/{id}")]
pub async fn get_silence(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
    id: web::Path<SilenceId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.silence(access.tenant(), *id).await?;
    Ok(web::Json(gettable_silence(&record, now_ms())))
}

/// Expire a silence now.
#[utoipa::path(
    params(("id" = String, Path, description = "silence id")),
    responses((status = 200), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[delete("/api/v2/silence/{id}")]
pub async fn delete_silence(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsWrite>,
    id: web::Path<SilenceId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .expire_silence(access.tenant(), *id, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(HttpResponse::Ok().finish())
}

/// Alertmanager's status: one ready instance, no cluster peers.
#[utoipa::path(
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[get("/api/v2/status")]
pub async fn status(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
) -> Result<web::Json<Value>, ApiError> {
    let routing = state.store.notification_routing(access.tenant()).await?;
    Ok(web::Json(json!({
        "cluster": {"name": "tidewatch", "status": "ready", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "tidewatch",
            "buildDate": "",
            "goVersion": "none (Tidewatch)",
        },
        "config": {"original": routing.tree.to_json().to_string()},
        "uptime": timestamp(state.started_at_ms),
    })))
}

/// The tenant's channels, as Alertmanager's receivers.
#[utoipa::path(
    responses((status = 200, body = [Object])),
    security(("bearer" = [])),
    tag = "alertmanager"
)]
#[get("/api/v2/receivers")]
pub async fn list_receivers(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
) -> Result<web::Json<Value>, ApiError> {
    let channels = state.store.list_channels(access.tenant()).await?;
    Ok(web::Json(Value::Array(
        channels.iter().map(|c| json!({"name": c.name})).collect(),
    )))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.root(post_alerts, __path_post_alerts);
    routes.root(get_groups, __path_get_groups);
    routes.root(get_alerts, __path_get_alerts);
    routes.root(get_silences, __path_get_silences);
    routes.root(post_silence, __path_post_silence);
    routes.root(get_silence, __path_get_silence);
    routes.root(delete_silence, __path_delete_silence);
    routes.root(status, __path_status);
    routes.root(list_receivers, __path_list_receivers);
}
