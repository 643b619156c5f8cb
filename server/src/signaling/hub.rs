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
use protocol::ws::{Peer, ServerMsg};
use tokio::sync::mpsc;

use super::convert;
use crate::{
    call::{Call, CallConfig, CallId, DeviceId, EndCause, Input, Output, Party, Record},
    domain::UserId,
    storage::Db,
};

/// Messages waiting for a slow socket; past this the device is considered stuck and messages drop.
const DEVICE_QUEUE: usize = 256;

pub struct Hub {
    state: Mutex<State>,
    db: Db,
    config: CallConfig,
}

#[derive(Default)]
struct State {
    devices: HashMap<DeviceId, Device>,
    calls: HashMap<CallId, LiveCall>,
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
    pub fn new(db: Db, config: CallConfig) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::default()), db, config })
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
    }

    /// Queues `msg` for `device`; dropped when it is gone or its queue is full.
    pub fn send(&self, device: &DeviceId, msg: ServerMsg) {
        let st = self.lock();
        if let Some(tx) = st.devices.get(device).and_then(|d| d.tx.as_ref())
            && tx.try_send(msg).is_err()
        {
            tracing::warn!(%device, "device queue full; message dropped");
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
        offer: String,
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
        let task = tokio::spawn(run_call(self.clone(), call, rx, caller, caller_peer, callee_user));
        st.calls.insert(id, LiveCall { tx, callee: callee_user, task });
    }

    fn link(&self, device: &DeviceId, call: &CallId) {
        if let Some(d) = self.lock().devices.get_mut(device) {
            d.calls.insert(call.clone());
        }
    }

    fn finish(&self, call: &CallId) {
        let mut st = self.lock();
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
            Record::Answered { device, .. } => self.db.call_answered(id, &device.0, now).await,
            Record::LegEnded { device, cause } => self.db.leg_ended(id, &device.0, cause.code(), now).await,
            Record::Ended { cause, by, .. } => self.db.call_ended(id, cause.code(), by, now).await,
        };
        if let Err(e) = result {
            tracing::error!(call = %call, caller = %caller.user, error = %e, "recording the call failed");
        }
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
) {
    let id = call.id().clone();
    if let Err(e) = hub.db.create_call(&id.0, caller.user, &caller.device.0, callee, Utc::now()).await {
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
        let _ = hub.db.call_ended(&id.0, EndCause::ConnectionLost.code(), None, Utc::now()).await;
    }
    hub.finish(&id);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
