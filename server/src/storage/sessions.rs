//! Refresh-token sessions (see `auth::refresh` for the scheme).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, SimpleExpr},
};

use super::{Db, Result, entities::refresh_tokens as tokens, entities::users, users::to_user};
use crate::domain::{User, UserId};

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current: it is now used, and its successor is stored.
    Rotated(User),
    /// No such token, or its session was ended (logout, password change, revocation).
    Unknown,
    Expired,
    /// The token had already been rotated: its whole family is now revoked.
    Reused,
    /// The account is disabled: its family is now revoked.
    Disabled,
}

pub(super) async fn insert(
    db: &impl ConnectionTrait,
    user: UserId,
    family: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    tokens::ActiveModel {
        id: NotSet,
        user_id: Set(user.0),
        family: Set(family.to_string()),
        token_hash: Set(token_hash.to_string()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Revokes every live token matching `filter`.
pub(super) async fn revoke_where(db: &impl ConnectionTrait, filter: SimpleExpr, now: DateTime<Utc>) -> Result<()> {
    tokens::Entity::update_many()
        .col_expr(tokens::Column::RevokedAt, Expr::value(now))
        .filter(filter)
        .filter(tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

impl Db {
    /// Starts a new session family with its first token.
    pub async fn start_session(
        &self,
        user: UserId,
        family: &str,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        insert(&self.conn, user, family, token_hash, expires_at, now).await
    }

    /// Uses the token `presented` (a digest) and stores `next` as its successor, atomically.
    pub async fn rotate_session(
        &self,
        presented: &str,
        next: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rotation> {
        let txn = self.conn.begin().await?;
        let Some(row) = tokens::Entity::find().filter(tokens::Column::TokenHash.eq(presented)).one(&txn).await? else {
            return Ok(Rotation::Unknown);
        };
        if row.revoked_at.is_some() {
            return Ok(Rotation::Unknown);
        }
        let family = || tokens::Column::Family.eq(row.family.clone());
        if row.used_at.is_some() {
            revoke_where(&txn, family(), now).await?;
            txn.commit().await?;
            return Ok(Rotation::Reused);
        }
        if row.expires_at <= now {
            return Ok(Rotation::Expired);
        }
        let user = users::Entity::find_by_id(row.user_id).one(&txn).await?.map(to_user);
        let Some(user) = user.filter(|u| !u.disabled) else {
            revoke_where(&txn, family(), now).await?;
            txn.commit().await?;
            return Ok(Rotation::Disabled);
        };
        // Conditional on `used_at IS NULL`: of two concurrent uses, exactly one wins.
        let claimed = tokens::Entity::update_many()
            .col_expr(tokens::Column::UsedAt, Expr::value(now))
            .filter(tokens::Column::Id.eq(row.id))
            .filter(tokens::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            revoke_where(&txn, family(), now).await?;
            txn.commit().await?;
            return Ok(Rotation::Reused);
        }
        insert(&txn, user.id, &row.family, next, expires_at, now).await?;
        txn.commit().await?;
        Ok(Rotation::Rotated(user))
    }

    /// Ends the session the token `presented` (a digest) belongs to (log-out).
    pub async fn end_session(&self, presented: &str, now: DateTime<Utc>) -> Result<()> {
        let row = tokens::Entity::find().filter(tokens::Column::TokenHash.eq(presented)).one(&self.conn).await?;
        if let Some(row) = row {
            revoke_where(&self.conn, tokens::Column::Family.eq(row.family), now).await?;
        }
        Ok(())
    }
}
