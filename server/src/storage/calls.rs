//! Call records: one row per call, one per leg (device). Written as the call progresses, so a
//! crash leaves a record of how far the call got.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    TransactionTrait,
    sea_query::Expr,
};

use super::{
    Db, Result, entities::billing_outbox as outbox, entities::call_legs as legs, entities::calls, entities::users,
    users::to_user,
};
use crate::{
    domain::{User, UserId},
    rating::{Money, Tariff},
};

/// What the caller's wallet says about a call that ends: what it still holds for the call
/// (counted against the caller's funds until the charge is posted) and the talk time paid for
/// (the charge's cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndBilling {
    pub pending: Money,
    pub paid_secs: Option<u64>,
}

/// A call as the history shows it.
#[derive(Debug, Clone)]
pub struct CallSummary {
    pub id: String,
    /// `webrtc`, `pstn_out` or `pstn_in`.
    pub kind: String,
    /// The far end's phone number on a PSTN call (dialled, or calling in).
    pub number: Option<String>,
    pub caller: UserId,
    pub callee: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_cause: Option<String>,
    /// The carrier of a PSTN call, as it was named then.
    pub carrier_name: Option<String>,
    /// The carrier leg's final SIP response code.
    pub sip_code: Option<u16>,
    /// What the user was charged, once the call ended with a sell price.
    pub charge: Option<Money>,
}

fn summary(m: calls::Model) -> CallSummary {
    CallSummary {
        id: m.id,
        kind: m.kind,
        number: m.callee_number,
        caller: UserId(m.caller_id),
        callee: m.callee_id.map(UserId),
        created_at: m.created_at,
        answered_at: m.answered_at,
        ended_at: m.ended_at,
        end_cause: m.end_cause,
        carrier_name: m.carrier_name,
        sip_code: m.sip_code.and_then(|c| u16::try_from(c).ok()),
        charge: m.charge.map(Money),
    }
}

fn leg(call: &str, user: UserId, device: &str, role: &str, now: DateTime<Utc>) -> legs::ActiveModel {
    legs::ActiveModel {
        id: NotSet,
        call_id: Set(call.to_string()),
        user_id: Set(user.0),
        device_id: Set(device.to_string()),
        role: Set(role.to_string()),
        created_at: Set(now),
        answered_at: Set(None),
        ended_at: Set(None),
        end_cause: Set(None),
    }
}

/// A PSTN call as it starts.
pub struct PstnCall<'a> {
    /// `pstn_out` or `pstn_in`.
    pub kind: &'a str,
    pub user: UserId,
    pub device: &'a str,
    /// The far end: the number dialled, or the number calling in.
    pub number: &'a str,
    pub carrier_id: i64,
    pub carrier_name: &'a str,
    /// What the user pays: the retail rate's prefix and tariff (`None`: not charged).
    pub sell: Option<(String, Tariff)>,
    /// What the carrier charges us, from its buy deck (`None`: unknown).
    pub buy: Option<Tariff>,
    /// Outbound: why each carrier was chosen or left out, one line each.
    pub route_plan: Option<&'a str>,
}

/// The price a call was sold at, when it has one.
pub(super) fn sell_tariff(m: &calls::Model) -> Option<Tariff> {
    Tariff::new(
        Money(m.sell_per_minute?),
        Money(m.sell_connection_fee?),
        m.sell_min_duration?.try_into().ok()?,
        m.sell_first_increment?.try_into().ok()?,
        m.sell_next_increment?.try_into().ok()?,
    )
    .ok()
}

pub(super) fn call_row(
    id: &str,
    kind: &str,
    caller: UserId,
    callee: Option<UserId>,
    now: DateTime<Utc>,
) -> calls::ActiveModel {
    calls::ActiveModel {
        id: Set(id.to_string()),
        kind: Set(kind.into()),
        caller_id: Set(caller.0),
        callee_id: Set(callee.map(|c| c.0)),
        callee_number: Set(None),
        created_at: Set(now),
        ringing_at: Set(None),
        answered_at: Set(None),
        ended_at: Set(None),
        end_cause: Set(None),
        ended_by: Set(None),
        carrier_id: Set(None),
        carrier_name: Set(None),
        sip_code: Set(None),
        sell_prefix: Set(None),
        sell_per_minute: Set(None),
        sell_connection_fee: Set(None),
        sell_min_duration: Set(None),
        sell_first_increment: Set(None),
        sell_next_increment: Set(None),
        billable_secs: Set(None),
        charge: Set(None),
        last_seen_at: Set(None),
        paid_until: Set(None),
        paid_secs: Set(None),
        buy_cost: Set(None),
        posted_at: Set(None),
        buy_per_minute: Set(None),
        buy_connection_fee: Set(None),
        buy_min_duration: Set(None),
        buy_first_increment: Set(None),
        buy_next_increment: Set(None),
        route_plan: Set(None),
    }
}

/// The retail tariff a call is sold at, on its row.
fn set_sell(row: &mut calls::ActiveModel, prefix: &str, t: &Tariff) {
    let secs = |s: u32| Set(Some(i32::try_from(s).unwrap_or(i32::MAX)));
    row.sell_prefix = Set(Some(prefix.to_string()));
    row.sell_per_minute = Set(Some(t.per_minute.0));
    row.sell_connection_fee = Set(Some(t.connection_fee.0));
    row.sell_min_duration = secs(t.min_duration);
    row.sell_first_increment = secs(t.first_increment);
    row.sell_next_increment = secs(t.next_increment);
}

/// The carrier's tariff a call is bought at, on its row.
fn set_buy(row: &mut calls::ActiveModel, t: &Tariff) {
    let secs = |s: u32| Set(Some(i32::try_from(s).unwrap_or(i32::MAX)));
    row.buy_per_minute = Set(Some(t.per_minute.0));
    row.buy_connection_fee = Set(Some(t.connection_fee.0));
    row.buy_min_duration = secs(t.min_duration);
    row.buy_first_increment = secs(t.first_increment);
    row.buy_next_increment = secs(t.next_increment);
}

pub(super) fn buy_tariff(m: &calls::Model) -> Option<Tariff> {
    Tariff::new(
        Money(m.buy_per_minute?),
        Money(m.buy_connection_fee?),
        m.buy_min_duration?.try_into().ok()?,
        m.buy_first_increment?.try_into().ok()?,
        m.buy_next_increment?.try_into().ok()?,
    )
    .ok()
}

impl Db {
    /// A browser call and its caller's leg; `sell` is the browser-call price, if not free.
    pub async fn create_call(
        &self,
        id: &str,
        caller: UserId,
        caller_device: &str,
        callee: UserId,
        now: DateTime<Utc>,
        sell: Option<Tariff>,
    ) -> Result<()> {
        let txn = self.conn.begin().await?;
        let mut row = call_row(id, "webrtc", caller, Some(callee), now);
        if let Some(t) = &sell {
            set_sell(&mut row, "webrtc", t);
        }
        row.insert(&txn).await?;
        leg(id, caller, caller_device, "caller", now).insert(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// A PSTN call of `c.user`, whose leg `c.device` is the user's side.
    pub async fn create_pstn_call(&self, id: &str, c: &PstnCall<'_>, now: DateTime<Utc>) -> Result<()> {
        let callee = (c.kind == "pstn_in").then_some(c.user);
        let txn = self.conn.begin().await?;
        let mut row = call_row(id, c.kind, c.user, callee, now);
        row.callee_number = Set(Some(c.number.to_string()));
        row.carrier_id = Set(Some(c.carrier_id));
        row.carrier_name = Set(Some(c.carrier_name.to_string()));
        row.route_plan = Set(c.route_plan.map(str::to_string));
        if let Some((prefix, t)) = &c.sell {
            set_sell(&mut row, prefix, t);
        }
        if let Some(t) = &c.buy {
            set_buy(&mut row, t);
        }
        row.insert(&txn).await?;
        leg(id, c.user, c.device, "caller", now).insert(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn call_ringing(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        calls::Entity::update_many()
            .col_expr(calls::Column::RingingAt, Expr::value(now))
            .filter(calls::Column::Id.eq(id))
            .filter(calls::Column::RingingAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// A callee device started ringing. Idempotent.
    pub async fn leg_ringing(&self, id: &str, user: UserId, device: &str, now: DateTime<Utc>) -> Result<()> {
        match leg(id, user, device, "callee", now).insert(&self.conn).await {
            Err(e) if !matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The carrier leg's final SIP response code (e.g. 200, 486, 487).
    pub async fn call_set_sip_code(&self, id: &str, code: u16) -> Result<()> {
        calls::Entity::update_many()
            .col_expr(calls::Column::SipCode, Expr::value(i32::from(code)))
            .filter(calls::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// The carrier a PSTN call goes out through (the name is kept for history) and its price
    /// there; failover moves a call to another carrier with this.
    pub async fn call_set_carrier(
        &self,
        id: &str,
        carrier_id: i64,
        carrier_name: &str,
        buy: Option<Tariff>,
    ) -> Result<()> {
        let mut row = calls::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(id.to_string()),
            carrier_id: Set(Some(carrier_id)),
            carrier_name: Set(Some(carrier_name.to_string())),
            ..Default::default()
        };
        match &buy {
            Some(t) => set_buy(&mut row, t),
            None => {
                row.buy_per_minute = Set(None);
                row.buy_connection_fee = Set(None);
                row.buy_min_duration = Set(None);
                row.buy_first_increment = Set(None);
                row.buy_next_increment = Set(None);
            }
        }
        calls::Entity::update(row).exec(&self.conn).await?;
        Ok(())
    }

    /// `device` answered: the call and both talking legs are answered.
    pub async fn call_answered(&self, id: &str, device: &str, now: DateTime<Utc>) -> Result<()> {
        let txn = self.conn.begin().await?;
        calls::Entity::update_many()
            .col_expr(calls::Column::AnsweredAt, Expr::value(now))
            .filter(calls::Column::Id.eq(id))
            .filter(calls::Column::AnsweredAt.is_null())
            .exec(&txn)
            .await?;
        legs::Entity::update_many()
            .col_expr(legs::Column::AnsweredAt, Expr::value(now))
            .filter(legs::Column::CallId.eq(id))
            .filter(Condition::any().add(legs::Column::DeviceId.eq(device)).add(legs::Column::Role.eq("caller")))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn leg_ended(&self, id: &str, device: &str, cause: &str, now: DateTime<Utc>) -> Result<()> {
        legs::Entity::update_many()
            .col_expr(legs::Column::EndedAt, Expr::value(now))
            .col_expr(legs::Column::EndCause, Expr::value(cause))
            .filter(legs::Column::CallId.eq(id))
            .filter(legs::Column::DeviceId.eq(device))
            .filter(legs::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// The call is over: it and every leg still open get the cause and, for a sold call, the
    /// talk time paid for; a sold call also goes to the billing outbox, in the same transaction
    /// (the billing worker rates it and posts the charge). Idempotent: only the first end
    /// counts. Returns whose call was queued for billing.
    pub async fn call_ended(
        &self,
        id: &str,
        cause: &str,
        by: Option<UserId>,
        now: DateTime<Utc>,
        billing: EndBilling,
    ) -> Result<Option<UserId>> {
        let txn = self.begin_write().await?;
        let ended = calls::Entity::update_many()
            .col_expr(calls::Column::EndedAt, Expr::value(now))
            .col_expr(calls::Column::EndCause, Expr::value(cause))
            .col_expr(calls::Column::EndedBy, Expr::value(by.map(|u| u.0)))
            .col_expr(
                calls::Column::PaidSecs,
                Expr::value(billing.paid_secs.map(|s| i64::try_from(s).unwrap_or(i64::MAX))),
            )
            .filter(calls::Column::Id.eq(id))
            .filter(calls::Column::EndedAt.is_null())
            .exec(&txn)
            .await?;
        legs::Entity::update_many()
            .col_expr(legs::Column::EndedAt, Expr::value(now))
            .col_expr(legs::Column::EndCause, Expr::value(cause))
            .filter(legs::Column::CallId.eq(id))
            .filter(legs::Column::EndedAt.is_null())
            .exec(&txn)
            .await?;
        let mut queued = None;
        if ended.rows_affected == 1
            && let Some(row) = calls::Entity::find_by_id(id).one(&txn).await?
            && sell_tariff(&row).is_some()
        {
            // A sold call goes to the billing worker, with what the caller's wallet still
            // holds for it (counted against their funds until the charge is posted).
            outbox::ActiveModel {
                call_id: Set(id.to_string()),
                user_id: Set(row.caller_id),
                pending: Set(billing.pending.0),
                enqueued_at: Set(now),
                attempts: Set(0),
                last_error: Set(None),
            }
            .insert(&txn)
            .await?;
            queued = Some(UserId(row.caller_id));
        }
        txn.commit().await?;
        Ok(queued)
    }

    /// The process is alive and so are these calls (the hub's live ones): stamps them with
    /// `now`. One statement per 500 calls. A call whose task died without an end stops being
    /// stamped, and the sweeper ends it.
    pub async fn touch_calls(&self, ids: &[String], now: DateTime<Utc>) -> Result<()> {
        for chunk in ids.chunks(500) {
            calls::Entity::update_many()
                .col_expr(calls::Column::LastSeenAt, Expr::value(now))
                .filter(calls::Column::Id.is_in(chunk.iter().cloned()))
                .filter(calls::Column::EndedAt.is_null())
                .exec(&self.conn)
                .await?;
        }
        Ok(())
    }

    /// Calls still open from before a restart (the process died mid-call) get `cause`. Each
    /// ends, and is charged, at the last time it was seen alive (or when it was answered or
    /// created, if never) and never after its paid-until deadline; never at `now`: the
    /// downtime is not billed.
    pub async fn end_orphaned_calls(&self, cause: &str, now: DateTime<Utc>) -> Result<u64> {
        let open = calls::Entity::find().filter(calls::Column::EndedAt.is_null()).all(&self.conn).await?;
        for call in &open {
            self.end_abandoned(call, cause, now).await?;
        }
        Ok(open.len() as u64)
    }

    /// The sweeper, while the server runs: open calls past their paid-until deadline by more
    /// than `grace` (whoever runs them failed to cut them) end at the deadline with
    /// `credit_exhausted`; open calls not seen alive for `grace` (their task is gone) end when
    /// last seen, with `connection_lost`. Returns the calls ended and their causes.
    pub async fn end_overdue_calls(
        &self,
        grace: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, &'static str)>> {
        let before = now - grace;
        let overdue = calls::Entity::find()
            .filter(calls::Column::EndedAt.is_null())
            .filter(
                Condition::any()
                    .add(calls::Column::PaidUntil.lt(before))
                    .add(calls::Column::LastSeenAt.lt(before))
                    .add(
                        Condition::all()
                            .add(calls::Column::LastSeenAt.is_null())
                            .add(calls::Column::CreatedAt.lt(before)),
                    ),
            )
            .all(&self.conn)
            .await?;
        let mut ended = vec![];
        for call in &overdue {
            let cause =
                if call.paid_until.is_some_and(|p| p < before) { "credit_exhausted" } else { "connection_lost" };
            self.end_abandoned(call, cause, now).await?;
            ended.push((call.id.clone(), cause));
        }
        Ok(ended)
    }

    async fn end_abandoned(&self, call: &calls::Model, cause: &str, now: DateTime<Utc>) -> Result<()> {
        let seen = [Some(call.created_at), call.answered_at, call.last_seen_at].into_iter().flatten().max();
        let mut at = seen.unwrap_or(now).min(now);
        if let Some(paid) = call.paid_until {
            at = at.min(paid.max(call.answered_at.unwrap_or(paid)));
        }
        // The cap on the talk time: up to the paid-until deadline, if there was one.
        let paid_secs = match (call.paid_until, call.answered_at) {
            (Some(p), Some(a)) => Some(u64::try_from((p - a).num_seconds()).unwrap_or(0)),
            _ => None,
        };
        self.call_ended(&call.id, cause, None, at, EndBilling { pending: Money::ZERO, paid_secs }).await?;
        Ok(())
    }

    /// The call's planned paid-until deadline (`None`: none within the planning horizon).
    pub async fn set_paid_until(&self, id: &str, at: Option<DateTime<Utc>>) -> Result<()> {
        calls::Entity::update_many()
            .col_expr(calls::Column::PaidUntil, Expr::value(at))
            .filter(calls::Column::Id.eq(id))
            .filter(calls::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// The user's calls, newest first, with the other party. `page` is 1-based.
    pub async fn call_history(
        &self,
        user: UserId,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<(CallSummary, Option<User>)>, u64)> {
        let pages = calls::Entity::find()
            .filter(Condition::any().add(calls::Column::CallerId.eq(user.0)).add(calls::Column::CalleeId.eq(user.0)))
            .order_by_desc(calls::Column::CreatedAt)
            .order_by_desc(calls::Column::Id)
            .paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows: Vec<CallSummary> =
            pages.fetch_page(u64::from(page.saturating_sub(1))).await?.into_iter().map(summary).collect();
        // A PSTN call's far end is a number, not a user.
        let peer_of = |c: &CallSummary| match () {
            _ if c.kind != "webrtc" => None,
            _ if c.caller == user => c.callee,
            _ => Some(c.caller),
        };
        let ids: Vec<i64> = rows.iter().filter_map(peer_of).map(|u| u.0).collect();
        let peers: Vec<User> = users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(to_user)
            .collect();
        let items = rows
            .into_iter()
            .map(|c| {
                let peer = peer_of(&c).and_then(|p| peers.iter().find(|u| u.id == p).cloned());
                (c, peer)
            })
            .collect();
        Ok((items, total))
    }

    /// The people the user called or was called by most recently, newest first, at most `limit`.
    pub async fn recent_contacts(&self, user: UserId, limit: usize) -> Result<Vec<User>> {
        let recent = calls::Entity::find()
            .filter(Condition::any().add(calls::Column::CallerId.eq(user.0)).add(calls::Column::CalleeId.eq(user.0)))
            .order_by_desc(calls::Column::CreatedAt)
            .limit(200)
            .all(&self.conn)
            .await?;
        let mut order: Vec<i64> = vec![];
        for c in recent {
            let peer = if c.caller_id == user.0 { c.callee_id } else { Some(c.caller_id) };
            if let Some(p) = peer.filter(|p| *p != user.0 && !order.contains(p)) {
                order.push(p);
                if order.len() == limit {
                    break;
                }
            }
        }
        let found: Vec<User> = users::Entity::find()
            .filter(users::Column::Id.is_in(order.clone()))
            .filter(users::Column::Disabled.eq(false))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(to_user)
            .collect();
        Ok(order.iter().filter_map(|id| found.iter().find(|u| u.id.0 == *id).cloned()).collect())
    }
}
