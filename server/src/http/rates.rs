//! Retail rate plans (admin) and price quotes (users).

use std::collections::BTreeMap;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, patch, post, put},
};
use chrono::{DateTime, Utc};
use protocol::api;
use serde::Deserialize;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminUser, AuthUser, Json, Paging, Path, Query},
};
use crate::{
    domain::UserId,
    number::E164,
    rating::{Money, Tariff, affordable_secs},
    storage::{EndRefused, NewRetailRate, PlanRefused, RatePlan, RateRefused, RetailRate},
};

/// Longest billing increment or minimum duration accepted, in seconds.
const MAX_SECONDS: u32 = 3600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/rate-plans", get(plans).post(create_plan))
        .route("/admin/rate-plans/{id}", patch(update_plan))
        .route("/admin/rate-plans/{id}/rates", get(rates).post(add_rate))
        .route("/admin/rate-plans/{id}/rates/{rate}/end", post(end_rate))
        .route("/admin/users/{id}/rate-plan", put(set_user_plan))
        .route("/rates/quote", get(quote))
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn to_wire(r: &RetailRate) -> api::RetailRate {
    api::RetailRate {
        id: r.id,
        prefix: r.prefix.clone(),
        description: r.description.clone(),
        per_minute_micros: r.tariff.per_minute.0,
        connection_fee_micros: r.tariff.connection_fee.0,
        min_duration: r.tariff.min_duration,
        first_increment: r.tariff.first_increment,
        next_increment: r.tariff.next_increment,
        effective_from: rfc(r.effective_from),
        effective_until: r.effective_until.map(rfc),
    }
}

fn plan_wire(p: RatePlan) -> api::RatePlan {
    api::RatePlan { id: p.id, name: p.name, is_default: p.is_default }
}

async fn plans(State(state): State<AppState>, AdminUser(_): AdminUser) -> Result<Json<Vec<api::RatePlan>>, ApiError> {
    Ok(Json(state.db.rate_plans().await?.into_iter().map(plan_wire).collect()))
}

/// A plan's name, trimmed, or why it cannot be one.
fn plan_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ApiError::field("name", "must be 1 to 64 characters"));
    }
    Ok(name)
}

async fn create_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Json(req): Json<api::NewRatePlan>,
) -> Result<(StatusCode, Json<api::RatePlan>), ApiError> {
    let name = plan_name(&req.name)?;
    let p = state
        .db
        .create_rate_plan(admin.id, name, Utc::now())
        .await?
        .map_err(|_| ApiError::field("name", "is already taken"))?;
    Ok((StatusCode::CREATED, Json(plan_wire(p))))
}

async fn update_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::RatePlanUpdate>,
) -> Result<Json<api::RatePlan>, ApiError> {
    let name = req.name.as_deref().map(plan_name).transpose()?;
    if req.is_default == Some(false) {
        return Err(ApiError::field("is_default", "make another plan the default instead"));
    }
    if name.is_none() && req.is_default.is_none() {
        return Err(ApiError::field("name", "give a new name, or is_default: true"));
    }
    match state.db.update_rate_plan(admin.id, id, name, req.is_default == Some(true), Utc::now()).await? {
        Ok(p) => Ok(Json(plan_wire(p))),
        Err(PlanRefused::NoSuchPlan) => Err(ApiError::NotFound("no such rate plan")),
        Err(PlanRefused::NameTaken) => Err(ApiError::field("name", "is already taken")),
    }
}

/// Ends a rate now: calls from then on are not sold at it.
async fn end_rate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path((plan, rate)): Path<(i64, i64)>,
) -> Result<Json<api::RetailRate>, ApiError> {
    match state.db.end_retail_rate(admin.id, plan, rate, Utc::now()).await? {
        Ok(r) => Ok(Json(to_wire(&r))),
        Err(EndRefused::NoSuchRate) => Err(ApiError::NotFound("no such rate in this plan")),
        Err(EndRefused::AlreadyEnded) => Err(ApiError::Conflict("this rate has ended already")),
    }
}

async fn rates(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
    Query(q): Query<Paging>,
) -> Result<Json<api::Page<api::RetailRate>>, ApiError> {
    let (page, per_page) = q.checked()?;
    if !state.db.rate_plan_exists(id).await? {
        return Err(ApiError::NotFound("no such rate plan"));
    }
    let (rows, total) = state.db.retail_rates(id, page, per_page).await?;
    Ok(Json(api::Page { items: rows.iter().map(to_wire).collect(), total, page, per_page }))
}

/// A rate whose every field was checked.
struct CheckedRate {
    prefix: String,
    tariff: Tariff,
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

/// The rate in `req`, or every reason it is wrong, by field.
fn checked_rate(req: &api::RetailRateInput, now: DateTime<Utc>) -> Result<CheckedRate, ApiError> {
    let mut fields = BTreeMap::new();
    let prefix = req.prefix.trim().trim_start_matches('+').to_string();
    if prefix.is_empty() || prefix.len() > 15 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        fields.insert("prefix".to_string(), "must be 1 to 15 digits".to_string());
    }
    if req.description.chars().count() > 100 {
        fields.insert("description".into(), "is too long (100 characters at most)".into());
    }
    let mut price = |name: &str, text: &str, zero_ok: bool| match Money::parse(text) {
        Ok(m) if m.0 < 0 => {
            fields.insert(name.into(), "cannot be negative".into());
            None
        }
        Ok(m) if m.0 == 0 && !zero_ok => {
            fields.insert(name.into(), "must be more than zero".into());
            None
        }
        Ok(m) if m.0 > 1_000_000_000 => {
            fields.insert(name.into(), "is larger than 1000".into());
            None
        }
        Ok(m) => Some(m),
        Err(e) => {
            fields.insert(name.into(), e.to_string());
            None
        }
    };
    let per_minute = price("per_minute", &req.per_minute, false);
    let fee = price("connection_fee", req.connection_fee.as_deref().unwrap_or("0"), true);
    let mut seconds = |name: &str, v: Option<u32>, default: u32, min: u32| {
        let v = v.unwrap_or(default);
        if v < min || v > MAX_SECONDS {
            fields.insert(name.into(), format!("must be {min} to {MAX_SECONDS} seconds"));
        }
        v
    };
    let min_duration = seconds("min_duration", req.min_duration, 0, 0);
    let first = seconds("first_increment", req.first_increment, 60, 1);
    let next = seconds("next_increment", req.next_increment, 60, 1);
    let mut when = |name: &str, text: Option<&str>| match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Some(None),
        Some(t) => match DateTime::parse_from_rfc3339(t) {
            Ok(d) => Some(Some(d.with_timezone(&Utc))),
            Err(_) => {
                fields.insert(name.into(), "is not an RFC 3339 time like 2026-12-01T00:00:00Z".into());
                None
            }
        },
    };
    let from = when("effective_from", req.effective_from.as_deref()).map(|f| f.unwrap_or(now));
    let until = when("effective_until", req.effective_until.as_deref()).flatten();
    if let (Some(f), Some(u)) = (from, until)
        && u <= f
    {
        fields.insert("effective_until".into(), "must be after effective_from".into());
    }
    match (per_minute, fee, from, fields.is_empty()) {
        (Some(p), Some(f), Some(from), true) => {
            let tariff = Tariff::new(p, f, min_duration, first, next)
                .map_err(|e| ApiError::field("per_minute", e.to_string()))?;
            Ok(CheckedRate { prefix, tariff, from, until })
        }
        _ => Err(ApiError::Validation(fields)),
    }
}

async fn add_rate(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::RetailRateInput>,
) -> Result<(StatusCode, Json<api::RetailRate>), ApiError> {
    let now = Utc::now();
    let rate = checked_rate(&req, now)?;
    let new = NewRetailRate {
        prefix: &rate.prefix,
        description: req.description.trim(),
        tariff: rate.tariff,
        effective_from: rate.from,
        effective_until: rate.until,
    };
    match state.db.add_retail_rate(admin.id, id, &new, now).await? {
        Ok(rate) => Ok((StatusCode::CREATED, Json(to_wire(&rate)))),
        Err(RateRefused::NoSuchPlan) => Err(ApiError::NotFound("no such rate plan")),
        Err(RateRefused::Overlaps(_)) => Err(ApiError::Conflict(
            "this prefix already has a rate in an overlapping period; end that one first (effective_until)",
        )),
    }
}

async fn set_user_plan(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::UserRatePlan>,
) -> Result<Json<api::UserRatePlan>, ApiError> {
    if let Some(plan) = req.rate_plan_id
        && !state.db.rate_plan_exists(plan).await?
    {
        return Err(ApiError::field("rate_plan_id", "is not a rate plan"));
    }
    state
        .db
        .set_user_rate_plan(admin.id, UserId(id), req.rate_plan_id, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    Ok(Json(req))
}

#[derive(Deserialize)]
struct QuoteQuery {
    number: String,
}

async fn quote(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Query(q): Query<QuoteQuery>,
) -> Result<Json<api::Quote>, ApiError> {
    let country = me.country.as_ref().map(|c| c.as_str().to_string());
    let number = E164::parse(&q.number, country.as_deref()).map_err(|e| ApiError::field("number", e.to_string()))?;
    let rate = state
        .db
        .retail_rate_for(me.id, number.as_str().trim_start_matches('+'), Utc::now())
        .await?
        .ok_or(ApiError::NotFound("calls to this number are not allowed on your rate plan"))?;
    let available = state.db.funds(me.id).await?.map(|f| f.available()).unwrap_or_default();
    Ok(Json(api::Quote {
        number: number.as_str().to_string(),
        affordable_secs: affordable_secs(&rate.tariff, available),
        available_micros: available.0,
        rate: to_wire(&rate),
    }))
}
