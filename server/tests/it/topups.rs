//! Card top-ups against the fake Stripe (`stripe-fake`): Checkout requests as Stripe checks them,
//! webhooks signed as Stripe signs them, and the ledger credited exactly once whatever the
//! number, order or concurrency of deliveries.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stripe_fake::{Config, Deliver, FakeStripe, sign};

use crate::helpers::*;

const KEY: &str = "sk_test_callplat";
const WHSEC: &str = "whsec_callplat_test";

/// The app with Stripe pointed at a fresh fake, and the fake's webhooks pointed at the app.
async fn spawn_with_stripe() -> (TestApp, FakeStripe) {
    let fake = FakeStripe::start(Config { secret_key: KEY.into(), webhook_secret: WHSEC.into() }).await;
    let base = fake.base_url();
    let app = spawn_app_with(move |s| {
        s.payments.stripe_secret_key = Some(server::config::Secret::new(KEY));
        s.payments.stripe_webhook_secret = Some(server::config::Secret::new(WHSEC));
        s.payments.stripe_api_base = Some(base);
    })
    .await;
    fake.set_webhook_url(format!("{}/api/stripe/webhook", app.base));
    (app, fake)
}

async fn balance(app: &TestApp, s: &Session) -> i64 {
    let (status, b) = status_json(app.get_auth("/api/me/balance", &s.access).await).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b["balance_micros"].as_i64().unwrap()
}

async fn start_topup(app: &TestApp, s: &Session, amount: &str) -> (StatusCode, Value) {
    status_json(app.send_auth(Method::POST, "/api/topups", &s.access, json!({ "amount": amount })).await).await
}

/// Starts a top-up and returns (top-up id, checkout session id).
async fn checkout(app: &TestApp, fake: &FakeStripe, s: &Session, amount: &str) -> (i64, String) {
    let (status, body) = start_topup(app, s, amount).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["topup"]["id"].as_i64().unwrap();
    let url = body["url"].as_str().unwrap();
    let session = url.rsplit('/').next().unwrap().to_string();
    assert!(url.starts_with(&fake.base_url()), "{url}");
    (id, session)
}

async fn topup(app: &TestApp, s: &Session, id: i64) -> Value {
    let (status, t) = status_json(app.get_auth(&format!("/api/topups/{id}"), &s.access).await).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    t
}

async fn ledger_kinds(app: &TestApp, s: &Session) -> Vec<(String, i64)> {
    let (_, page) = status_json(app.get_auth("/api/me/ledger?per_page=100", &s.access).await).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_string(), l["amount_micros"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn without_keys_top_ups_are_off_and_say_so() {
    let app = spawn_app().await;
    let u = app.new_user("u@example.com").await;
    let (status, config) = status_json(app.get_auth("/api/topups/config", &u.access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["enabled"], false);
    assert_eq!(config["currency"], "usd");
    assert_eq!(config["presets_micros"], json!([10_000_000, 20_000_000, 50_000_000]));
    let (status, body) = start_topup(&app, &u, "20").await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "payments_unavailable");
    let r = app.client.post(app.url("/api/stripe/webhook")).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn checkout_is_opened_as_stripe_expects_and_bad_amounts_are_refused() {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("payer@example.com").await;
    let uid = u.user["id"].as_i64().unwrap();
    for (amount, reason) in [
        ("4.99", "must be at least 5.00"),
        ("500.01", "must be at most 500.00"),
        ("20.001", "has more than 2 decimals"),
        ("twenty", "is not a decimal number like 12.50"),
        ("", "is empty"),
    ] {
        let (status, body) = start_topup(&app, &u, amount).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(body["error"]["fields"]["amount"], reason, "{amount:?}");
    }
    assert!(fake.requests().is_empty(), "nothing reached Stripe");

    let (id, session) = checkout(&app, &fake, &u, "20").await;
    let (id2, _) = checkout(&app, &fake, &u, "12.50").await;
    let reqs = fake.requests();
    let customers: Vec<_> = reqs.iter().filter(|r| r.path == "/v1/customers").collect();
    assert_eq!(customers.len(), 1, "the customer is created once and stored");
    assert_eq!(customers[0].params.get("metadata[user_id]"), Some(&uid.to_string()));
    assert_eq!(customers[0].params.get("email").map(String::as_str), Some("payer@example.com"));
    let sessions: Vec<_> = reqs.iter().filter(|r| r.path == "/v1/checkout/sessions").collect();
    assert_eq!(sessions.len(), 2);
    let first = &sessions[0];
    assert_eq!(first.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(first.idempotency_key.as_deref(), Some(format!("callplat-topup-{id}").as_str()));
    let p = |k: &str| first.params.get(k).cloned().unwrap_or_default();
    assert_eq!(p("mode"), "payment");
    assert_eq!(p("line_items[0][price_data][currency]"), "usd");
    assert_eq!(p("line_items[0][price_data][unit_amount]"), "2000");
    assert_eq!(p("line_items[0][quantity]"), "1");
    assert_eq!(p("metadata[user_id]"), uid.to_string());
    assert_eq!(p("metadata[topup_id]"), id.to_string());
    assert_eq!(p("payment_intent_data[metadata][topup_id]"), id.to_string());
    assert_eq!(p("customer"), fake.customers()[0]);
    assert_eq!(p("success_url"), format!("{}/topup/done?topup={id}", app.base));
    assert_eq!(p("cancel_url"), format!("{}/topup?cancelled={id}", app.base));
    assert_eq!(sessions[1].params.get("line_items[0][price_data][unit_amount]").map(String::as_str), Some("1250"));
    assert!(fake.sessions().iter().any(|s| s.id == session));

    let t = topup(&app, &u, id).await;
    assert_eq!((t["status"].as_str(), t["amount_micros"].as_i64()), (Some("pending"), Some(20_000_000)));
    let (_, page) = status_json(app.get_auth("/api/topups", &u.access).await).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["id"], id2, "newest first");
    // Someone else's top-up is not found.
    let other = app.new_user("other@example.com").await;
    let r = app.get_auth(&format!("/api/topups/{id}"), &other.access).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stripe_refusing_the_checkout_leaves_nothing_behind() {
    let fake = FakeStripe::start(Config { secret_key: KEY.into(), webhook_secret: WHSEC.into() }).await;
    let base = fake.base_url();
    let app = spawn_app_with(move |s| {
        s.payments.stripe_secret_key = Some(server::config::Secret::new("sk_test_wrong"));
        s.payments.stripe_webhook_secret = Some(server::config::Secret::new(WHSEC));
        s.payments.stripe_api_base = Some(base);
    })
    .await;
    let u = app.new_user("u@example.com").await;
    let (status, body) = start_topup(&app, &u, "20").await;
    assert_error(status, &body, StatusCode::BAD_GATEWAY, "payment_provider_error");
    let (_, page) = status_json(app.get_auth("/api/topups", &u.access).await).await;
    assert_eq!(page["total"], 0);
    assert!(fake.requests().iter().all(|r| r.status == 401));
}

#[tokio::test]
async fn the_same_webhook_twenty_times_at_once_credits_once_and_pushes_the_balance() {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("u@example.com").await;
    let mut ws = app.ws(&u.access).await;
    let (id, session) = checkout(&app, &fake, &u, "20").await;
    let payment = fake.pay(&session, Deliver::No).await.unwrap();
    assert_eq!(payment.events.len(), 2);
    let completed = payment.events[0].clone();
    let deliveries: Vec<_> = (0..20)
        .map(|_| {
            let fake = fake.clone();
            let payload = completed.clone();
            tokio::spawn(async move { fake.deliver(&payload).await })
        })
        .collect();
    for d in deliveries {
        assert_eq!(d.await.unwrap(), 200);
    }
    // The payment intent's own event is the same payment: no second credit.
    assert_eq!(fake.deliver(&payment.events[1]).await, 200);
    assert_eq!(balance(&app, &u).await, 20_000_000);
    assert_eq!(ledger_kinds(&app, &u).await, vec![("payment".to_string(), 20_000_000)]);
    let pushed = ws.expect("balance").await;
    assert_eq!(pushed["balance_micros"], 20_000_000);
    let t = topup(&app, &u, id).await;
    assert_eq!(t["status"], "paid");
    assert!(t["paid_at"].is_string());
}

#[tokio::test]
async fn bad_stale_and_future_signatures_are_refused_and_credit_nothing() {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("u@example.com").await;
    let (_, session) = checkout(&app, &fake, &u, "20").await;
    let payment = fake.pay(&session, Deliver::No).await.unwrap();
    let payload = &payment.events[0];
    let now = chrono::Utc::now().timestamp();
    let good = sign(payload, WHSEC, now);
    for header in [
        sign(payload, "whsec_someone_else", now),
        sign(payload, WHSEC, now - 301),
        sign(payload, WHSEC, now + 301),
        format!("t={now}"),
        "garbage".to_string(),
        good.replace("v1=", "v0="),
    ] {
        assert_eq!(fake.deliver_with_header(payload, &header).await, 400, "{header}");
    }
    // A valid signature over another payload.
    let tampered = payload.replace("2000", "200000");
    assert_eq!(fake.deliver_with_header(&tampered, &good).await, 400);
    let r = app.client.post(app.url("/api/stripe/webhook")).body(payload.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no Stripe-Signature header");
    assert_eq!(balance(&app, &u).await, 0);
    assert!(ledger_kinds(&app, &u).await.is_empty());
    // Any of several v1 signatures may match (secret rotation).
    let rotated = format!("{},v1={}", sign(payload, "whsec_old", now), good.split("v1=").nth(1).unwrap());
    assert_eq!(fake.deliver_with_header(payload, &rotated).await, 200);
    assert_eq!(balance(&app, &u).await, 20_000_000);
}

/// Pays 20.00, refunds 5.00 then 15.00 more: the events delivered in `order`.
async fn refund_story(order: &[usize]) -> (i64, Value, Vec<(String, i64)>) {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("u@example.com").await;
    let (id, session) = checkout(&app, &fake, &u, "20").await;
    let payment = fake.pay(&session, Deliver::No).await.unwrap();
    let first = fake.refund(&payment.payment_intent, 500, Deliver::No).await.unwrap();
    let second = fake.refund(&payment.payment_intent, 1000, Deliver::No).await.unwrap();
    let events = [payment.events[0].clone(), payment.events[1].clone(), first, second];
    for &i in order {
        assert_eq!(fake.deliver(&events[i]).await, 200, "event {i}");
    }
    let mut kinds = ledger_kinds(&app, &u).await;
    kinds.sort();
    (balance(&app, &u).await, topup(&app, &u, id).await, kinds)
}

#[tokio::test]
async fn refunds_in_any_order_give_the_same_balance() {
    let (b, t, _) = refund_story(&[0, 1, 2, 3]).await;
    assert_eq!(b, 5_000_000);
    assert_eq!((t["status"].as_str(), t["refunded_micros"].as_i64()), (Some("partially_refunded"), Some(15_000_000)));
    // Refunds first, the cumulative 15.00 before the 5.00; the payment's events last and twice.
    let (b2, t2, kinds) = refund_story(&[3, 2, 1, 0, 1]).await;
    assert_eq!(b2, b);
    assert_eq!(t2["status"], t["status"]);
    assert_eq!(kinds, vec![("payment".to_string(), 20_000_000), ("refund".to_string(), -15_000_000)]);
}

#[tokio::test]
async fn a_dispute_takes_the_money_back_and_puts_the_account_under_review() {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("u@example.com").await;
    let uid = u.user["id"].as_i64().unwrap();
    let (id, session) = checkout(&app, &fake, &u, "20").await;
    let payment = fake.pay(&session, Deliver::Now).await.unwrap();
    assert_eq!(balance(&app, &u).await, 20_000_000);
    let mut ws = app.ws(&u.access).await;
    let dispute = fake.dispute(&payment.payment_intent, Deliver::Now).await.unwrap();
    assert_eq!(fake.deliver(&dispute).await, 200, "a redelivery changes nothing");
    assert_eq!(balance(&app, &u).await, 0);
    assert_eq!(ws.expect("balance").await["balance_micros"], 0);
    assert_eq!(topup(&app, &u, id).await["status"], "disputed");
    let (_, me) = status_json(app.get_auth("/api/me", &u.access).await).await;
    assert_eq!(me["under_review"], true, "{me}");
    let (status, body) = start_topup(&app, &u, "20").await;
    assert_error(status, &body, StatusCode::CONFLICT, "under_review");

    let admin = app.admin().await;
    let r = app.send_auth(Method::DELETE, &format!("/api/admin/users/{uid}/review"), &u.access, json!({})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "admins only");
    let (status, user) = status_json(
        app.send_auth(Method::DELETE, &format!("/api/admin/users/{uid}/review"), &admin.access, json!({})).await,
    )
    .await;
    assert_eq!((status, user["under_review"].as_bool()), (StatusCode::OK, Some(false)));
    let (status, _) = start_topup(&app, &u, "20").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn events_that_are_not_ours_are_acknowledged_and_ignored() {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("u@example.com").await;
    let event = json!({
        "id": "evt_other", "object": "event", "api_version": "2026-09-30.endive", "created": 1,
        "livemode": false, "pending_webhooks": 1, "type": "customer.created",
        "data": {"object": {"id": "cus_x", "object": "customer", "created": 1, "livemode": false}}
    });
    assert_eq!(fake.deliver(&event.to_string()).await, 200);
    assert_eq!(fake.deliver("{not json").await, 400, "signed but unreadable");
    assert_eq!(balance(&app, &u).await, 0);
}

#[tokio::test]
async fn racing_refund_notifications_post_the_refunded_total_exactly() {
    let (app, fake) = spawn_with_stripe().await;
    let u = app.new_user("u@example.com").await;
    let (id, session) = checkout(&app, &fake, &u, "20").await;
    let payment = fake.pay(&session, Deliver::Now).await.unwrap();
    let first = fake.refund(&payment.payment_intent, 500, Deliver::No).await.unwrap();
    let second = fake.refund(&payment.payment_intent, 700, Deliver::No).await.unwrap();
    let deliveries: Vec<_> = (0..16)
        .map(|i| {
            let fake = fake.clone();
            let payload = if i % 2 == 0 { first.clone() } else { second.clone() };
            tokio::spawn(async move { fake.deliver(&payload).await })
        })
        .collect();
    for d in deliveries {
        assert_eq!(d.await.unwrap(), 200);
    }
    assert_eq!(balance(&app, &u).await, 8_000_000, "20.00 paid, 12.00 refunded");
    assert_eq!(topup(&app, &u, id).await["refunded_micros"], 12_000_000);
}
