//! When the server last saw each live call alive. A call still open after a crash is ended (and
//! charged) at that time, not at the next start, so downtime is never billed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    LastSeenAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Calls::Table).add_column(timestamp_with_time_zone_null(Calls::LastSeenAt)).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Calls::Table).drop_column(Calls::LastSeenAt).to_owned()).await
    }
}
