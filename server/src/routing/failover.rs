//! Whether a failed attempt on one carrier should be retried on the next. Pure: the shell says
//! how the attempt ended, this says what to do.

use std::{fmt, ops::RangeInclusive};

/// How an attempt on one carrier ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A final response, ≥ 300, before any early media.
    Final(u16),
    /// No `100 Trying` (or any response) before the Trying timeout: the carrier is not there.
    NoTrying,
    /// No `18x` before the ringing timeout: the carrier took the call but is not placing it.
    NoRinging,
    /// The request could not be sent or the connection broke (DNS, TCP, ICMP).
    TransportError,
    /// The attempt failed after early media (a `183` with SDP) reached the caller. Whatever the
    /// final response, the caller has heard the far end (an announcement, a ringback tone), so
    /// starting over on another carrier would be heard too.
    EarlyMedia,
    /// The call was answered: the attempt succeeded.
    Answered,
}

/// When to try the next carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// Final responses that fail over; any other code does not. Default: 408, 480, 500–599,
    /// which leaves out 404 (the number does not exist anywhere), 486 (busy), 600 and 603
    /// (busy or declined everywhere): another carrier reaches the same person.
    pub codes: Vec<RangeInclusive<u16>>,
    pub on_no_trying: bool,
    pub on_no_ringing: bool,
    pub on_transport_error: bool,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            codes: vec![408..=408, 480..=480, 500..=599],
            on_no_trying: true,
            on_no_ringing: true,
            on_transport_error: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodesError {
    #[error("{0:?} is not a SIP final response code (300 to 699) or a range like 500-599")]
    Invalid(String),
}

impl FailoverPolicy {
    /// A code list as an administrator writes it: `408, 480, 500-599`. Empty means none.
    pub fn parse_codes(text: &str) -> Result<Vec<RangeInclusive<u16>>, CodesError> {
        let code = |s: &str| s.trim().parse::<u16>().ok().filter(|c| (300..=699).contains(c));
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (lo, hi) = item.split_once('-').unwrap_or((item, item));
                match (code(lo), code(hi)) {
                    (Some(lo), Some(hi)) if lo <= hi => Ok(lo..=hi),
                    _ => Err(CodesError::Invalid(item.to_string())),
                }
            })
            .collect()
    }

    /// The code list as [`FailoverPolicy::parse_codes`] reads it.
    pub fn codes_text(&self) -> String {
        struct Codes<'a>(&'a [RangeInclusive<u16>]);
        impl fmt::Display for Codes<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for (i, r) in self.0.iter().enumerate() {
                    let sep = if i > 0 { ", " } else { "" };
                    if r.start() == r.end() {
                        write!(f, "{sep}{}", r.start())?;
                    } else {
                        write!(f, "{sep}{}-{}", r.start(), r.end())?;
                    }
                }
                Ok(())
            }
        }
        Codes(&self.codes).to_string()
    }
}

/// Whether to try the next carrier after an attempt ended with `outcome`.
pub fn should_failover(outcome: AttemptOutcome, policy: &FailoverPolicy) -> bool {
    match outcome {
        AttemptOutcome::Final(code) => policy.codes.iter().any(|r| r.contains(&code)),
        AttemptOutcome::NoTrying => policy.on_no_trying,
        AttemptOutcome::NoRinging => policy.on_no_ringing,
        AttemptOutcome::TransportError => policy.on_transport_error,
        AttemptOutcome::EarlyMedia | AttemptOutcome::Answered => false,
    }
}
