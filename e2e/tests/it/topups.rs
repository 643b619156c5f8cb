//! A person tops up by card: the app → the (fake) Stripe Checkout page → pays → back on the app,
//! where the balance and the receipt show the payment; a refund and a dispute then lower the
//! balance on the open page, without a reload.

use e2e::{Stack, with_browser};
use stripe_fake::{Config, Deliver, FakeStripe};

const KEY: &str = "sk_test_e2e";
const WHSEC: &str = "whsec_e2e";
const EMAIL: &str = "payer@example.com";
const PASSWORD: &str = "a long enough password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_tops_up_twenty_by_card_and_sees_it_live() {
    let fake = FakeStripe::start(Config { secret_key: KEY.into(), webhook_secret: WHSEC.into() }).await;
    let api = fake.base_url();
    let stack = Stack::start_with(move |s| {
        s.payments.stripe_secret_key = Some(server::config::Secret::new(KEY));
        s.payments.stripe_webhook_secret = Some(server::config::Secret::new(WHSEC));
        s.payments.stripe_api_base = Some(api);
    })
    .await
    .unwrap();
    fake.set_webhook_url(stack.url("/api/stripe/webhook"));
    stack.create_user(EMAIL, "Payer", PASSWORD).await.unwrap();
    let stripe = fake.clone();
    with_browser("topup", |b| async move {
        b.log_in(&stack, EMAIL, PASSWORD).await?;
        b.wait_text("#balance", "0.00").await?;
        b.click("#nav-topup").await?;
        b.wait_path("/topup").await?;

        // Bad amounts are refused next to the field, and nothing reaches Stripe.
        b.fill("#topup-amount", "2").await?;
        b.click("#topup-pay").await?;
        b.wait_text("#topup-error", "at least 5.00").await?;
        b.fill("#topup-amount", "20.001").await?;
        b.click("#topup-pay").await?;
        b.wait_text("#topup-error", "decimals").await?;
        anyhow::ensure!(stripe.sessions().is_empty(), "no checkout for bad input");

        b.click("button.preset[data-micros='20000000']").await?;
        b.wait_text("#topup-after", "20.00").await?;
        b.click("#topup-pay").await?;

        // Stripe's hosted page.
        b.wait_text("body", "20.00").await?;
        b.screenshot("topup-checkout").await?;
        b.click("#pay").await?;

        // Back on the app: the payment lands by webhook and the page shows it.
        b.wait_path("/topup/done").await?;
        b.wait_text("#done-balance", "20.00").await?;
        let status = b.attr("#topup-status", "data-status").await?;
        anyhow::ensure!(status == "paid" || status == "pending", "status {status}");
        b.wait_text("#topup-status", "Paid").await?;

        b.click("#nav-receipts").await?;
        b.wait_text("#receipts", "Paid").await?;
        b.wait_text("#receipts", "20.00").await?;

        // On the phone page, Stripe refunds 5.00: the balance drops without a reload.
        b.goto(&stack.url("/")).await?;
        b.wait_text("#balance", "20.00").await?;
        let payment = stripe.sessions()[0].payment_intent.clone().expect("paid");
        stripe.refund(&payment, 500, Deliver::Now).await.map_err(anyhow::Error::msg)?;
        b.wait_text("#balance", "15.00").await?;

        // Then a dispute of the whole 20.00: the balance goes below zero and the receipt says so.
        stripe.dispute(&payment, Deliver::Now).await.map_err(anyhow::Error::msg)?;
        b.wait_text("#balance", "-5.00").await?;
        b.click("#nav-receipts").await?;
        b.wait_text("#receipts", "Disputed").await?;
        b.find("#under-review").await?;
        b.screenshot("topup-receipts").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_stripe_keys_the_page_says_top_ups_are_off() {
    let stack = Stack::start().await.unwrap();
    stack.create_user(EMAIL, "Payer", PASSWORD).await.unwrap();
    with_browser("topup-off", |b| async move {
        b.log_in(&stack, EMAIL, PASSWORD).await?;
        b.click("#nav-topup").await?;
        b.wait_text("#topup-disabled", "not configured").await?;
        Ok(())
    })
    .await
    .unwrap();
}
