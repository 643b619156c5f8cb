//! Retail rate plans: what users pay per destination prefix, with effective dates.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};

use super::{
    Db, Result,
    carriers::NameTaken,
    entities::{rate_plans, retail_rates, users},
    ledger::{Audit, set_user_column_audited, write_audit},
};
use crate::{
    domain::UserId,
    rating::{Money, Tariff, periods_overlap},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePlan {
    pub id: i64,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetailRate {
    pub id: i64,
    pub plan_id: i64,
    pub prefix: String,
    pub description: String,
    pub tariff: Tariff,
    pub effective_from: DateTime<Utc>,
    pub effective_until: Option<DateTime<Utc>>,
}

/// A rate to add, already validated.
pub struct NewRetailRate<'a> {
    pub prefix: &'a str,
    pub description: &'a str,
    pub tariff: Tariff,
    pub effective_from: DateTime<Utc>,
    pub effective_until: Option<DateTime<Utc>>,
}

/// Why a rate was not added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateRefused {
    NoSuchPlan,
    /// The same prefix has a rate (this id) in an overlapping period.
    Overlaps(i64),
}

/// Why a plan was not changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRefused {
    NoSuchPlan,
    NameTaken,
}

/// Why a rate was not ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndRefused {
    NoSuchRate,
    /// It has ended already.
    AlreadyEnded,
}

/// A plan's audited fields as JSON.
fn plan_json(m: &rate_plans::Model) -> String {
    serde_json::json!({"name": m.name, "is_default": m.is_default}).to_string()
}

fn plan(m: rate_plans::Model) -> RatePlan {
    RatePlan { id: m.id, name: m.name, is_default: m.is_default }
}

fn rate(m: retail_rates::Model) -> RetailRate {
    let tariff = Tariff {
        per_minute: Money(m.per_minute),
        connection_fee: Money(m.connection_fee),
        min_duration: m.min_duration.try_into().unwrap_or(0),
        first_increment: m.first_increment.try_into().unwrap_or(1).max(1),
        next_increment: m.next_increment.try_into().unwrap_or(1).max(1),
    };
    RetailRate {
        id: m.id,
        plan_id: m.plan_id,
        prefix: m.prefix,
        description: m.description,
        tariff,
        effective_from: m.effective_from,
        effective_until: m.effective_until,
    }
}

impl Db {
    /// The plan of users who have none, created (empty: nothing is allowed) if missing.
    pub async fn ensure_default_plan(&self, now: DateTime<Utc>) -> Result<RatePlan> {
        if let Some(p) =
            rate_plans::Entity::find().filter(rate_plans::Column::IsDefault.eq(true)).one(&self.conn).await?
        {
            return Ok(plan(p));
        }
        let row = rate_plans::ActiveModel {
            id: NotSet,
            name: Set("Default".into()),
            is_default: Set(true),
            created_at: Set(now),
        }
        .insert(&self.conn)
        .await?;
        Ok(plan(row))
    }

    pub async fn rate_plans(&self) -> Result<Vec<RatePlan>> {
        let rows = rate_plans::Entity::find().order_by_asc(rate_plans::Column::Id).all(&self.conn).await?;
        Ok(rows.into_iter().map(plan).collect())
    }

    pub async fn create_rate_plan(
        &self,
        actor: UserId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<RatePlan, NameTaken>> {
        let txn = self.conn.begin().await?;
        let inserted = rate_plans::ActiveModel {
            id: NotSet,
            name: Set(name.into()),
            is_default: Set(false),
            created_at: Set(now),
        }
        .insert(&txn)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => return Ok(Err(NameTaken)),
            Err(e) => return Err(e.into()),
        };
        let audit = Audit {
            actor,
            action: "rate_plan.create",
            target: format!("rate_plan:{}", row.id),
            before: None,
            after: Some(format!(r#"{{"name":{name:?}}}"#)),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(plan(row)))
    }

    /// Renames a plan and/or makes it the default (the one default plan, so the old default
    /// stops being it). Audited with before and after, in one transaction.
    pub async fn update_rate_plan(
        &self,
        actor: UserId,
        id: i64,
        name: Option<&str>,
        make_default: bool,
        now: DateTime<Utc>,
    ) -> Result<Result<RatePlan, PlanRefused>> {
        use sea_orm::sea_query::Expr;
        let txn = self.begin_write().await?;
        let Some(before) = rate_plans::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(Err(PlanRefused::NoSuchPlan));
        };
        if make_default && !before.is_default {
            rate_plans::Entity::update_many()
                .col_expr(rate_plans::Column::IsDefault, Expr::value(false))
                .filter(rate_plans::Column::IsDefault.eq(true))
                .exec(&txn)
                .await?;
        }
        let mut row: rate_plans::ActiveModel = before.clone().into();
        if let Some(name) = name {
            row.name = Set(name.into());
        }
        // Always set, so the update has a column even when nothing changes.
        row.is_default = Set(before.is_default || make_default);
        let after = match row.update(&txn).await {
            Ok(after) => after,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Ok(Err(PlanRefused::NameTaken));
            }
            Err(e) => return Err(e.into()),
        };
        let audit = Audit {
            actor,
            action: "rate_plan.update",
            target: format!("rate_plan:{id}"),
            before: Some(plan_json(&before)),
            after: Some(plan_json(&after)),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(plan(after)))
    }

    /// Ends one of a plan's rates now (a rate that has not started yet ends as it starts, so
    /// it never applies). Audited with before and after.
    pub async fn end_retail_rate(
        &self,
        actor: UserId,
        plan_id: i64,
        rate_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Result<RetailRate, EndRefused>> {
        let txn = self.begin_write().await?;
        let found = retail_rates::Entity::find_by_id(rate_id)
            .filter(retail_rates::Column::PlanId.eq(plan_id))
            .one(&txn)
            .await?;
        let Some(before) = found else { return Ok(Err(EndRefused::NoSuchRate)) };
        if before.effective_until.is_some_and(|u| u <= now) {
            return Ok(Err(EndRefused::AlreadyEnded));
        }
        let until = now.max(before.effective_from);
        let mut row: retail_rates::ActiveModel = before.clone().into();
        row.effective_until = Set(Some(until));
        let after = row.update(&txn).await?;
        let json = |m: &retail_rates::Model| {
            let until = m.effective_until.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            serde_json::json!({"rate": rate_id, "prefix": m.prefix, "effective_until": until}).to_string()
        };
        let audit = Audit {
            actor,
            action: "retail_rate.end",
            target: format!("rate_plan:{plan_id}"),
            before: Some(json(&before)),
            after: Some(json(&after)),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(rate(after)))
    }

    /// Adds a rate unless the plan is unknown or the prefix already has a rate in an
    /// overlapping period. Audited.
    pub async fn add_retail_rate(
        &self,
        actor: UserId,
        plan_id: i64,
        new: &NewRetailRate<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<RetailRate, RateRefused>> {
        let txn = self.begin_write().await?;
        let mut find_plan = rate_plans::Entity::find_by_id(plan_id);
        if self.is_postgres() {
            // Adds to one plan queue here, so that two overlapping rates cannot both pass the check.
            find_plan = find_plan.lock_exclusive();
        }
        if find_plan.one(&txn).await?.is_none() {
            return Ok(Err(RateRefused::NoSuchPlan));
        }
        let same_prefix = retail_rates::Entity::find()
            .filter(retail_rates::Column::PlanId.eq(plan_id))
            .filter(retail_rates::Column::Prefix.eq(new.prefix))
            .all(&txn)
            .await?;
        if let Some(clash) = same_prefix
            .iter()
            .find(|r| periods_overlap((r.effective_from, r.effective_until), (new.effective_from, new.effective_until)))
        {
            return Ok(Err(RateRefused::Overlaps(clash.id)));
        }
        let t = &new.tariff;
        let row = retail_rates::ActiveModel {
            id: NotSet,
            plan_id: Set(plan_id),
            prefix: Set(new.prefix.into()),
            description: Set(new.description.into()),
            per_minute: Set(t.per_minute.0),
            connection_fee: Set(t.connection_fee.0),
            min_duration: Set(t.min_duration.try_into().unwrap_or(i32::MAX)),
            first_increment: Set(t.first_increment.try_into().unwrap_or(i32::MAX)),
            next_increment: Set(t.next_increment.try_into().unwrap_or(i32::MAX)),
            effective_from: Set(new.effective_from),
            effective_until: Set(new.effective_until),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        let audit = Audit {
            actor,
            action: "retail_rate.create",
            target: format!("rate_plan:{plan_id}"),
            before: None,
            after: Some(format!(
                r#"{{"prefix":{:?},"per_minute":"{}","connection_fee":"{}","increments":"{}/{}"}}"#,
                new.prefix, t.per_minute, t.connection_fee, t.first_increment, t.next_increment
            )),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(rate(row)))
    }

    /// A plan's rates by prefix. `page` is 1-based.
    pub async fn retail_rates(&self, plan_id: i64, page: u32, per_page: u32) -> Result<(Vec<RetailRate>, u64)> {
        let pages = retail_rates::Entity::find()
            .filter(retail_rates::Column::PlanId.eq(plan_id))
            .order_by_asc(retail_rates::Column::Prefix)
            .order_by_asc(retail_rates::Column::EffectiveFrom)
            .paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(u64::from(page.saturating_sub(1))).await?;
        Ok((rows.into_iter().map(rate).collect(), total))
    }

    /// What `user` pays to call `digits` (E.164 without `+`) at `at`: the longest prefix of
    /// their plan (or the default plan) in effect then. `None`: the destination is not allowed.
    pub async fn retail_rate_for(&self, user: UserId, digits: &str, at: DateTime<Utc>) -> Result<Option<RetailRate>> {
        let Some(u) = users::Entity::find_by_id(user.0).one(&self.conn).await? else { return Ok(None) };
        let plan_id = match u.rate_plan_id {
            Some(p) => p,
            None => {
                match rate_plans::Entity::find().filter(rate_plans::Column::IsDefault.eq(true)).one(&self.conn).await? {
                    Some(p) => p.id,
                    None => return Ok(None),
                }
            }
        };
        let prefixes: Vec<String> = (1..=digits.len().min(15))
            .filter(|&n| digits.is_char_boundary(n))
            .map(|n| digits[..n].to_string())
            .collect();
        let candidates = retail_rates::Entity::find()
            .filter(retail_rates::Column::PlanId.eq(plan_id))
            .filter(retail_rates::Column::Prefix.is_in(prefixes))
            .filter(retail_rates::Column::EffectiveFrom.lte(at))
            .filter(
                sea_orm::Condition::any()
                    .add(retail_rates::Column::EffectiveUntil.is_null())
                    .add(retail_rates::Column::EffectiveUntil.gt(at)),
            )
            .all(&self.conn)
            .await?;
        Ok(candidates.into_iter().max_by_key(|r| r.prefix.len()).map(rate))
    }

    /// Puts a user on a plan (`None`: the default plan). `None` back: no such user. Audited.
    pub async fn set_user_rate_plan(
        &self,
        actor: UserId,
        user: UserId,
        plan_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Option<()>> {
        let txn = self.conn.begin().await?;
        let Some(before) = users::Entity::find_by_id(user.0).one(&txn).await? else { return Ok(None) };
        let audit = Audit {
            actor,
            action: "user.rate_plan",
            target: format!("user:{}", user.0),
            before: Some(format!(r#"{{"rate_plan_id":{}}}"#, json_id(before.rate_plan_id))),
            after: Some(format!(r#"{{"rate_plan_id":{}}}"#, json_id(plan_id))),
        };
        set_user_column_audited(&txn, user, users::Column::RatePlanId, plan_id, audit, now).await?;
        txn.commit().await?;
        Ok(Some(()))
    }

    /// `true` when `id` names a rate plan.
    pub async fn rate_plan_exists(&self, id: i64) -> Result<bool> {
        Ok(rate_plans::Entity::find_by_id(id)
            .select_only()
            .column(rate_plans::Column::Id)
            .into_tuple::<i64>()
            .one(&self.conn)
            .await?
            .is_some())
    }
}

/// Why a rate file was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRefused {
    NoSuchPlan,
    /// Prefixes with a rate (this id) that starts on or after the file's date, or ends after it.
    Overlaps(Vec<(String, i64)>),
}

impl Db {
    /// Imports a whole rate file into a plan, effective from `from`: every row or none. A
    /// prefix's open-ended rate that started before `from` is superseded (it ends at `from`);
    /// any other overlap refuses the file. Audited once, with the row count.
    pub async fn import_retail_rates(
        &self,
        actor: UserId,
        plan_id: i64,
        rows: &[(String, String, Tariff)],
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Result<u64, ImportRefused>> {
        use sea_orm::sea_query::Expr;
        let txn = self.begin_write().await?;
        let mut find_plan = rate_plans::Entity::find_by_id(plan_id);
        if self.is_postgres() {
            find_plan = find_plan.lock_exclusive();
        }
        if find_plan.one(&txn).await?.is_none() {
            return Ok(Err(ImportRefused::NoSuchPlan));
        }
        let existing = retail_rates::Entity::find().filter(retail_rates::Column::PlanId.eq(plan_id)).all(&txn).await?;
        let incoming: std::collections::HashSet<&str> = rows.iter().map(|(p, _, _)| p.as_str()).collect();
        let (mut supersede, mut clashes) = (vec![], vec![]);
        for r in existing.iter().filter(|r| incoming.contains(r.prefix.as_str())) {
            if r.effective_until.is_none() && r.effective_from < from {
                supersede.push(r.id);
            } else if periods_overlap((r.effective_from, r.effective_until), (from, None)) {
                clashes.push((r.prefix.clone(), r.id));
            }
        }
        if !clashes.is_empty() {
            clashes.sort();
            return Ok(Err(ImportRefused::Overlaps(clashes)));
        }
        for chunk in supersede.chunks(500) {
            retail_rates::Entity::update_many()
                .col_expr(retail_rates::Column::EffectiveUntil, Expr::value(Some(from)))
                .filter(retail_rates::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        for chunk in rows.chunks(500) {
            let models = chunk.iter().map(|(prefix, description, t)| retail_rates::ActiveModel {
                id: NotSet,
                plan_id: Set(plan_id),
                prefix: Set(prefix.clone()),
                description: Set(description.clone()),
                per_minute: Set(t.per_minute.0),
                connection_fee: Set(t.connection_fee.0),
                min_duration: Set(t.min_duration.try_into().unwrap_or(i32::MAX)),
                first_increment: Set(t.first_increment.try_into().unwrap_or(i32::MAX)),
                next_increment: Set(t.next_increment.try_into().unwrap_or(i32::MAX)),
                effective_from: Set(from),
                effective_until: Set(None),
                created_at: Set(now),
            });
            retail_rates::Entity::insert_many(models).exec(&txn).await?;
        }
        let audit = Audit {
            actor,
            action: "retail_rate.import",
            target: format!("rate_plan:{plan_id}"),
            before: None,
            after: Some(format!(
                r#"{{"rows":{},"superseded":{},"effective_from":"{}"}}"#,
                rows.len(),
                supersede.len(),
                from.to_rfc3339()
            )),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(rows.len() as u64))
    }

    /// A plan's rates in effect at `at`, by prefix (for export). `None` for an unknown plan.
    pub async fn retail_rates_at(&self, plan_id: i64, at: DateTime<Utc>) -> Result<Option<Vec<RetailRate>>> {
        if !self.rate_plan_exists(plan_id).await? {
            return Ok(None);
        }
        let rows = retail_rates::Entity::find()
            .filter(retail_rates::Column::PlanId.eq(plan_id))
            .filter(retail_rates::Column::EffectiveFrom.lte(at))
            .filter(
                sea_orm::Condition::any()
                    .add(retail_rates::Column::EffectiveUntil.is_null())
                    .add(retail_rates::Column::EffectiveUntil.gt(at)),
            )
            .order_by_asc(retail_rates::Column::Prefix)
            .all(&self.conn)
            .await?;
        Ok(Some(rows.into_iter().map(rate).collect()))
    }
}

/// An optional id as JSON: the number, or `null`.
fn json_id(id: Option<i64>) -> String {
    id.map_or_else(|| "null".into(), |id| id.to_string())
}
