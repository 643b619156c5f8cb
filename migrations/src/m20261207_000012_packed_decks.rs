//! Each buy deck's rows also in the compact form the routing table is built from (one blob per
//! deck, 12 bytes a row), so a reload reads one value per deck instead of every row. Decks
//! imported before this have none; the server packs them the first time it reads them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BuyDeckPacked {
    Table,
    DeckId,
    Data,
}

#[derive(DeriveIden)]
enum BuyDecks {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BuyDeckPacked::Table)
                .col(big_integer(BuyDeckPacked::DeckId).primary_key())
                .col(blob(BuyDeckPacked::Data))
                .foreign_key(
                    ForeignKey::create()
                        .from(BuyDeckPacked::Table, BuyDeckPacked::DeckId)
                        .to(BuyDecks::Table, BuyDecks::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BuyDeckPacked::Table).to_owned()).await
    }
}
