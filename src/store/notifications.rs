//! Channels, the notification policy tree, and the notification outbox. Outbox rows are
//! written with the alert events that caused them (`record_alert_changes`); delivery
//! claims them (`FOR UPDATE SKIP LOCKED` on PostgreSQL), sends, and records the outcome.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value as DbValue,
};
use serde_json::{json, Map, Value};

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::{channel, notification_outbox, notification_policy};
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{AlertId, ChannelId, NotificationId, TenantId};
use crate::notify::message::NotifiedAlert;
use crate::notify::policy::Timings;
use crate::notify::template::MessageTemplate;

/// A stored channel; `config` holds its secrets (the API masks them).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    pub id: ChannelId,
    pub tenant: TenantId,
    pub name: String,
    pub kind: String,
    pub config: Map<String, Value>,
    pub send_resolved: bool,
    /// Messages per minute; `None`: the process default.
    pub max_per_minute: Option<u32>,
    pub template: Option<MessageTemplate>,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl TryFrom<channel::Model> for ChannelRecord {
    type Error = StoreError;

    fn try_from(row: channel::Model) -> Result<Self, StoreError> {
        let config = match serde_json::from_str(&row.config) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "channel {} config is not a JSON object",
                    row.id
                )))
            }
        };
        let template = match row.template.as_deref().map(serde_json::from_str::<Value>) {
            None => None,
            Some(Ok(value)) => MessageTemplate::from_json(&value)
                .map_err(|e| StoreError::Corrupt(format!("channel {} template: {e}", row.id)))?,
            Some(Err(e)) => {
                return Err(StoreError::Corrupt(format!(
                    "channel {} template is not JSON: {e}",
                    row.id
                )))
            }
        };
        Ok(Self {
            id: parse_id(&row.id, "channel")?,
            tenant: parse_id(&row.tenant_id, "tenant")?,
            name: row.name,
            kind: row.kind,
            config,
            send_resolved: row.send_resolved,
            max_per_minute: row.max_per_minute.and_then(|n| u32::try_from(n).ok()),
            template,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// A channel as written (validated by the API).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelWrite {
    pub name: String,
    pub kind: String,
    pub config: Map<String, Value>,
    pub send_resolved: bool,
    pub max_per_minute: Option<u32>,
    pub template: Option<MessageTemplate>,
}

/// Where a row is in delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotificationStatus {
    /// Waiting for its group's time.
    Pending,
    /// An attempt failed; waiting for the next (`next_attempt_at_ms`).
    Failed,
    /// Claimed by a delivery worker until `claimed_until_ms`.
    Sending,
    Sent,
    /// Will not be sent: refused, or out of attempts. `POST …/retry` sends it again.
    Dead,
    Silenced,
    Muted,
    Throttled,
}

impl NotificationStatus {
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::Failed,
        Self::Sending,
        Self::Sent,
        Self::Dead,
        Self::Silenced,
        Self::Muted,
        Self::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Failed => "failed",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Dead => "dead",
            Self::Silenced => "silenced",
            Self::Muted => "muted",
            Self::Throttled => "throttled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Statuses that still await delivery.
    pub const OPEN: [Self; 4] = [Self::Pending, Self::Failed, Self::Throttled, Self::Sending];

    pub fn open_names() -> [&'static str; 4] {
        Self::OPEN.map(Self::as_str)
    }
}

/// A decision to notify one channel of one alert event, written with the event.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDraft {
    pub channel_id: ChannelId,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub alert: NotifiedAlert,
    pub timings: Timings,
    /// The route's mute and active timings, by name.
    pub mute_timings: Vec<String>,
    pub active_timings: Vec<String>,
    /// Which of the change's transitions caused it (its event id is filled in).
    pub transition_index: usize,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub tenant: TenantId,
    pub channel_id: ChannelId,
    pub group_key: String,
    pub group_labels: BTreeMap<String, String>,
    pub alert_id: AlertId,
    pub event_id: Option<i64>,
    pub transition: String,
    pub alert: NotifiedAlert,
    pub timings: Timings,
    pub mute_timings: Vec<String>,
    pub active_timings: Vec<String>,
    pub status: NotificationStatus,
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub claimed_until_ms: Option<i64>,
    pub last_error: Option<String>,
    pub provider_status: Option<u16>,
    pub event_at_ms: i64,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

impl TryFrom<notification_outbox::Model> for NotificationRecord {
    type Error = StoreError;

    fn try_from(row: notification_outbox::Model) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("notification {} {what}", row.id));
        Ok(Self {
            id: parse_id(&row.id, "notification")?,
            tenant: parse_id(&row.tenant_id, "tenant")?,
            channel_id: parse_id(&row.channel_id, "channel")?,
            group_labels: serde_json::from_str(&row.group_labels)
                .map_err(|_| corrupt("group labels are not a JSON object"))?,
            alert_id: parse_id(&row.alert_id, "alert")?,
            alert: serde_json::from_str(&row.alert).map_err(|_| corrupt("alert is not valid"))?,
            status: NotificationStatus::parse(&row.status)
                .ok_or_else(|| corrupt("status is unknown"))?,
            group_key: row.group_key,
            event_id: row.event_id,
            transition: row.transition,
            timings: Timings {
                group_wait_ms: row.group_wait_ms,
                group_interval_ms: row.group_interval_ms,
                repeat_interval_ms: row.repeat_interval_ms,
            },
            mute_timings: serde_json::from_str(&row.mute_timings)
                .map_err(|_| corrupt("mute timings are not a list"))?,
            active_timings: serde_json::from_str(&row.active_timings)
                .map_err(|_| corrupt("active timings are not a list"))?,
            attempts: row.attempts.max(0) as u32,
            next_attempt_at_ms: row.next_attempt_at_ms,
            claimed_until_ms: row.claimed_until_ms,
            last_error: row.last_error,
            provider_status: row.provider_status.and_then(|s| u16::try_from(s).ok()),
            event_at_ms: row.event_at_ms,
            created_at_ms: row.created_at_ms,
            sent_at_ms: row.sent_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// What delivery learned about a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Sent {
        provider_status: Option<u16>,
    },
    /// Back to pending, not before `next_attempt_at_ms`.
    Retry {
        next_attempt_at_ms: i64,
        error: String,
        provider_status: Option<u16>,
    },
    Dead {
        error: String,
        provider_status: Option<u16>,
    },
    /// Held back for good (silenced, muted), with why.
    HeldBack {
        status: NotificationStatus,
        reason: String,
    },
    /// Over a rate limit: waits, not before `until_ms`.
    Throttled {
        until_ms: i64,
        reason: String,
    },
}

/// Which rows `GET /api/v1/notifications` lists, newest first.
#[derive(Debug, Clone, Default)]
pub struct NotificationQuery {
    pub channel_id: Option<ChannelId>,
    pub alert_id: Option<AlertId>,
    pub status: Option<NotificationStatus>,
    /// Rows created before this one (the cursor).
    pub before: Option<NotificationId>,
    pub limit: u64,
}

/// The row to insert for a draft (inside the alert event's transaction).
pub(crate) fn outbox_row(
    tenant: TenantId,
    draft: &OutboxDraft,
    event_id: Option<i64>,
    at_ms: i64,
) -> Result<notification_outbox::ActiveModel, StoreError> {
    let alert = serde_json::to_string(&draft.alert)
        .map_err(|e| StoreError::Corrupt(format!("notified alert: {e}")))?;
    Ok(notification_outbox::ActiveModel {
        id: Set(NotificationId::generate().to_string()),
        tenant_id: Set(tenant.to_string()),
        channel_id: Set(draft.channel_id.to_string()),
        group_key: Set(draft.group_key.clone()),
        group_labels: Set(json!(draft.group_labels).to_string()),
        alert_id: Set(draft.alert.alert_id.clone()),
        rule_id: Set(draft.alert.rule_id.clone()),
        fingerprint: Set(draft.alert.fingerprint.clone()),
        event_id: Set(event_id),
        transition: Set(draft.alert.transition.clone()),
        alert: Set(alert),
        group_wait_ms: Set(draft.timings.group_wait_ms),
        group_interval_ms: Set(draft.timings.group_interval_ms),
        repeat_interval_ms: Set(draft.timings.repeat_interval_ms),
        mute_timings: Set(json!(draft.mute_timings).to_string()),
        active_timings: Set(json!(draft.active_timings).to_string()),
        status: Set(NotificationStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at_ms: Set(at_ms),
        claimed_until_ms: Set(None),
        last_error: Set(None),
        provider_status: Set(None),
        event_at_ms: Set(draft.alert.at_ms),
        created_at_ms: Set(at_ms),
        sent_at_ms: Set(None),
        updated_at_ms: Set(at_ms),
    })
}

fn channel_row(
    tenant: TenantId,
    id: ChannelId,
    channel: &ChannelWrite,
    created_by: Option<String>,
    at_ms: i64,
) -> channel::ActiveModel {
    channel::ActiveModel {
        id: Set(id.to_string()),
        tenant_id: Set(tenant.to_string()),
        name: Set(channel.name.clone()),
        kind: Set(channel.kind.clone()),
        config: Set(Value::Object(channel.config.clone()).to_string()),
        send_resolved: Set(channel.send_resolved),
        max_per_minute: Set(channel.max_per_minute.map(i64::from)),
        template: Set(channel.template.as_ref().map(|t| t.to_json().to_string())),
        created_by: Set(created_by),
        created_at_ms: Set(at_ms),
        updated_at_ms: Set(at_ms),
    }
}

fn duplicate_name(name: &str) -> String {
    format!("a channel named {name:?} already exists")
}

impl Store {
    pub async fn create_channel(
        &self,
        tenant: TenantId,
        channel: ChannelWrite,
        actor: String,
    ) -> Result<ChannelRecord, StoreError> {
        let txn = self.begin_write().await?;
        let id = ChannelId::generate();
        let row = channel_row(tenant, id, &channel, Some(actor.clone()), now_ms())
            .insert(&txn)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, duplicate_name(&channel.name)))?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::ChannelCreate,
                target: id.to_string(),
                details: json!({"name": channel.name, "kind": channel.kind}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    pub async fn list_channels(&self, tenant: TenantId) -> Result<Vec<ChannelRecord>, StoreError> {
        channel::Entity::find()
            .filter(channel::Column::TenantId.eq(tenant.to_string()))
            .order_by_asc(channel::Column::Name)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    pub async fn channel(
        &self,
        tenant: TenantId,
        id: ChannelId,
    ) -> Result<ChannelRecord, StoreError> {
        channel::Entity::find_by_id(id.to_string())
            .filter(channel::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("channel"))?
            .try_into()
    }

    pub async fn update_channel(
        &self,
        tenant: TenantId,
        id: ChannelId,
        channel: ChannelWrite,
        actor: String,
    ) -> Result<ChannelRecord, StoreError> {
        let txn = self.begin_write().await?;
        let existing = channel::Entity::find_by_id(id.to_string())
            .filter(channel::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("channel"))?;
        let mut row = channel_row(
            tenant,
            id,
            &channel,
            existing.created_by.clone(),
            existing.created_at_ms,
        );
        row.updated_at_ms = Set(now_ms());
        let row = row
            .update(&txn)
            .await
            .map_err(|e| StoreError::conflict_on_unique(e, duplicate_name(&channel.name)))?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::ChannelUpdate,
                target: id.to_string(),
                details: json!({"name": channel.name, "kind": channel.kind}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Deletes a channel; its undelivered notifications go with it.
    pub async fn delete_channel(
        &self,
        tenant: TenantId,
        id: ChannelId,
        actor: String,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let deleted = channel::Entity::delete_many()
            .filter(channel::Column::Id.eq(id.to_string()))
            .filter(channel::Column::TenantId.eq(tenant.to_string()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        notification_outbox::Entity::delete_many()
            .filter(notification_outbox::Column::TenantId.eq(tenant.to_string()))
            .filter(notification_outbox::Column::ChannelId.eq(id.to_string()))
            .filter(notification_outbox::Column::Status.is_in(NotificationStatus::open_names()))
            .exec(&txn)
            .await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::ChannelDelete,
                target: id.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The tenant's policy tree as stored (JSON), if it set one.
    pub async fn notification_policy(
        &self,
        tenant: TenantId,
    ) -> Result<Option<String>, StoreError> {
        Ok(notification_policy::Entity::find_by_id(tenant.to_string())
            .one(self.db())
            .await?
            .map(|row| row.tree))
    }

    pub async fn set_notification_policy(
        &self,
        tenant: TenantId,
        tree: String,
        actor: String,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        notification_policy::Entity::delete_by_id(tenant.to_string())
            .exec(&txn)
            .await?;
        notification_policy::ActiveModel {
            tenant_id: Set(tenant.to_string()),
            tree: Set(tree),
            updated_at_ms: Set(now_ms()),
        }
        .insert(&txn)
        .await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::NotificationPolicyUpdate,
                target: tenant.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Rows still to deliver (pending, or claimed by a worker that may have died), oldest
    /// first, at most `limit`.
    pub async fn open_notifications(
        &self,
        tenant: TenantId,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        notification_outbox::Entity::find()
            .filter(notification_outbox::Column::TenantId.eq(tenant.to_string()))
            .filter(notification_outbox::Column::Status.is_in(NotificationStatus::open_names()))
            .order_by_asc(notification_outbox::Column::CreatedAtMs)
            .order_by_asc(notification_outbox::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// When each (channel, group) was last notified, for groups sent to at or after
    /// `since_ms`: what delivery needs after a restart to keep `group_interval`.
    pub async fn last_notified(
        &self,
        tenant: TenantId,
        since_ms: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        notification_outbox::Entity::find()
            .filter(notification_outbox::Column::TenantId.eq(tenant.to_string()))
            .filter(notification_outbox::Column::Status.eq(NotificationStatus::Sent.as_str()))
            .filter(notification_outbox::Column::SentAtMs.gte(since_ms))
            .order_by_asc(notification_outbox::Column::SentAtMs)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Claims rows for one delivery: those of `ids` still open and not claimed by a live
    /// worker become `sending` until `claimed_until_ms`. Answers the ids claimed;
    /// PostgreSQL skips rows another worker holds locked. On SQLite (one process by
    /// definition: the file is not shared across replicas, and a tenant has one notifier)
    /// there is no other worker to exclude, and the claim would be one more wait for the
    /// single writer: the ids are answered as given.
    pub async fn claim_notifications(
        &self,
        tenant: TenantId,
        ids: &[NotificationId],
        now_ms: i64,
        claimed_until_ms: i64,
    ) -> Result<Vec<NotificationId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.backend();
        let postgres = backend == DbBackend::Postgres;
        if !postgres {
            return Ok(ids.to_vec());
        }
        let placeholder = |n: usize| {
            if postgres {
                format!("${n}")
            } else {
                "?".to_owned()
            }
        };
        let mut values: Vec<DbValue> = vec![
            claimed_until_ms.into(),
            now_ms.into(),
            tenant.to_string().into(),
            now_ms.into(),
        ];
        let id_places: Vec<String> = ids
            .iter()
            .map(|id| {
                values.push(id.to_string().into());
                placeholder(values.len())
            })
            .collect();
        let lock = if postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE notification_outbox SET status = 'sending', claimed_until_ms = {}, \
             updated_at_ms = {} \
             WHERE id IN (SELECT id FROM notification_outbox WHERE tenant_id = {} \
             AND (status IN ('pending', 'failed', 'throttled') OR (status = 'sending' AND claimed_until_ms < {})) \
             AND id IN ({}){lock}) RETURNING id",
            placeholder(1),
            placeholder(2),
            placeholder(3),
            placeholder(4),
            id_places.join(", ")
        );
        let rows = self
            .db()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        rows.into_iter()
            .map(|row| {
                let id: String = row.try_get("", "id")?;
                parse_id(&id, "notification")
            })
            .collect()
    }

    /// Records what happened to claimed rows (a send counts one more attempt).
    pub async fn finish_notifications(
        &self,
        tenant: TenantId,
        ids: &[NotificationId],
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        use notification_outbox::Column as C;
        let mut update = notification_outbox::Entity::update_many()
            .col_expr(C::UpdatedAtMs, Expr::value(at))
            .col_expr(C::ClaimedUntilMs, Expr::value(Option::<i64>::None));
        if !matches!(
            outcome,
            DeliveryOutcome::HeldBack { .. } | DeliveryOutcome::Throttled { .. }
        ) {
            update = update.col_expr(
                C::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(C::Attempts), 1),
            );
        }
        let (status, error, provider_status) = match outcome {
            DeliveryOutcome::Sent { provider_status } => {
                update = update.col_expr(C::SentAtMs, Expr::value(at));
                (NotificationStatus::Sent, None, *provider_status)
            }
            DeliveryOutcome::Retry {
                next_attempt_at_ms,
                error,
                provider_status,
            } => {
                update = update.col_expr(C::NextAttemptAtMs, Expr::value(*next_attempt_at_ms));
                (
                    NotificationStatus::Failed,
                    Some(error.clone()),
                    *provider_status,
                )
            }
            DeliveryOutcome::Dead {
                error,
                provider_status,
            } => (
                NotificationStatus::Dead,
                Some(error.clone()),
                *provider_status,
            ),
            DeliveryOutcome::HeldBack { status, reason } => (*status, Some(reason.clone()), None),
            DeliveryOutcome::Throttled { until_ms, reason } => {
                update = update.col_expr(C::NextAttemptAtMs, Expr::value(*until_ms));
                (NotificationStatus::Throttled, Some(reason.clone()), None)
            }
        };
        update
            .col_expr(C::Status, Expr::value(status.as_str()))
            .col_expr(C::LastError, Expr::value(error))
            .col_expr(
                C::ProviderStatus,
                Expr::value(provider_status.map(i32::from)),
            )
            .filter(C::TenantId.eq(tenant.to_string()))
            .filter(C::Id.is_in(ids.iter().map(ToString::to_string)))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Rows newest first, after the filters.
    pub async fn list_notifications(
        &self,
        tenant: TenantId,
        query: &NotificationQuery,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        use notification_outbox::Column as C;
        let mut select =
            notification_outbox::Entity::find().filter(C::TenantId.eq(tenant.to_string()));
        if let Some(channel) = query.channel_id {
            select = select.filter(C::ChannelId.eq(channel.to_string()));
        }
        if let Some(alert) = query.alert_id {
            select = select.filter(C::AlertId.eq(alert.to_string()));
        }
        if let Some(status) = query.status {
            select = select.filter(C::Status.eq(status.as_str()));
        }
        if let Some(before) = query.before {
            // Ids are time-ordered (UUIDv7): the text order is the creation order.
            select = select.filter(C::Id.lt(before.to_string()));
        }
        select
            .order_by_desc(C::Id)
            .limit(query.limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    pub async fn notification(
        &self,
        tenant: TenantId,
        id: NotificationId,
    ) -> Result<NotificationRecord, StoreError> {
        notification_outbox::Entity::find_by_id(id.to_string())
            .filter(notification_outbox::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("notification"))?
            .try_into()
    }

    /// Sends a dead letter again: back to pending, due now, attempts from zero.
    pub async fn retry_notification(
        &self,
        tenant: TenantId,
        id: NotificationId,
        actor: String,
    ) -> Result<NotificationRecord, StoreError> {
        use notification_outbox::Column as C;
        let txn = self.begin_write().await?;
        let row = notification_outbox::Entity::find_by_id(id.to_string())
            .filter(C::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound("notification"))?;
        if row.status != NotificationStatus::Dead.as_str() {
            return Err(StoreError::Conflict(format!(
                "the notification is {}; only a dead one can be retried",
                row.status
            )));
        }
        let at = now_ms();
        let mut active: notification_outbox::ActiveModel = row.into();
        active.status = Set(NotificationStatus::Pending.as_str().to_owned());
        active.attempts = Set(0);
        active.next_attempt_at_ms = Set(at);
        active.updated_at_ms = Set(at);
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::NotificationRetry,
                target: id.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Writes rows that no alert event caused (repeats of still-firing alerts, test
    /// messages held for delivery).
    pub async fn insert_notifications(
        &self,
        tenant: TenantId,
        drafts: &[OutboxDraft],
    ) -> Result<(), StoreError> {
        if drafts.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        let at = now_ms();
        for draft in drafts {
            outbox_row(tenant, draft, None, at)?.insert(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// The messages an acknowledgement sends: to every channel of `kinds` (those whose
/// provider has an acknowledge action) that last heard of the alert as firing, the alert
/// again as `acknowledged`, in its group.
pub(crate) async fn acknowledgement_drafts_on(
    txn: &impl ConnectionTrait,
    tenant: TenantId,
    alert_id: AlertId,
    kinds: &[&str],
    at_ms: i64,
) -> Result<Vec<OutboxDraft>, StoreError> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let channels: Vec<String> = channel::Entity::find()
        .select_only()
        .column(channel::Column::Id)
        .filter(channel::Column::TenantId.eq(tenant.to_string()))
        .filter(channel::Column::Kind.is_in(kinds.iter().copied()))
        .into_tuple()
        .all(txn)
        .await?;
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let sent = notification_outbox::Entity::find()
        .filter(notification_outbox::Column::TenantId.eq(tenant.to_string()))
        .filter(notification_outbox::Column::AlertId.eq(alert_id.to_string()))
        .filter(notification_outbox::Column::ChannelId.is_in(channels))
        .filter(notification_outbox::Column::Status.eq(NotificationStatus::Sent.as_str()))
        .order_by_desc(notification_outbox::Column::CreatedAtMs)
        .limit(1_000)
        .all(txn)
        .await?;
    let mut drafts: Vec<OutboxDraft> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in sent {
        let row = NotificationRecord::try_from(row)?;
        if !seen.insert((row.channel_id, row.group_key.clone())) {
            continue;
        }
        if row.alert.status != crate::notify::message::AlertStatus::Firing {
            continue;
        }
        drafts.push(OutboxDraft {
            channel_id: row.channel_id,
            group_key: row.group_key,
            group_labels: row.group_labels,
            alert: NotifiedAlert {
                transition: "acknowledged".into(),
                at_ms,
                ..row.alert
            },
            timings: row.timings,
            mute_timings: row.mute_timings,
            active_timings: row.active_timings,
            transition_index: 0,
        });
    }
    Ok(drafts)
}

/// Helper for `record_alert_changes`: inserts a change's drafts with their event ids.
pub(crate) async fn insert_outbox_on(
    txn: &impl ConnectionTrait,
    tenant: TenantId,
    drafts: &[OutboxDraft],
    event_ids: &[i64],
    at_ms: i64,
) -> Result<(), StoreError> {
    for draft in drafts {
        let event_id = event_ids.get(draft.transition_index).copied();
        outbox_row(tenant, draft, event_id, at_ms)?
            .insert(txn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// The tenant's routing: its policy tree (the default when it set none) and its
    /// channels. A stored tree that no longer reads is logged and replaced by the default.
    pub async fn notification_routing(
        &self,
        tenant: TenantId,
    ) -> Result<crate::notify::routing::Routing, StoreError> {
        use crate::notify::policy::PolicyTree;
        use crate::notify::routing::{RoutedChannel, Routing};
        let tree = match self.notification_policy(tenant).await? {
            None => PolicyTree::default(),
            Some(text) => match serde_json::from_str(&text)
                .map_err(|e| e.to_string())
                .and_then(|v| PolicyTree::from_json(&v).map_err(|e| e.to_string()))
            {
                Ok(tree) => tree,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "stored notification policy does not read; using the default");
                    PolicyTree::default()
                }
            },
        };
        let channels = self
            .list_channels(tenant)
            .await?
            .into_iter()
            .map(|c| {
                (
                    c.id.to_string(),
                    RoutedChannel {
                        send_resolved: c.send_resolved,
                    },
                )
            })
            .collect();
        Ok(Routing { tree, channels })
    }
}
