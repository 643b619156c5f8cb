//! The PSTN: carriers (SIP trunks) with their gateways, DIDs (numbers owned by users), each
//! user's country (for numbers typed in national format), and the carrier leg of a call.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Carriers {
    Table,
    Id,
    Name,
    Enabled,
    Username,
    Password,
    FromDomain,
    CallerIdPolicy,
    CallerIdNumber,
    StripPrefix,
    Prepend,
    InboundCidrs,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CarrierGateways {
    Table,
    Id,
    CarrierId,
    Position,
    Host,
    Port,
    Transport,
}

#[derive(DeriveIden)]
enum Dids {
    Table,
    Id,
    Number,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Country,
}

#[derive(DeriveIden)]
enum Calls {
    Table,
    CarrierId,
    CarrierName,
    SipCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Carriers::Table)
                .col(big_pk_auto(Carriers::Id))
                .col(string_len_uniq(Carriers::Name, 64))
                .col(boolean(Carriers::Enabled).default(true))
                .col(string_len_null(Carriers::Username, 128))
                .col(string_len_null(Carriers::Password, 128))
                .col(string_len_null(Carriers::FromDomain, 253))
                .col(string_len(Carriers::CallerIdPolicy, 16).default("user_did"))
                .col(string_len_null(Carriers::CallerIdNumber, 32))
                .col(string_len(Carriers::StripPrefix, 16).default(""))
                .col(string_len(Carriers::Prepend, 16).default(""))
                .col(text(Carriers::InboundCidrs))
                .col(timestamp_with_time_zone(Carriers::CreatedAt))
                .col(timestamp_with_time_zone(Carriers::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CarrierGateways::Table)
                .col(big_pk_auto(CarrierGateways::Id))
                .col(big_integer(CarrierGateways::CarrierId))
                .col(integer(CarrierGateways::Position))
                .col(string_len(CarrierGateways::Host, 253))
                .col(integer(CarrierGateways::Port).default(5060))
                .col(string_len(CarrierGateways::Transport, 8).default("udp"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_carrier_gateways_carrier")
                        .from(CarrierGateways::Table, CarrierGateways::CarrierId)
                        .to(Carriers::Table, Carriers::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_carrier_gateways_position")
                .table(CarrierGateways::Table)
                .col(CarrierGateways::CarrierId)
                .col(CarrierGateways::Position)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Dids::Table)
                .col(big_pk_auto(Dids::Id))
                .col(string_len_uniq(Dids::Number, 32))
                .col(big_integer(Dids::UserId))
                .col(timestamp_with_time_zone(Dids::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_dids_user")
                        .from(Dids::Table, Dids::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("idx_dids_user").table(Dids::Table).col(Dids::UserId).to_owned()).await?;
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        m.alter_table(Table::alter().table(Users::Table).add_column(string_len_null(Users::Country, 2)).to_owned())
            .await?;
        m.alter_table(Table::alter().table(Calls::Table).add_column(big_integer_null(Calls::CarrierId)).to_owned())
            .await?;
        m.alter_table(
            Table::alter().table(Calls::Table).add_column(string_len_null(Calls::CarrierName, 64)).to_owned(),
        )
        .await?;
        m.alter_table(Table::alter().table(Calls::Table).add_column(integer_null(Calls::SipCode)).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [Calls::SipCode, Calls::CarrierName, Calls::CarrierId] {
            m.alter_table(Table::alter().table(Calls::Table).drop_column(col).to_owned()).await?;
        }
        m.alter_table(Table::alter().table(Users::Table).drop_column(Users::Country).to_owned()).await?;
        m.drop_table(Table::drop().table(Dids::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(CarrierGateways::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Carriers::Table).to_owned()).await
    }
}
