//! What the admin dashboard reads: call records searched and paged by key (newest first, so a
//! page costs the same on the millionth record as on the first), the calls in progress, the
//! facts statistics are made of (streamed, aggregated by `stats`), and the audit log.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use super::{
    Db, Result,
    billing::{Attempt, attempt_row},
    calls::{call_row, sell_tariff},
    entities::{audit_log, call_attempts as attempts, calls, ledger::entries, users},
    ledger::{Audit, write_audit},
};
use crate::{
    domain::UserId,
    rating::{Money, Tariff},
    stats::{AttemptFact, CallFact, MoneyFact},
};

/// Which call records: every field narrows the search (AND).
#[derive(Debug, Clone, Default)]
pub struct CdrFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The caller or the callee.
    pub user: Option<UserId>,
    /// The far end's number starts with this (`+` and digits only).
    pub number_prefix: Option<String>,
    pub carrier: Option<i64>,
    /// `webrtc`, `pstn_out`, `pstn_in`.
    pub kind: Option<String>,
    /// `Some(true)`: answered calls; `Some(false)`: never answered.
    pub answered: Option<bool>,
    pub cause: Option<String>,
    pub cost_min: Option<Money>,
    pub cost_max: Option<Money>,
}

/// Where a page starts: after this record, in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

/// One call record with the emails of its parties.
#[derive(Debug, Clone)]
pub struct Cdr {
    pub id: String,
    pub kind: String,
    pub caller: UserId,
    pub caller_email: Option<String>,
    pub callee: Option<UserId>,
    pub callee_email: Option<String>,
    pub number: Option<String>,
    pub carrier_id: Option<i64>,
    pub carrier_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_cause: Option<String>,
    pub sip_code: Option<u16>,
    pub billable_secs: Option<i64>,
    pub charge: Option<Money>,
    pub buy_cost: Option<Money>,
}

/// A call in progress as stored: who, where, how far, at what price.
#[derive(Debug, Clone)]
pub struct OpenCall {
    pub id: String,
    pub kind: String,
    pub caller: UserId,
    pub caller_name: Option<String>,
    pub callee_name: Option<String>,
    pub number: Option<String>,
    pub carrier_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ringing_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub sell: Option<Tariff>,
}

/// One audit-log row with its actor's email.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub actor: Option<UserId>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which audit entries.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The action, or its start (`user.`).
    pub action: Option<String>,
    pub target: Option<String>,
    pub actor: Option<UserId>,
}

/// A finished call record written whole: for imports from other platforms, tests and
/// measurements.
#[derive(Debug, Clone)]
pub struct CdrSeed {
    pub id: String,
    pub kind: String,
    pub caller: UserId,
    pub callee: Option<UserId>,
    pub number: Option<String>,
    pub carrier: Option<(i64, String)>,
    pub created_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: DateTime<Utc>,
    pub end_cause: String,
    pub billable_secs: i64,
    pub charge: Option<Money>,
    pub buy_cost: Option<Money>,
    pub sell_prefix: Option<String>,
    /// Its routing attempts, in order.
    pub attempts: Vec<Attempt>,
}

/// A number prefix (or a cost range) that fewer calls than this match is searched through the
/// number (or cost) index, its matches sorted by time; one that more match, through the
/// newest-first index, where a page of matches is near.
const FEW: u64 = 5_000;

/// Which of a search's ranges select few enough calls to be looked up in their own index.
#[derive(Clone, Copy, Default)]
struct Sparse {
    number: bool,
    charge: bool,
}

/// The smallest string greater than every string that starts with `prefix` (ASCII input).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last = last.saturating_add(1);
    }
    String::from_utf8_lossy(&end).into_owned()
}

/// `f` as a condition, its sparse ranges written so that their index finds them and the others
/// so that no index does.
fn condition(f: &CdrFilter, sparse: Sparse) -> Condition {
    let mut c = Condition::all();
    if let Some(from) = f.from {
        c = c.add(calls::Column::CreatedAt.gte(from));
    }
    if let Some(to) = f.to {
        c = c.add(calls::Column::CreatedAt.lt(to));
    }
    if let Some(p) = &f.number_prefix {
        // LIKE keeps it exact whatever the collation. A prefix few calls match: the range lets
        // the number index find them. One many match (a country): without the range the
        // database walks the newest-first index and stops at a page, instead of sorting them all.
        c = c.add(calls::Column::CalleeNumber.like(format!("{p}%")));
        if sparse.number {
            c = c.add(calls::Column::CalleeNumber.gte(p.as_str())).add(calls::Column::CalleeNumber.lt(prefix_end(p)));
        }
    }
    if let Some(carrier) = f.carrier {
        c = c.add(calls::Column::CarrierId.eq(carrier));
    }
    if let Some(kind) = &f.kind {
        c = c.add(calls::Column::Kind.eq(kind.as_str()));
    }
    match f.answered {
        Some(true) => c = c.add(calls::Column::AnsweredAt.is_not_null()),
        Some(false) => c = c.add(calls::Column::AnsweredAt.is_null()),
        None => {}
    }
    if let Some(cause) = &f.cause {
        c = c.add(calls::Column::EndCause.eq(cause.as_str()));
    }
    if f.cost_min.is_some() || f.cost_max.is_some() {
        let (min, max) = (f.cost_min.map_or(i64::MIN, |m| m.0), f.cost_max.map_or(i64::MAX, |m| m.0));
        // Both bounds, so that a planner sees a narrow range; `charge + 0` is the same number,
        // but no index has it.
        let charge =
            if sparse.charge { Expr::col(calls::Column::Charge) } else { Expr::col(calls::Column::Charge).add(0) };
        c = c.add(charge.clone().gte(min)).add(charge.lte(max));
    }
    c
}

/// After the cursor in `(created_at, id)` order, as one row-value comparison (an index range on
/// both databases), plus the plain bound on `created_at` that lets any planner pick the index.
fn after(cursor: &CdrCursor) -> Condition {
    let row = Expr::tuple([Expr::col(calls::Column::CreatedAt), Expr::col(calls::Column::Id)]);
    let at = Expr::tuple([Expr::val(cursor.created_at), Expr::val(cursor.id.as_str())]);
    Condition::all().add(calls::Column::CreatedAt.lte(cursor.created_at)).add(row.lt(at))
}

fn cdr(m: calls::Model, emails: &HashMap<i64, String>) -> Cdr {
    Cdr {
        caller_email: emails.get(&m.caller_id).cloned(),
        callee_email: m.callee_id.and_then(|c| emails.get(&c).cloned()),
        id: m.id,
        kind: m.kind,
        caller: UserId(m.caller_id),
        callee: m.callee_id.map(UserId),
        number: m.callee_number,
        carrier_id: m.carrier_id,
        carrier_name: m.carrier_name,
        created_at: m.created_at,
        answered_at: m.answered_at,
        ended_at: m.ended_at,
        end_cause: m.end_cause,
        sip_code: m.sip_code.and_then(|c| u16::try_from(c).ok()),
        billable_secs: m.billable_secs,
        charge: m.charge.map(Money),
        buy_cost: m.buy_cost.map(Money),
    }
}

impl Db {
    /// Up to `limit` records matching `filter`, newest first, after `cursor`; and whether more
    /// follow.
    pub async fn search_cdrs(
        &self,
        filter: &CdrFilter,
        cursor: Option<&CdrCursor>,
        limit: u32,
    ) -> Result<(Vec<Cdr>, bool)> {
        let sparse = self.sparse(filter).await?;
        let mut cond = condition(filter, sparse);
        if let Some(c) = cursor {
            cond = cond.add(after(c));
        }
        let page = |cond: Condition| {
            calls::Entity::find()
                .filter(cond)
                .order_by_desc(calls::Column::CreatedAt)
                .order_by_desc(calls::Column::Id)
                .limit(u64::from(limit) + 1)
                .all(&self.conn)
        };
        let mut rows = match filter.user {
            None => page(cond).await?,
            // A user's calls as caller and as callee: two index-ordered reads merged here,
            // where one OR would make the database sort every call of the user.
            Some(u) => {
                let mut rows = page(cond.clone().add(calls::Column::CallerId.eq(u.0))).await?;
                let callee = page(cond.add(calls::Column::CalleeId.eq(u.0))).await?;
                rows.extend(callee.into_iter().filter(|r| r.caller_id != u.0));
                rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
                rows
            }
        };
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let ids: Vec<i64> = rows.iter().flat_map(|r| [Some(r.caller_id), r.callee_id]).flatten().collect();
        let emails = self.emails(ids).await?;
        Ok((rows.into_iter().map(|m| cdr(m, &emails)).collect(), more))
    }

    /// Every record matching `filter`, newest first, read in pages of `batch`: for exports of
    /// any size in constant memory.
    pub fn stream_cdrs(&self, filter: CdrFilter, batch: u32) -> impl Stream<Item = Result<Vec<Cdr>>> + Send + 'static {
        let db = self.clone();
        futures_util::stream::try_unfold(
            (db, filter, None::<CdrCursor>, true),
            move |(db, filter, cursor, more)| async move {
                if !more {
                    return Ok(None);
                }
                let (rows, more) = db.search_cdrs(&filter, cursor.as_ref(), batch).await?;
                let Some(last) = rows.last() else { return Ok(None) };
                let next = CdrCursor { created_at: last.created_at, id: last.id.clone() };
                Ok(Some((rows, (db, filter, Some(next), more))))
            },
        )
    }

    /// Which of `f`'s ranges fewer than `FEW` calls fall in, each counted in its own index
    /// alone (up to that many).
    async fn sparse(&self, f: &CdrFilter) -> Result<Sparse> {
        let few = |range: Condition| async move {
            // A constant: the range's index alone answers it.
            let seen: Vec<i32> = calls::Entity::find()
                .select_only()
                .expr(Expr::val(1))
                .filter(range)
                .limit(FEW)
                .into_tuple()
                .all(&self.conn)
                .await?;
            Ok::<_, super::StorageError>((seen.len() as u64) < FEW)
        };
        let mut sparse = Sparse::default();
        if let Some(p) = &f.number_prefix {
            let range = Condition::all()
                .add(calls::Column::CalleeNumber.gte(p.as_str()))
                .add(calls::Column::CalleeNumber.lt(prefix_end(p)));
            sparse.number = few(range).await?;
        }
        if f.cost_min.is_some() || f.cost_max.is_some() {
            let range = condition(
                &CdrFilter { cost_min: f.cost_min, cost_max: f.cost_max, ..Default::default() },
                Sparse { number: false, charge: true },
            );
            sparse.charge = few(range).await?;
        }
        Ok(sparse)
    }

    async fn emails(&self, mut ids: Vec<i64>) -> Result<HashMap<i64, String>> {
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(i64, String)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::Email)
            .filter(users::Column::Id.is_in(ids))
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// The calls among `ids` that have not ended, oldest first.
    pub async fn open_calls(&self, ids: &[String]) -> Result<Vec<OpenCall>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = calls::Entity::find()
            .filter(calls::Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(calls::Column::EndedAt.is_null())
            .order_by_asc(calls::Column::CreatedAt)
            .all(&self.conn)
            .await?;
        let ids: Vec<i64> = rows.iter().flat_map(|r| [Some(r.caller_id), r.callee_id]).flatten().collect();
        let names: HashMap<i64, String> = if ids.is_empty() {
            HashMap::new()
        } else {
            users::Entity::find()
                .select_only()
                .column(users::Column::Id)
                .column(users::Column::DisplayName)
                .filter(users::Column::Id.is_in(ids))
                .into_tuple::<(i64, String)>()
                .all(&self.conn)
                .await?
                .into_iter()
                .collect()
        };
        Ok(rows
            .into_iter()
            .map(|m| OpenCall {
                sell: sell_tariff(&m),
                caller_name: names.get(&m.caller_id).cloned(),
                callee_name: m.callee_id.and_then(|c| names.get(&c).cloned()),
                id: m.id,
                kind: m.kind,
                caller: UserId(m.caller_id),
                number: m.callee_number,
                carrier_name: m.carrier_name,
                created_at: m.created_at,
                ringing_at: m.ringing_at,
                answered_at: m.answered_at,
            })
            .collect())
    }

    /// Each call started in `[from, to)`, as statistics count them, read as a stream.
    pub async fn call_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut each: impl FnMut(CallFact),
    ) -> Result<()> {
        type Row = (DateTime<Utc>, Option<DateTime<Utc>>, Option<i64>, Option<i64>, Option<i64>, Option<String>);
        let mut rows = calls::Entity::find()
            .select_only()
            .column(calls::Column::CreatedAt)
            .column(calls::Column::AnsweredAt)
            .column(calls::Column::BillableSecs)
            .column(calls::Column::Charge)
            .column(calls::Column::BuyCost)
            .column(calls::Column::SellPrefix)
            .filter(calls::Column::CreatedAt.gte(from))
            .filter(calls::Column::CreatedAt.lt(to))
            .into_tuple::<Row>()
            .stream(&self.conn)
            .await?;
        while let Some(row) = rows.next().await {
            let (at, answered_at, secs, charge, cost, prefix) = row?;
            each(CallFact {
                at,
                answered: answered_at.is_some(),
                billable_secs: secs.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                charge: Money(charge.unwrap_or(0)),
                cost: Money(cost.unwrap_or(0)),
                prefix,
            });
        }
        Ok(())
    }

    /// Each routing attempt started in `[from, to)`.
    pub async fn attempt_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut each: impl FnMut(AttemptFact),
    ) -> Result<()> {
        type Row = (Option<i64>, String, String, Option<i64>, Option<i64>);
        let mut rows = attempts::Entity::find()
            .select_only()
            .column(attempts::Column::CarrierId)
            .column(attempts::Column::CarrierName)
            .column(attempts::Column::Outcome)
            .column(attempts::Column::PddMs)
            .column(attempts::Column::DurationMs)
            .filter(attempts::Column::StartedAt.gte(from))
            .filter(attempts::Column::StartedAt.lt(to))
            .into_tuple::<Row>()
            .stream(&self.conn)
            .await?;
        while let Some(row) = rows.next().await {
            let (carrier_id, carrier_name, outcome, pdd_ms, duration_ms) = row?;
            each(AttemptFact { carrier_id, carrier_name, answered: outcome == "answered", pdd_ms, duration_ms });
        }
        Ok(())
    }

    /// Money that moved in `[from, to)`: card payments in (net of refunds and disputes),
    /// administrators' adjustments and call charges.
    pub async fn money_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        mut each: impl FnMut(MoneyFact),
    ) -> Result<()> {
        let mut rows = entries::Entity::find()
            .select_only()
            .column(entries::Column::Account)
            .column(entries::Column::Amount)
            .column(entries::Column::CreatedAt)
            .filter(entries::Column::Account.is_in(["payment_clearing", "adjustments", "revenue"]))
            .filter(entries::Column::CreatedAt.gte(from))
            .filter(entries::Column::CreatedAt.lt(to))
            .into_tuple::<(String, i64, DateTime<Utc>)>()
            .stream(&self.conn)
            .await?;
        while let Some(row) = rows.next().await {
            let (account, amount, at) = row?;
            each(match account.as_str() {
                // A payment takes from clearing what it gives the user.
                "payment_clearing" => MoneyFact::TopUp { at, amount: Money(-amount) },
                // So does an adjustment.
                "adjustments" => MoneyFact::Adjustment { at, amount: Money(-amount) },
                _ => MoneyFact::Charge { at, amount: Money(amount) },
            });
        }
        Ok(())
    }

    /// A page of the audit log, newest first, and how many entries match.
    pub async fn audit_log(&self, f: &AuditFilter, page: u32, per_page: u32) -> Result<(Vec<AuditRow>, u64)> {
        let mut q = audit_log::Entity::find();
        if let Some(a) = &f.action {
            // A range, not LIKE: `_` in an action is a letter, not a wildcard.
            q = q.filter(audit_log::Column::Action.gte(a.as_str())).filter(audit_log::Column::Action.lt(prefix_end(a)));
        }
        if let Some(t) = &f.target {
            q = q.filter(audit_log::Column::Target.eq(t.as_str()));
        }
        if let Some(u) = f.actor {
            q = q.filter(audit_log::Column::ActorId.eq(u.0));
        }
        let pages = q
            .order_by_desc(audit_log::Column::CreatedAt)
            .order_by_desc(audit_log::Column::Id)
            .paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(u64::from(page.saturating_sub(1))).await?;
        let emails = self.emails(rows.iter().filter_map(|r| r.actor_id).collect()).await?;
        Ok((
            rows.into_iter()
                .map(|m| AuditRow {
                    actor_email: m.actor_id.and_then(|a| emails.get(&a).cloned()),
                    id: m.id,
                    actor: m.actor_id.map(UserId),
                    action: m.action,
                    target: m.target,
                    before: m.before,
                    after: m.after,
                    at: m.created_at,
                })
                .collect(),
            total,
        ))
    }

    /// Writes one audit entry on its own (for changes that are not rows: ending a live call).
    pub async fn audit(&self, a: Audit<'_>, now: DateTime<Utc>) -> Result<()> {
        use sea_orm::TransactionTrait;
        let txn = self.conn.begin().await?;
        write_audit(&txn, a, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Writes finished call records, in one transaction.
    pub async fn insert_cdrs(&self, rows: &[CdrSeed]) -> Result<()> {
        use sea_orm::{ActiveValue::Set, TransactionTrait};
        let txn = self.conn.begin().await?;
        for chunk in rows.chunks(500) {
            let models = chunk.iter().map(|r| {
                let mut m = call_row(&r.id, &r.kind, r.caller, r.callee, r.created_at);
                m.callee_number = Set(r.number.clone());
                m.carrier_id = Set(r.carrier.as_ref().map(|c| c.0));
                m.carrier_name = Set(r.carrier.as_ref().map(|c| c.1.clone()));
                m.answered_at = Set(r.answered_at);
                m.ended_at = Set(Some(r.ended_at));
                m.end_cause = Set(Some(r.end_cause.clone()));
                m.billable_secs = Set(Some(r.billable_secs));
                m.charge = Set(r.charge.map(|c| c.0));
                m.buy_cost = Set(r.buy_cost.map(|c| c.0));
                m.sell_prefix = Set(r.sell_prefix.clone());
                m.posted_at = Set(Some(r.ended_at));
                m
            });
            calls::Entity::insert_many(models).exec(&txn).await?;
            let tried: Vec<_> = chunk.iter().flat_map(|r| r.attempts.iter().map(|a| attempt_row(&r.id, a))).collect();
            if !tried.is_empty() {
                attempts::Entity::insert_many(tried).exec(&txn).await?;
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// For measurements: how many call records there are.
    pub async fn count_calls(&self) -> Result<u64> {
        Ok(calls::Entity::find().count(&self.conn).await?)
    }
}
