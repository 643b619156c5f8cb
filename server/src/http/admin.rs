//! Administration of accounts. Every route here takes `AdminUser`, so users get 403.

use axum::{Router, extract::State, routing::get};
use chrono::Utc;
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminUser, Json, Path, Query, paging},
    to_wire_user,
};
use crate::domain::UserId;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/users", get(list_users)).route("/admin/users/{id}", get(get_user).patch(update_user))
}

async fn list_users(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Query(query): Query<api::UserQuery>,
) -> Result<Json<api::Page<api::User>>, ApiError> {
    let (page, per_page) = paging(query.page, query.per_page)?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 100) {
        return Err(ApiError::field("q", "is too long (100 characters at most)"));
    }
    let (users, total) = state.db.search_users(q, page, per_page).await?;
    Ok(Json(api::Page { items: users.iter().map(to_wire_user).collect(), total, page, per_page }))
}

async fn get_user(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<api::User>, ApiError> {
    let user = state.db.user_by_id(UserId(id)).await?.ok_or(ApiError::NotFound("no such user"))?;
    Ok(Json(to_wire_user(&user)))
}

/// Disabling revokes the user's sessions at once; their access token stops working on the next
/// request because `AuthUser` reads the account fresh.
async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<i64>,
    Json(req): Json<api::AdminUpdateUser>,
) -> Result<Json<api::User>, ApiError> {
    let id = UserId(id);
    if id == admin.id && req.disabled {
        return Err(ApiError::Conflict("you cannot disable your own account"));
    }
    let user = state
        .db
        .set_disabled(admin.id, id, req.disabled, Utc::now())
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    if req.disabled {
        state.hub.kick(id);
    }
    tracing::info!(admin = %admin.id, user = %id, disabled = req.disabled, "account status changed");
    Ok(Json(to_wire_user(&user)))
}
