//! `GET /ws`: one WebSocket per browser tab (a *device*).
//!
//! The socket must say `Hello` with a valid access token within `HELLO_TIMEOUT`; then messages
//! flow both ways. A malformed or unexpected message gets an `Error` back and the socket stays
//! up (a frame over `MAX_MESSAGE_BYTES` is abuse: that closes the socket). The server pings
//! four times per idle timeout; a socket silent (no pong either) for the idle timeout is closed
//! as dead, so with the default 20 s a dead peer is noticed within 25 s.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    extract::{
        State,
        ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use protocol::ws::{ClientMsg, MAX_MESSAGE_BYTES, Peer, ServerMsg};
use tokio::time::{Instant, interval, timeout};

use super::{
    convert,
    hub::{Hub, RouteInfo},
};
use crate::{
    auth::tokens::TokenError,
    call::{CallId, DeviceId, EndCause, Input, Party},
    domain::{User, UserId},
    http::{AppState, error::ApiError},
    ids,
    number::E164,
};

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(State(state): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Err(e) = check_origin(&state, &headers) {
        return e.into_response();
    }
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(state, socket))
}

/// Browsers always send `Origin` on a WebSocket; it must be ours (or configured). Clients that
/// are not browsers send none and are let through: they cannot ride on a user's cookies.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let own = origin.split_once("://").is_some_and(|(_, rest)| rest == host);
    let public = state.settings.http.public_url.as_deref().is_some_and(|u| u.trim_end_matches('/') == origin);
    let listed = state.settings.http.allowed_origins.iter().any(|o| o == origin);
    if own || public || listed {
        Ok(())
    } else {
        tracing::warn!(origin, "WebSocket refused: origin not allowed");
        Err(ApiError::Forbidden("this origin may not open a WebSocket here"))
    }
}

async fn send(socket: &mut WebSocket, msg: &ServerMsg) -> bool {
    let text = serde_json::to_string(msg).expect("wire types serialise");
    socket.send(Message::Text(Utf8Bytes::from(text))).await.is_ok()
}

async fn session(state: AppState, mut socket: WebSocket) {
    let Some((user, resume)) = hello(&state, &mut socket).await else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let hub = state.hub.clone();
    let mut conn = hub.connect(user.id, resume.map(DeviceId), DeviceId(ids::random(12)));
    let me = Peer { id: user.id.0, display_name: user.display_name.as_str().to_string(), number: None };
    let welcome = ServerMsg::Welcome {
        device_id: conn.device.0.clone(),
        user: me.clone(),
        ice_servers: crate::http::calls::ice_servers(&state, user.id).ice_servers,
        online: hub.online_users(),
    };
    tracing::info!(user = %user.id, device = %conn.device, "device connected");
    if send(&mut socket, &welcome).await {
        let per_second = NonZeroU32::new(state.settings.calls.ws_messages_per_second.max(1)).expect("max(1)");
        let burst = per_second.saturating_mul(NonZeroU32::new(2).expect("2"));
        let limiter = RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst));
        let idle = Duration::from_secs(state.settings.calls.ws_idle_timeout_secs);
        run(&state, &hub, &mut socket, &mut conn, &me, &limiter, idle).await;
    }
    hub.disconnect(&conn.device, conn.generation);
    tracing::info!(user = %user.id, device = %conn.device, "device disconnected");
}

async fn run(
    state: &AppState,
    hub: &Arc<Hub>,
    socket: &mut WebSocket,
    conn: &mut super::hub::Connection,
    me: &Peer,
    limiter: &DefaultDirectRateLimiter,
    idle: Duration,
) {
    let mut last_heard = Instant::now();
    let mut ping = interval((idle / 4).max(Duration::from_millis(250)));
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let Some(Ok(frame)) = frame else { return };
                last_heard = Instant::now();
                let reply = match frame {
                    Message::Text(text) if limiter.check().is_err() => {
                        let _ = text;
                        Some(convert::error("rate_limited", "too many messages; slow down"))
                    }
                    Message::Text(text) => match serde_json::from_str::<ClientMsg>(text.as_str()) {
                        Ok(msg) => handle(state, hub, &conn.device, me, msg).await,
                        Err(e) => Some(convert::error("bad_message", format!("not a valid message: {e}"))),
                    },
                    Message::Binary(_) => Some(convert::error("bad_message", "binary frames are not used; send JSON text")),
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply && !send(socket, &reply).await {
                    return;
                }
            }
            out = conn.rx.recv() => {
                // `None`: the hub let go of this device (account disabled).
                let Some(out) = out else { return };
                if !send(socket, &out).await {
                    return;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > idle {
                    tracing::info!(device = %conn.device, "no traffic for {idle:?}: closing the socket");
                    return;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits for `Hello` and checks its token. `None` (after telling the client why) closes.
async fn hello(state: &AppState, socket: &mut WebSocket) -> Option<(User, Option<String>)> {
    let first = match timeout(HELLO_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(_) => return None,
        Err(_) => {
            send(socket, &convert::error("hello_timeout", "say hello with a token first")).await;
            return None;
        }
    };
    let (version, token, resume) = match serde_json::from_str::<ClientMsg>(first.as_str()) {
        Ok(ClientMsg::Hello { version, token, resume }) => (version, token, resume),
        _ => {
            send(socket, &convert::error("hello_expected", "the first message must be hello")).await;
            return None;
        }
    };
    if version != protocol::PROTOCOL_VERSION {
        let msg =
            format!("protocol version {version} is not supported; this server speaks {}", protocol::PROTOCOL_VERSION);
        send(socket, &convert::error("unsupported_version", msg)).await;
        return None;
    }
    let claims = match state.keys.verify(&token) {
        Ok(c) => c,
        Err(TokenError::Expired) => {
            send(socket, &convert::error("token_expired", "the access token has expired; refresh it")).await;
            return None;
        }
        Err(TokenError::Invalid) => {
            send(socket, &convert::error("unauthenticated", "the access token is not valid")).await;
            return None;
        }
    };
    match state.db.user_by_id(claims.user).await {
        Ok(Some(user)) if !user.disabled => Some((user, resume)),
        Ok(Some(_)) => {
            send(socket, &convert::error("account_disabled", "this account has been disabled by an administrator"))
                .await;
            None
        }
        _ => {
            send(socket, &convert::error("unauthenticated", "the account no longer exists")).await;
            None
        }
    }
}

/// One message from a device; `Some` is a reply for it alone.
async fn handle(state: &AppState, hub: &Arc<Hub>, device: &DeviceId, me: &Peer, msg: ClientMsg) -> Option<ServerMsg> {
    let (call_id, input) = match msg {
        ClientMsg::Hello { .. } => return Some(convert::error("already_authenticated", "hello was already said")),
        ClientMsg::Dial { request_id, callee, sdp } => {
            return dial(state, hub, device, me, request_id, callee, sdp).await;
        }
        ClientMsg::DialNumber { request_id, number, sdp } => {
            return dial_number(state, hub, device, me, request_id, number, sdp).await;
        }
        ClientMsg::Answer { call_id, sdp } => (call_id, Input::Answer { device: device.clone(), sdp }),
        ClientMsg::Reject { call_id, reason } => {
            (call_id, Input::Reject { device: device.clone(), reason: convert::reject_in(reason) })
        }
        ClientMsg::Hangup { call_id } => (call_id, Input::Hangup { device: device.clone() }),
        ClientMsg::Ice { call_id, candidate } => {
            (call_id, Input::Ice { device: device.clone(), candidate: convert::ice_in(candidate) })
        }
        ClientMsg::Sdp { call_id, description } => {
            (call_id, Input::Sdp { device: device.clone(), description: convert::sdp_in(description) })
        }
        ClientMsg::Hold { call_id, on } => (call_id, Input::Hold { device: device.clone(), on }),
        ClientMsg::WatchCalls { on } => return watch_calls(hub, device, me, on).await,
    };
    if hub.route(&CallId(call_id.clone()), input) {
        None
    } else {
        Some(ServerMsg::Error {
            code: "unknown_call".into(),
            message: "there is no such call (it may have ended)".into(),
            request_id: None,
            call_id: Some(call_id),
        })
    }
}

/// An administrator's live-calls view on or off; refused for anyone else (read fresh here and
/// before every push: a demoted or disabled admin stops at once).
async fn watch_calls(hub: &Arc<Hub>, device: &DeviceId, me: &Peer, on: bool) -> Option<ServerMsg> {
    if !super::live::may_watch(hub, crate::domain::UserId(me.id)).await {
        return Some(convert::error("forbidden", "watching live calls needs an administrator"));
    }
    hub.watch_calls(device, on);
    if on {
        super::live::send_to(hub, device).await;
    }
    None
}

/// A dial refused before any call exists, answering request `request_id`.
fn refusal(request_id: &str, code: &str, message: &str) -> Option<ServerMsg> {
    Some(ServerMsg::Error {
        code: code.into(),
        message: message.into(),
        request_id: Some(request_id.into()),
        call_id: None,
    })
}

async fn dial(
    state: &AppState,
    hub: &Arc<Hub>,
    device: &DeviceId,
    me: &Peer,
    request_id: String,
    callee: i64,
    sdp: String,
) -> Option<ServerMsg> {
    let refuse = |code: &str, message: &str| refusal(&request_id, code, message);
    if callee == me.id {
        return refuse(EndCause::SelfCall.code(), "you cannot call yourself");
    }
    if sdp.trim().is_empty() || !sdp.starts_with("v=0") {
        return refuse("bad_sdp", "the offer is not an SDP session description");
    }
    let peer = match state.db.user_by_id(UserId(callee)).await {
        Ok(Some(u)) if !u.disabled => {
            Peer { id: u.id.0, display_name: u.display_name.as_str().to_string(), number: None }
        }
        Ok(_) => return refuse(EndCause::UnknownUser.code(), "there is no such user to call"),
        Err(e) => {
            tracing::error!(error = %e, "looking up the callee failed");
            return refuse("internal", "something went wrong on our side");
        }
    };
    // A browser call has its own price (free unless configured): its start is set aside too.
    let call = CallId(ids::random(12));
    let sell = hub.browser_tariff();
    if let Some(tariff) = sell {
        match hub.authorize(UserId(me.id), &call, tariff).await {
            Ok(()) => {}
            Err(crate::signaling::wallets::AuthorizeError::Refused(_)) => {
                return refuse(
                    "insufficient_funds",
                    &format!(
                        "your balance does not cover the start of a call ({}/min); top up first",
                        tariff.per_minute
                    ),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "authorizing a browser call failed");
                return refuse("internal", "something went wrong on our side");
            }
        }
    }
    let caller = Party { user: UserId(me.id), device: device.clone() };
    hub.dial(call, caller, me.clone(), peer, request_id, (sdp, sell));
    None
}

/// A call to a phone number: the number is read in the caller's country and normalised to
/// E.164, a carrier is chosen (the first enabled one, for now), the caller ID is applied, and
/// the gateway is asked to dial. Every refusal happens before anything is dialled.
async fn dial_number(
    state: &AppState,
    hub: &Arc<Hub>,
    device: &DeviceId,
    me: &Peer,
    request_id: String,
    typed: String,
    sdp: String,
) -> Option<ServerMsg> {
    let refuse = |code: &str, message: &str| refusal(&request_id, code, message);
    if sdp.trim().is_empty() || !sdp.starts_with("v=0") {
        return refuse("bad_sdp", "the offer is not an SDP session description");
    }
    if hub.gateway().is_none() {
        return refuse(EndCause::NoRoute.code(), "calls to phone numbers are not enabled on this server");
    }
    let internal = |e: anyhow::Error| {
        tracing::error!(error = %e, "preparing a PSTN call failed");
    };
    let user = match state.db.user_by_id(UserId(me.id)).await {
        Ok(Some(u)) => u,
        Ok(None) => return refuse("unauthenticated", "the account no longer exists"),
        Err(e) => {
            internal(e.into());
            return refuse("internal", "something went wrong on our side");
        }
    };
    let country = user.country.as_ref().map(|c| c.as_str().to_string());
    let number = match E164::parse(&typed, country.as_deref()) {
        Ok(n) => n,
        Err(e) => {
            return refuse(EndCause::InvalidNumber.code(), &format!("{typed:?} is not a number we can call: {e}"));
        }
    };
    // What the user pays: no retail rate, no call; and their money must cover its start.
    let sell =
        match state.db.retail_rate_for(user.id, number.as_str().trim_start_matches('+'), chrono::Utc::now()).await {
            Ok(Some(rate)) => rate,
            Ok(None) => {
                return refuse("not_allowed", &format!("calls to {number} are not allowed on your rate plan"));
            }
            Err(e) => {
                internal(e.into());
                return refuse("internal", "something went wrong on our side");
            }
        };
    // The start of the call is set aside from the caller's funds (their other live calls'
    // holds count): refused here, nothing is dialled.
    let call_id = ids::random(12);
    let call = CallId(call_id.clone());
    match hub.authorize(user.id, &call, sell.tariff).await {
        Ok(()) => {}
        Err(crate::signaling::wallets::AuthorizeError::Refused(_)) => {
            return refuse(
                "insufficient_funds",
                &format!(
                    "your balance does not cover the start of a call to {number} ({}/min); top up first",
                    sell.tariff.per_minute
                ),
            );
        }
        Err(e) => {
            internal(e.into());
            return refuse("internal", "something went wrong on our side");
        }
    }
    // From here on, a refusal lets the hold go.
    let refuse = |code: &str, message: &str| {
        hub.release(user.id, &call);
        refusal(&request_id, code, message)
    };
    // Least-cost routing: the carriers whose decks have the number and buy below the sell
    // price, cheapest first; the gateway fails over from one to the next.
    let digits = number.as_str().trim_start_matches('+');
    let selection = match crate::lcr::plan(
        &state.db,
        &state.routes,
        &state.rules,
        &hub.carrier_load(),
        digits,
        Some(sell.tariff.per_minute),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            internal(e);
            return refuse("internal", "something went wrong on our side");
        }
    };
    let carriers = match state.db.enabled_carriers().await {
        Ok(list) => list,
        Err(e) => {
            internal(e.into());
            return refuse("internal", "something went wrong on our side");
        }
    };
    let dids = state.db.user_dids(user.id).await.unwrap_or_default();
    let mut routes = vec![];
    let mut infos = vec![];
    for route in &selection.routes {
        let Some(carrier) = carriers.iter().find(|c| c.id == route.carrier.0 && !c.gateways.is_empty()) else {
            continue;
        };
        let caller_id = carrier.caller_id.caller_id(&dids).unwrap_or("anonymous");
        routes.push(protocol::gateway::DialRoute {
            number: carrier.dial_string(&number),
            caller_id: caller_id.strip_prefix('+').unwrap_or(caller_id).to_string(),
            trunk: trunk(carrier, &state.pings),
        });
        infos.push(RouteInfo { carrier_id: carrier.id, carrier_name: carrier.name.clone(), buy: Some(route.tariff) });
    }
    if routes.is_empty() {
        return refuse(
            EndCause::NoRoute.code(),
            &format!("no carrier can take calls to {number} right now; nothing was dialled"),
        );
    }
    let dial = protocol::gateway::Dial {
        call_id: call_id.clone(),
        offer: String::new(),
        caller_name: Some(me.display_name.clone()),
        routes,
        failover: state.rules.failover.to_wire(),
    };
    let caller = Party { user: UserId(me.id), device: device.clone() };
    let callee = Peer { id: 0, display_name: number.to_string(), number: Some(number.as_str().to_string()) };
    hub.dial_number(
        caller,
        me.clone(),
        callee,
        request_id,
        sdp,
        (dial, Some((sell.prefix, sell.tariff)), infos, selection.to_string()),
    );
    None
}

/// A carrier as the gateway dials it: its gateways by priority (weighted random within one),
/// those whose latest OPTIONS ping went unanswered last.
fn trunk(carrier: &crate::carrier::Carrier, pings: &crate::pings::Pings) -> protocol::gateway::Trunk {
    let down = |g: &crate::carrier::Gateway| pings.is_down(carrier.id, &format!("{}:{}", g.host, g.port));
    let gateways =
        crate::carrier::gateway_order(&carrier.gateways, down, |n| rand::Rng::gen_range(&mut rand::thread_rng(), 0..n));
    protocol::gateway::Trunk {
        carrier_id: carrier.id,
        name: carrier.name.clone(),
        gateways: gateways
            .into_iter()
            .map(|g| protocol::gateway::TrunkGateway {
                host: g.host.clone(),
                port: g.port,
                transport: crate::pings::sip_transport(g.transport),
            })
            .collect(),
        username: carrier.username.clone(),
        password: carrier.password.as_ref().map(|p| p.expose().to_string()),
        from_domain: carrier.from_domain.clone(),
    }
}
