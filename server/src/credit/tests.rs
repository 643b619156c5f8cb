//! Deterministic simulation of one user's wallet: a virtual clock, a script of events, and the
//! trace of what the wallet said, checked with expect-test. Property tests keep the invariant
//! (what live calls committed plus what ended calls were charged never exceeds the funds) after
//! every event.

use std::time::{Duration, Instant};

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::rating::rate;

fn tariff(text: &str) -> Tariff {
    // `per_minute fee min first/next`
    let p: Vec<&str> = text.split_whitespace().collect();
    let (first, next) = p[3].split_once('/').unwrap();
    Tariff::new(
        Money::parse(p[0]).unwrap(),
        Money::parse(p[1]).unwrap(),
        p[2].parse().unwrap(),
        first.parse().unwrap(),
        next.parse().unwrap(),
    )
    .unwrap()
}

struct Sim {
    wallet: Wallet<String>,
    t0: Instant,
    now: Instant,
    trace: Vec<String>,
    /// Charged so far by ended calls (what the ledger would have debited).
    debited: Money,
    funded: Money,
    tariffs: std::collections::BTreeMap<String, (Tariff, Option<Instant>)>,
    shown: std::collections::BTreeMap<String, Option<Instant>>,
}

impl Sim {
    fn new(funds: Money) -> Sim {
        let t0 = Instant::now();
        Sim {
            wallet: Wallet::new(funds),
            t0,
            now: t0,
            trace: vec![],
            debited: Money::ZERO,
            funded: funds,
            tariffs: Default::default(),
            shown: Default::default(),
        }
    }

    fn at(&self, t: Instant) -> String {
        let d = t.saturating_duration_since(self.t0);
        format!("{}.{:03}", d.as_secs(), d.subsec_millis())
    }

    fn drain(&mut self) {
        while let Some(out) = self.wallet.poll_output() {
            let line = match out {
                // Routine commits are many (one per increment): shown only when the deadline
                // moves; the invariant is checked after each of them all the same.
                Output::Credit { call, committed, deadline } => {
                    if self.shown.get(&call) == Some(&deadline) {
                        self.check_invariant();
                        continue;
                    }
                    self.shown.insert(call.clone(), deadline);
                    format!("{call} committed {committed} until {}", deadline.map_or("-".to_string(), |d| self.at(d)))
                }
                Output::Warning { call, seconds_left } => format!("{call} WARNING {seconds_left}s left"),
                Output::Cutoff { call } => {
                    let line = format!("{call} CUTOFF");
                    self.trace.push(format!("@{} {line}", self.at(self.now)));
                    self.end(&call);
                    continue;
                }
            };
            self.trace.push(format!("@{} {line}", self.at(self.now)));
        }
        self.check_invariant();
    }

    fn check_invariant(&self) {
        let used = self.wallet.committed() + self.debited;
        assert!(
            used <= self.funded,
            "committed {} + debited {} > funds {}",
            self.wallet.committed(),
            self.debited,
            self.funded
        );
    }

    /// Advances the clock to `until`, firing every timeout on the way.
    fn run_until(&mut self, until: Instant) {
        while let Some(t) = self.wallet.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.wallet.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }

    fn end(&mut self, call: &str) {
        let Some((t, answered)) = self.tariffs.remove(call) else { return };
        let settled = self.wallet.settle(self.now, &call.to_string()).expect("a live call");
        let talk = answered.map(|a| {
            let talk = self.now - a;
            settled.paid_secs.map_or(talk, |p| talk.min(Duration::from_secs(p)))
        });
        let charge = rate(&t, talk).amount;
        assert!(charge <= settled.committed, "{call}: charge {charge} > committed {}", settled.committed);
        // The shell stores the charge, then tells the wallet: the call's commitment becomes
        // the charge.
        self.debited += charge;
        self.wallet.end(self.now, &call.to_string(), charge);
        self.trace.push(format!("@{} {call} ended, charged {charge}", self.at(self.now)));
    }

    fn step(&mut self, line: &str) {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        match cmd {
            "at" => {
                let secs: f64 = rest.parse().unwrap();
                self.run_until(self.t0 + Duration::from_secs_f64(secs));
            }
            "dial" => {
                let (call, t) = rest.split_once(' ').unwrap();
                let t = tariff(t);
                match self.wallet.authorize(self.now, call.to_string(), t) {
                    Ok(()) => {
                        self.tariffs.insert(call.to_string(), (t, None));
                        self.trace.push(format!("@{} {call} authorized", self.at(self.now)));
                    }
                    Err(e) => self.trace.push(format!("@{} {call} refused: {e}", self.at(self.now))),
                }
            }
            "answer" => {
                if let Some(c) = self.tariffs.get_mut(rest) {
                    c.1 = Some(self.now);
                }
                self.wallet.answered(self.now, &rest.to_string());
            }
            "hangup" => self.end(rest),
            "topup" => {
                let amount = Money::parse(rest).unwrap();
                self.funded += amount;
                let available = self.funded - self.debited;
                self.wallet.set_available(self.now, available);
                self.trace.push(format!("@{} topup {amount}", self.at(self.now)));
            }
            other => panic!("unknown step {other}"),
        }
        self.drain();
    }
}

#[track_caller]
fn check(funds: &str, script: &str, expect: Expect) {
    let mut sim = Sim::new(Money::parse(funds).unwrap());
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        sim.step(line);
    }
    expect.assert_eq(&sim.trace.join("\n"));
}

#[test]
fn one_call_runs_until_the_money_is_gone_and_is_cut_at_a_boundary() {
    // 0.60/min per second = 0.01 a second; 1.00 buys 100 s.
    check(
        "1.00",
        "dial a 0.60 0 0 1/1
         at 5
         answer a
         at 200",
        expect![[r#"
            @0.000 a authorized
            @5.000 a committed 0.010000 until 105.000
            @45.000 a WARNING 60s left
            @95.000 a WARNING 10s left
            @105.000 a CUTOFF
            @105.000 a ended, charged 1.000000"#]],
    );
}

#[test]
fn a_short_call_is_charged_what_it_used_and_frees_the_rest() {
    check(
        "2.00",
        "dial a 0.60 0.05 0 60/60
         answer a
         at 61
         hangup a
         dial b 0.60 0.05 0 60/60",
        expect![[r#"
            @0.000 a authorized
            @0.000 a committed 0.650000 until 180.000
            @61.000 a ended, charged 1.250000
            @61.000 b authorized"#]],
    );
}

#[test]
fn parallel_calls_share_the_money_and_the_later_call_shortens_the_first() {
    // 0.06/min at 1/1: 0.001 a second per call. 0.20 is 200 call-seconds.
    check(
        "0.20",
        "dial a 0.06 0 0 1/1
         answer a
         at 50
         dial b 0.06 0 0 1/1
         answer b
         at 200",
        expect![[r#"
            @0.000 a authorized
            @0.000 a committed 0.001000 until 200.000
            @50.000 b authorized
            @50.000 a committed 0.051000 until 125.000
            @50.000 b committed 0.001000 until 125.000
            @65.000 a WARNING 60s left
            @65.000 b WARNING 60s left
            @115.000 a WARNING 10s left
            @115.000 b WARNING 10s left
            @125.000 a CUTOFF
            @125.000 a ended, charged 0.125000
            @125.000 b CUTOFF
            @125.000 b ended, charged 0.075000"#]],
    );
}

#[test]
fn a_top_up_during_the_call_moves_the_deadline_and_warns_again() {
    check(
        "0.10",
        "dial a 0.06 0 0 1/1
         answer a
         at 95
         topup 0.10
         at 400",
        expect![[r#"
            @0.000 a authorized
            @0.000 a committed 0.001000 until 100.000
            @40.000 a WARNING 60s left
            @90.000 a WARNING 10s left
            @95.000 topup 0.100000
            @95.000 a committed 0.096000 until 200.000
            @140.000 a WARNING 60s left
            @190.000 a WARNING 10s left
            @200.000 a CUTOFF
            @200.000 a ended, charged 0.200000"#]],
    );
}

#[test]
fn set_up_is_refused_when_other_calls_hold_the_money() {
    check(
        "0.02",
        "dial a 0.60 0 0 1/1
         dial b 0.60 0 0 1/1
         dial c 0.60 0.01 0 1/1
         hangup a
         dial c 0.60 0.01 0 1/1",
        expect![[r#"
            @0.000 a authorized
            @0.000 b authorized
            @0.000 c refused: the call needs 0.020000 to start and 0.000000 is left
            @0.000 a ended, charged 0.000000
            @0.000 c refused: the call needs 0.020000 to start and 0.010000 is left"#]],
    );
}

#[test]
fn free_calls_are_never_cut() {
    check(
        "0",
        "dial a 0 0 0 1/1
         answer a
         at 10000",
        expect![[r#"
            @0.000 a authorized
            @0.000 a committed 0.000000 until -"#]],
    );
}

#[test]
fn a_call_beyond_the_horizon_has_no_deadline_until_it_comes_near() {
    // 100.00 at 0.06/min is 100,000 s, far beyond an hour: no deadline, no warning.
    check(
        "1.00",
        "dial a 0.01 0 0 60/60
         answer a
         at 4000
         hangup a",
        expect![[r#"
            @0.000 a authorized
            @0.000 a committed 0.010000 until -
            @3600.000 a committed 0.610000 until 6000.000
            @4000.000 a ended, charged 0.670000"#]],
    );
}

#[derive(Debug, Clone)]
enum Ev {
    Dial(u8, u8),
    Answer(u8),
    Hangup(u8),
    Wait(u16),
    Topup(u16),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        (0..6u8, 0..4u8).prop_map(|(c, t)| Ev::Dial(c, t)),
        (0..6u8).prop_map(Ev::Answer),
        (0..6u8).prop_map(Ev::Hangup),
        (1..400u16).prop_map(Ev::Wait),
        (1..300u16).prop_map(Ev::Topup),
    ]
}

const TARIFFS: [&str; 4] = ["0.06 0 0 1/1", "0.60 0.05 0 60/60", "0.30 0.01 30 30/6", "1.20 0 0 1/1"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// After every event: committed + charged ≤ funds, each charge ≤ what its call committed,
    /// and a call is never still committing past a boundary it could not pay.
    #[test]
    fn parallel_calls_never_spend_the_same_money(funds in 0..5_000_000i64, events in prop::collection::vec(ev(), 1..60)) {
        let mut sim = Sim::new(Money(funds));
        for e in events {
            match e {
                Ev::Dial(c, t) if !sim.tariffs.contains_key(&c.to_string()) => {
                    sim.step(&format!("dial {c} {}", TARIFFS[t as usize]));
                }
                Ev::Answer(c) if sim.tariffs.get(&c.to_string()).is_some_and(|t| t.1.is_none()) => {
                    sim.step(&format!("answer {c}"));
                }
                Ev::Hangup(c) if sim.tariffs.contains_key(&c.to_string()) => sim.step(&format!("hangup {c}")),
                Ev::Wait(s) => {
                    let until = sim.now + Duration::from_secs(u64::from(s));
                    sim.run_until(until);
                }
                Ev::Topup(cents) => sim.step(&format!("topup {}.{:02}", cents / 100, cents % 100)),
                _ => {}
            }
        }
    }
}
