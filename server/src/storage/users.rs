//! Accounts.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, EntityTrait, ExprTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SqlErr,
    TransactionTrait,
    sea_query::{Expr, Func},
};

use super::{Db, Result, entities::audit_log, entities::refresh_tokens, entities::users, like_contains};
use crate::domain::{Country, DisplayName, Email, Role, User, UserId};

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    pub password_hash: &'a str,
    pub role: Role,
}

/// The email is taken.
#[derive(Debug)]
pub struct EmailTaken;

pub(super) fn to_user(m: users::Model) -> User {
    User {
        id: UserId(m.id),
        email: Email::from_trusted(m.email),
        display_name: DisplayName::from_trusted(m.display_name),
        role: Role::parse(&m.role).unwrap_or(Role::User),
        disabled: m.disabled,
        country: m.country.map(Country::from_trusted),
        under_review: m.under_review,
        rate_plan_id: m.rate_plan_id,
        created_at: m.created_at,
    }
}

impl Db {
    pub async fn create_user(&self, new: NewUser<'_>, now: DateTime<Utc>) -> Result<Result<User, EmailTaken>> {
        let row = users::ActiveModel {
            id: NotSet,
            email: Set(new.email.as_str().to_string()),
            password_hash: Set(new.password_hash.to_string()),
            display_name: Set(new.display_name.as_str().to_string()),
            role: Set(new.role.as_str().to_string()),
            disabled: Set(false),
            credit_limit: Set(0),
            country: Set(None),
            stripe_customer_id: Set(None),
            under_review: Set(false),
            rate_plan_id: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match row.insert(&self.conn).await {
            Ok(m) => Ok(Ok(to_user(m))),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(Err(EmailTaken)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        Ok(users::Entity::find_by_id(id.0).one(&self.conn).await?.map(to_user))
    }

    /// The user and their password hash.
    pub async fn credentials_by_email(&self, email: &Email) -> Result<Option<(User, String)>> {
        let row = users::Entity::find().filter(users::Column::Email.eq(email.as_str())).one(&self.conn).await?;
        Ok(row.map(|m| {
            let hash = m.password_hash.clone();
            (to_user(m), hash)
        }))
    }

    pub async fn password_hash(&self, id: UserId) -> Result<Option<String>> {
        Ok(users::Entity::find_by_id(id.0).one(&self.conn).await?.map(|m| m.password_hash))
    }

    pub async fn set_display_name(&self, id: UserId, name: &DisplayName, now: DateTime<Utc>) -> Result<Option<User>> {
        let done = users::Entity::update_many()
            .col_expr(users::Column::DisplayName, Expr::value(name.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.0))
            .exec(&self.conn)
            .await?;
        if done.rows_affected == 0 {
            return Ok(None);
        }
        self.user_by_id(id).await
    }

    /// Sets the display name and, unless `country` is `None`, the country (`Some(None)` clears
    /// it), in one statement.
    pub async fn update_profile(
        &self,
        id: UserId,
        name: &DisplayName,
        country: Option<Option<&Country>>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>> {
        let mut update = users::Entity::update_many()
            .col_expr(users::Column::DisplayName, Expr::value(name.as_str()))
            .col_expr(users::Column::UpdatedAt, Expr::value(now));
        if let Some(country) = country {
            update = update.col_expr(users::Column::Country, Expr::value(country.map(|c| c.as_str().to_string())));
        }
        let done = update.filter(users::Column::Id.eq(id.0)).exec(&self.conn).await?;
        if done.rows_affected == 0 {
            return Ok(None);
        }
        self.user_by_id(id).await
    }

    /// Sets the new hash, revokes every session of the user and starts a new one, atomically.
    pub async fn change_password(
        &self,
        id: UserId,
        hash: &str,
        new_token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let txn = self.conn.begin().await?;
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(id.0))
            .exec(&txn)
            .await?;
        super::sessions::revoke_where(&txn, refresh_tokens::Column::UserId.eq(id.0), now).await?;
        super::sessions::insert(&txn, id, &crate::auth::refresh::new_family(), new_token_hash, expires_at, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Enables or disables an account, records it in the audit log, and on disabling revokes the
    /// account's sessions. `None` when there is no such user.
    pub async fn set_disabled(
        &self,
        actor: UserId,
        id: UserId,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<User>> {
        let txn = self.conn.begin().await?;
        let Some(before) = users::Entity::find_by_id(id.0).one(&txn).await? else {
            return Ok(None);
        };
        if before.disabled != disabled {
            users::Entity::update_many()
                .col_expr(users::Column::Disabled, Expr::value(disabled))
                .col_expr(users::Column::UpdatedAt, Expr::value(now))
                .filter(users::Column::Id.eq(id.0))
                .exec(&txn)
                .await?;
            if disabled {
                super::sessions::revoke_where(&txn, refresh_tokens::Column::UserId.eq(id.0), now).await?;
            }
            audit_log::ActiveModel {
                id: NotSet,
                actor_id: Set(Some(actor.0)),
                action: Set(if disabled { "user.disable" } else { "user.enable" }.into()),
                target: Set(format!("user:{}", id.0)),
                before: Set(Some(format!(r#"{{"disabled":{}}}"#, before.disabled))),
                after: Set(Some(format!(r#"{{"disabled":{disabled}}}"#))),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
        let after = users::Entity::find_by_id(id.0).one(&txn).await?;
        txn.commit().await?;
        Ok(after.map(to_user))
    }

    /// People one can call: enabled accounts other than `me` whose name or email contains `q`,
    /// by name, at most `limit`.
    pub async fn directory(&self, me: UserId, q: &str, limit: u64) -> Result<Vec<User>> {
        let lower = |c: users::Column| Expr::expr(Func::lower(Expr::col(c)));
        let rows = users::Entity::find()
            .filter(users::Column::Disabled.eq(false))
            .filter(users::Column::Id.ne(me.0))
            .filter(
                Condition::any()
                    .add(lower(users::Column::Email).like(like_contains(q)))
                    .add(lower(users::Column::DisplayName).like(like_contains(q))),
            )
            .order_by_asc(users::Column::DisplayName)
            .limit(limit)
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(to_user).collect())
    }

    /// Users whose email or display name contains `q` (case-insensitive), oldest first.
    /// `page` is 1-based. Returns the page and the total number of matches.
    pub async fn search_users(&self, q: Option<&str>, page: u32, per_page: u32) -> Result<(Vec<User>, u64)> {
        let mut query = users::Entity::find();
        if let Some(q) = q {
            let lower = |c: users::Column| Expr::expr(Func::lower(Expr::col(c)));
            query = query.filter(
                Condition::any()
                    .add(lower(users::Column::Email).like(like_contains(q)))
                    .add(lower(users::Column::DisplayName).like(like_contains(q))),
            );
        }
        let pages = query.order_by_asc(users::Column::Id).paginate(&self.conn, u64::from(per_page));
        let total = pages.num_items().await?;
        let rows = pages.fetch_page(u64::from(page.saturating_sub(1))).await?;
        Ok((rows.into_iter().map(to_user).collect(), total))
    }
}
