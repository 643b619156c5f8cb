//! The double-entry ledger: one transaction per source (unique), its entries summing to zero;
//! and each user's credit limit.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LedgerTransactions {
    Table,
    Id,
    SourceKind,
    SourceId,
    Description,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    TransactionId,
    Account,
    Amount,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    CreditLimit,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LedgerTransactions::Table)
                .col(big_pk_auto(LedgerTransactions::Id))
                .col(string_len(LedgerTransactions::SourceKind, 32))
                .col(string_len(LedgerTransactions::SourceId, 128))
                .col(string_len(LedgerTransactions::Description, 256))
                .col(big_integer_null(LedgerTransactions::CreatedBy))
                .col(timestamp_with_time_zone(LedgerTransactions::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_ledger_transactions_source")
                .table(LedgerTransactions::Table)
                .col(LedgerTransactions::SourceKind)
                .col(LedgerTransactions::SourceId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LedgerEntries::Table)
                .col(big_pk_auto(LedgerEntries::Id))
                .col(big_integer(LedgerEntries::TransactionId))
                .col(string_len(LedgerEntries::Account, 64))
                .col(big_integer(LedgerEntries::Amount))
                .col(timestamp_with_time_zone(LedgerEntries::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_ledger_entries_transaction")
                        .from(LedgerEntries::Table, LedgerEntries::TransactionId)
                        .to(LedgerTransactions::Table, LedgerTransactions::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_ledger_entries_account")
                .table(LedgerEntries::Table)
                .col(LedgerEntries::Account)
                .col(LedgerEntries::Id)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Users::Table).add_column(big_integer(Users::CreditLimit).default(0)).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::CreditLimit).to_owned()).await?;
        m.drop_table(Table::drop().table(LedgerEntries::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(LedgerTransactions::Table).to_owned()).await
    }
}
