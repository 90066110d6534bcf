//! `/api/v1/channels`: admins write notification channels, editors and viewers read them
//! with their secrets masked; `POST /api/v1/channels/{id}/test` sends a test message and
//! answers with what the provider said. Every write tells the tenant's evaluator to reload
//! its routing.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde_json::{json, Map, Value};

use super::alert_rules::rules_changed;
use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::{Manage, Read};
use crate::channels::{self, ChannelKind};
use crate::domain::time::now_ms;
use crate::domain::ChannelId;
use crate::notify::message::{AlertStatus, Notification, NotifiedAlert};
use crate::notify::template::MessageTemplate;
use crate::notify::FieldError;
use crate::store::notifications::{ChannelRecord, ChannelWrite};

const MAX_NAME_CHARS: usize = 200;
const FIELDS: &[&str] = &[
    "name",
    "kind",
    "config",
    "send_resolved",
    "max_per_minute",
    "template",
];
/// Beyond this a limit protects nothing.
const MAX_PER_MINUTE: u64 = 100_000;
const READ_ONLY_FIELDS: &[&str] = &["id", "created_at", "updated_at", "created_by"];

/// A channel as answered: secrets masked.
pub(crate) fn channel_body(record: &ChannelRecord) -> Value {
    let config = match channels::kind(&record.kind) {
        Some(kind) => channels::masked(kind, &record.config),
        // A kind this build does not know: show nothing that might be a secret.
        None => Map::new(),
    };
    json!({
        "id": record.id.to_string(),
        "name": record.name,
        "kind": record.kind,
        "config": config,
        "send_resolved": record.send_resolved,
        "max_per_minute": record.max_per_minute,
        "template": record.template.as_ref().map(MessageTemplate::to_json),
        "created_by": record.created_by,
        "created_at": timestamp(record.created_at_ms),
        "updated_at": timestamp(record.updated_at_ms),
    })
}

fn kind_of(body: &Map<String, Value>) -> Result<&'static dyn ChannelKind, FieldError> {
    let name = match body.get("kind") {
        Some(Value::String(name)) => name,
        None | Some(Value::Null) => return Err(FieldError::new("kind", "is required")),
        Some(_) => return Err(FieldError::new("kind", "must be a string")),
    };
    channels::kind(name).ok_or_else(|| {
        FieldError::new(
            "kind",
            format!(
                "{name:?} is not a channel kind; use one of {}",
                channels::kind_names().join(", ")
            ),
        )
    })
}

/// Reads and checks a channel body; `stored` keeps the secrets an update leaves masked.
fn validated(mut body: Value, stored: Option<&ChannelRecord>) -> Result<ChannelWrite, ApiError> {
    let object = body
        .as_object_mut()
        .ok_or_else(|| FieldError::new("", "a channel is a JSON object"))?;
    for read_only in READ_ONLY_FIELDS {
        object.remove(*read_only);
    }
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(FieldError::new(
            unknown.as_str(),
            format!("unknown field; a channel has {}", FIELDS.join(", ")),
        )
        .into());
    }
    let name = match object.get("name") {
        Some(Value::String(name))
            if !name.trim().is_empty() && name.chars().count() <= MAX_NAME_CHARS =>
        {
            name.trim().to_owned()
        }
        _ => {
            return Err(FieldError::new(
                "name",
                "must be 1 to 200 characters long, not only spaces",
            )
            .into())
        }
    };
    let kind = kind_of(object)?;
    if let Some(stored) = stored {
        if stored.kind != kind.name() {
            return Err(FieldError::new(
                "kind",
                format!(
                    "a {} channel cannot become a {} one; create a new channel",
                    stored.kind,
                    kind.name()
                ),
            )
            .into());
        }
    }
    let config = object.get("config").cloned().unwrap_or(json!({}));
    let config = match stored {
        Some(stored) => channels::keep_secrets(kind, &config, &stored.config),
        None => config,
    };
    let config = channels::validate(kind, &config)?;
    let send_resolved = match object.get("send_resolved") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(FieldError::new("send_resolved", "must be true or false").into()),
    };
    let max_per_minute = match object.get("max_per_minute") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n))
            if n.as_u64()
                .is_some_and(|n| (1..=MAX_PER_MINUTE).contains(&n)) =>
        {
            n.as_u64().map(|n| n as u32)
        }
        Some(_) => {
            return Err(FieldError::new(
                "max_per_minute",
                format!(
                    "must be a whole number from 1 to {MAX_PER_MINUTE}, or null for the default"
                ),
            )
            .into())
        }
    };
    let template = MessageTemplate::from_json(object.get("template").unwrap_or(&Value::Null))?;
    Ok(ChannelWrite {
        name,
        kind: kind.name().to_owned(),
        config,
        send_resolved,
        max_per_minute,
        template,
    })
}

/// Create a channel.
#[utoipa::path(
    request_body(content = Object, description = "{name, kind, config, send_resolved}: see the README's notifications section"),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[post("/channels")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    body: super::body::JsonObject<Value>,
) -> Result<HttpResponse, ApiError> {
    let write = validated(body.into_inner(), None)?;
    let record = state
        .store
        .create_channel(access.tenant(), write, access.actor())
        .await?;
    rules_changed(&state, access.tenant()).await;
    Ok(HttpResponse::Created().json(channel_body(&record)))
}

/// The tenant's channels, by name; secrets masked.
#[utoipa::path(
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/channels")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
) -> Result<web::Json<Value>, ApiError> {
    let channels = state.store.list_channels(access.tenant()).await?;
    Ok(web::Json(
        json!({ "channels": channels.iter().map(channel_body).collect::<Vec<_>>() }),
    ))
}

/// One channel; secrets masked.
#[utoipa::path(
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/channels/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    id: web::Path<ChannelId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.channel(access.tenant(), *id).await?;
    Ok(web::Json(channel_body(&record)))
}

/// Replace a channel. Secrets sent back masked (or left out) keep their stored value;
/// `null` removes an optional one.
#[utoipa::path(
    params(("id" = String, Path, description = "channel id")),
    request_body(content = Object),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[put("/channels/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<ChannelId>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    let stored = state.store.channel(access.tenant(), *id).await?;
    let write = validated(body.into_inner(), Some(&stored))?;
    let record = state
        .store
        .update_channel(access.tenant(), *id, write, access.actor())
        .await?;
    rules_changed(&state, access.tenant()).await;
    Ok(web::Json(channel_body(&record)))
}

/// Delete a channel; its undelivered notifications go with it, its history stays.
#[utoipa::path(
    params(("id" = String, Path, description = "channel id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[delete("/channels/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<ChannelId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_channel(access.tenant(), *id, access.actor())
        .await?;
    rules_changed(&state, access.tenant()).await;
    Ok(HttpResponse::NoContent().finish())
}

/// The message `…/test` sends: one firing alert named `TidewatchTest`.
fn test_message(state: &AppState, record: &ChannelRecord) -> Notification {
    let now = now_ms();
    let labels = [
        ("alertname", "TidewatchTest"),
        ("severity", "info"),
        ("channel", record.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let external_url = state.notifier.external_url.clone();
    Notification {
        receiver: record.name.clone(),
        group_key: format!("test:{}", record.id),
        group_labels: [("alertname".to_owned(), "TidewatchTest".to_owned())].into(),
        alerts: vec![NotifiedAlert {
            alert_id: "test".into(),
            rule_id: "test".into(),
            rule_name: "TidewatchTest".into(),
            fingerprint: "0000000000000000".into(),
            status: AlertStatus::Firing,
            transition: "test".into(),
            severity: Some("info".into()),
            value: Some(1.0),
            labels,
            annotations: [(
                "summary".to_owned(),
                format!(
                    "A test message from Tidewatch to the channel {:?}",
                    record.name
                ),
            )]
            .into(),
            starts_at_ms: now,
            ends_at_ms: None,
            at_ms: now,
            generator_url: None,
            log_lines: Vec::new(),
        }],
        external_url,
        idempotency_key: format!("test-{}", crate::domain::NotificationId::generate()),
        template: record.template.clone(),
    }
}

/// Send a test message now; answers whether it was delivered and what the provider said.
#[utoipa::path(
    params(("id" = String, Path, description = "channel id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[post("/channels/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<ChannelId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.channel(access.tenant(), *id).await?;
    let kind = channels::kind(&record.kind)
        .ok_or_else(|| ApiError::internal(format!("channel {} has an unknown kind", record.id)))?;
    let message = test_message(&state, &record);
    let started = std::time::Instant::now();
    let sent = kind
        .send(&state.notifier.send, &record.config, &message)
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(web::Json(match sent {
        Ok(answer) => json!({
            "delivered": true,
            "provider_status": answer.status,
            "provider_body": answer.body,
            "latency_ms": latency_ms,
        }),
        Err(e) => json!({
            "delivered": false,
            "error": e.message(),
            "provider_status": e.answer().and_then(|a| a.status),
            "provider_body": e.answer().map(|a| a.body.clone()),
            "latency_ms": latency_ms,
        }),
    }))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(create, __path_create);
    routes.api(list, __path_list);
    routes.api(test, __path_test);
    routes.api(get_one, __path_get_one);
    routes.api(update, __path_update);
    routes.api(remove, __path_remove);
}
