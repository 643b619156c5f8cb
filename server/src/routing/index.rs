//! The prefix index: for a dialed number, every carrier's longest matching prefix in its active
//! buy deck. Built once from all decks, then read-only (the shell swaps whole indexes behind an
//! `Arc`); no I/O, no clock, no locks.
//!
//! # Design
//!
//! With millions of prefixes the index is far larger than the CPU caches, so a lookup costs the
//! number of memory round trips it waits for *one after another*. On the bench machine (a VM)
//! one random read of a 160 MB table takes ~180 ns at the median and ~500 ns at p99, two
//! dependent reads ~360/~770 ns, eight independent reads ~260/~570 ns together. A digit trie
//! waits for one node per digit. This index waits for about one round trip, whatever the number:
//!
//! - A [`Prefix`] is packed into a `u64`: its decimal value in the low 50 bits, its length above
//!   (so `"044"` and `"44"` differ). That `u64` is the hash key; `0` marks an empty slot.
//! - One open-addressing table (a power of two of buckets, at most 70 % full, Fibonacci
//!   hashing) of 64-byte buckets, each one cache line of four 16-byte slots. A slot holds a
//!   distinct prefix and points at its run of entries: for each carrier with exactly this
//!   prefix, in carrier-id order, the carrier's index and the tariff's index into a table of
//!   distinct tariffs. A key goes in the first slot free from its home bucket on, so a probe
//!   that misses ends at its home bucket unless that bucket is full (~6 % of buckets at 36 %
//!   load, ~20 % at 54 %): one line per probe, nearly always.
//! - Runs are stored once each. Carriers price whole ranges alike (a deck repeats a few hundred
//!   prices a million times), so the prefixes of a destination share a run, and all the runs
//!   fit in the CPU caches: 24,000 entries for the bench's 5,000,000 pairs. Were every
//!   prefix priced differently, the runs would be as many as the prefixes and a lookup would
//!   wait for a second round trip for them, as it did before they were shared.
//! - The bucket table sits on transparent huge pages ([`super::huge`]): fewer TLB misses, about
//!   10 % off the p99.
//! - A lookup computes the number's prefix of every length the index holds (at most 15) and
//!   reads all their home buckets in a first pass that branches on nothing it reads, so the CPU
//!   has every miss in flight at once; then it resolves the probes from cache, without
//!   branching on whether a length is there (that is random: it would mispredict), and touches
//!   the first entry of every hit the same way. The iterator then reads cached lines only,
//!   yielding each carrier's first, that is longest, prefix.
//!
//! Measured and dropped (see `server/benches/lcr.rs` for the method): the same without the
//! touch passes (p50 ~1.0 µs against ~0.7 µs: branchy probing serialises the misses); one slot
//! per (carrier, prefix) pair with no runs (longer probe clusters spill into further lines:
//! ~1.0 µs); page-local tables per 5-digit head behind a directory, which is itself a dependent
//! miss (~1.2 µs); unshared runs in slot-per-line linear probing (p99 ~1.05 µs: the runs were a
//! second round trip, and a probe spilled into the next line a third of the time).
//!
//! Memory: 16 bytes a slot at 35–70 % load, plus the shared runs; 13.5 MB per million pairs
//! when carriers' decks overlap, 27 MB when they do not. See [`PrefixIndex::heap_bytes`].

use std::{collections::HashMap, fmt, str::FromStr};

use super::huge::HugeArray;
use crate::rating::Tariff;

/// A carrier's id (the `carriers` table's primary key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CarrierId(pub i64);

impl fmt::Display for CarrierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The most digits a prefix (and an E.164 number) has.
pub const MAX_DIGITS: usize = 15;

const LEN_SHIFT: u32 = 50;
const VALUE_MASK: u64 = (1 << LEN_SHIFT) - 1;

/// A destination prefix: 1 to 15 decimal digits, leading zeros significant. `Copy`, 8 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("is empty")]
    Empty,
    #[error("must be digits only")]
    NotDigits,
    #[error("has more than 15 digits")]
    TooLong,
}

impl Prefix {
    /// Digits, surrounding whitespace and one leading `+` ignored: `"+44 20"` is refused,
    /// `" +4420 "` is `4420`.
    pub fn parse(text: &str) -> Result<Prefix, PrefixError> {
        let t = text.trim();
        let digits = t.strip_prefix('+').unwrap_or(t).as_bytes();
        if digits.is_empty() {
            return Err(PrefixError::Empty);
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(PrefixError::NotDigits);
        }
        if digits.len() > MAX_DIGITS {
            return Err(PrefixError::TooLong);
        }
        let value = digits.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
        Ok(Prefix::pack(value, digits.len()))
    }

    fn pack(value: u64, len: usize) -> Prefix {
        debug_assert!((1..=MAX_DIGITS).contains(&len) && value < 10u64.pow(len as u32));
        Prefix(value | ((len as u64) << LEN_SHIFT))
    }

    /// How many digits.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(self) -> usize {
        (self.0 >> LEN_SHIFT) as usize
    }

    fn value(self) -> u64 {
        self.0 & VALUE_MASK
    }

    /// The packed form, distinct for distinct prefixes: a compact key for sets and maps.
    pub fn key(self) -> u64 {
        self.0
    }

    /// The prefix whose [`Prefix::key`] this is; `None` for a value that is no prefix's key.
    pub fn from_key(key: u64) -> Option<Prefix> {
        let p = Prefix(key);
        let len = key >> LEN_SHIFT;
        ((1..=MAX_DIGITS as u64).contains(&len) && p.value() < 10u64.pow(len as u32)).then_some(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.value(), width = self.len())
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prefix({self})")
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Prefix::parse(s)
    }
}

/// Digit order, as in a sorted deck: `1` < `10` < `2`.
impl Ord for Prefix {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let padded = |p: &Prefix| p.value() * 10u64.pow((MAX_DIGITS - p.len()) as u32);
        padded(self).cmp(&padded(other)).then(self.len().cmp(&other.len()))
    }
}

impl PartialOrd for Prefix {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One table slot: a distinct prefix and its run of entries. `key == 0` is empty.
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Slot {
    key: u64,
    start: u32,
    end: u32,
}

/// Slots per bucket: a bucket is one 64-byte cache line.
const BUCKET: usize = 4;

/// Slots filled in order: a bucket whose last slot is empty has room, so a probe ends there.
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Bucket {
    slots: [Slot; BUCKET],
}

/// A carrier that has the slot's prefix, and at what price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Entry {
    carrier: u32,
    tariff: u32,
}

/// Every carrier's active deck, indexed by prefix. Immutable once built.
#[derive(Clone)]
pub struct PrefixIndex {
    /// The big table lookups wander through: on huge pages.
    buckets: HugeArray<Bucket>,
    /// `buckets.len() - 1`; the length is a power of two.
    mask: usize,
    /// `64 - log2(buckets.len())`: Fibonacci hashing keeps the product's top bits.
    shift: u32,
    /// Bit `n` is set when some prefix has `n` digits: other lengths are not probed.
    lengths: u16,
    /// Every distinct run of entries, once.
    entries: Vec<Entry>,
    tariffs: Vec<Tariff>,
    /// Ascending; an entry's `carrier` indexes this.
    carriers: Vec<CarrierId>,
    /// Occupied slots.
    distinct: usize,
    /// (carrier, prefix) pairs.
    pairs: usize,
}

/// One carrier's longest matching prefix for a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    pub carrier: CarrierId,
    pub prefix: Prefix,
    pub tariff: &'a Tariff,
}

/// A summary: the tables themselves are millions of entries long.
impl fmt::Debug for PrefixIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixIndex")
            .field("carriers", &self.carriers)
            .field("pairs", &self.len())
            .field("distinct_prefixes", &self.distinct_prefixes())
            .field("distinct_tariffs", &self.distinct_tariffs())
            .field("stored_entries", &self.stored_entries())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

impl Default for PrefixIndex {
    fn default() -> Self {
        PrefixIndex::build(std::iter::empty::<(CarrierId, Vec<(Prefix, Tariff)>)>())
    }
}

impl PrefixIndex {
    /// Indexes each carrier's deck. A carrier may appear more than once (its decks are merged);
    /// when one carrier lists the same prefix twice, the later row wins.
    ///
    /// # Panics
    ///
    /// With 2³² or more rows, carriers or distinct tariffs (far beyond memory anyway).
    pub fn build<D, P>(decks: D) -> PrefixIndex
    where
        D: IntoIterator<Item = (CarrierId, P)>,
        P: IntoIterator<Item = (Prefix, Tariff)>,
    {
        struct Row {
            key: u64,
            carrier: u32,
            tariff: u32,
        }
        let too_many = "the index holds fewer than 2^32 rows, carriers and tariffs";

        let mut carriers: Vec<CarrierId> = Vec::new();
        let mut carrier_of: HashMap<CarrierId, u32> = HashMap::new();
        let mut tariffs: Vec<Tariff> = Vec::new();
        let mut tariff_of: HashMap<Tariff, u32> = HashMap::new();
        let mut rows: Vec<Row> = Vec::new();
        for (id, deck) in decks {
            let carrier = *carrier_of.entry(id).or_insert_with(|| {
                carriers.push(id);
                u32::try_from(carriers.len() - 1).expect(too_many)
            });
            let deck = deck.into_iter();
            rows.reserve(deck.size_hint().0);
            // Decks come sorted by prefix, so neighbours often share a price: skip the map then.
            let mut last: Option<(Tariff, u32)> = None;
            for (prefix, t) in deck {
                let tariff = match last {
                    Some((k, i)) if k == t => i,
                    _ => *tariff_of.entry(t).or_insert_with(|| {
                        tariffs.push(t);
                        u32::try_from(tariffs.len() - 1).expect(too_many)
                    }),
                };
                last = Some((t, tariff));
                rows.push(Row { key: prefix.key(), carrier, tariff });
            }
        }
        drop((carrier_of, tariff_of));

        // Number carriers in id order, so every run lists them in that order.
        let mut order: Vec<u32> = (0..carriers.len()).map(|i| u32::try_from(i).expect(too_many)).collect();
        order.sort_unstable_by_key(|&i| carriers[i as usize]);
        let mut rank = vec![0u32; carriers.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i as usize] = u32::try_from(r).expect(too_many);
        }
        carriers.sort_unstable();
        for row in &mut rows {
            row.carrier = rank[row.carrier as usize];
        }
        // Stable: of one carrier's repeated prefix, the last row is kept below.
        rows.sort_by_key(|r| (r.key, r.carrier));

        let distinct = rows.chunk_by(|a, b| a.key == b.key).count();
        // At most 70 % full.
        let capacity = ((distinct * 10 / 7 + 1) / BUCKET + 1).next_power_of_two().max(4);
        let mut buckets = HugeArray::<Bucket>::zeroed(capacity);
        let mask = capacity - 1;
        let shift = 64 - capacity.trailing_zeros();
        // Runs are stored once each: prefixes that the same carriers price the same share one.
        let mut entries: Vec<Entry> = Vec::new();
        let mut run_at: HashMap<Vec<Entry>, (u32, u32)> = HashMap::new();
        let mut run: Vec<Entry> = Vec::with_capacity(carriers.len());
        let mut last: (u32, u32) = (0, 0);
        let mut pairs = 0;
        let mut lengths = 0u16;
        for same_key in rows.chunk_by(|a, b| a.key == b.key) {
            run.clear();
            for same in same_key.chunk_by(|a, b| a.carrier == b.carrier) {
                let row = &same[same.len() - 1];
                run.push(Entry { carrier: row.carrier, tariff: row.tariff });
            }
            pairs += run.len();
            // Neighbours in prefix order share a run often: compare with the last one first.
            if entries[last.0 as usize..last.1 as usize] != run[..] {
                last = *run_at.entry(run.clone()).or_insert_with(|| {
                    let start = u32::try_from(entries.len()).expect(too_many);
                    entries.extend_from_slice(&run);
                    (start, u32::try_from(entries.len()).expect(too_many))
                });
            }
            let (start, end) = last;
            let key = same_key[0].key;
            lengths |= 1 << Prefix(key).len();
            let mut b = bucket_of(key, shift);
            loop {
                if let Some(free) = buckets[b].slots.iter_mut().find(|s| s.key == 0) {
                    *free = Slot { key, start, end };
                    break;
                }
                b = (b + 1) & mask;
            }
        }
        drop((rows, run_at));
        entries.shrink_to_fit();
        tariffs.shrink_to_fit();
        carriers.shrink_to_fit();
        PrefixIndex { buckets, mask, shift, lengths, entries, tariffs, carriers, distinct, pairs }
    }

    /// For each carrier with a prefix of `number`, its longest one; longest matches first, then
    /// in carrier-id order. `number` is E.164 digits, with or without the `+`; anything else
    /// (empty, a non-digit, more than 15 digits) matches nothing.
    pub fn lookup<'a>(&'a self, number: &str) -> Lookup<'a> {
        let mut found =
            Lookup { index: self, hits: [Hit::default(); MAX_DIGITS], count: 0, at: 0, next: 0, seen: Seen::default() };
        let digits = number.strip_prefix('+').unwrap_or(number).as_bytes();
        if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
            return found;
        }
        let mut keys = [0u64; MAX_DIGITS];
        let mut value = 0u64;
        for (i, d) in digits.iter().enumerate() {
            value = value * 10 + u64::from(d - b'0');
            keys[i] = Prefix::pack(value, i + 1).0;
        }
        // The home bucket of each length the index holds, longest first.
        let mut probes = [(0u64, 0usize); MAX_DIGITS];
        let mut count = 0;
        for len in (1..=digits.len()).rev().filter(|len| self.lengths & (1 << len) != 0) {
            probes[count] = (keys[len - 1], bucket_of(keys[len - 1], self.shift));
            count += 1;
        }
        // First pass: read every home bucket, branching on nothing read, so that all the cache
        // misses are in flight at once; the second pass then mostly reads cached lines.
        let probes = &probes[..count];
        std::hint::black_box(probes.iter().fold(0, |acc, &(_, b)| acc ^ self.buckets[b].slots[0].key));
        // Whether a length is in the number is as good as random: branching on it would
        // mispredict about every other probe, so the common case (the key is in its home bucket,
        // or the bucket has room and it is not) is decided without a branch.
        for &(key, home) in probes {
            let mut b = home;
            loop {
                let bucket = &self.buckets[b];
                let matches =
                    bucket.slots.iter().enumerate().fold(0u32, |m, (i, s)| m | (u32::from(s.key == key) << i));
                let slot = bucket.slots[(matches.trailing_zeros() as usize) & (BUCKET - 1)];
                found.hits[found.count] = Hit { key, start: slot.start, end: slot.end };
                found.count += usize::from(matches != 0);
                // Rarely taken: the bucket is full and does not have the key, so it may be in
                // the next one.
                if matches != 0 || bucket.slots[BUCKET - 1].key == 0 {
                    break;
                }
                b = (b + 1) & self.mask;
            }
        }
        // The same for the runs of carriers the hits point to.
        let hits = &found.hits[..found.count];
        std::hint::black_box(hits.iter().fold(0, |acc, h| acc ^ self.entries[h.start as usize].tariff));
        found.next = found.hits[0].start;
        found
    }

    /// The carriers that have at least one prefix, ascending.
    pub fn carriers(&self) -> &[CarrierId] {
        &self.carriers
    }

    /// How many (carrier, prefix) pairs.
    pub fn len(&self) -> usize {
        self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs == 0
    }

    /// How many distinct prefixes, over all carriers.
    pub fn distinct_prefixes(&self) -> usize {
        self.distinct
    }

    /// How many distinct tariffs, over all carriers.
    pub fn distinct_tariffs(&self) -> usize {
        self.tariffs.len()
    }

    /// How many entries are stored: the pairs of the distinct runs (carriers and tariffs of one
    /// prefix). Far fewer than [`PrefixIndex::len`] when decks price whole ranges alike.
    pub fn stored_entries(&self) -> usize {
        self.entries.len()
    }

    /// The bytes this index holds on the heap (its own `Vec`s, by capacity).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.buckets.heap_bytes()
            + self.entries.capacity() * size_of::<Entry>()
            + self.tariffs.capacity() * size_of::<Tariff>()
            + self.carriers.capacity() * size_of::<CarrierId>()
    }
}

/// Fibonacci hashing: multiply by 2⁶⁴/φ and keep the top bits, which depend on every key bit.
fn bucket_of(key: u64, shift: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

#[derive(Debug, Clone, Copy, Default)]
struct Hit {
    key: u64,
    start: u32,
    end: u32,
}

/// Which carriers a lookup has yielded: a bitset, on the stack for the first 256 carriers.
#[derive(Debug, Clone, Default)]
struct Seen {
    inline: [u64; 4],
    spill: Vec<u64>,
}

impl Seen {
    /// Marks `carrier`; `false` when it was marked already.
    fn insert(&mut self, carrier: u32) -> bool {
        let (word, bit) = ((carrier / 64) as usize, 1u64 << (carrier % 64));
        let w = match self.inline.get_mut(word) {
            Some(w) => w,
            None => {
                let at = word - self.inline.len();
                if self.spill.len() <= at {
                    self.spill.resize(at + 1, 0);
                }
                &mut self.spill[at]
            }
        };
        let fresh = *w & bit == 0;
        *w |= bit;
        fresh
    }
}

/// The matches for one number: see [`PrefixIndex::lookup`].
#[derive(Debug, Clone)]
pub struct Lookup<'a> {
    index: &'a PrefixIndex,
    /// The prefixes of the number that are in the index, longest first.
    hits: [Hit; MAX_DIGITS],
    count: usize,
    /// The hit being read, and the next entry of it.
    at: usize,
    next: u32,
    seen: Seen,
}

impl<'a> Iterator for Lookup<'a> {
    type Item = Match<'a>;

    fn next(&mut self) -> Option<Match<'a>> {
        while self.at < self.count {
            let hit = self.hits[self.at];
            if self.next >= hit.end {
                self.at += 1;
                self.next = self.hits.get(self.at).map_or(0, |h| h.start);
                continue;
            }
            let entry = self.index.entries[self.next as usize];
            self.next += 1;
            // Only one hit means no carrier can repeat: skip the bookkeeping.
            if self.count == 1 || self.seen.insert(entry.carrier) {
                return Some(Match {
                    carrier: self.index.carriers[entry.carrier as usize],
                    prefix: Prefix(hit.key),
                    tariff: &self.index.tariffs[entry.tariff as usize],
                });
            }
        }
        None
    }
}
