//! A carrier's health from its recent attempts, pure: the rolling answer-seizure ratio and the
//! circuit breaker. The breaker opens after `trip_after` consecutive carrier failures (a 5xx,
//! a timeout, no response: not busy or no-answer, which are the callee's doing) and stays open
//! for `cool_down`; then it half-opens: the next call is let through as a probe, and a failure
//! opens it again, a success closes it.

use chrono::{DateTime, Duration, Utc};

/// How one attempt through the carrier went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    Answered,
    /// The carrier failed (5xx, 408, no response, transport error).
    CarrierFailed,
    /// Anything else: busy, no answer, declined, cancelled, number not found.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    pub trip_after: usize,
    pub cool_down: Duration,
    /// ASR needs at least this many attempts to mean something.
    pub min_for_asr: usize,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy { trip_after: 5, cool_down: Duration::seconds(60), min_for_asr: 10 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    /// Answered / attempts, in thousandths.
    pub asr_permille: Option<u16>,
    pub circuit_open: bool,
}

/// `recent`: the carrier's latest attempts, newest first, with when each started.
pub fn health(recent: &[(DateTime<Utc>, Attempted)], now: DateTime<Utc>, policy: &HealthPolicy) -> Health {
    let asr_permille = (recent.len() >= policy.min_for_asr.max(1)).then(|| {
        let answered = recent.iter().filter(|(_, a)| *a == Attempted::Answered).count();
        u16::try_from(answered * 1000 / recent.len()).unwrap_or(1000)
    });
    let failures = recent.iter().take_while(|(_, a)| *a == Attempted::CarrierFailed).count();
    let circuit_open =
        failures >= policy.trip_after && recent.first().is_some_and(|(latest, _)| now - *latest < policy.cool_down);
    Health { asr_permille, circuit_open }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_half_opens_after_the_cool_down() {
        let p = HealthPolicy::default();
        let fails = |n: i64| (0..n).rev().map(|i| (at(i), Attempted::CarrierFailed)).collect::<Vec<_>>();
        assert!(!health(&fails(4), at(5), &p).circuit_open, "4 failures: still closed");
        assert!(health(&fails(5), at(5), &p).circuit_open, "5 failures: open");
        assert!(!health(&fails(5), at(4 + 60), &p).circuit_open, "after the cool-down: a probe goes through");
        // The probe failed: open again, for another cool-down.
        let mut probe = fails(5);
        probe.insert(0, (at(70), Attempted::CarrierFailed));
        assert!(health(&probe, at(71), &p).circuit_open);
        // The probe succeeded: closed.
        let mut ok = fails(5);
        ok.insert(0, (at(70), Attempted::Answered));
        assert!(!health(&ok, at(71), &p).circuit_open);
        // Busy and no-answer are the callee's, not the carrier's: they do not trip it.
        let busy: Vec<_> = (0..8).map(|i| (at(i), Attempted::Other)).collect();
        assert!(!health(&busy, at(9), &p).circuit_open);
    }

    #[test]
    fn asr_needs_enough_attempts() {
        let p = HealthPolicy::default();
        let mixed: Vec<_> =
            (0..10).map(|i| (at(i), if i % 4 == 0 { Attempted::Answered } else { Attempted::Other })).collect();
        assert_eq!(health(&mixed, at(10), &p).asr_permille, Some(300));
        assert_eq!(health(&mixed[..9], at(10), &p).asr_permille, None);
    }
}
