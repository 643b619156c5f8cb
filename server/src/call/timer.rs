//! A call's timers: a closed set, each either armed at a deadline or not (after quinn-proto's
//! `TimerTable`). The call never sleeps; the shell asks for the earliest deadline and calls back.

use std::time::Instant;

use super::Side;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// While ringing: give up with `NoAnswer`. Armed by `Call::new`, stopped by an answer.
    Ring,
    /// A device of this side went away: give up with `ConnectionLost` unless it comes back.
    /// Armed by `DeviceLost`, stopped by `DeviceBack`. Only the caller's can run while ringing;
    /// a ringing callee device that goes away just stops ringing.
    Grace(Side),
}

impl Timer {
    /// In this order when two are due at the same instant: ringing out is the older fact.
    const VALUES: [Timer; 3] = [Timer::Ring, Timer::Grace(Side::Caller), Timer::Grace(Side::Callee)];

    fn index(self) -> usize {
        match self {
            Timer::Ring => 0,
            Timer::Grace(Side::Caller) => 1,
            Timer::Grace(Side::Callee) => 2,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct TimerTable {
    deadlines: [Option<Instant>; Timer::VALUES.len()],
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, deadline: Instant) {
        self.deadlines[timer.index()] = Some(deadline);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(super) fn is_set(&self, timer: Timer) -> bool {
        self.deadlines[timer.index()].is_some()
    }

    pub(super) fn stop_all(&mut self) {
        *self = TimerTable::default();
    }

    pub(super) fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The expired timer with the earliest deadline. Earliest, not first in the table: if the
    /// shell wakes late and finds both the ring timer and a grace timer expired, the call ended
    /// for whichever reason happened first.
    pub(super) fn next_expired(&self, now: Instant) -> Option<Timer> {
        Timer::VALUES
            .into_iter()
            .filter_map(|timer| self.deadlines[timer.index()].map(|deadline| (deadline, timer)))
            .filter(|&(deadline, _)| deadline <= now)
            .min_by_key(|&(deadline, _)| deadline)
            .map(|(_, timer)| timer)
    }
}
