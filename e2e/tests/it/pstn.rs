//! Phone calls through the gateway: headless Chromium on one side, sipp as the carrier (or as a
//! PSTN caller) on the other, and a small RTP peer standing in for the far end's audio.

use std::time::Duration;

use e2e::sipp::{MediaPeer, Sipp, free_udp_port};
use e2e::{Browser, Stack, with_browser};

pub(crate) const PASSWORD: &str = "a long enough password";

/// A carrier pointing at sipp on `port`, with digest credentials, accepting INVITEs from
/// loopback; and Ada, who owns the DID +1 415 555 0100.
pub(crate) async fn carrier_and_ada(stack: &Stack, port: u16) -> anyhow::Result<()> {
    carrier_and_ada_over(stack, port, "udp").await
}

async fn carrier_and_ada_over(stack: &Stack, port: u16, transport: &str) -> anyhow::Result<()> {
    stack.create_user("ada@example.com", "Ada", PASSWORD).await?;
    let carrier = stack
        .admin_post(
            "/api/admin/carriers",
            serde_json::json!({
                "name": "sipp carrier",
                "username": "trunkuser",
                "password": "trunksecret",
                "caller_id_policy": "user_did",
                "inbound_cidrs": ["127.0.0.1/32"],
                "gateways": [{"host": "127.0.0.1", "port": port, "transport": transport}],
            }),
        )
        .await?;
    // Its buy deck: the carrier takes +1 at 0.005/min, below the sell price.
    let deck = "prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,0.005,0,0,60\n";
    stack.admin_post_csv(&format!("/api/admin/carriers/{}/decks", carrier["id"]), deck).await?;
    stack.wait_for_route("+12025550143").await?;
    // Ada is the second account (after the seeded admin).
    stack.admin_post("/api/admin/dids", serde_json::json!({"number": "+1 415 555 0100", "user_id": 2})).await?;
    // Calls to +1 cost 0.01 a minute (60/60) on the default plan (the first), and Ada has 10.00.
    stack.admin_post("/api/admin/rate-plans/1/rates", serde_json::json!({"prefix": "1", "per_minute": "0.01"})).await?;
    stack.admin_post("/api/admin/users/2/adjustments", serde_json::json!({"amount": "10", "reason": "test"})).await?;
    Ok(())
}

/// A packet counter the page shows as `data-packets` on `css` (0 until there is one).
async fn packets_at(b: &Browser, css: &str) -> u64 {
    b.attr(css, "data-packets").await.ok().and_then(|p| p.parse().ok()).unwrap_or(0)
}

async fn packets(b: &Browser) -> u64 {
    packets_at(b, "#remote-level").await
}

/// Polls `count` every 100 ms for up to 10 s until it exceeds `n`; its last value either way.
async fn until_above<F, Fut>(n: u64, mut count: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let mut got = count().await;
    for _ in 0..100 {
        if got > n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = count().await;
    }
    got
}

/// Waits until the browser has received more than `n` RTP packets.
async fn wait_packets(b: &Browser, n: u64) -> anyhow::Result<u64> {
    let got = until_above(n, || packets(b)).await;
    anyhow::ensure!(got > n, "the browser received only {got} packets");
    Ok(got)
}

/// Waits until the far end has received more than `n` RTP packets from the gateway.
async fn wait_carrier_packets(media: &MediaPeer, n: u64) -> anyhow::Result<()> {
    let got = until_above(n, || std::future::ready(media.stats().packets)).await;
    anyhow::ensure!(got > n, "the far end got only {:?}", media.stats());
    Ok(())
}

pub(crate) async fn dial(b: &Browser, number: &str) -> anyhow::Result<()> {
    b.fill("#dial-number", number).await?;
    b.click("#dial-number-call").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_authenticates_carries_audio_and_dtmf_and_the_browser_hangs_up() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    let media = MediaPeer::start().await.unwrap();
    let sipp = Sipp::uas("uas_auth_answer.xml", port, media.port).unwrap();
    with_browser("pstn-outbound", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        // Before dialling: the price and how long 10.00 lasts at it.
        b.fill("#dial-number", "+1 (202) 555-0143").await?;
        b.wait_text("#dial-quote", "0.01/min · about 1000 minutes available").await?;
        b.fill("#dial-number", "+44 20 7946 0123").await?;
        b.wait_text("#dial-quote", "not allowed on your rate plan").await?;
        dial(&b, "+1 (202) 555-0143").await?;
        // The carrier's 180 has no SDP: the gateway plays ringback to the browser itself.
        b.wait_text("#call-state", "Ringing").await?;
        let ringback = until_above(10, || packets_at(&b, "#call-state")).await;
        anyhow::ensure!(ringback > 10, "ringback packets before the answer: {ringback}");
        b.wait_text("#call-state", "In call").await?;
        // The running cost (the first minute, committed at the answer) and the time left.
        b.wait_text("#call-cost", "0.01").await?;
        b.wait_text("#call-time-left", "over an hour").await?;
        // Audio both ways: the far end echoes what the browser sends.
        let before = packets(&b).await;
        wait_carrier_packets(&media, 50).await?;
        wait_packets(&b, before + 50).await?;
        for key in ["1", "5", "#"] {
            b.click(&format!(r#"#keypad button[data-key="{key}"]"#)).await?;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let events = media.stats().events;
        anyhow::ensure!(events == vec![1, 5, 11], "telephone-events at the carrier: {events:?}");
        b.click("#hangup").await?;
        b.gone("#call-state").await?;
        // Charged one minute at 0.01 when it ended; the page says so and the balance follows.
        b.wait_text("#call-charge", "This call cost 0.01").await?;
        b.wait_text("#balance", "9.99").await?;
        // The balance page lists the charge under the credit; the history shows the cost.
        b.click("#nav-balance").await?;
        b.wait_text("#ledger tr[data-kind=call]", "-0.01").await?;
        b.wait_text("#ledger tr[data-kind=adjustment]", "10.00").await?;
        b.goto(&stack.url("/history")).await?;
        b.wait_text(".call-row .cost", "0.01").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_number_shows_busy() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    let sipp = Sipp::uas("uas_busy.xml", port, 9).unwrap();
    with_browser("pstn-busy", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&b, "+12025550143").await?;
        b.wait_text("#ended-reason", "busy").await?;
        // History names the number, the carrier and the carrier's answer.
        b.goto(&stack.url("/history")).await?;
        b.wait_text(".call-row .peer", "+12025550143").await?;
        b.wait_text(".call-row .peer", "via sipp carrier").await?;
        b.wait_text(".call-row .sip-code", "486").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_plays_before_answer_and_the_carrier_hangs_up() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    let media = MediaPeer::start().await.unwrap();
    let sipp = Sipp::uas("uas_answer_bye.xml", port, media.port).unwrap();
    with_browser("pstn-early-media", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&b, "+12025550143").await?;
        b.wait_text("#call-state", "Ringing").await?;
        // The 183's media flows before the answer: the far end echoes the browser's audio.
        let before_answer = until_above(20, || std::future::ready(media.stats().packets)).await;
        let state = b.attr("#call-state", "data-state").await?;
        anyhow::ensure!(
            before_answer > 20 && state != "in_call",
            "early media: {before_answer} packets, state {state}"
        );
        b.wait_text("#call-state", "In call").await?;
        // The carrier hangs up after a few seconds.
        b.wait_text("#ended-reason", "ended").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_did_rings_the_owner_who_answers() {
    let stack = Stack::start().await.unwrap();
    carrier_and_ada(&stack, free_udp_port()).await.unwrap();
    let media = MediaPeer::start().await.unwrap();
    let sip = stack.sip;
    with_browser("pstn-inbound", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        let sipp = Sipp::uac("uac_call_did.xml", free_udp_port(), media.port, sip, "+14155550100")?;
        b.wait_text(".incoming .caller", "+14155550123").await?;
        b.click(".incoming button.answer").await?;
        b.wait_text("#call-state", "In call").await?;
        wait_packets(&b, 30).await?;
        wait_carrier_packets(&media, 30).await?;
        b.wait_text("#ended-reason", "ended").await?;
        sipp.passed(Duration::from_secs(20)).await
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_while_the_carrier_rings_sends_cancel_and_the_487_is_acked() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    let sipp = Sipp::uas("uas_ring_cancel.xml", port, 9).unwrap();
    with_browser("pstn-cancel", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&b, "+12025550143").await?;
        b.wait_text("#call-state", "Ringing").await?;
        b.click("#hangup").await?;
        b.gone("#call-state").await?;
        b.goto(&stack.url("/history")).await?;
        b.wait_text(".call-row .sip-code", "487").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_over_tcp_holds_and_resumes_with_reinvites_then_hangs_up() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada_over(&stack, port, "tcp").await.unwrap();
    let media = MediaPeer::start().await.unwrap();
    let sipp = Sipp::uas_tcp("uas_answer_hold.xml", port, media.port).unwrap();
    with_browser("pstn-tcp-hold", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&b, "+12025550143").await?;
        b.wait_text("#call-state", "In call").await?;
        wait_packets(&b, 20).await?;
        // sipp checks the gateway's answers to its hold and resume re-INVITEs, then hangs up.
        b.wait_text("#ended-reason", "ended").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_adds_a_carrier_and_a_did_in_the_dashboard() {
    let stack = Stack::start().await.unwrap();
    stack.create_user("ada@example.com", "Ada", PASSWORD).await.unwrap();
    with_browser("admin-carriers", |b| async move {
        b.log_in(&stack, e2e::ADMIN_EMAIL, e2e::ADMIN_PASSWORD).await?;
        b.goto(&stack.url("/admin/carriers")).await?;
        b.click("#carrier-new").await?;
        b.fill("#carrier-name", "Acme Telecom").await?;
        b.fill("#gw-host-0", "sip bad host").await?;
        b.click("#carrier-save").await?;
        // Bad input is refused with a reason next to the field, and nothing is saved.
        b.wait_text(r#".field-error[data-field="gateways[0].host"]"#, "Host").await?;
        b.fill("#gw-host-0", "sip.acme.example").await?;
        b.fill("#carrier-username", "acme-user").await?;
        b.fill("#carrier-password", "acme-secret").await?;
        b.fill("#carrier-inbound-cidrs", "192.0.2.0/24").await?;
        b.click("#carrier-save").await?;
        b.wait_text(r#"#carriers tr[data-name="Acme Telecom"]"#, "sip.acme.example").await?;
        b.screenshot("admin-carriers").await?;

        b.goto(&stack.url("/admin/dids")).await?;
        b.fill("#did-number", "+44 20 7946 0123").await?;
        b.fill("#did-user", "ada@example.com").await?;
        b.click("#did-add").await?;
        b.wait_text(r#"#dids tr[data-number="+442079460123"]"#, "Ada").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_running_out_of_money_is_warned_then_cut_and_offers_a_top_up() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    // +1 202 costs 0.60/min per second (0.01 a second); Ada is left with 0.15: 15 seconds.
    stack
        .admin_post(
            "/api/admin/rate-plans/1/rates",
            serde_json::json!({"prefix": "1202", "per_minute": "0.6", "first_increment": 1, "next_increment": 1}),
        )
        .await
        .unwrap();
    stack
        .admin_post("/api/admin/users/2/adjustments", serde_json::json!({"amount": "-9.85", "reason": "test"}))
        .await
        .unwrap();
    let media = MediaPeer::start().await.unwrap();
    let sipp = Sipp::uas("uas_answer_until_bye.xml", port, media.port).unwrap();
    with_browser("pstn-credit-cutoff", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&b, "+1 202 555 0143").await?;
        b.wait_text("#call-state", "In call").await?;
        // Less than a minute left: warned at once (and a beep), with a top-up link that opens
        // in a new tab; the time left counts down.
        b.wait_text("#credit-warning", "Your balance runs out in").await?;
        let left: u64 = b.attr("#call-time-left", "data-seconds").await?.parse()?;
        anyhow::ensure!((5..=15).contains(&left), "time left {left}");
        anyhow::ensure!(b.attr("#credit-topup", "target").await? == "_blank");
        b.screenshot("pstn-credit-warning").await?;
        // Cut when the money is gone, with the reason, a top-up link and the final charge.
        b.wait_text("#ended-reason", "your balance ran out").await?;
        b.find("#ended-topup").await?;
        b.wait_text("#call-charge", "This call cost 0.15").await?;
        b.wait_text("#balance", "0.00").await?;
        // Dialling again is refused before anything is dialled, with a top-up link.
        dial(&b, "+1 202 555 0143").await?;
        b.wait_text("#phone-error", "does not cover").await?;
        b.find("#refusal-topup").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_imports_rate_decks_and_simulates_routes_in_the_dashboard() {
    let stack = Stack::start().await.unwrap();
    let mut ids = vec![];
    for (name, host) in [("Alpha", "alpha.example"), ("Beta", "beta.example")] {
        let carrier = stack
            .admin_post(
                "/api/admin/carriers",
                serde_json::json!({"name": name, "gateways": [{"host": host, "port": 5060, "transport": "udp"}]}),
            )
            .await
            .unwrap();
        ids.push(carrier["id"].as_i64().unwrap());
    }
    let beta_id = ids[1];
    // +44 sells at 0.02/min on the default plan.
    stack
        .admin_post("/api/admin/rate-plans/1/rates", serde_json::json!({"prefix": "44", "per_minute": "0.02"}))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let header = "prefix,description,price_per_minute,connection_fee,min_duration,increment\n";
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{header}44,UK,0.01,0,0,60\n4420,London,-1,0,0,60\n")).unwrap();
    let alpha = dir.path().join("alpha.csv");
    std::fs::write(&alpha, format!("{header}44,UK,0.015,0,0,60\n4420,London,0.008,0,0,60\n")).unwrap();
    let beta = dir.path().join("beta.csv");
    std::fs::write(&beta, format!("{header}44,UK,0.03,0,0,60\n")).unwrap();
    with_browser("admin-routes", |b| async move {
        b.log_in(&stack, e2e::ADMIN_EMAIL, e2e::ADMIN_PASSWORD).await?;
        b.goto(&stack.url("/admin/carriers")).await?;
        b.click("#admin-nav-routes").await?;
        b.wait_text("h1", "Rate decks").await?;
        // A file with a bad line is refused whole, with the line and the reason.
        b.find("#deck-file").await?.send_keys(&bad.display().to_string()).await?;
        b.click("#deck-upload").await?;
        b.wait_text("#deck-errors li[data-key=\"line 3\"]", "negative").await?;
        anyhow::ensure!(b.find("#decks tbody tr").await.is_err(), "nothing was imported");
        // Good decks for both carriers.
        b.find("#deck-file").await?.send_keys(&alpha.display().to_string()).await?;
        b.click("#deck-upload").await?;
        b.wait_text("#deck-result", "Imported 2 rows").await?;
        b.wait_text("#decks tbody tr", "in effect").await?;
        b.find("#deck-carrier").await?.select_by_label("Beta").await?;
        b.find("#deck-file").await?.send_keys(&beta.display().to_string()).await?;
        b.click("#deck-upload").await?;
        b.wait_text("#deck-result", "Imported 1 row as").await?;
        // Beta's deck, exported: the server streams it from a signed link and the browser saves it.
        let deck = b.find("#decks button.export").await?.attr("data-id").await?.unwrap_or_default();
        b.click("#decks button.export").await?;
        let csv = b.downloaded(&format!("carrier-{beta_id}-deck-{deck}.csv")).await?;
        anyhow::ensure!(csv.starts_with("prefix,description,") && csv.contains("\n44,UK,0.03"), "the export: {csv}");
        // The simulator: Alpha (London prefix) first; Beta buys above the sell price.
        stack.wait_for_route("+442079460123").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.fill("#sim-number", "+44 20 7946 0123").await?;
        b.click("#sim-run").await?;
        b.wait_text("#sim-sell", "sells at 0.02/min").await?;
        b.wait_text("#sim-verdicts tr[data-carrier=Alpha]", "route 1").await?;
        b.wait_text("#sim-verdicts tr[data-carrier=Beta]", "not profitable").await?;
        b.screenshot("admin-routes").await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_fails_over_from_a_503_carrier_and_the_admin_sees_it_on_the_carrier_health_page() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    // A cheaper carrier for the same prefix that answers 503: tried first, then failed over.
    let cheap_port = free_udp_port();
    let cheap = stack
        .admin_post(
            "/api/admin/carriers",
            serde_json::json!({"name": "Cheap", "gateways": [{"host": "127.0.0.1", "port": cheap_port, "transport": "udp"}]}),
        )
        .await
        .unwrap();
    let deck = "prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,0.001,0,0,60\n";
    stack.admin_post_csv(&format!("/api/admin/carriers/{}/decks", cheap["id"]), deck).await.unwrap();
    // Both carriers routed: wait until the cheap one ranks first.
    for _ in 0..100 {
        let sim = stack.admin_get("/api/admin/routes/simulate?number=%2B12025550143").await.unwrap();
        if sim["routes"][0]["carrier_name"] == "Cheap" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let media = MediaPeer::start().await.unwrap();
    let refusing = Sipp::uas("uas_503.xml", cheap_port, media.port).unwrap();
    let answering = Sipp::uas("uas_auth_answer.xml", port, media.port).unwrap();
    let cheap_id = cheap["id"].as_i64().unwrap();
    with_browser("carrier-health", |b| async move {
        b.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&b, "+1 (202) 555-0143").await?;
        b.wait_text("#call-state", "In call").await?;
        wait_carrier_packets(&media, 20).await?;
        b.click("#hangup").await?;
        b.gone("#call-state").await?;
        refusing.passed(Duration::from_secs(10)).await?;
        answering.passed(Duration::from_secs(10)).await?;
        // The admin opens the cheap carrier's health page from the carriers list.
        b.click("#logout").await?;
        b.wait_path("/login").await?;
        b.log_in(&stack, e2e::ADMIN_EMAIL, e2e::ADMIN_PASSWORD).await?;
        b.goto(&stack.url("/admin/carriers")).await?;
        b.click(&format!("#carrier-{cheap_id} a.details")).await?;
        b.wait_text("#carrier-title", "Cheap").await?;
        b.wait_text("#recent-attempts tr[data-outcome=failed]", "503").await?;
        b.wait_text("#health-circuit", "closed").await?;
        b.wait_text(&format!("#gateway-status li[data-gateway=\"127.0.0.1:{cheap_port}\"]"), "not pinged yet").await?;
        b.find("#health-chart g[data-attempts=\"1\"]").await?;
        b.screenshot("carrier-health").await?;
        // Registration needs a username; a limit must be a positive number: both refused with
        // the reason under the field.
        b.click("a[href=\"/admin/carriers\"]").await?;
        b.click(&format!("#carrier-{cheap_id} button.edit")).await?;
        b.click("#carrier-register").await?;
        b.fill("#carrier-max-calls", "lots").await?;
        b.click("#carrier-save").await?;
        b.wait_text("small[data-field=register]", "needs a username").await?;
        b.wait_text("small[data-field=max_calls]", "between 1 and").await?;
        // With credentials and a sound limit it saves, and the carrier registers with its
        // gateway (a registrar now listens where the 503 carrier did): the page says where.
        let registrar = Sipp::registrar("uas_register_once.xml", cheap_port)?;
        b.fill("#carrier-username", "trunkuser").await?;
        b.fill("#carrier-password", "trunksecret").await?;
        b.fill("#carrier-max-calls", "2").await?;
        b.click("#carrier-save").await?;
        b.gone("#carrier-editor").await?;
        b.click(&format!("#carrier-{cheap_id} a.details")).await?;
        b.wait_text("#registration", &format!("Registered at 127.0.0.1:{cheap_port} until")).await?;
        b.screenshot("carrier-registered").await?;
        registrar.passed(Duration::from_secs(15)).await?;
        Ok(())
    })
    .await
    .unwrap();
}
