use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "topups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub amount: i64,
    pub currency: String,
    #[sea_orm(unique)]
    pub checkout_session_id: Option<String>,
    #[sea_orm(unique)]
    pub payment_intent_id: Option<String>,
    pub paid_amount: Option<i64>,
    pub refunded_minor: i64,
    pub paid_at: Option<DateTimeUtc>,
    pub disputed_at: Option<DateTimeUtc>,
    pub expired_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
