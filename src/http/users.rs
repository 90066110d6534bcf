//! `/api/v1/users`: a tenant admin manages the tenant's users.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::TenantAccess;
use super::state::AppState;
use super::timestamp;
use crate::auth::password::hash_password;
use crate::auth::principal::Manage;
use crate::domain::{Email, Password, Role, UserId};
use crate::store::users::{MemberPatch, MemberRecord, NewUser};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(
        max_length = 254,
        pattern = r"^[^@\x00-\x20]+@(localhost|[^@\x00-\x20.][^@\x00-\x20]*\.[^@\x00-\x20]*[^@\x00-\x20.])$"
    )]
    pub email: String,
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    pub role: Role,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    pub role: Option<Role>,
    /// Disabled in this tenant: the user's tokens for it stop working at once.
    pub disabled: Option<bool>,
    /// Only for users who belong to this tenant alone.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserBody {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
}

impl From<MemberRecord> for UserBody {
    fn from(m: MemberRecord) -> Self {
        Self {
            id: m.user.id.to_string(),
            email: m.user.email,
            name: m.user.name,
            role: m.role,
            disabled: m.disabled || m.user.disabled,
            created_at: timestamp(m.user.created_at_ms),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserListBody {
    pub users: Vec<UserBody>,
}

/// Create a user in the caller's tenant.
#[utoipa::path(
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "email taken"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])),
    tag = "users"
)]
#[post("/users")]
pub async fn create(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    body: super::body::JsonObject<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_user = NewUser {
        email: Email::parse(&body.email)?,
        name: crate::accounts::user_name(body.name.as_deref().unwrap_or(""))?,
        password_hash: hash_password(&Password::parse(&body.password)?).await?,
    };
    let member = state
        .store
        .create_member(access.tenant(), new_user, body.role, Some(access.actor()))
        .await?;
    Ok(HttpResponse::Created().json(UserBody::from(member)))
}

/// The tenant's users.
#[utoipa::path(
    responses((status = 200, body = UserListBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "users"
)]
#[get("/users")]
pub async fn list(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
) -> Result<web::Json<UserListBody>, ApiError> {
    let members = state.store.list_members(access.tenant()).await?;
    Ok(web::Json(UserListBody {
        users: members.into_iter().map(Into::into).collect(),
    }))
}

/// One user of the tenant.
#[utoipa::path(
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])),
    tag = "users"
)]
#[get("/users/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<UserId>,
) -> Result<web::Json<UserBody>, ApiError> {
    let member = state
        .store
        .get_member(access.tenant(), *id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(web::Json(member.into()))
}

/// Change a user's name, role, disabled flag or password.
#[utoipa::path(
    params(("id" = String, Path, description = "user id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "last admin, or password of a shared user"),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = [])),
    tag = "users"
)]
#[patch("/users/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<UserId>,
    body: super::body::JsonObject<UpdateUserRequest>,
) -> Result<web::Json<UserBody>, ApiError> {
    let password_hash = match &body.password {
        Some(raw) => Some(hash_password(&Password::parse(raw)?).await?),
        None => None,
    };
    let patch = MemberPatch {
        name: body
            .name
            .as_deref()
            .map(crate::accounts::user_name)
            .transpose()?,
        role: body.role,
        disabled: body.disabled,
        password_hash,
    };
    let member = state
        .store
        .update_member(access.tenant(), *id, patch, Some(access.actor()))
        .await?;
    Ok(web::Json(member.into()))
}

/// Remove a user from the tenant.
#[utoipa::path(
    params(("id" = String, Path, description = "user id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "last admin")),
    security(("bearer" = [])),
    tag = "users"
)]
#[delete("/users/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    access: TenantAccess<Manage>,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    state
        .store
        .remove_member(access.tenant(), *id, Some(access.actor()))
        .await?;
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
