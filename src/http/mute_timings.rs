//! `/api/v1/mute-timings`: named recurring windows in the shape of Alertmanager's
//! `time_intervals`, which notification policies name in `mute_timings` (held back while
//! one is in force, recorded as `muted`) or `active_timings` (held back while none is).
//! Editors and admins write; viewers read.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde_json::{json, Value};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::{Edit, Read};
use crate::domain::MuteTimingId;
use crate::notify::mute::MuteTiming;
use crate::notify::FieldError;
use crate::store::mute_timings::MuteTimingRecord;

fn timing_body(record: &MuteTimingRecord, now_ms: i64) -> Value {
    json!({
        "id": record.id.to_string(),
        "name": record.name,
        "time_intervals": record.time_intervals,
        "in_force": record.timing.in_force(now_ms),
        "created_at": timestamp(record.created_at_ms),
        "updated_at": timestamp(record.updated_at_ms),
    })
}

const READ_ONLY_FIELDS: &[&str] = &["id", "in_force", "created_at", "updated_at"];

fn validated(mut body: Value) -> Result<(MuteTiming, Value), ApiError> {
    if let Some(object) = body.as_object_mut() {
        for field in READ_ONLY_FIELDS {
            object.remove(*field);
        }
    }
    let timing = MuteTiming::from_json(&body)?;
    Ok((timing, body["time_intervals"].clone()))
}

/// Create a mute timing: `{"name", "time_intervals": [{times, weekdays, days_of_month,
/// months, years, location}]}`.
#[utoipa::path(
    request_body(content = Object),
    responses((status = 201, body = Object), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[post("/mute-timings")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    body: super::body::JsonObject<Value>,
) -> Result<HttpResponse, ApiError> {
    let (timing, intervals) = validated(body.into_inner())?;
    let record = state
        .store
        .create_mute_timing(access.tenant(), &timing, &intervals, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(HttpResponse::Created().json(timing_body(&record, state.clock.now_ms())))
}

/// The tenant's mute timings, by name, each with whether it is in force now.
#[utoipa::path(
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/mute-timings")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
) -> Result<web::Json<Value>, ApiError> {
    let now = state.clock.now_ms();
    let timings = state.store.list_mute_timings(access.tenant()).await?;
    Ok(web::Json(json!({
        "mute_timings": timings.iter().map(|t| timing_body(t, now)).collect::<Vec<_>>()
    })))
}

/// One mute timing.
#[utoipa::path(
    params(("id" = String, Path, description = "mute timing id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/mute-timings/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    id: web::Path<MuteTimingId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.mute_timing(access.tenant(), *id).await?;
    Ok(web::Json(timing_body(&record, state.clock.now_ms())))
}

/// Replace a mute timing's intervals (its name stays: policies name it).
#[utoipa::path(
    params(("id" = String, Path, description = "mute timing id")),
    request_body(content = Object),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[put("/mute-timings/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<MuteTimingId>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    let stored = state.store.mute_timing(access.tenant(), *id).await?;
    let (timing, intervals) = validated(body.into_inner())?;
    if timing.name != stored.name {
        return Err(FieldError::new(
            "name",
            format!(
                "a mute timing keeps its name ({:?}); create a new one to rename",
                stored.name
            ),
        )
        .into());
    }
    let record = state
        .store
        .update_mute_timing(access.tenant(), *id, &intervals, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(web::Json(timing_body(&record, state.clock.now_ms())))
}

/// Delete a mute timing; 409 while a notification policy names it.
#[utoipa::path(
    params(("id" = String, Path, description = "mute timing id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[delete("/mute-timings/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<MuteTimingId>,
) -> Result<HttpResponse, ApiError> {
    let in_use = state
        .store
        .notification_routing(access.tenant())
        .await?
        .tree
        .timing_names();
    state
        .store
        .delete_mute_timing(access.tenant(), *id, &in_use, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(HttpResponse::NoContent().finish())
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(create, __path_create);
    routes.api(list, __path_list);
    routes.api(get_one, __path_get_one);
    routes.api(update, __path_update);
    routes.api(remove, __path_remove);
}
