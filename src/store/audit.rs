//! The audit log: who did what to which object, per tenant (or platform-wide).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;

use super::entities::audit_entry;
use super::{Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::TenantId;

/// What was done, as the audit log names it (`tenant.create`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    PlatformAdminCreate,
    TenantCreate,
    TenantUpdate,
    TenantDelete,
    UserCreate,
    UserUpdate,
    UserDelete,
    ApiKeyCreate,
    ApiKeyRevoke,
    AlertRuleCreate,
    AlertRuleUpdate,
    AlertRuleDelete,
    AlertAcknowledge,
    AlertUnacknowledge,
    ChannelCreate,
    ChannelUpdate,
    ChannelDelete,
    NotificationPolicyUpdate,
    NotificationRetry,
    SilenceCreate,
    SilenceUpdate,
    SilenceExpire,
    MuteTimingCreate,
    MuteTimingUpdate,
    MuteTimingDelete,
    InhibitRuleCreate,
    InhibitRuleUpdate,
    InhibitRuleDelete,
}

impl AuditAction {
    /// The stored name, stable: users filter the audit log by it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "auth.login",
            Self::PlatformAdminCreate => "platform_admin.create",
            Self::TenantCreate => "tenant.create",
            Self::TenantUpdate => "tenant.update",
            Self::TenantDelete => "tenant.delete",
            Self::UserCreate => "user.create",
            Self::UserUpdate => "user.update",
            Self::UserDelete => "user.delete",
            Self::ApiKeyCreate => "api_key.create",
            Self::ApiKeyRevoke => "api_key.revoke",
            Self::AlertRuleCreate => "alert_rule.create",
            Self::AlertRuleUpdate => "alert_rule.update",
            Self::AlertRuleDelete => "alert_rule.delete",
            Self::AlertAcknowledge => "alert.acknowledge",
            Self::AlertUnacknowledge => "alert.unacknowledge",
            Self::ChannelCreate => "channel.create",
            Self::ChannelUpdate => "channel.update",
            Self::ChannelDelete => "channel.delete",
            Self::NotificationPolicyUpdate => "notification_policy.update",
            Self::NotificationRetry => "notification.retry",
            Self::SilenceCreate => "silence.create",
            Self::SilenceUpdate => "silence.update",
            Self::SilenceExpire => "silence.expire",
            Self::MuteTimingCreate => "mute_timing.create",
            Self::MuteTimingUpdate => "mute_timing.update",
            Self::MuteTimingDelete => "mute_timing.delete",
            Self::InhibitRuleCreate => "inhibit_rule.create",
            Self::InhibitRuleUpdate => "inhibit_rule.update",
            Self::InhibitRuleDelete => "inhibit_rule.delete",
        }
    }
}

/// One action to record. `tenant: None` is a platform-level action.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub tenant: Option<TenantId>,
    pub actor: Option<String>,
    pub action: AuditAction,
    pub target: String,
    pub details: Value,
}

/// A recorded action, as read back.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: String,
    pub details: Value,
    pub created_at_ms: i64,
}

/// Writes an audit entry on any connection, so callers can make it part of the same
/// transaction as the change it describes.
pub(crate) async fn record_on<C: ConnectionTrait>(
    conn: &C,
    event: AuditEvent,
) -> Result<(), StoreError> {
    audit_entry::ActiveModel {
        tenant_id: Set(event.tenant.map(|t| t.to_string())),
        actor_id: Set(event.actor),
        action: Set(event.action.as_str().to_owned()),
        target: Set(event.target),
        details: Set(event.details.to_string()),
        created_at_ms: Set(now_ms()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn record_audit(&self, event: AuditEvent) -> Result<(), StoreError> {
        record_on(self.db(), event).await
    }

    /// The newest `limit` entries of one tenant, newest first.
    pub async fn list_audit(
        &self,
        tenant: TenantId,
        limit: u64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = audit_entry::Entity::find()
            .filter(audit_entry::Column::TenantId.eq(tenant.to_string()))
            .order_by_desc(audit_entry::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditRecord {
                id: row.id,
                actor: row.actor_id,
                action: row.action,
                target: row.target,
                details: serde_json::from_str(&row.details).unwrap_or(Value::Null),
                created_at_ms: row.created_at_ms,
            })
            .collect())
    }
}
