//! WebSocket signaling and browser-to-browser calls, against the running app.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const ANSWER: &str = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn id(s: &Session) -> i64 {
    s.user["id"].as_i64().unwrap()
}

fn cand(n: u32) -> Value {
    json!({"candidate": format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"), "sdp_mid": "0", "sdp_mline_index": 0})
}

/// Dials and returns the call id (from `calling`).
async fn dial(ws: &mut Ws, callee: i64) -> String {
    ws.send(json!({"type": "dial", "request_id": "r1", "callee": callee, "sdp": OFFER})).await;
    let calling = ws.expect("calling").await;
    assert_eq!(calling["request_id"], "r1");
    calling["call_id"].as_str().unwrap().to_string()
}

async fn history(app: &TestApp, token: &str) -> Value {
    let (status, page) = status_json(app.get_auth("/api/calls", token).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

#[tokio::test]
async fn hello_is_required_and_checked() {
    let app = spawn_app().await;
    let s = app.new_user("a@example.com").await;

    let mut ws = Ws::raw(&app).await;
    ws.send(json!({"type": "hangup", "call_id": "x"})).await;
    assert_eq!(ws.next().await.unwrap()["code"], "hello_expected");
    assert!(ws.next().await.is_none(), "closed after a bad start");

    for (token, code) in [("garbage", "unauthenticated"), ("", "unauthenticated")] {
        let mut ws = Ws::raw(&app).await;
        ws.send(json!({"type": "hello", "version": 1, "token": token})).await;
        assert_eq!(ws.next().await.unwrap()["code"], code);
    }
    let mut ws = Ws::raw(&app).await;
    ws.send(json!({"type": "hello", "version": 99, "token": s.access})).await;
    assert_eq!(ws.next().await.unwrap()["code"], "unsupported_version");

    let ws = app.ws(&s.access).await;
    assert!(!ws.device.is_empty());
}

#[tokio::test]
async fn foreign_origins_are_refused() {
    let app = spawn_app().await;
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(app.ws_url()).unwrap();
    req.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(app.ws_url()).unwrap();
    let own = app.base.clone();
    req.headers_mut().insert("origin", own.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok(), "the server's own origin is fine");
}

#[tokio::test]
async fn bad_messages_get_errors_and_the_socket_stays() {
    let app = spawn_app().await;
    let s = app.new_user("a@example.com").await;
    let mut ws = app.ws(&s.access).await;
    ws.send_text("{not json").await;
    assert_eq!(ws.expect("error").await["code"], "bad_message");
    ws.send(json!({"type": "teleport"})).await;
    assert_eq!(ws.expect("error").await["code"], "bad_message");
    ws.send(json!({"type": "hangup", "call_id": "nope"})).await;
    let e = ws.expect("error").await;
    assert_eq!((e["code"].as_str(), e["call_id"].as_str()), (Some("unknown_call"), Some("nope")));
    ws.send(json!({"type": "dial", "request_id": "me", "callee": id(&s), "sdp": OFFER})).await;
    let e = ws.expect("error").await;
    assert_eq!((e["code"].as_str(), e["request_id"].as_str()), (Some("self_call"), Some("me")));
    ws.send(json!({"type": "dial", "request_id": "who", "callee": 999_999, "sdp": OFFER})).await;
    assert_eq!(ws.expect("error").await["code"], "unknown_user");
    ws.send(json!({"type": "dial", "request_id": "sdp", "callee": 1, "sdp": "hello"})).await;
    assert_eq!(ws.expect("error").await["code"], "bad_sdp");
    ws.send(json!({"type": "hello", "version": 1, "token": s.access})).await;
    assert_eq!(ws.expect("error").await["code"], "already_authenticated");
}

#[tokio::test]
async fn messages_are_rate_limited_per_socket() {
    let app = spawn_app_with(|s| s.calls.ws_messages_per_second = 2).await;
    let s = app.new_user("a@example.com").await;
    let mut ws = app.ws(&s.access).await;
    for _ in 0..10 {
        ws.send(json!({"type": "hangup", "call_id": "x"})).await;
    }
    let mut codes = vec![];
    for _ in 0..10 {
        codes.push(ws.expect("error").await["code"].as_str().unwrap().to_string());
    }
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    assert!(codes.iter().any(|c| c == "unknown_call"), "{codes:?}");
}

#[tokio::test]
async fn a_call_forks_to_every_device_and_the_first_answer_wins() {
    let app = spawn_app().await;
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let mut wa = app.ws(&a.access).await;
    let mut b1 = app.ws(&b.access).await;
    let mut b2 = app.ws(&b.access).await;

    let call = dial(&mut wa, id(&b)).await;
    // A trickles a candidate before anyone answered: it waits for the winner.
    wa.send(json!({"type": "ice", "call_id": call, "candidate": cand(1)})).await;
    for dev in [&mut b1, &mut b2] {
        let inc = dev.expect("incoming").await;
        assert_eq!((inc["call_id"].as_str(), inc["sdp"].as_str()), (Some(call.as_str()), Some(OFFER)));
        assert_eq!(inc["from"]["display_name"], "Test User");
    }
    wa.expect("ringing").await;

    b1.send(json!({"type": "answer", "call_id": call, "sdp": ANSWER})).await;
    assert_eq!(wa.expect("answered").await["sdp"], ANSWER);
    b1.expect("connected").await;
    assert_eq!(b1.expect("ice").await["candidate"], cand(1), "the buffered candidate reaches the winner");
    let lost = b2.expect("ended").await;
    assert_eq!(lost["cause"], "answered_elsewhere");

    // Trickle and renegotiation flow between the two talking devices only.
    b1.send(json!({"type": "ice", "call_id": call, "candidate": cand(2)})).await;
    assert_eq!(wa.expect("ice").await["candidate"], cand(2));
    wa.send(json!({"type": "sdp", "call_id": call, "description": {"kind": "offer", "sdp": OFFER}})).await;
    assert_eq!(b1.expect("sdp").await["description"]["kind"], "offer");
    wa.send(json!({"type": "hold", "call_id": call, "on": true})).await;
    assert_eq!(b1.expect("hold").await["on"], true);
    // A late answer from the losing tab changes nothing.
    b2.send(json!({"type": "answer", "call_id": call, "sdp": ANSWER})).await;

    wa.send(json!({"type": "hangup", "call_id": call})).await;
    let ended = b1.expect("ended").await;
    assert_eq!(
        (ended["cause"].as_str(), ended["message"].as_str().map(|m| !m.is_empty())),
        (Some("normal"), Some(true))
    );
    // The device that hung up is not told: it knows.

    for token in [&a.access, &b.access] {
        let page = history(&app, token).await;
        assert_eq!(page["total"], 1, "{page}");
        let c = &page["items"][0];
        assert_eq!((c["id"].as_str(), c["cause"].as_str()), (Some(call.as_str()), Some("normal")));
        assert!(c["answered_at"].is_string() && c["ended_at"].is_string(), "{c}");
    }
    let page = history(&app, &a.access).await;
    assert_eq!(page["items"][0]["direction"], "outgoing");
    assert_eq!(page["items"][0]["peer"]["id"], id(&b));
    assert_eq!(history(&app, &b.access).await["items"][0]["direction"], "incoming");
}

#[tokio::test]
async fn declined_offline_and_unanswered_calls() {
    let app = spawn_app_with(|s| s.calls.ring_timeout_secs = 1).await;
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let mut wa = app.ws(&a.access).await;

    // B offline.
    let call = dial(&mut wa, id(&b)).await;
    let e = wa.expect("ended").await;
    assert_eq!((e["call_id"].as_str(), e["cause"].as_str()), (Some(call.as_str()), Some("unavailable")));

    let mut wb = app.ws(&b.access).await;
    let call = dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    wb.send(json!({"type": "reject", "call_id": call, "reason": "declined"})).await;
    assert_eq!(wa.expect("ended").await["cause"], "declined");

    let call = dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    wb.send(json!({"type": "reject", "call_id": call, "reason": "busy"})).await;
    assert_eq!(wa.expect("ended").await["cause"], "busy");

    // Nobody answers within the (one-second) ring timeout.
    dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    assert_eq!(wa.expect("ended").await["cause"], "no_answer");
    assert_eq!(wb.expect("ended").await["cause"], "no_answer");

    // The caller gives up while it rings.
    let call = dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    wa.send(json!({"type": "hangup", "call_id": call})).await;
    assert_eq!(wb.expect("ended").await["cause"], "cancelled");

    let page = history(&app, &a.access).await;
    let causes: Vec<&str> = page["items"].as_array().unwrap().iter().map(|c| c["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["cancelled", "no_answer", "busy", "declined", "unavailable"]);
    assert!(page["items"].as_array().unwrap().iter().all(|c| c["duration_secs"] == 0));
}

#[tokio::test]
async fn a_dropped_device_can_resume_within_the_grace() {
    let app = spawn_app_with(|s| s.calls.reconnect_grace_secs = 2).await;
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let mut wa = app.ws(&a.access).await;
    let mut wb = app.ws(&b.access).await;
    let call = dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    wb.send(json!({"type": "answer", "call_id": call, "sdp": ANSWER})).await;
    wa.expect("answered").await;

    let device = wb.device.clone();
    wb.close().await;
    wa.expect("peer_reconnecting").await;
    let mut wb = app.ws_resume(&b.access, Some(&device)).await;
    assert_eq!(wb.device, device, "the same device, resumed");
    wa.expect("peer_reconnected").await;
    wb.send(json!({"type": "hangup", "call_id": call})).await;
    assert_eq!(wa.expect("ended").await["cause"], "normal");

    // This time B does not come back.
    let call = dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    wb.send(json!({"type": "answer", "call_id": call, "sdp": ANSWER})).await;
    wa.expect("answered").await;
    wb.close().await;
    wa.expect("peer_reconnecting").await;
    assert_eq!(wa.expect("ended").await["cause"], "connection_lost");
}

#[tokio::test]
async fn presence_directory_and_recent_contacts() {
    let app = spawn_app().await;
    let a = app.new_user("ada@example.com").await;
    let b = app.new_user("bob@example.com").await;
    let mut wa = app.ws(&a.access).await;

    let (_, dir) = status_json(app.get_auth("/api/directory?q=BOB", &a.access).await).await;
    assert_eq!(dir.as_array().unwrap().len(), 1, "{dir}");
    assert_eq!((dir[0]["email"].as_str(), dir[0]["online"].as_bool()), (Some("bob@example.com"), Some(false)));
    let (_, dir) = status_json(app.get_auth("/api/directory?q=ada", &a.access).await).await;
    assert_eq!(dir, json!([]), "not oneself");

    let mut wb = app.ws(&b.access).await;
    let p = wa.next().await.unwrap();
    assert_eq!(
        (p["type"].as_str(), p["user_id"].as_i64(), p["online"].as_bool()),
        (Some("presence"), Some(id(&b)), Some(true))
    );
    let (_, dir) = status_json(app.get_auth("/api/directory?q=bob", &a.access).await).await;
    assert_eq!(dir[0]["online"], true);

    let call = dial(&mut wa, id(&b)).await;
    wa.send(json!({"type": "hangup", "call_id": call})).await;
    wb.expect("incoming").await;
    assert_eq!(wb.expect("ended").await["cause"], "cancelled");
    let (_, recent) = status_json(app.get_auth("/api/contacts/recent", &a.access).await).await;
    assert_eq!(recent[0]["id"], id(&b), "{recent}");

    wb.close().await;
    let p = wa.expect("presence").await;
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(id(&b)), Some(false)));
}

#[tokio::test]
async fn ice_servers_with_turn_rest_credentials() {
    let app = spawn_app_with(|s| {
        s.ice.stun_urls = vec!["stun:stun.example.com:3478".into()];
        s.ice.turn_urls = vec!["turn:turn.example.com:3478?transport=udp".into()];
        s.ice.turn_secret = Some(server::config::Secret::new("north"));
        s.ice.turn_ttl_secs = 600;
    })
    .await;
    let a = app.new_user("a@example.com").await;
    let (status, ice) = status_json(app.get_auth("/api/ice-servers", &a.access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ice["ttl"], 600);
    assert_eq!(ice["ice_servers"][0]["urls"][0], "stun:stun.example.com:3478");
    let username = ice["ice_servers"][1]["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, id(&a).to_string());
    let expiry: i64 = expiry.parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now + 590..=now + 610).contains(&expiry), "expires in about ten minutes");
    assert!(ice["ice_servers"][1]["credential"].as_str().is_some_and(|c| c.len() == 28));
}

#[tokio::test]
async fn disabling_a_user_closes_their_sockets() {
    let app = spawn_app().await;
    let b = app.new_user("b@example.com").await;
    let mut wb = app.ws(&b.access).await;
    let admin = app.admin().await;
    let r = app
        .send_auth(
            reqwest::Method::PATCH,
            &format!("/api/admin/users/{}", id(&b)),
            &admin.access,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(wb.next().await.is_none(), "the socket closes");
}

#[tokio::test]
async fn call_waiting_reject_busy_or_switch_calls() {
    let app = spawn_app().await;
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let c = app.new_user("c@example.com").await;
    let (mut wa, mut wb, mut wc) = (app.ws(&a.access).await, app.ws(&b.access).await, app.ws(&c.access).await);

    let first = dial(&mut wa, id(&b)).await;
    wb.expect("incoming").await;
    wb.send(json!({"type": "answer", "call_id": first, "sdp": ANSWER})).await;
    wa.expect("answered").await;
    wb.expect("connected").await;

    // C calls B, who is busy talking to A: B sees it and says busy.
    let second = dial(&mut wc, id(&b)).await;
    assert_eq!(wb.expect("incoming").await["call_id"], second);
    wb.send(json!({"type": "reject", "call_id": second, "reason": "busy"})).await;
    assert_eq!(wc.expect("ended").await["cause"], "busy");

    // C again; this time B ends the call with A and answers C.
    let third = dial(&mut wc, id(&b)).await;
    wb.expect("incoming").await;
    wb.send(json!({"type": "hangup", "call_id": first})).await;
    wb.send(json!({"type": "answer", "call_id": third, "sdp": ANSWER})).await;
    assert_eq!(wa.expect("ended").await["cause"], "normal");
    assert_eq!(wc.expect("answered").await["call_id"], third);
    wb.expect("connected").await;
}

#[tokio::test]
async fn a_silent_socket_is_noticed_and_an_oversized_message_closes_it() {
    let app = spawn_app_with(|s| s.calls.ws_idle_timeout_secs = 1).await;
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let mut wa = app.ws(&a.access).await;
    let wb = app.ws(&b.access).await;
    assert_eq!(wa.expect("presence").await["online"], true);
    // B stops reading, so it answers no ping: after the idle timeout it is offline. (A keeps
    // reading, and its client answers pings.)
    let started = std::time::Instant::now();
    let p = wa.expect("presence").await;
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(id(&b)), Some(false)));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "noticed in {:?}", started.elapsed());
    drop(wb);

    let big = format!(r#"{{"type":"hangup","call_id":"{}"}}"#, "x".repeat(protocol::ws::MAX_MESSAGE_BYTES));
    wa.send_text(&big).await;
    assert!(wa.next().await.is_none(), "the socket is closed");
}
