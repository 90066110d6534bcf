//! Users (global identities) and memberships (a user's role in one tenant).
//!
//! Tenant admins only ever see and change users through their membership in the
//! admin's own tenant: every `*_member` function takes the tenant first.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::{membership, refresh_token, tenant, user};
use super::tenants::{delete_user_if_orphaned, TenantRecord};
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{Email, Role, TenantId, UserId};

/// A user as read back, including the password hash (never serialised to clients).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_platform_admin: bool,
    pub disabled: bool,
    pub created_at_ms: i64,
}

impl TryFrom<user::Model> for UserRecord {
    type Error = StoreError;
    fn try_from(row: user::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&row.id, "user")?,
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            is_platform_admin: row.is_platform_admin,
            disabled: row.disabled,
            created_at_ms: row.created_at_ms,
        })
    }
}

/// A user seen through their membership in one tenant.
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub user: UserRecord,
    pub role: Role,
    /// Disabled in this tenant (the user may still be active elsewhere).
    pub disabled: bool,
}

/// A user's membership in a tenant, as needed to authorise a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipRecord {
    pub role: Role,
    pub disabled: bool,
}

/// What is needed to create a user; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub password_hash: String,
}

/// A change to a member; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

fn parse_role(raw: &str) -> Result<Role, StoreError> {
    raw.parse().map_err(StoreError::Corrupt)
}

pub(crate) async fn insert_user<C: ConnectionTrait>(
    conn: &C,
    new_user: NewUser,
    platform_admin: bool,
) -> Result<UserRecord, StoreError> {
    let now = now_ms();
    let email = new_user.email.as_str().to_owned();
    user::ActiveModel {
        id: Set(UserId::generate().to_string()),
        email: Set(email.clone()),
        name: Set(new_user.name),
        password_hash: Set(new_user.password_hash),
        is_platform_admin: Set(platform_admin),
        disabled: Set(false),
        created_at_ms: Set(now),
        updated_at_ms: Set(now),
    }
    .insert(conn)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(e, format!("a user with email \"{email}\" already exists"))
    })?
    .try_into()
}

pub(crate) async fn insert_membership<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
    role: Role,
) -> Result<(), StoreError> {
    membership::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        user_id: Set(user.to_string()),
        role: Set(role.as_str().to_owned()),
        disabled: Set(false),
        created_at_ms: Set(now_ms()),
    }
    .insert(conn)
    .await
    .map_err(|e| {
        StoreError::conflict_on_unique(e, "the user is already a member of this tenant")
    })?;
    Ok(())
}

async fn find_member<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user_id: UserId,
) -> Result<Option<MemberRecord>, StoreError> {
    let Some(m) = membership::Entity::find_by_id((tenant.to_string(), user_id.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let Some(u) = user::Entity::find_by_id(user_id.to_string())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(MemberRecord {
        user: u.try_into()?,
        role: parse_role(&m.role)?,
        disabled: m.disabled,
    }))
}

/// Refuses a change that would leave the tenant without an active admin.
async fn ensure_another_active_admin<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    leaving: UserId,
) -> Result<(), StoreError> {
    let others = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant.to_string()))
        .filter(membership::Column::Role.eq(Role::Admin.as_str()))
        .filter(membership::Column::Disabled.eq(false))
        .filter(membership::Column::UserId.ne(leaving.to_string()))
        .count(conn)
        .await?;
    if others == 0 {
        return Err(StoreError::Conflict(
            "this is the tenant's last active admin; make another user admin first".into(),
        ));
    }
    Ok(())
}

impl Store {
    pub async fn find_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<UserRecord>, StoreError> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    pub async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        user::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    pub async fn any_platform_admin(&self) -> Result<bool, StoreError> {
        let count = user::Entity::find()
            .filter(user::Column::IsPlatformAdmin.eq(true))
            .count(self.db())
            .await?;
        Ok(count > 0)
    }

    pub async fn create_platform_admin(&self, new_user: NewUser) -> Result<UserRecord, StoreError> {
        let txn = self.begin_write().await?;
        let user = insert_user(&txn, new_user, true).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: None,
                actor: None,
                action: AuditAction::PlatformAdminCreate,
                target: user.id.to_string(),
                details: json!({"email": user.email}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Break-glass changes from the CLI: a new password and/or the global disabled flag.
    pub async fn set_user_credentials(
        &self,
        id: UserId,
        password_hash: Option<String>,
        disabled: Option<bool>,
    ) -> Result<(), StoreError> {
        let Some(row) = user::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?
        else {
            return Err(StoreError::NotFound("user"));
        };
        let mut row: user::ActiveModel = row.into();
        if let Some(hash) = password_hash {
            row.password_hash = Set(hash);
        }
        if let Some(disabled) = disabled {
            row.disabled = Set(disabled);
        }
        row.updated_at_ms = Set(now_ms());
        row.update(self.db()).await?;
        Ok(())
    }

    /// Every tenant a user belongs to, with the role there; for choosing a tenant at login.
    pub async fn memberships_of_user(
        &self,
        user_id: UserId,
    ) -> Result<Vec<(TenantRecord, MembershipRecord)>, StoreError> {
        let rows = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id.to_string()))
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            if let Some(t) = tenant::Entity::find_by_id(m.tenant_id.clone())
                .one(self.db())
                .await?
            {
                let record = MembershipRecord {
                    role: parse_role(&m.role)?,
                    disabled: m.disabled,
                };
                out.push((t.try_into()?, record));
            }
        }
        Ok(out)
    }

    pub async fn membership(
        &self,
        tenant: TenantId,
        user_id: UserId,
    ) -> Result<Option<MembershipRecord>, StoreError> {
        membership::Entity::find_by_id((tenant.to_string(), user_id.to_string()))
            .one(self.db())
            .await?
            .map(|m| {
                Ok(MembershipRecord {
                    role: parse_role(&m.role)?,
                    disabled: m.disabled,
                })
            })
            .transpose()
    }

    pub async fn list_members(&self, tenant: TenantId) -> Result<Vec<MemberRecord>, StoreError> {
        let rows = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(tenant.to_string()))
            .order_by_asc(membership::Column::CreatedAtMs)
            .all(self.db())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in rows {
            if let Some(member) =
                find_member(self.db(), tenant, parse_id(&m.user_id, "user")?).await?
            {
                out.push(member);
            }
        }
        Ok(out)
    }

    pub async fn get_member(
        &self,
        tenant: TenantId,
        user_id: UserId,
    ) -> Result<Option<MemberRecord>, StoreError> {
        find_member(self.db(), tenant, user_id).await
    }

    /// Creates a new user as a member of `tenant`.
    pub async fn create_member(
        &self,
        tenant: TenantId,
        new_user: NewUser,
        role: Role,
        actor: Option<String>,
    ) -> Result<MemberRecord, StoreError> {
        let txn = self.begin_write().await?;
        let user = insert_user(&txn, new_user, false).await?;
        insert_membership(&txn, tenant, user.id, role).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor,
                action: AuditAction::UserCreate,
                target: user.id.to_string(),
                details: json!({"email": user.email, "role": role}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(MemberRecord {
            user,
            role,
            disabled: false,
        })
    }

    /// Adds an existing user to a tenant (CLI bootstrap).
    pub async fn add_member(
        &self,
        tenant: TenantId,
        user_id: UserId,
        role: Role,
    ) -> Result<(), StoreError> {
        insert_membership(self.db(), tenant, user_id, role).await
    }

    /// Changes a member. A password can only be set here for a user who belongs to this
    /// tenant alone: otherwise one tenant's admin could take over an account another
    /// tenant relies on.
    pub async fn update_member(
        &self,
        tenant: TenantId,
        user_id: UserId,
        patch: MemberPatch,
        actor: Option<String>,
    ) -> Result<MemberRecord, StoreError> {
        let txn = self.begin_write().await?;
        let Some(current) = find_member(&txn, tenant, user_id).await? else {
            return Err(StoreError::NotFound("user"));
        };
        let stays_active_admin = patch.role.unwrap_or(current.role) == Role::Admin
            && !patch.disabled.unwrap_or(current.disabled);
        if current.role == Role::Admin && !current.disabled && !stays_active_admin {
            ensure_another_active_admin(&txn, tenant, user_id).await?;
        }
        if patch.password_hash.is_some() {
            let tenants = membership::Entity::find()
                .filter(membership::Column::UserId.eq(user_id.to_string()))
                .count(&txn)
                .await?;
            if tenants > 1 || current.user.is_platform_admin {
                return Err(StoreError::Conflict(
                    "this user belongs to other tenants too; only they can change their password"
                        .into(),
                ));
            }
        }
        if patch.role.is_some() || patch.disabled.is_some() {
            let mut m: membership::ActiveModel =
                membership::Entity::find_by_id((tenant.to_string(), user_id.to_string()))
                    .one(&txn)
                    .await?
                    .ok_or(StoreError::NotFound("user"))?
                    .into();
            if let Some(role) = patch.role {
                m.role = Set(role.as_str().to_owned());
            }
            if let Some(disabled) = patch.disabled {
                m.disabled = Set(disabled);
            }
            m.update(&txn).await?;
        }
        if patch.name.is_some() || patch.password_hash.is_some() {
            let mut u: user::ActiveModel = user::Entity::find_by_id(user_id.to_string())
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound("user"))?
                .into();
            if let Some(name) = &patch.name {
                u.name = Set(name.clone());
            }
            if let Some(hash) = &patch.password_hash {
                u.password_hash = Set(hash.clone());
            }
            u.updated_at_ms = Set(now_ms());
            u.update(&txn).await?;
        }
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor,
                action: AuditAction::UserUpdate,
                target: user_id.to_string(),
                details: json!({
                    "role": patch.role,
                    "disabled": patch.disabled,
                    "name": patch.name,
                    "password_changed": patch.password_hash.is_some(),
                }),
            },
        )
        .await?;
        let updated = find_member(&txn, tenant, user_id)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Removes a user from a tenant, ends their sessions there, and deletes the user if
    /// they belong nowhere else.
    pub async fn remove_member(
        &self,
        tenant: TenantId,
        user_id: UserId,
        actor: Option<String>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let Some(current) = find_member(&txn, tenant, user_id).await? else {
            return Err(StoreError::NotFound("user"));
        };
        if current.role == Role::Admin && !current.disabled {
            ensure_another_active_admin(&txn, tenant, user_id).await?;
        }
        membership::Entity::delete_by_id((tenant.to_string(), user_id.to_string()))
            .exec(&txn)
            .await?;
        refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::TenantId.eq(tenant.to_string()))
            .filter(refresh_token::Column::UserId.eq(user_id.to_string()))
            .exec(&txn)
            .await?;
        delete_user_if_orphaned(&txn, &user_id.to_string()).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor,
                action: AuditAction::UserDelete,
                target: user_id.to_string(),
                details: json!({"email": current.user.email}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}
