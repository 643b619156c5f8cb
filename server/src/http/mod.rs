//! The HTTP surface: `/api/*` (JSON), `/healthz`, `/readyz`, and the built web app.
//!
//! This is the only module that knows HTTP status codes. Feature modules each expose
//! `router()`; this one merges them and adds the layers every request goes through.

pub mod accounts;
pub mod admin;
pub mod calls;
pub mod carriers;
pub mod cdrs;
pub mod dashboard;
pub mod decks;
pub mod error;
pub mod extract;
pub mod limiter;
pub mod money;
pub mod rate_csv;
pub mod rates;
pub mod topups;

use std::{path::Path, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderName, Request, StatusCode},
    response::IntoResponse,
    routing::get,
};
use protocol::api;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::{ServeDir, ServeFile},
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{auth::tokens::TokenKeys, config::Settings, domain::User, storage::Db};
use error::ApiError;
use extract::Json;

/// Where the JSON API lives; its routes are written (and see their paths) without it.
pub const API: &str = "/api";

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub keys: TokenKeys,
    pub settings: Settings,
    pub limiter: limiter::LoginLimiter,
    pub hub: std::sync::Arc<crate::signaling::Hub>,
    pub payments: crate::payments::Payments,
    /// The live LCR table, and the bell that asks for a rebuild (a deck changed).
    pub routes: std::sync::Arc<crate::routing::table::LiveTable>,
    /// Each registering carrier's registration.
    pub registrations: std::sync::Arc<crate::registrations::Registrations>,
    /// Each carrier gateway's latest OPTIONS ping.
    pub pings: std::sync::Arc<crate::pings::Pings>,
    /// `[routing]`: margin, attempts, failover, circuit breaker.
    pub rules: crate::lcr::Rules,
    pub rebuild_routes: std::sync::Arc<tokio::sync::Notify>,
    /// Deck imports in progress and recent ones.
    pub deck_jobs: std::sync::Arc<decks::ImportJobs>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(accounts::router())
        .merge(admin::router())
        .merge(calls::router())
        .merge(carriers::router())
        .merge(cdrs::router())
        .merge(dashboard::router())
        .merge(money::router())
        .merge(rates::router())
        .merge(rate_csv::router())
        .merge(decks::router())
        .merge(topups::router())
        .fallback(|| async { ApiError::NotFound("no such API endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::BadRequest("this method is not allowed on this endpoint".into())
        })
        .layer(DefaultBodyLimit::max(state.settings.http.body_limit));

    let mut app = Router::new()
        .nest(API, api)
        .route("/ws", get(crate::signaling::ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state.clone());

    if let Some(dist) = state.settings.web_dist.as_deref() {
        app = app.fallback_service(web_app(dist));
    }

    app.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<_>| {
                        let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
    )
}

/// The single-page app: real files as they are, any other path gets `index.html` so that
/// client-side routes survive a reload.
fn web_app(dist: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(dist).fallback(ServeFile::new(dist.join("index.html")))
}

/// The process is up.
async fn healthz() -> Json<api::Health> {
    Json(api::Health { status: "ok".into() })
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(api::Health { status: "ready".into() })),
        other => {
            tracing::warn!(?other, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(api::Health { status: "database unreachable".into() }))
        }
    }
}

pub fn to_wire_user(user: &User) -> api::User {
    api::User {
        id: user.id.0,
        email: user.email.as_str().to_string(),
        display_name: user.display_name.as_str().to_string(),
        role: match user.role {
            crate::domain::Role::User => api::Role::User,
            crate::domain::Role::Admin => api::Role::Admin,
        },
        disabled: user.disabled,
        country: user.country.as_ref().map(|c| c.as_str().to_string()),
        under_review: user.under_review,
        rate_plan_id: user.rate_plan_id,
        created_at: user.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}
