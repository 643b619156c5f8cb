use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub call_id: String,
    pub seq: i32,
    pub carrier_id: Option<i64>,
    pub carrier_name: String,
    pub gateway: Option<String>,
    pub sip_code: Option<i32>,
    pub outcome: String,
    pub started_at: DateTimeUtc,
    pub pdd_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
