//! `/api/v1/audit-log`: what was done in the tenant, newest first.

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::Manage;

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// At most this many entries (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryBody {
    pub id: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditListBody {
    pub entries: Vec<AuditEntryBody>,
}

/// The tenant's audit log.
#[utoipa::path(
    params(AuditQuery),
    responses((status = 200, body = AuditListBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "tenant"
)]
#[get("/audit-log")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditListBody>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("invalid query string: limit={limit} is not within 1 to 1000"),
        ));
    }
    let entries = state.store.list_audit(access.tenant(), limit).await?;
    Ok(web::Json(AuditListBody {
        entries: entries
            .into_iter()
            .map(|e| AuditEntryBody {
                id: e.id,
                actor: e.actor,
                action: e.action,
                target: e.target,
                details: e.details,
                created_at: timestamp(e.created_at_ms),
            })
            .collect(),
    }))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(list, __path_list);
}
