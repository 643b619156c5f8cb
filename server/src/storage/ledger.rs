//! The ledger in the database. A posting is one database transaction: its row (unique on its
//! source) and its entries, or nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
    sea_query::Expr,
};

use super::{
    Db, Result,
    entities::{audit_log, ledger::entries, ledger::transactions, users},
};
use crate::{
    domain::UserId,
    ledger::{Account, Funds, Posting},
    rating::Money,
};

/// What posting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Written now.
    New,
    /// This source was posted before; nothing was written.
    AlreadyPosted,
}

/// One line of an account's statement.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub entry_id: i64,
    pub source_kind: String,
    pub source_id: String,
    pub description: String,
    pub amount: Money,
    pub at: DateTime<Utc>,
}

/// An audit-log row written in the same transaction as the change it describes.
pub struct Audit<'a> {
    pub actor: UserId,
    pub action: &'a str,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Sets one column of a user's row and writes the audit entry describing it, both in `txn`.
pub(super) async fn set_user_column_audited(
    txn: &DatabaseTransaction,
    user: UserId,
    column: users::Column,
    value: impl Into<sea_orm::Value>,
    audit: Audit<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    users::Entity::update_many()
        .col_expr(column, Expr::value(value))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.0))
        .exec(txn)
        .await?;
    write_audit(txn, audit, now).await
}

pub(super) async fn write_audit(txn: &DatabaseTransaction, a: Audit<'_>, now: DateTime<Utc>) -> Result<()> {
    audit_log::ActiveModel {
        id: NotSet,
        actor_id: Set(Some(a.actor.0)),
        action: Set(a.action.to_string()),
        target: Set(a.target),
        before: Set(a.before),
        after: Set(a.after),
        created_at: Set(now),
    }
    .insert(txn)
    .await?;
    Ok(())
}

impl Db {
    /// Posts `p` once: a second posting of the same source writes nothing.
    pub async fn post(&self, p: &Posting, by: Option<UserId>, now: DateTime<Utc>) -> Result<Posted> {
        self.post_with_audit(p, by, None, now).await
    }

    /// Posts `p` and, only when it is new, writes `audit` in the same transaction.
    pub async fn post_with_audit(
        &self,
        p: &Posting,
        by: Option<UserId>,
        audit: Option<Audit<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Posted> {
        let txn = self.conn.begin().await?;
        if post_in(&txn, p, by, now).await? == Posted::AlreadyPosted {
            txn.rollback().await?;
            return Ok(Posted::AlreadyPosted);
        }
        if let Some(a) = audit {
            write_audit(&txn, a, now).await?;
        }
        txn.commit().await?;
        Ok(Posted::New)
    }

    /// The sum of the account's entries.
    pub async fn balance(&self, account: &Account) -> Result<Money> {
        balance_on(&self.conn, account).await
    }

    /// The account's entries, newest first. `page` is 1-based.
    pub async fn statement(&self, account: &Account, page: u32, per_page: u32) -> Result<(Vec<StatementLine>, u64)> {
        let pages = entries::Entity::find()
            .filter(entries::Column::Account.eq(account.to_string()))
            .order_by_desc(entries::Column::Id)
            .paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(u64::from(page.saturating_sub(1))).await?;
        let ids: Vec<i64> = rows.iter().map(|e| e.transaction_id).collect();
        let txs = transactions::Entity::find().filter(transactions::Column::Id.is_in(ids)).all(&self.conn).await?;
        let lines = rows
            .into_iter()
            .filter_map(|e| {
                let tx = txs.iter().find(|t| t.id == e.transaction_id)?;
                Some(StatementLine {
                    entry_id: e.id,
                    source_kind: tx.source_kind.clone(),
                    source_id: tx.source_id.clone(),
                    description: tx.description.clone(),
                    amount: Money(e.amount),
                    at: e.created_at,
                })
            })
            .collect();
        Ok((lines, total))
    }

    /// The user's balance and credit limit; `None` when there is no such user.
    pub async fn funds(&self, user: UserId) -> Result<Option<Funds>> {
        let Some(credit_limit) = self.credit_limit(user).await? else { return Ok(None) };
        use super::entities::billing_outbox as outbox;
        // SUM(bigint) is NUMERIC on PostgreSQL: cast back, as `balance_on` does.
        let pending: Option<i64> = outbox::Entity::find()
            .select_only()
            .column_as(Expr::cust("CAST(COALESCE(SUM(pending), 0) AS BIGINT)"), "pending")
            .filter(outbox::Column::UserId.eq(user.0))
            .into_tuple()
            .one(&self.conn)
            .await?;
        let balance = self.balance(&Account::User(user)).await?;
        Ok(Some(Funds { balance, credit_limit, pending: Money(pending.unwrap_or(0)) }))
    }

    pub async fn credit_limit(&self, user: UserId) -> Result<Option<Money>> {
        Ok(users::Entity::find_by_id(user.0).one(&self.conn).await?.map(|u| Money(u.credit_limit)))
    }

    /// Sets a user's credit limit, with an audit entry. `None` when there is no such user.
    pub async fn set_credit_limit(
        &self,
        actor: UserId,
        user: UserId,
        limit: Money,
        now: DateTime<Utc>,
    ) -> Result<Option<()>> {
        let txn = self.conn.begin().await?;
        let Some(before) = users::Entity::find_by_id(user.0).one(&txn).await? else { return Ok(None) };
        if before.credit_limit != limit.0 {
            let audit = Audit {
                actor,
                action: "user.credit_limit",
                target: format!("user:{}", user.0),
                before: Some(format!(r#"{{"credit_limit":"{}"}}"#, Money(before.credit_limit))),
                after: Some(format!(r#"{{"credit_limit":"{limit}"}}"#)),
            };
            set_user_column_audited(&txn, user, users::Column::CreditLimit, limit.0, audit, now).await?;
        }
        txn.commit().await?;
        Ok(Some(()))
    }
}

/// Writes `p` inside `txn`. On `AlreadyPosted` the transaction has seen a unique violation
/// (PostgreSQL then refuses further statements): the caller must roll it back.
pub(super) async fn post_in(
    txn: &DatabaseTransaction,
    p: &Posting,
    by: Option<UserId>,
    now: DateTime<Utc>,
) -> Result<Posted> {
    let inserted = transactions::ActiveModel {
        id: NotSet,
        source_kind: Set(p.source.kind.to_string()),
        source_id: Set(p.source.id.clone()),
        description: Set(p.description.clone()),
        created_by: Set(by.map(|u| u.0)),
        created_at: Set(now),
    }
    .insert(txn)
    .await;
    let tx = match inserted {
        Ok(tx) => tx,
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(Posted::AlreadyPosted);
        }
        Err(e) => return Err(e.into()),
    };
    for (account, amount) in &p.entries {
        entries::ActiveModel {
            id: NotSet,
            transaction_id: Set(tx.id),
            account: Set(account.to_string()),
            amount: Set(amount.0),
            created_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    Ok(Posted::New)
}

async fn balance_on(db: &impl ConnectionTrait, account: &Account) -> Result<Money> {
    // SUM(bigint) is NUMERIC on PostgreSQL: cast it back so both backends give an i64.
    let sum: Option<i64> = entries::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COALESCE(SUM(amount), 0) AS BIGINT)"), "total")
        .filter(entries::Column::Account.eq(account.to_string()))
        .into_tuple()
        .one(db)
        .await?;
    Ok(Money(sum.unwrap_or(0)))
}
