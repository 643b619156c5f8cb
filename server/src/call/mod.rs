//! The Call State Manager's per-call machine: one browser-to-browser call, from dial to hang-up,
//! with no I/O.
//!
//! A [`Call`] is one device of the caller dialling a callee *user*, who may be online on several
//! devices (browser tabs) at once. The call rings all of them (it *forks*), the first to answer
//! wins, and from then on the call relays ICE candidates, renegotiation and hold between the
//! caller's device and the winning one. It does not look at SDP; the browsers do.
//!
//! Like str0m's `Rtc` and quinn-proto's `Connection`, it is sans-IO: it reads no clock, draws no
//! random numbers, and touches no socket or database. Time comes in as `now`; everything the call
//! wants done comes out as an [`Output`], either a message for a device ([`Output::Send`]) or a
//! fact for the shell to persist ([`Output::Record`]). That makes every behaviour a deterministic
//! simulation away from a test (`tests.rs`).
//!
//! The API, by kind (after quinn-proto):
//! - getters: [`Call::id`], [`Call::devices`], [`Call::is_ended`], [`Call::answered_at`];
//! - handlers for what devices did or the shell saw: [`Call::handle_input`],
//!   [`Call::handle_timeout`];
//! - pollers for what the shell must do: [`Call::poll_output`], [`Call::poll_timeout`].
//!
//! # The drain rule
//!
//! **Every mutation of a `Call` ([`Call::new`], [`Call::handle_input`], [`Call::handle_timeout`])
//! must be followed by a complete drain of [`Call::poll_output`], until it returns `None`, before
//! the next mutation.** Outputs are in causal order (a device is told it won before it is sent the
//! caller's candidates), so handle them in order. The shell's loop is:
//!
//! 1. wait for a device message, a presence change, or the deadline from [`Call::poll_timeout`];
//! 2. feed it in with `handle_input(now, ..)`, or `handle_timeout(now)` for the deadline;
//! 3. call `poll_output` until `None`, delivering each `Send` and persisting each `Record`;
//! 4. if [`Call::is_ended`], forget the call; otherwise read `poll_timeout` again and go to 1.
//!
//! A call never fails. An input that makes no sense in the current state (a late answer, ICE
//! from a device that lost the race, anything after the end) is ignored: in a system of browsers
//! on flaky networks such messages are normal, not bugs. How a call ended is an [`EndCause`],
//! recorded exactly once, as the last output.

mod cause;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use std::{fmt, mem};

pub use cause::EndCause;
use timer::{Timer, TimerTable};

use crate::domain::UserId;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub String);

/// One connected browser tab (one signalling WebSocket). A user may have several.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub String);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub user: UserId,
    pub device: DeviceId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// How long the callee's devices ring before the call ends with `NoAnswer`. 45 s by default:
    /// someone who has not picked up by then is not going to, and PSTN switches and phones give up
    /// somewhere between 30 and 60 s. (SIP's Timer C, RFC 3261 §16.6 step 11, is a proxy's safety
    /// net of more than 3 minutes, far too long for a person waiting with a phone to their ear.)
    pub ring_timeout: Duration,
    /// How long a device may be gone (its WebSocket dropped) before the call ends with
    /// `ConnectionLost`. 20 s by default: long enough for a tab to reconnect after a Wi-Fi to
    /// cellular hand-over or a brief outage and restart ICE (RFC 8445 §2.4), and shorter than the
    /// 30 s after which the browsers give up on the media path themselves (RFC 7675 §5.1), so a
    /// device that comes back usually still has a call to come back to.
    pub reconnect_grace: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig { ring_timeout: Duration::from_secs(45), reconnect_grace: Duration::from_secs(20) }
    }
}

/// What a device did, or what the shell saw happen to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A callee device picked up, with its SDP answer to the caller's offer.
    Answer {
        device: DeviceId,
        sdp: String,
    },
    Reject {
        device: DeviceId,
        reason: RejectReason,
    },
    Hangup {
        device: DeviceId,
    },
    /// A trickled ICE candidate (RFC 8838), for the peer.
    Ice {
        device: DeviceId,
        candidate: IceCandidate,
    },
    /// In-call renegotiation (an ICE restart, say), for the peer.
    Sdp {
        device: DeviceId,
        description: SessionDescription,
    },
    Hold {
        device: DeviceId,
        on: bool,
    },
    /// The device's WebSocket went away.
    DeviceLost {
        device: DeviceId,
    },
    /// The same device reconnected. The shell may then re-send it the call's state.
    DeviceBack {
        device: DeviceId,
    },
    /// A device of the callee came online (or came back) while the call may be ringing.
    CalleeDeviceJoined {
        device: DeviceId,
    },
    /// A ringing PSTN leg made progress: `answer` is the gateway's SDP answer to the caller's
    /// offer (sent before the carrier answers, so early media and ringback can flow), `ringing`
    /// that the carrier sent 180/183.
    Progress {
        device: DeviceId,
        answer: Option<String>,
        ringing: bool,
    },
    /// The platform ends the call (its money ran out; an administrator ended it, `by`).
    Terminate {
        cause: EndCause,
        by: Option<UserId>,
    },
    /// A leg ended on its own with this cause (a carrier's 486, a media timeout...). Ends the
    /// call when it is the only ringing leg, or the answered one.
    LegFailed {
        device: DeviceId,
        cause: EndCause,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Declined,
    Busy,
}

/// As the browser's `RTCIceCandidateInit`; relayed verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCandidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_mline_index: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub kind: SdpKind,
    pub sdp: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpKind {
    Offer,
    Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Tell a device something. If the device is offline, the shell drops the message.
    Send { device: DeviceId, event: Event },
    /// Persist a fact about the call.
    Record(Record),
}

/// What a device is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// To the caller: at least one callee device is ringing.
    Ringing,
    /// To the caller of a PSTN call: the gateway's answer, before the carrier answered.
    EarlyMedia {
        answer: String,
    },
    /// To each callee device: someone is calling.
    Incoming {
        from: UserId,
        offer: String,
    },
    /// To the caller: the callee picked up.
    Answered {
        answer: String,
    },
    /// To the callee device that answered first: the call is yours.
    Connected,
    Ice(IceCandidate),
    Sdp(SessionDescription),
    /// The peer put the call on hold, or took it off.
    Hold {
        on: bool,
    },
    /// The peer's device went away; the call waits `reconnect_grace` for it.
    PeerReconnecting,
    PeerReconnected,
    Ended {
        cause: EndCause,
    },
}

/// What the shell persists (the call's record and its legs, one per callee device rung).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The first callee device started ringing.
    Ringing {
        at: Instant,
    },
    LegRinging {
        device: DeviceId,
    },
    Answered {
        device: DeviceId,
        at: Instant,
    },
    /// Every `LegRinging` is closed by exactly one `LegEnded`, before `Ended`.
    LegEnded {
        device: DeviceId,
        cause: EndCause,
    },
    /// Exactly once per call, as its last output. `by` is the user whose action ended the call
    /// (hang-up, decline), `None` when a timer or the network did.
    Ended {
        cause: EndCause,
        by: Option<UserId>,
        at: Instant,
    },
}

/// Which end of the call a device is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Caller,
    Callee,
}

/// Why the cap: a browser gathers a few candidates per network interface, so a well-behaved
/// caller sends a dozen or so before the callee answers. The cap stops a misbehaving one from
/// growing the call without bound while nobody answers; the candidates it drops are the least
/// likely to be needed, and ICE restart recovers if they were.
const MAX_BUFFERED_ICE: usize = 64;

/// ```text
///          no callee device online
///   new ───────────────────────────────────────────────────┐
///    │ Incoming to every callee device                     │
///    ▼                                                     ▼
/// Ringing ─── first Answer ───► Answered ─── Hangup ────► Ended
///  │   ▲                         │   ▲       grace over    ▲
///  │   └ device joins / one      │   └ DeviceLost,         │
///  │     device lost (leg ends)  │     DeviceBack (grace)  │
///  │                                                       │
///  └─ Hangup, Reject, ring timeout, last device lost, ─────┘
///     caller's grace over
/// ```
#[derive(Debug)]
enum State {
    Ringing {
        offer: String,
        /// Callee devices still ringing, in the order they started.
        legs: Vec<DeviceId>,
        /// The caller's candidates, held until a callee device answers: until then no device has
        /// a peer connection to add them to.
        buffered_ice: Vec<IceCandidate>,
    },
    Answered {
        winner: DeviceId,
        answered_at: Instant,
    },
    Ended,
}

#[derive(Debug)]
pub struct Call {
    id: CallId,
    caller: Party,
    callee: UserId,
    config: CallConfig,
    state: State,
    timers: TimerTable,
    outputs: VecDeque<Output>,
    /// A PSTN callee rings when the carrier says so ([`Input::Progress`]), not when the call
    /// starts; `ringing_sent` tracks whether the caller was told.
    await_progress: bool,
    ringing_sent: bool,
    early_answer_sent: bool,
}

impl Call {
    /// Starts a call: the caller's device dials the callee user, whose currently connected devices
    /// are `callee_devices`. Drain [`Call::poll_output`] next.
    pub fn new(
        id: CallId,
        caller: Party,
        callee: UserId,
        callee_devices: Vec<DeviceId>,
        offer: String,
        config: CallConfig,
        now: Instant,
    ) -> Call {
        Call::start(id, caller, callee, callee_devices, offer, config, now, false)
    }

    /// Starts a call from a browser to a phone number: `leg` stands for the gateway's leg, which
    /// is sent the `Incoming` (and so the offer) and later reports `Progress`, `Answer`,
    /// `Hangup` or `LegFailed` like a device would. `callee` is the user the call is billed
    /// against on that side: the caller themself.
    pub fn new_to_number(
        id: CallId,
        caller: Party,
        leg: DeviceId,
        offer: String,
        config: CallConfig,
        now: Instant,
    ) -> Call {
        let callee = caller.user;
        Call::start(id, caller, callee, vec![leg], offer, config, now, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        id: CallId,
        caller: Party,
        callee: UserId,
        callee_devices: Vec<DeviceId>,
        offer: String,
        config: CallConfig,
        now: Instant,
        await_progress: bool,
    ) -> Call {
        let state = State::Ringing { offer, legs: Vec::new(), buffered_ice: Vec::new() };
        let mut call = Call {
            id,
            caller,
            callee,
            config,
            state,
            timers: TimerTable::default(),
            outputs: VecDeque::new(),
            await_progress,
            ringing_sent: false,
            early_answer_sent: false,
        };
        let rung: Vec<DeviceId> = callee_devices.into_iter().filter_map(|device| call.ring(device)).collect();
        if rung.is_empty() {
            call.end(now, EndCause::Unavailable, None, None);
            return call;
        }
        // `Ringing` goes to the caller after the `Incoming`s, so that it is true when it arrives.
        if !await_progress {
            call.send(call.caller.device.clone(), Event::Ringing);
            call.record(Record::Ringing { at: now });
            call.ringing_sent = true;
        }
        for device in rung {
            call.record(Record::LegRinging { device });
        }
        call.timers.set(Timer::Ring, now + call.config.ring_timeout);
        call
    }

    pub fn id(&self) -> &CallId {
        &self.id
    }

    /// The devices in the call now: the caller's, and the callee's ringing ones or the one that
    /// answered. Empty once ended. The shell routes device messages to calls with this.
    pub fn devices(&self) -> Vec<DeviceId> {
        let callee = match &self.state {
            State::Ringing { legs, .. } => legs.clone(),
            State::Answered { winner, .. } => vec![winner.clone()],
            State::Ended => return Vec::new(),
        };
        std::iter::once(self.caller.device.clone()).chain(callee).collect()
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended)
    }

    pub fn answered_at(&self) -> Option<Instant> {
        match self.state {
            State::Answered { answered_at, .. } => Some(answered_at),
            _ => None,
        }
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Answer { device, sdp } => self.on_answer(now, device, sdp),
            Input::Reject { device, reason } => {
                let cause = match reason {
                    RejectReason::Declined => EndCause::Declined,
                    RejectReason::Busy => EndCause::Busy,
                };
                if self.is_ringing_leg(&device) {
                    self.end(now, cause, Some(self.callee), Some(&device));
                }
            }
            Input::Hangup { device } => self.on_hangup(now, device),
            Input::Ice { device, candidate } => self.on_ice(device, candidate),
            Input::Sdp { device, description } => self.relay(&device, Event::Sdp(description)),
            Input::Hold { device, on } => self.relay(&device, Event::Hold { on }),
            Input::DeviceLost { device } => self.on_device_lost(now, device),
            Input::DeviceBack { device } => self.on_device_back(device),
            Input::CalleeDeviceJoined { device } => {
                if self.await_progress {
                    return; // a number's leg is the only one
                }
                if let Some(device) = self.ring(device) {
                    self.record(Record::LegRinging { device });
                }
            }
            Input::Progress { device, answer, ringing } => self.on_progress(now, device, answer, ringing),
            Input::Terminate { cause, by } => self.end(now, cause, by, None),
            Input::LegFailed { device, cause } => {
                let in_call = self.is_ringing_leg(&device)
                    || matches!(&self.state, State::Answered { winner, .. } if *winner == device);
                if in_call || device == self.caller.device {
                    self.end(now, cause, None, Some(&device));
                }
            }
        }
    }

    fn on_progress(&mut self, now: Instant, device: DeviceId, answer: Option<String>, ringing: bool) {
        if !self.is_ringing_leg(&device) {
            return;
        }
        if let Some(answer) = answer
            && !self.early_answer_sent
        {
            self.early_answer_sent = true;
            self.send(self.caller.device.clone(), Event::EarlyMedia { answer });
        }
        if ringing && !self.ringing_sent {
            self.ringing_sent = true;
            self.send(self.caller.device.clone(), Event::Ringing);
            self.record(Record::Ringing { at: now });
        }
    }

    /// Fires every timer whose deadline is at or before `now`, earliest first.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.next_expired(now) {
            self.timers.stop(timer);
            let cause = match timer {
                Timer::Ring => EndCause::NoAnswer,
                Timer::Grace(_) => EndCause::ConnectionLost,
            };
            self.end(now, cause, None, None);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to call [`Call::handle_timeout`] next; `None` once ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout()
    }

    /// Forks the call to one more callee device, if it is ringing and the device is new to it.
    fn ring(&mut self, device: DeviceId) -> Option<DeviceId> {
        let State::Ringing { offer, legs, .. } = &mut self.state else { return None };
        // Defensive, the shell should not ask for either: the calling tab never rings itself, and
        // a device listed twice rings once.
        if device == self.caller.device || legs.contains(&device) {
            return None;
        }
        legs.push(device.clone());
        let event = Event::Incoming { from: self.caller.user, offer: offer.clone() };
        self.send(device.clone(), event);
        Some(device)
    }

    fn on_answer(&mut self, now: Instant, device: DeviceId, answer: String) {
        if !self.is_ringing_leg(&device) {
            return;
        }
        let answered = State::Answered { winner: device.clone(), answered_at: now };
        let State::Ringing { legs, buffered_ice, .. } = mem::replace(&mut self.state, answered) else {
            unreachable!("checked above: ringing")
        };
        self.timers.stop(Timer::Ring);
        self.send(self.caller.device.clone(), Event::Answered { answer });
        self.send(device.clone(), Event::Connected);
        for candidate in buffered_ice {
            self.send(device.clone(), Event::Ice(candidate));
        }
        if self.timers.is_set(Timer::Grace(Side::Caller)) {
            self.send(device.clone(), Event::PeerReconnecting);
        }
        self.record(Record::Answered { device: device.clone(), at: now });
        for loser in legs.into_iter().filter(|leg| *leg != device) {
            self.send(loser.clone(), Event::Ended { cause: EndCause::AnsweredElsewhere });
            self.record(Record::LegEnded { device: loser, cause: EndCause::AnsweredElsewhere });
        }
    }

    fn on_hangup(&mut self, now: Instant, device: DeviceId) {
        let (cause, by) = match self.side_of(&device) {
            None => return,
            Some(Side::Caller) if self.answered_at().is_none() => (EndCause::Cancelled, self.caller.user),
            // Hanging up a ringing device is saying no.
            Some(Side::Callee) if self.answered_at().is_none() => (EndCause::Declined, self.callee),
            Some(Side::Caller) => (EndCause::Normal, self.caller.user),
            Some(Side::Callee) => (EndCause::Normal, self.callee),
        };
        self.end(now, cause, Some(by), Some(&device));
    }

    fn on_ice(&mut self, device: DeviceId, candidate: IceCandidate) {
        match &mut self.state {
            State::Ringing { buffered_ice, .. } if device == self.caller.device => {
                if buffered_ice.len() < MAX_BUFFERED_ICE {
                    buffered_ice.push(candidate);
                }
            }
            // A ringing callee device has no peer connection yet, so it has no candidates worth
            // anything; whatever it sends is dropped.
            State::Ringing { .. } | State::Ended => {}
            State::Answered { .. } => self.relay(&device, Event::Ice(candidate)),
        }
    }

    /// Passes an in-call event to the other side. Only the caller's device and the winner talk.
    fn relay(&mut self, from: &DeviceId, event: Event) {
        if self.answered_at().is_none() {
            return;
        }
        if let Some(side) = self.side_of(from) {
            let to = self.device_of(side.other());
            self.send(to, event);
        }
    }

    fn on_device_lost(&mut self, now: Instant, device: DeviceId) {
        if let State::Ringing { legs, .. } = &mut self.state
            && let Some(i) = legs.iter().position(|leg| *leg == device)
        {
            // One device of several going away is not the callee going away; the others ring on.
            legs.remove(i);
            let none_left = legs.is_empty();
            self.record(Record::LegEnded { device, cause: EndCause::Unavailable });
            if none_left {
                self.end(now, EndCause::Unavailable, None, None);
            }
            return;
        }
        let Some(side) = self.side_of(&device) else { return };
        // A second `DeviceLost` without a `DeviceBack` in between keeps the first deadline:
        // the grace is counted from when the device went, not from when we last heard so.
        if self.timers.is_set(Timer::Grace(side)) {
            return;
        }
        self.timers.set(Timer::Grace(side), now + self.config.reconnect_grace);
        if self.answered_at().is_some() {
            self.send(self.device_of(side.other()), Event::PeerReconnecting);
        }
    }

    fn on_device_back(&mut self, device: DeviceId) {
        let Some(side) = self.side_of(&device) else { return };
        if !self.timers.is_set(Timer::Grace(side)) {
            return;
        }
        self.timers.stop(Timer::Grace(side));
        if self.answered_at().is_some() {
            self.send(self.device_of(side.other()), Event::PeerReconnected);
        }
    }

    /// Ends the call: every device in it that did not cause the end is told, every open leg is
    /// closed, and `Record::Ended` goes last.
    fn end(&mut self, now: Instant, cause: EndCause, by: Option<UserId>, initiator: Option<&DeviceId>) {
        let legs = match mem::replace(&mut self.state, State::Ended) {
            State::Ringing { legs, .. } => legs,
            State::Answered { winner, .. } => vec![winner],
            State::Ended => return,
        };
        self.timers.stop_all();
        for device in std::iter::once(self.caller.device.clone()).chain(legs.iter().cloned()) {
            if Some(&device) != initiator {
                self.send(device, Event::Ended { cause });
            }
        }
        for device in legs {
            self.record(Record::LegEnded { device, cause });
        }
        self.record(Record::Ended { cause, by, at: now });
    }

    fn is_ringing_leg(&self, device: &DeviceId) -> bool {
        matches!(&self.state, State::Ringing { legs, .. } if legs.contains(device))
    }

    /// Which side a device is on, if it is in the call.
    fn side_of(&self, device: &DeviceId) -> Option<Side> {
        if self.is_ended() {
            None
        } else if *device == self.caller.device {
            Some(Side::Caller)
        } else if self.is_ringing_leg(device)
            || matches!(&self.state, State::Answered { winner, .. } if winner == device)
        {
            Some(Side::Callee)
        } else {
            None
        }
    }

    /// The device on `side` of an answered call.
    fn device_of(&self, side: Side) -> DeviceId {
        match (&self.state, side) {
            (_, Side::Caller) => self.caller.device.clone(),
            (State::Answered { winner, .. }, Side::Callee) => winner.clone(),
            (_, Side::Callee) => unreachable!("only an answered call has one callee device"),
        }
    }

    fn send(&mut self, device: DeviceId, event: Event) {
        self.outputs.push_back(Output::Send { device, event });
    }

    fn record(&mut self, record: Record) {
        self.outputs.push_back(Output::Record(record));
    }
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }
}
