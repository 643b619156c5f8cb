//! When a failed attempt on one carrier moves on to the next: the administrator's policy, as
//! configured and as sent to the gateway, which applies it to each attempt
//! (`gateway::attempts`).

use std::{fmt, ops::RangeInclusive};

/// When to try the next carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// Final responses that fail over; any other code does not. Default: 408, 480, 500–599,
    /// which leaves out 404 (the number does not exist anywhere), 486 (busy), 600 and 603
    /// (busy or declined everywhere): another carrier reaches the same person.
    pub codes: Vec<RangeInclusive<u16>>,
    /// Give up a gateway that sends nothing at all for this long (0: the SIP timeout).
    pub trying_ms: u64,
    /// Give up a carrier that does not ring (18x) for this long (0: never).
    pub ringing_ms: u64,
    pub on_transport_error: bool,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            codes: vec![408..=408, 480..=480, 500..=599],
            trying_ms: 2000,
            ringing_ms: 0,
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

impl FailoverPolicy {
    /// What the gateway is told with each call.
    pub fn to_wire(&self) -> protocol::gateway::Failover {
        protocol::gateway::Failover {
            codes: self.codes.iter().map(|r| (*r.start(), *r.end())).collect(),
            trying_ms: self.trying_ms,
            ringing_ms: self.ringing_ms,
            on_transport_error: self.on_transport_error,
        }
    }
}
