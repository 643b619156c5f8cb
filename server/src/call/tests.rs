//! Deterministic simulations: a virtual clock, scripted devices, no sockets, no sleeps.
//!
//! Every scenario runs through [`Sim`], which records inputs and outputs as a compact trace for
//! expect-test snapshots (`UPDATE_EXPECT=1 cargo test -p server --lib call` to refresh them) and
//! checks the call's invariants after every step.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use expect_test::{Expect, expect};

use super::*;

const CALLER: UserId = UserId(1);
const CALLEE: UserId = UserId(2);

fn dev(name: &str) -> DeviceId {
    DeviceId(name.to_owned())
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

struct Sim {
    call: Call,
    start: Instant,
    now: Instant,
    /// Rendered inputs and outputs since the last `check`.
    trace: String,
    /// Legs between their `LegRinging` and their `LegEnded`.
    open_legs: BTreeSet<DeviceId>,
    ended: Option<Record>,
}

impl Sim {
    /// Device `a1` of user 1 dials user 2, who is online on `devices`.
    fn dial(devices: &[&str]) -> Sim {
        Sim::dial_with(devices, CallConfig::default())
    }

    fn dial_with(devices: &[&str], config: CallConfig) -> Sim {
        // The only clock reading: everything after is `start + Duration`.
        let start = Instant::now();
        let caller = Party { user: CALLER, device: dev("a1") };
        let callee_devices = devices.iter().map(|d| dev(d)).collect();
        let call = Call::new(CallId("c1".into()), caller, CALLEE, callee_devices, "offer".into(), config, start);
        let online = if devices.is_empty() { "(nobody online)".to_owned() } else { devices.join(",") };
        let trace = format!("@0s dial {online}\n");
        let mut sim = Sim { call, start, now: start, trace, open_legs: BTreeSet::new(), ended: None };
        sim.drain();
        sim
    }

    /// Device `a1` of user 1 dials a number; `gw` is the gateway's leg.
    fn dial_number() -> Sim {
        let start = Instant::now();
        let caller = Party { user: CALLER, device: dev("a1") };
        let call =
            Call::new_to_number(CallId("c1".into()), caller, dev("gw"), "offer".into(), CallConfig::default(), start);
        let trace = "@0s dial_number\n".to_owned();
        let mut sim = Sim { call, start, now: start, trace, open_legs: BTreeSet::new(), ended: None };
        sim.drain();
        sim
    }

    fn step(&mut self, input: Input) {
        let line = render_input(&input);
        writeln!(self.trace, "@{} {line}", self.at(self.now)).unwrap();
        self.call.handle_input(self.now, input);
        self.drain();
    }

    /// Moves the clock on by `d`, then fires the call's timers if one is due.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        if self.call.poll_timeout().is_some_and(|deadline| deadline <= self.now) {
            writeln!(self.trace, "@{} timeout", self.at(self.now)).unwrap();
            self.call.handle_timeout(self.now);
            self.drain();
        }
    }

    fn drain(&mut self) {
        while let Some(output) = self.call.poll_output() {
            assert!(self.ended.is_none(), "output after Record::Ended: {output:?}");
            match &output {
                Output::Record(Record::LegRinging { device }) => {
                    assert!(self.open_legs.insert(device.clone()), "{device} rang twice")
                }
                Output::Record(Record::LegEnded { device, .. }) => {
                    assert!(self.open_legs.remove(device), "{device} ended without ringing")
                }
                Output::Record(record @ Record::Ended { .. }) => {
                    assert_eq!(self.open_legs, BTreeSet::new(), "legs left open at the end");
                    self.ended = Some(record.clone());
                }
                _ => {}
            }
            let line = self.render_output(&output);
            writeln!(self.trace, "  {line}").unwrap();
        }
        assert_eq!(self.call.is_ended(), self.ended.is_some());
        if self.call.is_ended() {
            assert_eq!(self.call.poll_timeout(), None);
            assert_eq!(self.call.devices(), vec![]);
        }
    }

    /// The call's cause and who ended it, once ended.
    fn outcome(&self) -> Option<(EndCause, Option<UserId>)> {
        match self.ended {
            Some(Record::Ended { cause, by, .. }) => Some((cause, by)),
            _ => None,
        }
    }

    #[track_caller]
    fn check(&mut self, expect: Expect) {
        expect.assert_eq(&std::mem::take(&mut self.trace));
    }

    fn at(&self, t: Instant) -> String {
        format!("{}s", (t - self.start).as_secs())
    }

    fn render_output(&self, output: &Output) -> String {
        match output {
            Output::Send { device, event } => {
                let event = match event {
                    Event::Ringing => "ringing".to_owned(),
                    Event::EarlyMedia { answer } => format!("early_media {answer}"),
                    Event::Incoming { from, offer } => format!("incoming from={from} {offer}"),
                    Event::Answered { answer } => format!("answered {answer}"),
                    Event::Connected => "connected".to_owned(),
                    Event::Ice(candidate) => format!("ice {}", candidate.candidate),
                    Event::Sdp(description) => format!("sdp {}", render_sdp(description)),
                    Event::Hold { on } => format!("hold {on}"),
                    Event::PeerReconnecting => "peer_reconnecting".to_owned(),
                    Event::PeerReconnected => "peer_reconnected".to_owned(),
                    Event::Ended { cause } => format!("ended {cause}"),
                };
                format!("{device} <- {event}")
            }
            Output::Record(record) => match record {
                Record::Ringing { at } => format!("record ringing at={}", self.at(*at)),
                Record::LegRinging { device } => format!("record leg_ringing {device}"),
                Record::Answered { device, at } => format!("record answered {device} at={}", self.at(*at)),
                Record::LegEnded { device, cause } => format!("record leg_ended {device} {cause}"),
                Record::Ended { cause, by, at } => {
                    let by = by.map_or("-".to_owned(), |user| user.to_string());
                    format!("record ended {cause} by={by} at={}", self.at(*at))
                }
            },
        }
    }
}

fn render_input(input: &Input) -> String {
    match input {
        Input::Answer { device, sdp } => format!("answer {device} {sdp}"),
        Input::Reject { device, reason } => format!("reject {device} {}", format!("{reason:?}").to_lowercase()),
        Input::Hangup { device } => format!("hangup {device}"),
        Input::Ice { device, candidate } => format!("ice {device} {}", candidate.candidate),
        Input::Sdp { device, description } => format!("sdp {device} {}", render_sdp(description)),
        Input::Hold { device, on } => format!("hold {device} {on}"),
        Input::DeviceLost { device } => format!("lost {device}"),
        Input::DeviceBack { device } => format!("back {device}"),
        Input::CalleeDeviceJoined { device } => format!("joined {device}"),
        Input::Progress { device, answer, ringing } => {
            format!("progress {device} answer={} ringing={ringing}", answer.as_deref().unwrap_or("-"))
        }
        Input::LegFailed { device, cause } => format!("leg_failed {device} {cause}"),
        Input::Terminate { cause, by } => {
            format!("terminate {cause} by={}", by.map_or("-".to_owned(), |u| u.to_string()))
        }
    }
}

fn render_sdp(description: &SessionDescription) -> String {
    let kind = match description.kind {
        SdpKind::Offer => "offer",
        SdpKind::Answer => "answer",
    };
    format!("{kind} {}", description.sdp)
}

fn answer(device: &str) -> Input {
    Input::Answer { device: dev(device), sdp: format!("answer-{device}") }
}
fn reject(device: &str, reason: RejectReason) -> Input {
    Input::Reject { device: dev(device), reason }
}
fn hangup(device: &str) -> Input {
    Input::Hangup { device: dev(device) }
}
fn ice(device: &str, candidate: &str) -> Input {
    let candidate = IceCandidate { candidate: candidate.into(), sdp_mid: Some("0".into()), sdp_mline_index: Some(0) };
    Input::Ice { device: dev(device), candidate }
}
fn sdp(device: &str, kind: SdpKind, sdp: &str) -> Input {
    Input::Sdp { device: dev(device), description: SessionDescription { kind, sdp: sdp.into() } }
}
fn hold(device: &str, on: bool) -> Input {
    Input::Hold { device: dev(device), on }
}
fn lost(device: &str) -> Input {
    Input::DeviceLost { device: dev(device) }
}
fn back(device: &str) -> Input {
    Input::DeviceBack { device: dev(device) }
}
fn joined(device: &str) -> Input {
    Input::CalleeDeviceJoined { device: dev(device) }
}

#[test]
fn nobody_online_is_unavailable() {
    let mut sim = Sim::dial(&[]);
    sim.check(expect![[r#"
        @0s dial (nobody online)
          a1 <- ended unavailable
          record ended unavailable by=- at=0s
    "#]]);
}

#[test]
fn rings_every_device_and_the_first_answer_wins() {
    let mut sim = Sim::dial(&["b1", "b2", "b3"]);
    assert_eq!(sim.call.devices(), [dev("a1"), dev("b1"), dev("b2"), dev("b3")]);
    sim.advance(secs(1));
    sim.step(ice("a1", "cand-1"));
    sim.step(ice("a1", "cand-2"));
    sim.step(ice("b2", "early")); // no peer connection yet: dropped
    sim.step(hold("a1", true)); // nothing to hold yet
    sim.advance(secs(2));
    sim.step(answer("b2"));
    sim.step(answer("b1")); // too late
    sim.step(answer("b2")); // duplicated
    sim.check(expect![[r#"
        @0s dial b1,b2,b3
          b1 <- incoming from=1 offer
          b2 <- incoming from=1 offer
          b3 <- incoming from=1 offer
          a1 <- ringing
          record ringing at=0s
          record leg_ringing b1
          record leg_ringing b2
          record leg_ringing b3
        @1s ice a1 cand-1
        @1s ice a1 cand-2
        @1s ice b2 early
        @1s hold a1 true
        @3s answer b2 answer-b2
          a1 <- answered answer-b2
          b2 <- connected
          b2 <- ice cand-1
          b2 <- ice cand-2
          record answered b2 at=3s
          b1 <- ended answered_elsewhere
          record leg_ended b1 answered_elsewhere
          b3 <- ended answered_elsewhere
          record leg_ended b3 answered_elsewhere
        @3s answer b1 answer-b1
        @3s answer b2 answer-b2
    "#]]);
    assert_eq!(sim.call.devices(), [dev("a1"), dev("b2")]);
    assert_eq!(sim.call.answered_at(), Some(sim.start + secs(3)));
    assert_eq!(sim.call.poll_timeout(), None, "an answered call with both parties present waits for nothing");
}

#[test]
fn in_call_messages_go_between_the_caller_and_the_winner_only() {
    let mut sim = Sim::dial(&["b1", "b2"]);
    sim.step(answer("b1"));
    sim.trace.clear();
    sim.step(ice("a1", "cand-a"));
    sim.step(ice("b1", "cand-b"));
    sim.step(sdp("b1", SdpKind::Offer, "restart"));
    sim.step(sdp("a1", SdpKind::Answer, "restarted"));
    sim.step(hold("a1", true));
    sim.step(hold("a1", false));
    sim.step(ice("b2", "stray"));
    sim.step(hold("x9", true));
    sim.step(hangup("b2"));
    sim.step(hangup("x9"));
    sim.advance(secs(10));
    sim.step(hangup("b1"));
    sim.step(hangup("b1"));
    sim.step(hangup("a1"));
    sim.check(expect![[r#"
        @0s ice a1 cand-a
          b1 <- ice cand-a
        @0s ice b1 cand-b
          a1 <- ice cand-b
        @0s sdp b1 offer restart
          a1 <- sdp offer restart
        @0s sdp a1 answer restarted
          b1 <- sdp answer restarted
        @0s hold a1 true
          b1 <- hold true
        @0s hold a1 false
          b1 <- hold false
        @0s ice b2 stray
        @0s hold x9 true
        @0s hangup b2
        @0s hangup x9
        @10s hangup b1
          a1 <- ended normal
          record leg_ended b1 normal
          record ended normal by=2 at=10s
        @10s hangup b1
        @10s hangup a1
    "#]]);
}

#[test]
fn caller_hanging_up_after_answer_is_normal() {
    let mut sim = Sim::dial(&["b1"]);
    sim.step(answer("b1"));
    sim.step(hangup("a1"));
    assert_eq!(sim.outcome(), Some((EndCause::Normal, Some(CALLER))));
}

#[test]
fn caller_hanging_up_while_ringing_cancels() {
    let mut sim = Sim::dial(&["b1", "b2"]);
    sim.trace.clear();
    sim.advance(secs(5));
    sim.step(hangup("a1"));
    sim.check(expect![[r#"
        @5s hangup a1
          b1 <- ended cancelled
          b2 <- ended cancelled
          record leg_ended b1 cancelled
          record leg_ended b2 cancelled
          record ended cancelled by=1 at=5s
    "#]]);
}

#[test]
fn a_decline_on_any_device_ends_the_whole_call() {
    let mut sim = Sim::dial(&["b1", "b2", "b3"]);
    sim.trace.clear();
    sim.step(reject("b2", RejectReason::Declined));
    sim.check(expect![[r#"
        @0s reject b2 declined
          a1 <- ended declined
          b1 <- ended declined
          b3 <- ended declined
          record leg_ended b1 declined
          record leg_ended b2 declined
          record leg_ended b3 declined
          record ended declined by=2 at=0s
    "#]]);
}

#[test]
fn busy_ends_the_call_as_busy() {
    let mut sim = Sim::dial(&["b1", "b2"]);
    sim.step(reject("x9", RejectReason::Busy)); // not in the call
    sim.step(reject("a1", RejectReason::Busy)); // the caller cannot reject
    assert_eq!(sim.outcome(), None);
    sim.step(reject("b1", RejectReason::Busy));
    assert_eq!(sim.outcome(), Some((EndCause::Busy, Some(CALLEE))));
}

#[test]
fn hanging_up_a_ringing_device_declines() {
    let mut sim = Sim::dial(&["b1", "b2"]);
    sim.step(hangup("b1"));
    assert_eq!(sim.outcome(), Some((EndCause::Declined, Some(CALLEE))));
}

#[test]
fn nobody_answering_ends_with_no_answer() {
    let mut sim = Sim::dial(&["b1"]);
    assert_eq!(sim.call.poll_timeout(), Some(sim.start + secs(45)));
    sim.trace.clear();
    sim.advance(secs(44));
    assert_eq!(sim.outcome(), None);
    sim.advance(secs(1));
    sim.check(expect![[r#"
        @45s timeout
          a1 <- ended no_answer
          b1 <- ended no_answer
          record leg_ended b1 no_answer
          record ended no_answer by=- at=45s
    "#]]);
}

#[test]
fn a_lost_ringing_device_stops_ringing_and_the_last_one_makes_the_callee_unavailable() {
    let mut sim = Sim::dial(&["b1", "b2"]);
    sim.trace.clear();
    sim.step(lost("b1"));
    sim.step(back("b1")); // too late to ring again; the shell would say `joined`
    sim.step(lost("b1"));
    sim.advance(secs(3));
    sim.step(lost("b2"));
    sim.check(expect![[r#"
        @0s lost b1
          record leg_ended b1 unavailable
        @0s back b1
        @0s lost b1
        @3s lost b2
          record leg_ended b2 unavailable
          a1 <- ended unavailable
          record ended unavailable by=- at=3s
    "#]]);
}

#[test]
fn the_caller_lost_while_ringing_has_a_grace_period() {
    let config = CallConfig { ring_timeout: secs(120), ..CallConfig::default() };
    let mut sim = Sim::dial_with(&["b1"], config);
    sim.trace.clear();
    sim.advance(secs(10));
    sim.step(lost("a1"));
    assert_eq!(sim.call.poll_timeout(), Some(sim.start + secs(30)));
    sim.advance(secs(15));
    sim.step(back("a1"));
    assert_eq!(sim.call.poll_timeout(), Some(sim.start + secs(120)));
    sim.advance(secs(5));
    sim.step(lost("a1"));
    sim.advance(secs(10));
    sim.step(lost("a1")); // the deadline stays 20 s after the first loss
    sim.advance(secs(10));
    sim.check(expect![[r#"
        @10s lost a1
        @25s back a1
        @30s lost a1
        @40s lost a1
        @50s timeout
          a1 <- ended connection_lost
          b1 <- ended connection_lost
          record leg_ended b1 connection_lost
          record ended connection_lost by=- at=50s
    "#]]);
}

#[test]
fn a_party_lost_after_answer_may_come_back_within_the_grace_period() {
    let mut sim = Sim::dial(&["b1"]);
    sim.step(answer("b1"));
    sim.trace.clear();
    sim.advance(secs(60));
    sim.step(lost("b1"));
    sim.advance(secs(19));
    sim.step(back("b1"));
    sim.step(back("b1")); // duplicated
    sim.advance(secs(1));
    sim.step(lost("a1"));
    sim.advance(secs(19));
    assert_eq!(sim.outcome(), None);
    sim.advance(secs(1));
    sim.check(expect![[r#"
        @60s lost b1
          a1 <- peer_reconnecting
        @79s back b1
          a1 <- peer_reconnected
        @79s back b1
        @80s lost a1
          b1 <- peer_reconnecting
        @100s timeout
          a1 <- ended connection_lost
          b1 <- ended connection_lost
          record leg_ended b1 connection_lost
          record ended connection_lost by=- at=100s
    "#]]);
}

#[test]
fn an_answer_while_the_caller_is_away_tells_the_winner_to_wait() {
    let mut sim = Sim::dial(&["b1"]);
    sim.trace.clear();
    sim.step(lost("a1"));
    sim.step(answer("b1"));
    sim.advance(secs(5));
    sim.step(back("a1"));
    sim.check(expect![[r#"
        @0s lost a1
        @0s answer b1 answer-b1
          a1 <- answered answer-b1
          b1 <- connected
          b1 <- peer_reconnecting
          record answered b1 at=0s
        @5s back a1
          b1 <- peer_reconnected
    "#]]);
}

#[test]
fn a_device_that_joins_while_ringing_rings_too() {
    let mut sim = Sim::dial(&["b1"]);
    sim.trace.clear();
    sim.step(joined("b2"));
    sim.step(joined("b2")); // duplicated
    sim.step(joined("a1")); // the caller's own device
    sim.step(answer("b2"));
    sim.step(joined("b3")); // too late
    sim.check(expect![[r#"
        @0s joined b2
          b2 <- incoming from=1 offer
          record leg_ringing b2
        @0s joined b2
        @0s joined a1
        @0s answer b2 answer-b2
          a1 <- answered answer-b2
          b2 <- connected
          record answered b2 at=0s
          b1 <- ended answered_elsewhere
          record leg_ended b1 answered_elsewhere
        @0s joined b3
    "#]]);
}

#[test]
fn callee_devices_are_deduplicated_and_never_include_the_calling_device() {
    let sim = Sim::dial(&["b1", "a1", "b1"]);
    assert_eq!(sim.call.devices(), [dev("a1"), dev("b1")]);
}

#[test]
fn glare_hangup_then_answer_at_the_same_instant() {
    let mut sim = Sim::dial(&["b1"]);
    sim.trace.clear();
    sim.step(hangup("a1"));
    sim.step(answer("b1"));
    sim.check(expect![[r#"
        @0s hangup a1
          b1 <- ended cancelled
          record leg_ended b1 cancelled
          record ended cancelled by=1 at=0s
        @0s answer b1 answer-b1
    "#]]);
}

#[test]
fn glare_answer_then_hangup_at_the_same_instant() {
    let mut sim = Sim::dial(&["b1"]);
    sim.trace.clear();
    sim.step(answer("b1"));
    sim.step(hangup("a1"));
    sim.check(expect![[r#"
        @0s answer b1 answer-b1
          a1 <- answered answer-b1
          b1 <- connected
          record answered b1 at=0s
        @0s hangup a1
          b1 <- ended normal
          record leg_ended b1 normal
          record ended normal by=1 at=0s
    "#]]);
}

#[test]
fn everything_after_the_end_is_ignored() {
    let mut sim = Sim::dial(&["b1", "b2"]);
    sim.step(answer("b1"));
    sim.step(hangup("b1"));
    sim.trace.clear();
    let inputs = [
        answer("b2"),
        reject("b2", RejectReason::Declined),
        hangup("a1"),
        ice("a1", "late"),
        sdp("b1", SdpKind::Offer, "late"),
        hold("a1", true),
        lost("a1"),
        back("a1"),
        joined("b3"),
    ];
    for input in inputs {
        sim.step(input);
    }
    sim.trace.push_str("@3600s timeout\n");
    sim.call.handle_timeout(sim.now + secs(3600));
    sim.drain();
    sim.check(expect![[r#"
        @0s answer b2 answer-b2
        @0s reject b2 declined
        @0s hangup a1
        @0s ice a1 late
        @0s sdp b1 offer late
        @0s hold a1 true
        @0s lost a1
        @0s back a1
        @0s joined b3
        @3600s timeout
    "#]]);
}

#[test]
fn when_the_shell_wakes_late_the_earliest_timer_decides() {
    let mut sim = Sim::dial(&["b1"]);
    sim.advance(secs(30));
    sim.step(lost("a1")); // grace until 50 s; the ring timer is due at 45 s
    sim.trace.clear();
    sim.advance(secs(30));
    sim.check(expect![[r#"
        @60s timeout
          a1 <- ended no_answer
          b1 <- ended no_answer
          record leg_ended b1 no_answer
          record ended no_answer by=- at=60s
    "#]]);
}

#[test]
fn caller_candidates_are_buffered_up_to_a_cap_and_flushed_in_order() {
    let mut sim = Sim::dial(&["b1"]);
    for i in 0..MAX_BUFFERED_ICE + 6 {
        sim.step(ice("a1", &format!("cand-{i}")));
    }
    sim.trace.clear();
    sim.step(answer("b1"));
    let sent: Vec<&str> = sim.trace.lines().filter_map(|line| line.strip_prefix("  b1 <- ice ")).collect();
    let expected: Vec<String> = (0..MAX_BUFFERED_ICE).map(|i| format!("cand-{i}")).collect();
    assert_eq!(sent, expected);
}

#[test]
fn end_causes_have_stable_codes() {
    let mut table = String::new();
    for cause in EndCause::ALL {
        assert_eq!(EndCause::from_code(cause.code()), Some(cause));
        let sip = cause.sip_code().map_or("-".to_owned(), |code| code.to_string());
        writeln!(table, "{:<18} {sip:<3} {}", cause.code(), cause.describe()).unwrap();
    }
    assert_eq!(EndCause::from_code("Normal"), None);
    expect![[r#"
        normal             -   The call ended normally.
        cancelled          487 The caller hung up before the call was answered.
        declined           603 The call was declined.
        busy               486 The person called is busy.
        no_answer          480 Nobody answered.
        unavailable        480 The person called is not online.
        answered_elsewhere 487 The call was answered on another device.
        connection_lost    -   The connection was lost.
        self_call          403 You cannot call yourself.
        unknown_user       404 There is no such user.
        invalid_number     404 That is not a valid phone number.
        no_route           503 Calls to phone numbers are not available right now.
        number_not_found   404 The number does not exist.
        carrier_failed     503 The call could not be connected.
        media_timeout      -   The call was ended because no audio arrived.
        media_failed       -   The audio connection failed.
        credit_exhausted   -   The call was ended because your balance ran out.
        ended_by_admin     -   The call was ended by an administrator.
    "#]]
    .assert_eq(&table);
}

fn progress(device: &str, answer: Option<&str>, ringing: bool) -> Input {
    Input::Progress { device: dev(device), answer: answer.map(str::to_string), ringing }
}

#[test]
fn a_number_rings_when_the_carrier_says_so_and_early_media_comes_first() {
    let mut sim = Sim::dial_number();
    sim.step(progress("gw", Some("gw-answer"), false));
    sim.advance(secs(1));
    sim.step(progress("gw", None, true));
    sim.step(progress("gw", None, true));
    sim.step(Input::CalleeDeviceJoined { device: dev("b9") });
    sim.advance(secs(2));
    sim.step(Input::Answer { device: dev("gw"), sdp: "gw-answer".into() });
    sim.advance(secs(10));
    sim.step(hangup("gw"));
    sim.check(expect![[r#"
        @0s dial_number
          gw <- incoming from=1 offer
          record leg_ringing gw
        @0s progress gw answer=gw-answer ringing=false
          a1 <- early_media gw-answer
        @1s progress gw answer=- ringing=true
          a1 <- ringing
          record ringing at=1s
        @1s progress gw answer=- ringing=true
        @1s joined b9
        @3s answer gw gw-answer
          a1 <- answered gw-answer
          gw <- connected
          record answered gw at=3s
        @13s hangup gw
          a1 <- ended normal
          record leg_ended gw normal
          record ended normal by=1 at=13s
    "#]]);
}

#[test]
fn a_carrier_refusal_ends_the_call_with_its_cause() {
    let mut sim = Sim::dial_number();
    sim.step(progress("gw", Some("gw-answer"), true));
    sim.step(Input::LegFailed { device: dev("gw"), cause: EndCause::Busy });
    sim.check(expect![[r#"
        @0s dial_number
          gw <- incoming from=1 offer
          record leg_ringing gw
        @0s progress gw answer=gw-answer ringing=true
          a1 <- early_media gw-answer
          a1 <- ringing
          record ringing at=0s
        @0s leg_failed gw busy
          a1 <- ended busy
          record leg_ended gw busy
          record ended busy by=- at=0s
    "#]]);

    let mut sim = Sim::dial_number();
    sim.step(Input::Answer { device: dev("gw"), sdp: "gw-answer".into() });
    sim.step(Input::LegFailed { device: dev("zz"), cause: EndCause::MediaTimeout });
    sim.step(Input::LegFailed { device: dev("gw"), cause: EndCause::MediaTimeout });
    sim.check(expect![[r#"
        @0s dial_number
          gw <- incoming from=1 offer
          record leg_ringing gw
        @0s answer gw gw-answer
          a1 <- answered gw-answer
          gw <- connected
          record answered gw at=0s
        @0s leg_failed zz media_timeout
        @0s leg_failed gw media_timeout
          a1 <- ended media_timeout
          record leg_ended gw media_timeout
          record ended media_timeout by=- at=0s
    "#]]);
}

#[test]
fn an_unanswered_number_times_out_and_the_leg_is_told() {
    let mut sim = Sim::dial_number();
    sim.step(progress("gw", None, true));
    sim.advance(secs(45));
    sim.check(expect![[r#"
        @0s dial_number
          gw <- incoming from=1 offer
          record leg_ringing gw
        @0s progress gw answer=- ringing=true
          a1 <- ringing
          record ringing at=0s
        @45s timeout
          a1 <- ended no_answer
          gw <- ended no_answer
          record leg_ended gw no_answer
          record ended no_answer by=- at=45s
    "#]]);
}

#[test]
fn the_platform_ends_a_call_whose_money_ran_out_and_both_sides_are_told() {
    let mut sim = Sim::dial_number();
    sim.step(Input::Answer { device: dev("gw"), sdp: "gw-answer".into() });
    sim.advance(secs(90));
    sim.step(Input::Terminate { cause: EndCause::CreditExhausted, by: None });
    sim.step(hangup("gw"));
    sim.check(expect![[r#"
        @0s dial_number
          gw <- incoming from=1 offer
          record leg_ringing gw
        @0s answer gw gw-answer
          a1 <- answered gw-answer
          gw <- connected
          record answered gw at=0s
        @90s terminate credit_exhausted by=-
          a1 <- ended credit_exhausted
          gw <- ended credit_exhausted
          record leg_ended gw credit_exhausted
          record ended credit_exhausted by=- at=90s
        @90s hangup gw
    "#]]);
}
