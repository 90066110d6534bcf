//! Tenants: created, changed and deleted by platform admins.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::{api_key, audit_entry, membership, refresh_token, tenant, user};
use super::users::{insert_user, NewUser, UserRecord};
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{Role, TenantId, TenantName, TenantSlug};

/// Per-tenant overrides of the process-wide limits; `None` means the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantLimits {
    pub max_series: Option<i64>,
    pub ingest_samples_per_sec: Option<i64>,
    pub raw_retention_days: Option<i64>,
    pub rollup_retention_days: Option<i64>,
    pub log_ingest_records_per_sec: Option<i64>,
    pub log_max_streams: Option<i64>,
    pub log_retention_days: Option<i64>,
}

/// A tenant as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRecord {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub limits: TenantLimits,
}

impl TryFrom<tenant::Model> for TenantRecord {
    type Error = StoreError;
    fn try_from(row: tenant::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&row.id, "tenant")?,
            slug: row.slug,
            name: row.name,
            disabled: row.disabled,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
            limits: TenantLimits {
                max_series: row.max_series,
                ingest_samples_per_sec: row.ingest_samples_per_sec,
                raw_retention_days: row.raw_retention_days,
                rollup_retention_days: row.rollup_retention_days,
                log_ingest_records_per_sec: row.log_ingest_records_per_sec,
                log_max_streams: row.log_max_streams,
                log_retention_days: row.log_retention_days,
            },
        })
    }
}

/// A change to a tenant; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct TenantPatch {
    pub name: Option<TenantName>,
    pub disabled: Option<bool>,
    /// Replaces all overrides when given.
    pub limits: Option<TenantLimits>,
}

impl Store {
    /// Creates a tenant and, when given, its first admin, in one transaction: either
    /// both exist afterwards or neither does.
    pub async fn create_tenant(
        &self,
        slug: TenantSlug,
        name: TenantName,
        first_admin: Option<NewUser>,
        actor: Option<String>,
    ) -> Result<(TenantRecord, Option<UserRecord>), StoreError> {
        let txn = self.begin_write().await?;
        let now = now_ms();
        let id = TenantId::generate();
        let row = tenant::ActiveModel {
            id: Set(id.to_string()),
            slug: Set(slug.as_str().to_owned()),
            name: Set(name.as_str().to_owned()),
            disabled: Set(false),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
            max_series: Set(None),
            ingest_samples_per_sec: Set(None),
            raw_retention_days: Set(None),
            rollup_retention_days: Set(None),
            log_ingest_records_per_sec: Set(None),
            log_max_streams: Set(None),
            log_retention_days: Set(None),
        }
        .insert(&txn)
        .await
        .map_err(|e| {
            StoreError::conflict_on_unique(
                e,
                format!("a tenant with slug \"{}\" already exists", slug.as_str()),
            )
        })?;
        let admin = match first_admin {
            Some(new_user) => {
                let user = insert_user(&txn, new_user, false).await?;
                super::users::insert_membership(&txn, id, user.id, Role::Admin).await?;
                Some(user)
            }
            None => None,
        };
        record_on(
            &txn,
            AuditEvent {
                tenant: None,
                actor,
                action: AuditAction::TenantCreate,
                target: id.to_string(),
                details: json!({"slug": slug.as_str(), "first_admin": admin.as_ref().map(|u| u.email.clone())}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok((row.try_into()?, admin))
    }

    pub async fn list_tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        tenant::Entity::find()
            .order_by_asc(tenant::Column::CreatedAtMs)
            .order_by_asc(tenant::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    pub async fn get_tenant(&self, id: TenantId) -> Result<Option<TenantRecord>, StoreError> {
        tenant::Entity::find_by_id(id.to_string())
            .one(self.db())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// Resolves the `tenant` a user names at login: a slug or an id.
    pub async fn find_tenant_by_slug_or_id(
        &self,
        handle: &str,
    ) -> Result<Option<TenantRecord>, StoreError> {
        let by_slug = tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(handle))
            .one(self.db())
            .await?;
        let row = match by_slug {
            Some(row) => Some(row),
            None => {
                tenant::Entity::find_by_id(handle.to_owned())
                    .one(self.db())
                    .await?
            }
        };
        row.map(TryInto::try_into).transpose()
    }

    pub async fn update_tenant(
        &self,
        id: TenantId,
        patch: TenantPatch,
        actor: Option<String>,
    ) -> Result<TenantRecord, StoreError> {
        let txn = self.begin_write().await?;
        let Some(current) = tenant::Entity::find_by_id(id.to_string()).one(&txn).await? else {
            return Err(StoreError::NotFound("tenant"));
        };
        let mut row: tenant::ActiveModel = current.into();
        if let Some(name) = &patch.name {
            row.name = Set(name.as_str().to_owned());
        }
        if let Some(disabled) = patch.disabled {
            row.disabled = Set(disabled);
        }
        if let Some(limits) = patch.limits {
            row.max_series = Set(limits.max_series);
            row.ingest_samples_per_sec = Set(limits.ingest_samples_per_sec);
            row.raw_retention_days = Set(limits.raw_retention_days);
            row.rollup_retention_days = Set(limits.rollup_retention_days);
            row.log_ingest_records_per_sec = Set(limits.log_ingest_records_per_sec);
            row.log_max_streams = Set(limits.log_max_streams);
            row.log_retention_days = Set(limits.log_retention_days);
        }
        row.updated_at_ms = Set(now_ms());
        let updated = row.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: None,
                actor,
                action: AuditAction::TenantUpdate,
                target: id.to_string(),
                details: json!({
                    "name": patch.name.map(|n| n.as_str().to_owned()),
                    "disabled": patch.disabled,
                    "limits": patch.limits.map(|l| json!({
                        "max_series": l.max_series,
                        "ingest_samples_per_sec": l.ingest_samples_per_sec,
                        "raw_retention_days": l.raw_retention_days,
                        "rollup_retention_days": l.rollup_retention_days,
                        "log_ingest_records_per_sec": l.log_ingest_records_per_sec,
                        "log_max_streams": l.log_max_streams,
                        "log_retention_days": l.log_retention_days,
                    })),
                }),
            },
        )
        .await?;
        txn.commit().await?;
        updated.try_into()
    }

    /// Deletes a tenant and everything it owns. Users left without any tenant (and
    /// who are not platform admins) are deleted too, so no orphan can still log in.
    pub async fn delete_tenant(
        &self,
        id: TenantId,
        actor: Option<String>,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let tenant_id = id.to_string();
        if tenant::Entity::find_by_id(tenant_id.clone())
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound("tenant"));
        }
        let members: Vec<String> = membership::Entity::find()
            .filter(membership::Column::TenantId.eq(tenant_id.clone()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        api_key::Entity::delete_many()
            .filter(api_key::Column::TenantId.eq(tenant_id.clone()))
            .exec(&txn)
            .await?;
        refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::TenantId.eq(tenant_id.clone()))
            .exec(&txn)
            .await?;
        membership::Entity::delete_many()
            .filter(membership::Column::TenantId.eq(tenant_id.clone()))
            .exec(&txn)
            .await?;
        audit_entry::Entity::delete_many()
            .filter(audit_entry::Column::TenantId.eq(tenant_id.clone()))
            .exec(&txn)
            .await?;
        tenant::Entity::delete_by_id(tenant_id.clone())
            .exec(&txn)
            .await?;
        for user_id in members {
            delete_user_if_orphaned(&txn, &user_id).await?;
        }
        record_on(
            &txn,
            AuditEvent {
                tenant: None,
                actor,
                action: AuditAction::TenantDelete,
                target: tenant_id,
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Deletes a user who belongs to no tenant and is not a platform admin.
pub(crate) async fn delete_user_if_orphaned<C: ConnectionTrait>(
    conn: &C,
    user_id: &str,
) -> Result<(), StoreError> {
    let remaining = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .count(conn)
        .await?;
    if remaining == 0 {
        user::Entity::delete_many()
            .filter(user::Column::Id.eq(user_id))
            .filter(user::Column::IsPlatformAdmin.eq(false))
            .exec(conn)
            .await?;
    }
    Ok(())
}
