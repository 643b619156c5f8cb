//! The fake's records and the Stripe JSON they are rendered as.
//!
//! Every builder writes a *complete* object for API version [`API_VERSION`]: each field that
//! async-stripe's strict types require is present with the right shape, and the optional ones
//! are present too (mostly `null`), as Stripe itself sends them. Nested optional objects are
//! only filled in where their own required fields are known to be satisfied.

use std::collections::BTreeMap;

use rand::{Rng, distributions::Alphanumeric};
use serde_json::{Value, json};

/// The API version stamped on every event (async-stripe's `stripe_shared::version::VERSION`).
pub const API_VERSION: &str = "2026-09-30.endive";

/// Currencies the fake accepts, with how many minor units make a major one.
pub(crate) const CURRENCIES: &[(&str, u32)] =
    &[("usd", 2), ("eur", 2), ("gbp", 2), ("cad", 2), ("aud", 2), ("chf", 2), ("jpy", 0)];

/// A fresh Stripe-looking id: `prefix` followed by 24 random alphanumerics.
pub(crate) fn new_id(prefix: &str) -> String {
    let tail: String = rand::thread_rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}{tail}")
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `20.00 USD`, `2000 JPY`.
pub(crate) fn format_amount(amount: i64, currency: &str) -> String {
    let decimals = CURRENCIES.iter().find(|(c, _)| *c == currency).map_or(2, |(_, d)| *d);
    let code = currency.to_uppercase();
    if decimals == 0 {
        return format!("{amount} {code}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {code}", abs / 100, abs % 100)
}

fn metadata_json(metadata: &BTreeMap<String, String>) -> Value {
    Value::Object(metadata.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// A customer (`cus_…`).
#[derive(Clone, Debug)]
pub(crate) struct CustomerRec {
    pub id: String,
    pub created: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub invoice_prefix: String,
    pub metadata: BTreeMap<String, String>,
}

impl CustomerRec {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "customer",
            "address": null,
            "balance": 0,
            "business_name": null,
            "created": self.created,
            "currency": null,
            "customer_account": null,
            "default_source": null,
            "delinquent": false,
            "description": self.description,
            "discount": null,
            "email": self.email,
            "individual_name": null,
            "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {
                "custom_fields": null,
                "default_payment_method": null,
                "footer": null,
                "rendering_options": null
            },
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "name": self.name,
            "next_invoice_sequence": 1,
            "phone": self.phone,
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null
        })
    }
}

/// One line of a Checkout Session, from `line_items[i][price_data]` and `[quantity]`.
#[derive(Clone, Debug)]
pub(crate) struct LineItem {
    pub name: String,
    pub unit_amount: i64,
    pub quantity: i64,
}

/// A Checkout Session (`cs_test_…`), always `mode=payment`, hosted.
#[derive(Clone, Debug)]
pub(crate) struct SessionRec {
    pub id: String,
    pub created: i64,
    pub expires_at: i64,
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub currency: String,
    pub amount_total: i64,
    pub items: Vec<LineItem>,
    pub metadata: BTreeMap<String, String>,
    /// `payment_intent_data[metadata]`, copied to the PaymentIntent made when paying.
    pub intent_metadata: BTreeMap<String, String>,
    pub intent_description: Option<String>,
    pub setup_future_usage: Option<String>,
    pub success_url: String,
    pub cancel_url: Option<String>,
    /// The hosted page, `<base>pay/<id>`.
    pub url: String,
    pub payment_intent: Option<String>,
    /// The buyer as the session saw them on completion (email, name).
    pub paid_by: Option<(Option<String>, Option<String>)>,
}

impl SessionRec {
    pub fn is_complete(&self) -> bool {
        self.payment_intent.is_some()
    }

    pub fn status(&self) -> &'static str {
        if self.is_complete() { "complete" } else { "open" }
    }

    pub fn payment_status(&self) -> &'static str {
        if self.is_complete() { "paid" } else { "unpaid" }
    }

    /// The product names, joined, for the hosted page.
    pub fn description(&self) -> String {
        self.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    pub fn to_json(&self) -> Value {
        let complete = self.is_complete();
        let customer_details = self.paid_by.as_ref().map(|(email, name)| {
            json!({
                "address": null,
                "business_name": null,
                "email": email,
                "individual_name": null,
                "name": name,
                "phone": null,
                "tax_exempt": "none",
                "tax_ids": []
            })
        });
        json!({
            "id": self.id,
            "object": "checkout.session",
            "adaptive_pricing": { "enabled": false },
            "after_expiration": null,
            "allow_promotion_codes": null,
            "amount_subtotal": self.amount_total,
            "amount_total": self.amount_total,
            "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
            "billing_address_collection": null,
            "cancel_url": self.cancel_url,
            "client_reference_id": self.client_reference_id,
            "client_secret": null,
            "collected_information": if complete {
                json!({ "business_name": null, "individual_name": null, "shipping_details": null })
            } else {
                Value::Null
            },
            "consent": null,
            "consent_collection": null,
            "created": self.created,
            "currency": self.currency,
            "currency_conversion": null,
            "custom_fields": [],
            "custom_text": {
                "after_submit": null,
                "shipping_address": null,
                "submit": null,
                "terms_of_service_acceptance": null
            },
            "customer": self.customer,
            "customer_account": null,
            "customer_creation": if self.customer.is_some() { Value::Null } else { json!("if_required") },
            "customer_details": customer_details,
            "customer_email": self.customer_email,
            "discounts": [],
            "expires_at": self.expires_at,
            "invoice": null,
            "invoice_creation": null,
            "livemode": false,
            "locale": null,
            "metadata": metadata_json(&self.metadata),
            "mode": "payment",
            "origin_context": null,
            "payment_intent": self.payment_intent,
            "payment_link": null,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": null,
            "payment_method_options": { "card": { "request_three_d_secure": "automatic" } },
            "payment_method_types": ["card"],
            "payment_status": self.payment_status(),
            "phone_number_collection": { "enabled": false },
            "presentment_details": null,
            "recovered_from": null,
            "saved_payment_method_options": null,
            "setup_intent": null,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "shipping_options": [],
            "status": self.status(),
            "submit_type": null,
            "subscription": null,
            "success_url": self.success_url,
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": "hosted_page",
            // Stripe clears the URL once the session can no longer be paid.
            "url": if complete { Value::Null } else { json!(self.url) },
            "wallet_options": null
        })
    }
}

/// A PaymentIntent (`pi_…`), made succeeded when a session is paid.
#[derive(Clone, Debug)]
pub(crate) struct PaymentIntentRec {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub setup_future_usage: Option<String>,
    pub payment_method: String,
    pub latest_charge: String,
    pub client_secret: String,
}

impl PaymentIntentRec {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": 0,
            "amount_details": { "tip": {} },
            "amount_received": self.amount,
            "application": null,
            "application_fee_amount": null,
            "automatic_payment_methods": null,
            "canceled_at": null,
            "cancellation_reason": null,
            "capture_method": "automatic_async",
            "client_secret": self.client_secret,
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "customer_account": null,
            "description": self.description,
            "excluded_payment_method_types": null,
            "last_payment_error": null,
            "latest_charge": self.latest_charge,
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "next_action": null,
            "on_behalf_of": null,
            "payment_method": self.payment_method,
            "payment_method_configuration_details": null,
            "payment_method_options": {
                "card": {
                    "installments": null,
                    "mandate_options": null,
                    "network": null,
                    "request_three_d_secure": "automatic"
                }
            },
            "payment_method_types": ["card"],
            "presentment_details": null,
            "processing": null,
            "receipt_email": null,
            "review": null,
            "setup_future_usage": self.setup_future_usage,
            "shipping": null,
            "source": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": "succeeded",
            "transfer_data": null,
            "transfer_group": null
        })
    }
}

/// A card Charge (`ch_…`) made by paying; refunds and disputes change it.
#[derive(Clone, Debug)]
pub(crate) struct ChargeRec {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub description: Option<String>,
    pub payment_intent: String,
    pub payment_method: String,
    pub balance_transaction: String,
    pub billing_email: Option<String>,
    pub billing_name: Option<String>,
    /// Stripe copies the PaymentIntent's metadata onto the charge it makes.
    pub metadata: BTreeMap<String, String>,
    pub disputed: bool,
}

impl ChargeRec {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount,
            "amount_refunded": self.amount_refunded,
            "application": null,
            "application_fee": null,
            "application_fee_amount": null,
            "balance_transaction": self.balance_transaction,
            "billing_details": {
                "address": {
                    "city": null,
                    "country": "US",
                    "line1": null,
                    "line2": null,
                    "postal_code": "42424",
                    "state": null
                },
                "email": self.billing_email,
                "name": self.billing_name,
                "phone": null,
                "tax_id": null
            },
            "calculated_statement_descriptor": "STRIPE FAKE",
            "captured": true,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": self.description,
            "disputed": self.disputed,
            "failure_balance_transaction": null,
            "failure_code": null,
            "failure_message": null,
            "fraud_details": { "stripe_report": null, "user_report": null },
            "livemode": false,
            "metadata": metadata_json(&self.metadata),
            "on_behalf_of": null,
            "outcome": {
                "advice_code": null,
                "network_advice_code": null,
                "network_decline_code": null,
                "network_status": "approved_by_network",
                "reason": null,
                "risk_level": "normal",
                "risk_score": 20,
                "seller_message": "Payment complete.",
                "type": "authorized"
            },
            "paid": true,
            "payment_intent": self.payment_intent,
            "payment_method": self.payment_method,
            "payment_method_details": {
                "card": {
                    "amount_authorized": self.amount,
                    "authorization_code": null,
                    "brand": "visa",
                    "checks": {
                        "address_line1_check": null,
                        "address_postal_code_check": "pass",
                        "cvc_check": "pass"
                    },
                    "country": "US",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "fingerprint": "FakeFingerprint0",
                    "funding": "credit",
                    "installments": null,
                    "last4": "4242",
                    "mandate": null,
                    "network": "visa",
                    "network_token": { "used": false },
                    "network_transaction_id": "104102978678771",
                    "regulated_status": "unregulated",
                    "three_d_secure": null,
                    "wallet": null
                },
                "type": "card"
            },
            "presentment_details": null,
            "radar_options": { "session": null },
            "receipt_email": null,
            "receipt_number": null,
            "receipt_url": format!("https://pay.stripe.com/receipts/payment/{}", self.id),
            "refunded": self.amount_refunded >= self.amount,
            "review": null,
            "shipping": null,
            "source": null,
            "source_transfer": null,
            "statement_descriptor": null,
            "statement_descriptor_suffix": null,
            "status": "succeeded",
            "transfer_data": null,
            "transfer_group": null
        })
    }
}

/// A dispute (`dp_…`) opened for a whole charge.
#[derive(Clone, Debug)]
pub(crate) struct DisputeRec {
    pub id: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
}

impl DisputeRec {
    pub fn to_json(&self) -> Value {
        let evidence_fields = [
            "access_activity_log",
            "billing_address",
            "cancellation_policy",
            "cancellation_policy_disclosure",
            "cancellation_rebuttal",
            "customer_communication",
            "customer_email_address",
            "customer_name",
            "customer_purchase_ip",
            "customer_signature",
            "duplicate_charge_documentation",
            "duplicate_charge_explanation",
            "duplicate_charge_id",
            "product_description",
            "receipt",
            "refund_policy",
            "refund_policy_disclosure",
            "refund_refusal_explanation",
            "service_date",
            "service_documentation",
            "shipping_address",
            "shipping_carrier",
            "shipping_date",
            "shipping_documentation",
            "shipping_tracking_number",
            "uncategorized_file",
            "uncategorized_text",
        ];
        let mut evidence: serde_json::Map<String, Value> =
            evidence_fields.iter().map(|f| ((*f).to_owned(), Value::Null)).collect();
        evidence.insert("enhanced_evidence".into(), json!({}));
        json!({
            "id": self.id,
            "object": "dispute",
            "amount": self.amount,
            "balance_transactions": [],
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "enhanced_eligibility_types": [],
            "evidence": evidence,
            "evidence_details": {
                "due_by": self.created + 7 * 24 * 3600,
                "enhanced_eligibility": {},
                "has_evidence": false,
                "past_due": false,
                "submission_count": 0
            },
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "network_reason_code": "10.4",
            "payment_intent": self.payment_intent,
            "payment_method_details": {
                "card": { "brand": "visa", "case_type": "chargeback", "network": "visa", "network_reason_code": "10.4" },
                "type": "card"
            },
            "reason": "fraudulent",
            "status": "needs_response"
        })
    }
}

/// An event ready to be delivered: its id, type and JSON payload.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub id: String,
    pub type_: String,
    pub payload: String,
}

impl Event {
    /// Wraps `object` in an event envelope of `type_`.
    pub fn new(type_: &str, object: Value) -> Event {
        let id = new_id("evt_");
        let payload = json!({
            "id": id,
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": type_
        });
        Event { id, type_: type_.to_owned(), payload: payload.to_string() }
    }
}
