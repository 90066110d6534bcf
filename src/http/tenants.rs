//! `/api/v1/admin/tenants`: platform admins manage tenants.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::PlatformAdmin;
use super::state::AppState;
use super::timestamp;
use crate::accounts;
use crate::auth::password::hash_password;
use crate::domain::{Email, TenantId, TenantName, ValidationError};
use crate::store::tenants::{TenantLimits, TenantPatch, TenantRecord};
use crate::store::users::NewUser;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\x00-\x20]")]
    pub name: String,
    /// Lowercase letters, digits, inner hyphens; derived from `name` when absent.
    #[schema(pattern = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    pub slug: Option<String>,
    /// Creates the tenant's first admin with this email.
    #[schema(
        max_length = 254,
        pattern = r"^[^@\x00-\x20]+@(localhost|[^@\x00-\x20.][^@\x00-\x20]*\.[^@\x00-\x20]*[^@\x00-\x20.])$"
    )]
    pub admin_email: Option<String>,
    /// Password for that admin; generated and returned once when absent.
    #[schema(min_length = 8, max_length = 1024)]
    pub admin_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\x00-\x20]")]
    pub name: Option<String>,
    /// A disabled tenant's tokens and API keys stop working at once.
    pub disabled: Option<bool>,
    /// Replaces the tenant's limit overrides; a field left out or null uses the default.
    #[serde(default, deserialize_with = "super::body::object_or_null")]
    pub limits: Option<TenantLimitsBody>,
}

/// Per-tenant overrides of the process-wide limits (null: the configured default).
#[derive(Deserialize, Serialize, ToSchema, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct TenantLimitsBody {
    /// Active series (`TIDEWATCH_MAX_SERIES_PER_TENANT`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub max_series: Option<i64>,
    /// Sustained ingest rate, samples per second (`TIDEWATCH_INGEST_SAMPLES_PER_SEC`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub ingest_samples_per_sec: Option<i64>,
    /// Raw sample retention (`TIDEWATCH_RAW_RETENTION_DAYS`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub raw_retention_days: Option<i64>,
    /// Rollup retention (`TIDEWATCH_ROLLUP_RETENTION_DAYS`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub rollup_retention_days: Option<i64>,
    /// Sustained log ingest rate, records per second (`TIDEWATCH_LOG_INGEST_RECORDS_PER_SEC`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub log_ingest_records_per_sec: Option<i64>,
    /// Distinct log streams per hour (`TIDEWATCH_LOG_MAX_STREAMS`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub log_max_streams: Option<i64>,
    /// Log retention (`TIDEWATCH_LOG_RETENTION_DAYS`).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "integral")]
    pub log_retention_days: Option<i64>,
}

/// An optional whole number that also takes JSON's `44.0` — JSON Schema's `integer`
/// includes it, serde's `i64` does not.
fn integral<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    match Option::<serde_json::Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not a whole number within range"))),
    }
}

impl TenantLimitsBody {
    fn validate(self) -> Result<TenantLimits, ValidationError> {
        for (field, value) in [
            ("limits.max_series", self.max_series),
            ("limits.ingest_samples_per_sec", self.ingest_samples_per_sec),
            ("limits.raw_retention_days", self.raw_retention_days),
            ("limits.rollup_retention_days", self.rollup_retention_days),
            (
                "limits.log_ingest_records_per_sec",
                self.log_ingest_records_per_sec,
            ),
            ("limits.log_max_streams", self.log_max_streams),
            ("limits.log_retention_days", self.log_retention_days),
        ] {
            if value.is_some_and(|v| v <= 0) {
                return Err(ValidationError::new(field, "must be greater than 0"));
            }
        }
        Ok(TenantLimits {
            max_series: self.max_series,
            ingest_samples_per_sec: self.ingest_samples_per_sec,
            raw_retention_days: self.raw_retention_days,
            rollup_retention_days: self.rollup_retention_days,
            log_ingest_records_per_sec: self.log_ingest_records_per_sec,
            log_max_streams: self.log_max_streams,
            log_retention_days: self.log_retention_days,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct TenantBody {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub limits: TenantLimitsBody,
}

impl From<TenantRecord> for TenantBody {
    fn from(t: TenantRecord) -> Self {
        Self {
            id: t.id.to_string(),
            slug: t.slug,
            name: t.name,
            disabled: t.disabled,
            created_at: timestamp(t.created_at_ms),
            updated_at: timestamp(t.updated_at_ms),
            limits: TenantLimitsBody {
                max_series: t.limits.max_series,
                ingest_samples_per_sec: t.limits.ingest_samples_per_sec,
                raw_retention_days: t.limits.raw_retention_days,
                rollup_retention_days: t.limits.rollup_retention_days,
                log_ingest_records_per_sec: t.limits.log_ingest_records_per_sec,
                log_max_streams: t.limits.log_max_streams,
                log_retention_days: t.limits.log_retention_days,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FirstAdminBody {
    pub id: String,
    pub email: String,
    /// Present only when the password was generated; shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedTenantBody {
    #[serde(flatten)]
    pub tenant: TenantBody,
    pub admin: Option<FirstAdminBody>,
}

#[derive(Serialize, ToSchema)]
pub struct TenantListBody {
    pub tenants: Vec<TenantBody>,
}

/// Create a tenant, optionally with its first admin.
#[utoipa::path(
    request_body = CreateTenantRequest,
    responses(
        (status = 201, body = CreatedTenantBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "slug or admin email taken"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])),
    tag = "admin"
)]
#[post("/admin/tenants")]
pub async fn create(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    body: super::body::JsonObject<CreateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let (name, slug) = accounts::tenant_identity(&body.name, body.slug.as_deref())?;
    let (first_admin, generated) = match &body.admin_email {
        Some(raw_email) => {
            let email = Email::parse(raw_email)?;
            let (password, generated) =
                accounts::password_given_or_generated(body.admin_password.as_deref())?;
            let new_user = NewUser {
                email,
                name: String::new(),
                password_hash: hash_password(&password).await?,
            };
            (Some(new_user), generated)
        }
        None if body.admin_password.is_some() => {
            return Err(crate::domain::ValidationError::new(
                "admin_password",
                "is only used together with admin_email",
            )
            .into())
        }
        None => (None, None),
    };
    let (tenant, admin_user) = state
        .store
        .create_tenant(slug, name, first_admin, Some(admin.actor()))
        .await?;
    Ok(HttpResponse::Created().json(CreatedTenantBody {
        tenant: tenant.into(),
        admin: admin_user.map(|u| FirstAdminBody {
            id: u.id.to_string(),
            email: u.email,
            password: generated,
        }),
    }))
}

/// List all tenants.
#[utoipa::path(
    responses((status = 200, body = TenantListBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "admin"
)]
#[get("/admin/tenants")]
pub async fn list(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
) -> Result<web::Json<TenantListBody>, ApiError> {
    let tenants = state.store.list_tenants().await?;
    Ok(web::Json(TenantListBody {
        tenants: tenants.into_iter().map(Into::into).collect(),
    }))
}

/// One tenant.
#[utoipa::path(
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 200, body = TenantBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "admin"
)]
#[get("/admin/tenants/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    _admin: PlatformAdmin,
    id: web::Path<TenantId>,
) -> Result<web::Json<TenantBody>, ApiError> {
    let tenant = state
        .store
        .get_tenant(*id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(web::Json(tenant.into()))
}

/// Rename, disable or re-enable a tenant.
#[utoipa::path(
    params(("id" = String, Path, description = "tenant id")),
    request_body = UpdateTenantRequest,
    responses((status = 200, body = TenantBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "admin"
)]
#[patch("/admin/tenants/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    id: web::Path<TenantId>,
    body: super::body::JsonObject<UpdateTenantRequest>,
) -> Result<web::Json<TenantBody>, ApiError> {
    let patch = TenantPatch {
        name: body.name.as_deref().map(TenantName::parse).transpose()?,
        disabled: body.disabled,
        limits: body.limits.map(TenantLimitsBody::validate).transpose()?,
    };
    // Disabled tenants stop; new limits apply when the tenant's actors start again.
    let restart = patch.disabled == Some(true) || patch.limits.is_some();
    let tenant = state
        .store
        .update_tenant(*id, patch, Some(admin.actor()))
        .await?;
    if restart {
        state.tenants.stop(tenant.id).await?;
    }
    Ok(web::Json(tenant.into()))
}

/// Delete a tenant and all its data.
#[utoipa::path(
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "admin"
)]
#[delete("/admin/tenants/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    admin: PlatformAdmin,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    state.store.delete_tenant(*id, Some(admin.actor())).await?;
    state.tenants.stop(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(create, __path_create);
    routes.api(list, __path_list);
    routes.api(get, __path_get);
    routes.api(update, __path_update);
    routes.api(delete, __path_delete);
}
