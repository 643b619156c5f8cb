//! Sign-up, log-in, refresh, log-out, and the signed-in user's own profile.

use std::{collections::BTreeMap, net::SocketAddr};

use axum::{
    Router,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{AppendHeaders, IntoResponse},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AuthUser, Json},
    to_wire_user,
};
use crate::{
    auth::{password, refresh},
    domain::{Country, DisplayName, Email, NewPassword, Role, User},
    storage::{NewUser, Rotation},
};

const REFRESH_COOKIE: &str = "callplat_refresh";
const REFRESH_PATH: &str = "/api/auth";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/signup", post(signup))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/me", get(me).patch(update_profile))
        .route("/me/password", post(change_password))
}

async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<api::SignupRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = BTreeMap::new();
    let email = Email::parse(&req.email).map_err(|e| fields.insert("email".into(), e.into())).ok();
    let name = DisplayName::parse(&req.display_name).map_err(|e| fields.insert("display_name".into(), e.into())).ok();
    let pass = NewPassword::parse(&req.password).map_err(|e| fields.insert("password".into(), e.into())).ok();
    let (Some(email), Some(name), Some(pass)) = (email, name, pass) else {
        return Err(ApiError::Validation(fields));
    };
    state.limiter.check(peer.ip(), email.as_str())?;
    let hash = hash_blocking(pass).await?;
    let new = NewUser { email: &email, display_name: &name, password_hash: &hash, role: Role::User };
    let user = state.db.create_user(new, Utc::now()).await?.map_err(|_| ApiError::EmailTaken)?;
    tracing::info!(user = %user.id, "account created");
    let (cookie, session) = start_session(&state, user).await?;
    Ok((StatusCode::CREATED, AppendHeaders([(header::SET_COOKIE, cookie)]), Json(session)))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<api::LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let email = Email::parse(&req.email).map_err(|e| ApiError::field("email", e))?;
    if req.password.is_empty() {
        return Err(ApiError::field("password", "enter your password"));
    }
    if req.password.chars().count() > protocol::limits::PASSWORD_MAX {
        return Err(ApiError::InvalidCredentials);
    }
    state.limiter.check(peer.ip(), email.as_str())?;
    let found = state.db.credentials_by_email(&email).await?;
    let stored = found.as_ref().map_or(password::dummy_hash(), |(_, h)| h.as_str()).to_string();
    let ok = verify_blocking(req.password, stored).await?;
    let Some((user, _)) = found.filter(|_| ok) else {
        return Err(ApiError::InvalidCredentials);
    };
    // Only someone who knows the password learns that the account is disabled.
    if user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    let (cookie, session) = start_session(&state, user).await?;
    Ok((AppendHeaders([(header::SET_COOKIE, cookie)]), Json(session)))
}

async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    let Some(presented) = refresh_cookie(&headers) else {
        return Err(ApiError::Unauthenticated("no session: sign in"));
    };
    let (token, expires, now) = new_refresh_token(&state);
    let rotation =
        state.db.rotate_session(&refresh::digest(&presented), &refresh::digest(&token), expires, now).await?;
    let clear = || AppendHeaders([(header::SET_COOKIE, clear_cookie(&state))]);
    let user = match rotation {
        Rotation::Rotated(user) => user,
        Rotation::Unknown | Rotation::Expired => {
            return Ok((clear(), ApiError::Unauthenticated("the session has ended: sign in again")).into_response());
        }
        Rotation::Reused => {
            tracing::warn!("a rotated refresh token was presented again; its session family is revoked");
            return Ok((clear(), ApiError::Unauthenticated("this session was ended for your safety: sign in again"))
                .into_response());
        }
        Rotation::Disabled => return Ok((clear(), ApiError::AccountDisabled).into_response()),
    };
    let session = access(&state, user)?;
    Ok((AppendHeaders([(header::SET_COOKIE, session_cookie(&state, &token))]), Json(session)).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    if let Some(presented) = refresh_cookie(&headers) {
        state.db.end_session(&refresh::digest(&presented), Utc::now()).await?;
    }
    Ok((StatusCode::NO_CONTENT, AppendHeaders([(header::SET_COOKIE, clear_cookie(&state))])))
}

async fn me(AuthUser(user): AuthUser) -> Json<api::User> {
    Json(to_wire_user(&user))
}

async fn update_profile(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<api::UpdateProfile>,
) -> Result<Json<api::User>, ApiError> {
    let mut fields = BTreeMap::new();
    let name = DisplayName::parse(&req.display_name).map_err(|e| fields.insert("display_name".into(), e.into())).ok();
    // Absent: unchanged; empty: cleared.
    let country = match req.country.as_deref().map(str::trim) {
        None => Some(None),
        Some("") => Some(Some(None)),
        Some(c) => Country::parse(c).map_err(|e| fields.insert("country".into(), e.into())).ok().map(Some).map(Some),
    };
    let (Some(name), Some(country)) = (name, country) else {
        return Err(ApiError::Validation(fields));
    };
    let updated = state
        .db
        .update_profile(user.id, &name, country.as_ref().map(Option::as_ref), Utc::now())
        .await?
        .ok_or(ApiError::Unauthenticated("the account no longer exists"))?;
    Ok(Json(to_wire_user(&updated)))
}

/// Changing the password ends every other session: all refresh tokens are revoked and this
/// browser gets a fresh one.
async fn change_password(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Json(req): Json<api::ChangePassword>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewPassword::parse(&req.new_password).map_err(|e| ApiError::field("new_password", e))?;
    let stored = state.db.password_hash(user.id).await?.ok_or(ApiError::Unauthenticated("no such account"))?;
    if req.current_password.chars().count() > protocol::limits::PASSWORD_MAX
        || !verify_blocking(req.current_password, stored).await?
    {
        return Err(ApiError::field("current_password", "is not your current password"));
    }
    let hash = hash_blocking(new).await?;
    let (token, expires, now) = new_refresh_token(&state);
    state.db.change_password(user.id, &hash, &refresh::digest(&token), expires, now).await?;
    tracing::info!(user = %user.id, "password changed; other sessions revoked");
    let session = access(&state, user)?;
    Ok((AppendHeaders([(header::SET_COOKIE, session_cookie(&state, &token))]), Json(session)))
}

/// A new session family for `user`: the refresh cookie and the access token.
async fn start_session(state: &AppState, user: User) -> Result<(String, api::Session), ApiError> {
    let (token, expires, now) = new_refresh_token(state);
    state.db.start_session(user.id, &refresh::new_family(), &refresh::digest(&token), expires, now).await?;
    Ok((session_cookie(state, &token), access(state, user)?))
}

/// A new refresh token, when it expires, and now.
fn new_refresh_token(state: &AppState) -> (String, DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    let ttl = i64::try_from(state.settings.auth.refresh_ttl_secs).unwrap_or(i64::MAX / 1000);
    (refresh::generate(), now + chrono::Duration::seconds(ttl), now)
}

fn access(state: &AppState, user: User) -> Result<api::Session, ApiError> {
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    let access_token = state.keys.issue(user.id, user.role, now)?;
    Ok(api::Session { access_token, expires_in: state.keys.ttl_secs(), user: to_wire_user(&user) })
}

fn session_cookie(state: &AppState, token: &str) -> String {
    Cookie::build((REFRESH_COOKIE, token.to_string()))
        .path(REFRESH_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.https())
        .max_age(cookie::time::Duration::seconds(state.settings.auth.refresh_ttl_secs as i64))
        .build()
        .to_string()
}

fn clear_cookie(state: &AppState) -> String {
    Cookie::build((REFRESH_COOKIE, ""))
        .path(REFRESH_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.https())
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

fn refresh_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == REFRESH_COOKIE && !c.value().is_empty())
        .map(|c| c.value().to_string())
}

async fn hash_blocking(pass: NewPassword) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(pass.expose()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)
}

async fn verify_blocking(given: String, stored: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || password::verify(&given, &stored))
        .await
        .map_err(|e| ApiError::Internal(e.into()))
}
