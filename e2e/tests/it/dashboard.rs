//! The admin dashboard in a real browser: live calls (a real phone call through sipp, ended by
//! the admin), call-record search and detail, a user's money and plan, rate plans with CSV,
//! statistics (screenshotted for a person to look at) and the audit log.

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use e2e::sipp::{MediaPeer, Sipp, free_udp_port};
use e2e::{ADMIN_EMAIL, ADMIN_PASSWORD, Browser, Stack, with_browser_flags, with_two_browsers};
use server::{
    domain::UserId,
    ledger::Posting,
    rating::Money,
    storage::{Attempt, CdrSeed},
};

use crate::pstn::{PASSWORD, carrier_and_ada, dial};

async fn admin_log_in(b: &Browser, stack: &Stack) -> anyhow::Result<()> {
    b.log_in(stack, ADMIN_EMAIL, ADMIN_PASSWORD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_watches_a_live_call_ends_it_and_finds_its_record() {
    let stack = Stack::start().await.unwrap();
    let port = free_udp_port();
    carrier_and_ada(&stack, port).await.unwrap();
    let media = MediaPeer::start().await.unwrap();
    let sipp = Sipp::uas("uas_auth_answer.xml", port, media.port).unwrap();
    with_two_browsers("admin-live-calls", |ada, admin| async move {
        admin_log_in(&admin, &stack).await?;
        admin.click("#nav-admin").await?;
        admin.click("#admin-nav-calls").await?;
        admin.wait_path("/admin/calls").await?;
        admin.wait_text("#live-empty", "No calls in progress").await?;

        ada.log_in(&stack, "ada@example.com", PASSWORD).await?;
        dial(&ada, "+1 (202) 555-0143").await?;
        ada.wait_text("#call-state", "In call").await?;

        // The call appears by itself (WebSocket), answered, on the carrier, costing its first minute.
        let row = "#live-calls tr.live-call";
        admin.wait_text(&format!("{row} .state"), "answered").await?;
        admin.wait_text(&format!("{row} .destination"), "+12025550143").await?;
        admin.wait_text(&format!("{row} .carrier"), "sipp carrier").await?;
        admin.wait_text(&format!("{row} .caller"), "Ada").await?;
        admin.wait_text(&format!("{row} .cost"), "0.01").await?;
        admin.wait_text(&format!("{row} .duration"), "0:").await?;
        admin.screenshot("admin-live-calls").await?;
        admin.click(&format!("{row} button.end-call")).await?;
        admin.gone(row).await?;
        admin.wait_text("#live-empty", "No calls in progress").await?;
        ada.gone("#call-state").await?;

        // Its record: searched by number prefix, opened, with the attempt and who ended it.
        admin.fill("#cdr-number", "abc").await?;
        admin.click("#cdr-search").await?;
        admin.wait_text("#cdr-number-error", "digits").await?;
        admin.fill("#cdr-number", "+1202").await?;
        admin.click("#cdr-search").await?;
        admin.wait_text("#cdrs tr.cdr", "+12025550143").await?;
        admin.wait_text("#cdrs tr.cdr", "ended_by_admin").await?;
        // Exported: the browser saves the file itself (a signed link), streamed to disk.
        admin.click("#cdr-export").await?;
        let csv = admin.downloaded("cdrs.csv").await?;
        assert!(csv.starts_with("id,kind,started_at"), "{csv}");
        assert!(csv.contains("+12025550143") && csv.contains("ended_by_admin"), "{csv}");
        admin.fill("#cdr-number", "+44").await?;
        admin.click("#cdr-search").await?;
        admin.gone("#cdrs tr.cdr").await?;
        // A time range: nothing from next year on; everything from an hour ago.
        admin.fill("#cdr-number", "+1").await?;
        admin.set_value("#cdr-from", "2099-01-01T00:00").await?;
        admin.click("#cdr-search").await?;
        admin.gone("#cdrs tr.cdr").await?;
        let hour_ago = (Utc::now() - Span::hours(1)).format("%Y-%m-%dT%H:%M").to_string();
        admin.set_value("#cdr-from", &hour_ago).await?;
        admin.click("#cdr-search").await?;
        admin.click("#cdrs tr.cdr a.cdr-link").await?;
        admin.wait_text("#call-end-cause", "ended_by_admin").await?;
        admin.wait_text("#call-attempts tr.attempt", "sipp carrier").await?;
        admin.wait_text("#call-attempts tr.attempt", "answered").await?;
        admin.find("#call-route-plan").await?;
        admin.wait_text("#call-ended-by", ADMIN_EMAIL).await?;
        admin.screenshot("admin-call-detail").await?;
        Ok(())
    })
    .await
    .unwrap();
    sipp.passed(Duration::from_secs(20)).await.unwrap();
}

/// A week of call records for the statistics: `per_day` calls a day to +44 and +1 on two
/// carriers, most answered, the rest busy, made by `callers` in turn. The second caller pays:
/// a card top-up every morning, and each answered call's charge posted when it ended.
async fn seed_week(stack: &Stack, callers: [i64; 2], per_day: usize) -> anyhow::Result<()> {
    let uk = stack
        .admin_post(
            "/api/admin/carriers",
            serde_json::json!({"name": "uk-carrier", "gateways": [{"host": "127.0.0.1", "port": 5060}]}),
        )
        .await?;
    let us = stack
        .admin_post(
            "/api/admin/carriers",
            serde_json::json!({"name": "us-carrier", "gateways": [{"host": "127.0.0.1", "port": 5060}]}),
        )
        .await?;
    let carriers = [(uk["id"].as_i64().unwrap_or(0), "uk-carrier"), (us["id"].as_i64().unwrap_or(0), "us-carrier")];
    let start = Utc::now() - Span::days(6);
    let mut rows = Vec::new();
    for day in 0..7i64 {
        for i in 0..per_day + (day as usize * per_day / 3) {
            let n = rows.len();
            let at = start + Span::days(day) + Span::minutes((i * 1440 / (per_day * 3)) as i64);
            if at > Utc::now() {
                continue;
            }
            let (carrier, prefix, number) = if n % 3 == 0 {
                (carriers[1], "1", format!("+1202555{n:04}"))
            } else {
                (carriers[0], "44", format!("+44207946{n:04}"))
            };
            let answered = n % 5 != 0;
            let secs = if answered { 60 + (n as i64 % 7) * 60 } else { 0 };
            let per_min = if prefix == "1" { 10_000 } else { 20_000 };
            let attempt = Attempt {
                seq: 0,
                carrier_id: Some(carrier.0),
                carrier_name: carrier.1.into(),
                gateway: None,
                sip_code: Some(if answered { 200 } else { 486 }),
                outcome: if answered { "answered" } else { "busy" }.into(),
                started_at: at,
                pdd_ms: Some(if answered { 4_000 } else { 2_500 }),
                duration_ms: Some(secs * 1000),
            };
            let caller = callers[n % 2];
            rows.push(CdrSeed {
                attempts: vec![attempt],
                id: format!("seed{n:06}"),
                kind: "pstn_out".into(),
                caller: UserId(caller),
                callee: None,
                number: Some(number),
                carrier: Some((carrier.0, carrier.1.to_string())),
                created_at: at,
                answered_at: answered.then(|| at + Span::seconds(4)),
                ended_at: at + Span::seconds(4 + secs),
                end_cause: if answered { "normal" } else { "busy" }.into(),
                billable_secs: secs,
                charge: Some(Money(secs / 60 * per_min)),
                buy_cost: Some(Money(secs / 60 * per_min / 2)),
                sell_prefix: Some(prefix.into()),
            });
        }
    }
    stack.db.insert_cdrs(&rows).await?;
    let payer = UserId(callers[1]);
    for day in 0..7i64 {
        let at = (start + Span::days(day)).date_naive().and_hms_opt(8, 0, 0).unwrap_or_default().and_utc();
        if at < Utc::now() {
            let topup = Posting::payment(&format!("pi_seed{day}"), payer, Money(8_000_000 + day * 1_500_000))?;
            stack.db.post(&topup, None, at).await?;
        }
    }
    for r in rows.iter().filter(|r| r.caller == payer && r.billable_secs > 0) {
        let charge = Posting::call_charge(&r.id, payer, r.charge.unwrap_or_default())?;
        stack.db.post(&charge, None, r.ended_at).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_a_user_rate_plans_and_reads_statistics_and_the_audit_log() {
    let stack = Stack::start().await.unwrap();
    stack.create_user("bob@example.com", "Bob", PASSWORD).await.unwrap();
    stack.create_user("carol@example.com", "Carol", PASSWORD).await.unwrap();
    seed_week(&stack, [2, 3], 24).await.unwrap();
    stack.admin_post("/api/admin/rate-plans", serde_json::json!({"name": "Gold"})).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("silver.csv");
    std::fs::write(&good, "prefix,description,price_per_minute,connection_fee,min_duration,first_increment,next_increment\n44,UK,0.02,0,0,60,60\n1,USA,0.01,0,0,6,6\n").unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "prefix,description,price_per_minute,connection_fee,min_duration,first_increment,next_increment\n44,UK,cheap,0,0,60,60\n").unwrap();
    with_browser_flags("admin-pages", &["--window-size=1280,2200"], |b| async move {
        admin_log_in(&b, &stack).await?;

        // A user: money, credit limit, plan, status.
        b.click("#nav-admin").await?;
        b.click("a.user-link[href='/admin/users/2']").await?;
        b.wait_path("/admin/users/2").await?;
        b.wait_text("#user-status", "Active").await?;
        b.wait_text("#user-balance", "0.00").await?;
        b.find("#user-calls tr.cdr").await?;
        b.fill("#adjust-amount", "lots").await?;
        b.click("#adjust-submit").await?;
        b.find("#adjust-amount-error").await?;
        b.fill("#adjust-amount", "12.50").await?;
        b.fill("#adjust-reason", "").await?;
        b.click("#adjust-submit").await?;
        b.wait_text("#adjust-reason-error", "say why").await?;
        b.fill("#adjust-reason", "welcome credit").await?;
        b.click("#adjust-submit").await?;
        b.wait_text("#user-balance", "12.50").await?;
        b.wait_text("#user-ledger tr.ledger-line", "welcome credit").await?;
        b.fill("#user-credit-limit", "-3").await?;
        b.click("#user-credit-limit-save").await?;
        b.wait_text("#user-credit-limit-error", "negative").await?;
        b.fill("#user-credit-limit", "5").await?;
        b.click("#user-credit-limit-save").await?;
        b.wait_text("#user-available", "17.50").await?;
        b.select("#user-plan", "2").await?;
        b.click("#user-plan-save").await?;
        b.find("#user-saved").await?;
        b.click("#user-toggle").await?;
        b.wait_text("#user-status", "Disabled").await?;
        b.screenshot("admin-user").await?;
        b.click("#user-toggle").await?;
        b.wait_text("#user-status", "Active").await?;

        // Rate plans: create, add a rate, import and export CSV.
        b.click("#admin-nav-plans").await?;
        b.wait_path("/admin/plans").await?;
        b.wait_text("#plans", "Gold").await?;
        b.fill("#new-plan-name", "").await?;
        b.click("#new-plan-create").await?;
        b.find("#plan-error").await?;
        b.fill("#new-plan-name", "Silver").await?;
        b.click("#new-plan-create").await?;
        b.wait_text("#plans", "Silver").await?;
        b.click("#plans tr.plan[data-plan-id='3'] button.plan-open").await?;
        b.find("#plan-rates").await?;
        b.fill("#rate-prefix", "33").await?;
        b.fill("#rate-per-minute", "free").await?;
        b.click("#rate-add").await?;
        b.find("#rate-per-minute-error").await?;
        b.fill("#rate-per-minute", "0.03").await?;
        b.fill("#rate-description", "France").await?;
        b.click("#rate-add").await?;
        b.wait_text("#plan-rates tr.rate", "France").await?;
        // Renamed (a blank name refused), made the default, a rate ended.
        b.fill("#plan-rename", " ").await?;
        b.click("#plan-rename-save").await?;
        b.find("#plan-rename-error").await?;
        b.fill("#plan-rename", "Silver 2027").await?;
        b.click("#plan-rename-save").await?;
        b.wait_text("#plans tr.plan[data-plan-id='3'] .name", "Silver 2027").await?;
        b.click("#plan-make-default").await?;
        b.wait_text("#plans tr.plan[data-plan-id='3'] .name", "default").await?;
        b.gone("#plans tr.plan[data-plan-id='1'] .badge.default").await?;
        b.click("#plan-rates tr.rate[data-prefix='33'] button.rate-end").await?;
        b.gone("#plan-rates tr.rate[data-prefix='33'] button.rate-end").await?;
        b.wait_text("#rate-ok", "Ended").await?;
        b.find("#rates-file").await?.send_keys(&bad.display().to_string()).await?;
        b.click("#rates-import").await?;
        b.find("#rates-error li[data-key='line 2']").await?;
        b.find("#rates-file").await?.send_keys(&good.display().to_string()).await?;
        b.click("#rates-import").await?;
        b.find("#rates-import-result").await?;
        b.wait_text("#plan-rates", "USA").await?;
        b.click("#rates-export").await?;
        let csv = b.downloaded("rate-plan-3.csv").await?;
        assert!(csv.starts_with("prefix,") && csv.contains("USA") && !csv.contains("France"), "{csv}");
        b.screenshot("admin-plans").await?;

        // Statistics: a week of calls in charts; a bad period is refused.
        b.click("#admin-nav-stats").await?;
        b.wait_path("/admin/stats").await?;
        b.find("svg#chart-calls").await?;
        b.find("svg#chart-money").await?;
        b.find("svg#chart-topups").await?;
        b.wait_text("#stats-carriers", "uk-carrier").await?;
        b.wait_text("#stats-destinations", "44").await?;
        // The credit above is an adjustment: money in beside the (seeded, unposted) charges.
        b.wait_text("#stats-totals .adjustments", "12.50").await?;
        b.screenshot("admin-statistics").await?;
        b.set_value("#stats-from", "2026-12-31").await?;
        b.set_value("#stats-to", "2026-01-01").await?;
        b.click("#stats-load").await?;
        b.find("#stats-error").await?;

        // The audit log: what was done above, by whom.
        b.click("#admin-nav-audit").await?;
        b.wait_path("/admin/audit").await?;
        b.wait_text("#audit", "ledger.credit").await?;
        b.wait_text("#audit", "user.disable").await?;
        b.wait_text("#audit", "retail_rate.import").await?;
        b.wait_text("#audit", "rate_plan.update").await?;
        b.wait_text("#audit", "retail_rate.end").await?;
        b.wait_text("#audit tr.audit-entry", ADMIN_EMAIL).await?;
        b.fill("#audit-action", "user.").await?;
        b.click("#audit-search").await?;
        b.gone("#audit tr.audit-entry[data-action='ledger.credit']").await?;
        b.wait_text("#audit", "user.enable").await?;
        b.find("#audit tr.audit-entry[data-action='user.disable']").await?;
        b.screenshot("admin-audit").await?;
        Ok(())
    })
    .await
    .unwrap();
}
