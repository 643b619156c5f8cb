//! The admin dashboard: every admin route refuses users, live calls over the WebSocket and an
//! admin ending one, call-record search (filters, keyset paging, CSV), statistics, audit log.

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::{
    domain::UserId,
    rating::Money,
    storage::{Attempt, CdrSeed},
};

use crate::helpers::*;

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const ANSWER: &str = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn id(s: &Session) -> i64 {
    s.user["id"].as_i64().unwrap()
}

/// Every `.route("/admin/…", method(handler)…)` in the server's HTTP modules, read from the
/// source so that a new admin route is covered the day it is written.
fn admin_routes() -> Vec<(Method, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find(".route(") {
            // rustfmt may put the path on the next line.
            rest = rest[at + 7..].trim_start();
            let Some(quoted) = rest.strip_prefix('"') else { continue };
            rest = quoted;
            let Some(end) = rest.find('"') else { break };
            let path = &rest[..end];
            // The route's arguments: up to the parenthesis that closes `.route(`.
            let (mut depth, mut close) = (1, rest.len());
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            let args = &rest[end..close];
            if path.starts_with("/admin") {
                for (name, method) in [
                    ("get(", Method::GET),
                    ("post(", Method::POST),
                    ("put(", Method::PUT),
                    ("patch(", Method::PATCH),
                    ("delete(", Method::DELETE),
                ] {
                    let found = args.match_indices(name).any(|(i, _)| {
                        i == 0 || !args.as_bytes()[i - 1].is_ascii_alphanumeric() && args.as_bytes()[i - 1] != b'_'
                    });
                    if found {
                        routes.push((method, path.to_string()));
                    }
                }
            }
            rest = &rest[close..];
        }
    }
    routes.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
    routes
}

#[tokio::test]
async fn every_admin_route_refuses_a_user_token_with_403() {
    let app = spawn_app().await;
    let user = app.new_user("user@example.com").await;
    let routes = admin_routes();
    // Every admin route there is today; a new one raises this number (and is checked below).
    assert_eq!(routes.len(), 40, "the route scan found {routes:?}");
    for (method, path) in &routes {
        let url = format!(
            "/api{}",
            path.replace("{id}", "1").replace("{deck}", "1").replace("{job}", "1").replace("{rate}", "1")
        );
        let (status, body) = status_json(app.send_auth(method.clone(), &url, &user.access, json!({})).await).await;
        assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let r = app.client.request(method.clone(), app.url(&url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {url} without a token");
    }
    // The live-calls feed on the WebSocket, too.
    let mut ws = app.ws(&user.access).await;
    ws.send(json!({"type": "watch_calls", "on": true})).await;
    assert_eq!(ws.expect("error").await["code"], "forbidden");
}

/// An admin's socket watching the live calls, its first (empty) snapshot read.
async fn watching(app: &TestApp, admin: &Session) -> Ws {
    let mut watch = app.ws(&admin.access).await;
    watch.send(json!({"type": "watch_calls", "on": true})).await;
    assert_eq!(watch.expect("live_calls").await["calls"], json!([]), "a first snapshot at once");
    watch
}

/// Two new users' sockets, the first ringing the second: with the call's id and the caller's.
async fn ringing(app: &TestApp) -> (Ws, Ws, String, i64) {
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let mut wa = app.ws(&a.access).await;
    let mut wb = app.ws(&b.access).await;
    wa.send(json!({"type": "dial", "request_id": "r1", "callee": id(&b), "sdp": OFFER})).await;
    let call = wa.expect("calling").await["call_id"].as_str().unwrap().to_string();
    wb.expect("incoming").await;
    (wa, wb, call, id(&a))
}

#[tokio::test]
async fn a_disabled_admin_stops_seeing_live_calls() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let mut watch = watching(&app, &admin).await;
    let me = UserId(id(&admin));
    app.db.set_disabled(me, me, true, Utc::now()).await.unwrap();
    let _call = ringing(&app).await;
    // The next push is a refusal instead of the call, and nothing follows it.
    let refused = watch.expect("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let more = tokio::time::timeout(std::time::Duration::from_millis(2500), watch.next()).await;
    assert!(!matches!(&more, Ok(Some(m)) if m["type"] == "live_calls"), "{more:?}");
}

#[tokio::test]
async fn admins_watch_live_calls_and_end_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let mut watch = watching(&app, &admin).await;
    let (mut wa, mut wb, call, caller) = ringing(&app).await;
    wb.send(json!({"type": "answer", "call_id": call, "sdp": ANSWER})).await;
    wa.expect("answered").await;
    wb.expect("connected").await;

    // Snapshots arrive about every second; one soon shows the call answered.
    let mut seen = None;
    for _ in 0..10 {
        let snap = watch.expect("live_calls").await;
        if snap["calls"][0]["state"] == "answered" {
            seen = Some(snap["calls"][0].clone());
            break;
        }
    }
    let live = seen.expect("the answered call in a snapshot");
    assert_eq!(live["id"], call);
    assert_eq!((live["kind"].as_str(), live["caller"].as_str()), (Some("webrtc"), Some("Test User")));
    assert_eq!(live["caller_id"], caller);

    let (status, list) = status_json(app.get_auth("/api/admin/live-calls", &admin.access).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    let path = format!("/api/admin/calls/{call}/end");
    let (status, ended) = status_json(app.send_auth(Method::POST, &path, &admin.access, json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["ended_by"], id(&admin));
    for ws in [&mut wa, &mut wb] {
        assert_eq!(ws.expect("ended").await["cause"], "ended_by_admin");
    }
    let (status, body) = status_json(app.send_auth(Method::POST, &path, &admin.access, json!({})).await).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    let (_, detail) = status_json(app.get_auth(&format!("/api/admin/calls/{call}"), &admin.access).await).await;
    assert_eq!((detail["end_cause"].as_str(), detail["ended_by"].as_i64()), (Some("ended_by_admin"), Some(id(&admin))));
    let (_, audit) = status_json(app.get_auth("/api/admin/audit?action=call.", &admin.access).await).await;
    assert_eq!(audit["items"][0]["target"], format!("call:{call}"), "{audit}");
    assert_eq!(audit["items"][0]["actor_email"], ADMIN_EMAIL);

    // The watcher's next snapshot is empty, and watching can stop.
    loop {
        if watch.expect("live_calls").await["calls"] == json!([]) {
            break;
        }
    }
    watch.send(json!({"type": "watch_calls", "on": false})).await;
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap()
}

/// `n` finished call records from `caller`: every third to +44 on carrier 1 (answered, 60 s,
/// 0.10 charged), every third to +1 on carrier 2 (busy), the rest browser calls; one minute
/// apart from `t0`.
fn seeds(caller: UserId, callee: UserId, n: usize, carriers: (i64, i64)) -> Vec<CdrSeed> {
    (0..n)
        .map(|i| {
            let at = t0() + Duration::minutes(i as i64);
            let (kind, number, carrier, answered, cause, prefix) = match i % 3 {
                0 => (
                    "pstn_out",
                    Some(format!("+4420{i:07}")),
                    Some((carriers.0, "uk-carrier".into())),
                    true,
                    "normal",
                    Some("44"),
                ),
                1 => (
                    "pstn_out",
                    Some(format!("+1555{i:07}")),
                    Some((carriers.1, "us-carrier".into())),
                    false,
                    "busy",
                    Some("1"),
                ),
                _ => ("webrtc", None, None, true, "normal", None),
            };
            let attempts = carrier.iter().map(|(id, name): &(i64, String)| Attempt {
                seq: 0,
                carrier_id: Some(*id),
                carrier_name: name.clone(),
                gateway: None,
                sip_code: Some(if answered { 200 } else { 486 }),
                outcome: if answered { "answered" } else { "busy" }.into(),
                started_at: at,
                pdd_ms: Some(if answered { 5_000 } else { 2_000 }),
                duration_ms: Some(if answered { 60_000 } else { 0 }),
            });
            CdrSeed {
                attempts: attempts.collect(),
                id: format!("seed{i:07}"),
                kind: kind.into(),
                caller,
                callee: (kind == "webrtc").then_some(callee),
                number,
                carrier,
                created_at: at,
                answered_at: answered.then(|| at + Duration::seconds(5)),
                ended_at: at + Duration::seconds(65),
                end_cause: cause.into(),
                billable_secs: if answered { 60 } else { 0 },
                charge: (kind == "pstn_out").then_some(Money(if answered { 100_000 } else { 0 })),
                buy_cost: (kind == "pstn_out").then_some(Money(if answered { 40_000 } else { 0 })),
                sell_prefix: prefix.map(str::to_string),
            }
        })
        .collect()
}

async fn carrier(app: &TestApp, admin: &Session, name: &str) -> i64 {
    let body = json!({"name": name, "gateways": [{"host": "127.0.0.1", "port": 5060}]});
    let (status, c) = status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c["id"].as_i64().unwrap()
}

async fn get(app: &TestApp, admin: &Session, path: &str) -> Value {
    let (status, body) = status_json(app.get_auth(path, &admin.access).await).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

async fn seeded(app: &TestApp, admin: &Session, n: usize) -> (Session, Session, i64, i64) {
    let a = app.new_user("caller@example.com").await;
    let b = app.new_user("callee@example.com").await;
    let (uk, us) = (carrier(app, admin, "uk-carrier").await, carrier(app, admin, "us-carrier").await);
    app.db.insert_cdrs(&seeds(UserId(id(&a)), UserId(id(&b)), n, (uk, us))).await.unwrap();
    (a, b, uk, us)
}

#[tokio::test]
async fn call_records_are_searched_paged_and_exported() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (a, b, uk, _) = seeded(&app, &admin, 30).await;

    // Newest first, keyset pages that join up exactly.
    let first = get(&app, &admin, "/api/admin/cdrs?limit=12").await;
    assert_eq!(ids(&first)[0], "seed0000029");
    let next = first["next"].as_str().unwrap();
    let second = get(&app, &admin, &format!("/api/admin/cdrs?limit=12&after={}", urlencode(next))).await;
    let third =
        get(&app, &admin, &format!("/api/admin/cdrs?limit=12&after={}", urlencode(second["next"].as_str().unwrap())))
            .await;
    assert!(third["next"].is_null(), "{third}");
    let all: Vec<String> = [ids(&first), ids(&second), ids(&third)].concat();
    let want: Vec<String> = (0..30).rev().map(|i| format!("seed{i:07}")).collect();
    assert_eq!(all, want);
    assert_eq!(first["items"][0]["caller_email"], "caller@example.com");

    // Each filter.
    let count = |q: &'static str| {
        let (app, admin) = (&app, &admin);
        async move { get(app, admin, &format!("/api/admin/cdrs?limit=200&{q}")).await["items"].as_array().unwrap().len() }
    };
    assert_eq!(count("number=%2B44").await, 10);
    assert_eq!(count("number=4420").await, 10, "the + is optional");
    assert_eq!(count("number=%2B44200000003").await, 1);
    assert_eq!(count("direction=webrtc").await, 10);
    assert_eq!(count("outcome=failed").await, 10);
    assert_eq!(count("outcome=answered&direction=pstn_out").await, 10);
    assert_eq!(count("cause=busy").await, 10);
    assert_eq!(count("cost_min=0.05").await, 10);
    assert_eq!(count("cost_max=0").await, 10);
    assert_eq!(count("from=2026-11-01T00:10:00Z&to=2026-11-01T00:20:00Z").await, 10);
    assert_eq!(count("from=2026-11-02").await, 0);
    assert_eq!(count("to=2026-11-01").await, 30, "a date as `to` includes the day");
    assert_eq!(
        get(&app, &admin, &format!("/api/admin/cdrs?limit=200&carrier={uk}")).await["items"].as_array().unwrap().len(),
        10
    );
    assert_eq!(
        get(&app, &admin, &format!("/api/admin/cdrs?limit=200&user={}", id(&b))).await["items"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        get(&app, &admin, &format!("/api/admin/cdrs?limit=200&user={}", id(&a))).await["items"]
            .as_array()
            .unwrap()
            .len(),
        30
    );

    // Bad filters: every reason at once, by field.
    let (status, body) = status_json(
        app.get_auth(
            "/api/admin/cdrs?from=yesterday&number=abc&direction=up&outcome=maybe&cause=bored&cost_min=1.2.3",
            &admin.access,
        )
        .await,
    )
    .await;
    let fields = assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        fields.keys().map(String::as_str).collect::<Vec<_>>(),
        ["cause", "cost_min", "direction", "from", "number", "outcome"]
    );
    for q in ["limit=0", "limit=201", "after=garbage", "from=2026-11-02&to=2026-11-01", "cost_min=2&cost_max=1"] {
        let (status, body) = status_json(app.get_auth(&format!("/api/admin/cdrs?{q}"), &admin.access).await).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    let (status, _) = status_json(app.get_auth("/api/admin/cdrs?user=x", &admin.access).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // CSV: the same filters, every matching row, streamed.
    let r = app.get_auth("/api/admin/cdrs.csv?direction=pstn_out", &admin.access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 21, "{csv}");
    assert!(lines[0].starts_with("id,kind,started_at"), "{}", lines[0]);
    let want = format!(
        "seed0000028,pstn_out,2026-11-01T00:28:00Z,,2026-11-01T00:29:05Z,{},caller@example.com,,,+15550000028,us-carrier,busy,,0,0.000000,0.000000",
        id(&a)
    );
    assert_eq!(lines[1], want);
    let r = app.get_auth("/api/admin/cdrs.csv?number=x", &admin.access).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "bad filters are refused before streaming");

    // A signed link: the browser saves the file itself, with no Authorization header.
    let link = |path: &str| {
        let (app, admin) = (&app, &admin);
        let body = json!({ "path": path });
        async move { status_json(app.send_auth(Method::POST, "/api/admin/links", &admin.access, body).await).await }
    };
    let (status, l) = link("/api/admin/cdrs.csv?direction=pstn_out").await;
    assert_eq!(status, StatusCode::OK, "{l}");
    assert_eq!(l["expires_in_secs"], 60);
    let url = l["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/api/admin/cdrs.csv?direction=pstn_out&link="), "{url}");
    let r = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), csv, "the same file as with a token");
    // For that query only: another one, or a changed token, is refused.
    let other = url.replace("pstn_out", "webrtc");
    assert_eq!(app.client.get(app.url(&other)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let forged = format!("{}x", url);
    assert_eq!(app.client.get(app.url(&forged)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    for bad in [
        "/api/admin/users",
        "/api/me.csv",
        "https://elsewhere.example/api/admin/cdrs.csv",
        "/api/admin/cdrs.csv?link=x",
    ] {
        let (status, body) = link(bad).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    // A rate plan's price list, too; the link dies with the admin's rights.
    let (_, l) = link("/api/admin/rate-plans/1/rates.csv").await;
    let url = l["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("/api/admin/rate-plans/1/rates.csv?link="), "{url}");
    let r = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().starts_with("prefix,"));
    let me = UserId(id(&admin));
    app.db.set_disabled(me, me, true, Utc::now()).await.unwrap();
    assert_eq!(app.client.get(app.url(&url)).send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

/// Number prefixes and cost ranges are searched one way when few calls match (their own index)
/// and another when many do (the newest-first index): both give the same pages.
#[tokio::test]
async fn broad_and_narrow_searches_page_alike() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let a = app.new_user("caller@example.com").await;
    let b = app.new_user("callee@example.com").await;
    let uk = carrier(&app, &admin, "uk-carrier").await;
    // 6,000 calls to +4420…, more than the 5,000 that make a range narrow; every 10th dearer.
    let mut rows = seeds(UserId(id(&a)), UserId(id(&b)), 6_000, (uk, uk));
    for (i, r) in rows.iter_mut().enumerate() {
        r.kind = "pstn_out".into();
        r.callee = None;
        r.number = Some(format!("+4420{i:07}"));
        r.charge = Some(Money(if i % 10 == 0 { 900_000 } else { 100_000 }));
    }
    app.db.insert_cdrs(&rows).await.unwrap();
    let newest = |matching: &dyn Fn(usize) -> bool, n: usize| -> Vec<String> {
        (0..6_000).rev().filter(|i| matching(*i)).take(n).map(|i| format!("seed{i:07}")).collect()
    };
    for (q, matching) in [
        ("number=%2B4420", &(|_| true) as &dyn Fn(usize) -> bool),
        ("number=%2B442000001", &|i| (100..200).contains(&i)),
        ("cost_min=0.1", &|_| true),
        ("cost_min=0.5", &|i| i % 10 == 0),
        ("cost_min=0.1&cost_max=0.2&number=%2B44200000", &|i| i < 1_000 && i % 10 != 0),
    ] {
        let first = get(&app, &admin, &format!("/api/admin/cdrs?limit=40&{q}")).await;
        let next = first["next"].as_str().unwrap_or_else(|| panic!("{q}: more than one page"));
        let second = get(&app, &admin, &format!("/api/admin/cdrs?limit=40&{q}&after={}", urlencode(next))).await;
        assert_eq!([ids(&first), ids(&second)].concat(), newest(matching, 80), "{q}");
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A").replace('~', "%7E")
}

#[tokio::test]
async fn statistics_sum_calls_money_and_carriers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    seeded(&app, &admin, 30).await;

    let s = get(&app, &admin, "/api/admin/stats?from=2026-11-01&to=2026-11-02").await;
    assert_eq!((s["bucket"].as_str(), s["series"].as_array().map(Vec::len)), (Some("day"), Some(2)));
    assert_eq!(s["series"][0]["calls"], 30);
    assert_eq!(s["series"][0]["answered"], 20);
    assert_eq!(s["series"][0]["seconds"], 1200);
    assert_eq!(s["totals"]["revenue_micros"], 1_000_000);
    assert_eq!(s["totals"]["margin_micros"], 600_000);
    assert_eq!(s["days"][0]["day"], "2026-11-01");
    assert_eq!(s["days"][0]["cost_micros"], 400_000);
    let dest = &s["destinations"];
    assert_eq!((dest[0]["prefix"].as_str(), dest[0]["seconds"].as_u64()), (Some("44"), Some(600)));
    assert_eq!((dest[1]["prefix"].as_str(), dest[1]["answered"].as_u64()), (Some("1"), Some(0)));
    let carrier = |name: &str| s["carriers"].as_array().unwrap().iter().find(|c| c["carrier_name"] == name).cloned();
    let uk = carrier("uk-carrier").expect("uk-carrier's attempts");
    assert_eq!(
        (uk["attempts"].as_u64(), uk["answered"].as_u64(), uk["asr_permille"].as_u64()),
        (Some(10), Some(10), Some(1000))
    );
    let us = carrier("us-carrier").expect("us-carrier's attempts");
    assert_eq!((us["attempts"].as_u64(), us["asr_permille"].as_u64()), (Some(10), Some(0)));

    let h = get(&app, &admin, "/api/admin/stats?from=2026-11-01T00:00:00Z&to=2026-11-01T03:00:00Z&bucket=hour").await;
    let calls: Vec<u64> = h["series"].as_array().unwrap().iter().map(|b| b["calls"].as_u64().unwrap()).collect();
    assert_eq!(calls, [30, 0, 0]);

    // Defaults: the last seven days, by day.
    let d = get(&app, &admin, "/api/admin/stats").await;
    assert_eq!(d["series"].as_array().map(Vec::len), Some(7), "{d}");

    for q in ["bucket=week", "from=2026-11-02&to=2026-11-01", "from=2026-01-01&to=2026-12-01&bucket=hour", "from=soon"]
    {
        let (status, body) = status_json(app.get_auth(&format!("/api/admin/stats?{q}"), &admin.access).await).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
}

#[tokio::test]
async fn the_audit_log_shows_who_changed_what() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let u = app.new_user("u@example.com").await;
    let uid = id(&u);
    let send = |m: Method, p: String, b: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            let (status, body) = status_json(app.send_auth(m, &p, &admin.access, b).await).await;
            assert!(status.is_success(), "{p}: {body}");
        }
    };
    send(Method::PUT, format!("/api/admin/users/{uid}/credit-limit"), json!({"credit_limit": "5"})).await;
    send(Method::POST, format!("/api/admin/users/{uid}/adjustments"), json!({"amount": "2.50", "reason": "goodwill"}))
        .await;
    send(Method::PATCH, format!("/api/admin/users/{uid}"), json!({"disabled": true})).await;

    let page = get(&app, &admin, &format!("/api/admin/audit?target=user:{uid}")).await;
    let actions: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.disable", "ledger.credit", "user.credit_limit"], "{page}");
    assert_eq!(page["total"], 3);
    let limit = &page["items"][2];
    assert_eq!(limit["actor_email"], ADMIN_EMAIL);
    assert!(limit["after"].as_str().unwrap().contains('5'), "{limit}");
    assert!(limit["at"].as_str().unwrap().ends_with('Z'));

    let credits = get(&app, &admin, "/api/admin/audit?action=ledger.").await;
    assert_eq!(credits["total"], 1);
    // `_` is a letter of an action, not a wildcard.
    assert_eq!(get(&app, &admin, "/api/admin/audit?action=user_").await["total"], 0);

    // A plan change: before and after as JSON.
    send(Method::PUT, format!("/api/admin/users/{uid}/rate-plan"), json!({"rate_plan_id": 1})).await;
    let plan = get(&app, &admin, "/api/admin/audit?action=user.rate_plan").await;
    let entry = &plan["items"][0];
    let json_of = |k: &str| serde_json::from_str::<Value>(entry[k].as_str().unwrap()).unwrap();
    assert_eq!((json_of("before"), json_of("after")), (json!({"rate_plan_id": null}), json!({"rate_plan_id": 1})));
    let by_admin = get(&app, &admin, &format!("/api/admin/audit?actor={}&per_page=2", id(&admin))).await;
    assert_eq!((by_admin["total"].as_u64(), by_admin["items"].as_array().map(Vec::len)), (Some(4), Some(2)));

    for q in ["action=DROP%20TABLE", "page=0", "per_page=1000"] {
        let (status, body) = status_json(app.get_auth(&format!("/api/admin/audit?{q}"), &admin.access).await).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
}

/// A measurement, not a check of speed: `cargo test --release -p server --test it -- --ignored
/// million_cdrs --nocapture` seeds 1,000,000 call records and prints how long searches take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release with --ignored"]
async fn searching_a_million_cdrs() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let a = app.new_user("caller@example.com").await;
    let b = app.new_user("callee@example.com").await;
    let (uk, us) = (carrier(&app, &admin, "uk-carrier").await, carrier(&app, &admin, "us-carrier").await);
    let started = std::time::Instant::now();
    for chunk in 0..100 {
        let mut rows = seeds(UserId(id(&a)), UserId(id(&b)), 10_000, (uk, us));
        for (i, r) in rows.iter_mut().enumerate() {
            let n = chunk * 10_000 + i;
            r.id = format!("m{n:08}");
            r.created_at = t0() + Duration::seconds(n as i64 * 2);
            if let Some(num) = &mut r.number {
                *num = format!("{}{:06}", &num[..5], n % 1_000_000);
            }
        }
        app.db.insert_cdrs(&rows).await.unwrap();
    }
    eprintln!("seeded {} CDRs in {:?}", app.db.count_calls().await.unwrap(), started.elapsed());
    let mid = t0() + Duration::seconds(1_000_000);
    let queries = [
        "limit=50".to_string(),
        format!("limit=50&from={}", mid.format("%Y-%m-%dT%H:%M:%SZ")),
        "limit=50&number=%2B4420".into(),
        "limit=50&number=%2B1555000123".into(),
        "limit=50&number=%2B999".into(),
        format!("limit=50&carrier={us}"),
        format!("limit=50&user={}", id(&b)),
        "limit=50&cause=busy&direction=pstn_out".into(),
        "limit=50&cost_min=0.05".into(),
        // Filters nothing (or little) matches.
        "limit=50&number=%2B1555".into(),
        "limit=50&cause=media_timeout".into(),
        "limit=50&direction=pstn_in".into(),
        "limit=50&cost_min=100".into(),
    ];
    for q in &queries {
        let mut times = Vec::new();
        let mut page = get(&app, &admin, &format!("/api/admin/cdrs?{q}")).await;
        for _ in 0..5 {
            let started = std::time::Instant::now();
            let next = page["next"].as_str().map(str::to_string);
            page = match next {
                Some(n) => get(&app, &admin, &format!("/api/admin/cdrs?{q}&after={}", urlencode(&n))).await,
                None => get(&app, &admin, &format!("/api/admin/cdrs?{q}")).await,
            };
            times.push(started.elapsed());
        }
        times.sort();
        eprintln!("{q:<45} median {:?}  max {:?}", times[2], times[4]);
    }
    let started = std::time::Instant::now();
    let r = app.get_auth("/api/admin/cdrs.csv", &admin.access).await;
    let bytes = r.bytes().await.unwrap().len();
    eprintln!("CSV export of every CDR: {bytes} bytes in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    get(&app, &admin, "/api/admin/stats?from=2026-11-01&to=2026-11-30").await;
    eprintln!("statistics over the month (1M calls): {:?}", started.elapsed());
}
