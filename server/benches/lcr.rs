//! Least-cost routing at scale: 5 carriers × 1,000,000 prefixes.
//!
//! Run: `cargo bench -p server --bench lcr` (about two minutes on 2 cores). It prints a report
//! first, then criterion's own measurements (means with confidence intervals).
//!
//! # The data
//!
//! Synthetic, seeded, the same on every run. A "universe" of 1,500,000 distinct prefixes is
//! drawn the way real A–Z decks look: a third under NANP `1` (1 + NPA + NXX, and some longer),
//! the rest under real country codes, each 4 to 12 digits long. Each carrier's deck is a random
//! 1,000,000 of them (carriers cover mostly the same destinations), priced from a few hundred
//! levels per carrier, sorted by prefix as a deck file would be. A second, harsher set gives
//! each carrier 1,000,000 uniformly random prefixes of its own (5,000,000 distinct keys) to show
//! the index does not depend on the decks overlapping. A third gives every row of the first set
//! a random price, so that no two prefixes share a run of (carrier, tariff) entries: the worst
//! case for the index, whose runs then no longer fit in the caches.
//!
//! Numbers looked up: 80 % extend a random universe prefix to 11–13 digits (so most carriers
//! match, some deeply), 20 % are a random country code plus random digits.
//!
//! # Latency distribution
//!
//! Criterion reports a mean. For the tail, 1,000,000 lookups of different random numbers are
//! each timed with two `Instant::now()` calls around `lookup(..)` drained to the end; the
//! samples are taken in 10 batches of 100,000 (the batch p99s show the noise) and pooled for
//! p50/p99/p99.9/max. `Instant::now()` is `clock_gettime` through the vDSO (TSC clock source
//! here); its cost, measured as back-to-back pairs, is printed and **included** in the figures,
//! so they overstate the lookup by about that much. Each number is copied to the stack before
//! its timer starts (when a call routes, the number was just parsed and is in cache; read from
//! a million scattered heap strings it would add a cache miss of its own). Numbers are in random
//! order, so the caches hold only what any lookup would find there. A naive digit trie (ten
//! `u32` children and a `Vec` of matches per node) is measured the same way, for comparison,
//! and so is the machine itself: one random read, two dependent reads and eight independent
//! reads of a 160 MB array, the floor any index pays.
//!
//! The machine is shared: other builds running at the same time move every figure by ±20 %;
//! compare figures from one run.

use std::{
    collections::HashSet,
    hint::black_box,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput};
use server::{
    rating::{Money, Tariff},
    routing::{
        CarrierId, Prefix, PrefixIndex,
        deck::{DeckRow, parse_deck, write_deck},
    },
};

const CARRIERS: usize = 5;
const PER_CARRIER: usize = 1_000_000;
const UNIVERSE: usize = 1_500_000;
const LOOKUPS: usize = 1_000_000;
const BATCHES: usize = 10;

/// SplitMix64: tiny, fast, seeded; good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn digit(&mut self) -> u8 {
        b'0' + self.below(10) as u8
    }
}

/// Real country codes (a sample of the ITU list, all lengths).
const COUNTRY_CODES: &[&str] = &[
    "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47", "48", "49",
    "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86",
    "90", "91", "92", "93", "94", "95", "98", "211", "212", "213", "216", "218", "220", "221", "223", "224", "225",
    "226", "227", "228", "229", "230", "231", "232", "233", "234", "235", "236", "237", "238", "239", "240", "241",
    "242", "243", "244", "245", "248", "249", "250", "251", "252", "253", "254", "255", "256", "257", "258", "260",
    "261", "262", "263", "264", "265", "266", "267", "268", "269", "290", "291", "297", "298", "299", "350", "351",
    "352", "353", "354", "355", "356", "357", "358", "359", "370", "371", "372", "373", "374", "375", "376", "377",
    "378", "380", "381", "382", "383", "385", "386", "387", "389", "420", "421", "423", "500", "501", "502", "503",
    "504", "505", "506", "507", "508", "509", "590", "591", "592", "593", "594", "595", "596", "597", "598", "599",
    "670", "672", "673", "674", "675", "676", "677", "678", "679", "680", "681", "682", "683", "685", "686", "687",
    "688", "689", "690", "691", "692", "850", "852", "853", "855", "856", "880", "886", "960", "961", "962", "963",
    "964", "965", "966", "967", "968", "970", "971", "972", "973", "974", "975", "976", "977", "992", "993", "994",
    "995", "996", "998",
];

/// A prefix as real decks have them: NANP 1 + NPA (+ NXX …), or a country code and more digits.
fn realistic_prefix(rng: &mut Rng) -> String {
    let mut p = String::with_capacity(12);
    if rng.below(3) == 0 {
        p.push('1');
        p.push((b'2' + rng.below(8) as u8) as char);
        // 1 + NPA + NXX is 7 digits; some decks go a digit or two further, few stop at the NPA.
        let len = [4, 5, 6, 7, 7, 7, 7, 8, 8, 9][rng.below(10)];
        while p.len() < len {
            p.push(rng.digit() as char);
        }
    } else {
        p.push_str(COUNTRY_CODES[rng.below(COUNTRY_CODES.len())]);
        let len = (4 + rng.below(9)).max(p.len() + 1);
        while p.len() < len {
            p.push(rng.digit() as char);
        }
    }
    p
}

fn uniform_prefix(rng: &mut Rng) -> String {
    let len = 4 + rng.below(9);
    (0..len).map(|_| rng.digit() as char).collect()
}

/// A carrier's price for a prefix: a few hundred levels, by country and prefix length.
fn tariff(carrier: usize, prefix: &str) -> Tariff {
    let cc: u64 = prefix[..prefix.len().min(3)].parse().unwrap_or(0);
    let level = (cc * 31 + prefix.len() as u64 * 7 + carrier as u64 * 13) % 300;
    let (first, next) = [(60, 60), (1, 1), (30, 6), (60, 60), (1, 1)][carrier % 5];
    Tariff::new(Money(1_000 + level as i64 * 250), Money::ZERO, 0, first, next).unwrap()
}

type Deck = Vec<(Prefix, Tariff)>;

/// `CARRIERS` decks of `PER_CARRIER` rows, sorted by prefix, plus the prefixes they draw from.
fn decks(realistic: bool, seed: u64) -> (Vec<Deck>, Vec<String>) {
    let mut rng = Rng(seed);
    let draw = |rng: &mut Rng| if realistic { realistic_prefix(rng) } else { uniform_prefix(rng) };
    let mut universe: Vec<String> = Vec::new();
    let mut decks = Vec::new();
    if realistic {
        let mut seen = HashSet::with_capacity(UNIVERSE);
        while universe.len() < UNIVERSE {
            let p = draw(&mut rng);
            if seen.insert(p.clone()) {
                universe.push(p);
            }
        }
        for c in 0..CARRIERS {
            // A random PER_CARRIER of the universe: a partial Fisher–Yates shuffle.
            let mut picks: Vec<usize> = (0..UNIVERSE).collect();
            for i in 0..PER_CARRIER {
                let j = i + rng.below(UNIVERSE - i);
                picks.swap(i, j);
            }
            let deck = picks[..PER_CARRIER].iter().map(|&i| &universe[i]).map(|p| (p.as_str(), c));
            decks.push(sorted_deck(deck));
        }
    } else {
        for c in 0..CARRIERS {
            let mut seen = HashSet::with_capacity(PER_CARRIER);
            while seen.len() < PER_CARRIER {
                let p = draw(&mut rng);
                if seen.insert(p.clone()) {
                    universe.push(p);
                }
            }
            decks.push(sorted_deck(seen.iter().map(|p| (p.as_str(), c))));
        }
    }
    (decks, universe)
}

fn sorted_deck<'a>(rows: impl Iterator<Item = (&'a str, usize)>) -> Deck {
    let mut deck: Deck = rows.map(|(p, c)| (Prefix::parse(p).unwrap(), tariff(c, p))).collect();
    deck.sort_unstable_by_key(|(p, _)| *p);
    deck
}

fn numbers(universe: &[String], seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..LOOKUPS)
        .map(|_| {
            let mut n = if rng.below(5) == 0 {
                COUNTRY_CODES[rng.below(COUNTRY_CODES.len())].to_string()
            } else {
                universe[rng.below(universe.len())].clone()
            };
            let len = (11 + rng.below(3)).max(n.len() + 1).min(15);
            while n.len() < len {
                n.push(rng.digit() as char);
            }
            n
        })
        .collect()
}

fn build(decks: &[Deck]) -> PrefixIndex {
    PrefixIndex::build(decks.iter().enumerate().map(|(c, d)| (CarrierId(c as i64 + 1), d.iter().copied())))
}

/// Drains a lookup; the sum keeps the work from being optimised away.
fn lookup(index: &PrefixIndex, number: &str) -> usize {
    index.lookup(number).map(|m| m.prefix.len() + m.tariff.first_increment as usize).sum()
}

/// A trie node: its children (0: none) and the carriers whose prefix ends here.
type Node = ([u32; 10], Vec<(u32, Tariff)>);

/// The textbook digit trie, for comparison.
struct NaiveTrie {
    nodes: Vec<Node>,
}

impl NaiveTrie {
    fn build(decks: &[Deck]) -> NaiveTrie {
        let mut t = NaiveTrie { nodes: vec![([0; 10], Vec::new())] };
        for (c, deck) in decks.iter().enumerate() {
            for (prefix, tariff) in deck {
                let mut n = 0;
                for d in prefix.to_string().bytes() {
                    let d = usize::from(d - b'0');
                    if t.nodes[n].0[d] == 0 {
                        t.nodes.push(([0; 10], Vec::new()));
                        t.nodes[n].0[d] = (t.nodes.len() - 1) as u32;
                    }
                    n = t.nodes[n].0[d] as usize;
                }
                t.nodes[n].1.push((c as u32, *tariff));
            }
        }
        t
    }

    fn lookup(&self, number: &str) -> usize {
        let mut best = [None; CARRIERS];
        let mut n = 0;
        for (depth, d) in number.bytes().enumerate() {
            n = self.nodes[n].0[usize::from(d - b'0')] as usize;
            if n == 0 {
                break;
            }
            for (c, t) in &self.nodes[n].1 {
                best[*c as usize] = Some((depth + 1, t));
            }
        }
        best.iter().flatten().map(|(len, t)| len + t.first_increment as usize).sum()
    }

    fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.1.capacity() * std::mem::size_of::<(u32, Tariff)>()).sum::<usize>()
    }
}

/// `n` as `12.3` thousandths-scaled: integer arithmetic only.
fn fixed(value: u128, divisor: u128) -> String {
    let tenths = (value * 10 + divisor / 2) / divisor;
    format!("{}.{}", tenths / 10, tenths % 10)
}

fn ms(d: Duration) -> String {
    fixed(d.as_micros(), 1000)
}

/// p50, p99, p99.9 and max of `samples` (nanoseconds).
fn percentiles(samples: &mut [u32]) -> String {
    samples.sort_unstable();
    let at = |per_mille: usize| samples[(samples.len() * per_mille / 1000).min(samples.len() - 1)];
    let mean = samples.iter().map(|&s| u64::from(s)).sum::<u64>() / samples.len() as u64;
    format!(
        "mean {mean} ns, p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        at(500),
        at(990),
        at(999),
        samples[samples.len() - 1]
    )
}

/// Times each call of `f` on each number, in batches; prints the pooled distribution.
fn distribution(label: &str, numbers: &[String], mut f: impl FnMut(&str) -> usize) {
    let mut all: Vec<u32> = Vec::with_capacity(numbers.len());
    let mut batch_p99 = Vec::new();
    for batch in numbers.chunks(numbers.len() / BATCHES) {
        let mut samples: Vec<u32> = Vec::with_capacity(batch.len());
        for n in batch {
            // The number was just parsed when a call routes: have it in cache, not on the heap.
            let mut buf = [0u8; 16];
            buf[..n.len()].copy_from_slice(n.as_bytes());
            let n = std::str::from_utf8(&buf[..n.len()]).unwrap();
            let start = Instant::now();
            black_box(f(black_box(n)));
            samples.push(start.elapsed().as_nanos() as u32);
        }
        all.extend_from_slice(&samples);
        samples.sort_unstable();
        batch_p99.push(samples[samples.len() * 99 / 100]);
    }
    println!("  {label}: {}", percentiles(&mut all));
    println!("    p99 of each batch of {}: {batch_p99:?} ns", numbers.len() / BATCHES);
}

fn timer_overhead() -> String {
    let mut samples: Vec<u32> = (0..1_000_000)
        .map(|_| {
            let start = Instant::now();
            start.elapsed().as_nanos() as u32
        })
        .collect();
    percentiles(&mut samples)
}

/// The memory system's floor: random reads of a 160 MB array, timed like the lookups.
fn memory_floor() {
    let n = 160 * 1024 * 1024 / 8;
    let data: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n as u64).collect();
    let mut rng = Rng(5);
    let picks: Vec<[usize; 8]> = (0..LOOKUPS).map(|_| std::array::from_fn(|_| rng.below(n))).collect();
    type Read = fn(&[u64], &[usize; 8]) -> u64;
    let cases: [(&str, Read); 3] = [
        ("1 random read", |d, i| d[i[0]]),
        ("2 dependent reads", |d, i| d[(d[i[0]] as usize ^ i[1]) % d.len()]),
        ("8 independent reads", |d, i| i.iter().map(|&j| d[j]).sum()),
    ];
    for (name, read) in cases {
        let mut samples = Vec::with_capacity(picks.len());
        for p in &picks {
            let start = Instant::now();
            black_box(read(&data, black_box(p)));
            samples.push(start.elapsed().as_nanos() as u32);
        }
        println!("  memory floor, {name}: {}", percentiles(&mut samples));
    }
}

struct Data {
    decks: Vec<Deck>,
    index: PrefixIndex,
    numbers: Vec<String>,
    csv: Vec<u8>,
}

fn report() -> Data {
    println!("== LCR report ({CARRIERS} carriers x {PER_CARRIER} prefixes)");
    let started = Instant::now();
    let (decks, universe) = decks(true, 42);
    let numbers = numbers(&universe, 7);
    println!("  synthetic data generated in {} ms", ms(started.elapsed()));
    println!("  timer overhead (Instant::now pair): {}", timer_overhead());
    memory_floor();

    println!("-- realistic decks (overlapping, {UNIVERSE} distinct prefixes in all)");
    let mut one = Vec::new();
    for deck in &decks {
        let start = Instant::now();
        let index = PrefixIndex::build([(CarrierId(1), deck.iter().copied())]);
        one.push(start.elapsed());
        black_box(&index);
    }
    println!("  build, one 1,000,000-row deck: {:?} ms", one.iter().map(|d| ms(*d)).collect::<Vec<_>>());
    let mut all = Vec::new();
    let mut index = PrefixIndex::default();
    for _ in 0..2 {
        let start = Instant::now();
        index = build(&decks);
        all.push(ms(start.elapsed()));
    }
    println!("  build, all five decks: {all:?} ms");
    index_memory(&index);
    distribution("lookup", &numbers, |n| lookup(&index, n));
    {
        // The same numbers against the first 2,000 rows of each deck: the index fits in the
        // caches, so this is the lookup's own work, without waiting for memory.
        let small = PrefixIndex::build(
            decks.iter().enumerate().map(|(c, d)| (CarrierId(c as i64 + 1), d.iter().step_by(500).copied())),
        );
        distribution("lookup in a cached 10,000-pair index", &numbers, |n| lookup(&small, n));
    }
    let matched = numbers.iter().take(100_000).map(|n| index.lookup(n).count()).sum::<usize>();
    println!("  carriers matched per lookup: {} on average", fixed(matched as u128, 100_000));

    let start = Instant::now();
    let naive = NaiveTrie::build(&decks);
    println!("  naive trie: built in {} ms, {} MB", ms(start.elapsed()), fixed(naive.heap_bytes() as u128, 1_000_000));
    distribution("naive trie lookup", &numbers, |n| naive.lookup(n));
    drop(naive);

    println!("-- the same decks, every row priced at random (no two prefixes share a run)");
    {
        let mut rng = Rng(44);
        let priced: Vec<Deck> = decks
            .iter()
            .map(|d| {
                d.iter()
                    .map(|(p, t)| (*p, Tariff { per_minute: Money(1_000 + rng.below(1_000_000) as i64), ..*t }))
                    .collect()
            })
            .collect();
        let start = Instant::now();
        let index = build(&priced);
        println!("  build, all five decks: {} ms", ms(start.elapsed()));
        drop(priced);
        index_memory(&index);
        distribution("lookup", &numbers, |n| lookup(&index, n));
    }

    println!("-- uniform random decks (disjoint, 5,000,000 distinct prefixes)");
    {
        let (decks, universe) = self::decks(false, 43);
        let numbers = self::numbers(&universe, 8);
        let start = Instant::now();
        let index = build(&decks);
        println!("  build, all five decks: {} ms", ms(start.elapsed()));
        index_memory(&index);
        distribution("lookup", &numbers, |n| lookup(&index, n));
    }

    println!("-- CSV import");
    let rows: Vec<DeckRow> = decks[0]
        .iter()
        .map(|(prefix, rate)| DeckRow { prefix: *prefix, description: format!("Destination {prefix}"), rate: *rate })
        .collect();
    let mut csv = Vec::new();
    write_deck(&rows, &mut csv).unwrap();
    drop(rows);
    for _ in 0..2 {
        let start = Instant::now();
        let mut count = 0u64;
        let summary = parse_deck(csv.as_slice(), |r| {
            count += 1;
            black_box(r);
        })
        .unwrap();
        let took = start.elapsed();
        assert_eq!((summary.rows, count), (PER_CARRIER as u64, PER_CARRIER as u64));
        println!(
            "  parse {} rows ({} MB) in {} ms: {} rows/s, {} MB/s",
            summary.rows,
            fixed(csv.len() as u128, 1_000_000),
            ms(took),
            u128::from(summary.rows) * 1_000_000 / took.as_micros(),
            fixed(csv.len() as u128 * 1_000_000, took.as_micros() * 1_000_000)
        );
    }
    println!("  report took {} ms", ms(started.elapsed()));
    Data { decks, index, numbers, csv }
}

/// How much of the process's anonymous memory is on transparent huge pages (Linux).
fn huge_pages() -> String {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn index_memory(index: &PrefixIndex) {
    println!("  process memory on huge pages: {}", huge_pages());
    let bytes = index.heap_bytes() as u128;
    println!(
        "  index: {} (carrier, prefix) pairs, {} distinct prefixes, {} tariffs, {} entries stored; {} MB = {} MB per million pairs, {} bytes per distinct prefix",
        index.len(),
        index.distinct_prefixes(),
        index.distinct_tariffs(),
        index.stored_entries(),
        fixed(bytes, 1_000_000),
        fixed(bytes * 1_000_000, index.len() as u128 * 1_000_000),
        fixed(bytes, index.distinct_prefixes() as u128),
    );
}

fn main() {
    let data = report();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let mut g = c.benchmark_group("lcr");
    g.sample_size(10);
    g.bench_function("build one 1M-row deck", |b| {
        b.iter(|| PrefixIndex::build([(CarrierId(1), data.decks[0].iter().copied())]))
    });
    g.throughput(Throughput::Bytes(data.csv.len() as u64));
    g.bench_function("parse 1M-row CSV", |b| {
        b.iter(|| parse_deck(data.csv.as_slice(), |r| drop(black_box(r))).unwrap())
    });
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    let mut i = 0;
    g.bench_function("lookup (5 carriers x 1M)", |b| {
        b.iter(|| {
            i = (i + 1) % data.numbers.len();
            lookup(&data.index, black_box(&data.numbers[i]))
        })
    });
    g.finish();
    c.final_summary();
}
