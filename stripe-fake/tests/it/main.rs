//! The fake against the real async-stripe client and webhook verifier.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::Value;
use stripe::{IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_checkout::{
    CheckoutSession, CheckoutSessionMode, CheckoutSessionPaymentStatus, CheckoutSessionStatus,
    checkout_session::{
        CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionLineItemsPriceData,
        CreateCheckoutSessionPaymentIntentData, ProductData, RetrieveCheckoutSession,
    },
};
use stripe_core::{
    Customer,
    customer::{CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned},
    payment_intent::RetrievePaymentIntent,
};
use stripe_fake::{Config, Deliver, FakeStripe, sign};
use stripe_webhook::{Event, EventObject, Webhook};

const SECRET: &str = "sk_test_fake_0123456789";
const WEBHOOK_SECRET: &str = "whsec_test_fake";
const SUCCESS_URL: &str = "https://app.example/topup/done?session={CHECKOUT_SESSION_ID}";
const CANCEL_URL: &str = "https://app.example/topup/cancelled";

async fn fake() -> FakeStripe {
    FakeStripe::start(Config { secret_key: SECRET.into(), webhook_secret: WEBHOOK_SECRET.into() }).await
}

fn client(fake: &FakeStripe, key: &str) -> stripe::Client {
    stripe::ClientBuilder::new(key).url(fake.base_url()).build().expect("client")
}

fn idempotent(key: &str) -> RequestStrategy {
    RequestStrategy::Idempotent(IdempotencyKey::new(key).expect("key"))
}

fn metadata(user: &str, topup: &str) -> HashMap<String, String> {
    HashMap::from([("user_id".to_string(), user.to_string()), ("topup_id".to_string(), topup.to_string())])
}

async fn create_customer(client: &stripe::Client, key: &str) -> Result<Customer, StripeError> {
    CreateCustomer::new()
        .email("ada@example.com")
        .name("Ada Lovelace")
        .metadata(HashMap::from([("user_id".to_string(), "7".to_string())]))
        .customize()
        .request_strategy(idempotent(key))
        .send(client)
        .await
}

/// One line: `unit_amount` minor units of USD of "Calling credit".
fn line_item(unit_amount: i64) -> CreateCheckoutSessionLineItems {
    let price = CreateCheckoutSessionLineItemsPriceData {
        currency: "usd".parse().expect("currency"),
        product: None,
        product_data: Some(ProductData::new("Calling credit")),
        recurring: None,
        tax_behavior: None,
        unit_amount: Some(unit_amount),
        unit_amount_decimal: None,
    };
    let mut item = CreateCheckoutSessionLineItems::new();
    item.price_data = Some(price);
    item.quantity = Some(1);
    item
}

/// The server's Checkout Session request, for `unit_amount` minor units of USD.
fn session_request(customer: &str, unit_amount: i64) -> CreateCheckoutSession {
    let mut intent = CreateCheckoutSessionPaymentIntentData::new();
    intent.metadata = Some(metadata("7", "42"));
    CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .customer(customer)
        .client_reference_id("42")
        .line_items(vec![line_item(unit_amount)])
        .metadata(metadata("7", "42"))
        .payment_intent_data(intent)
        .success_url(SUCCESS_URL)
        .cancel_url(CANCEL_URL)
}

async fn open_session(client: &stripe::Client, customer: &str) -> CheckoutSession {
    session_request(customer, 2000)
        .customize()
        .request_strategy(idempotent("topup-42"))
        .send(client)
        .await
        .expect("session")
}

/// The Stripe error a request failed with, and its status.
fn stripe_error(result: Result<impl std::fmt::Debug, StripeError>) -> (Box<stripe::ApiErrors>, u16) {
    match result {
        Err(StripeError::Stripe(e, status)) => (e, status),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}

// ---- a webhook endpoint ---------------------------------------------------------------

/// A webhook endpoint that verifies every delivery as the server would.
#[derive(Default)]
struct Receiver {
    /// Answer 500 to this many deliveries first.
    fail_first: AtomicUsize,
    events: Mutex<Vec<Event>>,
    refused: Mutex<Vec<String>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Arc<Receiver>, String) {
        let receiver = Arc::new(Receiver { fail_first: AtomicUsize::new(fail_first), ..Receiver::default() });
        let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }

    /// Waits (up to 5 s) for `n` verified events.
    async fn wait_for(&self, n: usize) -> Vec<Event> {
        for _ in 0..100 {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} events, got {:?} (refused: {:?})", self.events().len(), self.refused());
    }
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("content-type"), "application/json; charset=utf-8");
    assert_eq!(header("user-agent"), "Stripe/1.0 (+https://stripe.com/docs/webhooks)");
    if receiver.fail_first.load(Ordering::SeqCst) > 0 {
        receiver.fail_first.fetch_sub(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match Webhook::construct_event(&body, &header("stripe-signature"), WEBHOOK_SECRET) {
        Ok(event) => {
            receiver.events.lock().unwrap().push(event);
            StatusCode::OK
        }
        Err(e) => {
            receiver.refused.lock().unwrap().push(e.to_string());
            StatusCode::BAD_REQUEST
        }
    }
}

// ---- the API through async-stripe -------------------------------------------------------

#[tokio::test]
async fn customers_are_created_once_per_idempotency_key() {
    let fake = fake().await;
    let client = client(&fake, SECRET);

    let first = create_customer(&client, "customer-7").await.expect("create");
    let again = create_customer(&client, "customer-7").await.expect("replay");
    assert_eq!(first.id, again.id);
    assert!(first.id.as_str().starts_with("cus_"));
    assert_eq!(first.email.as_deref(), Some("ada@example.com"));
    assert_eq!(first.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(first.metadata.as_ref().and_then(|m| m.get("user_id")).map(String::as_str), Some("7"));
    assert_eq!(fake.customers(), vec![first.id.to_string()]);

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str(), r.status), ("POST", "/v1/customers", 200));
        assert_eq!(r.idempotency_key.as_deref(), Some("customer-7"));
        assert_eq!(r.authorization.as_deref(), Some(format!("Bearer {SECRET}").as_str()));
        assert_eq!(r.params.get("metadata[user_id]").map(String::as_str), Some("7"));
        assert_eq!(r.params.get("email").map(String::as_str), Some("ada@example.com"));
    }

    // The same key with other parameters is refused.
    let other = CreateCustomer::new()
        .email("bob@example.com")
        .customize()
        .request_strategy(idempotent("customer-7"))
        .send(&client)
        .await;
    let (e, status) = stripe_error(other);
    assert_eq!(status, 400);
    assert_eq!(e.type_, stripe::ApiErrorsType::IdempotencyError);

    let retrieved = RetrieveCustomer::new(first.id.clone()).send(&client).await.expect("retrieve");
    match retrieved {
        RetrieveCustomerReturned::Customer(c) => assert_eq!(c.id, first.id),
        other => panic!("expected a customer, got {other:?}"),
    }
    let (e, status) = stripe_error(RetrieveCustomer::new("cus_missing").send(&client).await);
    assert_eq!((status, e.code.map(|c| c.to_string())), (404, Some("resource_missing".into())));
}

#[tokio::test]
async fn checkout_sessions_are_created_and_retrieved() {
    let fake = fake().await;
    let client = client(&fake, SECRET);
    let customer = create_customer(&client, "customer-7").await.expect("customer");

    let session = open_session(&client, customer.id.as_str()).await;
    assert!(session.id.as_str().starts_with("cs_test_"));
    assert_eq!(session.url.as_deref(), Some(format!("{}pay/{}", fake.base_url(), session.id).as_str()));
    assert_eq!(session.amount_total, Some(2000));
    assert_eq!(session.amount_subtotal, Some(2000));
    assert_eq!(session.currency.as_ref().map(ToString::to_string).as_deref(), Some("usd"));
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Unpaid);
    assert_eq!(session.mode, CheckoutSessionMode::Payment);
    assert!(session.payment_intent.is_none());
    assert_eq!(session.customer.as_ref().map(|c| c.id().to_string()), Some(customer.id.to_string()));
    assert_eq!(session.client_reference_id.as_deref(), Some("42"));
    assert_eq!(session.metadata, Some(metadata("7", "42")));
    assert_eq!(session.success_url.as_deref(), Some(SUCCESS_URL));
    assert_eq!(session.cancel_url.as_deref(), Some(CANCEL_URL));
    assert_eq!(session.expires_at - session.created, 24 * 3600);
    assert!(!session.livemode);

    // The same key and parameters: the same session.
    let again = open_session(&client, customer.id.as_str()).await;
    assert_eq!(again.id, session.id);
    assert_eq!(fake.sessions().len(), 1);

    let held = &fake.sessions()[0];
    assert_eq!(held.id, session.id.as_str());
    assert_eq!((held.amount_total, held.currency.as_str(), held.status.as_str()), (2000, "usd", "open"));
    assert_eq!(held.metadata.get("topup_id").map(String::as_str), Some("42"));

    let request = fake.requests().into_iter().find(|r| r.path == "/v1/checkout/sessions").expect("recorded");
    let param = |k: &str| request.params.get(k).map(String::as_str);
    assert_eq!(param("mode"), Some("payment"));
    assert_eq!(param("line_items[0][price_data][unit_amount]"), Some("2000"));
    assert_eq!(param("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(param("line_items[0][price_data][product_data][name]"), Some("Calling credit"));
    assert_eq!(param("line_items[0][quantity]"), Some("1"));
    assert_eq!(param("payment_intent_data[metadata][topup_id]"), Some("42"));
    assert_eq!(request.idempotency_key.as_deref(), Some("topup-42"));

    let retrieved = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.expect("retrieve");
    assert_eq!(retrieved.id, session.id);
    assert_eq!(retrieved.amount_total, Some(2000));
}

#[tokio::test]
async fn a_wrong_key_is_refused() {
    let fake = fake().await;
    let result = create_customer(&client(&fake, "sk_test_wrong_key_9999"), "k").await;
    let (e, status) = stripe_error(result);
    assert_eq!(status, 401);
    assert_eq!(e.type_, stripe::ApiErrorsType::InvalidRequestError);
    let message = e.message.unwrap_or_default();
    assert!(message.starts_with("Invalid API Key provided: sk_test_"), "{message}");
    assert!(!message.contains("wrong_key"), "the key is redacted: {message}");
    assert!(fake.customers().is_empty());
    assert_eq!(fake.requests()[0].status, 401);

    let raw = reqwest::Client::new().get(format!("{}v1/customers/cus_x", fake.base_url())).send().await.unwrap();
    assert_eq!(raw.status(), 401);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn invalid_sessions_are_refused_through_the_client() {
    let fake = fake().await;
    let client = client(&fake, SECRET);
    let customer = create_customer(&client, "c").await.expect("customer");

    // No success_url.
    let request = CreateCheckoutSession::new()
        .mode(CheckoutSessionMode::Payment)
        .customer(customer.id.as_str())
        .line_items(vec![line_item(2000)])
        .cancel_url(CANCEL_URL);
    let (e, status) = stripe_error(request.send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(e.param.as_deref(), Some("success_url"));
    assert_eq!(e.code.map(|c| c.to_string()).as_deref(), Some("parameter_missing"));

    // Ten cents.
    let (e, status) = stripe_error(session_request(customer.id.as_str(), 10).send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(e.code.map(|c| c.to_string()).as_deref(), Some("amount_too_small"));

    // An unknown customer.
    let (e, status) = stripe_error(session_request("cus_nobody", 2000).send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(e.code.map(|c| c.to_string()).as_deref(), Some("resource_missing"));
    assert_eq!(e.param.as_deref(), Some("customer"));

    assert!(fake.sessions().is_empty());
}

// ---- raw parameter validation ------------------------------------------------------------

/// POSTs a form to the fake with the right key; returns the status and the JSON body.
async fn post_form(fake: &FakeStripe, path: &str, form: &[(&str, &str)], key: Option<&str>) -> (u16, Value) {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut request = reqwest::Client::new()
        .post(format!("{}{}", fake.base_url(), path.trim_start_matches('/')))
        .header("Authorization", format!("Bearer {SECRET}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

const GOOD_SESSION: &[(&str, &str)] = &[
    ("mode", "payment"),
    ("success_url", "https://app.example/ok"),
    ("line_items[0][price_data][currency]", "usd"),
    ("line_items[0][price_data][unit_amount]", "2000"),
    ("line_items[0][price_data][product_data][name]", "Calling credit"),
    ("line_items[0][quantity]", "1"),
];

/// `GOOD_SESSION` with `changes` applied (an empty value removes the parameter).
fn session_form<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form: Vec<(&str, &str)> = GOOD_SESSION.to_vec();
    for (k, v) in changes {
        form.retain(|(key, _)| key != k);
        if !v.is_empty() {
            form.push((k, v));
        }
    }
    form
}

/// A form, the `param` it is refused for, and the error `code` (if Stripe gives one).
type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Option<&'a str>);

#[tokio::test]
async fn session_parameters_are_validated_like_stripe() {
    let fake = fake().await;
    let long_ref = "r".repeat(201);
    let long_value = "v".repeat(501);
    let long_key = format!("metadata[{}]", "k".repeat(41));
    let many_keys: Vec<String> = (0..51).map(|i| format!("metadata[k{i}]")).collect();
    let many: Vec<(&str, &str)> = many_keys.iter().map(|k| (k.as_str(), "v")).collect();

    let cases: Vec<Case<'_>> = vec![
        (session_form(&[("mode", "")]), "mode", Some("parameter_missing")),
        (session_form(&[("mode", "subscription")]), "mode", None),
        (session_form(&[("mode", "bogus")]), "mode", None),
        (session_form(&[("success_url", "")]), "success_url", Some("parameter_missing")),
        (session_form(&[("success_url", "/relative")]), "success_url", Some("url_invalid")),
        (session_form(&[("success_url", "ftp://x.example/")]), "success_url", Some("url_invalid")),
        (session_form(&[("cancel_url", "not a url")]), "cancel_url", Some("url_invalid")),
        (
            GOOD_SESSION.iter().copied().filter(|(k, _)| !k.starts_with("line_items")).collect(),
            "line_items",
            Some("parameter_missing"),
        ),
        (
            session_form(&[("line_items[0][price_data][currency]", "")]),
            "line_items[0][price_data][currency]",
            Some("parameter_missing"),
        ),
        (session_form(&[("line_items[0][price_data][currency]", "xyz")]), "line_items[0][price_data][currency]", None),
        (session_form(&[("line_items[0][price_data][currency]", "USD")]), "line_items[0][price_data][currency]", None),
        (
            session_form(&[("line_items[0][price_data][unit_amount]", "20.5")]),
            "line_items[0][price_data][unit_amount]",
            Some("parameter_invalid_integer"),
        ),
        (
            session_form(&[("line_items[0][price_data][unit_amount]", "")]),
            "line_items[0][price_data][unit_amount]",
            Some("parameter_missing"),
        ),
        (
            session_form(&[("line_items[0][price_data][product_data][name]", "")]),
            "line_items[0][price_data][product_data][name]",
            Some("parameter_missing"),
        ),
        (
            session_form(&[("line_items[0][quantity]", "0")]),
            "line_items[0][quantity]",
            Some("parameter_invalid_integer"),
        ),
        (
            session_form(&[("line_items[0][quantity]", "one")]),
            "line_items[0][quantity]",
            Some("parameter_invalid_integer"),
        ),
        (session_form(&[("line_items[0][quantity]", "")]), "line_items[0][quantity]", Some("parameter_missing")),
        (session_form(&[("line_items[0][price_data][unit_amount]", "49")]), "line_items", Some("amount_too_small")),
        (
            session_form(&[("line_items[0][price_data][unit_amount]", "50000000"), ("line_items[0][quantity]", "2")]),
            "line_items",
            Some("amount_too_large"),
        ),
        (session_form(&[("customer", "cus_nobody")]), "customer", Some("resource_missing")),
        (session_form(&[("client_reference_id", long_ref.as_str())]), "client_reference_id", None),
        (session_form(&[("metadata[note]", long_value.as_str())]), "metadata[note]", None),
        (session_form(&[(long_key.as_str(), "v")]), long_key.as_str(), None),
        (
            session_form(&[("payment_intent_data[setup_future_usage]", "always")]),
            "payment_intent_data[setup_future_usage]",
            None,
        ),
        (session_form(&[("colour", "blue")]), "colour", Some("parameter_unknown")),
        (
            session_form(&[("line_items[0][price_data][product_data][colour]", "blue")]),
            "line_items[0][price_data][product_data][colour]",
            Some("parameter_unknown"),
        ),
        (
            session_form(&[("payment_intent_data[metadta][x]", "1")]),
            "payment_intent_data[metadta][x]",
            Some("parameter_unknown"),
        ),
        (session_form(&[("line_items[0][price]", "price_123")]), "line_items[0][price]", Some("resource_missing")),
        (session_form(&many), "metadata", None),
    ];
    for (form, param, code) in cases {
        let (status, body) = post_form(&fake, "/v1/checkout/sessions", &form, None).await;
        assert_eq!(status, 400, "{param}: {body}");
        let error = &body["error"];
        assert_eq!(error["type"], "invalid_request_error", "{param}: {body}");
        assert_eq!(error["param"], param, "{body}");
        assert_eq!(error["code"].as_str(), code, "{param}: {body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    assert!(fake.sessions().is_empty());

    // An empty product name is refused as empty, not missing.
    let form = session_form(&[]);
    let mut form: Vec<(&str, &str)> =
        form.into_iter().filter(|(k, _)| *k != "line_items[0][price_data][product_data][name]").collect();
    form.push(("line_items[0][price_data][product_data][name]", " "));
    let (status, body) = post_form(&fake, "/v1/checkout/sessions", &form, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("parameter_invalid_empty")), "{body}");

    // Several items add up; unknown-but-real parameters are accepted.
    let form = session_form(&[
        ("line_items[1][price_data][currency]", "usd"),
        ("line_items[1][price_data][unit_amount]", "25"),
        ("line_items[1][price_data][product_data][name]", "Tip"),
        ("line_items[1][quantity]", "2"),
        ("locale", "auto"),
        ("payment_intent_data[setup_future_usage]", "off_session"),
    ]);
    let (status, body) = post_form(&fake, "/v1/checkout/sessions", &form, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["amount_total"], 2050);
    assert_eq!(body["object"], "checkout.session");
}

#[tokio::test]
async fn idempotency_keys_replay_or_conflict() {
    let fake = fake().await;
    let (s1, first) = post_form(&fake, "/v1/checkout/sessions", GOOD_SESSION, Some("k1")).await;
    let (s2, second) = post_form(&fake, "/v1/checkout/sessions", GOOD_SESSION, Some("k1")).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(first, second);
    assert_eq!(fake.sessions().len(), 1);

    // Replays say so.
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(GOOD_SESSION).finish();
    let replay = reqwest::Client::new()
        .post(format!("{}v1/checkout/sessions", fake.base_url()))
        .header("Authorization", format!("Bearer {SECRET}"))
        .header("Idempotency-Key", "k1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));

    let (status, body) =
        post_form(&fake, "/v1/checkout/sessions", &session_form(&[("client_reference_id", "x")]), Some("k1")).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("idempotency_error")), "{body}");
    let (status, body) = post_form(&fake, "/v1/customers", &[], Some("k1")).await;
    assert_eq!((status, body["error"]["type"].as_str()), (400, Some("idempotency_error")), "{body}");

    let long = "k".repeat(256);
    let (status, _) = post_form(&fake, "/v1/customers", &[], Some(&long)).await;
    assert_eq!(status, 400);

    // A refused request is not saved: fixing it under the same key works.
    let (status, _) = post_form(&fake, "/v1/checkout/sessions", &session_form(&[("mode", "")]), Some("k2")).await;
    assert_eq!(status, 400);
    let (status, _) = post_form(&fake, "/v1/checkout/sessions", GOOD_SESSION, Some("k2")).await;
    assert_eq!(status, 200);
    assert_eq!(fake.sessions().len(), 2);

    let (status, body) = post_form(&fake, "/v1/customers", &[("email", "not-an-email")], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("email_invalid")));
    let (status, body) = post_form(&fake, "/v1/nothing", &[], None).await;
    assert_eq!(status, 404, "{body}");
}

// ---- payments and webhooks -----------------------------------------------------------------

#[tokio::test]
async fn paying_refunding_and_disputing_send_verifiable_events() {
    let fake = fake().await;
    let (receiver, url) = Receiver::start(0).await;
    fake.set_webhook_url(&url);
    let client = client(&fake, SECRET);
    let customer = create_customer(&client, "c").await.expect("customer");
    let session = open_session(&client, customer.id.as_str()).await;

    let payment = fake.pay(session.id.as_str(), Deliver::Now).await.expect("pay");
    assert!(payment.payment_intent.starts_with("pi_") && payment.charge.starts_with("ch_"));
    assert_eq!(payment.events.len(), 2);
    let events = receiver.events();
    assert_eq!(events.len(), 2, "refused: {:?}", receiver.refused());
    match &events[0].data.object {
        EventObject::CheckoutSessionCompleted(s) => {
            assert_eq!(s.id, session.id);
            assert_eq!(s.payment_status, CheckoutSessionPaymentStatus::Paid);
            assert_eq!(s.status, Some(CheckoutSessionStatus::Complete));
            assert_eq!(s.payment_intent.as_ref().map(|p| p.id().to_string()), Some(payment.payment_intent.clone()));
            assert_eq!(s.metadata, Some(metadata("7", "42")));
            assert_eq!(s.amount_total, Some(2000));
            assert_eq!(s.customer_details.as_ref().and_then(|d| d.email.as_deref()), Some("ada@example.com"));
        }
        other => panic!("expected checkout.session.completed, got {other:?}"),
    }
    assert_eq!(events[0].type_.as_str(), "checkout.session.completed");
    assert_eq!(events[0].api_version.as_ref().map(|v| v.as_str().to_owned()).as_deref(), Some("2026-09-30.endive"));
    match &events[1].data.object {
        EventObject::PaymentIntentSucceeded(pi) => {
            assert_eq!(pi.id.as_str(), payment.payment_intent);
            assert_eq!(pi.metadata, metadata("7", "42"));
            assert_eq!((pi.amount, pi.amount_received), (2000, 2000));
            assert_eq!(pi.latest_charge.as_ref().map(|c| c.id().to_string()), Some(payment.charge.clone()));
            assert_eq!(pi.customer.as_ref().map(|c| c.id().to_string()), Some(customer.id.to_string()));
        }
        other => panic!("expected payment_intent.succeeded, got {other:?}"),
    }

    let pi = RetrievePaymentIntent::new(payment.payment_intent.as_str()).send(&client).await.expect("retrieve");
    assert_eq!(pi.metadata, metadata("7", "42"));
    let completed = RetrieveCheckoutSession::new(session.id.clone()).send(&client).await.expect("retrieve");
    assert_eq!(completed.payment_status, CheckoutSessionPaymentStatus::Paid);
    assert_eq!(completed.url, None);
    let held = &fake.sessions()[0];
    assert_eq!(
        (held.status.as_str(), held.payment_intent.as_deref()),
        ("complete", Some(payment.payment_intent.as_str()))
    );
    assert!(fake.pay(session.id.as_str(), Deliver::No).await.is_err(), "a session is paid once");

    // Two partial refunds add up.
    fake.refund(&payment.payment_intent, 500, Deliver::Now).await.expect("refund");
    fake.refund(&payment.payment_intent, 1500, Deliver::Now).await.expect("refund");
    assert!(fake.refund(&payment.payment_intent, 1, Deliver::No).await.is_err(), "nothing left to refund");
    let events = receiver.events();
    let refunds: Vec<(i64, bool)> = events[2..4]
        .iter()
        .map(|e| match &e.data.object {
            EventObject::ChargeRefunded(ch) => {
                assert_eq!(ch.id.as_str(), payment.charge);
                assert_eq!(
                    ch.payment_intent.as_ref().map(|p| p.id().to_string()),
                    Some(payment.payment_intent.clone())
                );
                assert_eq!(ch.metadata, metadata("7", "42"));
                (ch.amount_refunded, ch.refunded)
            }
            other => panic!("expected charge.refunded, got {other:?}"),
        })
        .collect();
    assert_eq!(refunds, vec![(500, false), (2000, true)]);

    fake.dispute(&payment.payment_intent, Deliver::Now).await.expect("dispute");
    assert!(fake.dispute(&payment.payment_intent, Deliver::No).await.is_err(), "one dispute per charge");
    match &receiver.events()[4].data.object {
        EventObject::ChargeDisputeCreated(d) => {
            assert_eq!(d.amount, 2000);
            assert_eq!(d.charge.id().as_str(), payment.charge);
            assert_eq!(d.payment_intent.as_ref().map(|p| p.id().to_string()), Some(payment.payment_intent.clone()));
            assert_eq!(d.reason, "fraudulent");
        }
        other => panic!("expected charge.dispute.created, got {other:?}"),
    }

    let deliveries = fake.deliveries();
    let kinds: Vec<(&str, Option<u16>)> = deliveries.iter().map(|d| (d.event_type.as_str(), d.status)).collect();
    assert_eq!(
        kinds,
        vec![
            ("checkout.session.completed", Some(200)),
            ("payment_intent.succeeded", Some(200)),
            ("charge.refunded", Some(200)),
            ("charge.refunded", Some(200)),
            ("charge.dispute.created", Some(200)),
        ]
    );
    assert!(deliveries.iter().all(|d| d.event_id.starts_with("evt_")));
    assert!(receiver.refused().is_empty());
}

#[tokio::test]
async fn failed_deliveries_are_retried() {
    let fake = fake().await;
    let (receiver, url) = Receiver::start(2).await;
    fake.set_webhook_url(url);
    let (_, body) = post_form(&fake, "/v1/checkout/sessions", GOOD_SESSION, None).await;
    let id = body["id"].as_str().unwrap();

    fake.pay(id, Deliver::Now).await.expect("pay");
    let statuses: Vec<(String, Option<u16>)> =
        fake.deliveries().into_iter().map(|d| (d.event_type, d.status)).collect();
    assert_eq!(
        statuses,
        vec![
            ("checkout.session.completed".into(), Some(500)),
            ("checkout.session.completed".into(), Some(500)),
            ("checkout.session.completed".into(), Some(200)),
            ("payment_intent.succeeded".into(), Some(200)),
        ]
    );
    assert_eq!(receiver.events().len(), 2);
}

#[tokio::test]
async fn unreachable_endpoints_and_missing_urls() {
    let fake = fake().await;
    let (_, body) = post_form(&fake, "/v1/checkout/sessions", GOOD_SESSION, None).await;
    let id = body["id"].as_str().unwrap().to_owned();

    // No URL yet: Deliver::Now is refused and nothing changes.
    assert!(fake.pay(&id, Deliver::Now).await.is_err());
    assert_eq!(fake.sessions()[0].status, "open");

    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    fake.set_webhook_url(url);
    let payment = fake.pay(&id, Deliver::Now).await.expect("paid even if nobody hears");
    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), 6, "three attempts per event: {deliveries:?}");
    assert!(deliveries.iter().all(|d| d.status.is_none()));
    assert_eq!(fake.deliver(&payment.events[0]).await, 0);
}

#[tokio::test]
async fn returned_payloads_verify_and_can_be_delivered_later() {
    let fake = fake().await;
    let (receiver, url) = Receiver::start(0).await;
    let (_, body) = post_form(&fake, "/v1/checkout/sessions", GOOD_SESSION, None).await;
    let payment = fake.pay(body["id"].as_str().unwrap(), Deliver::No).await.expect("pay");
    assert!(fake.deliveries().is_empty());

    let now = chrono::Utc::now().timestamp();
    for payload in &payment.events {
        let header = sign(payload, WEBHOOK_SECRET, now);
        assert_eq!(header, Webhook::generate_test_header(payload, WEBHOOK_SECRET, Some(now)));
        let event = Webhook::construct_event(payload, &header, WEBHOOK_SECRET).expect("verifies");
        assert!(!matches!(event.data.object, EventObject::Unknown(_)));
    }
    let refund = fake.refund(&payment.payment_intent, 2000, Deliver::No).await.expect("refund");
    let dispute = fake.dispute(&payment.payment_intent, Deliver::No).await.expect("dispute");
    for payload in [&refund, &dispute] {
        let event =
            Webhook::construct_event(payload, &sign(payload, WEBHOOK_SECRET, now), WEBHOOK_SECRET).expect("verifies");
        assert!(matches!(event.data.object, EventObject::ChargeRefunded(_) | EventObject::ChargeDisputeCreated(_)));
    }

    fake.set_webhook_url(url);
    assert_eq!(fake.deliver(&payment.events[1]).await, 200);
    assert!(matches!(receiver.events()[0].data.object, EventObject::PaymentIntentSucceeded(_)));

    // Bad, stale and future signatures are the receiver's to refuse.
    let payload = &payment.events[0];
    let stale = sign(payload, WEBHOOK_SECRET, now - 600);
    let future = sign(payload, WEBHOOK_SECRET, now + 600);
    let forged = sign(payload, "whsec_other", now);
    for header in [stale.as_str(), future.as_str(), forged.as_str(), "t=abc,v1=00"] {
        assert_eq!(fake.deliver_with_header(payload, header).await, 400, "{header}");
    }
    assert_eq!(receiver.refused().len(), 4);
    assert_eq!(fake.deliveries().len(), 5);
    assert_eq!(fake.deliveries()[0].event_type, "payment_intent.succeeded");
}

// ---- the hosted checkout page --------------------------------------------------------------

#[tokio::test]
async fn the_hosted_page_pays_and_redirects() {
    let fake = fake().await;
    let (receiver, url) = Receiver::start(0).await;
    fake.set_webhook_url(url);
    let client = client(&fake, SECRET);
    let customer = create_customer(&client, "c").await.expect("customer");
    let session = open_session(&client, customer.id.as_str()).await;
    let page_url = session.url.clone().expect("url");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let page = browser.get(&page_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"pay\""), "{html}");
    assert!(html.contains("20.00 USD"), "{html}");
    assert!(html.contains(&format!("action=\"/pay/{}\"", session.id)), "{html}");
    assert!(html.contains(&format!("<a id=\"cancel\" href=\"{CANCEL_URL}\">")), "{html}");

    let paid = browser.post(&page_url).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    let location = paid.headers().get("location").and_then(|v| v.to_str().ok()).unwrap().to_owned();
    assert_eq!(location, format!("https://app.example/topup/done?session={}", session.id));

    // The webhooks follow in the background.
    let events = receiver.wait_for(2).await;
    assert!(matches!(events[0].data.object, EventObject::CheckoutSessionCompleted(_)));
    assert!(matches!(events[1].data.object, EventObject::PaymentIntentSucceeded(_)));
    assert_eq!(fake.sessions()[0].status, "complete");

    let html = browser.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("already paid") && !html.contains("id=\"pay\""), "{html}");
    // Paying twice only redirects again.
    let again = browser.post(&page_url).send().await.unwrap();
    assert_eq!(again.status(), 303);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.events().len(), 2);

    let missing = browser.get(format!("{}pay/cs_test_nope", fake.base_url())).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}
