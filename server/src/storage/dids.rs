//! DIDs: telephone numbers (E.164, unique) that ring a user, and that the user calls out from.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    TransactionTrait,
    sea_query::{Expr, Func, Query},
};

use super::{
    Db, Result,
    entities::{dids, users},
    ledger::{Audit, write_audit},
    like_contains,
    users::to_user,
};
use crate::{
    domain::{User, UserId},
    number::E164,
};

/// A DID and who owns it.
#[derive(Debug, Clone)]
pub struct DidEntry {
    pub id: i64,
    pub number: String,
    pub owner: User,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum DidRefused {
    /// The number belongs to someone already.
    NumberTaken,
    NoSuchUser,
}

impl Db {
    /// Who owns `number` (E.164).
    pub async fn did_owner(&self, number: &str) -> Result<Option<UserId>> {
        let owner: Option<i64> = dids::Entity::find()
            .filter(dids::Column::Number.eq(number))
            .select_only()
            .column(dids::Column::UserId)
            .into_tuple()
            .one(&self.conn)
            .await?;
        Ok(owner.map(UserId))
    }

    /// The user's numbers, oldest first (the first is their caller ID).
    pub async fn user_dids(&self, user: UserId) -> Result<Vec<String>> {
        Ok(dids::Entity::find()
            .filter(dids::Column::UserId.eq(user.0))
            .order_by_asc(dids::Column::Id)
            .select_only()
            .column(dids::Column::Number)
            .into_tuple()
            .all(&self.conn)
            .await?)
    }

    /// DIDs whose number, or whose owner's email or name, contains `q`, by number. `page` is
    /// 1-based. Returns the page and the total number of matches.
    pub async fn list_dids(&self, q: Option<&str>, page: u32, per_page: u32) -> Result<(Vec<DidEntry>, u64)> {
        let mut query = dids::Entity::find();
        if let Some(q) = q {
            let lower = |c: users::Column| Expr::expr(Func::lower(Expr::col(c)));
            let owners = Query::select()
                .column(users::Column::Id)
                .from(users::Entity)
                .cond_where(
                    Condition::any()
                        .add(lower(users::Column::Email).like(like_contains(q)))
                        .add(lower(users::Column::DisplayName).like(like_contains(q))),
                )
                .to_owned();
            let digits: String = q.chars().filter(|c| !c.is_whitespace()).collect();
            query = query.filter(
                Condition::any()
                    .add(dids::Column::Number.like(like_contains(&digits)))
                    .add(dids::Column::UserId.in_subquery(owners)),
            );
        }
        let pages = query.order_by_asc(dids::Column::Number).paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(u64::from(page.saturating_sub(1))).await?;
        let owners: Vec<User> = users::Entity::find()
            .filter(users::Column::Id.is_in(rows.iter().map(|d| d.user_id).collect::<Vec<_>>()))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(to_user)
            .collect();
        let items = rows
            .into_iter()
            .filter_map(|d| {
                let owner = owners.iter().find(|u| u.id.0 == d.user_id)?.clone();
                Some(DidEntry { id: d.id, number: d.number, owner, created_at: d.created_at })
            })
            .collect();
        Ok((items, total))
    }

    /// Gives `number` to `user`, with an audit entry.
    pub async fn create_did(
        &self,
        actor: UserId,
        number: &E164,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Result<DidEntry, DidRefused>> {
        let txn = self.conn.begin().await?;
        let Some(owner) = users::Entity::find_by_id(user.0).one(&txn).await? else {
            return Ok(Err(DidRefused::NoSuchUser));
        };
        let inserted = dids::ActiveModel {
            id: NotSet,
            number: Set(number.as_str().to_string()),
            user_id: Set(user.0),
            created_at: Set(now),
        }
        .insert(&txn)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Ok(Err(DidRefused::NumberTaken));
            }
            Err(e) => return Err(e.into()),
        };
        let audit = Audit {
            actor,
            action: "did.create",
            target: format!("did:{}", row.id),
            before: None,
            after: Some(format!(r#"{{"number":"{}","user_id":{}}}"#, row.number, user.0)),
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(Ok(DidEntry { id: row.id, number: row.number, owner: to_user(owner), created_at: row.created_at }))
    }

    /// Takes the number away from its owner, with an audit entry. False when there was no such DID.
    pub async fn delete_did(&self, actor: UserId, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let txn = self.conn.begin().await?;
        let Some(row) = dids::Entity::find_by_id(id).one(&txn).await? else { return Ok(false) };
        dids::Entity::delete_by_id(id).exec(&txn).await?;
        let audit = Audit {
            actor,
            action: "did.delete",
            target: format!("did:{id}"),
            before: Some(format!(r#"{{"number":"{}","user_id":{}}}"#, row.number, row.user_id)),
            after: None,
        };
        write_audit(&txn, audit, now).await?;
        txn.commit().await?;
        Ok(true)
    }
}
