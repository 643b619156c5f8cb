//! Extractors that turn a request into typed, checked input or an `ApiError`.

use axum::{
    extract::{FromRequest, FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};

use super::{API, AppState, error::ApiError};
use crate::{
    auth::tokens::TokenError,
    domain::{Role, User},
};

/// `axum::Json`, but a bad body becomes our error format instead of axum's plain text.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with our error format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with our error format.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The signed-in user: a valid `Authorization: Bearer` access token whose user still exists and
/// is not disabled. The user is read fresh, so disabling or demoting takes effect at once.
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::Unauthenticated("sign in first (no Authorization header)"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthenticated("the Authorization header must be `Bearer <token>`"))?;
        let claims = state.keys.verify(token.trim()).map_err(|e| match e {
            TokenError::Expired => ApiError::TokenExpired,
            TokenError::Invalid => ApiError::Unauthenticated("the access token is not valid"),
        })?;
        let user =
            state.db.user_by_id(claims.user).await?.ok_or(ApiError::Unauthenticated("the account no longer exists"))?;
        if user.disabled {
            return Err(ApiError::AccountDisabled);
        }
        Ok(AuthUser(user))
    }
}

impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            <Self as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

/// An `AuthUser` whose role is admin; 403 for everyone else.
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthUser(user) = <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden("this needs an administrator"));
        }
        Ok(AdminUser(user))
    }
}

/// An administrator fetching a file: by the `Authorization` header like `AdminUser`, or, when
/// there is none (a browser saving a download sends no header), by a signed link
/// (`…&link=<token>`, made by `POST /api/admin/links`) for exactly this path and query. The
/// account is read fresh either way.
pub struct AdminDownload(pub User);

impl FromRequestParts<AppState> for AdminDownload {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let uri = &parts.uri;
        let link = uri.query().and_then(|q| q.rsplit_once("link=")).filter(|(rest, _)| {
            // `link` is the last parameter: the signed path is what comes before it.
            rest.is_empty() || rest.ends_with('&')
        });
        let Some((rest, token)) = link.filter(|_| !parts.headers.contains_key(header::AUTHORIZATION)) else {
            let AdminUser(user) = <AdminUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
            return Ok(AdminDownload(user));
        };
        let rest = rest.trim_end_matches('&');
        // The path as the browser asked for it: under `/api`, which routing took off.
        let path = uri.path();
        let path = if rest.is_empty() { format!("{API}{path}") } else { format!("{API}{path}?{rest}") };
        let id = state.keys.verify_link(token, &path).map_err(|e| match e {
            TokenError::Expired => ApiError::Unauthenticated("the download link has expired; export again"),
            TokenError::Invalid => ApiError::Unauthenticated("the download link is not valid"),
        })?;
        let user = state.db.user_by_id(id).await?.ok_or(ApiError::Unauthenticated("the account no longer exists"))?;
        if user.disabled {
            return Err(ApiError::AccountDisabled);
        }
        if user.role != Role::Admin {
            return Err(ApiError::Forbidden("this needs an administrator"));
        }
        Ok(AdminDownload(user))
    }
}

/// `?page=&per_page=` of a listing: 1-based page, at most `PAGE_MAX` per page.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Paging {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

impl Paging {
    /// `(page, per_page)`, or a 422 naming the bad field.
    pub fn checked(&self) -> Result<(u32, u32), ApiError> {
        paging(self.page, self.per_page)
    }
}

/// The same check for queries that carry paging among other fields.
pub fn paging(page: Option<u32>, per_page: Option<u32>) -> Result<(u32, u32), ApiError> {
    use protocol::limits::PAGE_MAX;
    let (page, per_page) = (page.unwrap_or(1), per_page.unwrap_or(20));
    if page == 0 {
        return Err(ApiError::field("page", "pages start at 1"));
    }
    if per_page == 0 || per_page > PAGE_MAX {
        return Err(ApiError::field("per_page", format!("must be between 1 and {PAGE_MAX}")));
    }
    Ok((page, per_page))
}
