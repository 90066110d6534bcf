//! `/api/v1/notifications` (the outbox: what was decided, where it stands, attempts, the
//! provider's answer, latency), `POST …/{id}/retry` for a dead letter, and
//! `/api/v1/notification-policies` (the tenant's routing tree).

use actix_web::{get, post, put, web, HttpRequest};
use serde_json::{json, Value};

use super::alert_rules::{outbox_written, rules_changed};
use super::alerts::bad;
use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::{Edit, Manage, Read};
use crate::domain::NotificationId;
use crate::notify::policy::PolicyTree;
use crate::notify::FieldError;
use crate::store::notifications::{NotificationQuery, NotificationRecord, NotificationStatus};

const DEFAULT_PAGE: u64 = 100;
const MAX_PAGE: u64 = 1_000;

fn notification_body(row: &NotificationRecord) -> Value {
    json!({
        "id": row.id.to_string(),
        "channel_id": row.channel_id.to_string(),
        "alert_id": row.alert_id.to_string(),
        "rule_id": row.alert.rule_id,
        "event_id": row.event_id,
        "group_key": row.group_key,
        "group_labels": row.group_labels,
        "transition": row.transition,
        "status": row.status.as_str(),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "provider_status": row.provider_status,
        "event_at": timestamp(row.event_at_ms),
        "created_at": timestamp(row.created_at_ms),
        "next_attempt_at": matches!(row.status, NotificationStatus::Pending | NotificationStatus::Failed | NotificationStatus::Throttled).then(|| timestamp(row.next_attempt_at_ms)),
        "sent_at": row.sent_at_ms.map(timestamp),
        // From the alert's transition to the provider's acknowledgement.
        "latency_ms": row.sent_at_ms.map(|sent| sent - row.event_at_ms),
        "alert": {
            "name": row.alert.rule_name,
            "status": row.alert.status.as_str(),
            "severity": row.alert.severity,
            "value": row.alert.value,
            "labels": row.alert.labels,
            "annotations": row.alert.annotations,
        },
    })
}

/// Notifications newest first; filters `channel`, `alert`, `status`
/// (`pending|failed|sending|sent|dead|silenced|muted|throttled`); `limit` (default 100, at most
/// 1000) and `cursor` (the previous page's `next_cursor`).
#[utoipa::path(
    params(
        ("channel" = Option<String>, Query, description = "channel id"),
        ("alert" = Option<String>, Query, description = "alert id"),
        ("status" = Option<String>, Query),
        ("cursor" = Option<String>, Query),
        ("limit" = Option<u64>, Query),
    ),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/notifications")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let mut query = NotificationQuery {
        limit: DEFAULT_PAGE,
        ..NotificationQuery::default()
    };
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match key.as_ref() {
            "channel" => {
                query.channel_id = Some(
                    value
                        .parse()
                        .map_err(|_| bad("channel", "not a channel id"))?,
                )
            }
            "alert" => {
                query.alert_id = Some(value.parse().map_err(|_| bad("alert", "not an alert id"))?)
            }
            "status" => {
                query.status = Some(NotificationStatus::parse(&value).ok_or_else(|| {
                    bad(
                        "status",
                        "use pending, failed, sending, sent, dead, silenced, muted or throttled",
                    )
                })?)
            }
            "cursor" => {
                query.before = Some(
                    value
                        .parse()
                        .map_err(|_| bad("cursor", "use the next_cursor of the previous page"))?,
                )
            }
            "limit" => {
                query.limit = value
                    .parse::<u64>()
                    .ok()
                    .filter(|l| (1..=MAX_PAGE).contains(l))
                    .ok_or_else(|| bad("limit", "a whole number from 1 to 1000"))?
            }
            _ => {}
        }
    }
    let rows = state
        .store
        .list_notifications(access.tenant(), &query)
        .await?;
    let next_cursor = (rows.len() as u64 == query.limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(web::Json(json!({
        "notifications": rows.iter().map(notification_body).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// One notification.
#[utoipa::path(
    params(("id" = String, Path, description = "notification id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/notifications/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    id: web::Path<NotificationId>,
) -> Result<web::Json<Value>, ApiError> {
    let row = state.store.notification(access.tenant(), *id).await?;
    Ok(web::Json(notification_body(&row)))
}

/// Send a dead letter again (attempts start over); 409 unless it is dead.
#[utoipa::path(
    params(("id" = String, Path, description = "notification id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[post("/notifications/{id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<NotificationId>,
) -> Result<web::Json<Value>, ApiError> {
    let row = state
        .store
        .retry_notification(access.tenant(), *id, access.actor())
        .await?;
    outbox_written(&state, access.tenant()).await;
    Ok(web::Json(notification_body(&row)))
}

/// The tenant's notification policy tree, with inherited values filled in (the default
/// when it set none).
#[utoipa::path(
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/notification-policies")]
pub async fn get_policies(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
) -> Result<web::Json<Value>, ApiError> {
    let routing = state.store.notification_routing(access.tenant()).await?;
    Ok(web::Json(routing.tree.to_json()))
}

/// Replace the tree: the root is the default policy (no matchers), `routes` its children,
/// each `{matchers, channels, group_by, group_wait, group_interval, repeat_interval,
/// continue, mute_timings, active_timings, routes}`. Every channel named must exist.
#[utoipa::path(
    request_body(content = Object),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[put("/notification-policies")]
pub async fn put_policies(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    let tree = PolicyTree::from_json(&body)?;
    let known = state
        .store
        .notification_routing(access.tenant())
        .await?
        .channels;
    if let Some(missing) = tree
        .channel_ids()
        .into_iter()
        .find(|id| !known.contains_key(id))
    {
        return Err(
            FieldError::new("channels", format!("no channel has the id {missing:?}")).into(),
        );
    }
    let timings: Vec<String> = state
        .store
        .list_mute_timings(access.tenant())
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    if let Some(missing) = tree
        .timing_names()
        .into_iter()
        .find(|n| !timings.contains(n))
    {
        return Err(FieldError::new(
            "mute_timings",
            format!(
                "no mute timing is named {missing:?}; create it under /api/v1/mute-timings first"
            ),
        )
        .into());
    }
    let answer = tree.to_json();
    state
        .store
        .set_notification_policy(access.tenant(), answer.to_string(), access.actor())
        .await?;
    rules_changed(&state, access.tenant()).await;
    Ok(web::Json(answer))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(list, __path_list);
    routes.api(get_one, __path_get_one);
    routes.api(retry, __path_retry);
    routes.api(get_policies, __path_get_policies);
    routes.api(put_policies, __path_put_policies);
}
