//! Alert rules, alert instances (the current state of each rule and group) and alert
//! events (every transition). Instances and events are written together, in one
//! transaction, before the evaluator hands a transition on, with the notification outbox
//! rows the transitions decided.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;

use super::audit::{record_on, AuditAction, AuditEvent};
use super::entities::{alert_event, alert_instance, alert_rule};
use super::{parse_id, Store, StoreError};
use crate::alerting::{AlertState, Severity};
use crate::domain::time::now_ms;
use crate::domain::{AlertId, AlertRuleId, TenantId};

/// A stored rule. `definition` is the rule as the API accepted it (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleRecord {
    pub id: AlertRuleId,
    pub tenant: TenantId,
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub definition: String,
    pub created_by: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl TryFrom<alert_rule::Model> for AlertRuleRecord {
    type Error = StoreError;
    fn try_from(row: alert_rule::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&row.id, "alert rule")?,
            tenant: parse_id(&row.tenant_id, "tenant")?,
            name: row.name,
            kind: row.kind,
            enabled: row.enabled,
            definition: row.definition,
            created_by: row.created_by,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// A rule to store (create or replace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRuleWrite {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub definition: String,
}

/// Who acknowledged an alert, when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub by: String,
    pub at_ms: i64,
    pub comment: Option<String>,
}

/// The state of one alert instance (a rule and one group of labels).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInstanceRecord {
    pub id: AlertId,
    pub rule_id: AlertRuleId,
    /// The group's label fingerprint, 16 hex digits.
    pub fingerprint: String,
    /// The alert's labels as a JSON object.
    pub labels: String,
    /// Its group's own labels (what templates see as `$labels`), a JSON object.
    pub group_labels: String,
    pub state: AlertState,
    pub severity: Option<Severity>,
    pub active_since_ms: Option<i64>,
    pub fired_at_ms: Option<i64>,
    pub cleared_since_ms: Option<i64>,
    pub last_value: Option<f64>,
    pub last_data_ms: Option<i64>,
    pub no_data: bool,
    pub flapping: bool,
    pub acknowledgement: Option<Acknowledgement>,
    pub updated_at_ms: i64,
}

fn state_of(text: &str) -> Result<AlertState, StoreError> {
    AlertState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("alert state {text:?}")))
}

fn severity_of(text: Option<&str>) -> Result<Option<Severity>, StoreError> {
    text.map(|t| Severity::parse(t).ok_or_else(|| StoreError::Corrupt(format!("severity {t:?}"))))
        .transpose()
}

/// NaN cannot be stored in every backend's REAL (SQLite turns it into NULL anyway).
fn finite_or_none(value: Option<f64>) -> Option<f64> {
    value.filter(|v| !v.is_nan())
}

impl TryFrom<alert_instance::Model> for AlertInstanceRecord {
    type Error = StoreError;
    fn try_from(row: alert_instance::Model) -> Result<Self, StoreError> {
        let acknowledgement = match (row.acknowledged_by, row.acknowledged_at_ms) {
            (Some(by), Some(at_ms)) => Some(Acknowledgement {
                by,
                at_ms,
                comment: row.ack_comment,
            }),
            _ => None,
        };
        Ok(Self {
            id: parse_id(&row.id, "alert")?,
            rule_id: parse_id(&row.rule_id, "alert rule")?,
            fingerprint: row.fingerprint,
            labels: row.labels,
            group_labels: row.group_labels,
            state: state_of(&row.state)?,
            severity: severity_of(row.severity.as_deref())?,
            active_since_ms: row.active_since_ms,
            fired_at_ms: row.fired_at_ms,
            cleared_since_ms: row.cleared_since_ms,
            last_value: row.last_value,
            last_data_ms: row.last_data_ms,
            no_data: row.no_data,
            flapping: row.flapping,
            acknowledgement,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// One recorded transition.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEventRecord {
    pub id: i64,
    pub rule_id: AlertRuleId,
    pub alert_id: AlertId,
    pub fingerprint: String,
    /// `pending`, `firing`, `escalated`, `de-escalated`, `resolved`, `cancelled`,
    /// `nodata`, `flapping`, `flapping_stopped`.
    pub transition: String,
    /// The instance's state after it.
    pub state: AlertState,
    pub severity: Option<Severity>,
    pub value: Option<f64>,
    pub labels: String,
    pub at_ms: i64,
}

impl TryFrom<alert_event::Model> for AlertEventRecord {
    type Error = StoreError;
    fn try_from(row: alert_event::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            rule_id: parse_id(&row.rule_id, "alert rule")?,
            alert_id: parse_id(&row.instance_id, "alert")?,
            fingerprint: row.fingerprint,
            transition: row.transition,
            state: state_of(&row.state)?,
            severity: severity_of(row.severity.as_deref())?,
            value: row.value,
            labels: row.labels,
            at_ms: row.at_ms,
        })
    }
}

/// An instance's new state and the transitions that led to it, written together.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub instance: AlertInstanceRecord,
    /// The alert became active just now (a new id): its acknowledgement starts empty.
    pub new_alert: bool,
    /// The rule was deleted (and its rows with it): record the transitions only.
    pub rule_deleted: bool,
    /// (transition name, value) in order.
    pub transitions: Vec<(&'static str, Option<f64>)>,
    /// Who is to hear of these transitions: written in the same transaction.
    pub notifications: Vec<super::notifications::OutboxDraft>,
}

/// Which events to read: newest first, those before `before_id` (the cursor).
#[derive(Debug, Clone, Default)]
pub struct AlertEventQuery {
    pub rule_id: Option<AlertRuleId>,
    pub fingerprint: Option<String>,
    pub alert_id: Option<AlertId>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: u64,
}

fn rule_row(
    tenant: TenantId,
    id: AlertRuleId,
    rule: &AlertRuleWrite,
    created_by: Option<String>,
    at_ms: i64,
) -> alert_rule::ActiveModel {
    alert_rule::ActiveModel {
        id: Set(id.to_string()),
        tenant_id: Set(tenant.to_string()),
        name: Set(rule.name.clone()),
        kind: Set(rule.kind.clone()),
        enabled: Set(rule.enabled),
        definition: Set(rule.definition.clone()),
        created_by: Set(created_by),
        created_at_ms: Set(at_ms),
        updated_at_ms: Set(at_ms),
    }
}

impl Store {
    /// Stores a new rule, unless the tenant already has `max_rules`.
    pub async fn create_alert_rule(
        &self,
        tenant: TenantId,
        rule: AlertRuleWrite,
        actor: String,
        max_rules: u64,
    ) -> Result<AlertRuleRecord, StoreError> {
        let txn = self.begin_write().await?;
        let existing = alert_rule::Entity::find()
            .filter(alert_rule::Column::TenantId.eq(tenant.to_string()))
            .count(&txn)
            .await?;
        if existing >= max_rules {
            return Err(StoreError::Limit(format!(
                "the tenant has {existing} alert rules, the most it may have \
                 (TIDEWATCH_ALERT_MAX_RULES); delete one first"
            )));
        }
        let id = AlertRuleId::generate();
        let row = rule_row(tenant, id, &rule, Some(actor.clone()), now_ms())
            .insert(&txn)
            .await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::AlertRuleCreate,
                target: id.to_string(),
                details: json!({"name": rule.name, "kind": rule.kind}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    pub async fn list_alert_rules(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<AlertRuleRecord>, StoreError> {
        alert_rule::Entity::find()
            .filter(alert_rule::Column::TenantId.eq(tenant.to_string()))
            .order_by_asc(alert_rule::Column::CreatedAtMs)
            .order_by_asc(alert_rule::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// The tenant's rules among `ids` (another tenant's ids find nothing).
    pub async fn alert_rules_by_id(
        &self,
        tenant: TenantId,
        ids: &std::collections::HashSet<AlertRuleId>,
    ) -> Result<Vec<AlertRuleRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        alert_rule::Entity::find()
            .filter(alert_rule::Column::TenantId.eq(tenant.to_string()))
            .filter(alert_rule::Column::Id.is_in(ids.iter().map(|id| id.to_string())))
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// A rule of this tenant; another tenant's rule id is "not found".
    pub async fn alert_rule(
        &self,
        tenant: TenantId,
        id: AlertRuleId,
    ) -> Result<AlertRuleRecord, StoreError> {
        alert_rule::Entity::find_by_id(id.to_string())
            .filter(alert_rule::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("alert rule"))?
            .try_into()
    }

    /// Replaces a rule's definition (PUT and PATCH alike: the caller merges).
    pub async fn update_alert_rule(
        &self,
        tenant: TenantId,
        id: AlertRuleId,
        rule: AlertRuleWrite,
        actor: String,
    ) -> Result<AlertRuleRecord, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = alert_rule::Entity::find_by_id(id.to_string())
            .filter(alert_rule::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
        else {
            return Err(StoreError::NotFound("alert rule"));
        };
        let mut active: alert_rule::ActiveModel = row.into();
        active.name = Set(rule.name.clone());
        active.kind = Set(rule.kind.clone());
        active.enabled = Set(rule.enabled);
        active.definition = Set(rule.definition.clone());
        active.updated_at_ms = Set(now_ms());
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::AlertRuleUpdate,
                target: id.to_string(),
                details: json!({"name": rule.name, "kind": rule.kind, "enabled": rule.enabled}),
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Deletes a rule and its instances; its history stays.
    pub async fn delete_alert_rule(
        &self,
        tenant: TenantId,
        id: AlertRuleId,
        actor: String,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        alert_instance::Entity::delete_many()
            .filter(alert_instance::Column::TenantId.eq(tenant.to_string()))
            .filter(alert_instance::Column::RuleId.eq(id.to_string()))
            .exec(&txn)
            .await?;
        let deleted = alert_rule::Entity::delete_many()
            .filter(alert_rule::Column::TenantId.eq(tenant.to_string()))
            .filter(alert_rule::Column::Id.eq(id.to_string()))
            .exec(&txn)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(StoreError::NotFound("alert rule"));
        }
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action: AuditAction::AlertRuleDelete,
                target: id.to_string(),
                details: json!({}),
            },
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Tenants that have at least one enabled rule, an undelivered notification or a
    /// firing posted alert, so
    /// their evaluators and notifiers start at boot. Not tenant-scoped: it is the process
    /// deciding which tenants to wake.
    pub async fn tenants_with_enabled_alert_rules(&self) -> Result<Vec<TenantId>, StoreError> {
        use super::entities::notification_outbox;
        use super::notifications::NotificationStatus;
        let mut ids: Vec<String> = alert_rule::Entity::find()
            .select_only()
            .column(alert_rule::Column::TenantId)
            .filter(alert_rule::Column::Enabled.eq(true))
            .distinct()
            .into_tuple()
            .all(self.db())
            .await?;
        let notifying: Vec<String> = notification_outbox::Entity::find()
            .select_only()
            .column(notification_outbox::Column::TenantId)
            .filter(notification_outbox::Column::Status.is_in(NotificationStatus::open_names()))
            .distinct()
            .into_tuple()
            .all(self.db())
            .await?;
        ids.extend(notifying);
        let posting: Vec<String> = super::entities::external_alert::Entity::find()
            .select_only()
            .column(super::entities::external_alert::Column::TenantId)
            .filter(super::entities::external_alert::Column::State.eq("firing"))
            .distinct()
            .into_tuple()
            .all(self.db())
            .await?;
        ids.extend(posting);
        ids.sort();
        ids.dedup();
        ids.iter().map(|id| parse_id(id, "tenant")).collect()
    }

    /// The tenant's instances, of one rule or all; inactive ones only when asked.
    pub async fn alert_instances(
        &self,
        tenant: TenantId,
        rule: Option<AlertRuleId>,
        include_inactive: bool,
    ) -> Result<Vec<AlertInstanceRecord>, StoreError> {
        let mut query = alert_instance::Entity::find()
            .filter(alert_instance::Column::TenantId.eq(tenant.to_string()));
        if let Some(rule) = rule {
            query = query.filter(alert_instance::Column::RuleId.eq(rule.to_string()));
        }
        if !include_inactive {
            query = query.filter(alert_instance::Column::State.ne(AlertState::Inactive.as_str()));
        }
        query
            .order_by_asc(alert_instance::Column::ActiveSinceMs)
            .order_by_asc(alert_instance::Column::Id)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// One alert of this tenant, by id.
    pub async fn alert_instance(
        &self,
        tenant: TenantId,
        id: AlertId,
    ) -> Result<AlertInstanceRecord, StoreError> {
        alert_instance::Entity::find_by_id(id.to_string())
            .filter(alert_instance::Column::TenantId.eq(tenant.to_string()))
            .one(self.db())
            .await?
            .ok_or(StoreError::NotFound("alert"))?
            .try_into()
    }

    /// Writes instances' new states and their transitions, all or nothing. An update keeps
    /// the acknowledgement unless the alert is new.
    pub async fn record_alert_changes(
        &self,
        tenant: TenantId,
        changes: &[AlertChange],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let tenant_id = tenant.to_string();
        let at = now_ms();
        for change in changes {
            let i = &change.instance;
            // A deleted rule's rows are gone with it; only its transitions are recorded.
            if !change.rule_deleted {
                let mut row = alert_instance::ActiveModel {
                    id: Set(i.id.to_string()),
                    tenant_id: Set(tenant_id.clone()),
                    rule_id: Set(i.rule_id.to_string()),
                    fingerprint: Set(i.fingerprint.clone()),
                    labels: Set(i.labels.clone()),
                    group_labels: Set(i.group_labels.clone()),
                    state: Set(i.state.as_str().to_owned()),
                    severity: Set(i.severity.map(|s| s.as_str().to_owned())),
                    active_since_ms: Set(i.active_since_ms),
                    fired_at_ms: Set(i.fired_at_ms),
                    cleared_since_ms: Set(i.cleared_since_ms),
                    last_value: Set(finite_or_none(i.last_value)),
                    last_data_ms: Set(i.last_data_ms),
                    no_data: Set(i.no_data),
                    flapping: Set(i.flapping),
                    updated_at_ms: Set(at),
                    ..Default::default()
                };
                if change.new_alert {
                    row.acknowledged_by = Set(None);
                    row.acknowledged_at_ms = Set(None);
                    row.ack_comment = Set(None);
                }
                let updated = alert_instance::Entity::update_many()
                    .set(row.clone())
                    .filter(alert_instance::Column::TenantId.eq(tenant_id.clone()))
                    .filter(alert_instance::Column::RuleId.eq(i.rule_id.to_string()))
                    .filter(alert_instance::Column::Fingerprint.eq(i.fingerprint.clone()))
                    .exec(&txn)
                    .await?;
                if updated.rows_affected == 0 {
                    row.acknowledged_by = Set(None);
                    row.acknowledged_at_ms = Set(None);
                    row.ack_comment = Set(None);
                    row.insert(&txn).await?;
                }
            }
            let mut event_ids = Vec::with_capacity(change.transitions.len());
            for (transition, value) in &change.transitions {
                let event = alert_event::ActiveModel {
                    tenant_id: Set(tenant_id.clone()),
                    rule_id: Set(i.rule_id.to_string()),
                    instance_id: Set(i.id.to_string()),
                    fingerprint: Set(i.fingerprint.clone()),
                    transition: Set((*transition).to_owned()),
                    state: Set(i.state.as_str().to_owned()),
                    severity: Set(i.severity.map(|s| s.as_str().to_owned())),
                    value: Set(finite_or_none(*value)),
                    labels: Set(i.labels.clone()),
                    at_ms: Set(i.updated_at_ms),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
                event_ids.push(event.id);
            }
            super::notifications::insert_outbox_on(
                &txn,
                tenant,
                &change.notifications,
                &event_ids,
                at,
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Sets (`Some`) or clears (`None`) an active alert's acknowledgement.
    pub async fn set_alert_acknowledgement(
        &self,
        tenant: TenantId,
        id: AlertId,
        acknowledgement: Option<Acknowledgement>,
        actor: String,
        notify_kinds: &[&str],
    ) -> Result<AlertInstanceRecord, StoreError> {
        let txn = self.begin_write().await?;
        let Some(row) = alert_instance::Entity::find_by_id(id.to_string())
            .filter(alert_instance::Column::TenantId.eq(tenant.to_string()))
            .one(&txn)
            .await?
        else {
            return Err(StoreError::NotFound("alert"));
        };
        if acknowledgement.is_some() && row.state == AlertState::Inactive.as_str() {
            return Err(StoreError::Conflict(
                "the alert is resolved; only an active alert can be acknowledged".into(),
            ));
        }
        let action = if acknowledgement.is_some() {
            AuditAction::AlertAcknowledge
        } else {
            AuditAction::AlertUnacknowledge
        };
        let details = json!({"comment": acknowledgement.as_ref().and_then(|a| a.comment.clone())});
        // Providers with an acknowledge action hear of it, in the same transaction.
        if let Some(ack) = &acknowledgement {
            let drafts = super::notifications::acknowledgement_drafts_on(
                &txn,
                tenant,
                id,
                notify_kinds,
                ack.at_ms,
            )
            .await?;
            super::notifications::insert_outbox_on(&txn, tenant, &drafts, &[], ack.at_ms).await?;
        }
        let mut active: alert_instance::ActiveModel = row.into();
        active.acknowledged_by = Set(acknowledgement.as_ref().map(|a| a.by.clone()));
        active.acknowledged_at_ms = Set(acknowledgement.as_ref().map(|a| a.at_ms));
        active.ack_comment = Set(acknowledgement.and_then(|a| a.comment));
        let row = active.update(&txn).await?;
        record_on(
            &txn,
            AuditEvent {
                tenant: Some(tenant),
                actor: Some(actor),
                action,
                target: id.to_string(),
                details,
            },
        )
        .await?;
        txn.commit().await?;
        row.try_into()
    }

    /// Transitions, newest first, after the filters; at most `query.limit`.
    pub async fn alert_events(
        &self,
        tenant: TenantId,
        query: &AlertEventQuery,
    ) -> Result<Vec<AlertEventRecord>, StoreError> {
        let mut select = alert_event::Entity::find()
            .filter(alert_event::Column::TenantId.eq(tenant.to_string()));
        if let Some(rule) = query.rule_id {
            select = select.filter(alert_event::Column::RuleId.eq(rule.to_string()));
        }
        if let Some(fingerprint) = &query.fingerprint {
            select = select.filter(alert_event::Column::Fingerprint.eq(fingerprint.clone()));
        }
        if let Some(alert) = query.alert_id {
            select = select.filter(alert_event::Column::InstanceId.eq(alert.to_string()));
        }
        if let Some(start) = query.start_ms {
            select = select.filter(alert_event::Column::AtMs.gte(start));
        }
        if let Some(end) = query.end_ms {
            select = select.filter(alert_event::Column::AtMs.lte(end));
        }
        if let Some(before) = query.before_id {
            select = select.filter(alert_event::Column::Id.lt(before));
        }
        select
            .order_by_desc(alert_event::Column::Id)
            .limit(query.limit)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
