//! Card top-ups and what the payment provider said about them. Each change that moves money is
//! one transaction: the ledger posting (unique on its source) and the top-up's new state, or
//! neither.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::Expr,
};

use super::{
    Db, Result,
    entities::{topups, users},
    ledger::{Audit, Posted, post_in, set_user_column_audited},
    users::to_user,
};
use crate::{
    domain::{User, UserId},
    ledger::Posting,
    payments::{Currency, TopupFacts, TopupRef},
    rating::Money,
};

/// A top-up as stored.
#[derive(Debug, Clone)]
pub struct TopupRow {
    pub id: i64,
    pub user: UserId,
    pub amount: Money,
    pub currency: String,
    pub facts: TopupFacts,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

fn to_row(m: topups::Model) -> TopupRow {
    let refunded = Currency::parse(&m.currency).and_then(|c| c.from_minor(m.refunded_minor)).unwrap_or_default();
    TopupRow {
        id: m.id,
        user: UserId(m.user_id),
        amount: Money(m.amount),
        facts: TopupFacts {
            paid: m.paid_amount.map(Money),
            refunded,
            disputed: m.disputed_at.is_some(),
            expired: m.expired_at.is_some(),
        },
        currency: m.currency,
        created_at: m.created_at,
        paid_at: m.paid_at,
    }
}

/// The top-up `id`, locked for the rest of the transaction on PostgreSQL (on SQLite the
/// transaction holds the write lock from its start: see [`Db::begin_write`]).
async fn topup_in(txn: &DatabaseTransaction, id: i64) -> Result<Option<topups::Model>> {
    let mut q = topups::Entity::find_by_id(id);
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    Ok(q.one(txn).await?)
}

impl Db {
    pub async fn create_topup(
        &self,
        user: UserId,
        amount: Money,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let row = topups::ActiveModel {
            id: NotSet,
            user_id: Set(user.0),
            amount: Set(amount.0),
            currency: Set(currency.code().to_string()),
            checkout_session_id: Set(None),
            payment_intent_id: Set(None),
            paid_amount: Set(None),
            refunded_minor: Set(0),
            paid_at: Set(None),
            disputed_at: Set(None),
            expired_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.conn)
        .await?;
        Ok(row.id)
    }

    pub async fn set_topup_session(&self, id: i64, session: &str, now: DateTime<Utc>) -> Result<()> {
        topups::Entity::update_many()
            .col_expr(topups::Column::CheckoutSessionId, Expr::value(session))
            .col_expr(topups::Column::UpdatedAt, Expr::value(now))
            .filter(topups::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Forgets a top-up whose checkout could not be opened (nothing was paid).
    pub async fn delete_unpaid_topup(&self, id: i64) -> Result<()> {
        topups::Entity::delete_many()
            .filter(topups::Column::Id.eq(id))
            .filter(topups::Column::PaidAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn topup(&self, id: i64) -> Result<Option<TopupRow>> {
        Ok(topups::Entity::find_by_id(id).one(&self.conn).await?.map(to_row))
    }

    pub async fn topup_by_payment(&self, payment: &str) -> Result<Option<TopupRow>> {
        let row = topups::Entity::find().filter(topups::Column::PaymentIntentId.eq(payment)).one(&self.conn).await?;
        Ok(row.map(to_row))
    }

    /// The user's top-ups, newest first. `page` is 1-based.
    pub async fn topups_of(&self, user: UserId, page: u32, per_page: u32) -> Result<(Vec<TopupRow>, u64)> {
        let pages = topups::Entity::find()
            .filter(topups::Column::UserId.eq(user.0))
            .order_by_desc(topups::Column::Id)
            .paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(u64::from(page.saturating_sub(1))).await?;
        Ok((rows.into_iter().map(to_row).collect(), total))
    }

    pub async fn stripe_customer(&self, user: UserId) -> Result<Option<String>> {
        Ok(users::Entity::find_by_id(user.0).one(&self.conn).await?.and_then(|u| u.stripe_customer_id))
    }

    /// Stores the user's Stripe customer unless one is stored already; returns the stored one.
    pub async fn set_stripe_customer(&self, user: UserId, customer: &str) -> Result<Option<String>> {
        users::Entity::update_many()
            .col_expr(users::Column::StripeCustomerId, Expr::value(customer))
            .filter(users::Column::Id.eq(user.0))
            .filter(users::Column::StripeCustomerId.is_null())
            .exec(&self.conn)
            .await?;
        self.stripe_customer(user).await
    }

    /// Credits a paid top-up once per payment. `None`: no such top-up for that user.
    pub async fn credit_topup(
        &self,
        topup: TopupRef,
        payment: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Option<Posted>> {
        let posting = Posting::payment(payment, topup.user, amount);
        let txn = self.begin_write().await?;
        let Some(row) = topup_in(&txn, topup.topup).await?.filter(|r| r.user_id == topup.user.0) else {
            return Ok(None);
        };
        let Ok(posting) = posting else { return Ok(None) };
        if post_in(&txn, &posting, None, now).await? == Posted::AlreadyPosted {
            txn.rollback().await?;
            return Ok(Some(Posted::AlreadyPosted));
        }
        topups::Entity::update_many()
            .col_expr(topups::Column::PaymentIntentId, Expr::value(payment))
            .col_expr(topups::Column::PaidAmount, Expr::value(amount.0))
            .col_expr(topups::Column::PaidAt, Expr::value(now))
            .col_expr(topups::Column::UpdatedAt, Expr::value(now))
            .filter(topups::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(Posted::New))
    }

    /// Brings the refunds of the top-up's payment up to `refunded_minor` (cumulative, in the
    /// top-up's currency's minor units): posts the difference from what was refunded before.
    /// A notification with a total at or below the stored one changes nothing. `None`: no such
    /// top-up.
    pub async fn refund_topup(
        &self,
        topup: TopupRef,
        payment: &str,
        refunded_minor: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Posted>> {
        // Two refunds of one payment may race; the compare-and-set below makes the loser retry
        // from the winner's total.
        for _ in 0..5 {
            let txn = self.begin_write().await?;
            let Some(row) = topup_in(&txn, topup.topup).await?.filter(|r| r.user_id == topup.user.0) else {
                return Ok(None);
            };
            let Some(currency) = Currency::parse(&row.currency) else { return Ok(None) };
            if refunded_minor <= row.refunded_minor {
                return Ok(Some(Posted::AlreadyPosted));
            }
            let Some(delta) = currency.from_minor(refunded_minor - row.refunded_minor) else { return Ok(None) };
            let Ok(posting) = Posting::refund(payment, refunded_minor, topup.user, delta) else { return Ok(None) };
            if post_in(&txn, &posting, None, now).await? == Posted::AlreadyPosted {
                txn.rollback().await?;
                return Ok(Some(Posted::AlreadyPosted));
            }
            let done = topups::Entity::update_many()
                .col_expr(topups::Column::RefundedMinor, Expr::value(refunded_minor))
                .col_expr(topups::Column::PaymentIntentId, Expr::value(payment))
                .col_expr(topups::Column::UpdatedAt, Expr::value(now))
                .filter(topups::Column::Id.eq(row.id))
                .filter(topups::Column::RefundedMinor.eq(row.refunded_minor))
                .exec(&txn)
                .await?;
            if done.rows_affected == 1 {
                txn.commit().await?;
                return Ok(Some(Posted::New));
            }
            txn.rollback().await?;
        }
        Err(sea_orm::DbErr::Custom("refund kept racing with another; try again".into()).into())
    }

    /// Takes a disputed payment back and puts the user under review, once per dispute.
    pub async fn dispute_topup(
        &self,
        topup: TopupRef,
        payment: &str,
        dispute: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<Option<Posted>> {
        let txn = self.begin_write().await?;
        let Some(row) = topup_in(&txn, topup.topup).await?.filter(|r| r.user_id == topup.user.0) else {
            return Ok(None);
        };
        let Ok(posting) = Posting::dispute(dispute, topup.user, amount) else { return Ok(None) };
        if post_in(&txn, &posting, None, now).await? == Posted::AlreadyPosted {
            txn.rollback().await?;
            return Ok(Some(Posted::AlreadyPosted));
        }
        topups::Entity::update_many()
            .col_expr(topups::Column::DisputedAt, Expr::value(now))
            .col_expr(topups::Column::PaymentIntentId, Expr::value(payment))
            .col_expr(topups::Column::UpdatedAt, Expr::value(now))
            .filter(topups::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        users::Entity::update_many()
            .col_expr(users::Column::UnderReview, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(topup.user.0))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(Posted::New))
    }

    /// Checkout was abandoned: the top-up shows as expired (unless it was paid after all).
    pub async fn expire_topup(&self, topup: TopupRef, now: DateTime<Utc>) -> Result<()> {
        topups::Entity::update_many()
            .col_expr(topups::Column::ExpiredAt, Expr::value(now))
            .col_expr(topups::Column::UpdatedAt, Expr::value(now))
            .filter(topups::Column::Id.eq(topup.topup))
            .filter(topups::Column::UserId.eq(topup.user.0))
            .filter(topups::Column::ExpiredAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// An administrator clears a user's review flag, with an audit entry. `None`: no such user.
    pub async fn clear_review(&self, actor: UserId, user: UserId, now: DateTime<Utc>) -> Result<Option<User>> {
        let txn = self.conn.begin().await?;
        let Some(before) = users::Entity::find_by_id(user.0).one(&txn).await? else { return Ok(None) };
        if before.under_review {
            let audit = Audit {
                actor,
                action: "user.review_cleared",
                target: format!("user:{}", user.0),
                before: Some(r#"{"under_review":true}"#.into()),
                after: Some(r#"{"under_review":false}"#.into()),
            };
            set_user_column_audited(&txn, user, users::Column::UnderReview, false, audit, now).await?;
        }
        let after = users::Entity::find_by_id(user.0).one(&txn).await?.map(to_user);
        txn.commit().await?;
        Ok(after)
    }
}
