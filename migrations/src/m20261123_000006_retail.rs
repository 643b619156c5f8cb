//! Retail (sell-side) rates: rate plans with prices per destination prefix and effective dates,
//! each user's plan (none: the default plan), and on each call the price it was sold at and
//! what it was charged. The server creates the default plan at start-up when there is none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RatePlans {
    Table,
    Id,
    Name,
    IsDefault,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RetailRates {
    Table,
    Id,
    PlanId,
    Prefix,
    Description,
    PerMinute,
    ConnectionFee,
    MinDuration,
    FirstIncrement,
    NextIncrement,
    EffectiveFrom,
    EffectiveUntil,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    RatePlanId,
}

#[derive(DeriveIden)]
enum Calls {
    Table,
    SellPrefix,
    SellPerMinute,
    SellConnectionFee,
    SellMinDuration,
    SellFirstIncrement,
    SellNextIncrement,
    BillableSecs,
    Charge,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RatePlans::Table)
                .col(big_pk_auto(RatePlans::Id))
                .col(string_len_uniq(RatePlans::Name, 64))
                .col(boolean(RatePlans::IsDefault).default(false))
                .col(timestamp_with_time_zone(RatePlans::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RetailRates::Table)
                .col(big_pk_auto(RetailRates::Id))
                .col(big_integer(RetailRates::PlanId))
                .col(string_len(RetailRates::Prefix, 15))
                .col(string_len(RetailRates::Description, 100).default(""))
                // Micro-units.
                .col(big_integer(RetailRates::PerMinute))
                .col(big_integer(RetailRates::ConnectionFee).default(0))
                .col(integer(RetailRates::MinDuration).default(0))
                .col(integer(RetailRates::FirstIncrement).default(60))
                .col(integer(RetailRates::NextIncrement).default(60))
                .col(timestamp_with_time_zone(RetailRates::EffectiveFrom))
                .col(timestamp_with_time_zone_null(RetailRates::EffectiveUntil))
                .col(timestamp_with_time_zone(RetailRates::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_retail_rates_plan")
                        .from(RetailRates::Table, RetailRates::PlanId)
                        .to(RatePlans::Table, RatePlans::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_retail_rates_lookup")
                .table(RetailRates::Table)
                .col(RetailRates::PlanId)
                .col(RetailRates::Prefix)
                .to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(Users::Table).add_column(big_integer_null(Users::RatePlanId)).to_owned())
            .await?;
        for col in [
            big_integer_null(Calls::SellPerMinute),
            big_integer_null(Calls::SellConnectionFee),
            integer_null(Calls::SellMinDuration),
            integer_null(Calls::SellFirstIncrement),
            integer_null(Calls::SellNextIncrement),
            big_integer_null(Calls::BillableSecs),
            big_integer_null(Calls::Charge),
            string_len_null(Calls::SellPrefix, 15),
        ] {
            m.alter_table(Table::alter().table(Calls::Table).add_column(col).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            Calls::SellPrefix,
            Calls::Charge,
            Calls::BillableSecs,
            Calls::SellNextIncrement,
            Calls::SellFirstIncrement,
            Calls::SellMinDuration,
            Calls::SellConnectionFee,
            Calls::SellPerMinute,
        ] {
            m.alter_table(Table::alter().table(Calls::Table).drop_column(col).to_owned()).await?;
        }
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::RatePlanId).to_owned()).await?;
        m.drop_table(Table::drop().table(RetailRates::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(RatePlans::Table).to_owned()).await
    }
}
