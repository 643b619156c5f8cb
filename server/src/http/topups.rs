//! Card top-ups: open a Stripe Checkout Session, list receipts, and take Stripe's webhooks.
//!
//! The webhook verifies `Stripe-Signature` before reading anything, then applies the event's
//! [`Notice`]. Every money movement is idempotent on the provider's id for it, so redelivered,
//! concurrent and out-of-order events leave the same balance.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    routing::{delete, get, post},
};
use chrono::Utc;
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminUser, AuthUser, Json, Paging, Path, Query},
    to_wire_user,
};
use crate::{
    domain::UserId,
    payments::{Currency, Notice, TopupRef, TopupStatus, stripe::CheckoutRequest},
    storage::{Posted, TopupRow},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/topups/config", get(config))
        .route("/topups", get(list).post(create))
        .route("/topups/{id}", get(one))
        .route("/stripe/webhook", post(webhook))
        .route("/admin/users/{id}/review", delete(clear_review))
}

fn to_wire(row: &TopupRow) -> api::Topup {
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    api::Topup {
        id: row.id,
        amount_micros: row.amount.0,
        currency: row.currency.clone(),
        status: match row.facts.status() {
            TopupStatus::Pending => api::TopupStatus::Pending,
            TopupStatus::Paid => api::TopupStatus::Paid,
            TopupStatus::PartiallyRefunded => api::TopupStatus::PartiallyRefunded,
            TopupStatus::Refunded => api::TopupStatus::Refunded,
            TopupStatus::Disputed => api::TopupStatus::Disputed,
            TopupStatus::Expired => api::TopupStatus::Expired,
        },
        refunded_micros: row.facts.refunded.0,
        created_at: at(row.created_at),
        paid_at: row.paid_at.map(at),
    }
}

async fn config(State(state): State<AppState>, AuthUser(_): AuthUser) -> Json<api::TopupConfig> {
    let r = &state.payments.rules;
    Json(api::TopupConfig {
        enabled: state.payments.stripe.is_some(),
        currency: r.currency.code().to_string(),
        min_micros: r.min.0,
        max_micros: r.max.0,
        presets_micros: r.presets.iter().map(|m| m.0).collect(),
    })
}

/// Where Stripe sends the browser back to: the configured public URL, or the host this request
/// came to.
fn app_url(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &state.settings.http.public_url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .ok_or_else(|| ApiError::BadRequest("the Host header is missing or invalid".into()))?;
    Ok(format!("http://{host}"))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    headers: HeaderMap,
    Json(req): Json<api::NewTopup>,
) -> Result<(StatusCode, Json<api::TopupCheckout>), ApiError> {
    let stripe = state.payments.stripe.as_ref().ok_or(ApiError::PaymentsUnavailable)?;
    let rules = &state.payments.rules;
    let amount = rules.amount(&req.amount).map_err(|e| ApiError::field("amount", e))?;
    if me.under_review {
        return Err(ApiError::UnderReview);
    }
    let base = app_url(&state, &headers)?;
    let customer = match state.db.stripe_customer(me.id).await? {
        Some(c) => c,
        None => {
            let created = stripe.create_customer(&me).await.map_err(ApiError::PaymentProvider)?;
            state.db.set_stripe_customer(me.id, &created).await?.unwrap_or(created)
        }
    };
    let now = Utc::now();
    let id = state.db.create_topup(me.id, amount, rules.currency, now).await?;
    let checkout = stripe
        .create_checkout(CheckoutRequest {
            topup: TopupRef { topup: id, user: me.id },
            customer: &customer,
            amount,
            currency: rules.currency,
            success_url: format!("{base}/topup/done?topup={id}"),
            cancel_url: format!("{base}/topup?cancelled={id}"),
        })
        .await;
    let checkout = match checkout {
        Ok(c) => c,
        Err(e) => {
            // Nothing can be paid without a session: leave no pending top-up behind.
            state.db.delete_unpaid_topup(id).await?;
            return Err(ApiError::PaymentProvider(e));
        }
    };
    state.db.set_topup_session(id, &checkout.session_id, now).await?;
    let row = state.db.topup(id).await?.ok_or(ApiError::NotFound("no such top-up"))?;
    tracing::info!(user = %me.id, topup = id, %amount, session = %checkout.session_id, "checkout opened");
    Ok((StatusCode::CREATED, Json(api::TopupCheckout { topup: to_wire(&row), url: checkout.url })))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Query(q): Query<Paging>,
) -> Result<Json<api::Page<api::Topup>>, ApiError> {
    let (page, per_page) = q.checked()?;
    let (rows, total) = state.db.topups_of(me.id, page, per_page).await?;
    Ok(Json(api::Page { items: rows.iter().map(to_wire).collect(), total, page, per_page }))
}

async fn one(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<i64>,
) -> Result<Json<api::Topup>, ApiError> {
    let row = state.db.topup(id).await?.filter(|r| r.user == me.id).ok_or(ApiError::NotFound("no such top-up"))?;
    Ok(Json(to_wire(&row)))
}

async fn clear_review(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<api::User>, ApiError> {
    let user =
        state.db.clear_review(admin.id, UserId(id), Utc::now()).await?.ok_or(ApiError::NotFound("no such user"))?;
    Ok(Json(to_wire_user(&user)))
}

/// 200 once the event is applied (or known, or of no interest); 400 when it is not from Stripe
/// or cannot be read, with nothing written; 5xx when it could not be applied now (Stripe retries).
async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    let stripe = state.payments.stripe.as_ref().ok_or(ApiError::PaymentsUnavailable)?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("the Stripe-Signature header is missing".into()))?;
    let payload = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let notice = stripe.verify(payload, signature).map_err(|e| {
        tracing::warn!(error = %e, "webhook refused");
        ApiError::BadRequest(e.to_string())
    })?;
    apply(&state, notice).await?;
    Ok(StatusCode::OK)
}

async fn apply(state: &AppState, notice: Notice) -> Result<(), ApiError> {
    let currency = state.payments.rules.currency;
    let now = Utc::now();
    let (user, posted) = match notice {
        Notice::Ignored(why) => {
            tracing::debug!(%why, "webhook ignored");
            return Ok(());
        }
        Notice::Expired { topup } => {
            state.db.expire_topup(topup, now).await?;
            return Ok(());
        }
        Notice::Paid { topup, payment, amount_minor, currency: paid_in } => {
            let Some(amount) = in_platform_currency(currency, &paid_in, amount_minor) else {
                tracing::error!(%payment, %paid_in, "payment in another currency: not credited");
                return Ok(());
            };
            (topup.user, state.db.credit_topup(topup, &payment, amount, now).await?)
        }
        Notice::Refunded { payment, charge, refunded_minor, currency: paid_in } => {
            if Currency::parse(&paid_in) != Some(currency) {
                tracing::error!(%payment, %paid_in, "refund in another currency: not posted");
                return Ok(());
            }
            let Some(topup) = topup_of(state, &payment).await? else { return Ok(()) };
            tracing::info!(%payment, %charge, refunded_minor, "refund");
            (topup.user, state.db.refund_topup(topup, &payment, refunded_minor, now).await?)
        }
        Notice::Disputed { payment, dispute, amount_minor, currency: paid_in } => {
            let Some(amount) = in_platform_currency(currency, &paid_in, amount_minor) else {
                tracing::error!(%payment, %paid_in, "dispute in another currency: not posted");
                return Ok(());
            };
            let Some(topup) = topup_of(state, &payment).await? else { return Ok(()) };
            tracing::warn!(%payment, %dispute, user = %topup.user, "payment disputed; account under review");
            (topup.user, state.db.dispute_topup(topup, &payment, &dispute, amount, now).await?)
        }
    };
    match posted {
        Some(Posted::New) => state.hub.push_balance(user).await,
        Some(Posted::AlreadyPosted) => tracing::debug!(%user, "webhook already applied"),
        None => tracing::error!(%user, "webhook names a top-up that does not exist; nothing posted"),
    }
    Ok(())
}

fn in_platform_currency(platform: Currency, code: &str, minor: i64) -> Option<crate::rating::Money> {
    (Currency::parse(code) == Some(platform)).then(|| platform.from_minor(minor)).flatten()
}

/// The top-up a payment belongs to: known locally once its payment was credited, otherwise
/// read from the payment's metadata at Stripe (a refund or dispute can arrive first).
async fn topup_of(state: &AppState, payment: &str) -> Result<Option<TopupRef>, ApiError> {
    if let Some(row) = state.db.topup_by_payment(payment).await? {
        return Ok(Some(TopupRef { topup: row.id, user: row.user }));
    }
    let stripe = state.payments.stripe.as_ref().ok_or(ApiError::PaymentsUnavailable)?;
    let found = stripe.topup_of_payment(payment).await.map_err(ApiError::PaymentProvider)?;
    if found.is_none() {
        tracing::info!(%payment, "not a top-up's payment; ignored");
    }
    Ok(found)
}
