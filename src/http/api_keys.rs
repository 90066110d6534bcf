//! `/api/v1/api-keys`: a tenant admin issues and revokes machine credentials.

use actix_web::{delete, get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::principal::Manage;
use crate::auth::secrets::generate_api_key;
use crate::domain::{ApiKeyId, ApiKeyScope};
use crate::store::api_keys::{ApiKeyRecord, NewApiKey};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    #[schema(min_length = 1, max_length = 200, pattern = r"[^\x00-\x20]")]
    pub name: String,
    /// `ingest` and/or `read`.
    #[schema(min_items = 1)]
    pub scopes: Vec<ApiKeyScope>,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyBody {
    pub id: String,
    pub name: String,
    /// The public part of the key, to recognise it in lists and logs.
    pub prefix: String,
    pub scopes: Vec<ApiKeyScope>,
    pub created_at: String,
    pub revoked: bool,
    pub revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for ApiKeyBody {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: timestamp(k.created_at_ms),
            revoked: k.revoked_at_ms.is_some(),
            revoked_at: k.revoked_at_ms.map(timestamp),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKeyBody {
    /// The whole key; shown this once and never again.
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKeyBody,
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyListBody {
    pub api_keys: Vec<ApiKeyBody>,
}

/// Issue an API key; the response holds the key, once.
#[utoipa::path(
    request_body = CreateApiKeyRequest,
    responses((status = 201, body = CreatedApiKeyBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "api-keys"
)]
#[post("/api-keys")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    body: super::body::JsonObject<CreateApiKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let (name, scopes) = crate::accounts::api_key_definition(&body.name, &body.scopes)?;
    let generated = generate_api_key();
    let record = state
        .store
        .create_api_key(
            access.tenant(),
            NewApiKey {
                name,
                prefix: generated.prefix,
                key_hash: generated.hash,
                scopes,
                created_by: Some(access.actor()),
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiKeyBody {
        key: generated.key,
        api_key: record.into(),
    }))
}

/// The tenant's API keys, without secrets.
#[utoipa::path(
    responses((status = 200, body = ApiKeyListBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "api-keys"
)]
#[get("/api-keys")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
) -> Result<web::Json<ApiKeyListBody>, ApiError> {
    let keys = state.store.list_api_keys(access.tenant()).await?;
    Ok(web::Json(ApiKeyListBody {
        api_keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(
    params(("id" = String, Path, description = "API key id")),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "api-keys"
)]
#[delete("/api-keys/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .revoke_api_key(access.tenant(), *id, Some(access.actor()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(create, __path_create);
    routes.api(list, __path_list);
    routes.api(revoke, __path_revoke);
}
