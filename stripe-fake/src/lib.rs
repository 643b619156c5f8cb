//! A fake of the Stripe API, for tests.
//!
//! Stripe cannot be reached from tests, so this crate plays it on `127.0.0.1`: point
//! async-stripe at [`FakeStripe::base_url`] (`stripe::ClientBuilder::new(secret).url(base)`)
//! and at [`FakeStripe::set_webhook_url`] give it the server's webhook endpoint. The server
//! under test cannot tell it is not Stripe: every answer is a complete Stripe object for API
//! version [`API_VERSION`] (what async-stripe 1.0.0-rc.10's strict types parse), and every
//! webhook is signed as Stripe signs them.
//!
//! # Endpoints
//!
//! - `POST /v1/customers`, `GET /v1/customers/{id}`
//! - `POST /v1/checkout/sessions` (`mode=payment` with inline `price_data` only),
//!   `GET /v1/checkout/sessions/{id}`
//! - `GET /v1/payment_intents/{id}`, `GET /v1/charges/{id}`
//! - `GET /pay/{id}`: the hosted checkout page (the session's `url`), with a Pay button and a
//!   Cancel link; `POST /pay/{id}` pays, sends the webhooks in the background and redirects
//!   (303) to `success_url` with `{CHECKOUT_SESSION_ID}` filled in.
//!
//! # What it checks, as Stripe does
//!
//! - `Authorization: Bearer <secret key>` on every `/v1` request (else 401).
//! - Form-encoded bodies with bracketed keys; unknown parameters are refused
//!   (`parameter_unknown`), real-but-unmodelled ones are accepted and ignored.
//! - `Idempotency-Key`: a successful POST is stored; the same key with the same path and
//!   parameters replays it (`Idempotent-Replayed: true`), with anything else it is an
//!   `idempotency_error`; keys over 255 characters are refused.
//! - Checkout Session parameters: `mode`, `success_url`/`cancel_url` (absolute http(s)),
//!   line items (currency, integer `unit_amount`, product name, `quantity` ≥ 1), the total
//!   (0.50 to 999,999.99 in minor units 50..=99,999,999), that `customer` exists,
//!   `client_reference_id` length, metadata limits (50 keys, 40-character keys,
//!   500-character values) and `payment_intent_data[setup_future_usage]`.
//!
//! Every refusal is a Stripe-shaped error (`{"error": {"type", "code", "param", "message"}}`);
//! nothing a client sends makes the fake panic.
//!
//! # Payments and webhooks
//!
//! Paying a session ([`FakeStripe::pay`] or the hosted page) makes a succeeded PaymentIntent
//! and Charge and emits `checkout.session.completed` then `payment_intent.succeeded`;
//! [`FakeStripe::refund`] emits `charge.refunded` and [`FakeStripe::dispute`]
//! `charge.dispute.created`. Deliveries POST the event to the webhook URL with a
//! `Stripe-Signature: t=…,v1=…` header ([`sign`]), retrying up to three attempts 200 ms
//! apart on a connection error or a non-2xx answer; every attempt is recorded
//! ([`FakeStripe::deliveries`]).

// `json!` walks an object's fields recursively; a complete Checkout Session has ~70.
#![recursion_limit = "256"]

mod http;
mod objects;
mod webhook;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

pub use objects::API_VERSION;
use objects::{ChargeRec, CustomerRec, DisputeRec, Event, PaymentIntentRec, SessionRec, new_id, now};
use tokio::sync::oneshot;
pub use webhook::sign;

/// How the fake is keyed.
#[derive(Clone, Debug)]
pub struct Config {
    /// The API key clients must send as `Authorization: Bearer <secret_key>`.
    pub secret_key: String,
    /// The endpoint secret webhooks are signed with (`whsec_…`).
    pub webhook_secret: String,
}

/// Whether an operation's events are also sent to the webhook URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deliver {
    /// Deliver them (with retries) before returning.
    Now,
    /// Only return them.
    No,
}

/// One `/v1` request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The form body (POST) or query string (GET), decoded, keys as sent
    /// (`line_items[0][quantity]`).
    pub params: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    /// The raw `Authorization` header.
    pub authorization: Option<String>,
    /// The status the fake answered with.
    pub status: u16,
}

/// A Checkout Session as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub customer: Option<String>,
    pub client_reference_id: Option<String>,
    /// In minor units.
    pub amount_total: i64,
    /// Lowercase ISO code, `usd`.
    pub currency: String,
    pub metadata: BTreeMap<String, String>,
    /// `open` or `complete`.
    pub status: String,
    pub payment_intent: Option<String>,
    /// The hosted checkout page.
    pub url: String,
}

/// What paying a session made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub payment_intent: String,
    pub charge: String,
    /// The `checkout.session.completed` then `payment_intent.succeeded` payloads.
    pub events: Vec<String>,
}

/// One webhook POST attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The payload's `id` (empty if it had none).
    pub event_id: String,
    /// The payload's `type` (empty if it had none).
    pub event_type: String,
    /// The answer's status; `None` when the connection failed or no webhook URL was set.
    pub status: Option<u16>,
}

/// A handle on a running fake. Clones share it; the HTTP server stops when the last one is
/// dropped (or the runtime ends).
#[derive(Clone)]
pub struct FakeStripe {
    shared: Arc<Shared>,
    /// Dropping the last clone of this sender tells the server to shut down.
    _shutdown: Arc<oneshot::Sender<()>>,
}

impl std::fmt::Debug for FakeStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStripe").field("base_url", &self.shared.base_url).finish_non_exhaustive()
    }
}

impl FakeStripe {
    /// Starts the fake on `127.0.0.1` at a free port.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start(config: Config) -> FakeStripe {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("stripe-fake: binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("stripe-fake: reading the bound address");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("stripe-fake: building the webhook client");
        let shared =
            Arc::new(Shared { config, base_url: format!("http://{addr}/"), http, state: Mutex::new(State::default()) });
        let (tx, rx) = oneshot::channel::<()>();
        let app = http::router(shared.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::warn!(error = %e, "stripe-fake: the server stopped");
            }
        });
        tracing::debug!(base_url = %shared.base_url, "stripe-fake: listening");
        FakeStripe { shared, _shutdown: Arc::new(tx) }
    }

    /// `http://127.0.0.1:PORT/`, what async-stripe's `ClientBuilder::url` takes.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Where webhooks go from now on.
    pub fn set_webhook_url(&self, url: impl Into<String>) {
        self.shared.lock().webhook_url = Some(url.into());
    }

    /// Every `/v1` request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Every Checkout Session, oldest first.
    pub fn sessions(&self) -> Vec<Session> {
        self.shared.lock().sessions.iter().map(SessionRec::public).collect()
    }

    /// The ids of every customer, oldest first.
    pub fn customers(&self) -> Vec<String> {
        self.shared.lock().customers.iter().map(|c| c.id.clone()).collect()
    }

    /// Completes a session as if the buyer paid; returns the ids and the two event payloads
    /// (`checkout.session.completed` then `payment_intent.succeeded`). With [`Deliver::Now`]
    /// they are also delivered (awaited, with retries); with [`Deliver::No`] only returned.
    ///
    /// # Errors
    /// The session is unknown or already paid, or `Deliver::Now` without a webhook URL.
    pub async fn pay(&self, session_id: &str, deliver: Deliver) -> Result<Payment, String> {
        let (payment, events) = {
            let mut state = self.shared.lock();
            state.check_deliverable(deliver)?;
            state.pay(session_id)?
        };
        self.maybe_deliver(deliver, &events).await;
        Ok(payment)
    }

    /// Refunds `amount` (minor units) more of the payment: the charge's `amount_refunded` grows
    /// (cumulative) and `refunded` becomes true once all of it is. Returns the `charge.refunded`
    /// payload.
    ///
    /// # Errors
    /// No charge for that PaymentIntent, a non-positive amount or more than is left, or
    /// `Deliver::Now` without a webhook URL.
    pub async fn refund(&self, payment_intent: &str, amount: i64, deliver: Deliver) -> Result<String, String> {
        let event = {
            let mut state = self.shared.lock();
            state.check_deliverable(deliver)?;
            state.refund(payment_intent, amount)?
        };
        self.maybe_deliver(deliver, std::slice::from_ref(&event)).await;
        Ok(event.payload)
    }

    /// Opens a dispute for the whole charge (`needs_response`, reason `fraudulent`). Returns the
    /// `charge.dispute.created` payload.
    ///
    /// # Errors
    /// No charge for that PaymentIntent, it is already disputed, or `Deliver::Now` without a
    /// webhook URL.
    pub async fn dispute(&self, payment_intent: &str, deliver: Deliver) -> Result<String, String> {
        let event = {
            let mut state = self.shared.lock();
            state.check_deliverable(deliver)?;
            state.dispute(payment_intent)?
        };
        self.maybe_deliver(deliver, std::slice::from_ref(&event)).await;
        Ok(event.payload)
    }

    /// Posts `payload` once to the webhook URL, signed now. Returns the answer's status, or 0
    /// if the connection failed or no webhook URL is set.
    pub async fn deliver(&self, payload: &str) -> u16 {
        let header = sign(payload, &self.shared.config.webhook_secret, now());
        self.deliver_with_header(payload, &header).await
    }

    /// Posts `payload` once with this `Stripe-Signature` header (for bad, stale or future
    /// signatures). Returns the status, or 0 as for [`deliver`](Self::deliver).
    pub async fn deliver_with_header(&self, payload: &str, header: &str) -> u16 {
        webhook::post_recorded(&self.shared, payload, header).await.unwrap_or(0)
    }

    /// Every webhook POST attempt so far (including [`deliver`](Self::deliver)'s), oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().deliveries.clone()
    }

    async fn maybe_deliver(&self, deliver: Deliver, events: &[Event]) {
        if deliver == Deliver::Now {
            webhook::deliver_all(&self.shared, events).await;
        }
    }
}

/// What the server task and the handles share.
pub(crate) struct Shared {
    pub config: Config,
    pub base_url: String,
    /// Sends webhooks.
    pub http: reqwest::Client,
    pub state: Mutex<State>,
}

impl Shared {
    /// The state; never held across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A successful POST kept for its `Idempotency-Key`.
#[derive(Clone, Debug)]
pub(crate) struct StoredResponse {
    pub path: String,
    pub params: BTreeMap<String, String>,
    pub status: u16,
    pub body: String,
}

/// Everything the fake knows.
#[derive(Default)]
pub(crate) struct State {
    pub webhook_url: Option<String>,
    pub customers: Vec<CustomerRec>,
    pub sessions: Vec<SessionRec>,
    pub intents: Vec<PaymentIntentRec>,
    pub charges: Vec<ChargeRec>,
    pub disputes: Vec<DisputeRec>,
    pub idempotency: HashMap<String, StoredResponse>,
    pub requests: Vec<Recorded>,
    pub deliveries: Vec<Delivery>,
}

impl State {
    fn check_deliverable(&self, deliver: Deliver) -> Result<(), String> {
        if deliver == Deliver::Now && self.webhook_url.is_none() {
            return Err("stripe-fake: Deliver::Now but no webhook URL is set".into());
        }
        Ok(())
    }

    pub fn customer(&self, id: &str) -> Option<&CustomerRec> {
        self.customers.iter().find(|c| c.id == id)
    }

    pub fn session(&self, id: &str) -> Option<&SessionRec> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// Pays an open session: a succeeded PaymentIntent and Charge, the session complete.
    pub fn pay(&mut self, session_id: &str) -> Result<(Payment, Vec<Event>), String> {
        let index = self
            .sessions
            .iter()
            .position(|s| s.id == session_id)
            .ok_or_else(|| format!("No such checkout.session: '{session_id}'"))?;
        if self.sessions[index].is_complete() {
            return Err(format!("checkout session {session_id} is already paid"));
        }
        let (email, name) = {
            let session = &self.sessions[index];
            let customer = session.customer.as_deref().and_then(|id| self.customer(id));
            let email = customer.and_then(|c| c.email.clone()).or_else(|| session.customer_email.clone());
            (email, customer.and_then(|c| c.name.clone()))
        };
        let created = now();
        let session = &mut self.sessions[index];
        let intent_id = new_id("pi_");
        let charge_id = new_id("ch_");
        let payment_method = new_id("pm_");
        let intent = PaymentIntentRec {
            id: intent_id.clone(),
            created,
            amount: session.amount_total,
            currency: session.currency.clone(),
            customer: session.customer.clone(),
            description: session.intent_description.clone(),
            metadata: session.intent_metadata.clone(),
            setup_future_usage: session.setup_future_usage.clone(),
            payment_method: payment_method.clone(),
            latest_charge: charge_id.clone(),
            client_secret: format!("{intent_id}_secret_{}", new_id("")),
        };
        let charge = ChargeRec {
            id: charge_id.clone(),
            created,
            amount: session.amount_total,
            amount_refunded: 0,
            currency: session.currency.clone(),
            customer: session.customer.clone(),
            description: session.intent_description.clone(),
            payment_intent: intent_id.clone(),
            payment_method,
            balance_transaction: new_id("txn_"),
            billing_email: email.clone(),
            billing_name: name.clone(),
            metadata: session.intent_metadata.clone(),
            disputed: false,
        };
        session.payment_intent = Some(intent_id.clone());
        session.paid_by = Some((email, name));
        let events = vec![
            Event::new("checkout.session.completed", session.to_json()),
            Event::new("payment_intent.succeeded", intent.to_json()),
        ];
        self.intents.push(intent);
        self.charges.push(charge);
        let payment = Payment {
            payment_intent: intent_id,
            charge: charge_id,
            events: events.iter().map(|e| e.payload.clone()).collect(),
        };
        Ok((payment, events))
    }

    fn charge_of(&mut self, payment_intent: &str) -> Result<&mut ChargeRec, String> {
        self.charges
            .iter_mut()
            .find(|c| c.payment_intent == payment_intent)
            .ok_or_else(|| format!("No such payment_intent: '{payment_intent}'"))
    }

    pub fn refund(&mut self, payment_intent: &str, amount: i64) -> Result<Event, String> {
        let charge = self.charge_of(payment_intent)?;
        if amount <= 0 {
            return Err(format!("the refund amount must be positive, not {amount}"));
        }
        let left = charge.amount - charge.amount_refunded;
        if amount > left {
            return Err(format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                objects::format_amount(amount, &charge.currency),
                objects::format_amount(left, &charge.currency)
            ));
        }
        charge.amount_refunded += amount;
        Ok(Event::new("charge.refunded", charge.to_json()))
    }

    pub fn dispute(&mut self, payment_intent: &str) -> Result<Event, String> {
        let charge = self.charge_of(payment_intent)?;
        if charge.disputed {
            return Err(format!("charge {} is already disputed", charge.id));
        }
        charge.disputed = true;
        let dispute = DisputeRec {
            id: new_id("dp_"),
            created: now(),
            amount: charge.amount,
            currency: charge.currency.clone(),
            charge: charge.id.clone(),
            payment_intent: payment_intent.to_owned(),
        };
        let event = Event::new("charge.dispute.created", dispute.to_json());
        self.disputes.push(dispute);
        Ok(event)
    }
}

impl SessionRec {
    fn public(&self) -> Session {
        Session {
            id: self.id.clone(),
            customer: self.customer.clone(),
            client_reference_id: self.client_reference_id.clone(),
            amount_total: self.amount_total,
            currency: self.currency.clone(),
            metadata: self.metadata.clone(),
            status: self.status().to_owned(),
            payment_intent: self.payment_intent.clone(),
            url: self.url.clone(),
        }
    }
}
