//! The Call State Manager's I/O shell: connected devices, presence, and the live calls.
//!
//! Each call runs in its own task owning a pure `call::Call`; the task's loop `select!`s over
//! one closed input (`CallInput` from sockets) and the machine's next deadline, and carries out
//! the machine's outputs (messages to devices, records to the database). Devices are registered
//! by id; a device whose socket drops stays known for the reconnect grace so a new socket can
//! resume it.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::Utc;
use protocol::gateway::{AttemptFailure, Command as GwCommand, Dial as GwDial, EndReason, Event as GwEvent};
use protocol::ws::{Peer, ServerMsg};
use tokio::sync::mpsc;

use super::convert;
use crate::{
    call::{Call, CallConfig, CallId, DeviceId, EndCause, Input, Output, Party, Record},
    domain::UserId,
    rating::Tariff,
    storage::{Db, PstnCall},
};

/// Messages waiting for a slow socket; past this the device is considered stuck and messages drop.
const DEVICE_QUEUE: usize = 256;

pub struct Hub {
    state: Mutex<State>,
    db: Db,
    config: CallConfig,
    /// The PSTN gateway, when enabled. Its legs appear in calls as devices named `pstn:<call>`.
    gateway: Option<gateway::Gateway>,
    /// One wallet per user with live paid calls (`credit`).
    wallets: super::wallets::Wallets,
    /// Wakes the billing worker when an ended call is queued.
    billing: tokio::sync::Notify,
    /// What a browser-to-browser call costs its caller (`None`: free).
    browser_tariff: Mutex<Option<Tariff>>,
}

/// The gateway side of a PSTN call, as the hub tracks it.
struct PstnLeg {
    /// Outbound: the dial, waiting for the caller's offer to go out with it.
    dial: Option<GwDial>,
    /// Inbound: the carrier the call came from (it counts towards that carrier's live calls).
    inbound: Option<i64>,
    /// Outbound: the gateway's answer to the browser, repeated in `Answered`.
    answer: Option<String>,
    /// Outbound: the carriers the gateway may try, in its order.
    routes: Vec<RouteInfo>,
    /// Outbound: the routing attempt being made, recorded with the call when it ends.
    attempt: Option<crate::storage::Attempt>,
    /// Outbound: attempts started so far.
    tries: u32,
}

impl PstnLeg {
    /// The carrier the call uses now: the one it came from, or the current attempt's.
    fn carrier(&self) -> Option<i64> {
        self.inbound.or_else(|| self.attempt.as_ref().and_then(|a| a.carrier_id))
    }
}

/// A carrier an outbound call may go through, and what it costs us there.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub carrier_id: i64,
    pub carrier_name: String,
    pub buy: Option<Tariff>,
}

/// How a new call is recorded.
pub enum CallRecordInit {
    /// Browser to browser, sold at the browser-call price when it has one.
    Webrtc { sell: Option<Tariff> },
    /// To a number, through a carrier.
    PstnOut {
        number: String,
        carrier_id: i64,
        carrier_name: String,
        /// Why each carrier was chosen or left out.
        route_plan: String,
        /// The retail rate's prefix and tariff the call is sold at.
        sell: Option<(String, Tariff)>,
        /// The carrier's buy tariff for the number, when its deck has one.
        buy: Option<Tariff>,
    },
    /// From a number, to a DID of the callee.
    PstnIn { from: String, carrier_id: i64, carrier_name: String },
}

const PSTN_PREFIX: &str = "pstn:";

pub fn pstn_device(call: &CallId) -> DeviceId {
    DeviceId(format!("{PSTN_PREFIX}{call}"))
}

#[derive(Default)]
struct State {
    devices: HashMap<DeviceId, Device>,
    calls: HashMap<CallId, LiveCall>,
    pstn: HashMap<CallId, PstnLeg>,
    /// When each carrier's latest attempts started (its calls-per-second window).
    starts: HashMap<i64, std::collections::VecDeque<Instant>>,
    /// Administrators' devices watching the live calls.
    watchers: HashSet<DeviceId>,
    next_generation: u64,
}

struct Device {
    user: UserId,
    /// The socket's queue; `None` while the device is gone (within the grace period).
    tx: Option<mpsc::Sender<ServerMsg>>,
    /// Which socket owns the device: a resumed device ignores its old socket's goodbye.
    generation: u64,
    gone_since: Option<Instant>,
    calls: HashSet<CallId>,
}

struct LiveCall {
    tx: mpsc::UnboundedSender<Input>,
    callee: UserId,
    task: tokio::task::JoinHandle<()>,
}

/// A socket's registration with the hub.
pub struct Connection {
    pub device: DeviceId,
    pub generation: u64,
    pub rx: mpsc::Receiver<ServerMsg>,
}

impl Hub {
    pub fn new(db: Db, config: CallConfig, gateway: Option<gateway::Gateway>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            db,
            config,
            gateway,
            wallets: Default::default(),
            billing: tokio::sync::Notify::new(),
            browser_tariff: Mutex::new(None),
        })
    }

    pub fn set_browser_tariff(&self, t: Option<Tariff>) {
        *self.browser_tariff.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn browser_tariff(&self) -> Option<Tariff> {
        *self.browser_tariff.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn wallets(&self) -> &super::wallets::Wallets {
        &self.wallets
    }

    /// Resolves when an ended call was queued for billing since the last wait.
    pub async fn billing_queued(&self) {
        self.billing.notified().await
    }

    /// Wakes the billing worker (a call was queued outside the hub).
    pub fn wake_billing(&self) {
        self.billing.notify_one();
    }

    /// The ids of the calls running now (the heartbeat stamps them as alive).
    pub fn live_call_ids(&self) -> Vec<String> {
        self.lock().calls.iter().filter(|(_, c)| !c.task.is_finished()).map(|(id, _)| id.0.clone()).collect()
    }

    /// Sets the start of a paid call aside from `user`'s funds (see `credit`), or says why not.
    pub async fn authorize(
        self: &Arc<Self>,
        user: UserId,
        call: &CallId,
        tariff: Tariff,
    ) -> Result<(), super::wallets::AuthorizeError> {
        self.wallets.authorize(self, user, call.clone(), tariff).await
    }

    /// A call authorized with `authorize` will not be placed after all.
    pub fn release(&self, user: UserId, call: &CallId) {
        self.wallets.end(user, call, crate::rating::Money::ZERO);
    }

    pub fn gateway(&self) -> Option<&gateway::Gateway> {
        self.gateway.as_ref()
    }

    /// Each carrier's load now: its live calls (the current attempt of outbound calls, and
    /// inbound calls) and the attempts it got in the last second.
    pub fn carrier_load(&self) -> HashMap<i64, (u32, u32)> {
        let mut st = self.lock();
        let mut load: HashMap<i64, (u32, u32)> = HashMap::new();
        for leg in st.pstn.values() {
            if let Some(id) = leg.carrier() {
                load.entry(id).or_default().0 += 1;
            }
        }
        let second_ago = Instant::now().checked_sub(Duration::from_secs(1));
        st.starts.retain(|id, starts| {
            while starts.front().is_some_and(|t| Some(*t) < second_ago) {
                starts.pop_front();
            }
            if !starts.is_empty() {
                load.entry(*id).or_default().1 = u32::try_from(starts.len()).unwrap_or(u32::MAX);
            }
            !starts.is_empty()
        });
        load
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().devices.values().any(|d| d.user == user && d.tx.is_some())
    }

    pub fn online_users(&self) -> Vec<i64> {
        let mut users: Vec<i64> = self.lock().devices.values().filter(|d| d.tx.is_some()).map(|d| d.user.0).collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Registers a socket for `user`, resuming device `resume` when it is this user's and gone.
    pub fn connect(&self, user: UserId, resume: Option<DeviceId>, new_id: DeviceId) -> Connection {
        let (tx, rx) = mpsc::channel(DEVICE_QUEUE);
        let mut st = self.lock();
        st.next_generation += 1;
        let generation = st.next_generation;
        let was_online = st.devices.values().any(|d| d.user == user && d.tx.is_some());
        let resumable = resume.filter(|id| st.devices.get(id).is_some_and(|d| d.user == user && d.tx.is_none()));
        let (device, back_in): (DeviceId, Vec<CallId>) = match resumable {
            Some(id) => {
                let d = st.devices.get_mut(&id).expect("checked above");
                d.tx = Some(tx);
                d.generation = generation;
                d.gone_since = None;
                (id, d.calls.iter().cloned().collect())
            }
            None => {
                st.devices.insert(
                    new_id.clone(),
                    Device { user, tx: Some(tx), generation, gone_since: None, calls: HashSet::new() },
                );
                (new_id, vec![])
            }
        };
        for call in &back_in {
            if let Some(c) = st.calls.get(call) {
                let _ = c.tx.send(Input::DeviceBack { device: device.clone() });
            }
        }
        // A new tab of someone being called rings too.
        for c in st.calls.values().filter(|c| c.callee == user) {
            let _ = c.tx.send(Input::CalleeDeviceJoined { device: device.clone() });
        }
        if !was_online {
            broadcast(&st, Some(user), ServerMsg::Presence { user_id: user.0, online: true });
        }
        Connection { device, generation, rx }
    }

    /// The socket behind `device` closed. Its calls are told; the device stays resumable for the
    /// reconnect grace, after which `sweep` forgets it.
    pub fn disconnect(&self, device: &DeviceId, generation: u64) {
        let mut st = self.lock();
        let Some(d) = st.devices.get_mut(device).filter(|d| d.generation == generation) else { return };
        d.tx = None;
        d.gone_since = Some(Instant::now());
        let user = d.user;
        let calls: Vec<CallId> = d.calls.iter().cloned().collect();
        for call in calls {
            if let Some(c) = st.calls.get(&call) {
                let _ = c.tx.send(Input::DeviceLost { device: device.clone() });
            }
        }
        if !st.devices.values().any(|d| d.user == user && d.tx.is_some()) {
            broadcast(&st, Some(user), ServerMsg::Presence { user_id: user.0, online: false });
        }
    }

    /// Closes every socket of `user` (their account was disabled): their calls end as the
    /// grace runs out, and they cannot resume because they cannot authenticate.
    pub fn kick(&self, user: UserId) {
        let mut st = self.lock();
        for d in st.devices.values_mut().filter(|d| d.user == user) {
            d.tx = None; // dropping the sender ends the socket's loop
        }
    }

    /// Forgets devices gone for longer than the grace, and calls whose task has finished.
    pub fn sweep(&self) {
        let grace = self.config.reconnect_grace + Duration::from_secs(5);
        let mut st = self.lock();
        st.devices.retain(|_, d| d.gone_since.is_none_or(|t| t.elapsed() < grace) || !d.calls.is_empty());
        st.calls.retain(|_, c| !c.task.is_finished());
        let State { watchers, devices, .. } = &mut *st;
        watchers.retain(|d| devices.contains_key(d));
    }

    /// An administrator's device starts or stops watching the live calls.
    pub fn watch_calls(&self, device: &DeviceId, on: bool) {
        let mut st = self.lock();
        if on {
            st.watchers.insert(device.clone());
        } else {
            st.watchers.remove(device);
        }
    }

    /// The devices watching the live calls that are connected now, with their users.
    pub fn call_watchers(&self) -> Vec<(DeviceId, UserId)> {
        let st = self.lock();
        st.watchers
            .iter()
            .filter_map(|id| st.devices.get(id).filter(|d| d.tx.is_some()).map(|d| (id.clone(), d.user)))
            .collect()
    }

    /// Queues `msg` for `device`; dropped when it is gone or its queue is full. A PSTN leg's
    /// messages become gateway commands.
    pub fn send(&self, device: &DeviceId, msg: ServerMsg) {
        if let Some(call) = device.0.strip_prefix(PSTN_PREFIX) {
            return self.to_gateway(CallId(call.to_string()), msg);
        }
        let st = self.lock();
        if let Some(tx) = st.devices.get(device).and_then(|d| d.tx.as_ref())
            && tx.try_send(msg).is_err()
        {
            tracing::warn!(%device, "device queue full; message dropped");
        }
    }

    /// Tells the user's open apps their balance (after a charge, a top-up, an adjustment).
    /// Best effort: a failure is logged; the change it reports has been made.
    pub async fn push_balance(&self, user: UserId) {
        self.wallets.refresh(user);
        match self.db.funds(user).await {
            Ok(Some(f)) => self.notify_user(
                user,
                &ServerMsg::Balance { balance_micros: f.balance.0, available_micros: f.available().0 },
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(%user, error = %e, "could not push the new balance"),
        }
    }

    /// Queues `msg` for every connected device of `user` (a balance change, for instance).
    pub fn notify_user(&self, user: UserId, msg: &ServerMsg) {
        let st = self.lock();
        for d in st.devices.values().filter(|d| d.user == user) {
            if let Some(tx) = &d.tx
                && tx.try_send(msg.clone()).is_err()
            {
                tracing::warn!(%user, "device queue full; message dropped");
            }
        }
    }

    /// Hands a device's input to its call. False when there is no such live call.
    pub fn route(&self, call: &CallId, input: Input) -> bool {
        self.lock().calls.get(call).is_some_and(|c| c.tx.send(input).is_ok())
    }

    /// Starts a call from `caller` to `callee` (both already checked). The caller's device is
    /// told `Calling` first, then whatever the call says.
    pub fn dial(
        self: &Arc<Self>,
        id: CallId,
        caller: Party,
        caller_peer: Peer,
        callee: Peer,
        request_id: String,
        (offer, sell): (String, Option<Tariff>),
    ) {
        let callee_user = UserId(callee.id);
        let now = Instant::now();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        if let Some(d) = st.devices.get(&caller.device).and_then(|d| d.tx.as_ref()) {
            let _ = d.try_send(ServerMsg::Calling { request_id, call_id: id.0.clone(), callee });
        }
        let callee_devices: Vec<DeviceId> = st
            .devices
            .iter()
            .filter(|(_, d)| d.user == callee_user && d.tx.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        let call = Call::new(id.clone(), caller.clone(), callee_user, callee_devices, offer, self.config.clone(), now);
        if let Some(d) = st.devices.get_mut(&caller.device) {
            d.calls.insert(id.clone());
        }
        let task = tokio::spawn(run_call(
            self.clone(),
            call,
            rx,
            caller,
            caller_peer,
            callee_user,
            CallRecordInit::Webrtc { sell },
        ));
        st.calls.insert(id, LiveCall { tx, callee: callee_user, task });
    }

    /// Starts a call from `caller` to a phone number through the gateway (number and carriers
    /// already chosen: `routes` in `dial`'s order, explained by `route_plan`). The gateway gets
    /// `dial` with the caller's offer; `sell` is the retail rate the call is charged at.
    pub fn dial_number(
        self: &Arc<Self>,
        caller: Party,
        caller_peer: Peer,
        callee: Peer,
        request_id: String,
        offer: String,
        (dial, sell, routes, route_plan): (GwDial, Option<(String, Tariff)>, Vec<RouteInfo>, String),
    ) {
        let id = CallId(dial.call_id.clone());
        let first =
            routes.first().cloned().unwrap_or(RouteInfo { carrier_id: 0, carrier_name: String::new(), buy: None });
        let record = CallRecordInit::PstnOut {
            number: callee.number.clone().unwrap_or_default(),
            carrier_id: first.carrier_id,
            carrier_name: first.carrier_name,
            route_plan,
            sell,
            buy: first.buy,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        if let Some(d) = st.devices.get(&caller.device).and_then(|d| d.tx.as_ref()) {
            let _ = d.try_send(ServerMsg::Calling { request_id, call_id: id.0.clone(), callee });
        }
        st.pstn.insert(
            id.clone(),
            PstnLeg { dial: Some(dial), inbound: None, answer: None, routes, attempt: None, tries: 0 },
        );
        let call = Call::new_to_number(
            id.clone(),
            caller.clone(),
            pstn_device(&id),
            offer,
            self.config.clone(),
            Instant::now(),
        );
        if let Some(d) = st.devices.get_mut(&caller.device) {
            d.calls.insert(id.clone());
        }
        let user = caller.user;
        let task = tokio::spawn(run_call(self.clone(), call, rx, caller, caller_peer, user, record));
        // `callee` is the caller themself here; a new tab of theirs must not "ring".
        st.calls.insert(id, LiveCall { tx, callee: UserId(0), task });
    }

    /// A PSTN call's leg said something to the server: turn it into a gateway command.
    fn to_gateway(&self, call: CallId, msg: ServerMsg) {
        let Some(gw) = &self.gateway else { return };
        let mut st = self.lock();
        let Some(leg) = st.pstn.get_mut(&call) else { return };
        let call_id = call.0.clone();
        let cmd = match msg {
            ServerMsg::Incoming { sdp, .. } => leg.dial.take().map(|mut d| {
                d.offer = sdp;
                GwCommand::Dial(d)
            }),
            ServerMsg::Ringing { .. } if leg.inbound.is_some() => Some(GwCommand::Ringing { call_id }),
            ServerMsg::Answered { sdp, .. } if leg.inbound.is_some() => Some(GwCommand::Answer { call_id, sdp }),
            ServerMsg::Ended { cause, .. } => {
                // An inbound call nobody took is refused with the matching status (busy 486,
                // declined 603, not reachable 480); everything else is a hang-up (CANCEL/BYE).
                let code = EndCause::from_code(&cause).and_then(|c| c.sip_code());
                let inbound = leg.inbound.is_some();
                if let Some(mut a) = st.pstn.remove(&call).and_then(|l| l.attempt) {
                    // Our side ended the call (hang-up, cutoff): the attempt ends here.
                    let elapsed = (Utc::now() - a.started_at).num_milliseconds();
                    a.duration_ms = a.duration_ms.map(|from| elapsed + from);
                    if a.outcome != "answered" {
                        a.outcome = "cancelled".into();
                    }
                    let db = self.db.clone();
                    let id = call.0.clone();
                    tokio::spawn(async move {
                        if let Err(e) = db.record_attempt(&id, &a).await {
                            tracing::warn!(call = %id, error = %e, "recording the routing attempt failed");
                        }
                    });
                }
                Some(match code {
                    Some(code) if inbound && code != 487 => GwCommand::Reject { call_id, code },
                    _ => GwCommand::Hangup { call_id },
                })
            }
            _ => None,
        };
        drop(st);
        if let Some(cmd) = cmd {
            gw.command(cmd);
        }
    }

    /// Something happened on the SIP side of a call.
    pub async fn gateway_event(self: &Arc<Self>, event: GwEvent) {
        let device_of = |call_id: &str| pstn_device(&CallId(call_id.to_string()));
        match event {
            GwEvent::Media { call_id, sdp } => {
                if let Some(leg) = self.lock().pstn.get_mut(&CallId(call_id.clone())) {
                    leg.answer = Some(sdp.clone());
                }
                let device = device_of(&call_id);
                self.route(&CallId(call_id), Input::Progress { device, answer: Some(sdp), ringing: false });
            }
            GwEvent::Progress { call_id, .. } => {
                self.attempt_progress(&call_id, false);
                let device = device_of(&call_id);
                self.route(&CallId(call_id), Input::Progress { device, answer: None, ringing: true });
            }
            GwEvent::Answered { call_id } => {
                self.attempt_progress(&call_id, true);
                let sdp = self.lock().pstn.get(&CallId(call_id.clone())).and_then(|l| l.answer.clone());
                let device = device_of(&call_id);
                self.route(&CallId(call_id), Input::Answer { device, sdp: sdp.unwrap_or_default() });
            }
            GwEvent::Ended { call_id, reason, sip_code } => {
                self.attempt_ended(&call_id, reason, sip_code).await;
                if let Some(code) = sip_code
                    && let Err(e) = self.db.call_set_sip_code(&call_id, code).await
                {
                    tracing::error!(call = %call_id, error = %e, "recording the SIP code failed");
                }
                let device = device_of(&call_id);
                let input = match reason {
                    EndReason::Normal | EndReason::Cancelled => Input::Hangup { device },
                    other => Input::LegFailed { device, cause: cause_of(other) },
                };
                self.route(&CallId(call_id), input);
            }
            GwEvent::AttemptStarted { call_id, route, gateway } => self.attempt_started(&call_id, route, gateway).await,
            GwEvent::AttemptFailed { call_id, failure, sip_code } => {
                let outcome = match failure {
                    AttemptFailure::Final => None,
                    AttemptFailure::NoTrying | AttemptFailure::NoRinging => Some("timeout"),
                    AttemptFailure::TransportError => Some("transport_error"),
                };
                let reason = match sip_code {
                    Some(408 | 480) => EndReason::NoAnswer,
                    _ => EndReason::Failed,
                };
                self.attempt_closed(&call_id, reason, sip_code, outcome).await;
            }
            GwEvent::Incoming { call_id, source, from, to, offer, .. } => {
                self.incoming_pstn(call_id, source, from, to, offer).await;
            }
        }
    }

    /// The carrier rang (post-dial delay) or answered.
    fn attempt_progress(&self, call_id: &str, answered: bool) {
        let mut st = self.lock();
        let Some(a) = st.pstn.get_mut(&CallId(call_id.to_string())).and_then(|l| l.attempt.as_mut()) else { return };
        let elapsed = (Utc::now() - a.started_at).num_milliseconds();
        a.pdd_ms.get_or_insert(elapsed);
        if answered {
            a.outcome = "answered".into();
            // Duration counts from the answer: remember when, as negative elapsed time.
            a.duration_ms = Some(-elapsed);
        }
    }

    /// The gateway sent an INVITE to `routes[route]`: a new attempt. When failover moved the
    /// call to another carrier, its record now names that carrier and its price.
    async fn attempt_started(&self, call_id: &str, route: usize, gateway: String) {
        let info = {
            let mut st = self.lock();
            let Some(leg) = st.pstn.get_mut(&CallId(call_id.to_string())) else { return };
            let Some(info) = leg.routes.get(route).cloned() else { return };
            // Route 0 is the carrier the call was recorded with.
            let moved = route > 0;
            let starts = st.starts.entry(info.carrier_id).or_default();
            starts.push_back(Instant::now());
            if starts.len() > 10_000 {
                starts.pop_front();
            }
            let Some(leg) = st.pstn.get_mut(&CallId(call_id.to_string())) else { return };
            leg.tries += 1;
            leg.attempt = Some(crate::storage::Attempt {
                seq: leg.tries - 1,
                carrier_id: Some(info.carrier_id),
                carrier_name: info.carrier_name.clone(),
                gateway: Some(gateway),
                sip_code: None,
                outcome: "failed".into(),
                started_at: Utc::now(),
                pdd_ms: None,
                duration_ms: None,
            });
            moved.then_some(info)
        };
        if let Some(info) = info
            && let Err(e) = self.db.call_set_carrier(call_id, info.carrier_id, &info.carrier_name, info.buy).await
        {
            tracing::error!(call = %call_id, error = %e, "recording the call's new carrier failed");
        }
    }

    /// The carrier leg ended: its attempt goes with the call's record.
    async fn attempt_ended(&self, call_id: &str, reason: EndReason, sip_code: Option<u16>) {
        self.attempt_closed(call_id, reason, sip_code, None).await;
    }

    /// The current attempt is over (the call's end, or a failover): recorded with the call.
    /// `outcome` overrides the one `reason` gives.
    async fn attempt_closed(&self, call_id: &str, reason: EndReason, sip_code: Option<u16>, outcome: Option<&str>) {
        let attempt = self.lock().pstn.get_mut(&CallId(call_id.to_string())).and_then(|l| l.attempt.take());
        let Some(mut a) = attempt else { return };
        let elapsed = (Utc::now() - a.started_at).num_milliseconds();
        a.sip_code = sip_code;
        a.duration_ms = a.duration_ms.map(|from| elapsed + from);
        if a.outcome != "answered" {
            a.outcome = match reason {
                EndReason::Cancelled | EndReason::Normal => "cancelled",
                EndReason::Busy => "busy",
                EndReason::NoAnswer => "no_answer",
                EndReason::Declined => "declined",
                EndReason::NotFound => "not_found",
                _ => "failed",
            }
            .into();
        }
        if let Some(outcome) = outcome {
            a.outcome = outcome.into();
        }
        if let Err(e) = self.db.record_attempt(call_id, &a).await {
            tracing::warn!(call = %call_id, error = %e, "recording the routing attempt failed");
        }
    }

    /// An INVITE from a carrier: checked (source, DID, owner), then rung like any call.
    async fn incoming_pstn(self: &Arc<Self>, call_id: String, source: String, from: String, to: String, offer: String) {
        let Some(gw) = &self.gateway else { return };
        let reject = |code: u16| gw.command(GwCommand::Reject { call_id: call_id.clone(), code });
        let ip = source.parse::<std::net::SocketAddr>().map(|a| a.ip());
        let carrier = match ip {
            Ok(ip) => self.db.carrier_for_source(ip).await.ok().flatten(),
            Err(_) => None,
        };
        let Some(carrier) = carrier else {
            tracing::info!(%source, "INVITE from an address no carrier lists; refused");
            return reject(403);
        };
        let number =
            crate::number::E164::parse(if to.starts_with('+') { to.clone() } else { format!("+{to}") }.as_str(), None);
        let owner = match number {
            Ok(n) => self.db.did_owner(n.as_str()).await.ok().flatten(),
            Err(_) => None,
        };
        let Some(owner) = owner else { return reject(404) };
        let id = CallId(call_id.clone());
        let device = pstn_device(&id);
        let caller = Party { user: owner, device: device.clone() };
        let shown = if from.is_empty() { "Unknown".to_string() } else { from.clone() };
        let caller_peer = Peer { id: 0, display_name: shown, number: Some(from.clone()) };
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        // The carrier's limit on live calls holds both ways: a trunk that is full is full.
        if let Some(max) = carrier.max_calls {
            let live = st.pstn.values().filter(|l| l.carrier() == Some(carrier.id)).count();
            if live >= max as usize {
                drop(st);
                tracing::info!(carrier = carrier.id, max, "INVITE over the carrier's limit on live calls; refused");
                return reject(503);
            }
        }
        st.pstn.insert(
            id.clone(),
            PstnLeg { dial: None, inbound: Some(carrier.id), answer: None, routes: vec![], attempt: None, tries: 0 },
        );
        let devices: Vec<DeviceId> =
            st.devices.iter().filter(|(_, d)| d.user == owner && d.tx.is_some()).map(|(id, _)| id.clone()).collect();
        let call = Call::new(id.clone(), caller.clone(), owner, devices, offer, self.config.clone(), Instant::now());
        let record = CallRecordInit::PstnIn { from, carrier_id: carrier.id, carrier_name: carrier.name.clone() };
        let task = tokio::spawn(run_call(self.clone(), call, rx, caller, caller_peer, owner, record));
        st.calls.insert(id, LiveCall { tx, callee: owner, task });
    }

    fn link(&self, device: &DeviceId, call: &CallId) {
        if let Some(d) = self.lock().devices.get_mut(device) {
            d.calls.insert(call.clone());
        }
    }

    fn finish(&self, call: &CallId) {
        let mut st = self.lock();
        st.pstn.remove(call);
        for d in st.devices.values_mut() {
            d.calls.remove(call);
        }
        st.calls.remove(call);
    }

    /// Waits for every live call's task (used at shutdown, after sockets closed).
    pub async fn wait_idle(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.lock().calls.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn record(&self, call: &CallId, caller: &Party, callee: UserId, record: Record) {
        let now = Utc::now();
        let id = call.0.as_str();
        let result = match record {
            Record::Ringing { .. } => self.db.call_ringing(id, now).await,
            Record::LegRinging { device } => self.db.leg_ringing(id, callee, &device.0, now).await,
            Record::Answered { device, .. } => {
                self.wallets.answered(caller.user, call);
                self.db.call_answered(id, &device.0, now).await
            }
            Record::LegEnded { device, cause } => self.db.leg_ended(id, &device.0, cause.code(), now).await,
            Record::Ended { cause, by, .. } => self.call_ended(call, caller.user, cause, by).await,
        };
        if let Err(e) = result {
            tracing::error!(call = %call, caller = %caller.user, error = %e, "recording the call failed");
        }
    }
}

impl Hub {
    /// Stores a call's end with what the payer's wallet says about it (the talk time paid, what
    /// it still holds), queues it for billing, then lets the wallet go of it.
    async fn call_ended(
        &self,
        call: &CallId,
        payer: UserId,
        cause: EndCause,
        by: Option<UserId>,
    ) -> crate::storage::Result<()> {
        let settled = self.wallets.settle(payer, call).await;
        let billing = settled
            .map(|s| crate::storage::EndBilling { pending: s.committed, paid_secs: s.paid_secs })
            .unwrap_or_default();
        let stored = self.db.call_ended(&call.0, cause.code(), by, Utc::now(), billing).await;
        // Stored or not (already ended by the sweeper), the wallet re-reads the funds.
        let pending = if matches!(stored, Ok(Some(_))) { billing.pending } else { crate::rating::Money::ZERO };
        self.wallets.end(payer, call, pending);
        if matches!(stored, Ok(Some(_))) {
            self.billing.notify_one();
        }
        stored.map(|_| ())
    }
}

/// Sends `msg` to every connected device except those of `except`.
fn broadcast(st: &State, except: Option<UserId>, msg: ServerMsg) {
    for d in st.devices.values().filter(|d| Some(d.user) != except) {
        if let Some(tx) = &d.tx {
            let _ = tx.try_send(msg.clone());
        }
    }
}

/// One call's task: the machine, its inputs, its timer, its outputs.
async fn run_call(
    hub: Arc<Hub>,
    mut call: Call,
    mut rx: mpsc::UnboundedReceiver<Input>,
    caller: Party,
    caller_peer: Peer,
    callee: UserId,
    init: CallRecordInit,
) {
    let id = call.id().clone();
    let now = Utc::now();
    let created = match init {
        CallRecordInit::Webrtc { sell } => {
            hub.db.create_call(&id.0, caller.user, &caller.device.0, callee, now, sell).await
        }
        CallRecordInit::PstnOut { number, carrier_id, carrier_name, route_plan, sell, buy } => {
            let c = PstnCall {
                kind: "pstn_out",
                user: caller.user,
                device: &caller.device.0,
                number: &number,
                carrier_id,
                carrier_name: &carrier_name,
                sell,
                buy,
                route_plan: Some(&route_plan),
            };
            hub.db.create_pstn_call(&id.0, &c, now).await
        }
        CallRecordInit::PstnIn { from, carrier_id, carrier_name } => {
            let c = PstnCall {
                kind: "pstn_in",
                user: callee,
                device: &caller.device.0,
                number: &from,
                carrier_id,
                carrier_name: &carrier_name,
                sell: None,
                buy: None,
                route_plan: None,
            };
            hub.db.create_pstn_call(&id.0, &c, now).await
        }
    };
    if let Err(e) = created {
        tracing::error!(call = %id, error = %e, "storing the new call failed");
    }
    loop {
        // Records first: whoever is told something can then read it back from the history.
        let mut sends = vec![];
        while let Some(out) = call.poll_output() {
            match out {
                Output::Send { device, event } => sends.push((device, event)),
                Output::Record(r) => hub.record(&id, &caller, callee, r).await,
            }
        }
        for (device, event) in sends {
            hub.link(&device, &id);
            hub.send(&device, convert::event_out(&id.0, &caller_peer, event));
        }
        if call.is_ended() {
            break;
        }
        let deadline = call.poll_timeout();
        tokio::select! {
            input = rx.recv() => match input {
                Some(input) => call.handle_input(Instant::now(), input),
                None => break,
            },
            () = sleep_until(deadline) => call.handle_timeout(Instant::now()),
        }
    }
    if !call.is_ended() {
        // The hub went away (shutdown): close the record rather than leave it open.
        let _ = hub.call_ended(&id, caller.user, EndCause::ConnectionLost, None).await;
    }
    hub.finish(&id);
}

fn cause_of(reason: EndReason) -> EndCause {
    match reason {
        EndReason::Normal | EndReason::Cancelled => EndCause::Normal,
        EndReason::Busy => EndCause::Busy,
        EndReason::Declined => EndCause::Declined,
        EndReason::NoAnswer => EndCause::NoAnswer,
        EndReason::NotFound => EndCause::NumberNotFound,
        EndReason::Failed => EndCause::CarrierFailed,
        EndReason::MediaTimeout => EndCause::MediaTimeout,
        EndReason::MediaFailed => EndCause::MediaFailed,
    }
}

pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
