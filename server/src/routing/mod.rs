//! Least-cost routing: which carriers to try for a call, in what order, and why each of the
//! others is out. Pure: no clock, no database, no I/O but the `BufRead` a deck is read from.
//!
//! - [`deck`]: a carrier's buy rates as CSV, read as a stream and checked line by line.
//! - [`index`]: every carrier's active deck in one immutable prefix index.
//! - [`select`] (here): the carriers for a number, cheapest first, with a [`Verdict`] for
//!   every carrier, chosen or not, which the admin route simulator shows and calls store.
//! - [`failover`]: whether a failed attempt moves on to the next carrier.
//!
//! The shell loads decks and carrier state, builds and swaps the index, and places the calls.

pub mod deck;
pub mod failover;
pub mod health;
mod huge;
pub mod index;
pub mod packed;
pub mod table;

use std::{cmp::Reverse, fmt};

pub use deck::{DeckError, DeckErrorKind, DeckErrors, DeckRow, DeckSummary, parse_deck, write_deck};
pub use failover::FailoverPolicy;
pub use index::{CarrierId, Lookup, Match, Prefix, PrefixError, PrefixIndex};

use crate::rating::{Money, Tariff};

/// What routing needs to know about a carrier right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierState {
    pub id: CarrierId,
    pub name: String,
    /// Switched on by an administrator.
    pub enabled: bool,
    /// Its circuit breaker is open: recent attempts failed, it is resting.
    pub circuit_open: bool,
    /// At its concurrent-call or calls-per-second limit.
    pub at_capacity: bool,
    /// Answer-seizure ratio, in thousandths, when there are enough recent calls to tell.
    pub asr_permille: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Route through carriers that cost at least what the call sells for.
    pub allow_loss: bool,
    /// How many carriers a call tries at most.
    pub max_attempts: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { allow_loss: false, max_attempts: 3 }
    }
}

/// A carrier to try, and what it charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub carrier: CarrierId,
    pub prefix: Prefix,
    pub tariff: Tariff,
}

/// Why a carrier is, or is not, among the routes. The first reason that applies, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Tried in this place, from 1.
    Chosen {
        rank: usize,
    },
    /// Switched off by an administrator.
    Disabled,
    /// Its deck has no prefix of the number.
    NoPrefix,
    CircuitOpen,
    AtCapacity,
    /// Buys at or above the sell price (or there is no sell price) and losses are not allowed.
    NotProfitable {
        buy: Money,
        sell: Option<Money>,
    },
    /// Would be tried in this place, but that is past [`Policy::max_attempts`].
    BeyondMaxAttempts {
        rank: usize,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Chosen { rank } => write!(f, "route {rank}"),
            Outcome::Disabled => f.write_str("disabled"),
            Outcome::NoPrefix => f.write_str("no prefix for this number"),
            Outcome::CircuitOpen => f.write_str("circuit open after recent failures"),
            Outcome::AtCapacity => f.write_str("at capacity (calls or calls per second)"),
            Outcome::NotProfitable { buy, sell: Some(sell) } => {
                write!(f, "not profitable: buys at {buy}, sells at {sell}")
            }
            Outcome::NotProfitable { buy, sell: None } => write!(f, "not profitable: buys at {buy}, no sell price"),
            Outcome::BeyondMaxAttempts { rank } => write!(f, "would be route {rank}, past the attempt limit"),
        }
    }
}

/// One carrier's part in a selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub carrier: CarrierId,
    pub name: String,
    pub asr_permille: Option<u16>,
    /// Its longest prefix of the number and that prefix's tariff, whatever the outcome.
    pub matched: Option<(Prefix, Tariff)>,
    pub outcome: Outcome,
}

/// `alpha [1] 4477 0.010000/min ASR 52.0%: route 1`
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.name, self.carrier)?;
        if let Some((prefix, tariff)) = &self.matched {
            write!(f, " {prefix} {}/min", tariff.per_minute)?;
        }
        if let Some(asr) = self.asr_permille {
            write!(f, " ASR {}.{}%", asr / 10, asr % 10)?;
        }
        write!(f, ": {}", self.outcome)
    }
}

/// The carriers to try, in order, and a verdict on every carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub routes: Vec<Route>,
    /// Every carrier of the input: those with a prefix in route order (including the ones left
    /// out, where they would have ranked), then those without, by id.
    pub verdicts: Vec<Verdict>,
}

/// One verdict per line.
impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.verdicts.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// The routes for a call to `number` (E.164 digits, `+` optional) that sells at `sell` per
/// minute (`None`: no retail rate known), through `carriers` (one state each; carriers in the
/// index but not here are ignored).
///
/// Routes are ordered by buy price per minute, then ASR (highest first, unknown last), then
/// carrier id. Margin protection compares prices per minute only: a carrier is kept when it buys
/// strictly below the sell price. Without a sell price nothing can be shown to be profitable, so
/// every carrier is left out unless [`Policy::allow_loss`].
pub fn select(
    index: &PrefixIndex,
    number: &str,
    sell: Option<Money>,
    carriers: &[CarrierState],
    policy: &Policy,
) -> Selection {
    let mut matches: Vec<Match<'_>> = index.lookup(number).collect();
    matches.sort_unstable_by_key(|m| m.carrier);

    let mut judged: Vec<(bool, Verdict)> = carriers
        .iter()
        .map(|c| {
            let matched = matches
                .binary_search_by_key(&c.id, |m| m.carrier)
                .ok()
                .map(|i| (matches[i].prefix, *matches[i].tariff));
            let rejected = match &matched {
                _ if !c.enabled => Some(Outcome::Disabled),
                None => Some(Outcome::NoPrefix),
                Some(_) if c.circuit_open => Some(Outcome::CircuitOpen),
                Some(_) if c.at_capacity => Some(Outcome::AtCapacity),
                Some((_, t)) => match sell {
                    _ if policy.allow_loss => None,
                    Some(sell) if t.per_minute < sell => None,
                    _ => Some(Outcome::NotProfitable { buy: t.per_minute, sell }),
                },
            };
            let eligible = rejected.is_none();
            let outcome = rejected.unwrap_or(Outcome::Chosen { rank: 0 });
            (eligible, Verdict { carrier: c.id, name: c.name.clone(), asr_permille: c.asr_permille, matched, outcome })
        })
        .collect();

    judged.sort_by_key(|(_, v)| match v.matched {
        Some((_, t)) => (false, t.per_minute, Reverse(v.asr_permille), v.carrier),
        None => (true, Money::ZERO, Reverse(None), v.carrier),
    });
    let mut routes = Vec::new();
    let mut rank = 0;
    for (_, v) in judged.iter_mut().filter(|(eligible, _)| *eligible) {
        rank += 1;
        v.outcome = if rank <= policy.max_attempts {
            if let Some((prefix, tariff)) = v.matched {
                routes.push(Route { carrier: v.carrier, prefix, tariff });
            }
            Outcome::Chosen { rank }
        } else {
            Outcome::BeyondMaxAttempts { rank }
        };
    }
    Selection { routes, verdicts: judged.into_iter().map(|(_, v)| v).collect() }
}

#[cfg(test)]
mod tests;
