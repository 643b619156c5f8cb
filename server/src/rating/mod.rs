//! Rating: what a call costs under a tariff. Pure: no clock, no database, no floats.
//!
//! A tariff has a price per minute, a connection fee, a minimum duration and billing
//! increments (first, then next: 60/60, 1/1, 30/6, …). An unanswered call costs nothing. An
//! answered call of `d` seconds (talk time rounded **up** to the second) is billed for
//! `b = F` when `max(d, min) ≤ F`, else `F + ⌈(max(d, min) − F) / N⌉·N` seconds, and costs
//! `connection fee + ⌈price per minute · b / 60⌉` micro-units: fractions of a micro-unit are
//! rounded up, once, at the end.

pub mod money;

use std::time::Duration;

pub use money::{Money, MoneyError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tariff {
    pub per_minute: Money,
    pub connection_fee: Money,
    /// Seconds billed at least, once answered.
    pub min_duration: u32,
    /// The first billing increment, in seconds (≥ 1).
    pub first_increment: u32,
    /// Every later increment, in seconds (≥ 1).
    pub next_increment: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    #[error("prices cannot be negative")]
    Negative,
    #[error("billing increments must be at least 1 second")]
    ZeroIncrement,
}

impl Tariff {
    pub fn new(
        per_minute: Money,
        connection_fee: Money,
        min_duration: u32,
        first_increment: u32,
        next_increment: u32,
    ) -> Result<Self, TariffError> {
        if per_minute.0 < 0 || connection_fee.0 < 0 {
            return Err(TariffError::Negative);
        }
        if first_increment == 0 || next_increment == 0 {
            return Err(TariffError::ZeroIncrement);
        }
        Ok(Self { per_minute, connection_fee, min_duration, first_increment, next_increment })
    }
}

/// The result of rating one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub billable_secs: u64,
    pub amount: Money,
}

impl Charge {
    pub const NONE: Charge = Charge { billable_secs: 0, amount: Money::ZERO };
}

/// Seconds billed for `talk_secs` of answered talk time.
pub fn billable_seconds(t: &Tariff, talk_secs: u64) -> u64 {
    let d = talk_secs.max(u64::from(t.min_duration));
    let first = u64::from(t.first_increment);
    let next = u64::from(t.next_increment);
    if d <= first { first } else { first + (d - first).div_ceil(next) * next }
}

/// The price of `billable_secs` seconds at `per_minute`, without the connection fee.
pub fn price_of(per_minute: Money, billable_secs: u64) -> Money {
    let micros = i128::from(per_minute.0) * i128::from(billable_secs);
    let rounded_up = micros.div_euclid(60) + i128::from(micros.rem_euclid(60) != 0);
    Money(i64::try_from(rounded_up).unwrap_or(i64::MAX))
}

/// What a call costs. `talk` is `None` for a call that was never answered.
pub fn rate(t: &Tariff, talk: Option<Duration>) -> Charge {
    let Some(talk) = talk else { return Charge::NONE };
    let talk_secs = talk.as_secs() + u64::from(talk.subsec_nanos() > 0);
    let billable_secs = billable_seconds(t, talk_secs);
    Charge { billable_secs, amount: t.connection_fee + price_of(t.per_minute, billable_secs) }
}

/// Whether `available` covers the start of a call: its connection fee and first increment
/// (or its minimum duration, when longer).
pub fn covers_first_increment(t: &Tariff, available: Money) -> bool {
    rate(t, Some(Duration::from_secs(1))).amount <= available
}

/// The longest talk time, in whole seconds, whose charge stays within `available`; `None` when
/// the call cannot even start. Free tariffs are unlimited (`u64::MAX`).
pub fn affordable_secs(t: &Tariff, available: Money) -> Option<u64> {
    if !covers_first_increment(t, available) {
        return None;
    }
    if t.per_minute == Money::ZERO {
        return Some(u64::MAX);
    }
    // The charge never decreases with talk time: binary search the last affordable second.
    let (mut lo, mut hi) = (1_u64, 1_u64 << 40);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if rate(t, Some(Duration::from_secs(mid))).amount <= available { lo = mid } else { hi = mid - 1 }
    }
    Some(lo)
}

/// The periods two rates apply in overlap: `[from, until)`, `None` for "no end".
pub fn periods_overlap<T: Ord>(a: (T, Option<T>), b: (T, Option<T>)) -> bool {
    let starts_before_end = |start: &T, end: &Option<T>| end.as_ref().is_none_or(|e| start < e);
    starts_before_end(&a.0, &b.1) && starts_before_end(&b.0, &a.1)
}

#[cfg(test)]
mod tests;
