//! Failover and carrier health end to end: two sipp carriers on loopback with different prices
//! for the same prefix, real calls placed over the WebSocket, and the attempts each call
//! recorded.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    charging::{Carrier, WEBRTC_OFFER, trunk, user_id},
    helpers::*,
};

const NUMBER: &str = "+1 202 555 0143";

/// Waits until the route simulator lists `count` carriers for the number.
async fn wait_for_carriers(app: &TestApp, admin: &Session, count: usize) {
    for _ in 0..100 {
        let (_, sim) =
            status_json(app.get_auth("/api/admin/routes/simulate?number=%2B12025550143", &admin.access).await).await;
        let matched = sim["verdicts"].as_array().map_or(0, |v| v.iter().filter(|v| v["prefix"].is_string()).count());
        if matched >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the routing table never listed {count} carriers");
}

/// An app with a cheap and a dear carrier (sipp on `cheap_port` and `dear_port`), a retail
/// rate of 0.01/min, and a user with money.
async fn two_carriers(
    tweak: impl FnOnce(&mut server::Settings),
    cheap_port: u16,
    dear_port: u16,
) -> (TestApp, Session, Session, i64, i64) {
    let app = spawn_app_with(tweak).await;
    let admin = app.admin().await;
    let cheap = trunk(&app, &admin, "cheap", cheap_port, "0.001").await;
    let dear = trunk(&app, &admin, "dear", dear_port, "0.002").await;
    wait_for_carriers(&app, &admin, 2).await;
    crate::charging::per_second(&app, &admin, "0.01").await;
    let ada = app.new_user("ada@example.com").await;
    crate::rates::credit(&app, &admin, user_id(&ada), "5").await;
    (app, admin, ada, cheap, dear)
}

/// Dials the number; hangs up once answered. Returns the call id and its end cause
/// (`answered` when it was answered and we hung up).
async fn call(app: &TestApp, user: &Session) -> (String, String) {
    call_for(app, user, std::time::Duration::ZERO).await
}

/// [`call`], staying `hold` in the answered call before hanging up.
async fn call_for(app: &TestApp, user: &Session, hold: std::time::Duration) -> (String, String) {
    let mut ws = app.ws(&user.access).await;
    ws.send(json!({"type": "dial_number", "request_id": "r1", "number": NUMBER, "sdp": WEBRTC_OFFER})).await;
    let mut call_id = String::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let msg = ws.next().await.expect("the socket stays open until the call ends");
            match msg["type"].as_str() {
                Some("calling") => call_id = msg["call_id"].as_str().unwrap().to_string(),
                Some("answered") => {
                    // Our own hang-up ends it (the hanging-up device hears no `ended`); the
                    // charge follows.
                    tokio::time::sleep(hold).await;
                    ws.send(json!({"type": "hangup", "call_id": call_id})).await;
                    until(&mut ws, "call_charged").await;
                    return json!({"cause": "answered"});
                }
                Some("ended") => return msg,
                Some("error") => return msg,
                _ => {}
            }
        }
    })
    .await
    .expect("the call ends within 30 s");
    ws.close().await;
    let cause = ended["cause"].as_str().or(ended["code"].as_str()).unwrap_or_default().to_string();
    (call_id, cause)
}

/// Skips messages until one of type `kind`.
async fn until(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let msg = ws.next().await.unwrap_or_else(|| panic!("socket closed while waiting for {kind}"));
        assert_ne!(msg["type"], "error", "{msg}");
        if msg["type"] == kind {
            return msg;
        }
    }
}

/// The call's `count` attempts as `carrier outcome code` lines (the last is recorded as the
/// call ends: this waits for it).
async fn attempts(app: &TestApp, call: &str, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let list = app.db.call_attempts(call).await.unwrap();
        if list.len() >= count {
            return list
                .iter()
                .map(|a| {
                    format!("{} {} {}", a.carrier_name, a.outcome, a.sip_code.map_or("-".into(), |c| c.to_string()))
                })
                .collect();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{call} did not record {count} attempts: {:?}", app.db.call_attempts(call).await.unwrap());
}

async fn call_detail(app: &TestApp, admin: &Session, call: &str) -> Value {
    let (status, body) = status_json(app.get_auth(&format!("/api/admin/calls/{call}"), &admin.access).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_the_cheaper_carrier_fails_over_and_both_attempts_are_recorded() {
    let cheap = Carrier::run("uas_503.xml", 1, &["-set", "mport", "0"], None);
    let mut dear = Carrier::start(1);
    let (app, admin, ada, cheap_id, dear_id) = two_carriers(|_| {}, cheap.port, dear.port).await;

    // Held past the Trying timeout (2 s): an answered call is never timed out.
    let (call_id, cause) = call_for(&app, &ada, std::time::Duration::from_millis(2600)).await;
    assert_eq!(cause, "answered");
    assert_eq!(attempts(&app, &call_id, 2).await, ["cheap failed 503", "dear answered -"]);
    let detail = call_detail(&app, &admin, &call_id).await;
    assert_eq!(detail["carrier_id"], dear_id, "the call is recorded on the carrier that took it: {detail}");
    assert_eq!(detail["carrier_name"], "dear");
    let plan = detail["route_plan"].as_str().unwrap();
    assert!(plan.contains("cheap") && plan.contains("route 1") && plan.contains("dear"), "{plan}");
    let tries = detail["attempts"].as_array().unwrap();
    assert_eq!(tries.len(), 2, "{detail}");
    assert!(tries[0]["gateway"].as_str().unwrap().ends_with(&format!(":{}", cheap.port)));
    assert!(tries[1]["pdd_ms"].is_i64(), "the answered attempt has a post-dial delay: {detail}");
    assert!(tries[1]["duration_ms"].as_i64().unwrap() >= 2500, "{detail}");
    assert_eq!(detail["end_cause"], "normal", "{detail}");
    assert!(dear.passed(std::time::Duration::from_secs(5)).await, "the carrier got its BYE");

    // Each carrier's health page lists its attempts and the hour's figures.
    let health = |id: i64| format!("/api/admin/carriers/{id}/health");
    let (_, h) = status_json(app.get_auth(&health(cheap_id), &admin.access).await).await;
    assert_eq!(h["recent"][0]["call_id"], call_id.as_str(), "{h}");
    assert_eq!(h["recent"][0]["sip_code"], 503);
    assert_eq!((h["hours"][0]["attempts"].as_u64(), h["hours"][0]["asr_permille"].as_u64()), (Some(1), Some(0)));
    let (_, h) = status_json(app.get_auth(&health(dear_id), &admin.access).await).await;
    assert_eq!(h["recent"][0]["outcome"], "answered", "{h}");
    assert_eq!(h["hours"][0]["answered"], 1);
    assert!(h["pdd_ms"].is_i64(), "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_cheaper_carrier_does_not_fail_over_and_the_caller_hears_busy() {
    let cheap = Carrier::run("uas_busy.xml", 1, &["-set", "mport", "0"], None);
    // The dear carrier would answer; it must never be called.
    let dear = Carrier::start(1);
    let (app, _admin, ada, _, _) = two_carriers(|_| {}, cheap.port, dear.port).await;

    let (call_id, cause) = call(&app, &ada).await;
    assert_eq!(cause, "busy");
    assert_eq!(attempts(&app, &call_id, 1).await, ["cheap busy 486"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_cheaper_carrier_fails_over_after_the_trying_timeout() {
    let cheap = Carrier::run("uas_silent.xml", 1, &[], None);
    let dear = Carrier::start(1);
    let (app, _admin, ada, _, _) = two_carriers(|s| s.routing.trying_timeout_ms = 1000, cheap.port, dear.port).await;

    let started = std::time::Instant::now();
    let (call_id, cause) = call(&app, &ada).await;
    assert_eq!(cause, "answered");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1000), "failover waited for the timeout");
    assert_eq!(attempts(&app, &call_id, 2).await, ["cheap timeout -", "dear answered -"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_carriers_circuit_opens_then_closes_when_it_recovers() {
    let cheap = Carrier::run("uas_503.xml", 2, &["-set", "mport", "0"], None);
    let dear = Carrier::start(3);
    let (app, admin, ada, _, _) = two_carriers(
        |s| {
            s.routing.breaker_failures = 2;
            s.routing.breaker_cooldown_secs = 2;
        },
        cheap.port,
        dear.port,
    )
    .await;

    // Two failures in a row open the cheap carrier's circuit...
    for _ in 0..2 {
        let (call_id, _) = call(&app, &ada).await;
        assert_eq!(attempts(&app, &call_id, 2).await, ["cheap failed 503", "dear answered -"]);
    }
    let (_, sim) =
        status_json(app.get_auth("/api/admin/routes/simulate?number=%2B12025550143", &admin.access).await).await;
    let cheap_verdict =
        sim["verdicts"].as_array().unwrap().iter().find(|v| v["carrier_name"] == "cheap").unwrap().clone();
    assert_eq!(cheap_verdict["outcome"], "circuit_open", "{sim}");
    // ...so the next call goes straight to the dear one.
    let (call_id, _) = call(&app, &ada).await;
    assert_eq!(attempts(&app, &call_id, 1).await, ["dear answered -"]);

    // The cheap carrier recovers; after the cool-down one call probes it and closes the circuit.
    let port = cheap.port;
    drop(cheap);
    let _recovered = Carrier::run("uas_answer_until_bye.xml", 2, &["-set", "mport", "0"], Some(port));
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    for _ in 0..2 {
        let (call_id, _) = call(&app, &ada).await;
        assert_eq!(attempts(&app, &call_id, 1).await, ["cheap answered -"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_at_its_call_limit_is_skipped() {
    // The cheap carrier takes one call at a time; a second call at once goes to the dear one.
    let cheap = Carrier::start(1);
    let dear = Carrier::start(1);
    let (app, admin, ada, cheap_id, _) = two_carriers(|_| {}, cheap.port, dear.port).await;
    let (status, c) = status_json(app.get_auth(&format!("/api/admin/carriers/{cheap_id}"), &admin.access).await).await;
    assert_eq!(status, StatusCode::OK);
    let mut input = c.clone();
    input["max_calls"] = json!(1);
    let (status, body) =
        status_json(app.send_auth(Method::PUT, &format!("/api/admin/carriers/{cheap_id}"), &admin.access, input).await)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["max_calls"], 1);
    let mut bad = c;
    bad["max_cps"] = json!(0);
    bad["gateways"][0]["weight"] = json!(0);
    let (status, body) =
        status_json(app.send_auth(Method::PUT, &format!("/api/admin/carriers/{cheap_id}"), &admin.access, bad).await)
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["error"]["fields"]["max_cps"].as_str().unwrap().contains("between 1 and"), "{body}");
    assert!(body["error"]["fields"]["gateways[0].weight"].as_str().unwrap().contains("between 1 and 1000"), "{body}");

    // First call: answered by the cheap carrier and kept up.
    let mut first = app.ws(&ada.access).await;
    first.send(json!({"type": "dial_number", "request_id": "a", "number": NUMBER, "sdp": WEBRTC_OFFER})).await;
    let answered = until(&mut first, "answered").await;
    let first_id = answered["call_id"].as_str().unwrap().to_string();
    let (_, sim) =
        status_json(app.get_auth("/api/admin/routes/simulate?number=%2B12025550143", &admin.access).await).await;
    let verdict = sim["verdicts"].as_array().unwrap().iter().find(|v| v["carrier_name"] == "cheap").unwrap().clone();
    assert_eq!(verdict["outcome"], "at_capacity", "{sim}");
    // Second call while the first is up: the dear carrier.
    let (second, _) = call(&app, &ada).await;
    assert_eq!(attempts(&app, &second, 1).await, ["dear answered -"]);
    first.send(json!({"type": "hangup", "call_id": first_id})).await;
    until(&mut first, "call_charged").await;
    assert_eq!(attempts(&app, &first_id, 1).await, ["cheap answered -"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_are_pinged_and_health_shows_attempts_and_pings() {
    // The cheap carrier has two gateways: sipp answering OPTIONS, and a port nobody listens on.
    let pinged = Carrier::run("uas_options.xml", 1000, &[], None);
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let app = spawn_app_with(|s| s.routing.options_interval_secs = 1).await;
    let admin = app.admin().await;
    let body = json!({"name": "pinged", "gateways": [
        {"host": "127.0.0.1", "port": pinged.port, "transport": "udp"},
        {"host": "127.0.0.1", "port": dead_port, "transport": "udp"},
    ]});
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["id"].as_i64().unwrap();

    let path = format!("/api/admin/carriers/{id}/health");
    let mut health = Value::Null;
    for _ in 0..100 {
        let (status, h) = status_json(app.get_auth(&path, &admin.access).await).await;
        assert_eq!(status, StatusCode::OK, "{h}");
        let statuses: Vec<&str> =
            h["gateways"].as_array().unwrap().iter().map(|g| g["status"].as_str().unwrap()).collect();
        health = h.clone();
        if statuses == ["up", "down"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let gws = health["gateways"].as_array().unwrap();
    assert_eq!(gws[0]["status"], "up", "{health}");
    assert_eq!(gws[0]["code"], 200);
    assert!(gws[0]["rtt_ms"].is_u64() && gws[0]["checked_at"].is_string(), "{health}");
    assert_eq!(gws[1]["status"], "down", "{health}");
    assert_eq!(health["circuit_open"], false);
    assert_eq!(health["calls_now"], 0);

    // Users may not look.
    let ada = app.new_user("ada@example.com").await;
    let r = app.get_auth(&path, &ada.access).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.get_auth("/api/admin/carriers/999/health", &admin.access).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app.get_auth("/api/admin/calls/nope", &admin.access).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_that_wants_registration_is_registered_and_refreshed_before_expiry() {
    let mut registrar = Carrier::run("uas_register.xml", 1, &[], None);
    let app = spawn_app().await;
    let admin = app.admin().await;
    // Registration needs a username: refused with the reason for the field.
    let mut body = json!({"name": "reg", "register": true, "register_expires": 120,
        "gateways": [{"host": "127.0.0.1", "port": registrar.port, "transport": "udp"}]});
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body.clone()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply["error"]["fields"]["register"].as_str().unwrap().contains("username"), "{reply}");
    body["register_expires"] = json!(10);
    body["username"] = json!("trunkuser");
    body["password"] = json!("trunksecret");
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body.clone()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply["error"]["fields"]["register_expires"].as_str().unwrap().contains("between 60"), "{reply}");
    body["register_expires"] = json!(120);
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!((reply["register"].as_bool(), reply["register_expires"].as_u64()), (Some(true), Some(120)));
    let id = reply["id"].as_i64().unwrap();

    // Challenged, answered with the digest, granted 2 s: registered, with the expiry shown.
    let health = registered_within_5s(&app, &admin, id).await;
    assert_eq!(health["registration"]["state"], "registered", "{health}");
    assert_eq!(health["registration"]["code"], 200);
    assert!(health["registration"]["expires_at"].is_string(), "{health}");
    // The refresh comes before the 2 s run out: the registrar's scenario completes.
    assert!(registrar.passed(std::time::Duration::from_secs(5)).await, "the registrar got its refresh");
}

/// Each carrier registers on its own: one whose registrar never answers delays no other. A
/// carrier whose first gateway refuses goes on to its next gateway at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_moves_to_the_next_gateway_and_a_silent_registrar_delays_no_other_carrier() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let mut refusing = Carrier::run("uas_register_503.xml", 1, &[], None);
    let mut registrar = Carrier::run("uas_register.xml", 1, &[], None);
    let app = spawn_app().await;
    let admin = app.admin().await;
    let create = |name: &str, gateways: Value| {
        json!({"name": name, "register": true, "register_expires": 120, "username": "trunkuser",
            "password": "trunksecret", "gateways": gateways})
    };
    let gw =
        |port: u16, priority: u16| json!({"host": "127.0.0.1", "port": port, "transport": "udp", "priority": priority});
    let hung = create("hung", json!([gw(silent_port, 0)]));
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, hung).await).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    // Listed second, tried first: priority orders the gateways.
    let pair = create("pair", json!([gw(registrar.port, 5), gw(refusing.port, 1)]));
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, pair).await).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["id"].as_i64().unwrap();

    // Well within the 10 s the silent registrar holds its REGISTER.
    let health = registered_within_5s(&app, &admin, id).await;
    let r = &health["registration"];
    assert_eq!(r["state"], "registered", "{health}");
    assert_eq!(r["gateway"], format!("127.0.0.1:{}", registrar.port), "{health}");
    assert!(refusing.passed(std::time::Duration::from_secs(2)).await, "the refusing gateway got its REGISTER");
    assert!(registrar.passed(std::time::Duration::from_secs(5)).await, "the registrar got its refresh");
    drop(silent);
}

/// The carrier's health page once its registration says `registered` (or after 5 s).
async fn registered_within_5s(app: &TestApp, admin: &Session, id: i64) -> Value {
    let path = format!("/api/admin/carriers/{id}/health");
    let mut health = Value::Null;
    for _ in 0..100 {
        health = status_json(app.get_auth(&path, &admin.access).await).await.1;
        if health["registration"]["state"] == "registered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    health
}
