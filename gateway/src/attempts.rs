//! Which carrier and gateway an outbound call tries next: the failover decisions of one call,
//! with no I/O and no clock (time comes in as `now`).
//!
//! The shell sends an INVITE to [`Attempts::current`], reports what comes back
//! ([`Attempts::response`]), asks [`Attempts::poll_timeout`] when to wake up and
//! [`Attempts::handle_timeout`] whether the attempt is given up then, and on any failure asks
//! [`Attempts::failed`] whether to try the next one. Rules:
//!
//! - A gateway that sends nothing (no response at all within `trying_ms`) or cannot be reached
//!   (transport error) is left for the carrier's next gateway, then the next carrier.
//! - A final response in the policy's codes, or no `18x` within `ringing_ms`, moves on to the
//!   next carrier (its other gateways would reach the same network).
//! - Never after early media (the caller heard the far end) or when the caller hung up; never on
//!   a code outside the policy (404, 486, 600, 603 by default: another carrier reaches the same
//!   person).

use std::time::{Duration, Instant};

use protocol::gateway::{AttemptFailure, Failover};

/// One attempt: `routes[route].trunk.gateways[gateway]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub route: usize,
    pub gateway: usize,
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Final(u16),
    NoTrying,
    NoRinging,
    TransportError,
}

impl Failure {
    /// The wire form: the kind and the final code, if any.
    pub fn wire(self) -> (AttemptFailure, Option<u16>) {
        match self {
            Failure::Final(code) => (AttemptFailure::Final, Some(code)),
            Failure::NoTrying => (AttemptFailure::NoTrying, None),
            Failure::NoRinging => (AttemptFailure::NoRinging, None),
            Failure::TransportError => (AttemptFailure::TransportError, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Try(Target),
    /// No more attempts: the call fails with this attempt's outcome.
    GiveUp,
}

#[derive(Debug)]
pub struct Attempts {
    /// How many gateways each route has.
    gateways: Vec<usize>,
    policy: Failover,
    current: Target,
    started: Instant,
    /// Any response, `100 Trying` included.
    responded: bool,
    /// A `18x`.
    rang: bool,
    early_media: bool,
    /// The attempt's timeout fired (reported once).
    timed_out: bool,
}

impl Attempts {
    /// The first attempt starts at `now`; `None` when no route has a gateway.
    pub fn new(gateways: Vec<usize>, policy: Failover, now: Instant) -> Option<Attempts> {
        let route = gateways.iter().position(|&n| n > 0)?;
        Some(Attempts {
            gateways,
            policy,
            current: Target { route, gateway: 0 },
            started: now,
            responded: false,
            rang: false,
            early_media: false,
            timed_out: false,
        })
    }

    pub fn current(&self) -> Target {
        self.current
    }

    /// A response to the current attempt (`100`, `18x` with SDP or not, or the `2xx` answer,
    /// after which no timeout applies).
    pub fn response(&mut self, code: u16, with_sdp: bool) {
        self.responded = true;
        if (200..300).contains(&code) {
            self.timed_out = true;
        }
        if (180..200).contains(&code) {
            self.rang = true;
            self.early_media |= with_sdp;
        }
    }

    /// When the current attempt is given up if nothing more comes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.timed_out {
            return None;
        }
        let after = |ms: u64| (ms > 0).then(|| self.started + Duration::from_millis(ms));
        match (self.responded, self.rang) {
            (false, _) => after(self.policy.trying_ms).into_iter().chain(after(self.policy.ringing_ms)).min(),
            (true, false) => after(self.policy.ringing_ms),
            (true, true) => None,
        }
    }

    /// The current attempt's timeout, once it is due: the shell abandons the attempt (CANCEL
    /// when it got a provisional response, else just stops) and then calls [`Attempts::failed`].
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Failure> {
        let due = self.poll_timeout().is_some_and(|t| now >= t);
        if !due {
            return None;
        }
        self.timed_out = true;
        let trying_due =
            self.policy.trying_ms > 0 && now >= self.started + Duration::from_millis(self.policy.trying_ms);
        Some(if !self.responded && trying_due { Failure::NoTrying } else { Failure::NoRinging })
    }

    /// The current attempt failed; `hung_up` when the caller had already hung up. Says what to
    /// try next; a new attempt starts at `now`.
    pub fn failed(&mut self, failure: Failure, hung_up: bool, now: Instant) -> Next {
        if hung_up || self.early_media {
            return Next::GiveUp;
        }
        let p = &self.policy;
        let (same_carrier, moves_on) = match failure {
            Failure::Final(code) => (false, p.codes.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))),
            Failure::NoTrying => (true, true),
            Failure::NoRinging => (false, true),
            Failure::TransportError => (true, p.on_transport_error),
        };
        if !moves_on {
            return Next::GiveUp;
        }
        let Target { route, gateway } = self.current;
        let next = if same_carrier && gateway + 1 < self.gateways[route] {
            Some(Target { route, gateway: gateway + 1 })
        } else {
            (route + 1..self.gateways.len()).find(|&r| self.gateways[r] > 0).map(|route| Target { route, gateway: 0 })
        };
        let Some(next) = next else { return Next::GiveUp };
        *self = Attempts {
            gateways: std::mem::take(&mut self.gateways),
            policy: self.policy.clone(),
            current: next,
            started: now,
            responded: false,
            rang: false,
            early_media: false,
            timed_out: false,
        };
        Next::Try(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};

    /// Runs a script against routes with the given gateway counts. Steps: `+N` advances the
    /// virtual clock N ms (and reports a timeout if one fires), `100`/`180`/`183sdp` are
    /// provisional responses, `fNNN` a final response, `transport`, `hangup-fNNN`.
    #[track_caller]
    fn check(gateways: &[usize], policy: Failover, script: &str, expect: Expect) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut a = Attempts::new(gateways.to_vec(), policy, now).expect("a route");
        let show = |t: Target| format!("route {} gw {}", t.route, t.gateway);
        let mut out = vec![format!("try {}", show(a.current()))];
        let fail = |a: &mut Attempts, f: Failure, hung_up: bool, now: Instant, out: &mut Vec<String>| {
            let next = a.failed(f, hung_up, now);
            out.push(match next {
                Next::Try(t) => format!("  {f:?} → try {}", show(t)),
                Next::GiveUp => format!("  {f:?} → give up"),
            });
        };
        for step in script.split_whitespace() {
            if let Some(ms) = step.strip_prefix('+') {
                let end = now + Duration::from_millis(ms.parse().unwrap());
                // Wake at every deadline on the way, like the shell does.
                while let Some(t) = a.poll_timeout().filter(|&t| t <= end) {
                    now = t;
                    if let Some(f) = a.handle_timeout(now) {
                        out.push(format!("@{}ms timeout", (now - t0).as_millis()));
                        fail(&mut a, f, false, now, &mut out);
                    }
                }
                now = end;
            } else if let Some(code) = step.strip_prefix("hangup-f") {
                fail(&mut a, Failure::Final(code.parse().unwrap()), true, now, &mut out);
            } else if let Some(code) = step.strip_prefix('f') {
                fail(&mut a, Failure::Final(code.parse().unwrap()), false, now, &mut out);
            } else if step == "transport" {
                fail(&mut a, Failure::TransportError, false, now, &mut out);
            } else {
                let (code, sdp) = step.strip_suffix("sdp").map_or((step, false), |c| (c, true));
                a.response(code.parse().unwrap(), sdp);
            }
        }
        expect.assert_eq(&out.join("\n"));
    }

    #[test]
    fn final_codes_follow_the_policy() {
        check(
            &[1, 1, 1],
            Failover::default(),
            "100 f503 100 180 f480 100 f503",
            expect![[r#"
                try route 0 gw 0
                  Final(503) → try route 1 gw 0
                  Final(480) → try route 2 gw 0
                  Final(503) → give up"#]],
        );
        for code in [404, 486, 487, 600, 603, 403] {
            let mut a = Attempts::new(vec![1, 1], Failover::default(), Instant::now()).unwrap();
            assert_eq!(a.failed(Failure::Final(code), false, Instant::now()), Next::GiveUp, "{code}");
        }
    }

    #[test]
    fn silent_gateways_move_to_the_next_gateway_then_carrier() {
        check(
            &[2, 1],
            Failover::default(),
            "+5000 100 +10000",
            expect![[r#"
                try route 0 gw 0
                @2000ms timeout
                  NoTrying → try route 0 gw 1
                @4000ms timeout
                  NoTrying → try route 1 gw 0"#]],
        );
        check(
            &[2, 1],
            Failover::default(),
            "transport transport transport",
            expect![[r#"
                try route 0 gw 0
                  TransportError → try route 0 gw 1
                  TransportError → try route 1 gw 0
                  TransportError → give up"#]],
        );
        // A 503 from one gateway is the carrier's answer: its other gateway is skipped.
        check(
            &[2, 1],
            Failover::default(),
            "f503",
            expect![[r#"
                try route 0 gw 0
                  Final(503) → try route 1 gw 0"#]],
        );
    }

    #[test]
    fn no_ringing_in_time_moves_on_and_ringing_stops_the_clock() {
        let policy = Failover { ringing_ms: 6000, ..Failover::default() };
        check(
            &[1, 1, 1],
            policy,
            "100 +7000 100 180 +60000 f503",
            expect![[r#"
                try route 0 gw 0
                @6000ms timeout
                  NoRinging → try route 1 gw 0
                  Final(503) → try route 2 gw 0"#]],
        );
    }

    #[test]
    fn never_after_early_media_or_a_hang_up() {
        check(
            &[1, 1],
            Failover::default(),
            "183sdp f503",
            expect![[r#"
                try route 0 gw 0
                  Final(503) → give up"#]],
        );
        check(
            &[1, 1],
            Failover::default(),
            "180 hangup-f503",
            expect![[r#"
                try route 0 gw 0
                  Final(503) → give up"#]],
        );
        // A 180 without SDP is not early media: ringback was ours.
        check(
            &[1, 1],
            Failover::default(),
            "180 f503",
            expect![[r#"
                try route 0 gw 0
                  Final(503) → try route 1 gw 0"#]],
        );
    }

    #[test]
    fn an_answer_stops_the_clock() {
        let policy = Failover { ringing_ms: 6000, ..Failover::default() };
        check(
            &[1, 1],
            policy,
            "200 +60000",
            expect![[r#"
                try route 0 gw 0"#]],
        );
    }

    #[test]
    fn timeouts_off_and_routes_without_gateways() {
        let policy = Failover { trying_ms: 0, ringing_ms: 0, on_transport_error: false, ..Failover::default() };
        check(
            &[0, 1, 0, 1],
            policy,
            "+100000 transport",
            expect![[r#"
                try route 1 gw 0
                  TransportError → give up"#]],
        );
        assert!(Attempts::new(vec![0, 0], Failover::default(), Instant::now()).is_none());
    }
}
