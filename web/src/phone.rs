//! The softphone: what the call screens show (`Phone`, plain signals) and the controller that
//! drives signaling and media (`Controller`, kept in a thread-local because browser objects are
//! not `Send`). Components call the free functions here; nothing else touches the controller.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use leptos::{prelude::*, task::spawn_local};
use protocol::{
    api::{IceServer, LiveCall},
    ws::{ClientMsg, IceCandidate, Peer, RejectReason, SdpKind, ServerMsg, SessionDescription},
};
use web_sys::RtcSdpType;

use crate::{
    api as rest,
    rtc::{Media, Stats},
    session::Auth,
    signaling::Socket,
    tones::{self, Tone},
};

#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Idle,
    /// We dialed; `call_id` arrives when the server accepts the call.
    Outgoing {
        call_id: Option<String>,
        peer: Peer,
        ringing: bool,
    },
    InCall {
        call_id: String,
        peer: Peer,
        started_ms: f64,
        muted: bool,
        held: bool,
        peer_held: bool,
        reconnecting: bool,
    },
}

impl Screen {
    fn call_id(&self) -> Option<&str> {
        match self {
            Screen::Idle => None,
            Screen::Outgoing { call_id, .. } => call_id.as_deref(),
            Screen::InCall { call_id, .. } => Some(call_id),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub call_id: String,
    pub from: Peer,
    sdp: String,
}

/// The signed-in user's money as last heard from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Funds {
    pub balance_micros: i64,
    /// What calls may spend now: balance + credit limit − live calls' reservations.
    pub available_micros: i64,
}

/// A paid call's money, from the server's `CallCredit` pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub call_id: String,
    pub per_minute_micros: i64,
    /// Committed so far: the connection fee and the billing increments started.
    pub cost_micros: i64,
    /// Seconds the call can go on, as of `at_ms` (`None`: over an hour).
    pub seconds_left: Option<u64>,
    pub at_ms: i64,
}

/// What the UI shows. Cheap to copy; provided as context.
#[derive(Clone, Copy)]
pub struct Phone {
    pub screen: RwSignal<Screen>,
    pub incoming: RwSignal<Vec<Incoming>>,
    /// Why the last call ended, in words.
    pub ended: RwSignal<Option<String>>,
    /// The last call's end cause code (`credit_exhausted` offers a top-up).
    pub ended_code: RwSignal<Option<String>>,
    /// A problem to show (microphone denied, a refused dial, …).
    pub error: RwSignal<Option<String>>,
    /// The code of that problem, when the server gave one (`insufficient_funds` offers a top-up).
    pub error_code: RwSignal<Option<String>>,
    /// The current call's money (phone calls, and browser calls when they are priced).
    pub credit: RwSignal<Option<Credit>>,
    /// The server warned the balance runs out: (seconds left then, when, in ms since the epoch).
    pub credit_warning: RwSignal<Option<(u64, i64)>>,
    /// The last ended call's final charge: (call id, micro-units), once posted.
    pub last_charge: RwSignal<Option<(String, i64)>>,
    pub online: RwSignal<Vec<i64>>,
    /// The signaling socket is up.
    pub connected: RwSignal<bool>,
    pub stats: RwSignal<Stats>,
    /// Milliseconds since the epoch, ticking during a call (for the timer).
    pub now_ms: RwSignal<f64>,
    /// The balance every page shows: loaded with `GET /api/me/balance` (`refresh_balance`),
    /// then kept current by the server's `Balance` pushes. `None` until first known.
    pub funds: RwSignal<Option<Funds>>,
    /// How many `Balance` pushes arrived: pages that show something a balance change may
    /// have changed too (a top-up's status) watch it to reload.
    pub balance_pushes: RwSignal<u32>,
    /// The calls in progress, for an administrator watching them (`watch_calls`): the server's
    /// latest `LiveCalls` push. `None` until something is known.
    pub live_calls: RwSignal<Option<Vec<LiveCall>>>,
}

impl Phone {
    pub fn new() -> Self {
        Self {
            screen: RwSignal::new(Screen::Idle),
            incoming: RwSignal::new(vec![]),
            ended: RwSignal::new(None),
            ended_code: RwSignal::new(None),
            error: RwSignal::new(None),
            error_code: RwSignal::new(None),
            credit: RwSignal::new(None),
            credit_warning: RwSignal::new(None),
            last_charge: RwSignal::new(None),
            online: RwSignal::new(vec![]),
            connected: RwSignal::new(false),
            stats: RwSignal::new(Stats::default()),
            now_ms: RwSignal::new(0.0),
            funds: RwSignal::new(None),
            balance_pushes: RwSignal::new(0),
            live_calls: RwSignal::new(None),
        }
    }
}

struct Controller {
    phone: Phone,
    auth: Auth,
    socket: Option<Socket>,
    welcomed: bool,
    /// The server said our token is stale: refresh before reconnecting.
    needs_refresh: bool,
    device: Option<String>,
    ice_servers: Vec<IceServer>,
    media: Option<Rc<Media>>,
    /// We are the caller (only the caller restarts ICE, so both sides never do at once).
    caller: bool,
    /// Our candidates gathered before the server gave the call an id.
    early_ice: Vec<IceCandidate>,
    next_request: u32,
    tone: Option<Tone>,
    retry: u32,
    /// The current (phone) call's media answer arrived before the answer: the network plays
    /// ringback, not us.
    early_media: bool,
    /// The beep of a low-balance warning, while it plays.
    beep: Option<Tone>,
    /// The id of the call that ended last (its charge arrives after the end).
    last_call: Option<String>,
}

thread_local! {
    static CTL: RefCell<Option<Controller>> = const { RefCell::new(None) };
    /// An admin page shows the live calls: asked for again after every (re)connection.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

fn with<R>(f: impl FnOnce(&mut Controller) -> R) -> Option<R> {
    CTL.with(|c| c.borrow_mut().as_mut().map(f))
}

fn send(msg: ClientMsg) {
    with(|c| c.socket.as_ref().map(|s| s.send(&msg)));
}

/// Starts signaling for the signed-in user (once per sign-in).
pub fn start(phone: Phone, auth: Auth) {
    let fresh = CTL.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_some() {
            return false;
        }
        *c = Some(Controller {
            phone,
            auth,
            socket: None,
            welcomed: false,
            needs_refresh: false,
            device: None,
            ice_servers: vec![],
            media: None,
            caller: false,
            early_ice: vec![],
            next_request: 0,
            tone: None,
            retry: 0,
            early_media: false,
            beep: None,
            last_call: None,
        });
        true
    });
    if fresh {
        refresh_balance(phone, auth);
        connect();
    }
}

/// Asks the server for the balance. A push that arrives meanwhile wins: it is at least as new.
pub fn refresh_balance(phone: Phone, auth: Auth) {
    let pushes = phone.balance_pushes.get_untracked();
    spawn_local(async move {
        if let Ok(b) = auth.call(rest::balance).await
            && phone.balance_pushes.try_get_untracked() == Some(pushes)
        {
            phone.funds.set(Some(Funds { balance_micros: b.balance_micros, available_micros: b.available_micros }));
        }
    });
}

/// Signed out: hang up, close everything.
pub fn stop() {
    if let Some(id) = with(|c| c.phone.screen.get_untracked().call_id().map(str::to_string)).flatten() {
        send(ClientMsg::Hangup { call_id: id });
    }
    let old = CTL.with(|c| c.borrow_mut().take());
    if let Some(c) = old {
        c.phone.screen.set(Screen::Idle);
        c.phone.incoming.set(vec![]);
        c.phone.connected.set(false);
        c.phone.funds.set(None);
        c.phone.live_calls.set(None);
    }
}

/// Starts (`on`) or stops the server's `LiveCalls` snapshots for the live-calls view. Sent now
/// when the socket is ready, and again after each reconnection while on.
pub fn watch_calls(on: bool) {
    WATCHING.with(|w| w.set(on));
    let ready = with(|c| {
        if !on {
            c.phone.live_calls.set(None);
        }
        c.welcomed
    });
    if ready == Some(true) {
        send(ClientMsg::WatchCalls { on });
    }
}

fn connect() {
    let socket = Socket::open(say_hello, on_message, on_closed);
    with(|c| match socket {
        Ok(s) => {
            c.socket = Some(s);
            c.welcomed = false;
        }
        Err(e) => c.phone.error.set(Some(e)),
    });
}

fn say_hello() {
    let hello = with(|c| {
        let token = c.auth.session.with_untracked(|s| s.as_ref().map(|s| s.access_token.clone()))?;
        Some(ClientMsg::Hello { version: protocol::PROTOCOL_VERSION, token, resume: c.device.clone() })
    })
    .flatten();
    if let Some(hello) = hello {
        send(hello);
    }
}

fn on_closed() {
    let Some((delay, refresh)) = with(|c| {
        c.socket = None;
        c.phone.connected.set(false);
        c.retry += 1;
        (1000 * 2u32.pow(c.retry.min(4) - 1).min(10), std::mem::take(&mut c.needs_refresh))
    }) else {
        return; // stopped
    };
    spawn_local(async move {
        sleep(delay).await;
        if refresh {
            match rest::refresh().await {
                Ok(s) => {
                    with(|c| c.auth.session.set(Some(s)));
                }
                Err(_) => {
                    with(|c| c.auth.end(Some("Your session has expired. Please sign in again.".into())));
                    stop();
                    return;
                }
            }
        }
        if with(|_| ()).is_some() {
            connect();
        }
    });
}

fn on_message(msg: ServerMsg) {
    match msg {
        ServerMsg::Welcome { device_id, ice_servers, online, .. } => {
            let reconnected = with(|c| {
                let reconnected = c.device.is_some();
                c.device = Some(device_id);
                c.ice_servers = ice_servers;
                c.welcomed = true;
                c.retry = 0;
                c.phone.online.set(online);
                c.phone.connected.set(true);
                reconnected.then_some((c.phone, c.auth))
            });
            // Pushes sent while we were away were lost.
            if let Some(Some((phone, auth))) = reconnected {
                refresh_balance(phone, auth);
            }
            if WATCHING.with(Cell::get) {
                send(ClientMsg::WatchCalls { on: true });
            }
        }
        ServerMsg::Balance { balance_micros, available_micros } => {
            with(|c| {
                c.phone.funds.set(Some(Funds { balance_micros, available_micros }));
                c.phone.balance_pushes.update(|n| *n = n.wrapping_add(1));
            });
        }
        // One that crossed our "off" on the way is dropped.
        ServerMsg::LiveCalls { calls } if WATCHING.with(Cell::get) => {
            with(|c| c.phone.live_calls.set(Some(calls)));
        }
        ServerMsg::LiveCalls { .. } => {}
        ServerMsg::Error { code, message, request_id, call_id } => on_error(&code, message, request_id, call_id),
        ServerMsg::Presence { user_id, online } => {
            with(|c| {
                c.phone.online.update(|o| {
                    o.retain(|u| *u != user_id);
                    if online {
                        o.push(user_id);
                    }
                })
            });
        }
        ServerMsg::Calling { call_id, .. } => {
            let early = with(|c| {
                if let Screen::Outgoing { call_id: id @ None, .. } = &mut *c.phone.screen.write() {
                    *id = Some(call_id.clone());
                }
                std::mem::take(&mut c.early_ice)
            });
            for candidate in early.unwrap_or_default() {
                send(ClientMsg::Ice { call_id: call_id.clone(), candidate });
            }
        }
        ServerMsg::Ringing { call_id } => {
            with(|c| {
                if c.phone.screen.get_untracked().call_id() == Some(&call_id) {
                    if let Screen::Outgoing { ringing, .. } = &mut *c.phone.screen.write() {
                        *ringing = true;
                    }
                    mark("ringing");
                    // A phone call's ringback (or early media) comes from the network.
                    if !c.early_media {
                        c.tone = Tone::play(tones::RINGBACK);
                    }
                }
            });
        }
        ServerMsg::EarlyMedia { call_id, sdp } => {
            let Some(Some(media)) = with(|c| {
                if c.phone.screen.get_untracked().call_id() != Some(&call_id) {
                    return None;
                }
                c.early_media = true;
                c.tone = None;
                c.media.clone()
            }) else {
                return;
            };
            mark("early_media");
            spawn_local(async move {
                if let Err(e) = media.set_remote(RtcSdpType::Answer, &sdp).await {
                    fail(e);
                }
            });
            // Ringback or early media arrive from now on.
            watch_stats(call_id);
        }
        ServerMsg::Incoming { call_id, from, sdp } => {
            with(|c| {
                let busy = c.phone.screen.get_untracked() != Screen::Idle;
                c.phone.incoming.update(|l| l.push(Incoming { call_id, from, sdp }));
                if c.tone.is_none() || !busy {
                    c.tone = Tone::play(if busy { tones::WAITING } else { tones::RINGTONE });
                }
            });
        }
        ServerMsg::Answered { call_id, sdp } => {
            let Some(Some(media)) = with(|c| {
                if c.phone.screen.get_untracked().call_id() != Some(&call_id) {
                    return None;
                }
                c.tone = None;
                let peer = match c.phone.screen.get_untracked() {
                    Screen::Outgoing { peer, .. } => peer,
                    _ => return None,
                };
                c.phone.screen.set(in_call(call_id.clone(), peer));
                c.media.clone()
            }) else {
                return;
            };
            spawn_local(async move {
                // A phone call's answer was applied already, with its early media.
                if media.has_remote() {
                    return;
                }
                if let Err(e) = media.set_remote(RtcSdpType::Answer, &sdp).await {
                    fail(e);
                }
            });
            // A phone call's stats are watched since its early media.
            if with(|c| c.early_media) != Some(true) {
                watch_stats(call_id);
            }
        }
        ServerMsg::Connected { .. } => {}
        ServerMsg::Ice { call_id, candidate } => {
            if let Some(media) = current_media(&call_id) {
                spawn_local(async move { media.add_ice(&candidate).await });
            }
        }
        ServerMsg::Sdp { call_id, description } => {
            let Some(media) = current_media(&call_id) else { return };
            spawn_local(async move {
                let result = match description.kind {
                    SdpKind::Offer => media.answer(&description.sdp).await.map(|sdp| {
                        send(ClientMsg::Sdp {
                            call_id,
                            description: SessionDescription { kind: SdpKind::Answer, sdp },
                        });
                    }),
                    SdpKind::Answer => media.set_remote(RtcSdpType::Answer, &description.sdp).await,
                };
                if let Err(e) = result {
                    leptos::logging::warn!("renegotiation failed: {e}");
                }
            });
        }
        ServerMsg::Hold { call_id, on } => update_call(&call_id, |s| {
            if let Screen::InCall { peer_held, .. } = s {
                *peer_held = on;
            }
        }),
        ServerMsg::PeerReconnecting { call_id } => update_call(&call_id, |s| {
            if let Screen::InCall { reconnecting, .. } = s {
                *reconnecting = true;
            }
        }),
        ServerMsg::PeerReconnected { call_id } => update_call(&call_id, |s| {
            if let Screen::InCall { reconnecting, .. } = s {
                *reconnecting = false;
            }
        }),
        ServerMsg::CallCredit { call_id, per_minute_micros, cost_micros, seconds_left } => with(|c| {
            if c.phone.screen.get_untracked().call_id() == Some(&call_id) {
                let at_ms = js_sys::Date::now() as i64;
                c.phone.credit.set(Some(Credit { call_id, per_minute_micros, cost_micros, seconds_left, at_ms }));
                // A later deadline (a top-up) takes the warning away.
                if seconds_left.is_none_or(|s| s > 60) {
                    c.phone.credit_warning.set(None);
                }
            }
        })
        .unwrap_or(()),
        ServerMsg::CreditWarning { call_id, seconds_left } => with(|c| {
            if c.phone.screen.get_untracked().call_id() == Some(&call_id) {
                c.phone.credit_warning.set(Some((seconds_left, js_sys::Date::now() as i64)));
                c.beep = Tone::play(tones::WARNING);
            }
        })
        .unwrap_or(()),
        ServerMsg::CallCharged { call_id, charge_micros } => with(|c| {
            if c.last_call.as_deref() == Some(&call_id) {
                c.phone.last_charge.set(Some((call_id, charge_micros)));
            }
        })
        .unwrap_or(()),
        ServerMsg::Ended { call_id, cause, message } => {
            let current = with(|c| c.phone.screen.get_untracked().call_id() == Some(&call_id)).unwrap_or(false);
            if current {
                with(|c| {
                    c.last_call = Some(call_id.clone());
                    c.phone.ended_code.set(Some(cause.clone()));
                });
                finish(Some(message));
            } else {
                with(|c| {
                    c.phone.incoming.update(|l| l.retain(|i| i.call_id != call_id));
                    if c.phone.incoming.with_untracked(Vec::is_empty)
                        && !matches!(c.phone.screen.get_untracked(), Screen::Outgoing { ringing: true, .. })
                    {
                        c.tone = None;
                    }
                    if c.phone.screen.get_untracked() == Screen::Idle {
                        c.phone.ended.set(Some(message));
                    }
                });
            }
        }
    }
}

fn on_error(code: &str, message: String, request_id: Option<String>, call_id: Option<String>) {
    let before_welcome = with(|c| !c.welcomed).unwrap_or(false);
    if before_welcome && matches!(code, "token_expired" | "unauthenticated") {
        with(|c| c.needs_refresh = true);
        return;
    }
    if before_welcome && code == "account_disabled" {
        with(|c| c.auth.end(Some(message.clone())));
        stop();
        return;
    }
    let dialing =
        with(|c| matches!(c.phone.screen.get_untracked(), Screen::Outgoing { call_id: None, .. })).unwrap_or(false);
    if request_id.is_some() && dialing {
        finish(None);
        with(|c| {
            c.phone.error_code.set(Some(code.to_string()));
            c.phone.error.set(Some(message));
        });
    } else if code != "unknown_call" || call_id.is_none() {
        with(|c| c.phone.error.set(Some(message)));
    }
}

fn in_call(call_id: String, peer: Peer) -> Screen {
    Screen::InCall {
        call_id,
        peer,
        started_ms: js_sys::Date::now(),
        muted: false,
        held: false,
        peer_held: false,
        reconnecting: false,
    }
}

fn current_media(call_id: &str) -> Option<Rc<Media>> {
    with(|c| (c.phone.screen.get_untracked().call_id() == Some(call_id)).then(|| c.media.clone()).flatten()).flatten()
}

fn update_call(call_id: &str, f: impl FnOnce(&mut Screen)) {
    with(|c| {
        if c.phone.screen.get_untracked().call_id() == Some(call_id) {
            c.phone.screen.update(f);
        }
    });
}

/// Ends the current call locally: media closed, tones off, the reason shown.
fn finish(message: Option<String>) {
    with(|c| {
        if let Some(id) = c.phone.screen.get_untracked().call_id() {
            c.last_call = Some(id.to_string());
        }
        c.media = None;
        c.early_ice.clear();
        c.tone = None;
        c.beep = None;
        c.phone.credit.set(None);
        c.phone.credit_warning.set(None);
        c.phone.screen.set(Screen::Idle);
        c.phone.stats.set(Stats::default());
        if message.is_some() {
            c.phone.ended.set(message);
        }
    });
}

fn fail(message: String) {
    if let Some(id) = with(|c| c.phone.screen.get_untracked().call_id().map(str::to_string)).flatten() {
        send(ClientMsg::Hangup { call_id: id });
    }
    finish(None);
    with(|c| c.phone.error.set(Some(message)));
}

/// Builds the media for a call; our candidates go to `call_id` (or wait for it).
async fn media_for() -> Result<Rc<Media>, String> {
    let mic = crate::rtc::microphone().await?;
    let ice_servers = with(|c| c.ice_servers.clone()).unwrap_or_default();
    let media = Media::new(
        &ice_servers,
        mic,
        |candidate| {
            let call_id = with(|c| {
                let id = c.phone.screen.get_untracked().call_id().map(str::to_string);
                if id.is_none() {
                    c.early_ice.push(candidate.clone());
                }
                id
            })
            .flatten();
            if let Some(call_id) = call_id {
                send(ClientMsg::Ice { call_id, candidate });
            }
        },
        |state| {
            if state == "failed" {
                restart_ice();
            }
        },
    )?;
    Ok(Rc::new(media))
}

/// The network changed under an answered call: new ICE credentials, same call.
fn restart_ice() {
    let Some((call_id, media)) = with(|c| {
        let id = c.phone.screen.get_untracked().call_id().map(str::to_string)?;
        c.caller.then(|| c.media.clone().map(|m| (id, m))).flatten()
    })
    .flatten() else {
        return;
    };
    spawn_local(async move {
        if let Ok(sdp) = media.offer(true).await {
            send(ClientMsg::Sdp { call_id, description: SessionDescription { kind: SdpKind::Offer, sdp } });
        }
    });
}

pub fn dial(peer: Peer) {
    let idle = with(|c| {
        if c.phone.screen.get_untracked() != Screen::Idle || !c.welcomed {
            return false;
        }
        c.phone.error.set(None);
        c.phone.error_code.set(None);
        c.phone.ended.set(None);
        c.phone.ended_code.set(None);
        c.phone.last_charge.set(None);
        c.caller = true;
        c.early_media = false;
        c.phone.stats.set(Default::default());
        c.next_request += 1;
        c.phone.screen.set(Screen::Outgoing { call_id: None, peer: peer.clone(), ringing: false });
        true
    });
    if idle != Some(true) {
        return;
    }
    mark("dial");
    spawn_local(async move {
        let media = match media_for().await {
            Ok(m) => m,
            Err(e) => return fail(e),
        };
        let still_dialing = with(|c| {
            let ok = matches!(c.phone.screen.get_untracked(), Screen::Outgoing { call_id: None, .. });
            if ok {
                c.media = Some(media.clone());
            }
            ok
        });
        if still_dialing != Some(true) {
            return; // cancelled while the microphone was opening
        }
        match media.offer(false).await {
            Ok(sdp) => {
                let request_id = with(|c| c.next_request.to_string()).unwrap_or_default();
                match peer.number.clone() {
                    Some(number) => send(ClientMsg::DialNumber { request_id, number, sdp }),
                    None => send(ClientMsg::Dial { request_id, callee: peer.id, sdp }),
                }
            }
            Err(e) => fail(e),
        }
    });
}

pub fn answer(call_id: String) {
    let Some(Some(incoming)) = with(|c| {
        let found = c.phone.incoming.with_untracked(|l| l.iter().find(|i| i.call_id == call_id).cloned())?;
        c.phone.incoming.update(|l| l.retain(|i| i.call_id != call_id));
        Some(found)
    }) else {
        return;
    };
    mark("answer");
    // Answering a waiting call ends the current one.
    if let Some(current) = with(|c| c.phone.screen.get_untracked().call_id().map(str::to_string)).flatten() {
        send(ClientMsg::Hangup { call_id: current });
        finish(None);
    }
    with(|c| {
        c.tone = None;
        c.caller = false;
        c.phone.error.set(None);
        c.phone.ended.set(None);
        c.phone.screen.set(in_call(incoming.call_id.clone(), incoming.from.clone()));
    });
    spawn_local(async move {
        let media = match media_for().await {
            Ok(m) => m,
            Err(e) => {
                send(ClientMsg::Reject { call_id: incoming.call_id.clone(), reason: RejectReason::Declined });
                finish(None);
                with(|c| c.phone.error.set(Some(e)));
                return;
            }
        };
        with(|c| c.media = Some(media.clone()));
        match media.answer(&incoming.sdp).await {
            Ok(sdp) => {
                send(ClientMsg::Answer { call_id: incoming.call_id.clone(), sdp });
                watch_stats(incoming.call_id);
            }
            Err(e) => fail(e),
        }
    });
}

pub fn decline(call_id: String) {
    let reason = with(|c| {
        let busy = c.phone.screen.get_untracked() != Screen::Idle;
        c.phone.incoming.update(|l| l.retain(|i| i.call_id != call_id));
        if c.phone.incoming.with_untracked(Vec::is_empty) && !busy {
            c.tone = None;
        }
        if busy { RejectReason::Busy } else { RejectReason::Declined }
    });
    if let Some(reason) = reason {
        send(ClientMsg::Reject { call_id, reason });
    }
}

pub fn hang_up() {
    let Some(screen) = with(|c| c.phone.screen.get_untracked()) else { return };
    let message = match &screen {
        Screen::Idle => return,
        Screen::Outgoing { .. } => "Call cancelled.",
        Screen::InCall { .. } => "You hung up.",
    };
    if let Some(id) = screen.call_id() {
        send(ClientMsg::Hangup { call_id: id.to_string() });
    }
    finish(Some(message.into()));
}

pub fn toggle_mute() {
    with(|c| {
        let media = c.media.clone();
        c.phone.screen.update(|s| {
            if let Screen::InCall { muted, held, .. } = s {
                *muted = !*muted;
                if let Some(m) = &media {
                    m.set_microphone(!*muted && !*held);
                }
            }
        });
    });
}

pub fn toggle_hold() {
    let msg = with(|c| {
        let media = c.media.clone();
        let mut msg = None;
        c.phone.screen.update(|s| {
            if let Screen::InCall { call_id, held, muted, .. } = s {
                *held = !*held;
                if let Some(m) = &media {
                    m.set_microphone(!*held && !*muted);
                    m.set_speaker(!*held);
                }
                msg = Some(ClientMsg::Hold { call_id: call_id.clone(), on: *held });
            }
        });
        msg
    })
    .flatten();
    if let Some(msg) = msg {
        send(msg);
    }
}

/// Polls the call's statistics while it lasts: often until the first audio arrives, then
/// twice a second.
fn watch_stats(call_id: String) {
    spawn_local(async move {
        let mut heard = false;
        loop {
            let Some(media) = current_media(&call_id) else { return };
            let stats = media.stats().await;
            drop(media);
            if !heard && stats.packets_received > 0 {
                heard = true;
                mark("first-audio");
            }
            let live = with(|c| {
                let live = c.phone.screen.get_untracked().call_id() == Some(&call_id);
                if live {
                    c.phone.stats.set(stats);
                    c.phone.now_ms.set(js_sys::Date::now());
                }
                live
            });
            if live != Some(true) {
                return;
            }
            sleep(if heard { 500 } else { 20 }).await;
        }
    });
}

/// A `performance.mark`, so a person (devtools) or the latency harness can time call setup.
fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(&format!("callplat:{name}"));
    }
}

pub async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms as i32);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Sends `tones` (0-9, *, #) on the current call's audio as RFC 4733 events. False when there is
/// no call with media to send them on.
pub fn send_dtmf(tones: &str) -> bool {
    let Some(Some(media)) = with(|c| c.media.clone()) else { return false };
    media.dtmf(tones)
}
