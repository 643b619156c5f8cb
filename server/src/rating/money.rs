//! Money as an integer number of micro-units (1 unit = 1 000 000 µ), parsed exactly from decimal
//! text. There is no float anywhere on the way from a rate deck's "0.0125" to a charge.

use std::{fmt, ops};

/// Micro-units of the platform's currency. Signed: ledger entries go both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(pub i64);

pub const MICROS_PER_UNIT: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("is empty")]
    Empty,
    #[error("is not a decimal number like 12.50")]
    NotDecimal,
    #[error("has more than 6 decimal places")]
    TooPrecise,
    #[error("is too large")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_units(units: i64) -> Option<Money> {
        units.checked_mul(MICROS_PER_UNIT).map(Money)
    }

    /// Exact: `"0.0125"` is 12 500 µ; `"-3"`, `"+1.5"`, `"7."` and `".5"` are accepted;
    /// exponents, separators and more than six decimals are not.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let s = text.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        let (negative, digits) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if (whole.is_empty() && frac.is_empty()) || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::NotDecimal);
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise);
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| MoneyError::TooLarge)? };
        let frac_micros: i64 = format!("{frac:0<6}").parse().map_err(|_| MoneyError::NotDecimal)?;
        let micros =
            whole.checked_mul(MICROS_PER_UNIT).and_then(|w| w.checked_add(frac_micros)).ok_or(MoneyError::TooLarge)?;
        Ok(Money(if negative { -micros } else { micros }))
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl ops::AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        *self = *self + rhs;
    }
}

impl ops::Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

/// Six decimals, always: `12.500000`, `-0.012500`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let unit = MICROS_PER_UNIT.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / unit, abs % unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[track_caller]
    fn check(inputs: &[&str], expect: expect_test::Expect) {
        let rendered: Vec<String> = inputs
            .iter()
            .map(|i| match Money::parse(i) {
                Ok(m) => format!("{:<14} → {m} ({} µ)", format!("{i:?}"), m.0),
                Err(e) => format!("{:<14} → error: {e}", format!("{i:?}")),
            })
            .collect();
        expect.assert_eq(&rendered.join("\n"));
    }

    #[test]
    fn parses_exactly() {
        check(
            &[
                "0.0125",
                "12.5",
                "7",
                "7.",
                ".5",
                "-3",
                "+1.000001",
                "0.1234567",
                "1e3",
                "1,5",
                "",
                " 2 ",
                "-",
                "9223372036855",
            ],
            expect![[r#"
                "0.0125"       → 0.012500 (12500 µ)
                "12.5"         → 12.500000 (12500000 µ)
                "7"            → 7.000000 (7000000 µ)
                "7."           → 7.000000 (7000000 µ)
                ".5"           → 0.500000 (500000 µ)
                "-3"           → -3.000000 (-3000000 µ)
                "+1.000001"    → 1.000001 (1000001 µ)
                "0.1234567"    → error: has more than 6 decimal places
                "1e3"          → error: is not a decimal number like 12.50
                "1,5"          → error: is not a decimal number like 12.50
                ""             → error: is empty
                " 2 "          → 2.000000 (2000000 µ)
                "-"            → error: is not a decimal number like 12.50
                "9223372036855" → error: is too large"#]],
        );
    }
}
