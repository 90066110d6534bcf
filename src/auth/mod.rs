//! Authentication (who is calling) and authorisation (may they do this).
//!
//! - [`password`]: argon2id hashing.
//! - [`jwt`]: access tokens (HS256, algorithm pinned, `exp`/`iat`/`iss`/`aud` checked).
//! - [`secrets`]: API keys and refresh tokens: random secrets stored as SHA-256 hashes.
//! - [`principal`]: the caller, as resolved from a credential, and the permission rules.
//! - [`authenticator`]: credentials as presented, checked against the keys and the store.
//! - [`login`]: logging in, refreshing and logging out.
//!
//! Nothing here knows about HTTP: the extractors that put a route's permission in its
//! signature live in `http::extract`.

pub mod authenticator;
pub mod jwt;
pub mod login;
pub mod password;
pub mod principal;
pub mod secrets;

pub use authenticator::{active_role, Authenticator, Credential};

use crate::store::StoreError;

/// Why a request was not authenticated or not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing credential: send Authorization: Bearer <token or API key>")]
    MissingCredential,
    #[error("malformed Authorization header: {0}")]
    MalformedCredential(&'static str),
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("invalid email, password or tenant")]
    InvalidLogin,
    #[error("this account or tenant is disabled")]
    Disabled,
    #[error("{0}")]
    Forbidden(String),
    #[error("you belong to several tenants; add \"tenant\" (slug or id) to the login request")]
    TenantRequired,
    #[error("too many failed logins; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl crate::error::Classify for AuthError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            AuthError::MissingCredential
            | AuthError::MalformedCredential(_)
            | AuthError::InvalidToken
            | AuthError::InvalidApiKey
            | AuthError::InvalidLogin
            | AuthError::Disabled => ErrorKind::Unauthorized,
            AuthError::TenantRequired => ErrorKind::InvalidInput,
            AuthError::Forbidden(_) => ErrorKind::Forbidden,
            AuthError::RateLimited { .. } => ErrorKind::RateLimited,
            AuthError::Store(store) => store.kind(),
            AuthError::Internal(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AuthError::TenantRequired => "tenant_required",
            AuthError::Forbidden(_) => "forbidden",
            AuthError::RateLimited { .. } => "rate_limited",
            AuthError::Store(store) => store.code(),
            AuthError::Internal(_) => "internal",
            _ => "unauthorized",
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AuthError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            AuthError::Store(store) => store.retry_after_secs(),
            _ => None,
        }
    }

    fn public_message(&self) -> String {
        match self {
            AuthError::Store(store) => store.public_message(),
            other => other.to_string(),
        }
    }
}
