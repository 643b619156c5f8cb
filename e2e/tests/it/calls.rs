//! Two people in two headless browsers call each other with real WebRTC audio (Chromium's fake
//! microphone), on loopback.

use std::time::Duration;

use e2e::{Browser, Stack, with_browser, with_browser_flags, with_two_browsers};
use fantoccini::Locator;

const PASSWORD: &str = "a long enough password";

async fn two_people(stack: &Stack) {
    stack.create_user("ada@example.com", "Ada", PASSWORD).await.unwrap();
    stack.create_user("bob@example.com", "Bob", PASSWORD).await.unwrap();
}

async fn call_bob(a: &Browser) -> anyhow::Result<()> {
    a.fill("#directory-search", "bob").await?;
    a.click(r#"li.contact[data-email="bob@example.com"] button.call"#).await
}

/// Packets received, and the received audio energy, as the in-call screen shows them.
async fn received(b: &Browser) -> anyhow::Result<(u64, f64)> {
    let packets = b.attr("#remote-level", "data-packets").await?.parse().unwrap_or(0);
    let energy = b.attr("#remote-level", "data-energy").await?.parse().unwrap_or(0.0);
    Ok((packets, energy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ada_calls_bob_they_talk_ada_mutes_and_hangs_up() {
    let stack = Stack::start().await.unwrap();
    two_people(&stack).await;
    with_two_browsers("call-answered", |a, b| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        b.log_in(&stack, "bob@example.com", PASSWORD).await?;

        call_bob(&a).await?;
        b.wait_text(".incoming .caller", "Ada").await?;
        a.wait_text("#call-state", "Ringing").await?;
        b.click(".incoming button.answer").await?;
        a.wait_text("#call-state", "In call with Bob").await?;
        b.wait_text("#call-state", "In call with Ada").await?;

        // Audio flows both ways for at least three seconds.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while received(&a).await?.0 == 0 || received(&b).await?.0 == 0 {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "no audio packets arrived");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (a0, b0) = (received(&a).await?, received(&b).await?);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (a1, b1) = (received(&a).await?, received(&b).await?);
        anyhow::ensure!(
            a1.0 > a0.0 + 50 && b1.0 > b0.0 + 50,
            "packets kept arriving: a {a0:?}→{a1:?}, b {b0:?}→{b1:?}"
        );
        anyhow::ensure!(b1.1 > b0.1, "Bob heard sound from Ada's (fake) microphone: {b0:?}→{b1:?}");
        a.screenshot("in-call").await?;

        // Hold and resume: Bob is told.
        a.click("#hold").await?;
        b.wait_text("#peer-held", "on hold").await?;
        a.click("#hold").await?;
        b.gone("#peer-held").await?;

        // Ada mutes: Bob still receives packets, but silence.
        a.click("#mute").await?;
        a.wait_text("#call-panel .badges", "Muted").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let m0 = received(&b).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let m1 = received(&b).await?;
        anyhow::ensure!(m1.0 > m0.0, "packets still flow while muted: {m0:?}→{m1:?}");
        anyhow::ensure!(m1.1 - m0.1 < 1e-4, "Bob hears silence while Ada is muted: energy {m0:?}→{m1:?}");

        a.click("#hangup").await?;
        a.wait_text("#ended-reason", "You hung up").await?;
        b.wait_text("#ended-reason", "call ended").await?;

        for (who, peer) in [(&a, "Bob"), (&b, "Ada")] {
            who.click(r#"a[href="/history"]"#).await?;
            who.wait_text(".call-row .peer", peer).await?;
            who.wait_text(".call-row .cause", "ended").await?;
            let duration = who.find(".call-row .duration").await?.text().await?;
            anyhow::ensure!(duration != "0:00", "the call lasted a few seconds, not {duration}");
        }
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_declines() {
    let stack = Stack::start().await.unwrap();
    two_people(&stack).await;
    with_two_browsers("call-declined", |a, b| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        b.log_in(&stack, "bob@example.com", PASSWORD).await?;
        call_bob(&a).await?;
        b.click(".incoming button.decline").await?;
        a.wait_text("#ended-reason", "declined").await?;
        b.gone(".incoming").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_does_not_answer() {
    let stack = Stack::start_with(|s| s.calls.ring_timeout_secs = 3).await.unwrap();
    two_people(&stack).await;
    with_two_browsers("call-unanswered", |a, b| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        b.log_in(&stack, "bob@example.com", PASSWORD).await?;
        call_bob(&a).await?;
        b.find(".incoming").await?;
        a.wait_text("#ended-reason", "Nobody answered").await?;
        b.gone(".incoming").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bob_is_offline() {
    let stack = Stack::start().await.unwrap();
    two_people(&stack).await;
    with_browser("call-offline", |a| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        call_bob(&a).await?;
        a.wait_text("#ended-reason", "not online").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_of_bobs_tabs_ring_and_answering_one_stops_the_other() {
    let stack = Stack::start().await.unwrap();
    two_people(&stack).await;
    with_two_browsers("call-two-tabs", |a, b| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        b.log_in(&stack, "bob@example.com", PASSWORD).await?;
        let first = b.client.window().await?;
        let second = b.client.new_window(true).await?.handle;
        b.client.switch_to_window(second.clone()).await?;
        b.goto(&stack.url("/")).await?;
        b.wait_text("#phone-status", "Ready").await?;

        call_bob(&a).await?;
        b.find(".incoming").await?; // the second tab rings
        b.client.switch_to_window(first.clone()).await?;
        b.find(".incoming").await?; // and so does the first
        b.click(".incoming button.answer").await?;
        b.wait_text("#call-state", "In call with Ada").await?;
        a.wait_text("#call-state", "In call with Bob").await?;

        b.client.switch_to_window(second).await?;
        b.gone(".incoming").await?;
        b.wait_text("#ended-reason", "another device").await?;
        anyhow::ensure!(b.client.find(Locator::Css("#call-panel")).await.is_err(), "the other tab is not in the call");
        b.client.switch_to_window(first).await?;
        b.click("#hangup").await?;
        a.wait_text("#ended-reason", "call ended").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_microphone_is_explained() {
    let stack = Stack::start().await.unwrap();
    two_people(&stack).await;
    // No fake permission UI: Chromium denies the microphone as a person clicking "Block" would.
    let flags = ["--deny-permission-prompts", "!--use-fake-ui-for-media-stream"];
    with_browser_flags("mic-denied", &flags, |a| async move {
        a.log_in(&stack, "ada@example.com", PASSWORD).await?;
        call_bob(&a).await?;
        a.wait_text("#phone-error", "Microphone access was denied").await?;
        anyhow::ensure!(a.client.find(Locator::Css("#call-panel")).await.is_err(), "no call was placed");
        Ok(())
    })
    .await
    .unwrap();
}
