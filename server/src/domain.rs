//! Domain types. Parse, don't validate: a value of these types is known to be well formed, and
//! the only way to get one from outside is the `parse` at the boundary.

use std::fmt;

use chrono::{DateTime, Utc};
use protocol::limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    pub disabled: bool,
    /// Where numbers typed in national format are read (`None`: only international format).
    pub country: Option<Country>,
    /// A card payment of theirs was disputed: card top-ups wait until an admin clears this.
    pub under_review: bool,
    /// Their retail rate plan (`None`: the default plan).
    pub rate_plan_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A country phone numbers can be read in: ISO 3166-1 alpha-2, upper case (e.g. `GB`), one that
/// libphonenumber has metadata for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Country(String);

impl Country {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_ascii_uppercase();
        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("must be two letters, like GB");
        }
        if s.parse::<phonenumber::country::Id>().is_err() {
            return Err("is not a country code we know");
        }
        Ok(Self(s))
    }
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, trimmed and lower-cased so that uniqueness is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("enter your email address");
        }
        if s.len() > limits::EMAIL_MAX {
            return Err("is too long");
        }
        // `email_address` implements RFC 5322's addr-spec; we also want a dot-less host to be
        // rare but allowed (`admin@localhost` is fine on a self-hosted box).
        if !email_address::EmailAddress::is_valid(&s) {
            return Err("is not a valid email address");
        }
        Ok(Self(s))
    }
    /// For values read back from our own database, which were parsed on the way in.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as shown to others: trimmed, 1..=64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("enter a name");
        }
        if s.chars().count() > limits::DISPLAY_NAME_MAX {
            return Err("is too long (64 characters at most)");
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(s.to_string()))
    }
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy. Never logged.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let n = raw.chars().count();
        if n < limits::PASSWORD_MIN {
            return Err("is too short (10 characters at least)");
        }
        if n > limits::PASSWORD_MAX {
            return Err("is too long (128 characters at most)");
        }
        Ok(Self(raw.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(Email::parse("  Alice@Example.COM ").unwrap().as_str(), "alice@example.com");
        assert!(Email::parse("admin@localhost").is_ok());
        for bad in ["", "   ", "alice", "alice@", "@example.com", "a b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err("is too long"));
    }

    #[test]
    fn display_name_rules() {
        assert_eq!(DisplayName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn countries_are_iso_codes_libphonenumber_knows() {
        assert_eq!(Country::parse(" gb ").unwrap().as_str(), "GB");
        assert_eq!(Country::parse("US").unwrap().as_str(), "US");
        for bad in ["", "G", "GBR", "XX", "ZZ", "1A", "é"] {
            assert!(Country::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(NewPassword::parse("123456789").is_err());
        assert!(NewPassword::parse("1234567890").is_ok());
        assert!(NewPassword::parse(&"x".repeat(129)).is_err());
    }
}
