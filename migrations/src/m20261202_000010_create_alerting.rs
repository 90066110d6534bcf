//! Alerting's tables:
//! - `alert_rules`: one row per rule; `definition` is the rule as the API accepted it
//!   (JSON), validated again when loaded, so the API and the evaluator share one model;
//! - `alert_instances`: the current state of each (rule, group) instance, written before
//!   any transition is handed on, so a restart resumes where the evaluator stopped;
//! - `alert_events`: every transition, newest last (history, and the notifier's source).

use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlertRules {
    Table,
    Id,
    TenantId,
    Name,
    Kind,
    Enabled,
    Definition,
    CreatedBy,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum AlertInstances {
    Table,
    Id,
    TenantId,
    RuleId,
    Fingerprint,
    Labels,
    GroupLabels,
    State,
    Severity,
    ActiveSinceMs,
    FiredAtMs,
    ClearedSinceMs,
    LastValue,
    LastDataMs,
    NoData,
    Flapping,
    AcknowledgedBy,
    AcknowledgedAtMs,
    AckComment,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum AlertEvents {
    Table,
    Id,
    TenantId,
    RuleId,
    InstanceId,
    Fingerprint,
    Transition,
    State,
    Severity,
    Value,
    Labels,
    AtMs,
}

fn tenant_fk(table: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("tenant_id"))
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AlertRules::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AlertRules::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AlertRules::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AlertRules::Name).string_len(200).not_null())
                    .col(ColumnDef::new(AlertRules::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(AlertRules::Enabled).boolean().not_null())
                    .col(ColumnDef::new(AlertRules::Definition).text().not_null())
                    .col(ColumnDef::new(AlertRules::CreatedBy).string_len(64).null())
                    .col(
                        ColumnDef::new(AlertRules::CreatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertRules::UpdatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(&mut tenant_fk(AlertRules::Table, "fk_alert_rules_tenant"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_rules_tenant")
                    .table(AlertRules::Table)
                    .col(AlertRules::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertInstances::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AlertInstances::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::RuleId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::Fingerprint)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AlertInstances::Labels).text().not_null())
                    // The group's (or result series') own labels: what `$labels` shows in
                    // annotation templates, as in Prometheus, and the key after a restart.
                    .col(
                        ColumnDef::new(AlertInstances::GroupLabels)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::Severity)
                            .string_len(16)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::ActiveSinceMs)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::FiredAtMs)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::ClearedSinceMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(AlertInstances::LastValue).double().null())
                    .col(
                        ColumnDef::new(AlertInstances::LastDataMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(AlertInstances::NoData).boolean().not_null())
                    .col(
                        ColumnDef::new(AlertInstances::Flapping)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::AcknowledgedBy)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AlertInstances::AcknowledgedAtMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(AlertInstances::AckComment).text().null())
                    .col(
                        ColumnDef::new(AlertInstances::UpdatedAtMs)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(&mut tenant_fk(
                        AlertInstances::Table,
                        "fk_alert_instances_tenant",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_alert_instances_rule")
                            .from(AlertInstances::Table, AlertInstances::RuleId)
                            .to(AlertRules::Table, AlertRules::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_instances_rule_group")
                    .table(AlertInstances::Table)
                    .col(AlertInstances::TenantId)
                    .col(AlertInstances::RuleId)
                    .col(AlertInstances::Fingerprint)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AlertEvents::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AlertEvents::TenantId)
                            .string_len(36)
                            .not_null(),
                    )
                    // Not foreign keys: the history outlives a deleted rule.
                    .col(
                        ColumnDef::new(AlertEvents::RuleId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertEvents::InstanceId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertEvents::Fingerprint)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AlertEvents::Transition)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AlertEvents::State).string_len(16).not_null())
                    .col(ColumnDef::new(AlertEvents::Severity).string_len(16).null())
                    .col(ColumnDef::new(AlertEvents::Value).double().null())
                    .col(ColumnDef::new(AlertEvents::Labels).text().not_null())
                    .col(ColumnDef::new(AlertEvents::AtMs).big_integer().not_null())
                    .foreign_key(&mut tenant_fk(AlertEvents::Table, "fk_alert_events_tenant"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_events_tenant_time")
                    .table(AlertEvents::Table)
                    .col(AlertEvents::TenantId)
                    .col(AlertEvents::AtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_alert_events_rule")
                    .table(AlertEvents::Table)
                    .col(AlertEvents::TenantId)
                    .col(AlertEvents::RuleId)
                    .col(AlertEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AlertEvents::Table.into_iden(),
            AlertInstances::Table.into_iden(),
            AlertRules::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
