//! Who one can call (directory, recent contacts), the call history, and ICE servers.

use axum::{Router, extract::State, routing::get};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use protocol::api;
use serde::Deserialize;

use super::{
    AppState,
    error::ApiError,
    extract::{AuthUser, Json, Paging, Query},
};
use crate::{
    call::EndCause,
    domain::{User, UserId},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/directory", get(directory))
        .route("/contacts/recent", get(recent))
        .route("/calls", get(history))
        .route("/ice-servers", get(ice))
}

fn contact(state: &AppState, u: &User) -> api::Contact {
    api::Contact {
        id: u.id.0,
        display_name: u.display_name.as_str().to_string(),
        email: u.email.as_str().to_string(),
        online: state.hub.is_online(u.id),
    }
}

#[derive(Deserialize)]
struct DirectoryQuery {
    #[serde(default)]
    q: String,
}

async fn directory(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Query(query): Query<DirectoryQuery>,
) -> Result<Json<Vec<api::Contact>>, ApiError> {
    let q = query.q.trim();
    if q.chars().count() > 100 {
        return Err(ApiError::field("q", "is too long (100 characters at most)"));
    }
    let users = state.db.directory(me.id, q, 20).await?;
    Ok(Json(users.iter().map(|u| contact(&state, u)).collect()))
}

async fn recent(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Json<Vec<api::Contact>>, ApiError> {
    let users = state.db.recent_contacts(me.id, 10).await?;
    Ok(Json(users.iter().map(|u| contact(&state, u)).collect()))
}

async fn history(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Query(query): Query<Paging>,
) -> Result<Json<api::Page<api::CallRecord>>, ApiError> {
    let (page, per_page) = query.checked()?;
    let (rows, total) = state.db.call_history(me.id, page, per_page).await?;
    let rfc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let items = rows
        .into_iter()
        .map(|(c, peer)| {
            let duration_secs = match (c.answered_at, c.ended_at) {
                (Some(a), Some(e)) => u64::try_from((e - a).num_seconds()).unwrap_or(0),
                _ => 0,
            };
            api::CallRecord {
                direction: if c.caller == me.id && c.kind != "pstn_in" { "outgoing" } else { "incoming" }.into(),
                number: c.number,
                carrier: c.carrier_name,
                charge_micros: if c.caller == me.id { c.charge.map(|m| m.0) } else { None },
                sip_code: c.sip_code,
                peer: peer.as_ref().map(|u| contact(&state, u)),
                started_at: rfc(c.created_at),
                answered_at: c.answered_at.map(rfc),
                ended_at: c.ended_at.map(rfc),
                duration_secs,
                cause_text: c.end_cause.as_deref().map(|code| {
                    EndCause::from_code(code)
                        .map_or("The server restarted during the call", |c| c.describe())
                        .to_string()
                }),
                cause: c.end_cause,
                id: c.id,
            }
        })
        .collect();
    Ok(Json(api::Page { items, total, page, per_page }))
}

async fn ice(State(state): State<AppState>, AuthUser(me): AuthUser) -> Json<api::IceServers> {
    Json(ice_servers(&state, me.id))
}

/// STUN as configured, plus TURN with credentials per the TURN REST API draft
/// (draft-uberti-behave-turn-rest-00): username `<expiry>:<user id>`, password
/// base64(HMAC-SHA1(secret, username)) — what coturn checks with `use-auth-secret`.
pub fn ice_servers(state: &AppState, user: UserId) -> api::IceServers {
    let ice = &state.settings.ice;
    let mut servers = vec![];
    if !ice.stun_urls.is_empty() {
        servers.push(api::IceServer { urls: ice.stun_urls.clone(), username: None, credential: None });
    }
    let mut ttl = None;
    if let (false, Some(secret)) = (ice.turn_urls.is_empty(), &ice.turn_secret) {
        let expiry = chrono::Utc::now().timestamp().max(0).unsigned_abs() + ice.turn_ttl_secs;
        let (username, credential) = turn_credentials(secret.expose(), expiry, user);
        servers.push(api::IceServer {
            urls: ice.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
        ttl = Some(ice.turn_ttl_secs);
    }
    api::IceServers { ice_servers: servers, ttl }
}

pub fn turn_credentials(secret: &str, expiry: u64, user: UserId) -> (String, String) {
    let username = format!("{expiry}:{user}");
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    (username, STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_rest_credentials_match_coturn() {
        // The reference value is from Python: base64(hmac.new(b"north", b"1700000000:42", sha1).digest()).
        let (user, pass) = turn_credentials("north", 1_700_000_000, UserId(42));
        assert_eq!(user, "1700000000:42");
        expect_test::expect![["DWX3FI7DiPIpadEYQAZsnZBAagI="]].assert_eq(&pass);
    }
}
