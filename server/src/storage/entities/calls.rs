use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "calls")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub caller_id: i64,
    pub callee_id: Option<i64>,
    pub callee_number: Option<String>,
    pub created_at: DateTimeUtc,
    pub ringing_at: Option<DateTimeUtc>,
    pub answered_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub end_cause: Option<String>,
    pub ended_by: Option<i64>,
    pub carrier_id: Option<i64>,
    pub carrier_name: Option<String>,
    pub sip_code: Option<i32>,
    pub sell_prefix: Option<String>,
    pub sell_per_minute: Option<i64>,
    pub sell_connection_fee: Option<i64>,
    pub sell_min_duration: Option<i32>,
    pub sell_first_increment: Option<i32>,
    pub sell_next_increment: Option<i32>,
    pub billable_secs: Option<i64>,
    pub charge: Option<i64>,
    pub last_seen_at: Option<DateTimeUtc>,
    pub paid_until: Option<DateTimeUtc>,
    pub paid_secs: Option<i64>,
    pub buy_cost: Option<i64>,
    pub posted_at: Option<DateTimeUtc>,
    pub buy_per_minute: Option<i64>,
    pub buy_connection_fee: Option<i64>,
    pub buy_min_duration: Option<i32>,
    pub buy_first_increment: Option<i32>,
    pub buy_next_increment: Option<i32>,
    pub route_plan: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
