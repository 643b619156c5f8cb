//! Phone calls at the server's edges: numbers refused before dialling, and inbound INVITEs
//! refused with the right SIP status (403 unknown source, 404 unknown DID, 480 offline or not
//! answered, 603 declined), sent as raw SIP over loopback UDP to the running gateway.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::UdpSocket;

use crate::helpers::*;

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

/// A carrier that accepts INVITEs from `cidr`, and a DID for `user`; the carrier's id.
async fn carrier_and_did(app: &TestApp, cidr: &str, user: i64) -> i64 {
    carrier_and_did_with(app, cidr, user, json!({})).await
}

/// The same, with more of the carrier's settings (`extra` is merged in).
async fn carrier_and_did_with(app: &TestApp, cidr: &str, user: i64, extra: Value) -> i64 {
    let admin = app.admin().await;
    let mut carrier = json!({
        "name": "loopback carrier",
        "inbound_cidrs": [cidr],
        "gateways": [{"host": "127.0.0.1", "port": 9, "transport": "udp"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        carrier[k] = v.clone();
    }
    let (status, body) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, carrier).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let carrier = body["id"].as_i64().unwrap();
    let did = json!({"number": "+442079460123", "user_id": user});
    let (status, body) = status_json(app.send_auth(Method::POST, "/api/admin/dids", &admin.access, did).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    carrier
}

/// Sends an INVITE for `to` and returns the first final status code (ACKing it).
async fn invite(sip: std::net::SocketAddr, to: &str) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    let sdp = "v=0\r\no=pstn 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let call_id = format!("{}@test", rand_tag());
    let head = |method: &str, cseq: &str, to_tag: &str, len: usize| {
        format!(
            "{method} sip:{to}@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{b}\r\nMax-Forwards: 70\r\n\
             From: <sip:+14155550123@127.0.0.1>;tag=caller1\r\nTo: <sip:{to}@{sip}>{to_tag}\r\nCall-ID: {call_id}\r\n\
             CSeq: {cseq}\r\nContact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n",
            b = if method == "ACK" { "ack1" } else { "inv1" },
        )
    };
    let msg = format!("{}{sdp}", head("INVITE", "1 INVITE", "", sdp.len()));
    sock.send_to(msg.as_bytes(), sip).await.unwrap();
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(15), sock.recv_from(&mut buf))
            .await
            .expect("a response within 15 s")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        let code: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        if code >= 200 {
            let to_tag = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                .and_then(|l| l.split_once(";tag=").map(|(_, t)| format!(";tag={}", t.trim())))
                .unwrap_or_default();
            let ack = head("ACK", "1 ACK", &to_tag, 0);
            sock.send_to(ack.as_bytes(), sip).await.unwrap();
            return code;
        }
    }
}

fn rand_tag() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

fn id(user: &Value) -> i64 {
    user["id"].as_i64().unwrap()
}

#[tokio::test]
async fn inbound_calls_from_unknown_sources_or_to_unknown_numbers_are_refused() {
    let app = spawn_app().await;
    let ada = app.new_user("ada@example.com").await;
    // No carrier lists loopback yet.
    assert_eq!(invite(app.sip, "+442079460123").await, 403);
    carrier_and_did(&app, "127.0.0.0/8", id(&ada.user)).await;
    assert_eq!(invite(app.sip, "+442079460999").await, 404);
    // Ada owns the number but has no device online.
    assert_eq!(invite(app.sip, "+442079460123").await, 480);
}

#[tokio::test]
async fn an_inbound_call_rings_the_owner_shows_the_number_and_a_decline_is_603() {
    let app = spawn_app().await;
    let ada = app.new_user("ada@example.com").await;
    carrier_and_did(&app, "127.0.0.1", id(&ada.user)).await;
    let mut ws = app.ws(&ada.access).await;
    // Carriers often send the number without its `+`.
    let call = tokio::spawn(invite(app.sip, "442079460123"));
    let incoming = ws.expect("incoming").await;
    assert_eq!(incoming["from"]["number"], "+14155550123");
    assert_eq!(incoming["from"]["id"], 0);
    assert!(incoming["sdp"].as_str().unwrap().contains("m=audio"), "the gateway offers WebRTC audio");
    ws.send(json!({"type": "reject", "call_id": incoming["call_id"], "reason": "declined"})).await;
    assert_eq!(call.await.unwrap(), 603);
    // The history shows the caller's number, the carrier and the SIP answer (recorded as the
    // gateway reports the end, just after the 603 left).
    let mut page = Value::Null;
    for _ in 0..50 {
        page = status_json(app.get_auth("/api/calls", &ada.access).await).await.1;
        if !page["items"][0]["sip_code"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c = &page["items"][0];
    assert_eq!(
        (&c["direction"], &c["number"], &c["carrier"], &c["sip_code"], &c["cause"]),
        (&json!("incoming"), &json!("+14155550123"), &json!("loopback carrier"), &json!(603), &json!("declined")),
        "{c}"
    );
}

/// A carrier's limit on live calls counts its inbound calls too: over it, an INVITE gets 503,
/// and outbound routing sees the carrier full.
#[tokio::test]
async fn inbound_calls_count_towards_the_carriers_limit_and_over_it_get_503() {
    let app = spawn_app().await;
    let ada = app.new_user("ada@example.com").await;
    let carrier = carrier_and_did_with(&app, "127.0.0.1", id(&ada.user), json!({"max_calls": 1})).await;
    let mut ws = app.ws(&ada.access).await;
    let first = tokio::spawn(invite(app.sip, "+442079460123"));
    let incoming = ws.expect("incoming").await;
    let admin = app.admin().await;
    let (_, health) =
        status_json(app.get_auth(&format!("/api/admin/carriers/{carrier}/health"), &admin.access).await).await;
    assert_eq!(health["calls_now"], 1, "{health}");
    // The trunk is full: the next call is refused, and the ringing one is not disturbed.
    assert_eq!(invite(app.sip, "+442079460123").await, 503);
    ws.send(json!({"type": "reject", "call_id": incoming["call_id"], "reason": "declined"})).await;
    assert_eq!(first.await.unwrap(), 603);
    // Once it has ended (the call's task finishes just after the 603 leaves), calls come in again.
    for _ in 0..100 {
        let (_, health) =
            status_json(app.get_auth(&format!("/api/admin/carriers/{carrier}/health"), &admin.access).await).await;
        if health["calls_now"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = tokio::spawn(invite(app.sip, "+442079460123"));
    let incoming = ws.expect("incoming").await;
    ws.send(json!({"type": "reject", "call_id": incoming["call_id"], "reason": "declined"})).await;
    assert_eq!(second.await.unwrap(), 603);
}

#[tokio::test]
async fn an_unanswered_inbound_call_gets_480_after_the_ring_timeout() {
    let app = spawn_app_with(|s| s.calls.ring_timeout_secs = 1).await;
    let ada = app.new_user("ada@example.com").await;
    carrier_and_did(&app, "127.0.0.1/32", id(&ada.user)).await;
    let _ws = app.ws(&ada.access).await;
    assert_eq!(invite(app.sip, "+442079460123").await, 480);
}

#[tokio::test]
async fn numbers_are_checked_before_anything_is_dialled() {
    let app = spawn_app().await;
    let ada = app.new_user("ada@example.com").await;
    let mut ws = app.ws(&ada.access).await;
    let dial = |n: &'static str| json!({"type": "dial_number", "request_id": "r1", "number": n, "sdp": OFFER});
    // No retail rate for the destination: not allowed, whatever the balance.
    ws.send(dial("+1 202 555 0143")).await;
    let e = ws.expect("error").await;
    assert_eq!((e["code"].as_str(), e["request_id"].as_str()), (Some("not_allowed"), Some("r1")), "{e}");
    let admin = app.admin().await;
    crate::rates::price(&app, &admin, "1", "0.02").await;
    // Priced, but Ada has no money.
    ws.send(dial("+1 202 555 0143")).await;
    assert_eq!(ws.expect("error").await["code"], "insufficient_funds");
    crate::rates::credit(&app, &admin, id(&ada.user), "1").await;
    // Nothing to route through yet.
    ws.send(dial("+1 202 555 0143")).await;
    assert_eq!(ws.expect("error").await["code"], "no_route");
    carrier_and_did(&app, "127.0.0.1/32", id(&ada.user)).await;
    for bad in ["call me", "020 7946 0123" /* national, and Ada has no country */, "+44 20 7946 012"] {
        ws.send(json!({"type": "dial_number", "request_id": "r2", "number": bad, "sdp": OFFER})).await;
        let e = ws.expect("error").await;
        assert_eq!(e["code"], "invalid_number", "{bad}: {e}");
    }
    // With a country, national format is read in it.
    let (status, _) = status_json(
        app.send_auth(Method::PATCH, "/api/me", &ada.access, json!({"display_name": "Ada", "country": "GB"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    ws.send(json!({"type": "dial_number", "request_id": "r3", "number": "020 7946 0123", "sdp": "nonsense"})).await;
    let e = ws.expect("error").await;
    assert_eq!(e["code"], "bad_sdp", "the number passed, the SDP did not: {e}");
}
