//! The billing worker's side of storage: ended sold calls wait in `billing_outbox`; posting one
//! rates it, completes its CDR (billable time, charge, buy cost) and posts the charge to the
//! ledger, in one transaction that also deletes the outbox row. Posting is idempotent on the
//! call id (the ledger source `call:<id>`), so a worker killed at any point, or two workers at
//! once, post each call exactly once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait},
};

use super::{
    Db, Result,
    calls::{buy_tariff, sell_tariff},
    entities::{billing_outbox as outbox, call_attempts as attempts, calls},
    ledger::{Posted, post_in},
};
use crate::{domain::UserId, ledger::Posting, rating::Money};

/// One call the worker posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedCall {
    pub call_id: String,
    pub user: UserId,
    pub charge: Money,
}

/// One try to reach the far end of a call (one carrier, one gateway).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Its place among the call's attempts, from 0.
    pub seq: u32,
    pub carrier_id: Option<i64>,
    pub carrier_name: String,
    pub gateway: Option<String>,
    pub sip_code: Option<u16>,
    /// `answered`, `failed`, `cancelled`, …
    pub outcome: String,
    pub started_at: DateTime<Utc>,
    pub pdd_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// A call's money, as billing sees it (for the CDR view and tests).
#[derive(Debug, Clone)]
pub struct CallBilling {
    pub user: UserId,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_cause: Option<String>,
    pub paid_until: Option<DateTime<Utc>>,
    pub paid_secs: Option<i64>,
    pub billable_secs: Option<i64>,
    pub charge: Option<Money>,
    pub buy_cost: Option<Money>,
    pub posted_at: Option<DateTime<Utc>>,
}

impl Db {
    pub async fn call_billing(&self, id: &str) -> Result<Option<CallBilling>> {
        Ok(calls::Entity::find_by_id(id).one(&self.conn).await?.map(|c| CallBilling {
            user: UserId(c.caller_id),
            answered_at: c.answered_at,
            ended_at: c.ended_at,
            end_cause: c.end_cause,
            paid_until: c.paid_until,
            paid_secs: c.paid_secs,
            billable_secs: c.billable_secs,
            charge: c.charge.map(Money),
            buy_cost: c.buy_cost.map(Money),
            posted_at: c.posted_at,
        }))
    }

    /// Calls waiting to be posted, oldest first.
    pub async fn calls_to_post(&self, limit: u64) -> Result<Vec<String>> {
        Ok(outbox::Entity::find()
            .order_by_asc(outbox::Column::EnqueuedAt)
            .order_by_asc(outbox::Column::CallId)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|r| r.call_id)
            .collect())
    }

    /// Rates and posts one ended call (see the module). `None` when it is not (or no longer)
    /// waiting.
    pub async fn post_call(&self, id: &str, now: DateTime<Utc>) -> Result<Option<PostedCall>> {
        let txn = self.begin_write().await?;
        let Some(queued) = outbox::Entity::find_by_id(id).one(&txn).await? else {
            txn.rollback().await?;
            return Ok(None);
        };
        let user = UserId(queued.user_id);
        let row = calls::Entity::find_by_id(id).one(&txn).await?;
        let talk = row.as_ref().and_then(|r| Some((r.ended_at? - r.answered_at?).to_std().unwrap_or_default()));
        let (charge, billable) = match row.as_ref().and_then(sell_tariff) {
            Some(tariff) => {
                // Never more than what the wallet paid for.
                let cap = row
                    .as_ref()
                    .and_then(|r| r.paid_secs)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(std::time::Duration::from_secs);
                let c = crate::rating::rate(&tariff, talk.map(|t| cap.map_or(t, |c| t.min(c))));
                (c.amount, c.billable_secs)
            }
            None => (Money::ZERO, 0),
        };
        // What the carrier charges us for the talk it carried, by its own tariff.
        let cost = row.as_ref().and_then(buy_tariff).map(|t| crate::rating::rate(&t, talk).amount);
        calls::Entity::update_many()
            .col_expr(calls::Column::BillableSecs, Expr::value(i64::try_from(billable).unwrap_or(i64::MAX)))
            .col_expr(calls::Column::Charge, Expr::value(charge.0))
            .col_expr(calls::Column::BuyCost, Expr::value(cost.map(|c| c.0)))
            .col_expr(calls::Column::PostedAt, Expr::value(now))
            .filter(calls::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        let mut postings = vec![];
        if charge > Money::ZERO
            && let Ok(p) = Posting::call_charge(id, user, charge)
        {
            postings.push(p);
        }
        if let Some(cost) = cost.filter(|c| *c > Money::ZERO)
            && let Ok(p) = Posting::carrier_cost(id, cost)
        {
            postings.push(p);
        }
        let mut already = false;
        for p in &postings {
            already |= post_in(&txn, p, None, now).await? == Posted::AlreadyPosted;
            if already {
                break;
            }
        }
        if already {
            // Posted before (a worker died after its commit?): the row only needs to go.
            txn.rollback().await?;
            outbox::Entity::delete_by_id(id).exec(&self.conn).await?;
            return Ok(None);
        }
        outbox::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(Some(PostedCall { call_id: id.to_string(), user, charge }))
    }

    /// A post that failed: counted, with its error, for the admin's eyes; the row stays.
    pub async fn post_failed(&self, id: &str, error: &str) -> Result<()> {
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::col(outbox::Column::Attempts).add(1))
            .col_expr(outbox::Column::LastError, Expr::value(error.chars().take(500).collect::<String>()))
            .filter(outbox::Column::CallId.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Records one routing attempt of a call (one insert: no read-then-write transaction that
    /// SQLite could refuse while the call's end is being written).
    pub async fn record_attempt(&self, call: &str, a: &Attempt) -> Result<()> {
        attempt_row(call, a).insert(&self.conn).await?;
        Ok(())
    }

    /// A call's routing attempts, in order.
    pub async fn call_attempts(&self, call: &str) -> Result<Vec<Attempt>> {
        Ok(attempts::Entity::find()
            .filter(attempts::Column::CallId.eq(call))
            .order_by_asc(attempts::Column::Seq)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(attempt_of)
            .collect())
    }
}

impl Db {
    /// The latest `limit` attempts through `carrier`, newest first: when, and the outcome code.
    pub async fn recent_attempts(&self, carrier: i64, limit: u64) -> Result<Vec<(DateTime<Utc>, String)>> {
        let all = self.carrier_attempts(carrier, None, limit).await?;
        Ok(all.into_iter().map(|(_, a)| (a.started_at, a.outcome)).collect())
    }

    /// `carrier`'s attempts (since `since`, when given), newest first, at most `limit`, with
    /// their calls.
    pub async fn carrier_attempts(
        &self,
        carrier: i64,
        since: Option<DateTime<Utc>>,
        limit: u64,
    ) -> Result<Vec<(String, Attempt)>> {
        Ok(attempts::Entity::find()
            .filter(attempts::Column::CarrierId.eq(carrier))
            .apply_if(since, |q, since| q.filter(attempts::Column::StartedAt.gte(since)))
            .order_by_desc(attempts::Column::StartedAt)
            .order_by_desc(attempts::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|m| (m.call_id.clone(), attempt_of(m)))
            .collect())
    }

    /// A call's whole record, for the admin's detail view.
    pub async fn call_record(&self, id: &str) -> Result<Option<CallRecord>> {
        let Some(m) = calls::Entity::find_by_id(id.to_string()).one(&self.conn).await? else { return Ok(None) };
        Ok(Some(CallRecord {
            id: m.id,
            kind: m.kind,
            caller: m.caller_id,
            callee: m.callee_id,
            number: m.callee_number,
            carrier_id: m.carrier_id,
            carrier_name: m.carrier_name,
            route_plan: m.route_plan,
            created_at: m.created_at,
            answered_at: m.answered_at,
            ended_at: m.ended_at,
            end_cause: m.end_cause,
            ended_by: m.ended_by,
            sip_code: m.sip_code.and_then(|c| u16::try_from(c).ok()),
            billable_secs: m.billable_secs,
            charge: m.charge.map(Money),
            buy_cost: m.buy_cost.map(Money),
        }))
    }
}

/// A call's row, as the admin's detail view shows it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    pub id: String,
    pub kind: String,
    pub caller: i64,
    pub callee: Option<i64>,
    pub number: Option<String>,
    pub carrier_id: Option<i64>,
    pub carrier_name: Option<String>,
    pub route_plan: Option<String>,
    pub created_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_cause: Option<String>,
    /// The user who ended it (an admin, or one of the parties), when a person did.
    pub ended_by: Option<i64>,
    pub sip_code: Option<u16>,
    pub billable_secs: Option<i64>,
    pub charge: Option<Money>,
    pub buy_cost: Option<Money>,
}

/// The row of one of `call`'s attempts.
pub(super) fn attempt_row(call: &str, a: &Attempt) -> attempts::ActiveModel {
    attempts::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        call_id: Set(call.to_string()),
        seq: Set(i32::try_from(a.seq).unwrap_or(i32::MAX)),
        carrier_id: Set(a.carrier_id),
        carrier_name: Set(a.carrier_name.clone()),
        gateway: Set(a.gateway.clone()),
        sip_code: Set(a.sip_code.map(i32::from)),
        outcome: Set(a.outcome.clone()),
        started_at: Set(a.started_at),
        pdd_ms: Set(a.pdd_ms),
        duration_ms: Set(a.duration_ms),
    }
}

fn attempt_of(m: attempts::Model) -> Attempt {
    Attempt {
        seq: u32::try_from(m.seq).unwrap_or(0),
        carrier_id: m.carrier_id,
        carrier_name: m.carrier_name,
        gateway: m.gateway,
        sip_code: m.sip_code.and_then(|c| u16::try_from(c).ok()),
        outcome: m.outcome,
        started_at: m.started_at,
        pdd_ms: m.pdd_ms,
        duration_ms: m.duration_ms,
    }
}
