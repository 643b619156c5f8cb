use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "carriers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub enabled: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_domain: Option<String>,
    pub caller_id_policy: String,
    pub caller_id_number: Option<String>,
    pub strip_prefix: String,
    pub prepend: String,
    pub inbound_cidrs: String,
    pub max_calls: Option<i32>,
    pub max_cps: Option<i32>,
    pub register: bool,
    pub register_expires: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
