//! Billing decoupled from call control: a call's end goes to `billing_outbox` (with what its
//! caller's wallet still holds for it) in the same transaction as the end of its record; the
//! billing worker rates it, completes the CDR and posts the charge, then deletes the row. Calls
//! keep their paid-until deadline (for the sweeper), the talk time paid for, the buy tariff and
//! cost, and every routing attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    PaidUntil,
    PaidSecs,
    BuyCost,
    PostedAt,
    BuyPerMinute,
    BuyConnectionFee,
    BuyMinDuration,
    BuyFirstIncrement,
    BuyNextIncrement,
}

#[derive(DeriveIden)]
enum BillingOutbox {
    Table,
    CallId,
    UserId,
    Pending,
    EnqueuedAt,
    Attempts,
    LastError,
}

#[derive(DeriveIden)]
enum CallAttempts {
    Table,
    Id,
    CallId,
    Seq,
    CarrierId,
    CarrierName,
    Gateway,
    SipCode,
    Outcome,
    StartedAt,
    PddMs,
    DurationMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER.
        for col in [
            timestamp_with_time_zone_null(Calls::PaidUntil),
            big_integer_null(Calls::PaidSecs),
            big_integer_null(Calls::BuyCost),
            timestamp_with_time_zone_null(Calls::PostedAt),
            // The carrier's buy tariff the call was routed at (its cost).
            big_integer_null(Calls::BuyPerMinute),
            big_integer_null(Calls::BuyConnectionFee),
            integer_null(Calls::BuyMinDuration),
            integer_null(Calls::BuyFirstIncrement),
            integer_null(Calls::BuyNextIncrement),
        ] {
            m.alter_table(Table::alter().table(Calls::Table).add_column(col).to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(BillingOutbox::Table)
                .col(string(BillingOutbox::CallId).primary_key())
                .col(big_integer(BillingOutbox::UserId))
                .col(big_integer(BillingOutbox::Pending))
                .col(timestamp_with_time_zone(BillingOutbox::EnqueuedAt))
                .col(integer(BillingOutbox::Attempts).default(0))
                .col(text_null(BillingOutbox::LastError))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_billing_outbox_user")
                .table(BillingOutbox::Table)
                .col(BillingOutbox::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CallAttempts::Table)
                .col(big_integer(CallAttempts::Id).primary_key().auto_increment())
                .col(string(CallAttempts::CallId))
                .col(integer(CallAttempts::Seq))
                .col(big_integer_null(CallAttempts::CarrierId))
                .col(string(CallAttempts::CarrierName))
                .col(string_null(CallAttempts::Gateway))
                .col(integer_null(CallAttempts::SipCode))
                .col(string(CallAttempts::Outcome))
                .col(timestamp_with_time_zone(CallAttempts::StartedAt))
                .col(big_integer_null(CallAttempts::PddMs))
                .col(big_integer_null(CallAttempts::DurationMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_call_attempts_call")
                .table(CallAttempts::Table)
                .col(CallAttempts::CallId)
                .col(CallAttempts::Seq)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_call_attempts_carrier")
                .table(CallAttempts::Table)
                .col(CallAttempts::CarrierId)
                .col(CallAttempts::StartedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CallAttempts::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(BillingOutbox::Table).to_owned()).await?;
        for col in [
            Calls::PaidUntil,
            Calls::PaidSecs,
            Calls::BuyCost,
            Calls::PostedAt,
            Calls::BuyPerMinute,
            Calls::BuyConnectionFee,
            Calls::BuyMinDuration,
            Calls::BuyFirstIncrement,
            Calls::BuyNextIncrement,
        ] {
            m.alter_table(Table::alter().table(Calls::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}
