//! Indexes for the admin dashboard: call records searched by time, carrier, number, end cause,
//! direction and charge (the caller/callee ones exist since the calls table), calls still open, and
//! the audit log by target and by actor; the statistics' routing attempts and money movements
//! by time.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Calls {
    Table,
    Id,
    CreatedAt,
    CarrierId,
    CalleeNumber,
    EndedAt,
    EndCause,
    Kind,
    Charge,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Target,
    ActorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CallAttempts {
    Table,
    StartedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Account,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let calls = |name: &str, cols: &[Calls]| {
            let mut i = Index::create().name(name).table(Calls::Table).to_owned();
            for c in cols {
                i.col(*c);
            }
            i
        };
        m.create_index(calls("idx_calls_created", &[Calls::CreatedAt, Calls::Id])).await?;
        m.create_index(calls("idx_calls_carrier_created", &[Calls::CarrierId, Calls::CreatedAt])).await?;
        m.create_index(calls("idx_calls_number", &[Calls::CalleeNumber, Calls::CreatedAt])).await?;
        m.create_index(calls("idx_calls_ended", &[Calls::EndedAt])).await?;
        m.create_index(calls("idx_calls_cause_created", &[Calls::EndCause, Calls::CreatedAt])).await?;
        m.create_index(calls("idx_calls_kind_created", &[Calls::Kind, Calls::CreatedAt])).await?;
        m.create_index(calls("idx_calls_charge", &[Calls::Charge])).await?;
        m.create_index(
            Index::create().name("idx_audit_log_target").table(AuditLog::Table).col(AuditLog::Target).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_audit_log_actor")
                .table(AuditLog::Table)
                .col(AuditLog::ActorId)
                .col(AuditLog::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_call_attempts_started")
                .table(CallAttempts::Table)
                .col(CallAttempts::StartedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ledger_entries_account_created")
                .table(LedgerEntries::Table)
                .col(LedgerEntries::Account)
                .col(LedgerEntries::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_calls_created",
            "idx_calls_carrier_created",
            "idx_calls_number",
            "idx_calls_ended",
            "idx_calls_cause_created",
            "idx_calls_kind_created",
            "idx_calls_charge",
        ] {
            m.drop_index(Index::drop().name(name).table(Calls::Table).to_owned()).await?;
        }
        for name in ["idx_audit_log_target", "idx_audit_log_actor"] {
            m.drop_index(Index::drop().name(name).table(AuditLog::Table).to_owned()).await?;
        }
        m.drop_index(Index::drop().name("idx_call_attempts_started").table(CallAttempts::Table).to_owned()).await?;
        m.drop_index(Index::drop().name("idx_ledger_entries_account_created").table(LedgerEntries::Table).to_owned())
            .await
    }
}
