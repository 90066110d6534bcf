//! actix extractors that authenticate a request and check its permission before the
//! handler runs. A handler's signature says what it needs:
//! `TenantAccess<Manage>`, `TenantAccess<Read>`, `PlatformAdmin`, `Authenticated`.
//! The WebSocket session authenticates with the same [`authenticate_header`].

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::principal::{
    authorize_platform_admin, authorize_tenant, Principal, TenantGrant, TenantPermission,
};
use crate::auth::{AuthError, Authenticator, Credential};
use crate::domain::UserId;

/// Authenticates an `Authorization` header value (`None`: none was sent).
pub async fn authenticate_header(
    auth: &Authenticator,
    header: Option<Result<String, actix_web::http::header::ToStrError>>,
    ingest_schemes: bool,
) -> Result<Principal, ApiError> {
    let header = match header {
        None => return Err(AuthError::MissingCredential.into()),
        Some(Err(_)) => return Err(AuthError::MalformedCredential("header is not ASCII").into()),
        Some(Ok(text)) => text,
    };
    let credential = Credential::parse(&header, ingest_schemes)?;
    Ok(auth.resolve(credential).await?)
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
        authenticate_header(&state.auth, header, ingest_schemes).await
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
