//! The dashboard's statistics, pure: facts (calls, routing attempts, money movements) go in one
//! at a time, as storage streams them, and a `Report` comes out. Sums only, so a period of a
//! million calls takes constant memory besides its buckets.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, DurationRound, NaiveDate, Utc};

use crate::rating::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    pub fn step(self) -> Duration {
        match self {
            Bucket::Hour => Duration::hours(1),
            Bucket::Day => Duration::days(1),
        }
    }

    /// The start of the bucket `t` falls in (UTC).
    pub fn start(self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.duration_trunc(self.step()).unwrap_or(t)
    }
}

/// A call started in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFact {
    pub at: DateTime<Utc>,
    pub answered: bool,
    pub billable_secs: u64,
    /// What the caller was charged.
    pub charge: Money,
    /// What the carrier charges us.
    pub cost: Money,
    /// The retail prefix it was sold at.
    pub prefix: Option<String>,
}

/// A routing attempt started in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFact {
    pub carrier_id: Option<i64>,
    pub carrier_name: String,
    pub answered: bool,
    pub pdd_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Money that moved in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyFact {
    /// Card money in (negative: a refund or a dispute).
    TopUp { at: DateTime<Utc>, amount: Money },
    /// A call's charge posted to the ledger.
    Charge { at: DateTime<Utc>, amount: Money },
    /// An administrator's manual credit (positive) or debit (negative) of a balance.
    Adjustment { at: DateTime<Utc>, amount: Money },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub calls: u64,
    pub answered: u64,
    pub seconds: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sales {
    pub revenue: Money,
    pub cost: Money,
}

impl Sales {
    pub fn margin(self) -> Money {
        Money(self.revenue.0 - self.cost.0)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayMoney {
    pub sales: Sales,
    pub topups: Money,
    pub adjustments: Money,
    pub charges: Money,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarrierFigures {
    pub carrier_id: Option<i64>,
    pub name: String,
    pub attempts: u64,
    pub answered: u64,
    talk_ms: i64,
    pdd_ms: i64,
    pdd_samples: u64,
}

impl CarrierFigures {
    /// Answer-seizure ratio in thousandths.
    pub fn asr_permille(&self) -> Option<u16> {
        (self.attempts > 0).then(|| u16::try_from(self.answered * 1000 / self.attempts).unwrap_or(1000))
    }
    /// Average duration of the answered attempts, seconds.
    pub fn acd_secs(&self) -> Option<i64> {
        let answered = i64::try_from(self.answered).ok().filter(|a| *a > 0)?;
        Some(self.talk_ms / answered / 1000)
    }
    /// Average post-dial delay, milliseconds.
    pub fn pdd_ms(&self) -> Option<i64> {
        let n = i64::try_from(self.pdd_samples).ok().filter(|n| *n > 0)?;
        Some(self.pdd_ms / n)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destination {
    pub prefix: String,
    pub counts: Counts,
    pub sales: Sales,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    /// Every bucket of the period, oldest first, empty ones included.
    pub series: Vec<(DateTime<Utc>, Counts)>,
    /// Every day of the period, oldest first.
    pub days: Vec<(NaiveDate, DayMoney)>,
    /// Most attempts first.
    pub carriers: Vec<CarrierFigures>,
    /// Most billed seconds first, at most `TOP_DESTINATIONS`.
    pub destinations: Vec<Destination>,
    pub counts: Counts,
    pub money: DayMoney,
}

/// How many destinations the report lists.
pub const TOP_DESTINATIONS: usize = 20;

/// Sums facts of `[from, to)` into a `Report`.
pub struct Stats {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Bucket,
    series: BTreeMap<DateTime<Utc>, Counts>,
    days: BTreeMap<NaiveDate, DayMoney>,
    carriers: HashMap<(Option<i64>, String), CarrierFigures>,
    destinations: HashMap<String, Destination>,
}

impl Stats {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, bucket: Bucket) -> Self {
        let mut series = BTreeMap::new();
        let mut t = bucket.start(from);
        while t < to {
            series.insert(t, Counts::default());
            t += bucket.step();
        }
        let mut days = BTreeMap::new();
        let mut d = from.date_naive();
        while d.and_time(chrono::NaiveTime::MIN).and_utc() < to {
            days.insert(d, DayMoney::default());
            let Some(next) = d.succ_opt() else { break };
            d = next;
        }
        Self { from, to, bucket, series, days, carriers: HashMap::new(), destinations: HashMap::new() }
    }

    fn within(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    pub fn add_call(&mut self, c: CallFact) {
        if !self.within(c.at) {
            return;
        }
        let add = |n: &mut Counts| {
            n.calls += 1;
            n.answered += u64::from(c.answered);
            n.seconds += c.billable_secs;
        };
        add(self.series.entry(self.bucket.start(c.at)).or_default());
        let day = self.days.entry(c.at.date_naive()).or_default();
        day.sales.revenue += c.charge;
        day.sales.cost += c.cost;
        if let Some(prefix) = c.prefix {
            let d =
                self.destinations.entry(prefix.clone()).or_insert_with(|| Destination { prefix, ..Default::default() });
            add(&mut d.counts);
            d.sales.revenue += c.charge;
            d.sales.cost += c.cost;
        }
    }

    pub fn add_attempt(&mut self, a: AttemptFact) {
        let key = (a.carrier_id, a.carrier_name.clone());
        let f = self.carriers.entry(key).or_insert_with(|| CarrierFigures {
            carrier_id: a.carrier_id,
            name: a.carrier_name,
            ..Default::default()
        });
        f.attempts += 1;
        if a.answered {
            f.answered += 1;
            f.talk_ms += a.duration_ms.unwrap_or(0).max(0);
        }
        if let Some(p) = a.pdd_ms.filter(|p| *p >= 0) {
            f.pdd_ms += p;
            f.pdd_samples += 1;
        }
    }

    pub fn add_money(&mut self, m: MoneyFact) {
        let at = match m {
            MoneyFact::TopUp { at, .. } | MoneyFact::Charge { at, .. } | MoneyFact::Adjustment { at, .. } => at,
        };
        if !self.within(at) {
            return;
        }
        let day = self.days.entry(at.date_naive()).or_default();
        match m {
            MoneyFact::TopUp { amount, .. } => day.topups += amount,
            MoneyFact::Adjustment { amount, .. } => day.adjustments += amount,
            MoneyFact::Charge { amount, .. } => day.charges += amount,
        }
    }

    pub fn finish(self) -> Report {
        let mut counts = Counts::default();
        for c in self.series.values() {
            counts.calls += c.calls;
            counts.answered += c.answered;
            counts.seconds += c.seconds;
        }
        let mut money = DayMoney::default();
        for d in self.days.values() {
            money.sales.revenue += d.sales.revenue;
            money.sales.cost += d.sales.cost;
            money.topups += d.topups;
            money.adjustments += d.adjustments;
            money.charges += d.charges;
        }
        let mut carriers: Vec<_> = self.carriers.into_values().collect();
        carriers.sort_by(|a, b| b.attempts.cmp(&a.attempts).then_with(|| a.name.cmp(&b.name)));
        let mut destinations: Vec<_> = self.destinations.into_values().collect();
        destinations.sort_by(|a, b| {
            (b.counts.seconds, b.counts.calls)
                .cmp(&(a.counts.seconds, a.counts.calls))
                .then_with(|| a.prefix.cmp(&b.prefix))
        });
        destinations.truncate(TOP_DESTINATIONS);
        Report {
            from: self.from,
            to: self.to,
            bucket: self.bucket,
            series: self.series.into_iter().collect(),
            days: self.days.into_iter().collect(),
            carriers,
            destinations,
            counts,
            money,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use chrono::TimeZone;
    use expect_test::{Expect, expect};

    use super::*;

    fn t(day: u32, hour: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, hour, min, 0).single().unwrap_or_default()
    }

    fn call(at: DateTime<Utc>, secs: u64, charge: i64, cost: i64, prefix: &str) -> CallFact {
        CallFact {
            at,
            answered: secs > 0,
            billable_secs: secs,
            charge: Money(charge),
            cost: Money(cost),
            prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
        }
    }

    fn attempt(carrier: i64, answered: bool, pdd: Option<i64>, dur: Option<i64>) -> AttemptFact {
        AttemptFact {
            carrier_id: Some(carrier),
            carrier_name: format!("c{carrier}"),
            answered,
            pdd_ms: pdd,
            duration_ms: dur,
        }
    }

    /// One table per case: the facts in, the report out as text.
    fn check(
        bucket: Bucket,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        calls: Vec<CallFact>,
        attempts: Vec<AttemptFact>,
        money: Vec<MoneyFact>,
        expect: Expect,
    ) {
        let mut s = Stats::new(from, to, bucket);
        calls.into_iter().for_each(|c| s.add_call(c));
        attempts.into_iter().for_each(|a| s.add_attempt(a));
        money.into_iter().for_each(|m| s.add_money(m));
        let r = s.finish();
        let mut out = String::new();
        for (at, c) in r.series.iter().filter(|(_, c)| c.calls > 0) {
            let _ =
                writeln!(out, "{} calls={} answered={} secs={}", at.format("%d %H:%M"), c.calls, c.answered, c.seconds);
        }
        let _ = writeln!(out, "buckets={}", r.series.len());
        for (d, m) in &r.days {
            let _ = writeln!(
                out,
                "{d} revenue={} cost={} margin={} topups={} adjustments={} charges={}",
                m.sales.revenue,
                m.sales.cost,
                m.sales.margin(),
                m.topups,
                m.adjustments,
                m.charges
            );
        }
        for c in &r.carriers {
            let _ = writeln!(
                out,
                "{} attempts={} answered={} asr={:?} acd={:?} pdd={:?}",
                c.name,
                c.attempts,
                c.answered,
                c.asr_permille(),
                c.acd_secs(),
                c.pdd_ms()
            );
        }
        for d in &r.destinations {
            let _ = writeln!(
                out,
                "+{} calls={} secs={} margin={}",
                d.prefix,
                d.counts.calls,
                d.counts.seconds,
                d.sales.margin()
            );
        }
        let _ =
            writeln!(out, "total calls={} secs={} margin={}", r.counts.calls, r.counts.seconds, r.money.sales.margin());
        expect.assert_eq(&out);
    }

    #[test]
    fn buckets_days_carriers_destinations() {
        check(
            Bucket::Day,
            t(1, 12, 0),
            t(3, 6, 0),
            vec![
                call(t(1, 13, 0), 60, 100_000, 40_000, "44"),
                call(t(1, 14, 0), 0, 0, 0, "44"),
                call(t(2, 0, 0), 120, 300_000, 100_000, "1"),
                // Outside the period: not counted.
                call(t(3, 6, 0), 60, 1, 1, "44"),
                // A browser call: no destination.
                call(t(2, 9, 0), 30, 0, 0, ""),
            ],
            vec![
                attempt(1, true, Some(800), Some(61_000)),
                attempt(1, false, Some(400), None),
                attempt(2, false, None, None),
                attempt(1, true, Some(300), Some(119_000)),
            ],
            vec![
                MoneyFact::TopUp { at: t(1, 12, 30), amount: Money(20_000_000) },
                MoneyFact::TopUp { at: t(2, 1, 0), amount: Money(-5_000_000) },
                MoneyFact::Charge { at: t(2, 1, 0), amount: Money(400_000) },
                MoneyFact::Adjustment { at: t(2, 2, 0), amount: Money(1_500_000) },
            ],
            expect![[r#"
                01 00:00 calls=2 answered=1 secs=60
                02 00:00 calls=2 answered=2 secs=150
                buckets=3
                2026-12-01 revenue=0.100000 cost=0.040000 margin=0.060000 topups=20.000000 adjustments=0.000000 charges=0.000000
                2026-12-02 revenue=0.300000 cost=0.100000 margin=0.200000 topups=-5.000000 adjustments=1.500000 charges=0.400000
                2026-12-03 revenue=0.000000 cost=0.000000 margin=0.000000 topups=0.000000 adjustments=0.000000 charges=0.000000
                c1 attempts=3 answered=2 asr=Some(666) acd=Some(90) pdd=Some(500)
                c2 attempts=1 answered=0 asr=Some(0) acd=None pdd=None
                +1 calls=1 secs=120 margin=0.200000
                +44 calls=2 secs=60 margin=0.060000
                total calls=4 secs=210 margin=0.260000
            "#]],
        );
    }

    #[test]
    fn hours_and_an_empty_period() {
        check(
            Bucket::Hour,
            t(5, 10, 30),
            t(5, 13, 0),
            vec![call(t(5, 10, 45), 5, 0, 0, ""), call(t(5, 12, 59), 0, 0, 0, "")],
            vec![],
            vec![],
            expect![[r#"
                05 10:00 calls=1 answered=1 secs=5
                05 12:00 calls=1 answered=0 secs=0
                buckets=3
                2026-12-05 revenue=0.000000 cost=0.000000 margin=0.000000 topups=0.000000 adjustments=0.000000 charges=0.000000
                total calls=2 secs=5 margin=0.000000
            "#]],
        );
        check(
            Bucket::Hour,
            t(5, 10, 0),
            t(5, 10, 0),
            vec![],
            vec![],
            vec![],
            expect![[r#"
            buckets=0
            2026-12-05 revenue=0.000000 cost=0.000000 margin=0.000000 topups=0.000000 adjustments=0.000000 charges=0.000000
            total calls=0 secs=0 margin=0.000000
        "#]],
        );
    }
}
