//! Balances, statements, and administrators' adjustments and credit limits.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post, put},
};
use chrono::Utc;
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminUser, AuthUser, Json, Paging, Path, Query},
};
use crate::{
    domain::UserId,
    ids,
    ledger::{Account, Posting},
    rating::Money,
    storage::{Audit, Posted},
};

/// The largest single adjustment, in units: a typo should not mint a fortune.
const MAX_ADJUSTMENT_UNITS: i64 = 1_000_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/balance", get(my_balance))
        .route("/me/ledger", get(my_ledger))
        .route("/admin/users/{id}/balance", get(user_balance))
        .route("/admin/users/{id}/ledger", get(user_ledger))
        .route("/admin/users/{id}/adjustments", post(adjust))
        .route("/admin/users/{id}/credit-limit", put(set_credit_limit))
}

pub(super) async fn balance_of(state: &AppState, user: UserId) -> Result<api::Balance, ApiError> {
    let funds = state.db.funds(user).await?.ok_or(ApiError::NotFound("no such user"))?;
    Ok(api::Balance {
        balance_micros: funds.balance.0,
        credit_limit_micros: funds.credit_limit.0,
        available_micros: funds.available().0,
    })
}

async fn statement_of(state: &AppState, user: UserId, q: &Paging) -> Result<api::Page<api::LedgerLine>, ApiError> {
    let (page, per_page) = q.checked()?;
    let (lines, total) = state.db.statement(&Account::User(user), page, per_page).await?;
    let items = lines
        .into_iter()
        .map(|l| api::LedgerLine {
            id: l.entry_id,
            kind: l.source_kind,
            source_id: l.source_id,
            description: l.description,
            amount_micros: l.amount.0,
            at: l.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect();
    Ok(api::Page { items, total, page, per_page })
}

async fn my_balance(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Json<api::Balance>, ApiError> {
    Ok(Json(balance_of(&state, me.id).await?))
}

async fn my_ledger(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Query(q): Query<Paging>,
) -> Result<Json<api::Page<api::LedgerLine>>, ApiError> {
    Ok(Json(statement_of(&state, me.id, &q).await?))
}

async fn user_balance(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<api::Balance>, ApiError> {
    Ok(Json(balance_of(&state, UserId(id)).await?))
}

async fn user_ledger(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
    Query(q): Query<Paging>,
) -> Result<Json<api::Page<api::LedgerLine>>, ApiError> {
    state.db.credit_limit(UserId(id)).await?.ok_or(ApiError::NotFound("no such user"))?;
    Ok(Json(statement_of(&state, UserId(id), &q).await?))
}

/// 201 when posted now, 200 when the idempotency key was posted before (nothing new written).
async fn adjust(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::Adjustment>,
) -> Result<(StatusCode, Json<api::Balance>), ApiError> {
    let user = UserId(id);
    let mut fields = std::collections::BTreeMap::new();
    let amount = match Money::parse(&req.amount) {
        Ok(Money::ZERO) => {
            fields.insert("amount".into(), "must not be zero".into());
            None
        }
        Ok(m) if m.0.unsigned_abs() > (MAX_ADJUSTMENT_UNITS * 1_000_000).unsigned_abs() => {
            fields.insert("amount".into(), format!("is larger than {MAX_ADJUSTMENT_UNITS}"));
            None
        }
        Ok(m) => Some(m),
        Err(e) => {
            fields.insert("amount".into(), e.to_string());
            None
        }
    };
    let reason = req.reason.trim();
    if reason.is_empty() {
        fields.insert("reason".into(), "is required: say why".into());
    } else if reason.chars().count() > 200 {
        fields.insert("reason".into(), "is too long (200 characters at most)".into());
    }
    let key = match req.idempotency_key.as_deref().map(str::trim) {
        Some(k)
            if k.is_empty()
                || k.len() > 64
                || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            fields.insert("idempotency_key".into(), "must be 1 to 64 letters, digits, - or _".into());
            None
        }
        Some(k) => Some(k.to_string()),
        None => Some(ids::random(16)),
    };
    let (Some(amount), Some(key), true) = (amount, key, fields.is_empty()) else {
        return Err(ApiError::Validation(fields));
    };
    state.db.credit_limit(user).await?.ok_or(ApiError::NotFound("no such user"))?;
    let posting = Posting::adjustment(format!("{}:{key}", user.0), user, amount, reason)
        .map_err(|e| ApiError::field("amount", e.to_string()))?;
    let audit = Audit {
        actor: admin.id,
        action: if amount.0 > 0 { "ledger.credit" } else { "ledger.debit" },
        target: format!("user:{}", user.0),
        before: None,
        after: Some(format!(r#"{{"amount":"{amount}","reason":{reason:?}}}"#)),
    };
    let posted = state.db.post_with_audit(&posting, Some(admin.id), Some(audit), Utc::now()).await?;
    if posted == Posted::New {
        tracing::info!(admin = %admin.id, user = %user, %amount, "balance adjusted");
        state.hub.push_balance(user).await;
    }
    let status = if posted == Posted::New { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(balance_of(&state, user).await?)))
}

async fn set_credit_limit(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::CreditLimit>,
) -> Result<Json<api::Balance>, ApiError> {
    let limit = Money::parse(&req.credit_limit).map_err(|e| ApiError::field("credit_limit", e.to_string()))?;
    if limit.0 < 0 {
        return Err(ApiError::field("credit_limit", "cannot be negative"));
    }
    if limit.0 > MAX_ADJUSTMENT_UNITS * 1_000_000 {
        return Err(ApiError::field("credit_limit", format!("is larger than {MAX_ADJUSTMENT_UNITS}")));
    }
    state
        .db
        .set_credit_limit(admin.id, UserId(id), limit, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    Ok(Json(balance_of(&state, UserId(id)).await?))
}
