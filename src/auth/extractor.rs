//! actix extractors that authenticate a request and check its permission before the
//! handler runs. A handler's signature says what it needs:
//! `TenantAccess<Manage>`, `TenantAccess<Read>`, `PlatformAdmin`, `Authenticated`.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;

use super::principal::{
    authorize_platform_admin, authorize_tenant, Principal, TenantGrant, TenantPermission,
};
use super::secrets::{api_key_prefix, secret_matches, API_KEY_MARKER};
use super::AuthError;
use crate::app::AppState;
use crate::domain::UserId;
use crate::http::error::ApiError;

/// A credential as presented, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Jwt(String),
    ApiKey(String),
}

impl Credential {
    /// Reads an `Authorization` header value. `Token` and `Basic` (the key as password)
    /// are accepted only where `ingest_schemes` is set, for InfluxDB and Prometheus clients.
    pub fn parse(header: &str, ingest_schemes: bool) -> Result<Self, AuthError> {
        let (scheme, value) =
            header
                .trim()
                .split_once(' ')
                .ok_or(AuthError::MalformedCredential(
                    "expected \"<scheme> <credential>\"",
                ))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(AuthError::MalformedCredential("the credential is empty"));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" if value.starts_with(API_KEY_MARKER) => {
                Ok(Credential::ApiKey(value.to_owned()))
            }
            "bearer" => Ok(Credential::Jwt(value.to_owned())),
            "token" if ingest_schemes => Ok(Credential::ApiKey(value.to_owned())),
            "basic" if ingest_schemes => {
                let decoded = STANDARD
                    .decode(value)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or(AuthError::MalformedCredential(
                        "Basic credential is not base64 UTF-8",
                    ))?;
                let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
                let key = if password.is_empty() { user } else { password };
                Ok(Credential::ApiKey(key.to_owned()))
            }
            _ if ingest_schemes => Err(AuthError::MalformedCredential(
                "use Bearer, Token or Basic (API key as password)",
            )),
            _ => Err(AuthError::MalformedCredential("use Bearer")),
        }
    }
}

/// Verifies a credential against the keys and the current state of the store.
pub async fn resolve_principal(
    state: &AppState,
    credential: Credential,
) -> Result<Principal, AuthError> {
    match credential {
        Credential::Jwt(token) => resolve_jwt(state, &token).await,
        Credential::ApiKey(key) => resolve_api_key(state, &key).await,
    }
}

async fn resolve_jwt(state: &AppState, token: &str) -> Result<Principal, AuthError> {
    let claims = state.jwt.verify(token)?;
    let user_id: UserId = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
    let session = claims.sid.parse().map_err(|_| AuthError::InvalidToken)?;
    let user = state
        .store
        .get_user(user_id)
        .await?
        .ok_or(AuthError::InvalidToken)?;
    if user.disabled {
        return Err(AuthError::Disabled);
    }
    if !state.store.session_is_active(session).await? {
        return Err(AuthError::InvalidToken);
    }
    let tenant = match &claims.tid {
        None => None,
        Some(raw) => {
            let tenant_id = raw.parse().map_err(|_| AuthError::InvalidToken)?;
            let tenant = state
                .store
                .get_tenant(tenant_id)
                .await?
                .ok_or(AuthError::InvalidToken)?;
            let membership = state
                .store
                .membership(tenant_id, user_id)
                .await?
                .ok_or(AuthError::InvalidToken)?;
            if tenant.disabled || membership.disabled {
                return Err(AuthError::Disabled);
            }
            // The role comes from the store, not the token: a demotion applies at once.
            Some((tenant_id, membership.role))
        }
    };
    Ok(Principal::User {
        user: user_id,
        platform_admin: claims.padm && user.is_platform_admin,
        tenant,
        session,
    })
}

async fn resolve_api_key(state: &AppState, key: &str) -> Result<Principal, AuthError> {
    let prefix = api_key_prefix(key).ok_or(AuthError::InvalidApiKey)?;
    let (record, tenant_disabled) = state
        .store
        .find_api_key_with_tenant_state(prefix)
        .await?
        .ok_or(AuthError::InvalidApiKey)?;
    if !secret_matches(key, &record.key_hash) || record.revoked_at_ms.is_some() {
        return Err(AuthError::InvalidApiKey);
    }
    match tenant_disabled {
        None => return Err(AuthError::InvalidApiKey),
        Some(true) => return Err(AuthError::Disabled),
        Some(false) => {}
    }
    Ok(Principal::ApiKey {
        key: record.id,
        tenant: record.tenant,
        scopes: record.scopes,
    })
}

fn authenticate(
    req: &HttpRequest,
    ingest_schemes: bool,
) -> LocalBoxFuture<'static, Result<Principal, ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().map(str::to_owned));
    Box::pin(async move {
        let state =
            state.ok_or_else(|| ApiError::internal("application state is not configured"))?;
        let header = match header {
            None => return Err(AuthError::MissingCredential.into()),
            Some(Err(_)) => {
                return Err(AuthError::MalformedCredential("header is not ASCII").into())
            }
            Some(Ok(text)) => text,
        };
        let credential = Credential::parse(&header, ingest_schemes)?;
        Ok(resolve_principal(&state, credential).await?)
    })
}

/// Any authenticated caller.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate(req, false);
        Box::pin(async move { Ok(Authenticated(principal.await?)) })
    }
}

/// A caller who may send no credential at all; a credential that is sent must be valid.
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if !req.headers().contains_key(AUTHORIZATION) {
            return Box::pin(async { Ok(MaybeAuthenticated(None)) });
        }
        let principal = authenticate(req, false);
        Box::pin(async move { Ok(MaybeAuthenticated(Some(principal.await?))) })
    }
}

/// A caller holding permission `P` in the tenant of its credential.
pub struct TenantAccess<P: TenantPermission> {
    pub grant: TenantGrant,
    _permission: PhantomData<P>,
}

impl<P: TenantPermission> TenantAccess<P> {
    pub fn tenant(&self) -> crate::domain::TenantId {
        self.grant.tenant
    }

    pub fn actor(&self) -> String {
        self.grant.actor.clone()
    }
}

impl<P: TenantPermission> FromRequest for TenantAccess<P> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate(req, P::ACCEPTS_INGEST_SCHEMES);
        Box::pin(async move {
            let grant = authorize_tenant::<P>(&principal.await?)?;
            Ok(TenantAccess {
                grant,
                _permission: PhantomData,
            })
        })
    }
}

/// A platform admin (manages tenants).
pub struct PlatformAdmin {
    pub user: UserId,
}

impl PlatformAdmin {
    pub fn actor(&self) -> String {
        format!("user:{}", self.user)
    }
}

impl FromRequest for PlatformAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = authenticate(req, false);
        Box::pin(async move {
            let user = authorize_platform_admin(&principal.await?)?;
            Ok(PlatformAdmin { user })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme_where_allowed() {
        let key = "tw_0123456789ab_secret";
        let basic = format!("Basic {}", STANDARD.encode(format!("prom:{key}")));
        let cases: Vec<(String, bool, Option<Credential>)> = vec![
            (
                "Bearer eyJ.a.b".into(),
                false,
                Some(Credential::Jwt("eyJ.a.b".into())),
            ),
            (
                format!("Bearer {key}"),
                false,
                Some(Credential::ApiKey(key.into())),
            ),
            (
                format!("bearer {key}"),
                false,
                Some(Credential::ApiKey(key.into())),
            ),
            (
                format!("Token {key}"),
                true,
                Some(Credential::ApiKey(key.into())),
            ),
            (format!("Token {key}"), false, None),
            (basic.clone(), true, Some(Credential::ApiKey(key.into()))),
            (basic, false, None),
            ("Bearer".into(), false, None),
            ("Bearer  ".into(), false, None),
            ("Digest abc".into(), true, None),
        ];
        for (header, ingest, expected) in cases {
            assert_eq!(
                Credential::parse(&header, ingest).ok(),
                expected,
                "{header} ingest={ingest}"
            );
        }
    }
}
