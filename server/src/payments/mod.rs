//! Card top-ups, the pure part: the platform currency and its minor units, the bounds of a
//! top-up, a top-up's status, and what a payment provider's notification means. The shell that
//! talks to Stripe is [`stripe`]; the HTTP endpoints are `http::topups`.
//!
//! A notification is a fact about one payment ("paid 20.00", "refunded 5.00 of it so far",
//! "disputed"). Each becomes a ledger posting whose source is the provider's id for that fact, so
//! applying the same notification twice changes nothing, and the order they arrive in does not
//! change the final balance.

pub mod stripe;

use crate::{config::PaymentSettings, domain::UserId, rating::Money};

/// Top-ups as configured: the rules always, Stripe when its keys are set.
pub struct Payments {
    pub rules: TopupRules,
    pub stripe: Option<stripe::Stripe>,
}

impl Payments {
    pub fn from_settings(s: &PaymentSettings) -> anyhow::Result<Self> {
        let rules = TopupRules::from_settings(s).map_err(anyhow::Error::msg)?;
        let stripe = match (&s.stripe_secret_key, &s.stripe_webhook_secret) {
            (Some(key), Some(webhook)) => {
                Some(stripe::Stripe::new(key, webhook.clone(), s.stripe_api_base.as_deref())?)
            }
            (None, None) => None,
            _ => anyhow::bail!("set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither"),
        };
        Ok(Self { rules, stripe })
    }
}

/// A currency Stripe takes, with the number of decimals of its minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    decimals: u32,
}

/// The currencies the platform can keep balances in (ISO 4217, lower case as Stripe writes them).
const CURRENCIES: &[(&str, u32)] =
    &[("usd", 2), ("eur", 2), ("gbp", 2), ("cad", 2), ("aud", 2), ("chf", 2), ("jpy", 0)];

impl Currency {
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_lowercase();
        CURRENCIES.iter().find(|(c, _)| *c == code).map(|&(code, decimals)| Self { code, decimals })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    fn micros_per_minor(self) -> i64 {
        10_i64.pow(6 - self.decimals)
    }

    /// `m` in minor units (cents), when it is a whole number of them.
    pub fn to_minor(self, m: Money) -> Option<i64> {
        let per = self.micros_per_minor();
        (m.0 % per == 0).then_some(m.0 / per)
    }

    pub fn from_minor(self, minor: i64) -> Option<Money> {
        minor.checked_mul(self.micros_per_minor()).map(Money)
    }

    /// `12.50` for 12 500 000 µ in a two-decimal currency. Exact for whole minor units.
    pub fn format(self, m: Money) -> String {
        let text = m.to_string(); // six decimals
        let cut = 6 - self.decimals as usize;
        let text = &text[..text.len() - cut];
        text.strip_suffix('.').unwrap_or(text).to_string()
    }
}

/// What a top-up may be: currency, bounds and the amounts offered as buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopupRules {
    pub currency: Currency,
    pub min: Money,
    pub max: Money,
    pub presets: Vec<Money>,
}

impl TopupRules {
    /// The rules in the settings, or what is wrong with them (checked at start-up).
    pub fn from_settings(s: &PaymentSettings) -> Result<Self, String> {
        let currency = Currency::parse(&s.currency).ok_or_else(|| {
            let known: Vec<&str> = CURRENCIES.iter().map(|(c, _)| *c).collect();
            format!("payments.currency {:?} is not one of {}", s.currency, known.join(", "))
        })?;
        let amount = |name: &str, text: &str| {
            let m = Money::parse(text).map_err(|e| format!("payments.{name} {text:?} {e}"))?;
            if m.0 <= 0 || currency.to_minor(m).is_none() {
                return Err(format!(
                    "payments.{name} {text:?} must be a positive amount of whole {} cents",
                    currency.code
                ));
            }
            Ok(m)
        };
        let min = amount("min_topup", &s.min_topup)?;
        let max = amount("max_topup", &s.max_topup)?;
        if min > max {
            return Err("payments.min_topup is larger than payments.max_topup".into());
        }
        let presets = s.presets.iter().map(|p| amount("presets", p)).collect::<Result<Vec<_>, _>>()?;
        if let Some(p) = presets.iter().find(|p| **p < min || **p > max) {
            return Err(format!("payments.presets: {} is outside min_topup..max_topup", currency.format(*p)));
        }
        Ok(Self { currency, min, max, presets })
    }

    /// The amount a person typed, or why it cannot be a top-up (said for the field).
    pub fn amount(&self, text: &str) -> Result<Money, String> {
        let m = Money::parse(text).map_err(|e| e.to_string())?;
        if self.currency.to_minor(m).is_none() {
            return Err(format!("has more than {} decimals", self.currency.decimals));
        }
        if m < self.min {
            return Err(format!("must be at least {}", self.currency.format(self.min)));
        }
        if m > self.max {
            return Err(format!("must be at most {}", self.currency.format(self.max)));
        }
        Ok(m)
    }
}

/// Where a top-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopupStatus {
    Pending,
    Paid,
    PartiallyRefunded,
    Refunded,
    Disputed,
    Expired,
}

/// What is known about a top-up, whatever order it was learnt in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopupFacts {
    /// What was paid (`None` before the payment is confirmed).
    pub paid: Option<Money>,
    pub refunded: Money,
    pub disputed: bool,
    pub expired: bool,
}

impl TopupFacts {
    /// A dispute outranks refunds, which outrank payment. A refund learnt before the payment
    /// still shows as a refund: money has moved.
    pub fn status(&self) -> TopupStatus {
        if self.disputed {
            TopupStatus::Disputed
        } else if self.refunded.0 > 0 && self.paid.is_some_and(|p| self.refunded < p) {
            TopupStatus::PartiallyRefunded
        } else if self.refunded.0 > 0 {
            TopupStatus::Refunded
        } else if self.paid.is_some() {
            TopupStatus::Paid
        } else if self.expired {
            TopupStatus::Expired
        } else {
            TopupStatus::Pending
        }
    }
}

/// The top-up a payment belongs to, from the metadata we gave the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopupRef {
    pub topup: i64,
    pub user: UserId,
}

impl TopupRef {
    /// From `topup_id` and `user_id` metadata; `None` when the payment is not one of ours.
    pub fn from_metadata<'a>(mut get: impl FnMut(&str) -> Option<&'a str>) -> Option<Self> {
        let topup = get("topup_id")?.parse().ok()?;
        let user = get("user_id")?.parse().ok()?;
        Some(Self { topup, user: UserId(user) })
    }
}

/// A verified notification from the payment provider, reduced to what the ledger needs.
/// Amounts are in the currency's minor units, as the provider reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The payment succeeded (Checkout completed and paid, or the payment intent succeeded).
    Paid {
        topup: TopupRef,
        payment: String,
        amount_minor: i64,
        currency: String,
    },
    /// `refunded_minor` of the payment has been refunded so far (cumulative).
    Refunded {
        payment: String,
        charge: String,
        refunded_minor: i64,
        currency: String,
    },
    Disputed {
        payment: String,
        dispute: String,
        amount_minor: i64,
        currency: String,
    },
    /// Checkout was abandoned.
    Expired {
        topup: TopupRef,
    },
    /// Acknowledged, nothing to do; says why for the log.
    Ignored(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TopupRules {
        TopupRules::from_settings(&PaymentSettings::default()).unwrap()
    }

    #[test]
    fn amounts() {
        let r = rules();
        let check = |text: &str| match r.amount(text) {
            Ok(m) => r.currency.format(m),
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(check("20"), "20.00");
        assert_eq!(check("12.5"), "12.50");
        assert_eq!(check(" 500.00 "), "500.00");
        assert_eq!(check("4.99"), "error: must be at least 5.00");
        assert_eq!(check("500.01"), "error: must be at most 500.00");
        assert_eq!(check("10.005"), "error: has more than 2 decimals");
        assert_eq!(check("-10"), "error: must be at least 5.00");
        assert_eq!(check("ten"), "error: is not a decimal number like 12.50");
        assert_eq!(check(""), "error: is empty");
    }

    #[test]
    fn minor_units() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.to_minor(Money(20_000_000)), Some(2000));
        assert_eq!(usd.to_minor(Money(1)), None);
        assert_eq!(usd.from_minor(2000), Some(Money(20_000_000)));
        assert_eq!(usd.from_minor(i64::MAX), None);
        let jpy = Currency::parse("jpy").unwrap();
        assert_eq!(jpy.to_minor(Money(500_000_000)), Some(500));
        assert_eq!(jpy.format(Money(500_000_000)), "500");
        assert_eq!(usd.format(Money(-1_500_000)), "-1.50");
        assert_eq!(Currency::parse("xyz"), None);
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut s = PaymentSettings::default();
        s.currency = "doubloons".into();
        assert!(TopupRules::from_settings(&s).unwrap_err().contains("not one of usd"));
        let mut s = PaymentSettings::default();
        s.min_topup = "600".into();
        assert_eq!(TopupRules::from_settings(&s).unwrap_err(), "payments.min_topup is larger than payments.max_topup");
        let mut s = PaymentSettings::default();
        s.presets = vec!["1000".into()];
        assert_eq!(
            TopupRules::from_settings(&s).unwrap_err(),
            "payments.presets: 1000.00 is outside min_topup..max_topup"
        );
        let mut s = PaymentSettings::default();
        s.min_topup = "0.001".into();
        assert!(TopupRules::from_settings(&s).unwrap_err().contains("whole usd cents"));
    }

    #[test]
    fn status_does_not_depend_on_order() {
        let paid = Some(Money(20_000_000));
        let f = |paid, refunded, disputed, expired| TopupFacts { paid, refunded: Money(refunded), disputed, expired };
        assert_eq!(f(None, 0, false, false).status(), TopupStatus::Pending);
        assert_eq!(f(None, 0, false, true).status(), TopupStatus::Expired);
        assert_eq!(f(paid, 0, false, false).status(), TopupStatus::Paid);
        assert_eq!(f(paid, 5_000_000, false, false).status(), TopupStatus::PartiallyRefunded);
        assert_eq!(f(paid, 20_000_000, false, false).status(), TopupStatus::Refunded);
        // The refund's notification came first.
        assert_eq!(f(None, 20_000_000, false, false).status(), TopupStatus::Refunded);
        assert_eq!(f(paid, 5_000_000, true, false).status(), TopupStatus::Disputed);
    }

    #[test]
    fn topup_ref_from_metadata() {
        let md = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
        };
        assert_eq!(
            TopupRef::from_metadata(md(&[("topup_id", "3"), ("user_id", "7")])),
            Some(TopupRef { topup: 3, user: UserId(7) })
        );
        assert_eq!(TopupRef::from_metadata(md(&[("topup_id", "3")])), None);
        assert_eq!(TopupRef::from_metadata(md(&[("topup_id", "x"), ("user_id", "7")])), None);
    }
}
