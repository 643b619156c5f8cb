//! The server's one integration-test binary. Every test spawns the app on port 0 with its own
//! fresh database: SQLite by default, PostgreSQL when `TEST_DATABASE_URL` names a cluster
//! (`cargo xtask test` runs this binary both ways).

mod accounts;
mod admin;
mod carriers;
mod charging;
mod crash;
mod dashboard;
mod decks;
mod failover;
mod helpers;
mod http;
mod money;
mod pstn;
mod rates;
mod signaling;
mod tokens;
mod topups;
