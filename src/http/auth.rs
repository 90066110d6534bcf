//! `/api/v1/auth/*`: login, refresh, logout, who am I.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::{Authenticated, MaybeAuthenticated};
use super::state::AppState;
use crate::auth::login::{self as flows, IssuedTokens, LoginAttempt};
use crate::auth::principal::Principal;
use crate::domain::{ApiKeyScope, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Tenant slug or id; required when the user belongs to several tenants.
    pub tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub tenant_id: Option<String>,
    pub role: Option<Role>,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(tokens: IssuedTokens) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
            tenant_id: tokens.tenant.map(|t| t.to_string()),
            role: tokens.role,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    pub refresh_token: Option<String>,
}

/// Log in with email and password.
#[utoipa::path(
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = super::error::ErrorBody, description = "malformed body, or a tenant is needed"),
        (status = 401, body = super::error::ErrorBody),
        (status = 429, body = super::error::ErrorBody, description = "too many failed logins"),
    ),
    tag = "auth"
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::body::JsonObject<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let body = body.into_inner();
    let attempt = LoginAttempt {
        email: body.email,
        password: body.password,
        tenant: body.tenant,
        address: req.peer_addr().map(|addr| addr.ip()),
    };
    Ok(web::Json(flows::login(&state.auth, attempt).await?.into()))
}

/// Exchange a refresh token for a new access and refresh token.
#[utoipa::path(
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = super::error::ErrorBody),
        (status = 429, body = super::error::ErrorBody, description = "too many invalid refresh tokens from this address"),
    ),
    tag = "auth"
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::body::JsonObject<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let address = req.peer_addr().map(|addr| addr.ip());
    Ok(web::Json(
        flows::refresh(&state.auth, &body.refresh_token, address)
            .await?
            .into(),
    ))
}

/// End the session of a refresh token and/or of the bearer access token.
#[utoipa::path(
    request_body(content = LogoutRequest, description = "optional when a bearer access token is sent"),
    responses((status = 204), (status = 401, body = super::error::ErrorBody)),
    tag = "auth"
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    caller: MaybeAuthenticated,
    body: Option<web::Json<LogoutRequest>>,
) -> Result<HttpResponse, ApiError> {
    let body = body.map(web::Json::into_inner).unwrap_or_default();
    let access_session = match caller.0 {
        Some(Principal::User { session, .. }) => Some(session),
        Some(Principal::ApiKey { .. }) | None => None,
    };
    flows::logout(&state.auth, body.refresh_token.as_deref(), access_session).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct MeTenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub role: Option<Role>,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    /// `user` or `api_key`.
    pub kind: &'static str,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub platform_admin: bool,
    pub api_key_id: Option<String>,
    pub scopes: Option<Vec<ApiKeyScope>>,
    pub tenant: Option<MeTenant>,
}

/// Who the credential belongs to.
#[utoipa::path(
    responses((status = 200, body = MeResponse), (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])),
    tag = "auth"
)]
#[get("/auth/me")]
pub async fn me(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<web::Json<MeResponse>, ApiError> {
    let describe_tenant = |tenant: crate::store::tenants::TenantRecord, role| MeTenant {
        id: tenant.id.to_string(),
        slug: tenant.slug,
        name: tenant.name,
        role,
    };
    let response = match caller.0 {
        Principal::User {
            user,
            platform_admin,
            tenant,
            ..
        } => {
            let record = state
                .store
                .get_user(user)
                .await?
                .ok_or_else(|| ApiError::not_found("user"))?;
            let tenant = match tenant {
                Some((id, role)) => state
                    .store
                    .get_tenant(id)
                    .await?
                    .map(|t| describe_tenant(t, Some(role))),
                None => None,
            };
            MeResponse {
                kind: "user",
                user_id: Some(user.to_string()),
                email: Some(record.email),
                name: Some(record.name),
                platform_admin,
                api_key_id: None,
                scopes: None,
                tenant,
            }
        }
        Principal::ApiKey {
            key,
            tenant,
            scopes,
        } => MeResponse {
            kind: "api_key",
            user_id: None,
            email: None,
            name: None,
            platform_admin: false,
            api_key_id: Some(key.to_string()),
            scopes: Some(scopes),
            tenant: state
                .store
                .get_tenant(tenant)
                .await?
                .map(|t| describe_tenant(t, None)),
        },
    };
    Ok(web::Json(response))
}

/// This resource's routes, each served and documented by its one line.
pub fn register(routes: &mut super::routes::Registrar<'_>) {
    routes.api(login, __path_login);
    routes.api(refresh, __path_refresh);
    routes.api(logout, __path_logout);
    routes.api(me, __path_me);
}
