//! Buy rate decks: a carrier's price list as CSV, read as a stream and checked line by line.
//!
//! # The format
//!
//! - UTF-8, with or without a byte-order mark; lines end in `\n` or `\r\n`.
//! - The first non-blank line is the header. It names the columns, in any order, in any case:
//!   `prefix`, `description`, `price_per_minute`, `connection_fee`, `min_duration`, and
//!   either `increment` (the first and every next billing increment) or both `first_increment`
//!   and `next_increment`. Any other column, a repeated one, or a mix of the two increment
//!   styles refuses the file.
//! - Fields are RFC 4180: a field may be quoted (`"London, mobile"`), a quote inside quotes is
//!   doubled (`""`), and a quoted field may span lines (the error is then reported on the line
//!   the record starts). Spaces around fields are ignored, and so are blank lines.
//! - `prefix`: digits, one leading `+` allowed and dropped, 1 to 15 digits; no prefix may
//!   appear twice in one file.
//! - `description`: free text, trimmed, at most 200 characters, no control characters; may be
//!   empty.
//! - `price_per_minute`, `connection_fee`: exact decimals with at most 6 places (`0.0125`),
//!   parsed by [`Money::parse`]; negative prices are refused. **Zero is allowed**: some
//!   destinations (toll-free, on-net) really cost nothing to buy, and margin protection still
//!   compares against the sell price.
//! - `min_duration`: whole seconds, 0 to 3600. Increments: whole seconds, 1 to 3600. (A billing
//!   period above an hour is a typo, not a tariff.)
//!
//! # Errors and memory
//!
//! Every line is checked; a line with several faults reports the first. The first 100 errors
//! are kept, the rest only counted. A file with any error is refused as a whole: rows reach the
//! `sink` only until the first error, and the caller commits nothing unless the result is `Ok`.
//! Reading is streaming: one record is held at a time (at most 4 KiB; a longer one, usually an
//! unclosed quote, stops reading), plus one map entry per prefix to find repeats (16 bytes each,
//! ~36 MB at a million rows), and a file may have at most 2,000,000 rows.
//!
//! # Why a hand-written reader
//!
//! The `csv` crate would parse this, but it accepts malformed quoting silently (`4"4` is a
//! field, an unclosed quote swallows the rest of the file into one field) and has no bound on a
//! record's size, so one stray quote near the top of a million-line file makes it buffer the
//! whole file. The reader below is fifty lines of state machine that reports those cases with a
//! line number and never holds more than one bounded record.

use std::{
    collections::{HashMap, hash_map},
    fmt,
    hash::{BuildHasherDefault, Hasher},
    io::{self, BufRead, Read, Write},
};

use super::index::{Prefix, PrefixError};
use crate::rating::{Money, MoneyError, Tariff};

pub const MAX_ROWS: u64 = 2_000_000;
pub const MAX_ERRORS: usize = 100;
pub const MAX_RECORD_BYTES: usize = 4096;
pub const MAX_DESCRIPTION_CHARS: usize = 200;
pub const MAX_SECONDS: u32 = 3600;
/// `progress` is called after every this many records, and once at the end.
pub const PROGRESS_EVERY: u64 = 10_000;

/// One line of a deck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeckRow {
    pub prefix: Prefix,
    pub description: String,
    pub rate: Tariff,
}

/// A deck that was read without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeckSummary {
    /// Rows handed to the sink.
    pub rows: u64,
}

/// How far a read has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Records read (rows, not counting the header and blank lines).
    pub records: u64,
    pub errors: u64,
    /// Bytes consumed from the reader.
    pub bytes: u64,
}

/// The columns a deck may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Prefix,
    Description,
    PricePerMinute,
    ConnectionFee,
    MinDuration,
    Increment,
    FirstIncrement,
    NextIncrement,
}

impl Column {
    const ALL: [Column; 8] = [
        Column::Prefix,
        Column::Description,
        Column::PricePerMinute,
        Column::ConnectionFee,
        Column::MinDuration,
        Column::Increment,
        Column::FirstIncrement,
        Column::NextIncrement,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Prefix => "prefix",
            Column::Description => "description",
            Column::PricePerMinute => "price_per_minute",
            Column::ConnectionFee => "connection_fee",
            Column::MinDuration => "min_duration",
            Column::Increment => "increment",
            Column::FirstIncrement => "first_increment",
            Column::NextIncrement => "next_increment",
        }
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A line the CSV syntax does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("a quote inside an unquoted field (quote the whole field, doubling inner quotes)")]
    StrayQuote,
    #[error("text after a closing quote")]
    TextAfterQuote,
    #[error("a quoted field is never closed")]
    UnclosedQuote,
    #[error("a record longer than 4096 bytes (a quote left open?); reading stopped")]
    TooLong,
}

/// Why a line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeckErrorKind {
    #[error("no header line (the first line names the columns)")]
    NoHeader,
    #[error(
        "unknown column {0:?} (the columns are prefix, description, price_per_minute, connection_fee, \
         min_duration, and increment or first_increment and next_increment)"
    )]
    UnknownColumn(String),
    #[error("column {0} appears twice")]
    DuplicateColumn(Column),
    #[error("missing column {0}")]
    MissingColumn(Column),
    #[error("has both increment and first_increment/next_increment: use one or the other")]
    MixedIncrements,
    #[error("{0}")]
    Csv(CsvError),
    #[error("has {found} fields, the header has {expected}")]
    FieldCount { expected: usize, found: usize },
    #[error("{0} is not valid UTF-8")]
    NotUtf8(Column),
    #[error("prefix {text:?} {error}")]
    Prefix { text: String, error: PrefixError },
    #[error("prefix {prefix} already appears on line {first_line}")]
    DuplicatePrefix { prefix: Prefix, first_line: u64 },
    #[error("{column} {text:?} {error}")]
    Price { column: Column, text: String, error: MoneyError },
    #[error("{column} {text:?} is negative")]
    Negative { column: Column, text: String },
    #[error("{column} {text:?} is not a whole number of seconds")]
    Seconds { column: Column, text: String },
    #[error("{column} {text:?} is more than 3600 seconds")]
    TooManySeconds { column: Column, text: String },
    #[error("{0} must be at least 1 second")]
    ZeroIncrement(Column),
    #[error("description has a control character")]
    ControlCharacter,
    #[error("description is longer than 200 characters")]
    DescriptionTooLong,
    #[error("more than 2000000 rows; reading stopped")]
    TooManyRows,
    #[error("read error: {0}; reading stopped")]
    Io(String),
}

/// A refused line: `line` is 1-based, and for a record spanning lines, the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct DeckError {
    pub line: u64,
    pub kind: DeckErrorKind,
}

/// Why a deck was refused: the first [`MAX_ERRORS`] errors in file order, and how many more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeckErrors {
    pub errors: Vec<DeckError>,
    pub more: u64,
}

impl DeckErrors {
    fn push(&mut self, line: u64, kind: DeckErrorKind) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(DeckError { line, kind });
        } else {
            self.more += 1;
        }
    }

    fn count(&self) -> u64 {
        self.errors.len() as u64 + self.more
    }
}

impl fmt::Display for DeckErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        if self.more > 0 {
            write!(f, "\n… and {} more", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for DeckErrors {}

/// Reads a deck, handing each row to `sink`. See the module doc for the format and the rules.
pub fn parse_deck(reader: impl BufRead, sink: impl FnMut(DeckRow)) -> Result<DeckSummary, DeckErrors> {
    parse_deck_with_progress(reader, sink, |_| {})
}

/// [`parse_deck`], calling `progress` every [`PROGRESS_EVERY`] records and once at the end.
pub fn parse_deck_with_progress(
    reader: impl BufRead,
    mut sink: impl FnMut(DeckRow),
    mut progress: impl FnMut(Progress),
) -> Result<DeckSummary, DeckErrors> {
    let mut errors = DeckErrors::default();
    let mut records = match Records::new(reader) {
        Ok(r) => r,
        Err(e) => {
            errors.push(1, DeckErrorKind::Io(e.to_string()));
            return Err(errors);
        }
    };
    let columns = loop {
        match records.next() {
            Err(e) => errors.push(records.line, DeckErrorKind::Io(e.to_string())),
            Ok(Record::End) => errors.push(1, DeckErrorKind::NoHeader),
            Ok(Record::Bad { line, error }) => errors.push(line, DeckErrorKind::Csv(error)),
            Ok(Record::Fields { .. }) if records.is_blank() => continue,
            Ok(Record::Fields { line }) => match Columns::parse(&records) {
                Ok(c) => break c,
                Err(kind) => errors.push(line, kind),
            },
        }
        return Err(errors);
    };

    // Prefix → the line it first appeared on.
    let mut seen: HashMap<u64, u64, BuildHasherDefault<KeyHasher>> = HashMap::default();
    let (mut rows, mut read) = (0u64, 0u64);
    loop {
        match records.next() {
            Err(e) => {
                errors.push(records.line, DeckErrorKind::Io(e.to_string()));
                break;
            }
            Ok(Record::End) => break,
            Ok(Record::Bad { line, error }) => {
                errors.push(line, DeckErrorKind::Csv(error));
                if error == CsvError::TooLong {
                    break;
                }
            }
            Ok(Record::Fields { .. }) if records.is_blank() => continue,
            Ok(Record::Fields { line }) => {
                if read == MAX_ROWS {
                    errors.push(line, DeckErrorKind::TooManyRows);
                    break;
                }
                match columns.row(&records, &mut seen, line) {
                    Ok(row) if errors.errors.is_empty() => {
                        sink(row);
                        rows += 1;
                    }
                    Ok(_) => {}
                    Err(kind) => errors.push(line, kind),
                }
            }
        }
        read += 1;
        if read % PROGRESS_EVERY == 0 {
            progress(Progress { records: read, errors: errors.count(), bytes: records.bytes });
        }
    }
    progress(Progress { records: read, errors: errors.count(), bytes: records.bytes });
    if errors.errors.is_empty() { Ok(DeckSummary { rows }) } else { Err(errors) }
}

/// Where each column is in a record.
struct Columns {
    prefix: usize,
    description: usize,
    price: usize,
    fee: usize,
    min_duration: usize,
    first: (usize, Column),
    next: (usize, Column),
    count: usize,
}

impl Columns {
    fn parse<R: BufRead>(header: &Records<R>) -> Result<Columns, DeckErrorKind> {
        let mut at: [Option<usize>; 8] = [None; 8];
        for i in 0..header.fields() {
            let name = String::from_utf8_lossy(header.field(i));
            let name = name.trim().to_ascii_lowercase();
            let Some(c) = Column::ALL.iter().position(|c| c.name() == name) else {
                return Err(DeckErrorKind::UnknownColumn(clip(&name)));
            };
            if at[c].replace(i).is_some() {
                return Err(DeckErrorKind::DuplicateColumn(Column::ALL[c]));
            }
        }
        let get = |c: Column| at[c as usize];
        let need = |c: Column| get(c).ok_or(DeckErrorKind::MissingColumn(c));
        let (first, next) = match (get(Column::Increment), get(Column::FirstIncrement), get(Column::NextIncrement)) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => return Err(DeckErrorKind::MixedIncrements),
            (Some(i), None, None) => ((i, Column::Increment), (i, Column::Increment)),
            (None, Some(f), Some(n)) => ((f, Column::FirstIncrement), (n, Column::NextIncrement)),
            (None, None, _) => return Err(DeckErrorKind::MissingColumn(Column::Increment)),
            (None, Some(_), None) => return Err(DeckErrorKind::MissingColumn(Column::NextIncrement)),
        };
        Ok(Columns {
            prefix: need(Column::Prefix)?,
            description: need(Column::Description)?,
            price: need(Column::PricePerMinute)?,
            fee: need(Column::ConnectionFee)?,
            min_duration: need(Column::MinDuration)?,
            first,
            next,
            count: header.fields(),
        })
    }

    /// The record as a row. Its prefix, if valid, is remembered in `seen` even when another field
    /// is bad, so that a repeat is still reported.
    fn row<R: BufRead>(
        &self,
        rec: &Records<R>,
        seen: &mut HashMap<u64, u64, BuildHasherDefault<KeyHasher>>,
        line: u64,
    ) -> Result<DeckRow, DeckErrorKind> {
        if rec.fields() != self.count {
            return Err(DeckErrorKind::FieldCount { expected: self.count, found: rec.fields() });
        }
        let text = |i: usize, c: Column| std::str::from_utf8(rec.field(i)).map_err(|_| DeckErrorKind::NotUtf8(c));
        let prefix_text = text(self.prefix, Column::Prefix)?;
        let prefix = Prefix::parse(prefix_text)
            .map_err(|error| DeckErrorKind::Prefix { text: clip(prefix_text.trim()), error })?;
        match seen.entry(prefix.key()) {
            hash_map::Entry::Occupied(e) => {
                return Err(DeckErrorKind::DuplicatePrefix { prefix, first_line: *e.get() });
            }
            hash_map::Entry::Vacant(v) => {
                v.insert(line);
            }
        }
        let description = text(self.description, Column::Description)?.trim();
        if description.chars().any(char::is_control) {
            return Err(DeckErrorKind::ControlCharacter);
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(DeckErrorKind::DescriptionTooLong);
        }
        let money = |i: usize, column: Column| {
            let t = text(i, column)?.trim();
            match Money::parse(t) {
                Ok(m) if m.0 < 0 => Err(DeckErrorKind::Negative { column, text: clip(t) }),
                Ok(m) => Ok(m),
                Err(error) => Err(DeckErrorKind::Price { column, text: clip(t), error }),
            }
        };
        let seconds = |i: usize, column: Column, least: u32| {
            let t = text(i, column)?.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(DeckErrorKind::Seconds { column, text: clip(t) });
            }
            match t.parse::<u32>() {
                Ok(s) if s > MAX_SECONDS => Err(DeckErrorKind::TooManySeconds { column, text: clip(t) }),
                Ok(s) if s < least => Err(DeckErrorKind::ZeroIncrement(column)),
                Ok(s) => Ok(s),
                Err(_) => Err(DeckErrorKind::TooManySeconds { column, text: clip(t) }),
            }
        };
        let per_minute = money(self.price, Column::PricePerMinute)?;
        let connection_fee = money(self.fee, Column::ConnectionFee)?;
        let min_duration = seconds(self.min_duration, Column::MinDuration, 0)?;
        let first_increment = seconds(self.first.0, self.first.1, 1)?;
        let next_increment = seconds(self.next.0, self.next.1, 1)?;
        let rate = Tariff { per_minute, connection_fee, min_duration, first_increment, next_increment };
        Ok(DeckRow { prefix, description: description.to_string(), rate })
    }
}

/// At most 24 characters of `text`, for an error message.
fn clip(text: &str) -> String {
    match text.char_indices().nth(24) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The header [`write_deck`] writes.
pub const HEADER: &str =
    "prefix,description,price_per_minute,connection_fee,min_duration,first_increment,next_increment";

/// Writes `rows` as a deck [`parse_deck`] reads back to the same rows: [`HEADER`], then one line
/// per row, `\n`-terminated, the description quoted when it needs to be. Pass a buffered writer.
pub fn write_deck<'a>(rows: impl IntoIterator<Item = &'a DeckRow>, mut out: impl Write) -> io::Result<()> {
    writeln!(out, "{HEADER}")?;
    for r in rows {
        let t = &r.rate;
        write!(out, "{},", r.prefix)?;
        let d = &r.description;
        if d.contains([',', '"', '\r', '\n']) || d.trim() != d {
            write!(out, "\"{}\"", d.replace('"', "\"\""))?;
        } else {
            out.write_all(d.as_bytes())?;
        }
        writeln!(
            out,
            ",{},{},{},{},{}",
            t.per_minute, t.connection_fee, t.min_duration, t.first_increment, t.next_increment
        )?;
    }
    Ok(())
}

/// What [`Records::next`] read.
#[derive(Debug)]
enum Record {
    /// A record, now in the reader's buffer.
    Fields {
        line: u64,
    },
    /// A record that breaks the syntax; the rest of its line was skipped.
    Bad {
        line: u64,
        error: CsvError,
    },
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote in a quoted field: either the closing one or the first of a doubled pair.
    AfterQuote,
    /// The line is bad: skip to its end.
    SkipLine,
}

/// RFC 4180 records, one at a time, into one reused buffer.
struct Records<R> {
    src: R,
    /// The line the next record starts on, 1-based.
    line: u64,
    bytes: u64,
    /// The current record's fields, end to end.
    data: Vec<u8>,
    /// Where each field ends in `data`.
    ends: Vec<usize>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<R: BufRead> Records<io::Chain<io::Cursor<Vec<u8>>, R>> {
    /// Reads past a byte-order mark, if there is one.
    fn new(mut src: R) -> io::Result<Self> {
        let mut head = Vec::with_capacity(BOM.len());
        while head.len() < BOM.len() {
            let buf = match src.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                break;
            }
            let take = (BOM.len() - head.len()).min(buf.len());
            head.extend_from_slice(&buf[..take]);
            src.consume(take);
        }
        let bytes = if head == BOM {
            head.clear();
            BOM.len() as u64
        } else {
            0
        };
        Ok(Records { src: io::Cursor::new(head).chain(src), line: 1, bytes, data: Vec::new(), ends: Vec::new() })
    }
}

impl<R: BufRead> Records<R> {
    fn fields(&self) -> usize {
        self.ends.len()
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }

    /// A line with nothing but spaces on it.
    fn is_blank(&self) -> bool {
        self.ends.len() == 1 && self.data.trim_ascii().is_empty()
    }

    fn next(&mut self) -> io::Result<Record> {
        self.data.clear();
        self.ends.clear();
        let line = self.line;
        let mut state = State::FieldStart;
        let mut error = None;
        let mut started = false;
        loop {
            let chunk = match self.src.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if !started {
                    return Ok(Record::End);
                }
                if state == State::Quoted {
                    error = error.or(Some(CsvError::UnclosedQuote));
                }
                self.ends.push(self.data.len());
                return Ok(match error {
                    Some(error) => Record::Bad { line, error },
                    None => Record::Fields { line },
                });
            }
            started = true;
            let mut used = 0;
            let mut done = false;
            for &b in chunk {
                used += 1;
                if b == b'\n' {
                    self.line += 1;
                }
                match (state, b) {
                    (State::FieldStart, b' ' | b'\t' | b'\r') => {}
                    (State::FieldStart | State::Unquoted | State::AfterQuote, b',') => {
                        self.ends.push(self.data.len());
                        state = State::FieldStart;
                    }
                    (State::FieldStart | State::Unquoted | State::AfterQuote, b'\n') => {
                        self.ends.push(self.data.len());
                        done = true;
                    }
                    (State::FieldStart | State::Unquoted, _) if b != b'"' => {
                        self.data.push(b);
                        state = State::Unquoted;
                    }
                    (State::FieldStart, _) => state = State::Quoted,
                    (State::Unquoted, _) => {
                        error = Some(CsvError::StrayQuote);
                        state = State::SkipLine;
                    }
                    (State::Quoted, b'"') => state = State::AfterQuote,
                    (State::Quoted, _) => self.data.push(b),
                    (State::AfterQuote, b'"') => {
                        self.data.push(b'"');
                        state = State::Quoted;
                    }
                    (State::AfterQuote, b' ' | b'\t' | b'\r') => {}
                    (State::AfterQuote, _) => {
                        error = Some(CsvError::TextAfterQuote);
                        state = State::SkipLine;
                    }
                    (State::SkipLine, _) => done = b == b'\n',
                }
                if done || self.data.len() > MAX_RECORD_BYTES {
                    break;
                }
            }
            self.src.consume(used);
            self.bytes += used as u64;
            if self.data.len() > MAX_RECORD_BYTES {
                return Ok(Record::Bad { line, error: CsvError::TooLong });
            }
            if done {
                return Ok(match error {
                    Some(error) => Record::Bad { line, error },
                    None => Record::Fields { line },
                });
            }
        }
    }
}

/// A hasher for packed prefixes (already well-spread `u64`s): MurmurHash3's finaliser.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 ^= x;
    }
}
