//! The per-call bridge: what one call does when something happens on its SIP side, its browser
//! side or from the server, with no I/O.
//!
//! Like the server's `call::Call`, it is sans-IO: facts come in through [`Bridge::handle`], and
//! what the shell must do comes out of [`Bridge::poll_output`] in causal order. It never reads a
//! clock (timers live in the relay and in rsipstack's transactions) and never fails: an input that
//! makes no sense in the current state (a late 180, a second BYE) is ignored.
//!
//! ```text
//! outbound:  Calling ── 18x ──► Early ── 200 ──► Answered ── BYE ──► Ended
//!               │  └───────────── 200 ─────────────┘                   ▲
//!               └── Hangup: CANCEL ─► Cancelling ── 487/any final ──────┤
//!               └── final 3xx-6xx / no response ────────────────────────┘
//! inbound:   Offered ── Ringing ──► Ringing ── Answer ──► Answered ── BYE ──► Ended
//!               └──────────── Reject / CANCEL / Hangup ──────────────────────┘
//! ```

use std::collections::VecDeque;

use protocol::gateway::EndReason;

use crate::sdp::{Direction, RemoteMedia};

/// Where the call came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A browser dialled a number; we sent the INVITE.
    Outbound,
    /// A carrier sent us an INVITE for a DID.
    Inbound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    // From the server.
    Hangup,
    Ringing,
    Answer,
    Reject(u16),
    // From the SIP side.
    /// 180/183 to our INVITE, with the carrier's SDP when it sent one.
    Provisional {
        code: u16,
        media: Option<RemoteMedia>,
    },
    /// 200 OK to our INVITE (ACKed by the stack).
    Accepted {
        media: Option<RemoteMedia>,
    },
    /// A final 3xx-6xx to our INVITE, or `None` when none came (timeout, unreachable carrier).
    Failed {
        code: Option<u16>,
    },
    RemoteBye,
    RemoteCancel,
    /// A re-INVITE from the carrier (hold, unhold, new media address).
    ReInvite {
        media: Option<RemoteMedia>,
    },
    // From the media side.
    MediaTimeout,
    MediaFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Sip(SipAction),
    Media(MediaAction),
    /// Tell the server.
    Event(Notice),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipAction {
    Cancel,
    Bye,
    /// Inbound: 180 Ringing.
    Ringing,
    /// Inbound: 200 OK with our SDP.
    Accept,
    Reject(u16),
    /// Answer a re-INVITE: 200 with our SDP mirroring their direction, or 488 when it had an
    /// SDP we cannot use.
    ReInviteOk(Direction),
    ReInviteRefuse(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaAction {
    /// Send to and accept from this carrier media (from an 18x, 200 or re-INVITE).
    Carrier(RemoteMedia),
    Ringback(bool),
    /// The call is answered: the inactivity timer starts.
    Answered,
}

/// What the server is told (the shell adds the call id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Progress { code: u16, early_media: bool },
    Answered,
    Ended { reason: EndReason, sip_code: Option<u16> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Outbound INVITE sent, nothing but 100 back yet; or inbound INVITE offered to the server.
    Setup,
    /// Outbound: 18x seen. Inbound: the user's devices ring.
    Early {
        early_media: bool,
    },
    Cancelling,
    Answered,
    Ended,
}

#[derive(Debug)]
pub struct Bridge {
    origin: Origin,
    state: State,
    outputs: VecDeque<Output>,
}

impl Bridge {
    pub fn new(origin: Origin) -> Bridge {
        Bridge { origin, state: State::Setup, outputs: VecDeque::new() }
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Outbound: the caller hung up before the answer; the CANCEL is on its way.
    pub fn is_hanging_up(&self) -> bool {
        self.state == State::Cancelling
    }

    pub fn is_answered(&self) -> bool {
        self.state == State::Answered
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn handle(&mut self, input: Input) {
        use State::*;
        match (self.origin, self.state, input) {
            (_, Ended, _) => {}

            // Outbound, SIP side.
            (Origin::Outbound, Setup | Early { .. }, Input::Provisional { code, media }) => {
                let was_early_media = matches!(self.state, Early { early_media: true });
                let early_media = was_early_media || media.is_some();
                if let Some(media) = media {
                    self.media(MediaAction::Carrier(media));
                }
                if early_media {
                    self.media(MediaAction::Ringback(false));
                } else if self.state == Setup {
                    // 180 without SDP: nothing will come from the carrier until answer, so the
                    // caller hears our ringback instead of silence.
                    self.media(MediaAction::Ringback(true));
                }
                self.state = Early { early_media };
                self.notify(Notice::Progress { code, early_media });
            }
            (Origin::Outbound, Setup | Early { .. } | Cancelling, Input::Accepted { media }) => {
                if self.state == Cancelling {
                    // 200 crossed our CANCEL; the stack ACKs and BYEs it.
                    return self.end(EndReason::Cancelled, Some(487));
                }
                self.media(MediaAction::Ringback(false));
                if let Some(media) = media {
                    self.media(MediaAction::Carrier(media));
                }
                self.media(MediaAction::Answered);
                self.state = Answered;
                self.notify(Notice::Answered);
            }
            (Origin::Outbound, Cancelling, Input::Failed { code }) => self.end(EndReason::Cancelled, code),
            (Origin::Outbound, Setup | Early { .. }, Input::Failed { code }) => self.end(reason_for_final(code), code),
            (Origin::Outbound, Setup | Early { .. }, Input::Hangup) => {
                self.sip(SipAction::Cancel);
                self.media(MediaAction::Ringback(false));
                self.state = Cancelling;
            }

            // Inbound, SIP and server sides.
            (Origin::Inbound, Setup, Input::Ringing) => {
                self.sip(SipAction::Ringing);
                self.state = Early { early_media: false };
            }
            (Origin::Inbound, Setup | Early { .. }, Input::Answer) => {
                self.sip(SipAction::Accept);
                self.media(MediaAction::Answered);
                self.state = Answered;
                self.notify(Notice::Answered);
            }
            (Origin::Inbound, Setup | Early { .. }, Input::Reject(code)) => {
                self.sip(SipAction::Reject(code));
                self.end(reason_for_final(Some(code)), Some(code));
            }
            (Origin::Inbound, Setup | Early { .. }, Input::Hangup) => {
                self.sip(SipAction::Reject(487));
                self.end(EndReason::Cancelled, Some(487));
            }
            (Origin::Inbound, Setup | Early { .. }, Input::RemoteCancel) => self.end(EndReason::Cancelled, Some(487)),

            // Both, once answered.
            (_, Answered, Input::Hangup) => {
                self.sip(SipAction::Bye);
                self.end(EndReason::Normal, Some(200));
            }
            (_, Answered, Input::RemoteBye) => self.end(EndReason::Normal, Some(200)),
            (_, Answered, Input::ReInvite { media }) => match media {
                Some(media) => {
                    let direction = media.direction;
                    self.media(MediaAction::Carrier(media));
                    self.sip(SipAction::ReInviteOk(direction));
                }
                // An offerless re-INVITE (a session refresh): keep the media, offer it again.
                None => self.sip(SipAction::ReInviteOk(Direction::SendRecv)),
            },
            (_, Answered, Input::MediaTimeout) => {
                self.sip(SipAction::Bye);
                self.end(EndReason::MediaTimeout, Some(200));
            }
            (_, Answered, Input::MediaFailed) => {
                self.sip(SipAction::Bye);
                self.end(EndReason::MediaFailed, Some(200));
            }
            // The browser's media failed before answer: give up the call like a hang-up would.
            (Origin::Outbound, Setup | Early { .. }, Input::MediaFailed) => {
                self.sip(SipAction::Cancel);
                self.state = Cancelling;
            }
            (Origin::Inbound, Setup | Early { .. }, Input::MediaFailed) => {
                self.sip(SipAction::Reject(500));
                self.end(EndReason::MediaFailed, Some(500));
            }
            // A BYE before answer (allowed on an early dialog by some carriers) ends it too.
            (_, Setup | Early { .. } | Cancelling, Input::RemoteBye) => self.end(EndReason::Normal, None),
            (_, _, Input::ReInvite { .. }) => self.sip(SipAction::ReInviteRefuse(491)),
            _ => {}
        }
    }

    fn end(&mut self, reason: EndReason, sip_code: Option<u16>) {
        self.media(MediaAction::Ringback(false));
        self.state = State::Ended;
        self.notify(Notice::Ended { reason, sip_code });
    }

    fn sip(&mut self, action: SipAction) {
        self.outputs.push_back(Output::Sip(action));
    }

    fn media(&mut self, action: MediaAction) {
        self.outputs.push_back(Output::Media(action));
    }

    fn notify(&mut self, notice: Notice) {
        self.outputs.push_back(Output::Event(notice));
    }
}

/// How a final non-2xx response (or none) reads to a person.
pub fn reason_for_final(code: Option<u16>) -> EndReason {
    match code {
        Some(486 | 600) => EndReason::Busy,
        Some(603) => EndReason::Declined,
        Some(480 | 408) => EndReason::NoAnswer,
        Some(404 | 484 | 604) => EndReason::NotFound,
        Some(487) => EndReason::Cancelled,
        _ => EndReason::Failed,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use expect_test::{Expect, expect};

    use super::*;
    use crate::sdp::Codec;

    fn media(dir: Direction) -> RemoteMedia {
        RemoteMedia {
            addr: "127.0.0.1:6000".parse().unwrap(),
            codecs: vec![(0, Codec::Pcmu)],
            te_pt: Some(101),
            direction: dir,
            ptime: None,
        }
    }

    /// Runs `inputs` through a fresh bridge and prints every output, one line each, so a
    /// scenario and its outcome read together.
    fn check(origin: Origin, inputs: Vec<Input>, expect: Expect) {
        let mut bridge = Bridge::new(origin);
        let mut out = String::new();
        for input in inputs {
            writeln!(out, "{}", short(&format!("{input:?}"))).unwrap();
            bridge.handle(input);
            while let Some(o) = bridge.poll_output() {
                let line = match o {
                    Output::Sip(a) => format!("  sip   {a:?}"),
                    Output::Media(MediaAction::Carrier(m)) => format!("  media Carrier({} {:?})", m.addr, m.direction),
                    Output::Media(a) => format!("  media {a:?}"),
                    Output::Event(n) => format!("  tell  {n:?}"),
                };
                writeln!(out, "{line}").unwrap();
            }
        }
        writeln!(out, "ended={}", bridge.is_ended()).unwrap();
        expect.assert_eq(&out);
    }

    fn short(s: &str) -> String {
        s.split(" { addr").next().unwrap_or(s).to_string()
    }

    #[test]
    fn outbound_ringback_then_answer_then_local_hangup() {
        check(
            Origin::Outbound,
            vec![
                Input::Provisional { code: 180, media: None },
                Input::Accepted { media: Some(media(Direction::SendRecv)) },
                Input::Hangup,
                Input::RemoteBye,
            ],
            expect![[r#"
                Provisional { code: 180, media: None }
                  media Ringback(true)
                  tell  Progress { code: 180, early_media: false }
                Accepted { media: Some(RemoteMedia
                  media Ringback(false)
                  media Carrier(127.0.0.1:6000 SendRecv)
                  media Answered
                  tell  Answered
                Hangup
                  sip   Bye
                  media Ringback(false)
                  tell  Ended { reason: Normal, sip_code: Some(200) }
                RemoteBye
                ended=true
            "#]],
        );
    }

    #[test]
    fn outbound_early_media_stops_ringback() {
        check(
            Origin::Outbound,
            vec![
                Input::Provisional { code: 180, media: None },
                Input::Provisional { code: 183, media: Some(media(Direction::SendRecv)) },
                Input::Provisional { code: 180, media: None },
                Input::Accepted { media: None },
                Input::RemoteBye,
            ],
            expect![[r#"
                Provisional { code: 180, media: None }
                  media Ringback(true)
                  tell  Progress { code: 180, early_media: false }
                Provisional { code: 183, media: Some(RemoteMedia
                  media Carrier(127.0.0.1:6000 SendRecv)
                  media Ringback(false)
                  tell  Progress { code: 183, early_media: true }
                Provisional { code: 180, media: None }
                  media Ringback(false)
                  tell  Progress { code: 180, early_media: true }
                Accepted { media: None }
                  media Ringback(false)
                  media Answered
                  tell  Answered
                RemoteBye
                  media Ringback(false)
                  tell  Ended { reason: Normal, sip_code: Some(200) }
                ended=true
            "#]],
        );
    }

    #[test]
    fn outbound_failures_map_to_reasons() {
        let mut out = String::new();
        for code in [Some(486), Some(600), Some(603), Some(480), Some(408), Some(404), Some(484), Some(503), None] {
            let mut b = Bridge::new(Origin::Outbound);
            b.handle(Input::Failed { code });
            let last = std::iter::from_fn(|| b.poll_output()).last();
            writeln!(out, "{code:?} -> {last:?}").unwrap();
        }
        expect![[r#"
            Some(486) -> Some(Event(Ended { reason: Busy, sip_code: Some(486) }))
            Some(600) -> Some(Event(Ended { reason: Busy, sip_code: Some(600) }))
            Some(603) -> Some(Event(Ended { reason: Declined, sip_code: Some(603) }))
            Some(480) -> Some(Event(Ended { reason: NoAnswer, sip_code: Some(480) }))
            Some(408) -> Some(Event(Ended { reason: NoAnswer, sip_code: Some(408) }))
            Some(404) -> Some(Event(Ended { reason: NotFound, sip_code: Some(404) }))
            Some(484) -> Some(Event(Ended { reason: NotFound, sip_code: Some(484) }))
            Some(503) -> Some(Event(Ended { reason: Failed, sip_code: Some(503) }))
            None -> Some(Event(Ended { reason: Failed, sip_code: None }))
        "#]]
        .assert_eq(&out);
    }

    #[test]
    fn outbound_cancel_before_answer_and_the_200_race() {
        check(
            Origin::Outbound,
            vec![Input::Provisional { code: 180, media: None }, Input::Hangup, Input::Failed { code: Some(487) }],
            expect![[r#"
                Provisional { code: 180, media: None }
                  media Ringback(true)
                  tell  Progress { code: 180, early_media: false }
                Hangup
                  sip   Cancel
                  media Ringback(false)
                Failed { code: Some(487) }
                  media Ringback(false)
                  tell  Ended { reason: Cancelled, sip_code: Some(487) }
                ended=true
            "#]],
        );
        check(
            Origin::Outbound,
            vec![Input::Hangup, Input::Accepted { media: None }, Input::RemoteBye],
            expect![[r#"
                Hangup
                  sip   Cancel
                  media Ringback(false)
                Accepted { media: None }
                  media Ringback(false)
                  tell  Ended { reason: Cancelled, sip_code: Some(487) }
                RemoteBye
                ended=true
            "#]],
        );
    }

    #[test]
    fn reinvite_hold_and_media_timeout() {
        check(
            Origin::Outbound,
            vec![
                Input::ReInvite { media: Some(media(Direction::SendOnly)) },
                Input::Accepted { media: Some(media(Direction::SendRecv)) },
                Input::ReInvite { media: Some(media(Direction::SendOnly)) },
                Input::ReInvite { media: None },
                Input::MediaTimeout,
            ],
            expect![[r#"
                ReInvite { media: Some(RemoteMedia
                  sip   ReInviteRefuse(491)
                Accepted { media: Some(RemoteMedia
                  media Ringback(false)
                  media Carrier(127.0.0.1:6000 SendRecv)
                  media Answered
                  tell  Answered
                ReInvite { media: Some(RemoteMedia
                  media Carrier(127.0.0.1:6000 SendOnly)
                  sip   ReInviteOk(SendOnly)
                ReInvite { media: None }
                  sip   ReInviteOk(SendRecv)
                MediaTimeout
                  sip   Bye
                  media Ringback(false)
                  tell  Ended { reason: MediaTimeout, sip_code: Some(200) }
                ended=true
            "#]],
        );
    }

    #[test]
    fn inbound_ring_answer_bye_and_refusals() {
        check(
            Origin::Inbound,
            vec![Input::Ringing, Input::Answer, Input::RemoteBye],
            expect![[r#"
                Ringing
                  sip   Ringing
                Answer
                  sip   Accept
                  media Answered
                  tell  Answered
                RemoteBye
                  media Ringback(false)
                  tell  Ended { reason: Normal, sip_code: Some(200) }
                ended=true
            "#]],
        );
        check(
            Origin::Inbound,
            vec![Input::Ringing, Input::RemoteCancel, Input::Answer],
            expect![[r#"
                Ringing
                  sip   Ringing
                RemoteCancel
                  media Ringback(false)
                  tell  Ended { reason: Cancelled, sip_code: Some(487) }
                Answer
                ended=true
            "#]],
        );
        check(
            Origin::Inbound,
            vec![Input::Reject(480), Input::Hangup],
            expect![[r#"
                Reject(480)
                  sip   Reject(480)
                  media Ringback(false)
                  tell  Ended { reason: NoAnswer, sip_code: Some(480) }
                Hangup
                ended=true
            "#]],
        );
    }
}
