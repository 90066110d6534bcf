//! Who is calling: a credential as presented ([`Credential`]) checked against the keys
//! and the current self of the store ([`Authenticator::resolve`]). Shared by the HTTP
//! extractors and, next, the WebSocket session; knows nothing of either.

use actix::Addr;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::jwt::JwtKeys;
use super::principal::Principal;
use super::secrets::{api_key_prefix, secret_matches, API_KEY_MARKER};
use super::AuthError;
use crate::actors::login_throttle::LoginThrottle;
use crate::domain::time::SharedClock;
use crate::domain::{Role, UserId};
use crate::store::tenants::TenantRecord;
use crate::store::users::MembershipRecord;
use crate::store::Store;

/// Everything authentication needs: the store, the token keys, the login throttle.
#[derive(Clone)]
pub struct Authenticator {
    pub(super) store: Store,
    pub(super) jwt: JwtKeys,
    pub(super) login_throttle: Addr<LoginThrottle>,
    /// Lifetime of a refresh token, in milliseconds.
    pub(super) refresh_ttl_ms: i64,
    pub(super) clock: SharedClock,
}

impl Authenticator {
    pub fn new(
        store: Store,
        jwt: JwtKeys,
        login_throttle: Addr<LoginThrottle>,
        refresh_ttl_secs: u64,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            jwt,
            login_throttle,
            refresh_ttl_ms: i64::try_from(refresh_ttl_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            clock,
        }
    }

    /// Verifies a credential against the keys and the current self of the store.
    pub async fn resolve(&self, credential: Credential) -> Result<Principal, AuthError> {
        match credential {
            Credential::Jwt(token) => self.resolve_jwt(&token).await,
            Credential::ApiKey(key) => self.resolve_api_key(&key).await,
        }
    }
}

/// The one rule for acting in a tenant: the tenant and the membership both active. Answers
/// the member's role.
pub fn active_role(
    tenant: &TenantRecord,
    membership: &MembershipRecord,
) -> Result<Role, AuthError> {
    if tenant.disabled || membership.disabled {
        return Err(AuthError::Disabled);
    }
    Ok(membership.role)
}

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

impl Authenticator {
    async fn resolve_jwt(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self
            .jwt
            .verify_at(token, self.clock.now_ms().max(0) as u64 / 1000)?;
        let user_id: UserId = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
        let session = claims.sid.parse().map_err(|_| AuthError::InvalidToken)?;
        let user = self
            .store
            .get_user(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if user.disabled {
            return Err(AuthError::Disabled);
        }
        if !self.store.session_is_active(session).await? {
            return Err(AuthError::InvalidToken);
        }
        let tenant = match &claims.tid {
            None => None,
            Some(raw) => {
                let tenant_id = raw.parse().map_err(|_| AuthError::InvalidToken)?;
                let tenant = self
                    .store
                    .get_tenant(tenant_id)
                    .await?
                    .ok_or(AuthError::InvalidToken)?;
                let membership = self
                    .store
                    .membership(tenant_id, user_id)
                    .await?
                    .ok_or(AuthError::InvalidToken)?;
                // The role comes from the store, not the token: a demotion applies at once.
                Some((tenant_id, active_role(&tenant, &membership)?))
            }
        };
        Ok(Principal::User {
            user: user_id,
            platform_admin: claims.padm && user.is_platform_admin,
            tenant,
            session,
        })
    }

    async fn resolve_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let prefix = api_key_prefix(key).ok_or(AuthError::InvalidApiKey)?;
        let (record, tenant_disabled) = self
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
