//! Persistence. **The only module that imports `sea_orm`.** It speaks domain types in and out;
//! rows (`entities`) never leave it. Every multi-row change runs in one transaction.

mod billing;
mod calls;
mod carriers;
mod dashboard;
mod decks;
mod dids;
mod entities;
mod ledger;
mod rates;
mod sessions;
mod topups;
mod users;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

pub use billing::{Attempt, CallBilling, CallRecord, PostedCall};
pub use calls::CallSummary;
pub use calls::EndBilling;
pub use calls::PstnCall;
pub use carriers::{CarrierUpdateError, NameTaken};
pub use dashboard::{AuditFilter, AuditRow, Cdr, CdrCursor, CdrFilter, CdrSeed, OpenCall};
pub use decks::{DeckInfo, DeckWriter};
pub use dids::{DidEntry, DidRefused};
pub use ledger::{Audit, Posted, StatementLine};
pub use rates::{EndRefused, ImportRefused, NewRetailRate, PlanRefused, RatePlan, RateRefused, RetailRate};
pub use sessions::Rotation;
pub use topups::TopupRow;
pub use users::NewUser;

#[derive(Debug, thiserror::Error)]
#[error("database error: {0}")]
pub struct StorageError(#[from] DbErr);

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A pool of connections to SQLite or PostgreSQL, chosen by the URL's scheme.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    pub async fn connect(url: &str, max_connections: Option<u32>) -> Result<Self> {
        let sqlite = url.starts_with("sqlite:");
        let mut opt = ConnectOptions::new(url);
        opt.max_connections(max_connections.unwrap_or(if sqlite { 8 } else { 16 }))
            .connect_timeout(std::time::Duration::from_secs(10))
            .sqlx_logging(false);
        let conn = Database::connect(opt).await?;
        if conn.get_database_backend() == DbBackend::Sqlite {
            // WAL lets readers proceed during a write; the setting is stored in the file.
            conn.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        }
        Ok(Self { conn })
    }

    pub async fn migrate(&self) -> Result<()> {
        use migrations::MigratorTrait;
        migrations::Migrator::up(&self.conn, None).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        Ok(self.conn.ping().await?)
    }

    /// A transaction that reads, then writes what it read. On SQLite it starts `IMMEDIATE`, so
    /// that it waits for other writers instead of failing when it turns from reader to writer
    /// (PostgreSQL callers lock the rows they read with `FOR UPDATE`).
    async fn begin_write(&self) -> Result<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.conn.begin_with_options(options).await?)
    }

    fn is_postgres(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Postgres
    }

    /// For tests and tools that set up databases: runs one statement as it is.
    pub async fn execute_unprepared(&self, sql: &str) -> Result<()> {
        self.conn.execute_unprepared(sql).await?;
        Ok(())
    }
}

/// `%` and `_` in user input match themselves.
fn like_contains(needle: &str) -> sea_orm::sea_query::LikeExpr {
    let escaped: String = needle
        .to_lowercase()
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\')
}
