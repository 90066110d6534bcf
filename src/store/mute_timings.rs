//! Mute timings, per tenant, by unique name. One that the policy tree names cannot be
//! deleted (409), so a policy never points at nothing.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::mute_timing;
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{MuteTimingId, TenantId};
use crate::notify::mute::MuteTiming;

#[derive(Debug, Clone, PartialEq)]
pub struct MuteTimingRecord {
    pub id: MuteTimingId,
    pub name: String,
    /// As accepted (Alertmanager's `time_intervals`).
    pub time_intervals: Value,
    pub timing: MuteTiming,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl TryFrom<mute_timing::Model> for MuteTimingRecord {
    type Error = StoreError;

    fn try_from(row: mute_timing::Model) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("mute timing {} intervals", row.id));
        let time_intervals: Value =
            serde_json::from_str(&row.time_intervals).map_err(|_| corrupt())?;
        let timing =
            MuteTiming::from_json(&json!({"name": row.name, "time_intervals": time_intervals}))
                .map_err(|_| corrupt())?;
        Ok(Self {
            id: parse_id(&row.id, "mute timing")?,
            name: row.name,
            time_intervals,
            timing,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

fn duplicate(name: &str) -> String {
    format!("a mute timing named {name:?} already exists")
}

impl Store {
    pub async fn create_mute_timing(
        &self,
        tenant: TenantId,
        timing: &MuteTiming,
        time_intervals: &Value,
        actor: String,
    ) -> Result<MuteTimingRecord, StoreError> {
        let txn = self.begin_write().await?;
        let id = MuteTimingId::generate();
        let at = now_ms();
        let row = mute_timing::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(tenant.to_string()),
            name: Set(timing.name.clone()),
            time_intervals: Set(time_intervals.to_string()),
            created_at_ms: Set(at),
            updated_at_ms: Set(at),
        }
        .insert(&txn)
        .await
        .map_err(|e| StoreError::conflict_on_unique(e, duplicate(&timing.name)))?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::MuteTimingCreate,
                target: id.to_string(),
                details: json!({"name": timing.name}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Replaces a timing's intervals; its name stays (policies refer to it by name).
    pub async fn update_mute_timing(
        &self,
        tenant: TenantId,
        id: MuteTimingId,
        time_intervals: &Value,
        actor: String,
    ) -> Result<MuteTimingRecord, StoreError> {
        let txn = self.begin_write().await?;
        let row = mute_timing::Entity::find_by_id(id.to_string())
            .filter(mute_timing::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("mute timing"))?;
        let name = row.name.clone();
        let mut active: mute_timing::ActiveModel = row.into();
        active.time_intervals = Set(time_intervals.to_string());
        active.updated_at_ms = Set(now_ms());
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::MuteTimingUpdate,
                target: id.to_string(),
                details: json!({"name": name}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Deletes a timing; 409 while the policy tree (`in_use`) names it.
    pub async fn delete_mute_timing(
        &self,
        tenant: TenantId,
        id: MuteTimingId,
        in_use: &[String],
        actor: String,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let row = mute_timing::Entity::find_by_id(id.to_string())
            .filter(mute_timing::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("mute timing"))?;
        if in_use.contains(&row.name) {
            return Err(StoreError::Conflict(format!(
                "the notification policies use the mute timing {:?}; remove it from them first",
                row.name
            )));
        }
        mute_timing::Entity::delete_by_id(id.to_string())
            .exec(&txn)
            .await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::MuteTimingDelete,
                target: id.to_string(),
                details: json!({"name": row.name}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn mute_timing(
        &self,
        tenant: TenantId,
        id: MuteTimingId,
    ) -> Result<MuteTimingRecord, StoreError> {
        mute_timing::Entity::find_by_id(id.to_string())
            .filter(mute_timing::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("mute timing"))?
            .try_into()
    }

    pub async fn list_mute_timings(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<MuteTimingRecord>, StoreError> {
        mute_timing::Entity::find()
            .filter(mute_timing::Column::TenantId.eq(tenant.to_string()))
            .order_by_asc(mute_timing::Column::Name)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
