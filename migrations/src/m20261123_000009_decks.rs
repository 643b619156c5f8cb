//! Carriers' buy rate decks: versions with an effective date, and their rows.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BuyDecks {
    Table,
    Id,
    CarrierId,
    EffectiveFrom,
    CreatedAt,
    CreatedBy,
    Rows,
}

#[derive(DeriveIden)]
enum BuyRates {
    Table,
    Id,
    DeckId,
    Prefix,
    Description,
    PerMinute,
    ConnectionFee,
    MinDuration,
    FirstIncrement,
    NextIncrement,
}

#[derive(DeriveIden)]
enum Carriers {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BuyDecks::Table)
                .col(big_integer(BuyDecks::Id).primary_key().auto_increment())
                .col(big_integer(BuyDecks::CarrierId))
                .col(timestamp_with_time_zone(BuyDecks::EffectiveFrom))
                .col(timestamp_with_time_zone(BuyDecks::CreatedAt))
                .col(big_integer_null(BuyDecks::CreatedBy))
                .col(big_integer(BuyDecks::Rows))
                .foreign_key(
                    ForeignKey::create()
                        .from(BuyDecks::Table, BuyDecks::CarrierId)
                        .to(Carriers::Table, Carriers::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_buy_decks_carrier")
                .table(BuyDecks::Table)
                .col(BuyDecks::CarrierId)
                .col(BuyDecks::EffectiveFrom)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BuyRates::Table)
                .col(big_integer(BuyRates::Id).primary_key().auto_increment())
                .col(big_integer(BuyRates::DeckId))
                .col(string(BuyRates::Prefix))
                .col(string(BuyRates::Description))
                .col(big_integer(BuyRates::PerMinute))
                .col(big_integer(BuyRates::ConnectionFee))
                .col(integer(BuyRates::MinDuration))
                .col(integer(BuyRates::FirstIncrement))
                .col(integer(BuyRates::NextIncrement))
                .foreign_key(
                    ForeignKey::create()
                        .from(BuyRates::Table, BuyRates::DeckId)
                        .to(BuyDecks::Table, BuyDecks::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_buy_rates_deck_prefix")
                .table(BuyRates::Table)
                .col(BuyRates::DeckId)
                .col(BuyRates::Prefix)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BuyRates::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(BuyDecks::Table).to_owned()).await
    }
}
