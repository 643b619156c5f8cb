//! The double-entry ledger's rules, pure. A `Posting` moves money between accounts; its
//! entries sum to zero, so money is never created or lost, only moved. Every posting names its
//! `Source` (a call, a payment, an adjustment), and a source is posted at most once: posting it
//! again is a no-op, which makes retries and duplicated webhooks harmless.
//!
//! Sign convention: an entry's amount is what the account gains. A user's balance is the sum of
//! the entries on their account, so a top-up is `+` on `User` and `−` on `PaymentClearing`.

use std::fmt;

use crate::{domain::UserId, rating::Money};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    /// What the platform owes a user: their prepaid balance.
    User(UserId),
    /// Money received from a payment provider, not yet settled.
    PaymentClearing,
    /// Sales of calls.
    Revenue,
    /// What carriers charge us.
    CarrierCosts,
    /// What we owe carriers, until settled.
    CarrierPayable,
    /// The other side of an administrator's manual credit or debit.
    Adjustments,
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Account::User(u) => write!(f, "user:{u}"),
            Account::PaymentClearing => f.write_str("payment_clearing"),
            Account::Revenue => f.write_str("revenue"),
            Account::CarrierCosts => f.write_str("carrier_costs"),
            Account::CarrierPayable => f.write_str("carrier_payable"),
            Account::Adjustments => f.write_str("adjustments"),
        }
    }
}

impl Account {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "payment_clearing" => Account::PaymentClearing,
            "revenue" => Account::Revenue,
            "carrier_costs" => Account::CarrierCosts,
            "carrier_payable" => Account::CarrierPayable,
            "adjustments" => Account::Adjustments,
            _ => Account::User(UserId(s.strip_prefix("user:")?.parse().ok()?)),
        })
    }
}

/// A user's money: their balance and how far below zero they may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Funds {
    pub balance: Money,
    pub credit_limit: Money,
    /// Held for ended calls whose charge is not posted yet.
    pub pending: Money,
}

impl Funds {
    /// What calls may spend: balance + credit limit − what ended calls still hold.
    pub fn available(self) -> Money {
        Money(self.balance.0.saturating_add(self.credit_limit.0).saturating_sub(self.pending.0))
    }
}

/// What a posting is for; unique across the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// `call`, `payment`, `refund`, `dispute`, `adjustment`, …
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub source: Source,
    pub description: String,
    pub entries: Vec<(Account, Money)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error("a posting needs at least two entries")]
    TooFewEntries,
    #[error("an entry of zero moves nothing")]
    ZeroEntry,
    #[error("entries must sum to zero (they sum to {0})")]
    Unbalanced(Money),
    #[error("amount out of range")]
    Overflow,
}

impl Posting {
    /// A balanced posting, or why not.
    pub fn new(
        source: Source,
        description: impl Into<String>,
        entries: Vec<(Account, Money)>,
    ) -> Result<Self, PostingError> {
        if entries.len() < 2 {
            return Err(PostingError::TooFewEntries);
        }
        if entries.iter().any(|(_, m)| *m == Money::ZERO) {
            return Err(PostingError::ZeroEntry);
        }
        let sum =
            entries.iter().try_fold(Money::ZERO, |acc, (_, m)| acc.checked_add(*m)).ok_or(PostingError::Overflow)?;
        if sum != Money::ZERO {
            return Err(PostingError::Unbalanced(sum));
        }
        Ok(Self { source, description: description.into(), entries })
    }

    /// `amount` from `from` to `to`.
    pub fn transfer(
        source: Source,
        description: impl Into<String>,
        from: Account,
        to: Account,
        amount: Money,
    ) -> Result<Self, PostingError> {
        if amount.0 == i64::MIN {
            return Err(PostingError::Overflow);
        }
        Self::new(source, description, vec![(from, -amount), (to, amount)])
    }

    /// A card payment of `amount` credited to `user`, once per payment.
    pub fn payment(payment: &str, user: UserId, amount: Money) -> Result<Self, PostingError> {
        let source = Source { kind: "payment", id: payment.to_string() };
        Self::transfer(source, "Card top-up", Account::PaymentClearing, Account::User(user), amount)
    }

    /// Bringing a payment's refunds up to `refunded_total` (the provider's cumulative figure)
    /// takes `amount` back. Its source is the payment and that total, so each step posts once.
    pub fn refund(payment: &str, refunded_total: i64, user: UserId, amount: Money) -> Result<Self, PostingError> {
        let source = Source { kind: "refund", id: format!("{payment}:{refunded_total}") };
        Self::transfer(source, "Card top-up refunded", Account::User(user), Account::PaymentClearing, amount)
    }

    /// The card holder disputed a payment: the disputed amount is taken back, once per dispute.
    pub fn dispute(dispute: &str, user: UserId, amount: Money) -> Result<Self, PostingError> {
        let source = Source { kind: "dispute", id: dispute.to_string() };
        Self::transfer(source, "Card payment disputed", Account::User(user), Account::PaymentClearing, amount)
    }

    /// A call's charge, once per call.
    pub fn call_charge(call: &str, user: UserId, amount: Money) -> Result<Self, PostingError> {
        let source = Source { kind: "call", id: call.to_string() };
        Self::transfer(source, "Call", Account::User(user), Account::Revenue, amount)
    }

    /// What a carrier charges us for a call: a cost, owed to the carrier.
    pub fn carrier_cost(call: &str, amount: Money) -> Result<Self, PostingError> {
        let source = Source { kind: "carrier_cost", id: call.to_string() };
        Self::transfer(source, "Carrier cost", Account::CarrierPayable, Account::CarrierCosts, amount)
    }

    /// An administrator's credit (positive) or debit (negative) of a user's balance.
    pub fn adjustment(id: String, user: UserId, amount: Money, reason: &str) -> Result<Self, PostingError> {
        Self::transfer(Source { kind: "adjustment", id }, reason, Account::Adjustments, Account::User(user), amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src() -> Source {
        Source { kind: "adjustment", id: "a1".into() }
    }

    #[test]
    fn postings_balance() {
        let p = Posting::adjustment("a1".into(), UserId(7), Money(2_500_000), "goodwill").unwrap();
        assert_eq!(
            p.entries,
            vec![(Account::Adjustments, Money(-2_500_000)), (Account::User(UserId(7)), Money(2_500_000))]
        );
        assert_eq!(
            Posting::new(src(), "x", vec![(Account::Revenue, Money(5)), (Account::User(UserId(1)), Money(-4))]),
            Err(PostingError::Unbalanced(Money(1)))
        );
        assert_eq!(Posting::new(src(), "x", vec![(Account::Revenue, Money(0))]), Err(PostingError::TooFewEntries));
        assert_eq!(Posting::adjustment("a".into(), UserId(1), Money::ZERO, "x"), Err(PostingError::ZeroEntry));
        assert_eq!(
            Posting::new(src(), "x", vec![(Account::Revenue, Money(i64::MAX)), (Account::Revenue, Money(1))]),
            Err(PostingError::Overflow)
        );
    }

    #[test]
    fn account_names_round_trip() {
        for a in [
            Account::User(UserId(42)),
            Account::PaymentClearing,
            Account::Revenue,
            Account::CarrierCosts,
            Account::Adjustments,
        ] {
            assert_eq!(Account::parse(&a.to_string()), Some(a));
        }
        assert_eq!(Account::parse("user:x"), None);
        assert_eq!(Account::parse("cash"), None);
    }
}
