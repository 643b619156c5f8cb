//! Retail rate plans: validated input, longest-prefix quotes, and an answered call charged once,
//! in the same transaction as its record.

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{
    rating::{Money, Tariff},
    storage::{EndBilling, PstnCall},
};

use crate::helpers::*;

/// The default plan's id (the first plan).
pub async fn default_plan(app: &TestApp, admin: &Session) -> i64 {
    let (status, plans) = status_json(app.get_auth("/api/admin/rate-plans", &admin.access).await).await;
    assert_eq!(status, StatusCode::OK, "{plans}");
    let default = plans.as_array().unwrap().iter().find(|p| p["is_default"] == true).expect("a default plan");
    default["id"].as_i64().unwrap()
}

pub async fn add_rate(app: &TestApp, admin: &Session, plan: i64, body: Value) -> (StatusCode, Value) {
    status_json(app.send_auth(Method::POST, &format!("/api/admin/rate-plans/{plan}/rates"), &admin.access, body).await)
        .await
}

/// Prices `prefix` at `per_minute` (60/60) in the default plan.
pub async fn price(app: &TestApp, admin: &Session, prefix: &str, per_minute: &str) {
    let plan = default_plan(app, admin).await;
    let (status, body) = add_rate(app, admin, plan, json!({"prefix": prefix, "per_minute": per_minute})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Credits `user` with `amount`.
pub async fn credit(app: &TestApp, admin: &Session, user: i64, amount: &str) {
    let r = app
        .send_auth(
            Method::POST,
            &format!("/api/admin/users/{user}/adjustments"),
            &admin.access,
            json!({"amount": amount, "reason": "test credit"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bad_rates_are_refused_with_reasons_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let plan = default_plan(&app, &admin).await;
    for (body, field, reason) in [
        (json!({"prefix": "44", "per_minute": "-0.01"}), "per_minute", "cannot be negative"),
        (json!({"prefix": "44", "per_minute": "0"}), "per_minute", "must be more than zero"),
        (json!({"prefix": "44", "per_minute": "0.0000001"}), "per_minute", "has more than 6 decimal places"),
        (json!({"prefix": "4a", "per_minute": "0.01"}), "prefix", "must be 1 to 15 digits"),
        (json!({"prefix": "44", "per_minute": "0.01", "connection_fee": "-1"}), "connection_fee", "cannot be negative"),
        (
            json!({"prefix": "44", "per_minute": "0.01", "next_increment": 0}),
            "next_increment",
            "must be 1 to 3600 seconds",
        ),
        (
            json!({"prefix": "44", "per_minute": "0.01", "effective_from": "2027-01-01T00:00:00Z", "effective_until": "2026-01-01T00:00:00Z"}),
            "effective_until",
            "must be after effective_from",
        ),
        (
            json!({"prefix": "44", "per_minute": "0.01", "effective_from": "tomorrow"}),
            "effective_from",
            "is not an RFC 3339 time like 2026-12-01T00:00:00Z",
        ),
    ] {
        let (status, e) = add_rate(&app, &admin, plan, body.clone()).await;
        let fields = assert_error(status, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(fields.get(field).map(String::as_str), Some(reason), "{body}: {e}");
    }
    let (status, e) = add_rate(&app, &admin, 999, json!({"prefix": "44", "per_minute": "0.01"})).await;
    assert_error(status, &e, StatusCode::NOT_FOUND, "not_found");

    // Effective periods of one prefix may not overlap; back to back is fine.
    let jan = json!({"prefix": "44", "per_minute": "0.02", "effective_from": "2026-01-01T00:00:00Z", "effective_until": "2026-02-01T00:00:00Z"});
    assert_eq!(add_rate(&app, &admin, plan, jan).await.0, StatusCode::CREATED);
    let overlap = json!({"prefix": "+44", "per_minute": "0.03", "effective_from": "2026-01-15T00:00:00Z"});
    let (status, e) = add_rate(&app, &admin, plan, overlap).await;
    assert_error(status, &e, StatusCode::CONFLICT, "conflict");
    let feb = json!({"prefix": "44", "per_minute": "0.03", "effective_from": "2026-02-01T00:00:00Z"});
    assert_eq!(add_rate(&app, &admin, plan, feb).await.0, StatusCode::CREATED);
    let (_, page) =
        status_json(app.get_auth(&format!("/api/admin/rate-plans/{plan}/rates"), &admin.access).await).await;
    assert_eq!(page["total"], 2, "the refused rates wrote nothing: {page}");

    // Users cannot touch plans; plans and users must exist.
    let u = app.new_user("u@example.com").await;
    let r = app.send_auth(Method::POST, "/api/admin/rate-plans", &u.access, json!({"name": "x"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let uid = u.user["id"].as_i64().unwrap();
    let (status, e) = status_json(
        app.send_auth(
            Method::PUT,
            &format!("/api/admin/users/{uid}/rate-plan"),
            &admin.access,
            json!({"rate_plan_id": 999}),
        )
        .await,
    )
    .await;
    assert_error(status, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let r = app
        .send_auth(Method::PUT, "/api/admin/users/999/rate-plan", &admin.access, json!({"rate_plan_id": null}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn quotes_use_the_longest_prefix_of_the_users_plan() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    price(&app, &admin, "1", "0.02").await;
    price(&app, &admin, "1202", "0.05").await;
    let u = app.new_user("u@example.com").await;
    let uid = u.user["id"].as_i64().unwrap();
    credit(&app, &admin, uid, "1").await;
    let (status, q) = status_json(app.get_auth("/api/rates/quote?number=%2B12025550143", &u.access).await).await;
    assert_eq!(status, StatusCode::OK, "{q}");
    assert_eq!((q["rate"]["prefix"].as_str(), q["rate"]["per_minute_micros"].as_i64()), (Some("1202"), Some(50_000)));
    assert_eq!(q["affordable_secs"], 1200, "1.00 at 0.05/min, 60/60: 20 minutes");
    let (_, q) = status_json(app.get_auth("/api/rates/quote?number=%2B13125550143", &u.access).await).await;
    assert_eq!(q["rate"]["prefix"], "1");
    let r = app.get_auth("/api/rates/quote?number=%2B442079460123", &u.access).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no rate: not allowed");

    // Another plan for this user only.
    let (status, gold) =
        status_json(app.send_auth(Method::POST, "/api/admin/rate-plans", &admin.access, json!({"name": "Gold"})).await)
            .await;
    assert_eq!(status, StatusCode::CREATED);
    let gold = gold["id"].as_i64().unwrap();
    let (status, _) = add_rate(&app, &admin, gold, json!({"prefix": "1", "per_minute": "0.01"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = app
        .send_auth(
            Method::PUT,
            &format!("/api/admin/users/{uid}/rate-plan"),
            &admin.access,
            json!({"rate_plan_id": gold}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, q) = status_json(app.get_auth("/api/rates/quote?number=%2B12025550143", &u.access).await).await;
    assert_eq!((q["rate"]["prefix"].as_str(), q["rate"]["per_minute_micros"].as_i64()), (Some("1"), Some(10_000)));
}

/// An outbound call of `user` to +1 202…, sold at `tariff`.
fn sold_call(user: server::domain::UserId, tariff: Tariff) -> PstnCall<'static> {
    PstnCall {
        kind: "pstn_out",
        user,
        device: "d1",
        number: "+12025550143",
        carrier_id: 1,
        carrier_name: "c",
        sell: Some(("1".into(), tariff)),
        // The carrier's price: 0.01/min per second.
        buy: Some(Tariff::new(Money(10_000), Money::ZERO, 0, 1, 1).unwrap()),
        route_plan: Some("c [1] 1 0.010000/min: route 1"),
    }
}

#[tokio::test]
async fn an_answered_call_is_charged_once_when_it_ends() {
    let app = spawn_app().await;
    let u = app.new_user("u@example.com").await;
    let uid = server::domain::UserId(u.user["id"].as_i64().unwrap());
    let start = Utc::now();
    let tariff = Tariff::new(Money(20_000), Money(5_000), 0, 60, 60).unwrap();
    let call = || sold_call(uid, tariff);
    app.db.create_pstn_call("answered", &call(), start).await.unwrap();
    app.db.call_answered("answered", "pstn:answered", start).await.unwrap();
    // 61 s of talk at 60/60: two minutes at 0.02 plus the 0.005 fee.
    let end = start + Duration::seconds(61);
    let none = EndBilling::default();
    // Call control ends the record and queues it for billing, in one transaction.
    assert_eq!(app.db.call_ended("answered", "normal", None, end, none).await.unwrap(), Some(uid));
    // Ending it again (a late hang-up, the restart sweep) queues nothing more.
    assert_eq!(
        app.db.call_ended("answered", "server_restart", None, end + Duration::seconds(9), none).await.unwrap(),
        None
    );
    // An unanswered call is queued too (its CDR is completed), and costs nothing.
    app.db.create_pstn_call("unanswered", &call(), start).await.unwrap();
    assert_eq!(app.db.call_ended("unanswered", "no_answer", None, end, none).await.unwrap(), Some(uid));
    // The billing worker posts each once (the app's own worker may race this: same result).
    for id in ["answered", "unanswered", "answered"] {
        app.db.post_call(id, end).await.unwrap();
    }
    wait_until_posted(&app).await;
    // The CDR: sold for 0.045, bought for 61 s at 0.01/min = 0.010167: margin 0.034833.
    let cdr = app.db.call_billing("answered").await.unwrap().unwrap();
    assert_eq!((cdr.charge, cdr.buy_cost, cdr.billable_secs), (Some(Money(45_000)), Some(Money(10_167)), Some(120)));
    let (_, page) = status_json(app.get_auth("/api/me/ledger", &u.access).await).await;
    assert_eq!(page["total"], 1);
    assert_eq!(
        (page["items"][0]["kind"].as_str(), page["items"][0]["amount_micros"].as_i64()),
        (Some("call"), Some(-45_000))
    );
    let (_, history) = status_json(app.get_auth("/api/calls", &u.access).await).await;
    let charges: Vec<_> = history["items"].as_array().unwrap().iter().map(|c| c["charge_micros"].clone()).collect();
    assert!(charges.contains(&json!(45_000)) && charges.contains(&json!(0)), "{history}");
}

#[tokio::test]
async fn a_call_cut_by_a_crash_is_charged_until_last_seen_not_for_the_downtime() {
    let app = spawn_app().await;
    let u = app.new_user("u@example.com").await;
    let uid = server::domain::UserId(u.user["id"].as_i64().unwrap());
    let start = Utc::now() - Duration::hours(2);
    let tariff = Tariff::new(Money(60_000), Money::ZERO, 0, 1, 1).unwrap();
    let c = sold_call(uid, tariff);
    app.db.create_pstn_call("cut", &c, start).await.unwrap();
    app.db.call_answered("cut", "pstn:cut", start).await.unwrap();
    // The server was last alive 30 s into the call, then down for two hours.
    app.db.touch_calls(&["cut".to_string()], start + Duration::seconds(30)).await.unwrap();
    assert_eq!(app.db.end_orphaned_calls("server_restart", Utc::now()).await.unwrap(), 1);
    wait_until_posted(&app).await;
    let (_, page) = status_json(app.get_auth("/api/me/ledger", &u.access).await).await;
    assert_eq!(page["items"][0]["amount_micros"], -30_000, "30 s at 0.06/min, per second: {page}");
}

/// Waits (at most 10 s) until the billing outbox is empty.
pub async fn wait_until_posted(app: &TestApp) {
    for _ in 0..100 {
        if app.db.calls_to_post(1).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the billing outbox did not empty within 10 s");
}

async fn post_csv(app: &TestApp, token: &str, path: &str, csv: &str) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    status_json(r).await
}

#[tokio::test]
async fn retail_rates_import_from_csv_as_a_whole_and_export_back() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let plan = default_plan(&app, &admin).await;
    let path = format!("/api/admin/rate-plans/{plan}/rates.csv");
    // Malformed lines: refused as a whole, with each line's reason; nothing written.
    let bad = "prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,0.01,0,0,60\n\
               44,UK,-0.02,0,0,60\n33,\"France,0.03,0,0,60\n";
    let (status, body) = post_csv(&app, &admin.access, &path, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = body["error"]["fields"].as_object().unwrap();
    assert!(fields.contains_key("line 3") && fields.contains_key("line 4"), "{body}");
    // A zero retail price is refused too (a buy deck may have one; a price list may not).
    let zero = "prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,0,0,0,60\n";
    let (status, body) = post_csv(&app, &admin.access, &path, zero).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["fields"]["prefix 1"], "price_per_minute must be more than zero");
    let (_, listed) =
        status_json(app.get_auth(&format!("/api/admin/rate-plans/{plan}/rates"), &admin.access).await).await;
    assert_eq!(listed["total"], 0, "nothing was half-imported: {listed}");
    // Users cannot import or export.
    let u = app.new_user("u@example.com").await;
    assert_eq!(post_csv(&app, &u.access, &path, zero).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get_auth(&path, &u.access).await.status(), StatusCode::FORBIDDEN);

    let good = "prefix,description,price_per_minute,connection_fee,min_duration,first_increment,next_increment\n\
                1,USA,0.01,0,0,60,60\n44,\"UK, all\",0.02,0.005,30,30,6\n";
    let (status, body) = post_csv(&app, &admin.access, &path, good).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["rows"], 2);
    let (_, q) = status_json(app.get_auth("/api/rates/quote?number=%2B442079460123", &u.access).await).await;
    assert_eq!(q["rate"]["per_minute_micros"], 20_000, "{q}");
    // Export gives the same rates back, in the same format.
    let csv = app.get_auth(&path, &admin.access).await.text().await.unwrap();
    assert_eq!(
        csv.lines().skip(1).collect::<Vec<_>>(),
        ["1,USA,0.010000,0.000000,0,60,60", "44,\"UK, all\",0.020000,0.005000,30,30,6"],
        "{csv}"
    );
    // A new file supersedes the open-ended rates from its date; one whose date comes before a
    // rate that already starts later is refused with the prefixes.
    let later = (Utc::now() + Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, body) = post_csv(
        &app,
        &admin.access,
        &format!("{path}?effective_from={later}"),
        "prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,0.015,0,0,60\n",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post_csv(
        &app,
        &admin.access,
        &path,
        "prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,0.02,0,0,60\n",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["fields"]["prefix 1"].is_string(), "{body}");
    let (status, _) = post_csv(&app, &admin.access, &format!("{path}?effective_from=tomorrow"), good).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        post_csv(&app, &admin.access, "/api/admin/rate-plans/999/rates.csv", good).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn plans_are_renamed_made_default_and_their_rates_ended() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let u = app.new_user("u@example.com").await;
    let first = default_plan(&app, &admin).await;
    let patch = |plan: i64, body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            status_json(
                app.send_auth(Method::PATCH, &format!("/api/admin/rate-plans/{plan}"), &admin.access, body).await,
            )
            .await
        }
    };
    let (_, gold) =
        status_json(app.send_auth(Method::POST, "/api/admin/rate-plans", &admin.access, json!({"name": "Gold"})).await)
            .await;
    let gold = gold["id"].as_i64().unwrap();
    let (status, _) = add_rate(&app, &admin, gold, json!({"prefix": "1", "per_minute": "0.01"})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Bad input: each refused with its reason, nothing changed.
    for (body, field) in [
        (json!({"name": "  "}), "name"),
        (json!({"name": "Default"}), "name"),
        (json!({"is_default": false}), "is_default"),
        (json!({}), "name"),
    ] {
        let (status, e) = patch(gold, body.clone()).await;
        assert_error(status, &e, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(e["error"]["fields"][field].is_string(), "{body}: {e}");
    }
    assert_eq!(patch(999, json!({"name": "x"})).await.0, StatusCode::NOT_FOUND);
    let r =
        app.send_auth(Method::PATCH, &format!("/api/admin/rate-plans/{gold}"), &u.access, json!({"name": "x"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Renamed, then made the default: the user (on no plan) is now sold Gold's rate.
    let (status, p) = patch(gold, json!({"name": "Gold 2027"})).await;
    assert_eq!(
        (status, p["name"].as_str(), p["is_default"].as_bool()),
        (StatusCode::OK, Some("Gold 2027"), Some(false))
    );
    let r = app.get_auth("/api/rates/quote?number=%2B12025550143", &u.access).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the first default plan has no rates");
    let (status, p) = patch(gold, json!({"is_default": true})).await;
    assert_eq!((status, p["is_default"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(default_plan(&app, &admin).await, gold, "one default plan");
    let (_, plans) = status_json(app.get_auth("/api/admin/rate-plans", &admin.access).await).await;
    assert_eq!(plans.as_array().unwrap().iter().filter(|p| p["is_default"] == true).count(), 1, "{plans}");
    let (_, q) = status_json(app.get_auth("/api/rates/quote?number=%2B12025550143", &u.access).await).await;
    assert_eq!(q["rate"]["per_minute_micros"], 10_000);

    // Ending the rate: it stops applying at once; ending it again is a conflict.
    let (_, rates) =
        status_json(app.get_auth(&format!("/api/admin/rate-plans/{gold}/rates"), &admin.access).await).await;
    let rate = rates["items"][0]["id"].as_i64().unwrap();
    let end = format!("/api/admin/rate-plans/{gold}/rates/{rate}/end");
    let (status, ended) = status_json(app.send_auth(Method::POST, &end, &admin.access, json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert!(ended["effective_until"].is_string(), "{ended}");
    let r = app.get_auth("/api/rates/quote?number=%2B12025550143", &u.access).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "an ended rate sells nothing");
    let (status, e) = status_json(app.send_auth(Method::POST, &end, &admin.access, json!({})).await).await;
    assert_error(status, &e, StatusCode::CONFLICT, "conflict");
    let other = format!("/api/admin/rate-plans/{first}/rates/{rate}/end");
    assert_eq!(app.send_auth(Method::POST, &other, &admin.access, json!({})).await.status(), StatusCode::NOT_FOUND);

    // Audited with before and after.
    let (_, audit) =
        status_json(app.get_auth(&format!("/api/admin/audit?target=rate_plan:{gold}"), &admin.access).await).await;
    let entry =
        |action: &str| audit["items"].as_array().unwrap().iter().find(|e| e["action"] == action).cloned().unwrap();
    let renamed = entry("rate_plan.update");
    let before: Value = serde_json::from_str(renamed["before"].as_str().unwrap()).unwrap();
    assert_eq!(before["name"], "Gold 2027", "the newest update: made default");
    let after: Value = serde_json::from_str(renamed["after"].as_str().unwrap()).unwrap();
    assert_eq!(after["is_default"], true);
    let ended = entry("retail_rate.end");
    let before: Value = serde_json::from_str(ended["before"].as_str().unwrap()).unwrap();
    assert_eq!((before["prefix"].as_str(), before["effective_until"].is_null()), (Some("1"), true));
}
