//! `/api/v1/inhibit-rules`: `{"source_matchers","target_matchers","equal"}`; while an alert
//! matching the source fires, alerts matching the target that agree with it on the `equal`
//! labels notify no one (recorded as `silenced`, saying which alert inhibited them).
//! Editors and admins write; viewers read.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde_json::{json, Value};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::{Edit, Read};
use crate::domain::InhibitRuleId;
use crate::notify::inhibit::InhibitRule;
use crate::notify::matcher::Matcher;
use crate::store::inhibit_rules::InhibitRuleRecord;

fn rule_body(record: &InhibitRuleRecord) -> Value {
    json!({
        "id": record.id.to_string(),
        "source_matchers": record.rule.source_matchers.iter().map(Matcher::to_json).collect::<Vec<_>>(),
        "target_matchers": record.rule.target_matchers.iter().map(Matcher::to_json).collect::<Vec<_>>(),
        "equal": record.rule.equal,
        "created_at": timestamp(record.created_at_ms),
        "updated_at": timestamp(record.updated_at_ms),
    })
}

/// The definition to store: checked, read-only fields dropped.
fn validated(mut body: Value) -> Result<Value, ApiError> {
    if let Some(object) = body.as_object_mut() {
        for field in ["id", "created_at", "updated_at"] {
            object.remove(field);
        }
    }
    InhibitRule::from_json(String::new(), &body)?;
    Ok(body)
}

/// Create an inhibit rule.
#[utoipa::path(
    request_body(content = Object),
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[post("/inhibit-rules")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    body: super::body::JsonObject<Value>,
) -> Result<HttpResponse, ApiError> {
    let definition = validated(body.into_inner())?;
    let record = state
        .store
        .create_inhibit_rule(access.tenant(), &definition, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(HttpResponse::Created().json(rule_body(&record)))
}

/// The tenant's inhibit rules, oldest first.
#[utoipa::path(
    responses((status = 200, body = Object)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/inhibit-rules")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
) -> Result<web::Json<Value>, ApiError> {
    let rules = state.store.list_inhibit_rules(access.tenant()).await?;
    Ok(web::Json(
        json!({ "inhibit_rules": rules.iter().map(rule_body).collect::<Vec<_>>() }),
    ))
}

/// One inhibit rule.
#[utoipa::path(
    params(("id" = String, Path, description = "inhibit rule id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[get("/inhibit-rules/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
    id: web::Path<InhibitRuleId>,
) -> Result<web::Json<Value>, ApiError> {
    let record = state.store.inhibit_rule(access.tenant(), *id).await?;
    Ok(web::Json(rule_body(&record)))
}

/// Replace an inhibit rule.
#[utoipa::path(
    params(("id" = String, Path, description = "inhibit rule id")),
    request_body(content = Object),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[put("/inhibit-rules/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<InhibitRuleId>,
    body: super::body::JsonObject<Value>,
) -> Result<web::Json<Value>, ApiError> {
    state.store.inhibit_rule(access.tenant(), *id).await?;
    let definition = validated(body.into_inner())?;
    let record = state
        .store
        .update_inhibit_rule(access.tenant(), *id, &definition, access.actor())
        .await?;
    super::alert_rules::delivery_changed(&state, access.tenant()).await;
    Ok(web::Json(rule_body(&record)))
}

/// Delete an inhibit rule.
#[utoipa::path(
    params(("id" = String, Path, description = "inhibit rule id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "notifications"
)]
#[delete("/inhibit-rules/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    access: TenantAccess<Edit>,
    id: web::Path<InhibitRuleId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete_inhibit_rule(access.tenant(), *id, access.actor())
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
