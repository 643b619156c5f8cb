//! Credit control: how long each of one user's live paid calls may go on. Pure: events and
//! `now` in, outputs and the next deadline out (no clock, no tokio, no database).
//!
//! A [`Wallet`] holds what the user may spend (`available`: balance + credit limit − charges of
//! ended calls not yet posted) and, per live call, what the call has **committed**: money set
//! aside that no other call can use.
//!
//! - At set-up a call commits its first chunk (the connection fee and the first increment, or
//!   the minimum duration when longer): [`Wallet::authorize`] refuses the call when that is
//!   more than what is left.
//! - Once answered, the call commits each next increment when it starts (at its *boundary*),
//!   if what is left covers it. If not, the call is cut at that boundary
//!   ([`Output::Cutoff`]): it has been paid exactly up to there.
//! - The *deadline* of each call is planned by playing all the user's answered calls forward
//!   together, increment by increment in time order, until the money runs out (at most
//!   `horizon` ahead). It is recomputed whenever something other than a planned commit
//!   happens (a call starts, is answered, ends; the funds change), so calls that start later
//!   shorten the others' deadlines and top-ups lengthen them. Warnings go out 60 s and 10 s
//!   before a deadline.
//!
//! Invariant: the sum of what live calls committed never exceeds `available` (while funds only
//! grow or are debited by the calls' own charges), and a call's charge never exceeds what it
//! committed: when it ends, [`Wallet::settle`] gives the paid talk time, and the charge is
//! rated on `min(talk, paid)`. Policy for the last partial increment: it is paid in advance
//! when it starts, so it is always covered; the moments between a deadline and the call's
//! actual end (the cutoff's latency) are never billed.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, VecDeque},
    time::{Duration, Instant},
};

use crate::rating::{Money, Tariff, billable_seconds, price_of};

/// Warnings before a cutoff, in seconds before the deadline.
pub const WARNINGS: [u64; 2] = [60, 10];

/// How far ahead deadlines are planned; a call that can go on longer has none.
pub const HORIZON: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<K> {
    /// The call's money changed: what it committed so far and its planned deadline (`None`:
    /// beyond the horizon, or a free call).
    Credit { call: K, committed: Money, deadline: Option<Instant> },
    /// The call will be cut in `seconds_left`.
    Warning { call: K, seconds_left: u64 },
    /// The call reached a boundary it cannot pay: end it now (`credit_exhausted`).
    Cutoff { call: K },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the call needs {needed} to start and {left} is left")]
pub struct Refused {
    pub needed: Money,
    pub left: Money,
}

/// How a call ended, for its charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The talk time paid for, in seconds: charge at most this much (`None`: no limit, a
    /// free tariff or a call that was never answered).
    pub paid_secs: Option<u64>,
    pub committed: Money,
}

#[derive(Debug, Clone)]
struct Hold {
    tariff: Tariff,
    answered: Option<Instant>,
    /// Talk seconds paid for; meaningful once answered.
    paid_secs: u64,
    committed: Money,
    deadline: Option<Instant>,
    /// Warnings already sent for the current deadline (indexes into `WARNINGS`).
    warned: [bool; 2],
    /// Reached a boundary it could not pay; waiting for its end.
    cut: bool,
}

impl Hold {
    fn free(&self) -> bool {
        self.tariff.per_minute == Money::ZERO
    }

    /// When the next increment starts (answered, paid calls that are not cut).
    fn boundary(&self) -> Option<Instant> {
        let at = self.answered?;
        (!self.cut && !self.free()).then(|| at + Duration::from_secs(self.paid_secs))
    }
}

/// The cost of the first chunk of a call: connection fee plus the first increment (or the
/// minimum duration). Nothing can be spent before answer; this is what set-up sets aside.
fn first_chunk(t: &Tariff) -> (u64, Money) {
    let secs = billable_seconds(t, 1);
    (secs, t.connection_fee + price_of(t.per_minute, secs))
}

/// What going from `paid` to the next increment costs, and the new paid time.
fn next_step(t: &Tariff, paid: u64) -> (u64, Money) {
    let next = paid + u64::from(t.next_increment);
    (next, price_of(t.per_minute, next) - price_of(t.per_minute, paid))
}

#[derive(Debug)]
pub struct Wallet<K: Ord + Clone> {
    available: Money,
    calls: BTreeMap<K, Hold>,
    outputs: VecDeque<Output<K>>,
    /// When the plan must be redone because the horizon moved on.
    replan_at: Option<Instant>,
}

impl<K: Ord + Clone> Wallet<K> {
    pub fn new(available: Money) -> Self {
        Self { available, calls: BTreeMap::new(), outputs: VecDeque::new(), replan_at: None }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub fn available(&self) -> Money {
        self.available
    }

    /// What live calls have set aside.
    pub fn committed(&self) -> Money {
        self.calls.values().map(|h| h.committed).sum()
    }

    /// What a new call could still use.
    pub fn left(&self) -> Money {
        self.available - self.committed()
    }

    /// A new call at `tariff`: sets its first chunk aside, or refuses it.
    pub fn authorize(&mut self, now: Instant, call: K, tariff: Tariff) -> Result<(), Refused> {
        self.handle_timeout(now);
        let (_, needed) = first_chunk(&tariff);
        let left = self.left();
        if needed > left {
            return Err(Refused { needed, left });
        }
        let hold = Hold {
            tariff,
            answered: None,
            paid_secs: 0,
            committed: needed,
            deadline: None,
            warned: [false; 2],
            cut: false,
        };
        self.calls.insert(call, hold);
        Ok(())
    }

    /// The call was answered at `now`: its first chunk is now being used.
    pub fn answered(&mut self, now: Instant, call: &K) {
        self.handle_timeout(now);
        let Some(h) = self.calls.get_mut(call) else { return };
        if h.answered.is_some() {
            return;
        }
        h.answered = Some(now);
        h.paid_secs = first_chunk(&h.tariff).0;
        let committed = h.committed;
        let before = self.outputs.len();
        self.replan(now);
        // The call's first `Credit` (the plan says it only when its deadline is within reach).
        if !self.outputs.iter().skip(before).any(|o| matches!(o, Output::Credit { call: c, .. } if c == call)) {
            self.outputs.push_back(Output::Credit { call: call.clone(), committed, deadline: None });
        }
    }

    /// The call ended and `charged` (at most its `settle`d commitment) was stored as its
    /// charge: the call is forgotten and the charge leaves `available`.
    pub fn end(&mut self, now: Instant, call: &K, charged: Money) {
        if self.calls.remove(call).is_some() {
            self.available = self.available - charged;
            self.replan(now);
        }
    }

    /// The call is ending at `now`: commits what was due until then (if it can), stops it
    /// committing more, and says how much talk was paid for. Its commitment stays set aside
    /// until [`Wallet::end`] says what was charged.
    pub fn settle(&mut self, now: Instant, call: &K) -> Option<Settled> {
        self.handle_timeout(now);
        let h = self.calls.get_mut(call)?;
        // A call that ends stops committing, whatever happens before `end`.
        h.cut = true;
        let paid_secs = (h.answered.is_some() && !h.free()).then_some(h.paid_secs);
        Some(Settled { paid_secs, committed: h.committed })
    }

    /// The user's funds changed (a top-up, a refund, a posted charge).
    pub fn set_available(&mut self, now: Instant, available: Money) {
        self.handle_timeout(now);
        if available != self.available {
            self.available = available;
            self.replan(now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        // Commits and cutoffs, earliest boundary first: that is the order the plan assumed.
        let mut changed = false;
        while let Some((at, call)) =
            self.calls.iter().filter_map(|(k, h)| Some((h.boundary()?, k.clone()))).filter(|(at, _)| *at <= now).min()
        {
            let left = self.left();
            let h = self.calls.get_mut(&call).expect("listed above");
            let (paid, cost) = next_step(&h.tariff, h.paid_secs);
            if cost <= left {
                h.paid_secs = paid;
                h.committed += cost;
                let (committed, deadline) = (h.committed, h.deadline);
                self.outputs.push_back(Output::Credit { call, committed, deadline });
                // A commit the plan did not foresee (it could not see this far) means re-plan.
                changed |= deadline.is_some_and(|d| d <= at);
            } else {
                h.cut = true;
                self.outputs.push_back(Output::Cutoff { call });
                changed = true;
            }
        }
        if changed || self.replan_at.is_some_and(|t| t <= now) {
            self.replan(now);
        }
        for (call, h) in &mut self.calls {
            let Some(deadline) = h.deadline.filter(|_| !h.cut) else { continue };
            if now >= deadline {
                h.warned = [true; 2];
                continue;
            }
            let mut due = false;
            for (before, warned) in WARNINGS.iter().zip(&mut h.warned) {
                if !*warned && now >= deadline.checked_sub(Duration::from_secs(*before)).unwrap_or(deadline) {
                    // Several due at once (a plan made late) are said once, with the time left.
                    *warned = true;
                    due = true;
                }
            }
            if due {
                let seconds_left = (deadline - now).as_millis().div_ceil(1000) as u64;
                self.outputs.push_back(Output::Warning { call: call.clone(), seconds_left });
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output<K>> {
        self.outputs.pop_front()
    }

    /// The next moment `handle_timeout` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let boundaries = self.calls.values().filter_map(Hold::boundary);
        let warnings = self.calls.values().filter(|h| !h.cut).flat_map(|h| {
            WARNINGS.iter().zip(h.warned).filter(|(_, warned)| !warned).filter_map(|(before, _)| {
                let d = h.deadline?;
                Some(d.checked_sub(Duration::from_secs(*before)).unwrap_or(d))
            })
        });
        boundaries.chain(warnings).chain(self.replan_at).min()
    }

    /// Plays the answered calls forward together from what is left now, increment by
    /// increment in time order, and gives each the boundary it cannot pay (its deadline).
    fn replan(&mut self, now: Instant) {
        let limit = now + HORIZON;
        let mut left = self.left();
        let mut heap = BinaryHeap::new();
        let mut paid: BTreeMap<K, u64> = BTreeMap::new();
        for (k, h) in &self.calls {
            if let Some(at) = h.boundary() {
                heap.push(Reverse((at, k.clone())));
                paid.insert(k.clone(), h.paid_secs);
            }
        }
        let mut deadlines: BTreeMap<K, Instant> = BTreeMap::new();
        let mut beyond = false;
        while let Some(Reverse((at, k))) = heap.pop() {
            if at > limit {
                beyond = true;
                break;
            }
            let h = &self.calls[&k];
            let p = paid.get_mut(&k).expect("inserted with the heap entry");
            let (next, cost) = next_step(&h.tariff, *p);
            if cost <= left {
                left = left - cost;
                *p = next;
                heap.push(Reverse((at + Duration::from_secs(u64::from(h.tariff.next_increment)), k)));
            } else {
                deadlines.insert(k, at);
            }
        }
        // Calls still going at the horizon are planned again halfway there.
        self.replan_at = beyond.then(|| now + HORIZON / 2);
        for (k, h) in &mut self.calls {
            let deadline = if h.cut { h.deadline } else { deadlines.get(k).copied() };
            if deadline != h.deadline {
                // A later deadline (a top-up) earns its warnings again.
                if deadline.is_none_or(|new| h.deadline.is_some_and(|old| new > old)) {
                    h.warned = [false; 2];
                }
                h.deadline = deadline;
                if h.answered.is_some() {
                    self.outputs.push_back(Output::Credit { call: k.clone(), committed: h.committed, deadline });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
