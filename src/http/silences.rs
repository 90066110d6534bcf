//! `/api/v1/silences`: matchers and a time range during which matching alerts notify no
//! one. Editors, admins and API keys with the `alerts` scope write; viewers read. A
//! silence ends on its own, or early with `DELETE`; it is never erased.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::{AlertsRead, AlertsWrite};
use crate::domain::SilenceId;
use crate::notify::matcher::Matcher;
use crate::notify::silence::{state_of, SilenceDraft, SilenceState};
use crate::store::silences::SilenceRecord;

pub(crate) fn silence_body(record: &SilenceRecord, now_ms: i64) -> Value {
    json!({
        "id": record.id.to_string(),
        "matchers": record.matchers.iter().map(Matcher::to_json).collect::<Vec<_>>(),
        "starts_at": timestamp(record.starts_at_ms),
        "ends_at": timestamp(record.ends_at_ms),
        "comment": record.comment,
        "created_by": record.created_by,
        "created_at": timestamp(record.created_at_ms),
        "updated_at": timestamp(record.updated_at_ms),
        "state": state_of(record.starts_at_ms, record.ends_at_ms, now_ms).as_str(),
    })
}

const READ_ONLY_FIELDS: &[&str] = &["id", "state", "created_by", "created_at", "updated_at"];

fn draft(state: &AppState, mut body: Value) -> Result<SilenceDraft, ApiError> {
    if let Some(object) = body.as_object_mut() {
        for field in READ_ONLY_FIELDS {
            object.remove(*field);
        }
    }
    Ok(SilenceDraft::from_json(&body, state.clock.now_ms())?)
}

/// Create a silence: `{matchers:[{name,value,op}], starts_at, ends_at, comment}`.
#[utoipa::path(
    request_body(content = Object),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[post("/silences")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsWrite>,
    body: super::body::JsonObject<Value>,
) -> Result<HttpResponse, ApiError> {
    let draft = draft(&state, body.into_inner())?;
    let record = state
        .store
        .create_silence(access.tenant(), &draft, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(HttpResponse::Created().json(silence_body(&record, state.clock.now_ms())))
}

/// The tenant's silences, newest first; `state=active|pending|expired` filters.
#[utoipa::path(
    params(("state" = Option<String>, Query)),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/silences")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
    request: HttpRequest,
) -> Result<web::Json<Value>, ApiError> {
    let mut wanted = None;
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        if key == "state" {
            wanted = Some(
                [
                    SilenceState::Active,
                    SilenceState::Pending,
                    SilenceState::Expired,
                ]
                .into_iter()
                .find(|s| s.as_str() == value)
                .ok_or_else(|| {
                    ApiError::bad_request("bad_parameter", "state: use active, pending or expired")
                })?,
            );
        }
    }
    let now = state.clock.now_ms();
    let silences = state.store.list_silences(access.tenant(), None).await?;
    let bodies: Vec<Value> = silences
        .iter()
        .filter(|s| wanted.is_none_or(|w| state_of(s.starts_at_ms, s.ends_at_ms, now) == w))
        .map(|s| silence_body(s, now))
        .collect();
    Ok(web::Json(json!({ "silences": bodies })))
}

/// One silence.
#[utoipa::path(
    params(("id" = String, Path, description = "silence id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/silences/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsRead>,
    id: web::Path<SilenceId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.silence(access.tenant(), *id).await?;
    Ok(web::Json(silence_body(&record, state.clock.now_ms())))
}

/// Replace a silence's matchers, times and comment.
#[utoipa::path(
    params(("id" = String, Path, description = "silence id")),
    request_body(content = Object),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[put("/silences/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsWrite>,
    id: web::Path<SilenceId>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    state.store.silence(access.tenant(), *id).await?;
    let draft = draft(&state, body.into_inner())?;
    let record = state
        .store
        .update_silence(access.tenant(), *id, &draft, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(web::Json(silence_body(&record, state.clock.now_ms())))
}

/// End a silence now (it stays listed as expired).
#[utoipa::path(
    params(("id" = String, Path, description = "silence id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[delete("/silences/{id}")]
pub async fn expire(
    state: web::Data<AppState>,
    access: TenantAccess<AlertsWrite>,
    id: web::Path<SilenceId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state
        .store
        .expire_silence(access.tenant(), *id, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(web::Json(silence_body(&record, state.clock.now_ms())))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(create, __path_create);
    routes.api(list, __path_list);
    routes.api(get_one, __path_get_one);
    routes.api(update, __path_update);
    routes.api(expire, __path_expire);
}
