//! Routing facts kept with calls and carriers: each call's route plan (why every carrier was in
//! or out), per-carrier limits on concurrent calls and calls per second, and whether the
//! platform REGISTERs with the carrier (and for how long it asks); each gateway's priority and
//! weight.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    RoutePlan,
}

#[derive(DeriveIden)]
enum CarrierGateways {
    Table,
    Priority,
    Weight,
}

#[derive(DeriveIden)]
enum Carriers {
    Table,
    MaxCalls,
    MaxCps,
    Register,
    RegisterExpires,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        m.alter_table(Table::alter().table(Calls::Table).add_column(text_null(Calls::RoutePlan)).to_owned()).await?;
        m.alter_table(Table::alter().table(Carriers::Table).add_column(integer_null(Carriers::MaxCalls)).to_owned())
            .await?;
        m.alter_table(Table::alter().table(Carriers::Table).add_column(integer_null(Carriers::MaxCps)).to_owned())
            .await?;
        m.alter_table(
            Table::alter().table(Carriers::Table).add_column(boolean(Carriers::Register).default(false)).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Carriers::Table)
                .add_column(integer(Carriers::RegisterExpires).default(3600))
                .to_owned(),
        )
        .await?;
        let gateways = || Table::alter().table(CarrierGateways::Table).to_owned();
        m.alter_table(gateways().add_column(integer(CarrierGateways::Priority).default(0)).to_owned()).await?;
        m.alter_table(gateways().add_column(integer(CarrierGateways::Weight).default(1)).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(CarrierGateways::Table).drop_column(CarrierGateways::Weight).to_owned())
            .await?;
        m.alter_table(Table::alter().table(CarrierGateways::Table).drop_column(CarrierGateways::Priority).to_owned())
            .await?;
        m.alter_table(Table::alter().table(Carriers::Table).drop_column(Carriers::RegisterExpires).to_owned()).await?;
        m.alter_table(Table::alter().table(Carriers::Table).drop_column(Carriers::Register).to_owned()).await?;
        m.alter_table(Table::alter().table(Carriers::Table).drop_column(Carriers::MaxCps).to_owned()).await?;
        m.alter_table(Table::alter().table(Carriers::Table).drop_column(Carriers::MaxCalls).to_owned()).await?;
        m.alter_table(Table::alter().table(Calls::Table).drop_column(Calls::RoutePlan).to_owned()).await
    }
}
