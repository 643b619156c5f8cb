use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "buy_decks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub carrier_id: i64,
    pub effective_from: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub created_by: Option<i64>,
    pub rows: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
