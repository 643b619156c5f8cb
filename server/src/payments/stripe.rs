//! The Stripe shell: Customers and Checkout Sessions through async-stripe, and webhook events
//! verified (`Stripe-Signature`: HMAC-SHA256 over `timestamp.payload`, any `v1`, 300 s either
//! way) and reduced to a [`Notice`] before anything else reads them.

use std::{collections::HashMap, time::Duration};

use anyhow::Context;
use stripe::{IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
    CreateCheckoutSessionPaymentIntentData, ProductData,
};
use stripe_core::{customer::CreateCustomer, payment_intent::RetrievePaymentIntent};
use stripe_shared::{CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus};
use stripe_webhook::{EventObject, Webhook, WebhookError};

use super::{Currency, Notice, TopupRef};
use crate::{config::Secret, domain::User, rating::Money};

pub struct Stripe {
    client: stripe::Client,
    webhook_secret: Secret,
}

/// One Checkout Session to open.
pub struct CheckoutRequest<'a> {
    pub topup: TopupRef,
    pub customer: &'a str,
    pub amount: Money,
    pub currency: Currency,
    /// Where Stripe sends the browser after paying (`{CHECKOUT_SESSION_ID}` is filled in) and
    /// after giving up.
    pub success_url: String,
    pub cancel_url: String,
}

pub struct Checkout {
    pub session_id: String,
    pub url: String,
}

/// Why a webhook delivery was refused (answered 400, nothing written).
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the Stripe-Signature header is malformed")]
    BadHeader,
    #[error("no signature in Stripe-Signature matches this payload")]
    BadSignature,
    #[error("the Stripe-Signature timestamp {0} is more than 300 s away from now")]
    BadTimestamp(i64),
    #[error("the event could not be read: {0}")]
    BadEvent(String),
}

impl Stripe {
    pub fn new(secret_key: &Secret, webhook_secret: Secret, api_base: Option<&str>) -> anyhow::Result<Self> {
        let mut builder = stripe::ClientBuilder::new(secret_key.expose()).timeout(Duration::from_secs(20));
        if let Some(base) = api_base {
            builder = builder.url(base);
        }
        let client = builder.build().context("configuring the Stripe client")?;
        Ok(Self { client, webhook_secret })
    }

    /// Creates the user's Stripe customer. Idempotent per user, so that two top-ups started at
    /// once get the same customer.
    pub async fn create_customer(&self, user: &User) -> anyhow::Result<String> {
        let customer = CreateCustomer::new()
            .email(user.email.as_str())
            .name(user.display_name.as_str())
            .metadata(HashMap::from([("user_id".to_string(), user.id.0.to_string())]))
            .customize()
            .request_strategy(idempotent(&format!("callplat-customer-{}", user.id.0))?)
            .send(&self.client)
            .await
            .context("creating a Stripe customer")?;
        Ok(customer.id.to_string())
    }

    pub async fn create_checkout(&self, req: CheckoutRequest<'_>) -> anyhow::Result<Checkout> {
        let minor = req.currency.to_minor(req.amount).context("the amount is not whole cents")?;
        let metadata = HashMap::from([
            ("topup_id".to_string(), req.topup.topup.to_string()),
            ("user_id".to_string(), req.topup.user.0.to_string()),
        ]);
        let currency: stripe_types::Currency = req.currency.code().parse().context("currency")?;
        let mut price = CreateCheckoutSessionLineItemsPriceData::new(currency);
        price.unit_amount = Some(minor);
        price.product_data = Some(ProductData::new("Calling credit"));
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price_data = Some(price);
        item.quantity = Some(1);
        let mut intent = CreateCheckoutSessionPaymentIntentData::new();
        intent.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .customer(req.customer)
            .client_reference_id(req.topup.topup.to_string())
            .line_items(vec![item])
            .metadata(metadata)
            .payment_intent_data(intent)
            .success_url(req.success_url)
            .cancel_url(req.cancel_url)
            .customize()
            .request_strategy(idempotent(&format!("callplat-topup-{}", req.topup.topup))?)
            .send(&self.client)
            .await
            .context("creating a Stripe Checkout Session")?;
        let url = session.url.clone().context("Stripe returned a Checkout Session without a URL")?;
        Ok(Checkout { session_id: session.id.to_string(), url })
    }

    /// The top-up a payment intent was made for, from its metadata. For notifications that name
    /// only the payment (refunds, disputes) and arrive before we learnt which top-up it is.
    pub async fn topup_of_payment(&self, payment_intent: &str) -> anyhow::Result<Option<TopupRef>> {
        let pi = RetrievePaymentIntent::new(payment_intent)
            .send(&self.client)
            .await
            .context("retrieving a Stripe PaymentIntent")?;
        Ok(TopupRef::from_metadata(|k| pi.metadata.get(k).map(String::as_str)))
    }

    /// Checks the signature, then reads the event.
    pub fn verify(&self, payload: &str, signature: &str) -> Result<Notice, Refused> {
        let event =
            Webhook::construct_event(payload, signature, self.webhook_secret.expose()).map_err(|e| match e {
                WebhookError::BadHeader(_) => Refused::BadHeader,
                WebhookError::BadSignature | WebhookError::BadKey => Refused::BadSignature,
                WebhookError::BadTimestamp(t) => Refused::BadTimestamp(t),
                other => Refused::BadEvent(other.to_string()),
            })?;
        Ok(notice(event.type_.as_str(), event.data.object))
    }
}

fn idempotent(key: &str) -> anyhow::Result<RequestStrategy> {
    Ok(RequestStrategy::Idempotent(IdempotencyKey::new(key).map_err(|e| anyhow::anyhow!("{e:?}"))?))
}

fn notice(kind: &str, object: EventObject) -> Notice {
    match object {
        EventObject::CheckoutSessionCompleted(s) | EventObject::CheckoutSessionAsyncPaymentSucceeded(s) => {
            session_paid(&s).unwrap_or_else(|why| Notice::Ignored(format!("{kind}: {why}")))
        }
        EventObject::CheckoutSessionExpired(s) => match session_topup(&s) {
            Some(topup) => Notice::Expired { topup },
            None => Notice::Ignored(format!("{kind}: not a top-up")),
        },
        EventObject::PaymentIntentSucceeded(pi) => {
            match TopupRef::from_metadata(|k| pi.metadata.get(k).map(String::as_str)) {
                Some(topup) => Notice::Paid {
                    topup,
                    payment: pi.id.to_string(),
                    amount_minor: pi.amount_received,
                    currency: pi.currency.to_string(),
                },
                None => Notice::Ignored(format!("{kind}: not a top-up")),
            }
        }
        EventObject::ChargeRefunded(ch) => match &ch.payment_intent {
            Some(pi) => Notice::Refunded {
                payment: pi.id().to_string(),
                charge: ch.id.to_string(),
                refunded_minor: ch.amount_refunded,
                currency: ch.currency.to_string(),
            },
            None => Notice::Ignored(format!("{kind}: the charge has no payment intent")),
        },
        EventObject::ChargeDisputeCreated(d) => match &d.payment_intent {
            Some(pi) => Notice::Disputed {
                payment: pi.id().to_string(),
                dispute: d.id.to_string(),
                amount_minor: d.amount,
                currency: d.currency.to_string(),
            },
            None => Notice::Ignored(format!("{kind}: the dispute has no payment intent")),
        },
        _ => Notice::Ignored(format!("{kind}: not handled")),
    }
}

fn session_topup(s: &CheckoutSession) -> Option<TopupRef> {
    let md = s.metadata.as_ref()?;
    TopupRef::from_metadata(|k| md.get(k).map(String::as_str))
}

fn session_paid(s: &CheckoutSession) -> Result<Notice, &'static str> {
    let topup = session_topup(s).ok_or("not a top-up")?;
    if s.payment_status != CheckoutSessionPaymentStatus::Paid {
        // Delayed methods: `async_payment_succeeded` or `payment_intent.succeeded` follows.
        return Err("not paid yet");
    }
    let payment = s.payment_intent.as_ref().ok_or("no payment intent")?.id().to_string();
    let amount_minor = s.amount_total.ok_or("no amount")?;
    let currency = s.currency.as_ref().ok_or("no currency")?.to_string();
    Ok(Notice::Paid { topup, payment, amount_minor, currency })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Building the client sets up TLS (rustls with ring, the process's one provider): a second
    /// provider in the dependency graph would make this panic.
    #[test]
    fn the_client_builds_with_the_default_api_base() {
        assert!(Stripe::new(&Secret::new("sk_test_x"), Secret::new("whsec_x"), None).is_ok());
    }

    #[test]
    fn unsigned_or_forged_events_are_refused_before_reading() {
        let s = Stripe::new(&Secret::new("sk_test_x"), Secret::new("whsec_x"), None).unwrap();
        assert!(matches!(s.verify("{}", "t=1"), Err(Refused::BadSignature)));
        assert!(matches!(s.verify("{}", "t=x,v1=00"), Err(Refused::BadHeader)));
        let now = chrono::Utc::now().timestamp();
        let header = Webhook::generate_test_header("{}", "whsec_other", Some(now));
        assert!(matches!(s.verify("{}", &header), Err(Refused::BadSignature)));
        let header = Webhook::generate_test_header("{}", "whsec_x", Some(now));
        assert!(matches!(s.verify("{}", &header), Err(Refused::BadEvent(_))), "signed, but not an event");
    }
}
