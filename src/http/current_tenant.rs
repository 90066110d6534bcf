//! `/api/v1/tenant`: the caller's own tenant.

use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::tenants::TenantBody;
use crate::actors::supervisor::TenantRuntime;
use crate::auth::principal::Read;

#[derive(Serialize, ToSchema)]
pub struct CurrentTenantBody {
    #[serde(flatten)]
    pub tenant: TenantBody,
    /// The tenant's supervisor actor, started on demand.
    pub runtime: TenantRuntime,
}

/// The tenant of the credential, with its runtime state.
#[utoipa::path(
    responses((status = 200, body = CurrentTenantBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "tenant"
)]
#[get("/tenant")]
pub async fn current(
    state: web::Data<AppState>,
    access: TenantAccess<Read>,
) -> Result<web::Json<CurrentTenantBody>, ApiError> {
    let tenant = state
        .store
        .get_tenant(access.tenant())
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    let runtime = state.tenants.describe(access.tenant()).await?;
    Ok(web::Json(CurrentTenantBody {
        tenant: tenant.into(),
        runtime,
    }))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(current, __path_current);
}
