//! Table rows as sea-orm sees them. Private to `storage`: nothing outside it sees a `Model`.

pub mod audit_log;
pub mod billing_outbox;
pub mod buy_deck_packed;
pub mod buy_decks;
pub mod buy_rates;
pub mod call_attempts;
pub mod call_legs;
pub mod calls;
pub mod carrier_gateways;
pub mod carriers;
pub mod dids;
pub mod ledger;
pub mod rate_plans;
pub mod refresh_tokens;
pub mod retail_rates;
pub mod topups;
pub mod users;
