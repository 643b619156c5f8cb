//! Card top-ups: one row per checkout, what the payment provider reported about it, and each
//! user's provider customer id and review flag (set when a payment of theirs is disputed).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Topups {
    Table,
    Id,
    UserId,
    Amount,
    Currency,
    CheckoutSessionId,
    PaymentIntentId,
    PaidAmount,
    RefundedMinor,
    PaidAt,
    DisputedAt,
    ExpiredAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    StripeCustomerId,
    UnderReview,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Topups::Table)
                .col(big_pk_auto(Topups::Id))
                .col(big_integer(Topups::UserId))
                // Micro-units of the platform currency, as asked for.
                .col(big_integer(Topups::Amount))
                .col(string_len(Topups::Currency, 3))
                .col(string_len_null(Topups::CheckoutSessionId, 255).unique_key())
                .col(string_len_null(Topups::PaymentIntentId, 255).unique_key())
                // Micro-units actually credited (what the provider says was paid).
                .col(big_integer_null(Topups::PaidAmount))
                // The provider's cumulative refunded amount, in the currency's minor units.
                .col(big_integer(Topups::RefundedMinor).default(0))
                .col(timestamp_with_time_zone_null(Topups::PaidAt))
                .col(timestamp_with_time_zone_null(Topups::DisputedAt))
                .col(timestamp_with_time_zone_null(Topups::ExpiredAt))
                .col(timestamp_with_time_zone(Topups::CreatedAt))
                .col(timestamp_with_time_zone(Topups::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_topups_user")
                        .from(Topups::Table, Topups::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_topups_user").table(Topups::Table).col(Topups::UserId).col(Topups::Id).to_owned(),
        )
        .await?;
        // One column per statement (SQLite), and the unique index apart from the column.
        m.alter_table(
            Table::alter().table(Users::Table).add_column(string_len_null(Users::StripeCustomerId, 255)).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_users_stripe_customer")
                .table(Users::Table)
                .col(Users::StripeCustomerId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Users::Table).add_column(boolean(Users::UnderReview).default(false)).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::UnderReview).to_owned()).await?;
        m.drop_index(Index::drop().name("uq_users_stripe_customer").table(Users::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::StripeCustomerId).to_owned()).await?;
        m.drop_table(Table::drop().table(Topups::Table).to_owned()).await
    }
}
