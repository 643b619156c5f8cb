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

/// One attempt, as the statistics need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub answered: bool,
    pub pdd_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Attempts, answered ones, average call duration (answered, seconds) and post-dial delay (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub attempts: u32,
    pub answered: u32,
    pub acd_secs: Option<i64>,
    pub pdd_ms: Option<i64>,
}

impl Stats {
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Stats {
        let (mut s, mut dur, mut durs, mut pdd, mut pdds) = (Stats::default(), 0i64, 0i64, 0i64, 0i64);
        for x in samples {
            s.attempts += 1;
            if x.answered {
                s.answered += 1;
                if let Some(d) = x.duration_ms {
                    dur += d;
                    durs += 1;
                }
            }
            if let Some(p) = x.pdd_ms {
                pdd += p;
                pdds += 1;
            }
        }
        s.acd_secs = (durs > 0).then(|| dur / durs / 1000);
        s.pdd_ms = (pdds > 0).then(|| pdd / pdds);
        s
    }

    /// Answered per attempt, in thousandths (0 without attempts).
    pub fn asr_permille(&self) -> u16 {
        (self.answered * 1000).checked_div(self.attempts).map_or(0, |p| u16::try_from(p).unwrap_or(1000))
    }
}

/// Per hour (the hour's start), oldest first: only hours that had attempts.
pub fn hourly(samples: &[Sample]) -> Vec<(DateTime<Utc>, Stats)> {
    use chrono::{DurationRound, TimeDelta};
    let mut hours: std::collections::BTreeMap<DateTime<Utc>, Vec<Sample>> = std::collections::BTreeMap::new();
    for s in samples {
        let hour = s.at.duration_trunc(TimeDelta::hours(1)).unwrap_or(s.at);
        hours.entry(hour).or_default().push(*s);
    }
    hours.into_iter().map(|(h, v)| (h, Stats::of(&v))).collect()
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

    #[test]
    fn stats_per_hour() {
        let t =
            |h: u32, m: u32| DateTime::parse_from_rfc3339(&format!("2026-12-05T{h:02}:{m:02}:00Z")).unwrap().to_utc();
        let s = |at, answered, pdd, dur| Sample { at, answered, pdd_ms: pdd, duration_ms: dur };
        let samples = [
            s(t(9, 5), true, Some(1000), Some(60_000)),
            s(t(9, 50), false, Some(3000), None),
            s(t(9, 59), true, None, Some(30_000)),
            s(t(11, 0), false, None, None),
        ];
        let lines: Vec<String> = hourly(&samples)
            .iter()
            .map(|(h, st)| format!("{} {st:?} asr {}", h.format("%H:%M"), st.asr_permille()))
            .collect();
        expect_test::expect![[r#"
            09:00 Stats { attempts: 3, answered: 2, acd_secs: Some(45), pdd_ms: Some(2000) } asr 666
            11:00 Stats { attempts: 1, answered: 0, acd_secs: None, pdd_ms: None } asr 0"#]]
        .assert_eq(&lines.join("\n"));
    }
}
