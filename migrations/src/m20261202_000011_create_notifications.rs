//! Notification tables:
//! - `channels`: where notifications go (kind, config with its secrets, `send_resolved`);
//! - `notification_policies`: one routing tree per tenant (JSON), absent = the default;
//! - `notification_outbox`: one row per (alert event, channel), written in the same
//!   transaction as the event, so a decision to notify is never lost; delivery claims it,
//!   sends, and records the outcome on the row (`pending` → `sending` → `sent` | `dead`, or
//!   `silenced` / `muted` / `throttled` when held back);
//! - `silences`: matchers and a time range; alerts they match notify no one meanwhile;
//! - `mute_timings`: named recurring windows (Alertmanager's `time_intervals`) policies
//!   mute by, or are active only in;
//! - `inhibit_rules`: while a source alert fires, matching targets notify no one;
//! - `external_alerts`: alerts posted to the Alertmanager API (`POST /api/v2/alerts`),
//!   firing until their `endsAt`.

use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Channels {
    Table,
    Id,
    TenantId,
    Name,
    Kind,
    Config,
    SendResolved,
    CreatedBy,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum NotificationPolicies {
    Table,
    TenantId,
    Tree,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum NotificationOutbox {
    Table,
    Id,
    TenantId,
    ChannelId,
    GroupKey,
    GroupLabels,
    AlertId,
    RuleId,
    Fingerprint,
    EventId,
    Transition,
    Alert,
    GroupWaitMs,
    GroupIntervalMs,
    RepeatIntervalMs,
    MuteTimings,
    ActiveTimings,
    Status,
    Attempts,
    NextAttemptAtMs,
    ClaimedUntilMs,
    LastError,
    ProviderStatus,
    EventAtMs,
    CreatedAtMs,
    SentAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum Silences {
    Table,
    Id,
    TenantId,
    Matchers,
    StartsAtMs,
    EndsAtMs,
    Comment,
    CreatedBy,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum MuteTimings {
    Table,
    Id,
    TenantId,
    Name,
    TimeIntervals,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum InhibitRules {
    Table,
    Id,
    TenantId,
    Definition,
    CreatedAtMs,
    UpdatedAtMs,
}

#[derive(DeriveIden)]
enum ExternalAlerts {
    Table,
    TenantId,
    Fingerprint,
    AlertId,
    Labels,
    Annotations,
    GeneratorUrl,
    StartsAtMs,
    EndsAtMs,
    State,
    UpdatedAtMs,
}

fn tenant_fk(table: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("tenant_id"))
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn ms(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).big_integer().not_null().to_owned()
}

fn id(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column).string_len(36).not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Channels::Table)
                    .if_not_exists()
                    .col(id(Channels::Id).primary_key())
                    .col(id(Channels::TenantId))
                    .col(ColumnDef::new(Channels::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Channels::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Channels::Config).text().not_null())
                    .col(ColumnDef::new(Channels::SendResolved).boolean().not_null())
                    .col(ColumnDef::new(Channels::CreatedBy).string_len(64).null())
                    .col(ms(Channels::CreatedAtMs))
                    .col(ms(Channels::UpdatedAtMs))
                    .foreign_key(&mut tenant_fk(Channels::Table, "fk_channels_tenant"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_channels_tenant_name")
                    .table(Channels::Table)
                    .col(Channels::TenantId)
                    .col(Channels::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationPolicies::Table)
                    .if_not_exists()
                    .col(id(NotificationPolicies::TenantId).primary_key())
                    .col(ColumnDef::new(NotificationPolicies::Tree).text().not_null())
                    .col(ms(NotificationPolicies::UpdatedAtMs))
                    .foreign_key(&mut tenant_fk(
                        NotificationPolicies::Table,
                        "fk_notification_policies_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationOutbox::Table)
                    .if_not_exists()
                    .col(id(NotificationOutbox::Id).primary_key())
                    .col(id(NotificationOutbox::TenantId))
                    .col(id(NotificationOutbox::ChannelId))
                    // Route and group labels: as long as the labels are.
                    .col(
                        ColumnDef::new(NotificationOutbox::GroupKey)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOutbox::GroupLabels)
                            .text()
                            .not_null(),
                    )
                    .col(id(NotificationOutbox::AlertId))
                    .col(id(NotificationOutbox::RuleId))
                    .col(
                        ColumnDef::new(NotificationOutbox::Fingerprint)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOutbox::EventId)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOutbox::Transition)
                            .string_len(24)
                            .not_null(),
                    )
                    .col(ColumnDef::new(NotificationOutbox::Alert).text().not_null())
                    .col(ms(NotificationOutbox::GroupWaitMs))
                    .col(ms(NotificationOutbox::GroupIntervalMs))
                    .col(ms(NotificationOutbox::RepeatIntervalMs))
                    .col(
                        ColumnDef::new(NotificationOutbox::MuteTimings)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOutbox::ActiveTimings)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOutbox::Status)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(NotificationOutbox::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(ms(NotificationOutbox::NextAttemptAtMs))
                    .col(
                        ColumnDef::new(NotificationOutbox::ClaimedUntilMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(NotificationOutbox::LastError).text().null())
                    .col(
                        ColumnDef::new(NotificationOutbox::ProviderStatus)
                            .integer()
                            .null(),
                    )
                    .col(ms(NotificationOutbox::EventAtMs))
                    .col(ms(NotificationOutbox::CreatedAtMs))
                    .col(
                        ColumnDef::new(NotificationOutbox::SentAtMs)
                            .big_integer()
                            .null(),
                    )
                    .col(ms(NotificationOutbox::UpdatedAtMs))
                    .foreign_key(&mut tenant_fk(
                        NotificationOutbox::Table,
                        "fk_notification_outbox_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        // Delivery reads a tenant's open rows; the API lists a tenant's rows newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_outbox_open")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::TenantId)
                    .col(NotificationOutbox::Status)
                    .col(NotificationOutbox::NextAttemptAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_outbox_listing")
                    .table(NotificationOutbox::Table)
                    .col(NotificationOutbox::TenantId)
                    .col(NotificationOutbox::CreatedAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Silences::Table)
                    .if_not_exists()
                    .col(id(Silences::Id).primary_key())
                    .col(id(Silences::TenantId))
                    .col(ColumnDef::new(Silences::Matchers).text().not_null())
                    .col(ms(Silences::StartsAtMs))
                    .col(ms(Silences::EndsAtMs))
                    .col(ColumnDef::new(Silences::Comment).text().not_null())
                    .col(
                        ColumnDef::new(Silences::CreatedBy)
                            .string_len(200)
                            .not_null(),
                    )
                    .col(ms(Silences::CreatedAtMs))
                    .col(ms(Silences::UpdatedAtMs))
                    .foreign_key(&mut tenant_fk(Silences::Table, "fk_silences_tenant"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_silences_tenant_ends")
                    .table(Silences::Table)
                    .col(Silences::TenantId)
                    .col(Silences::EndsAtMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MuteTimings::Table)
                    .if_not_exists()
                    .col(id(MuteTimings::Id).primary_key())
                    .col(id(MuteTimings::TenantId))
                    .col(ColumnDef::new(MuteTimings::Name).string_len(200).not_null())
                    .col(ColumnDef::new(MuteTimings::TimeIntervals).text().not_null())
                    .col(ms(MuteTimings::CreatedAtMs))
                    .col(ms(MuteTimings::UpdatedAtMs))
                    .foreign_key(&mut tenant_fk(MuteTimings::Table, "fk_mute_timings_tenant"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_mute_timings_tenant_name")
                    .table(MuteTimings::Table)
                    .col(MuteTimings::TenantId)
                    .col(MuteTimings::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InhibitRules::Table)
                    .if_not_exists()
                    .col(id(InhibitRules::Id).primary_key())
                    .col(id(InhibitRules::TenantId))
                    .col(ColumnDef::new(InhibitRules::Definition).text().not_null())
                    .col(ms(InhibitRules::CreatedAtMs))
                    .col(ms(InhibitRules::UpdatedAtMs))
                    .foreign_key(&mut tenant_fk(
                        InhibitRules::Table,
                        "fk_inhibit_rules_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalAlerts::Table)
                    .if_not_exists()
                    .col(id(ExternalAlerts::TenantId))
                    .col(
                        ColumnDef::new(ExternalAlerts::Fingerprint)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(id(ExternalAlerts::AlertId))
                    .col(ColumnDef::new(ExternalAlerts::Labels).text().not_null())
                    .col(
                        ColumnDef::new(ExternalAlerts::Annotations)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExternalAlerts::GeneratorUrl)
                            .text()
                            .not_null(),
                    )
                    .col(ms(ExternalAlerts::StartsAtMs))
                    .col(ms(ExternalAlerts::EndsAtMs))
                    .col(
                        ColumnDef::new(ExternalAlerts::State)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ms(ExternalAlerts::UpdatedAtMs))
                    .primary_key(
                        Index::create()
                            .col(ExternalAlerts::TenantId)
                            .col(ExternalAlerts::Fingerprint),
                    )
                    .foreign_key(&mut tenant_fk(
                        ExternalAlerts::Table,
                        "fk_external_alerts_tenant",
                    ))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ExternalAlerts::Table.into_iden(),
            InhibitRules::Table.into_iden(),
            MuteTimings::Table.into_iden(),
            Silences::Table.into_iden(),
            NotificationOutbox::Table.into_iden(),
            NotificationPolicies::Table.into_iden(),
            Channels::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
