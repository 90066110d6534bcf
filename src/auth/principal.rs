//! The caller of a request and the permission rules over it. Pure: no I/O.

use std::fmt;

use super::AuthError;
use crate::domain::{ApiKeyId, ApiKeyScope, Role, SessionId, TenantId, UserId};

/// Who is calling, as established from a verified credential and the current store state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A logged-in person; `tenant` is absent for a platform-scope token.
    User {
        user: UserId,
        platform_admin: bool,
        tenant: Option<(TenantId, Role)>,
        session: SessionId,
    },
    /// A machine credential bound to one tenant.
    ApiKey {
        key: ApiKeyId,
        tenant: TenantId,
        scopes: Vec<ApiKeyScope>,
    },
}

impl Principal {
    /// The id written to the audit log for actions of this caller.
    pub fn actor_id(&self) -> String {
        match self {
            Principal::User { user, .. } => format!("user:{user}"),
            Principal::ApiKey { key, .. } => format!("api_key:{key}"),
        }
    }
}

/// A permission over one tenant's data. Each route names one in its signature, e.g.
/// `TenantAccess<Manage>`, so the rule is visible where the route is.
pub trait TenantPermission: 'static {
    /// The least role a user needs.
    const MIN_ROLE: Role;
    /// The API key scopes that also grant it (any one of them); empty: keys may not.
    const API_KEY_SCOPES: &'static [ApiKeyScope];
    /// Whether `Authorization: Token …` and HTTP Basic are accepted (ingest clients).
    const ACCEPTS_INGEST_SCHEMES: bool = false;
    /// Said in 403 messages.
    const DESCRIPTION: &'static str;
}

/// Read a tenant's data: viewer, or an API key with `read`.
pub struct Read;
impl TenantPermission for Read {
    const MIN_ROLE: Role = Role::Viewer;
    const API_KEY_SCOPES: &'static [ApiKeyScope] = &[ApiKeyScope::Read];
    const DESCRIPTION: &'static str = "the viewer role or an API key with the read scope";
}

/// Change rules, dashboards and silences: editor.
pub struct Edit;
impl TenantPermission for Edit {
    const MIN_ROLE: Role = Role::Editor;
    const API_KEY_SCOPES: &'static [ApiKeyScope] = &[];
    const DESCRIPTION: &'static str = "the editor role";
}

/// Manage users, API keys and channels: admin.
pub struct Manage;
impl TenantPermission for Manage {
    const MIN_ROLE: Role = Role::Admin;
    const API_KEY_SCOPES: &'static [ApiKeyScope] = &[];
    const DESCRIPTION: &'static str = "the admin role";
}

/// Post alerts and manage silences (the Alertmanager API): an editor, or an API key with
/// `alerts`.
pub struct AlertsWrite;
impl TenantPermission for AlertsWrite {
    const MIN_ROLE: Role = Role::Editor;
    const API_KEY_SCOPES: &'static [ApiKeyScope] = &[ApiKeyScope::Alerts];
    const DESCRIPTION: &'static str = "the editor role or an API key with the alerts scope";
}

/// Read alerts and silences through the Alertmanager API: a viewer, or an API key with
/// `read` or `alerts` (amtool lists with the key it silences with).
pub struct AlertsRead;
impl TenantPermission for AlertsRead {
    const MIN_ROLE: Role = Role::Viewer;
    const API_KEY_SCOPES: &'static [ApiKeyScope] = &[ApiKeyScope::Read, ApiKeyScope::Alerts];
    const DESCRIPTION: &'static str = "the viewer role or an API key with the read or alerts scope";
}

/// Write metrics and logs: an API key with `ingest`, or an editor.
pub struct Ingest;
impl TenantPermission for Ingest {
    const MIN_ROLE: Role = Role::Editor;
    const API_KEY_SCOPES: &'static [ApiKeyScope] = &[ApiKeyScope::Ingest];
    const ACCEPTS_INGEST_SCHEMES: bool = true;
    const DESCRIPTION: &'static str = "an API key with the ingest scope or the editor role";
}

/// What a granted tenant permission gives a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantGrant {
    pub tenant: TenantId,
    /// The user's current role, or `None` for an API key.
    pub role: Option<Role>,
    pub actor: String,
}

impl fmt::Display for TenantGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in tenant {}", self.actor, self.tenant)
    }
}

/// Decides whether `principal` holds permission `P` in its tenant.
pub fn authorize_tenant<P: TenantPermission>(
    principal: &Principal,
) -> Result<TenantGrant, AuthError> {
    let denied = || AuthError::Forbidden(format!("this needs {}", P::DESCRIPTION));
    match principal {
        Principal::User { tenant: None, .. } => Err(AuthError::Forbidden(
            "this token is not bound to a tenant; log in with \"tenant\" to use tenant endpoints"
                .into(),
        )),
        Principal::User {
            tenant: Some((tenant, role)),
            ..
        } => {
            if role.includes(P::MIN_ROLE) {
                Ok(TenantGrant {
                    tenant: *tenant,
                    role: Some(*role),
                    actor: principal.actor_id(),
                })
            } else {
                Err(denied())
            }
        }
        Principal::ApiKey { tenant, scopes, .. } => {
            if P::API_KEY_SCOPES.iter().any(|s| scopes.contains(s)) {
                Ok(TenantGrant {
                    tenant: *tenant,
                    role: None,
                    actor: principal.actor_id(),
                })
            } else {
                Err(denied())
            }
        }
    }
}

/// Decides whether `principal` is a platform admin.
pub fn authorize_platform_admin(principal: &Principal) -> Result<UserId, AuthError> {
    match principal {
        Principal::User {
            user,
            platform_admin: true,
            ..
        } => Ok(*user),
        _ => Err(AuthError::Forbidden("this needs a platform admin".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Principal {
        Principal::User {
            user: UserId::generate(),
            platform_admin: false,
            tenant: Some((TenantId::generate(), role)),
            session: SessionId::generate(),
        }
    }

    fn key(scopes: &[ApiKeyScope]) -> Principal {
        Principal::ApiKey {
            key: ApiKeyId::generate(),
            tenant: TenantId::generate(),
            scopes: scopes.to_vec(),
        }
    }

    fn grants<P: TenantPermission>(p: &Principal) -> bool {
        authorize_tenant::<P>(p).is_ok()
    }

    #[test]
    fn permission_table() {
        use ApiKeyScope::{Ingest as I, Read as R};
        // principal, read, edit, manage, ingest
        let table = [
            (user(Role::Viewer), [true, false, false, false]),
            (user(Role::Editor), [true, true, false, true]),
            (user(Role::Admin), [true, true, true, true]),
            (key(&[R]), [true, false, false, false]),
            (key(&[I]), [false, false, false, true]),
            (key(&[I, R]), [true, false, false, true]),
        ];
        for (principal, expected) in table {
            let got = [
                grants::<Read>(&principal),
                grants::<Edit>(&principal),
                grants::<Manage>(&principal),
                grants::<Ingest>(&principal),
            ];
            assert_eq!(got, expected, "{principal:?}");
        }
    }

    #[test]
    fn platform_scope_tokens_reach_no_tenant() {
        let platform = Principal::User {
            user: UserId::generate(),
            platform_admin: true,
            tenant: None,
            session: SessionId::generate(),
        };
        assert!(authorize_platform_admin(&platform).is_ok());
        assert!(!grants::<Read>(&platform));
        assert!(authorize_platform_admin(&user(Role::Admin)).is_err());
        assert!(authorize_platform_admin(&key(&[ApiKeyScope::Read])).is_err());
    }
}
