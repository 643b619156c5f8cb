//! Calls and their legs (one leg per device that took part). Browser calls now; PSTN calls
//! will use the same tables (`callee_number`, `kind`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Calls {
    Table,
    Id,
    Kind,
    CallerId,
    CalleeId,
    CalleeNumber,
    CreatedAt,
    RingingAt,
    AnsweredAt,
    EndedAt,
    EndCause,
    EndedBy,
}

#[derive(DeriveIden)]
enum CallLegs {
    Table,
    Id,
    CallId,
    UserId,
    DeviceId,
    Role,
    CreatedAt,
    AnsweredAt,
    EndedAt,
    EndCause,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Calls::Table)
                .col(string_len(Calls::Id, 64).primary_key())
                .col(string_len(Calls::Kind, 16))
                .col(big_integer(Calls::CallerId))
                .col(big_integer_null(Calls::CalleeId))
                .col(string_len_null(Calls::CalleeNumber, 32))
                .col(timestamp_with_time_zone(Calls::CreatedAt))
                .col(timestamp_with_time_zone_null(Calls::RingingAt))
                .col(timestamp_with_time_zone_null(Calls::AnsweredAt))
                .col(timestamp_with_time_zone_null(Calls::EndedAt))
                .col(string_len_null(Calls::EndCause, 32))
                .col(big_integer_null(Calls::EndedBy))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_calls_caller")
                        .from(Calls::Table, Calls::CallerId)
                        .to(Users::Table, Users::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_calls_callee")
                        .from(Calls::Table, Calls::CalleeId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
        for (name, col) in
            [("idx_calls_caller_created", Calls::CallerId), ("idx_calls_callee_created", Calls::CalleeId)]
        {
            m.create_index(Index::create().name(name).table(Calls::Table).col(col).col(Calls::CreatedAt).to_owned())
                .await?;
        }
        m.create_table(
            Table::create()
                .table(CallLegs::Table)
                .col(big_pk_auto(CallLegs::Id))
                .col(string_len(CallLegs::CallId, 64))
                .col(big_integer(CallLegs::UserId))
                .col(string_len(CallLegs::DeviceId, 64))
                .col(string_len(CallLegs::Role, 16))
                .col(timestamp_with_time_zone(CallLegs::CreatedAt))
                .col(timestamp_with_time_zone_null(CallLegs::AnsweredAt))
                .col(timestamp_with_time_zone_null(CallLegs::EndedAt))
                .col(string_len_null(CallLegs::EndCause, 32))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_call_legs_call")
                        .from(CallLegs::Table, CallLegs::CallId)
                        .to(Calls::Table, Calls::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_call_legs_call_device")
                .table(CallLegs::Table)
                .col(CallLegs::CallId)
                .col(CallLegs::DeviceId)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CallLegs::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Calls::Table).to_owned()).await
    }
}
