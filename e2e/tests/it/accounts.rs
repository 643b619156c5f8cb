//! A person signs up, logs out and in, edits the profile and reloads; an admin disables an
//! account, and its owner is told why they cannot log in.

use std::time::Duration;

use e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Browser, Stack, with_browser};

const PASSWORD: &str = "a long enough password";

async fn log_in(b: &Browser, stack: &Stack, email: &str, password: &str) -> anyhow::Result<()> {
    b.goto(&stack.url("/login")).await?;
    b.fill("#email", email).await?;
    b.fill("#password", password).await?;
    b.click("#submit").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_log_out_log_in_rename_and_reload() {
    let stack = Stack::start().await.unwrap();
    with_browser("accounts-journey", |b| async move {
        b.goto(&stack.url("/signup")).await?;

        // Bad input first: each reason shows next to its field.
        b.fill("#email", "not-an-email").await?;
        b.fill("#display-name", "Ada").await?;
        b.fill("#password", "short").await?;
        b.click("#submit").await?;
        b.wait_text("small[data-field=email]", "not a valid email address").await?;
        b.wait_text("small[data-field=password]", "too short").await?;

        b.fill("#email", "ada@example.com").await?;
        b.fill("#password", PASSWORD).await?;
        b.click("#submit").await?;
        b.wait_text("#nav-user", "Ada").await?;
        b.wait_text("#phone-status", "Ready").await?;
        b.wait_text("#balance", "0.00").await?;
        b.wait_text("#nav-user", "Ada").await?;
        assert!(b.client.find(fantoccini::Locator::Css("#nav-admin")).await.is_err(), "no admin link for a user");

        b.click("#logout").await?;
        b.wait_path("/login").await?;
        b.wait_text("#notice", "signed out").await?;

        // A wrong password is refused with the same words as an unknown email.
        log_in(&b, &stack, "ada@example.com", "not the password").await?;
        b.wait_text("#error-banner", "Invalid email or password").await?;

        log_in(&b, &stack, "ada@example.com", PASSWORD).await?;
        b.wait_text("#nav-user", "Ada").await?;
        b.wait_text("#phone-status", "Ready").await?;

        b.goto(&stack.url("/profile")).await?;
        b.fill("#display-name", "Ada Lovelace").await?;
        b.click("#save-name").await?;
        b.find("#name-saved").await?;
        b.wait_text("#nav-user", "Ada Lovelace").await?;

        // A reload keeps the session (refresh cookie) and the new name.
        b.client.refresh().await?;
        b.wait_text("#nav-user", "Ada Lovelace").await?;
        b.wait_path("/profile").await?;
        b.wait_text("#profile-email", "ada@example.com").await?;
        b.screenshot("profile").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_disables_a_user_who_then_sees_why_they_cannot_log_in() {
    let stack = Stack::start().await.unwrap();
    stack.create_user("grace@example.com", "Grace Hopper", PASSWORD).await.unwrap();
    stack.create_user("alan@example.com", "Alan Turing", PASSWORD).await.unwrap();
    with_browser("admin-disable", |b| async move {
        log_in(&b, &stack, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
        b.wait_text("#nav-user", "Administrator").await?;
        b.click("#nav-admin").await?;
        b.wait_text("#page-info", "3 users").await?;

        b.fill("#user-search", "grace").await?;
        b.click("#search").await?;
        b.wait_text("#page-info", "· 1 user").await?;
        b.click(r#"tr[data-email="grace@example.com"] button.toggle"#).await?;
        b.wait_text(r#"tr[data-email="grace@example.com"] .status"#, "disabled").await?;
        b.screenshot("admin-users").await?;

        b.click("#logout").await?;
        b.wait_path("/login").await?;
        log_in(&b, &stack, "grace@example.com", PASSWORD).await?;
        b.wait_text("#error-banner", "disabled by an administrator").await?;
        b.wait_path("/login").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_ends_cleanly() {
    // Access tokens live one second, so the next click needs a refresh, which fails once the
    // session has been revoked elsewhere.
    let stack = Stack::start_with(|s| s.auth.access_ttl_secs = 1).await.unwrap();
    stack.create_user("exp@example.com", "Expiring", PASSWORD).await.unwrap();
    with_browser("session-expiry", |b| async move {
        log_in(&b, &stack, "exp@example.com", PASSWORD).await?;
        b.wait_text("#nav-user", "Expiring").await?;
        b.goto(&stack.url("/profile")).await?;
        b.find("#display-name").await?;
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // With the cookie still there, an expired access token is renewed silently.
        b.fill("#display-name", "Still Here").await?;
        b.click("#save-name").await?;
        b.find("#name-saved").await?;

        // Another device changes the password, which ends every other session, this one included.
        let http = reqwest::Client::new();
        let login: serde_json::Value = http
            .post(stack.url("/api/auth/login"))
            .json(&serde_json::json!({"email": "exp@example.com", "password": PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = login["access_token"].as_str().unwrap_or_default();
        let changed = http
            .post(stack.url("/api/me/password"))
            .bearer_auth(token)
            .json(&serde_json::json!({"current_password": PASSWORD, "new_password": "another long password"}))
            .send()
            .await?;
        anyhow::ensure!(changed.status().is_success(), "password change: {}", changed.status());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        b.fill("#display-name", "Too Late").await?;
        b.click("#save-name").await?;
        b.wait_path("/login").await?;
        b.wait_text("#notice", "session has expired").await?;
        Ok(())
    })
    .await
    .unwrap();
}
