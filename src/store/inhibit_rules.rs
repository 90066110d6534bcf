//! Inhibit rules, per tenant, and the firing alerts they are judged against.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::inhibit_rule;
use super::{parse_id, Store, StoreError};
use crate::alerting::AlertState;
use crate::domain::time::now_ms;
use crate::domain::{InhibitRuleId, TenantId};
use crate::notify::inhibit::{FiringAlert, InhibitRule};

#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRuleRecord {
    pub id: InhibitRuleId,
    /// As accepted.
    pub definition: Value,
    pub rule: InhibitRule,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl TryFrom<inhibit_rule::Model> for InhibitRuleRecord {
    type Error = StoreError;

    fn try_from(row: inhibit_rule::Model) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("inhibit rule {} definition", row.id));
        let definition: Value = serde_json::from_str(&row.definition).map_err(|_| corrupt())?;
        let rule = InhibitRule::from_json(row.id.clone(), &definition).map_err(|_| corrupt())?;
        Ok(Self {
            id: parse_id(&row.id, "inhibit rule")?,
            definition,
            rule,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

impl Store {
    pub async fn create_inhibit_rule(
        &self,
        tenant: TenantId,
        definition: &Value,
        actor: String,
    ) -> Result<InhibitRuleRecord, StoreError> {
        let txn = self.begin_write().await?;
        let id = InhibitRuleId::generate();
        let at = now_ms();
        let row = inhibit_rule::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(tenant.to_string()),
            definition: Set(definition.to_string()),
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
                action: AuditAction::InhibitRuleCreate,
                target: id.to_string(),
                details: definition.clone(),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    pub async fn update_inhibit_rule(
        &self,
        tenant: TenantId,
        id: InhibitRuleId,
        definition: &Value,
        actor: String,
    ) -> Result<InhibitRuleRecord, StoreError> {
        let txn = self.begin_write().await?;
        let row = inhibit_rule::Entity::find_by_id(id.to_string())
            .filter(inhibit_rule::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("inhibit rule"))?;
        let mut active: inhibit_rule::ActiveModel = row.into();
        active.definition = Set(definition.to_string());
        active.updated_at_ms = Set(now_ms());
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::InhibitRuleUpdate,
                target: id.to_string(),
                details: definition.clone(),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    pub async fn delete_inhibit_rule(
        &self,
        tenant: TenantId,
        id: InhibitRuleId,
        actor: String,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let deleted = inhibit_rule::Entity::delete_many()
            .filter(inhibit_rule::Column::Id.eq(id.to_string()))
            .filter(inhibit_rule::Column::TenantId.eq(tenant.to_string()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound("inhibit rule"));
        }
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::InhibitRuleDelete,
                target: id.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn inhibit_rule(
        &self,
        tenant: TenantId,
        id: InhibitRuleId,
    ) -> Result<InhibitRuleRecord, StoreError> {
        inhibit_rule::Entity::find_by_id(id.to_string())
            .filter(inhibit_rule::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("inhibit rule"))?
            .try_into()
    }

    pub async fn list_inhibit_rules(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<InhibitRuleRecord>, StoreError> {
        inhibit_rule::Entity::find()
            .filter(inhibit_rule::Column::TenantId.eq(tenant.to_string()))
            .order_by_asc(inhibit_rule::Column::CreatedAtMs)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Every alert of the tenant firing now: the evaluator's and posted ones.
    pub async fn firing_alerts(&self, tenant: TenantId) -> Result<Vec<FiringAlert>, StoreError> {
        let mut firing: Vec<FiringAlert> = self
            .alert_instances(tenant, None, false)
            .await?
            .into_iter()
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| FiringAlert {
                labels: serde_json::from_str(&a.labels).unwrap_or_default(),
                fingerprint: a.fingerprint,
            })
            .collect();
        firing.extend(
            self.posted_alerts(tenant, false)
                .await?
                .into_iter()
                .map(|a| FiringAlert {
                    fingerprint: a.fingerprint,
                    labels: a.labels,
                }),
        );
        Ok(firing)
    }
}
