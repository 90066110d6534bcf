//! Silences, per tenant. A silence is never deleted: ending it early sets its end to now,
//! so what held back which notification stays explainable.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::silence;
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{SilenceId, TenantId};
use crate::notify::matcher::{matchers_from_json, Matcher};
use crate::notify::silence::{Silence, SilenceDraft};

#[derive(Debug, Clone, PartialEq)]
pub struct SilenceRecord {
    pub id: SilenceId,
    pub tenant: TenantId,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub comment: String,
    pub created_by: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl SilenceRecord {
    pub fn silence(&self) -> Silence {
        Silence {
            id: self.id.to_string(),
            matchers: self.matchers.clone(),
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
        }
    }
}

impl TryFrom<silence::Model> for SilenceRecord {
    type Error = StoreError;

    fn try_from(row: silence::Model) -> Result<Self, StoreError> {
        let matchers = serde_json::from_str::<Value>(&row.matchers)
            .ok()
            .and_then(|v| matchers_from_json(Some(&v)).ok())
            .ok_or_else(|| StoreError::Corrupt(format!("silence {} matchers", row.id)))?;
        Ok(Self {
            id: parse_id(&row.id, "silence")?,
            tenant: parse_id(&row.tenant_id, "tenant")?,
            matchers,
            starts_at_ms: row.starts_at_ms,
            ends_at_ms: row.ends_at_ms,
            comment: row.comment,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

fn matchers_text(draft: &SilenceDraft) -> String {
    Value::Array(draft.matchers.iter().map(Matcher::to_json).collect()).to_string()
}

impl Store {
    pub async fn create_silence(
        &self,
        tenant: TenantId,
        draft: &SilenceDraft,
        actor: String,
    ) -> Result<SilenceRecord, StoreError> {
        let txn = self.begin_write().await?;
        let id = SilenceId::generate();
        let at = now_ms();
        let created_by = draft.created_by.clone().unwrap_or_else(|| actor.clone());
        let row = silence::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(tenant.to_string()),
            matchers: Set(matchers_text(draft)),
            starts_at_ms: Set(draft.starts_at_ms),
            ends_at_ms: Set(draft.ends_at_ms),
            comment: Set(draft.comment.clone()),
            created_by: Set(created_by),
            created_at_ms: Set(at),
            updated_at_ms: Set(at),
        }
        .insert(&txn)
        .await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::SilenceCreate,
                target: id.to_string(),
                details: json!({"matchers": matchers_text(draft), "ends_at_ms": draft.ends_at_ms}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Replaces a silence's matchers, times and comment (Alertmanager's `POST` with an id).
    pub async fn update_silence(
        &self,
        tenant: TenantId,
        id: SilenceId,
        draft: &SilenceDraft,
        actor: String,
    ) -> Result<SilenceRecord, StoreError> {
        let txn = self.begin_write().await?;
        let row = silence::Entity::find_by_id(id.to_string())
            .filter(silence::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("silence"))?;
        let mut active: silence::ActiveModel = row.into();
        active.matchers = Set(matchers_text(draft));
        active.starts_at_ms = Set(draft.starts_at_ms);
        active.ends_at_ms = Set(draft.ends_at_ms);
        active.comment = Set(draft.comment.clone());
        active.updated_at_ms = Set(now_ms());
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::SilenceUpdate,
                target: id.to_string(),
                details: json!({"matchers": matchers_text(draft), "ends_at_ms": draft.ends_at_ms}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Ends a silence now (a pending one never starts); 404 if unknown. Ending an expired
    /// silence changes nothing.
    pub async fn expire_silence(
        &self,
        tenant: TenantId,
        id: SilenceId,
        actor: String,
    ) -> Result<SilenceRecord, StoreError> {
        let txn = self.begin_write().await?;
        let row = silence::Entity::find_by_id(id.to_string())
            .filter(silence::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("silence"))?;
        let at = now_ms();
        if row.ends_at_ms <= at {
            txn.commit().await?;
            return row.try_into();
        }
        let mut active: silence::ActiveModel = row.clone().into();
        active.ends_at_ms = Set(at);
        if row.starts_at_ms > at {
            active.starts_at_ms = Set(at);
        }
        active.updated_at_ms = Set(at);
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::SilenceExpire,
                target: id.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    pub async fn silence(
        &self,
        tenant: TenantId,
        id: SilenceId,
    ) -> Result<SilenceRecord, StoreError> {
        silence::Entity::find_by_id(id.to_string())
            .filter(silence::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("silence"))?
            .try_into()
    }

    /// Every silence of the tenant, newest first; only those not yet ended when
    /// `unexpired_at` is given.
    pub async fn list_silences(
        &self,
        tenant: TenantId,
        unexpired_at: Option<i64>,
    ) -> Result<Vec<SilenceRecord>, StoreError> {
        let mut select =
            silence::Entity::find().filter(silence::Column::TenantId.eq(tenant.to_string()));
        if let Some(at) = unexpired_at {
            select = select.filter(silence::Column::EndsAtMs.gt(at));
        }
        select
            .order_by_desc(silence::Column::CreatedAtMs)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
