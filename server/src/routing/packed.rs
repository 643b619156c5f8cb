//! A deck in the form the routing table is built from: each row's prefix and an index into the
//! deck's distinct tariffs, 12 bytes a row. Storage keeps it beside the deck's rows (written in
//! the import's transaction), so a reload reads one blob per deck instead of a million rows:
//! a 1,000,000-row deck is 12 MB, read in tens of milliseconds.
//!
//! # Format (version 1, little-endian)
//!
//! ```text
//! "CPD1"                      magic and version
//! u32 tariffs                 then, per tariff: i64 per_minute, i64 connection_fee,
//!                             u32 min_duration, u32 first_increment, u32 next_increment
//! u64 rows                    then, per row: u64 prefix (Prefix::key), u32 tariff index
//! ```
//!
//! Decoding checks everything (lengths, each prefix, each tariff, each index): a damaged blob
//! is an error, and the caller falls back to the rows.

use std::collections::HashMap;

use super::Prefix;
use crate::rating::{Money, Tariff};

const MAGIC: &[u8; 4] = b"CPD1";
const TARIFF_BYTES: usize = 8 + 8 + 4 + 4 + 4;
const ROW_BYTES: usize = 8 + 4;

/// A deck's (prefix, tariff) rows, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct PackedDeck {
    rows: Vec<(Prefix, u32)>,
    tariffs: Vec<Tariff>,
    /// Where each tariff is in `tariffs`, while rows are added (empty in a decoded deck, whose
    /// later pushes may then store a tariff twice: harmless).
    tariff_of: HashMap<Tariff, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackedError {
    #[error("not a packed deck (version 1)")]
    Magic,
    #[error("the data ends early or runs on")]
    Length,
    #[error("tariff {0} is not valid")]
    Tariff(usize),
    #[error("row {0} has no valid prefix")]
    Prefix(usize),
    #[error("row {0} points at no tariff")]
    TariffIndex(usize),
}

impl PackedDeck {
    pub fn new() -> Self {
        Self::default()
    }

    /// # Panics
    ///
    /// With 2³² distinct tariffs in one deck (far beyond any file the import accepts).
    pub fn push(&mut self, prefix: Prefix, tariff: Tariff) {
        let at = match self.tariff_of.get(&tariff) {
            Some(&at) => at,
            None => {
                let at = u32::try_from(self.tariffs.len()).expect("fewer than 2^32 tariffs in a deck");
                self.tariffs.push(tariff);
                self.tariff_of.insert(tariff, at);
                at
            }
        };
        self.rows.push((prefix, at));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows, in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = (Prefix, Tariff)> + '_ {
        self.rows.iter().map(|&(p, t)| (p, self.tariffs[t as usize]))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 4 + self.tariffs.len() * TARIFF_BYTES + 8 + self.rows.len() * ROW_BYTES);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.tariffs.len() as u32).to_le_bytes());
        for t in &self.tariffs {
            out.extend_from_slice(&t.per_minute.0.to_le_bytes());
            out.extend_from_slice(&t.connection_fee.0.to_le_bytes());
            out.extend_from_slice(&t.min_duration.to_le_bytes());
            out.extend_from_slice(&t.first_increment.to_le_bytes());
            out.extend_from_slice(&t.next_increment.to_le_bytes());
        }
        out.extend_from_slice(&(self.rows.len() as u64).to_le_bytes());
        for (p, t) in &self.rows {
            out.extend_from_slice(&p.key().to_le_bytes());
            out.extend_from_slice(&t.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<PackedDeck, PackedError> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(PackedError::Magic);
        }
        let count = r.u32()? as usize;
        if r.0.len() < count.saturating_mul(TARIFF_BYTES) {
            return Err(PackedError::Length);
        }
        let mut tariffs = Vec::with_capacity(count);
        for i in 0..count {
            let (pm, fee) = (r.u64()? as i64, r.u64()? as i64);
            let (min, first, next) = (r.u32()?, r.u32()?, r.u32()?);
            tariffs.push(Tariff::new(Money(pm), Money(fee), min, first, next).map_err(|_| PackedError::Tariff(i))?);
        }
        let rows = usize::try_from(r.u64()?).map_err(|_| PackedError::Length)?;
        if r.0.len() != rows.checked_mul(ROW_BYTES).ok_or(PackedError::Length)? {
            return Err(PackedError::Length);
        }
        let mut out = Vec::with_capacity(rows);
        for (i, row) in r.0.chunks_exact(ROW_BYTES).enumerate() {
            let (key, tariff) = row.split_at(8);
            let key = u64::from_le_bytes(key.try_into().map_err(|_| PackedError::Length)?);
            let tariff = u32::from_le_bytes(tariff.try_into().map_err(|_| PackedError::Length)?);
            let prefix = Prefix::from_key(key).ok_or(PackedError::Prefix(i))?;
            if tariff as usize >= tariffs.len() {
                return Err(PackedError::TariffIndex(i));
            }
            out.push((prefix, tariff));
        }
        Ok(PackedDeck { rows: out, tariffs, tariff_of: HashMap::new() })
    }
}

impl FromIterator<(Prefix, Tariff)> for PackedDeck {
    fn from_iter<I: IntoIterator<Item = (Prefix, Tariff)>>(rows: I) -> Self {
        let mut deck = PackedDeck::new();
        for (p, t) in rows {
            deck.push(p, t);
        }
        deck
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PackedError> {
        if self.0.len() < n {
            return Err(PackedError::Length);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, PackedError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| PackedError::Length)?))
    }

    fn u64(&mut self) -> Result<u64, PackedError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| PackedError::Length)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(per_minute: i64, first: u32) -> Tariff {
        Tariff::new(Money(per_minute), Money(7), 30, first, 6).unwrap()
    }

    fn deck() -> PackedDeck {
        ["44", "4420", "1", "012345678901234", "44"]
            .iter()
            .enumerate()
            .map(|(i, p)| (Prefix::parse(p).unwrap(), t(1000 * (i as i64 % 2), 60)))
            .collect()
    }

    #[test]
    fn a_deck_round_trips_and_shares_its_tariffs() {
        let d = deck();
        let bytes = d.to_bytes();
        assert_eq!(bytes.len(), 4 + 4 + 2 * TARIFF_BYTES + 8 + 5 * ROW_BYTES);
        let back = PackedDeck::from_bytes(&bytes).unwrap();
        assert_eq!(back.rows().collect::<Vec<_>>(), d.rows().collect::<Vec<_>>());
        let empty = PackedDeck::new();
        assert!(PackedDeck::from_bytes(&empty.to_bytes()).unwrap().is_empty());
    }

    #[test]
    fn damaged_data_is_refused() {
        let bytes = deck().to_bytes();
        let at = |i: usize, v: u8| {
            let mut b = bytes.clone();
            b[i] = v;
            PackedDeck::from_bytes(&b).err()
        };
        let rows_at = 4 + 4 + 2 * TARIFF_BYTES + 8;
        assert_eq!(PackedDeck::from_bytes(b"CPD2").err(), Some(PackedError::Magic));
        assert_eq!(PackedDeck::from_bytes(&bytes[..bytes.len() - 1]).err(), Some(PackedError::Length));
        assert_eq!(PackedDeck::from_bytes(&[bytes.as_slice(), &[0]].concat()).err(), Some(PackedError::Length));
        assert_eq!(PackedDeck::from_bytes(&bytes[..3]).err(), Some(PackedError::Length));
        // The second tariff's first increment is zero; a prefix of no digits; an index past the end.
        let mut b = bytes.clone();
        b[8 + TARIFF_BYTES + 20..8 + TARIFF_BYTES + 24].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(PackedDeck::from_bytes(&b).err(), Some(PackedError::Tariff(1)));
        let mut b = bytes.clone();
        b[rows_at..rows_at + 8].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(PackedDeck::from_bytes(&b).err(), Some(PackedError::Prefix(0)));
        assert_eq!(at(rows_at + ROW_BYTES + 8, 2), Some(PackedError::TariffIndex(1)));
        // A count far past the data.
        let mut b = bytes.clone();
        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(PackedDeck::from_bytes(&b).err(), Some(PackedError::Length));
    }
}
