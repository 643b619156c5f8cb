//! The database schema's history, applied in order at start-up.
//!
//! Migrations are frozen: once released, a file is never edited, only followed by a new one.
//! They never import the server's entities, so old migrations keep compiling as the code moves.
//! Schema is written with SeaQuery, never raw SQL, so SQLite and PostgreSQL both get correct DDL.

// `async_trait` signatures hide the `SchemaManager` lifetime; the trait dictates them.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261123_000001_accounts;
mod m20261123_000002_calls;
mod m20261123_000003_ledger;
mod m20261123_000004_pstn;
mod m20261123_000005_topups;
mod m20261123_000006_retail;
mod m20261123_000007_call_heartbeat;
mod m20261123_000008_billing;
mod m20261123_000009_decks;
mod m20261123_000010_route_limits;
mod m20261206_000011_cdr_search;
mod m20261207_000012_packed_decks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_accounts::Migration),
            Box::new(m20261123_000002_calls::Migration),
            Box::new(m20261123_000003_ledger::Migration),
            Box::new(m20261123_000004_pstn::Migration),
            Box::new(m20261123_000005_topups::Migration),
            Box::new(m20261123_000006_retail::Migration),
            Box::new(m20261123_000007_call_heartbeat::Migration),
            Box::new(m20261123_000008_billing::Migration),
            Box::new(m20261123_000009_decks::Migration),
            Box::new(m20261123_000010_route_limits::Migration),
            Box::new(m20261206_000011_cdr_search::Migration),
            Box::new(m20261207_000012_packed_decks::Migration),
        ]
    }
}
