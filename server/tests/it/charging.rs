//! Charging under concurrency and failures, end to end: the real server (gateway included), a
//! sipp carrier on loopback answering every call, and one user placing many PSTN calls at once
//! over WebSockets. The browser side is a WebRTC offer the gateway accepts (its media never
//! connects; the SIP side does not wait for it).

use std::{
    net::UdpSocket,
    path::Path,
    process::{Child, Command, Stdio},
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{helpers::*, rates::wait_until_posted};

/// An offer as Chrome makes it (one audio m-line, G.711 and DTMF, DTLS-SRTP, ICE credentials).
pub const WEBRTC_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 0 8 101\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Xy3k\r\n\
a=ice-pwd:q8Fz2vR7nP4mL1sT9wK6jH0c\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=msid:- 7a1e2b3c-0000-4000-8000-000000000001\r\n\
a=rtcp-mux\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=ssrc:1001 cname:charging-test\r\n";

/// sipp as a carrier taking `calls` calls at once; ended (by PID) when dropped.
pub struct Carrier {
    child: Child,
    pub port: u16,
}

impl Carrier {
    pub fn start(calls: usize) -> Carrier {
        let free = || UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).unwrap();
        let mport = free().to_string();
        Carrier::run("uas_answer_until_bye.xml", calls, &["-set", "mport", &mport], None)
    }

    /// sipp with `scenario` (in `e2e/sipp/`) taking `calls` calls, with `extra` arguments, on
    /// `port` (a free one when `None`).
    pub fn run(scenario: &str, calls: usize, extra: &[&str], port: Option<u16>) -> Carrier {
        let free = || UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).unwrap();
        let port = port.unwrap_or_else(free);
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/sipp").join(scenario);
        let log = std::env::temp_dir().join(format!("callplat-sipp-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &calls.to_string(), "-timeout", "120s", "-nostdin"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("sipp (Debian package sip-tester) runs");
        Carrier { child, port }
    }
}

impl Carrier {
    /// Waits up to `within` for sipp to end; whether every call of its scenario passed.
    pub async fn passed(&mut self, within: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + within;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for Carrier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn carrier(app: &TestApp, admin: &Session, port: u16) {
    // Its buy deck: +1 at 0.001/min, below every sell price used here.
    trunk(app, admin, "sipp carrier", port, "0.001").await;
    wait_for_routes(app, admin, "+12025550143").await;
}

/// A carrier named `name` at sipp's `port` on loopback, buying +1 at `price` per minute (per
/// second); its id. The routing table picks it up in the background.
pub async fn trunk(app: &TestApp, admin: &Session, name: &str, port: u16, price: &str) -> i64 {
    let body = json!({"name": name, "gateways": [{"host": "127.0.0.1", "port": port, "transport": "udp"}]});
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["id"].as_i64().unwrap();
    let deck =
        format!("prefix,description,price_per_minute,connection_fee,min_duration,increment\n1,USA,{price},0,0,1\n");
    let r = app
        .client
        .post(format!("{}/api/admin/carriers/{id}/decks", app.base))
        .bearer_auth(&admin.access)
        .header("content-type", "text/csv")
        .body(deck)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    id
}

/// Waits until the routing table (rebuilt in the background) has a route for `number`.
pub async fn wait_for_routes(app: &TestApp, admin: &Session, number: &str) {
    let path = format!("/api/admin/routes/simulate?number={}", number.replace('+', "%2B"));
    for _ in 0..100 {
        let (_, sim) = status_json(app.get_auth(&path, &admin.access).await).await;
        if sim["verdicts"].as_array().is_some_and(|v| v.iter().any(|v| v["prefix"].is_string())) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no route for {number} within 5 s");
}

/// Prices prefix 1 per second in the default plan.
pub async fn per_second(app: &TestApp, admin: &Session, per_minute: &str) {
    let plan = crate::rates::default_plan(app, admin).await;
    let rate = json!({"prefix": "1", "per_minute": per_minute, "first_increment": 1, "next_increment": 1});
    let (status, body) = crate::rates::add_rate(app, admin, plan, rate).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Reads messages until the call's `ended`; returns the call id, its cause and the warnings seen.
pub async fn until_ended(ws: &mut Ws) -> (String, String, Vec<u64>) {
    let mut call_id = String::new();
    let mut warnings = vec![];
    loop {
        let msg = ws.next().await.expect("the socket stays open until the call ends");
        match msg["type"].as_str() {
            Some("calling") => call_id = msg["call_id"].as_str().unwrap().to_string(),
            Some("credit_warning") => warnings.push(msg["seconds_left"].as_u64().unwrap()),
            Some("ended") => return (call_id, msg["cause"].as_str().unwrap().to_string(), warnings),
            Some("error") => panic!("the dial was refused: {msg}"),
            _ => {}
        }
    }
}

pub fn user_id(s: &Session) -> i64 {
    s.user["id"].as_i64().unwrap()
}

/// Sum of every ledger entry: zero when every posting balanced.
pub async fn ledger_total(app: &TestApp, admin: &Session, user: i64) -> (i64, Value) {
    let (status, page) =
        status_json(app.get_auth(&format!("/api/admin/users/{user}/ledger?per_page=100"), &admin.access).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let total = page["items"].as_array().unwrap().iter().map(|e| e["amount_micros"].as_i64().unwrap()).sum();
    (total, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_calls_never_spend_more_than_the_balance() {
    const CALLS: usize = 20;
    let app = spawn_app().await;
    let admin = app.admin().await;
    let sipp = Carrier::start(CALLS);
    carrier(&app, &admin, sipp.port).await;
    // 6.00/min per second is 0.10 a second per call; 5.00 buys 50 call-seconds in all, so 20
    // calls answered together run out after about 2.5 s each.
    per_second(&app, &admin, "6").await;
    let ada = app.new_user("ada@example.com").await;
    crate::rates::credit(&app, &admin, user_id(&ada), "5").await;

    let mut sockets = vec![];
    for _ in 0..CALLS {
        sockets.push(app.ws(&ada.access).await);
    }
    let mut calls = tokio::task::JoinSet::new();
    for (i, mut ws) in sockets.into_iter().enumerate() {
        calls.spawn(async move {
            let dial = json!({"type": "dial_number", "request_id": format!("r{i}"), "number": "+1 202 555 0143", "sdp": WEBRTC_OFFER});
            ws.send(dial).await;
            let ended = until_ended(&mut ws).await;
            ws.close().await;
            ended
        });
    }
    let mut ended = vec![];
    while let Some(r) = calls.join_next().await {
        ended.push(r.unwrap());
    }
    wait_until_posted(&app).await;

    let mut charged = 0;
    for (call, cause, _) in &ended {
        assert_eq!(cause, "credit_exhausted", "{call}: every call runs until the money is gone");
        let b = app.db.call_billing(call).await.unwrap().expect("a call record");
        let (ended_at, paid_until) = (b.ended_at.unwrap(), b.paid_until.expect("a paid-until deadline"));
        let late = (ended_at - paid_until).num_milliseconds();
        assert!((0..=1000).contains(&late), "{call} ended {late} ms after its paid-until deadline");
        charged += b.charge.expect("posted").0;
    }
    assert!(charged <= 5_000_000, "charged {charged} µ from a balance of 5.00");
    // Policy: each increment is paid when it starts, so at most one increment per call is left
    // unspent (here 0.10 × 20 would be the loosest bound; in practice the money is used up).
    assert!(charged > 5_000_000 - 100_000 * CALLS as i64, "charged {charged} µ: money was left unused");
    let (balance, page) = ledger_total(&app, &admin, user_id(&ada)).await;
    assert_eq!(balance, 5_000_000 - charged, "{page}");
    assert!(balance >= 0, "the balance never goes below the credit limit (0)");
    let (status, me) = status_json(app.get_auth("/api/me/balance", &ada.access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["balance_micros"], balance, "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_warned_then_cut_and_a_top_up_extends_it() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let sipp = Carrier::start(1);
    carrier(&app, &admin, sipp.port).await;
    // 0.60/min per second is 0.01 a second: 0.65 buys 65 s, so the 60 s warning comes at once.
    per_second(&app, &admin, "0.6").await;
    let ada = app.new_user("ada@example.com").await;
    crate::rates::credit(&app, &admin, user_id(&ada), "0.12").await;
    let mut ws = app.ws(&ada.access).await;
    ws.send(json!({"type": "dial_number", "request_id": "r", "number": "+12025550143", "sdp": WEBRTC_OFFER})).await;
    // Credit pushes: the first after the answer, with the time left.
    let credit = loop {
        let msg = ws.next().await.unwrap();
        if msg["type"] == "call_credit" && msg["seconds_left"].is_u64() {
            break msg;
        }
    };
    assert_eq!(credit["per_minute_micros"], 600_000, "{credit}");
    let left = credit["seconds_left"].as_u64().unwrap();
    assert!((10..=12).contains(&left), "12 s paid, some spent: {credit}");
    // A top-up during the call extends it: the deadline moves and a new push says so.
    crate::rates::credit(&app, &admin, user_id(&ada), "0.05").await;
    let later = loop {
        let msg = ws.next().await.unwrap();
        if msg["type"] == "call_credit" && msg["seconds_left"].as_u64().is_some_and(|s| s > left) {
            break msg;
        }
        assert_ne!(msg["type"], "ended", "the call ended before the top-up counted: {msg}");
    };
    let (_, cause, warnings) = until_ended(&mut ws).await;
    let call = credit["call_id"].as_str().unwrap();
    assert_eq!(cause, "credit_exhausted");
    assert!(warnings.contains(&10) || warnings.contains(&9), "a 10 s warning came first: {warnings:?} {later}");
    wait_until_posted(&app).await;
    let b = app.db.call_billing(call).await.unwrap().unwrap();
    assert_eq!(b.charge.unwrap().0, 170_000, "all 0.17 was used, not a micro more: {b:?}");
    let (status, me) = status_json(app.get_auth("/api/me/balance", &ada.access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["balance_micros"], 0, "{me}");
}

#[tokio::test]
async fn browser_calls_are_free_by_default_and_charged_at_their_own_price_when_set() {
    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
    // 0.60/min per second, no fee.
    let app = spawn_app_with(|s| {
        s.calls.browser_per_minute = "0.6".into();
        s.calls.browser_first_increment = 1;
        s.calls.browser_next_increment = 1;
    })
    .await;
    let admin = app.admin().await;
    let ada = app.new_user("ada@example.com").await;
    let bob = app.new_user("bob@example.com").await;
    let mut a = app.ws(&ada.access).await;
    let mut b = app.ws(&bob.access).await;
    let dial = json!({"type": "dial", "request_id": "r1", "callee": user_id(&bob), "sdp": OFFER});
    // No money, no call.
    a.send(dial.clone()).await;
    assert_eq!(a.expect("error").await["code"], "insufficient_funds");
    crate::rates::credit(&app, &admin, user_id(&ada), "1").await;
    a.send(dial).await;
    let call = a.expect("calling").await["call_id"].as_str().unwrap().to_string();
    b.expect("incoming").await;
    b.send(json!({"type": "answer", "call_id": call, "sdp": OFFER})).await;
    a.expect("answered").await;
    b.expect("connected").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    a.send(json!({"type": "hangup", "call_id": call})).await;
    b.expect("ended").await;
    wait_until_posted(&app).await;
    let charge = app.db.call_billing(&call).await.unwrap().unwrap().charge.unwrap().0;
    assert!((20_000..=40_000).contains(&charge), "about 3 s at 0.01/s: {charge}");
    let (balance, _) = ledger_total(&app, &admin, user_id(&ada)).await;
    assert_eq!(balance, 1_000_000 - charge);

    // Without a price (the default), the same call is free and costs nothing.
    let app = spawn_app().await;
    let ada = app.new_user("ada@example.com").await;
    let bob = app.new_user("bob@example.com").await;
    let mut a = app.ws(&ada.access).await;
    let _b = app.ws(&bob.access).await;
    a.send(json!({"type": "dial", "request_id": "r1", "callee": user_id(&bob), "sdp": OFFER})).await;
    a.expect("calling").await;
}
