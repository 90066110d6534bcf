//! Alerts posted to the Alertmanager API (`POST /api/v2/alerts`, from Prometheus, vmalert
//! or any client): one row per tenant and label set, firing until its `endsAt`. A change
//! of state is written with the notification outbox rows routing decided for it, in one
//! transaction, as the evaluator's transitions are.

use std::collections::BTreeMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::external_alert;
use super::notifications::{insert_outbox_on, OutboxDraft};
use super::{parse_id, Store, StoreError};
use crate::domain::time::now_ms;
use crate::domain::{AlertId, TenantId};
use crate::notify::message::{AlertStatus, NotifiedAlert};
use crate::notify::policy::RuleTimings;
use crate::notify::routing::{Routed, Routing};

/// The `rule_id` outbox rows of posted alerts carry (they have no rule).
pub const EXTERNAL_RULE: &str = "external";

/// One posted alert, as read from the request.
#[derive(Debug, Clone, PartialEq)]
pub struct PostedAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: Option<i64>,
    pub ends_at_ms: Option<i64>,
    pub generator_url: String,
}

/// A stored posted alert.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalAlertRecord {
    pub fingerprint: String,
    pub alert_id: AlertId,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub firing: bool,
    pub updated_at_ms: i64,
}

impl TryFrom<external_alert::Model> for ExternalAlertRecord {
    type Error = StoreError;

    fn try_from(row: external_alert::Model) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("external alert {} {what}", row.fingerprint));
        Ok(Self {
            alert_id: parse_id(&row.alert_id, "alert")?,
            labels: serde_json::from_str(&row.labels).map_err(|_| corrupt("labels"))?,
            annotations: serde_json::from_str(&row.annotations)
                .map_err(|_| corrupt("annotations"))?,
            firing: row.state == "firing",
            fingerprint: row.fingerprint,
            generator_url: row.generator_url,
            starts_at_ms: row.starts_at_ms,
            ends_at_ms: row.ends_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// Alertmanager's `resolve_timeout`: an alert posted without `endsAt` is over this long
/// after it was last posted.
pub const RESOLVE_TIMEOUT_MS: i64 = 5 * 60_000;

/// A label set's fingerprint, 16 hex digits (FNV-1a over sorted names and values).
pub fn labels_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn notified(record: &ExternalAlertRecord, status: AlertStatus, at_ms: i64) -> NotifiedAlert {
    NotifiedAlert {
        alert_id: record.alert_id.to_string(),
        rule_id: EXTERNAL_RULE.to_owned(),
        rule_name: record
            .labels
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| "alert".to_owned()),
        fingerprint: record.fingerprint.clone(),
        status,
        transition: status.as_str().to_owned(),
        severity: record.labels.get("severity").cloned(),
        value: None,
        labels: record.labels.clone(),
        annotations: record.annotations.clone(),
        starts_at_ms: record.starts_at_ms,
        ends_at_ms: (status == AlertStatus::Resolved).then_some(record.ends_at_ms),
        at_ms,
        generator_url: (!record.generator_url.is_empty()).then(|| record.generator_url.clone()),
        log_lines: Vec::new(),
    }
}

fn drafts(routing: &Routing, alert: NotifiedAlert) -> Vec<OutboxDraft> {
    routing
        .plan(&Routed {
            rule_id: EXTERNAL_RULE,
            rule_channels: &[],
            rule_timings: RuleTimings::default(),
            labels: &alert.labels,
            status: alert.status,
        })
        .into_iter()
        .filter_map(|plan| {
            Some(OutboxDraft {
                channel_id: plan.channel_id.parse().ok()?,
                group_key: plan.group_key,
                group_labels: plan.group_labels,
                alert: alert.clone(),
                timings: plan.timings,
                mute_timings: plan.mute_timings,
                active_timings: plan.active_timings,
                transition_index: 0,
            })
        })
        .collect()
}

fn row(tenant: TenantId, record: &ExternalAlertRecord, at_ms: i64) -> external_alert::ActiveModel {
    external_alert::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        fingerprint: Set(record.fingerprint.clone()),
        alert_id: Set(record.alert_id.to_string()),
        labels: Set(serde_json::json!(record.labels).to_string()),
        annotations: Set(serde_json::json!(record.annotations).to_string()),
        generator_url: Set(record.generator_url.clone()),
        starts_at_ms: Set(record.starts_at_ms),
        ends_at_ms: Set(record.ends_at_ms),
        state: Set(if record.firing { "firing" } else { "resolved" }.to_owned()),
        updated_at_ms: Set(at_ms),
    }
}

impl Store {
    /// Records posted alerts, all or nothing: new or again-firing alerts notify as
    /// `firing`, ended ones as `resolved`, per the routing; unchanged ones only update.
    pub async fn record_posted_alerts(
        &self,
        tenant: TenantId,
        posted: &[PostedAlert],
        routing: &Routing,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        let now = now_ms();
        for alert in posted {
            let fingerprint = labels_fingerprint(&alert.labels);
            let existing: Option<ExternalAlertRecord> =
                external_alert::Entity::find_by_id((tenant.to_string(), fingerprint.clone()))
                    .one(&txn)
                    .await?
                    .map(TryInto::try_into)
                    .transpose()?;
            let ends_at_ms = alert.ends_at_ms.unwrap_or(now + RESOLVE_TIMEOUT_MS);
            let firing_now = ends_at_ms > now;
            let was_firing = existing.as_ref().is_some_and(|e| e.firing);
            let record = ExternalAlertRecord {
                alert_id: match (&existing, was_firing) {
                    (Some(e), true) => e.alert_id,
                    _ => AlertId::generate(),
                },
                starts_at_ms: match (&existing, was_firing) {
                    (Some(e), true) => e.starts_at_ms,
                    _ => alert.starts_at_ms.unwrap_or(now),
                },
                fingerprint,
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                generator_url: alert.generator_url.clone(),
                ends_at_ms,
                firing: firing_now,
                updated_at_ms: now,
            };
            // A resolution of an alert never seen firing (or already over) tells no one.
            let record = match (&existing, was_firing, firing_now) {
                (Some(e), false, false) => ExternalAlertRecord {
                    alert_id: e.alert_id,
                    ..record
                },
                _ => record,
            };
            let transition = match (was_firing, firing_now) {
                (false, true) => Some(AlertStatus::Firing),
                (true, false) => Some(AlertStatus::Resolved),
                _ => None,
            };
            let model = row(tenant, &record, now);
            if existing.is_some() {
                model.update(&txn).await?;
            } else {
                model.insert(&txn).await?;
            }
            if let Some(status) = transition {
                let drafts = drafts(routing, notified(&record, status, now));
                insert_outbox_on(&txn, tenant, &drafts, &[], now).await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Ends posted alerts whose `endsAt` has passed, notifying their resolution; answers
    /// how many ended.
    pub async fn resolve_expired_posted_alerts(
        &self,
        tenant: TenantId,
        routing: &Routing,
    ) -> Result<usize, StoreError> {
        let now = now_ms();
        let expired: Vec<ExternalAlertRecord> = external_alert::Entity::find()
            .filter(external_alert::Column::TenantId.eq(tenant.to_string()))
            .filter(external_alert::Column::State.eq("firing"))
            .filter(external_alert::Column::EndsAtMs.lte(now))
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?;
        if expired.is_empty() {
            return Ok(0);
        }
        let txn = self.begin_write().await?;
        let mut ended = 0;
        for mut record in expired {
            // Only if still firing and still expired (a newer post may have extended it).
            let updated = external_alert::Entity::update_many()
                .col_expr(
                    external_alert::Column::State,
                    sea_orm::sea_query::Expr::value("resolved"),
                )
                .col_expr(
                    external_alert::Column::UpdatedAtMs,
                    sea_orm::sea_query::Expr::value(now),
                )
                .filter(external_alert::Column::TenantId.eq(tenant.to_string()))
                .filter(external_alert::Column::Fingerprint.eq(record.fingerprint.clone()))
                .filter(external_alert::Column::State.eq("firing"))
                .filter(external_alert::Column::EndsAtMs.lte(now))
                .exec(&txn)
                .await?;
            if updated.rows_affected == 0 {
                continue;
            }
            record.firing = false;
            let drafts = drafts(routing, notified(&record, AlertStatus::Resolved, now));
            insert_outbox_on(&txn, tenant, &drafts, &[], now).await?;
            ended += 1;
        }
        txn.commit().await?;
        Ok(ended)
    }

    /// Posted alerts, firing ones only unless `include_resolved`, newest first.
    pub async fn posted_alerts(
        &self,
        tenant: TenantId,
        include_resolved: bool,
    ) -> Result<Vec<ExternalAlertRecord>, StoreError> {
        let mut select = external_alert::Entity::find()
            .filter(external_alert::Column::TenantId.eq(tenant.to_string()));
        if !include_resolved {
            select = select.filter(external_alert::Column::State.eq("firing"));
        }
        select
            .order_by_desc(external_alert::Column::StartsAtMs)
            .all(self.db())
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    /// Whether the alert with this id is still active, and if so whether someone
    /// acknowledged it: an evaluator alert or a posted one (`None`: over or unknown).
    pub async fn alert_activity(
        &self,
        tenant: TenantId,
        id: AlertId,
    ) -> Result<Option<bool>, StoreError> {
        match self.alert_instance(tenant, id).await {
            Ok(alert) if alert.id == id && alert.state != crate::alerting::AlertState::Inactive => {
                return Ok(Some(alert.acknowledgement.is_some()))
            }
            Ok(_) => return Ok(None),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let posted = external_alert::Entity::find()
            .filter(external_alert::Column::TenantId.eq(tenant.to_string()))
            .filter(external_alert::Column::AlertId.eq(id.to_string()))
            .filter(external_alert::Column::State.eq("firing"))
            .one(self.db())
            .await?;
        Ok(posted.map(|_| false))
    }
}
