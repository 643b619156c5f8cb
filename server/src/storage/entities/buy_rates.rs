use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "buy_rates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub deck_id: i64,
    pub prefix: String,
    pub description: String,
    pub per_minute: i64,
    pub connection_fee: i64,
    pub min_duration: i32,
    pub first_increment: i32,
    pub next_increment: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
