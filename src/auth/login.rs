//! Logging in, refreshing and logging out: the flows behind `/api/v1/auth/*`.

use std::net::IpAddr;

use super::jwt::TokenSubject;
use super::password::verify_password;
use super::secrets::{generate_refresh_token, hash_secret};
use super::{active_role, AuthError, Authenticator};
use crate::actors::login_throttle::{CheckLogin, ClearAccountFailures, RecordLoginFailure};
use crate::domain::{Email, Role, SessionId, TenantId, UserId};
use crate::store::audit::{AuditAction, AuditEvent};
use crate::store::sessions::Rotation;

/// A login request as received.
#[derive(Debug, Clone)]
pub struct LoginAttempt {
    pub email: String,
    pub password: String,
    /// A tenant slug or id; needed when the user belongs to several tenants.
    pub tenant: Option<String>,
    pub address: Option<IpAddr>,
}

/// Tokens handed to a client after login or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub tenant: Option<TenantId>,
    pub role: Option<Role>,
}

fn throttle_error(e: actix::MailboxError) -> AuthError {
    AuthError::Internal(format!("login throttle unavailable: {e}"))
}

/// 429 while `account` or `address` has too many recent failures.
async fn check_throttle(
    auth: &Authenticator,
    account: &str,
    address: Option<IpAddr>,
) -> Result<(), AuthError> {
    auth.login_throttle
        .send(CheckLogin {
            account: account.to_owned(),
            address,
        })
        .await
        .map_err(throttle_error)?
        .map_err(|wait| AuthError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        })
}

async fn record_failure(
    auth: &Authenticator,
    account: String,
    address: Option<IpAddr>,
) -> Result<(), AuthError> {
    auth.login_throttle
        .send(RecordLoginFailure { account, address })
        .await
        .map_err(throttle_error)
}

/// Checks credentials (rate limited per account and per address) and starts a session.
pub async fn login(auth: &Authenticator, attempt: LoginAttempt) -> Result<IssuedTokens, AuthError> {
    let account = attempt.email.trim().to_lowercase();
    check_throttle(auth, &account, attempt.address).await?;

    let user = match Email::parse(attempt.email.trim()) {
        Ok(email) => auth.store.find_user_by_email(&email).await?,
        Err(_) => None,
    };
    let password_ok = verify_password(
        &attempt.password,
        user.as_ref().map(|u| u.password_hash.as_str()),
    )
    .await?;
    let resolved = match (&user, password_ok) {
        (Some(user), true) => {
            resolve_login_tenant(
                auth,
                user.id,
                user.is_platform_admin,
                attempt.tenant.as_deref(),
            )
            .await
        }
        _ => Err(AuthError::InvalidLogin),
    };
    let (tenant, role) = match resolved {
        Ok(found) => found,
        Err(err @ (AuthError::InvalidLogin | AuthError::Disabled)) => {
            record_failure(auth, account, attempt.address).await?;
            return Err(err);
        }
        Err(other) => return Err(other),
    };
    let user = user.expect("resolved only when the user exists");
    if user.disabled {
        return Err(AuthError::Disabled);
    }
    auth.login_throttle
        .send(ClearAccountFailures { account })
        .await
        .map_err(throttle_error)?;

    let refresh_token = generate_refresh_token();
    let refresh_expires = auth.clock.now_ms() + auth.refresh_ttl_ms;
    let session = auth
        .store
        .start_session(
            user.id,
            tenant,
            hash_secret(&refresh_token),
            refresh_expires,
        )
        .await?;
    let platform_admin = user.is_platform_admin && tenant.is_none();
    let tokens = issue_access(
        auth,
        user.id,
        tenant,
        role,
        platform_admin,
        session,
        refresh_token,
    )?;
    auth.store
        .record_audit(AuditEvent {
            tenant,
            actor: Some(format!("user:{}", user.id)),
            action: AuditAction::Login,
            target: user.id.to_string(),
            details: serde_json::json!({"address": attempt.address.map(|a| a.to_string())}),
        })
        .await?;
    Ok(tokens)
}

/// Which tenant (and role) a login is for. A platform admin who names no tenant gets a
/// platform-scope token; anyone else must belong to the tenant, and a user with several
/// tenants must name one.
async fn resolve_login_tenant(
    auth: &Authenticator,
    user: UserId,
    platform_admin: bool,
    requested: Option<&str>,
) -> Result<(Option<TenantId>, Option<Role>), AuthError> {
    let memberships = auth.store.memberships_of_user(user).await?;
    let chosen = match requested {
        Some(handle) => {
            let tenant = auth
                .store
                .find_tenant_by_slug_or_id(handle)
                .await?
                .ok_or(AuthError::InvalidLogin)?;
            memberships
                .into_iter()
                .find(|(t, _)| t.id == tenant.id)
                .ok_or(AuthError::InvalidLogin)?
        }
        None if platform_admin => return Ok((None, None)),
        None => {
            let mut active = memberships
                .into_iter()
                .filter(|(t, m)| !t.disabled && !m.disabled);
            match (active.next(), active.next()) {
                (Some(only), None) => only,
                (None, _) => return Err(AuthError::InvalidLogin),
                (Some(_), Some(_)) => return Err(AuthError::TenantRequired),
            }
        }
    };
    let (tenant, membership) = chosen;
    Ok((Some(tenant.id), Some(active_role(&tenant, &membership)?)))
}

fn issue_access(
    auth: &Authenticator,
    user: UserId,
    tenant: Option<TenantId>,
    role: Option<Role>,
    platform_admin: bool,
    session: SessionId,
    refresh_token: String,
) -> Result<IssuedTokens, AuthError> {
    let (access_token, _) = auth.jwt.issue(
        TokenSubject {
            user,
            tenant,
            role,
            platform_admin,
            session,
        },
        auth.clock.now_ms().max(0) as u64 / 1000,
    )?;
    Ok(IssuedTokens {
        access_token,
        refresh_token,
        expires_in: auth.jwt.ttl_secs(),
        tenant,
        role,
    })
}

/// Exchanges a refresh token for a new pair. A reused token revokes its session.
/// Rotates a refresh token. Invalid tokens count as failed logins of the client's
/// address (and of a per-address refresh "account"), so guessing them is throttled like
/// guessing passwords: 429 with `Retry-After` past the limit.
pub async fn refresh(
    auth: &Authenticator,
    presented: &str,
    address: Option<IpAddr>,
) -> Result<IssuedTokens, AuthError> {
    let account = match address {
        Some(ip) => format!("refresh-token@{ip}"),
        None => "refresh-token@unknown".to_owned(),
    };
    check_throttle(auth, &account, address).await?;
    let rotated = rotate(auth, presented).await;
    if let Err(AuthError::InvalidToken) = &rotated {
        record_failure(auth, account, address).await?;
    }
    rotated
}

async fn rotate(auth: &Authenticator, presented: &str) -> Result<IssuedTokens, AuthError> {
    let next = generate_refresh_token();
    let next_expires = auth.clock.now_ms() + auth.refresh_ttl_ms;
    let owner = match auth
        .store
        .rotate_refresh_token(&hash_secret(presented), hash_secret(&next), next_expires)
        .await?
    {
        Rotation::Rotated(owner) => owner,
        Rotation::ReuseDetected => {
            tracing::warn!("refresh token reused; its session has been revoked");
            return Err(AuthError::InvalidToken);
        }
        Rotation::Invalid => return Err(AuthError::InvalidToken),
    };
    let user = auth
        .store
        .get_user(owner.user)
        .await?
        .ok_or(AuthError::InvalidToken)?;
    let role = match owner.tenant {
        None => None,
        Some(tenant_id) => {
            let tenant = auth.store.get_tenant(tenant_id).await?;
            let membership = auth.store.membership(tenant_id, owner.user).await?;
            let role = match (tenant, membership) {
                (Some(t), Some(m)) => active_role(&t, &m).ok(),
                _ => None,
            };
            if role.is_none() {
                auth.store.revoke_session(owner.session).await?;
                return Err(AuthError::Disabled);
            }
            role
        }
    };
    if user.disabled {
        auth.store.revoke_session(owner.session).await?;
        return Err(AuthError::Disabled);
    }
    let platform_admin = user.is_platform_admin && owner.tenant.is_none();
    issue_access(
        auth,
        user.id,
        owner.tenant,
        role,
        platform_admin,
        owner.session,
        next,
    )
}

/// Ends the session a refresh token (or the caller's access token) belongs to.
pub async fn logout(
    auth: &Authenticator,
    refresh_token: Option<&str>,
    access_session: Option<SessionId>,
) -> Result<(), AuthError> {
    let from_refresh = match refresh_token {
        Some(token) => {
            auth.store
                .session_of_refresh_token(&hash_secret(token))
                .await?
        }
        None => None,
    };
    let sessions: Vec<SessionId> = from_refresh.into_iter().chain(access_session).collect();
    if sessions.is_empty() {
        return Err(AuthError::InvalidToken);
    }
    for session in sessions {
        auth.store.revoke_session(session).await?;
    }
    Ok(())
}
