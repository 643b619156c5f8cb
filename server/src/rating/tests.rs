use std::time::Duration;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;

/// `tariff` is `per_minute fee min first/next`, e.g. `0.0125 0.05 0 60/60`; each duration is
/// seconds (with decimals for milliseconds), or `-` for unanswered.
#[track_caller]
fn check(tariff: &str, durations: &str, expect: Expect) {
    let parts: Vec<&str> = tariff.split_whitespace().collect();
    let (first, next) = parts[3].split_once('/').unwrap();
    let t = Tariff::new(
        Money::parse(parts[0]).unwrap(),
        Money::parse(parts[1]).unwrap(),
        parts[2].parse().unwrap(),
        first.parse().unwrap(),
        next.parse().unwrap(),
    )
    .unwrap();
    let rendered: Vec<String> = durations
        .split_whitespace()
        .map(|d| {
            let talk = (d != "-").then(|| {
                let (s, ms) = d.split_once('.').unwrap_or((d, "0"));
                Duration::from_secs(s.parse().unwrap()) + Duration::from_millis(format!("{ms:0<3}").parse().unwrap())
            });
            let c = rate(&t, talk);
            format!("{:<8} → {:>4}s billed, {}", format!("{d}s"), c.billable_secs, c.amount)
        })
        .collect();
    expect.assert_eq(&rendered.join("\n"));
}

#[test]
fn per_minute_billing_60_60() {
    check(
        "0.0125 0 0 60/60",
        "- 0 1 59 60 60.001 61 120 121",
        expect![[r#"
            -s       →    0s billed, 0.000000
            0s       →   60s billed, 0.012500
            1s       →   60s billed, 0.012500
            59s      →   60s billed, 0.012500
            60s      →   60s billed, 0.012500
            60.001s  →  120s billed, 0.025000
            61s      →  120s billed, 0.025000
            120s     →  120s billed, 0.025000
            121s     →  180s billed, 0.037500"#]],
    );
}

#[test]
fn per_second_billing_with_fee_rounds_fractions_up_once() {
    // 0.01/min is 166.66… µ a second: 1 s costs 167 µ, 3 s exactly 500 µ.
    check(
        "0.01 0.05 0 1/1",
        "1 2 3 59.5",
        expect![[r#"
            1s       →    1s billed, 0.050167
            2s       →    2s billed, 0.050334
            3s       →    3s billed, 0.050500
            59.5s    →   60s billed, 0.060000"#]],
    );
}

#[test]
fn thirty_then_six_with_a_minimum() {
    check(
        "0.06 0 45 30/6",
        "1 30 45 46 52 53",
        expect![[r#"
            1s       →   48s billed, 0.048000
            30s      →   48s billed, 0.048000
            45s      →   48s billed, 0.048000
            46s      →   48s billed, 0.048000
            52s      →   54s billed, 0.054000
            53s      →   54s billed, 0.054000"#]],
    );
}

#[test]
fn refuses_bad_tariffs() {
    assert_eq!(Tariff::new(Money(-1), Money::ZERO, 0, 1, 1), Err(TariffError::Negative));
    assert_eq!(Tariff::new(Money(1), Money(-1), 0, 1, 1), Err(TariffError::Negative));
    assert_eq!(Tariff::new(Money(1), Money::ZERO, 0, 0, 1), Err(TariffError::ZeroIncrement));
    assert_eq!(Tariff::new(Money(1), Money::ZERO, 0, 1, 0), Err(TariffError::ZeroIncrement));
}

fn tariffs() -> impl Strategy<Value = Tariff> {
    (0i64..10_000_000, 0i64..1_000_000, 0u32..600, 1u32..120, 1u32..120)
        .prop_map(|(p, f, m, a, b)| Tariff::new(Money(p), Money(f), m, a, b).unwrap())
}

proptest! {
    #[test]
    fn charge_never_decreases_with_duration(t in tariffs(), a in 0u64..100_000, b in 0u64..100_000) {
        let (short, long) = (a.min(b), a.max(b));
        let (cs, cl) = (rate(&t, Some(Duration::from_secs(short))), rate(&t, Some(Duration::from_secs(long))));
        prop_assert!(cs.amount <= cl.amount && cs.billable_secs <= cl.billable_secs);
    }

    #[test]
    fn charge_is_fee_plus_whole_increments_rounded_up(t in tariffs(), secs in 0u64..100_000) {
        let c = rate(&t, Some(Duration::from_secs(secs)));
        let d = secs.max(u64::from(t.min_duration));
        // Billed time covers the call, is the first increment plus whole next increments, and
        // is less than one increment too long.
        prop_assert!(c.billable_secs >= d);
        prop_assert!(c.billable_secs >= u64::from(t.first_increment));
        if c.billable_secs > u64::from(t.first_increment) {
            prop_assert_eq!((c.billable_secs - u64::from(t.first_increment)) % u64::from(t.next_increment), 0);
            prop_assert!(c.billable_secs - d < u64::from(t.next_increment));
        }
        // Amount: the fee plus the exact price, rounded up to the micro-unit.
        let exact_times_60 = i128::from(t.per_minute.0) * i128::from(c.billable_secs);
        let price = i128::from((c.amount - t.connection_fee).0);
        prop_assert!(price * 60 >= exact_times_60 && price * 60 < exact_times_60 + 60);
    }

    #[test]
    fn money_text_round_trips(micros in -1_000_000_000_000i64..1_000_000_000_000) {
        prop_assert_eq!(Money::parse(&Money(micros).to_string()), Ok(Money(micros)));
    }
}

#[test]
fn what_the_balance_allows() {
    let t = |per_minute: i64, fee: i64, first: u32, next: u32| {
        Tariff::new(Money(per_minute), Money(fee), 0, first, next).unwrap()
    };
    // 0.60/min per second with 0.10 to connect: 1.00 buys 0.10 + 90 s at 0.01/s.
    assert_eq!(affordable_secs(&t(600_000, 100_000, 1, 1), Money(1_000_000)), Some(90));
    // 60/60 at 1.00/min: 2.50 buys two whole minutes.
    assert_eq!(affordable_secs(&t(1_000_000, 0, 60, 60), Money(2_500_000)), Some(120));
    assert_eq!(affordable_secs(&t(1_000_000, 0, 60, 60), Money(999_999)), None);
    assert!(covers_first_increment(&t(1_000_000, 0, 60, 60), Money(1_000_000)));
    assert_eq!(affordable_secs(&t(0, 0, 60, 60), Money::ZERO), Some(u64::MAX));
}

#[test]
fn effective_periods() {
    assert!(periods_overlap((1, None), (5, Some(9))));
    assert!(periods_overlap((1, Some(6)), (5, Some(9))));
    assert!(!periods_overlap((1, Some(5)), (5, Some(9))), "until is exclusive");
    assert!(!periods_overlap((9, None), (5, Some(9))));
    assert!(periods_overlap((9, None), (10, None)));
}

proptest! {
    #[test]
    fn affordable_time_is_the_most_the_balance_buys(t in tariffs(), available in 0i64..50_000_000) {
        if let Some(secs) = affordable_secs(&t, Money(available)).filter(|s| *s < u64::MAX) {
            prop_assert!(rate(&t, Some(Duration::from_secs(secs))).amount <= Money(available));
            prop_assert!(rate(&t, Some(Duration::from_secs(secs + 1))).amount > Money(available));
        }
    }
}
