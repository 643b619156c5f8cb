//! Phone numbers: whatever a person typed, normalised to E.164 (`+` and the digits) and checked
//! against libphonenumber's metadata before anything is dialed. A national format needs the
//! user's country (ISO 3166 alpha-2, e.g. `GB`).

use std::fmt;

use phonenumber::{Mode, country};

/// A valid phone number in E.164 form, e.g. `+442079460018`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("enter a phone number")]
    Empty,
    #[error("{0:?} is not a country code we know (use two letters, like GB)")]
    UnknownCountry(String),
    #[error("start the number with + and the country code, or set your country")]
    NeedsCountry,
    #[error("is not a phone number")]
    NotANumber,
    #[error("is not a valid number for its country")]
    Invalid,
}

impl E164 {
    pub fn parse(raw: &str, default_country: Option<&str>) -> Result<Self, NumberError> {
        let typed = raw.trim();
        if typed.is_empty() {
            return Err(NumberError::Empty);
        }
        // Letters are never part of a number we dial (vanity numbers are not supported).
        if typed.chars().any(|c| c.is_alphabetic()) || !phonenumber::is_viable(typed) {
            return Err(NumberError::NotANumber);
        }
        let country: Option<country::Id> = match default_country {
            Some(c) => Some(c.trim().to_uppercase().parse().map_err(|_| NumberError::UnknownCountry(c.to_string()))?),
            None => None,
        };
        let international = typed.starts_with('+') || typed.starts_with("00");
        if country.is_none() && !international {
            return Err(NumberError::NeedsCountry);
        }
        let typed = match typed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => typed.to_string(),
        };
        let number = phonenumber::parse(country, &typed).map_err(|_| NumberError::NotANumber)?;
        if !phonenumber::is_valid(&number) {
            return Err(NumberError::Invalid);
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// For values read back from our own database, which were parsed on the way in.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+` (for SIP user parts and prefix matching).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Each line: `country | typed`; renders what comes out.
    #[track_caller]
    fn check(cases: &str, expect: Expect) {
        let rendered: Vec<String> = cases
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (country, typed) = l.split_once('|').unwrap();
                let country = Some(country.trim()).filter(|c| !c.is_empty() && *c != "-");
                match E164::parse(typed, country) {
                    Ok(n) => format!("{l} => {n}"),
                    Err(e) => format!("{l} => error: {e}"),
                }
            })
            .collect();
        expect.assert_eq(&rendered.join("\n"));
    }

    #[test]
    fn normalises_to_e164() {
        check(
            "
            GB | 020 7946 0018
            GB | +44 20 7946 0018
            -  | +44 (0)20 7946 0018
            -  | 0044 20 7946 0018
            US | (201) 555-0123
            US | 1-201-555-0123
            FR | 06 12 34 56 78
            DE | 030 12345678
            gb | 07911 123456
            ",
            expect![[r#"
                GB | 020 7946 0018 => +442079460018
                GB | +44 20 7946 0018 => +442079460018
                -  | +44 (0)20 7946 0018 => +442079460018
                -  | 0044 20 7946 0018 => +442079460018
                US | (201) 555-0123 => +12015550123
                US | 1-201-555-0123 => +12015550123
                FR | 06 12 34 56 78 => +33612345678
                DE | 030 12345678 => +493012345678
                gb | 07911 123456 => +447911123456"#]],
        );
    }

    /// (07700 900xxx is Ofcom's range reserved for drama: not a number anyone can have.)
    #[test]
    fn refuses_what_cannot_be_dialed() {
        check(
            "
            GB |
            GB | hello
            GB | 1-800-FLOWERS
            -  | 020 7946 0018
            XX | 020 7946 0018
            GB | 12
            GB | +44 20 7946 00189999
            US | 555-0123
            GB | 07700 900123
            ",
            expect![[r#"
                GB | => error: enter a phone number
                GB | hello => error: is not a phone number
                GB | 1-800-FLOWERS => error: is not a phone number
                -  | 020 7946 0018 => error: start the number with + and the country code, or set your country
                XX | 020 7946 0018 => error: "XX" is not a country code we know (use two letters, like GB)
                GB | 12 => error: is not a valid number for its country
                GB | +44 20 7946 00189999 => error: is not a valid number for its country
                US | 555-0123 => error: is not a valid number for its country
                GB | 07700 900123 => error: is not a valid number for its country"#]],
        );
    }
}
