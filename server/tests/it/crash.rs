//! Killing billing at any point loses no charge and doubles none: the billing worker aborted
//! again and again mid-run (and two at once), and the whole server killed with SIGKILL during
//! live calls and started again on the same database. Every answered call ends with exactly one
//! CDR and one charge.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::json;

use crate::{
    charging::{Carrier, WEBRTC_OFFER, carrier, ledger_total, per_second, until_ended, user_id},
    helpers::*,
    rates::wait_until_posted,
};

/// The `call` postings on the user's ledger, by call id.
async fn call_postings(app: &TestApp, admin: &Session, user: i64) -> Vec<(String, i64)> {
    let (_, page) = ledger_total(app, admin, user).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "call")
        .map(|e| (e["source_id"].as_str().unwrap_or_default().to_string(), e["amount_micros"].as_i64().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_worker_killed_mid_run_posts_each_call_exactly_once() {
    let app = spawn_app_with(|s| s.calls.billing_worker = false).await;
    let hub = app.hub.clone().unwrap();
    let admin = app.admin().await;
    let sipp = Carrier::start(3);
    carrier(&app, &admin, sipp.port).await;
    per_second(&app, &admin, "0.6").await;
    let ada = app.new_user("ada@example.com").await;
    crate::rates::credit(&app, &admin, user_id(&ada), "0.06").await;
    // Three calls share 6 seconds of money and are cut when it is gone.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..3 {
        let mut ws = app.ws(&ada.access).await;
        calls.spawn(async move {
            let dial = json!({"type": "dial_number", "request_id": format!("r{i}"), "number": "+12025550143", "sdp": WEBRTC_OFFER});
            ws.send(dial).await;
            until_ended(&mut ws).await
        });
    }
    let mut ended = vec![];
    while let Some(r) = calls.join_next().await {
        ended.push(r.unwrap());
    }
    // No worker: the ends wait in the outbox, nothing is charged, and the money stays held.
    assert_eq!(app.db.calls_to_post(10).await.unwrap().len(), 3);
    assert!(call_postings(&app, &admin, user_id(&ada)).await.is_empty());
    let funds = app.db.funds(server::domain::UserId(user_id(&ada))).await.unwrap().unwrap();
    assert!(funds.available().0 <= 0, "the ended calls' holds still count: {funds:?}");

    // Workers started and killed at random points, and two running at once.
    for i in 0..30u64 {
        let worker = server::billing::spawn_worker(hub.clone());
        tokio::time::sleep(Duration::from_micros(i * 700)).await;
        worker.abort();
        let _ = worker.await;
    }
    let (a, b) = tokio::join!(server::billing::post_waiting(&hub), server::billing::post_waiting(&hub));
    assert!(a + b <= 3);
    wait_until_posted(&app).await;

    let postings = call_postings(&app, &admin, user_id(&ada)).await;
    let mut charged = 0;
    for (call, cause, _) in &ended {
        assert_eq!(cause, "credit_exhausted");
        let mine: Vec<_> = postings.iter().filter(|(source, _)| source.ends_with(call.as_str())).collect();
        assert_eq!(mine.len(), 1, "{call}: exactly one charge, got {postings:?}");
        let b = app.db.call_billing(call).await.unwrap().unwrap();
        assert!(b.posted_at.is_some(), "{call}: its CDR is complete");
        assert_eq!(b.charge.unwrap().0, -mine[0].1);
        charged += b.charge.unwrap().0;
    }
    assert_eq!(charged, 60_000, "all 0.06 was spent, no more");
    let (balance, page) = ledger_total(&app, &admin, user_id(&ada)).await;
    assert_eq!(balance, 0, "{page}");
}

/// The server binary, on `database`, with the test's JWT secret (tokens outlive the restart).
struct Server {
    child: Child,
}

impl Server {
    fn start(database: &str, dir: &std::path::Path, port: u16) -> Server {
        let log = std::fs::File::create(dir.join(format!("server-{port}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .current_dir(dir)
            .env("DATABASE_URL", database)
            .env("ADMIN_EMAIL", ADMIN_EMAIL)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CALLPLAT_DATA_DIR", dir)
            .env("CALLPLAT_HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("CALLPLAT_GATEWAY__SIP_BIND", "127.0.0.1:0")
            .env("CALLPLAT_GATEWAY__WEBRTC_BIND", "127.0.0.1:0")
            .env("CALLPLAT_ROUTING__OPTIONS_INTERVAL_SECS", "0")
            .env("CALLPLAT_AUTH__JWT_SECRET", SECRET)
            .env("CALLPLAT_AUTH__LOGIN_PER_IP_PER_MINUTE", "10000")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the server binary starts");
        Server { child }
    }

    /// SIGKILL: no shutdown, no goodbye, as a crash.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_up(base: &str) {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server at {base} did not come up within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_calls_charges_each_answered_call_once_after_restart() {
    let url = fresh_database_url().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut first = Server::start(&url, dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    wait_up(&base).await;
    let db = server::storage::Db::connect(&url, Some(2)).await.unwrap();
    let app = TestApp::external(base, db, dir);
    let admin = app.admin().await;
    let sipp = Carrier::start(3);
    carrier(&app, &admin, sipp.port).await;
    per_second(&app, &admin, "0.6").await;
    let ada = app.new_user("ada@example.com").await;
    crate::rates::credit(&app, &admin, user_id(&ada), "10").await;
    let mut sockets = vec![];
    let mut ids = vec![];
    for i in 0..3 {
        let mut ws = app.ws(&ada.access).await;
        let dial = json!({"type": "dial_number", "request_id": format!("r{i}"), "number": "+12025550143", "sdp": WEBRTC_OFFER});
        ws.send(dial).await;
        let mut id = String::new();
        loop {
            let msg = ws.next().await.expect("the call goes on");
            match msg["type"].as_str() {
                Some("calling") => id = msg["call_id"].as_str().unwrap().to_string(),
                Some("answered") => break,
                Some("error" | "ended") => panic!("{msg}"),
                _ => {}
            }
        }
        ids.push(id);
        sockets.push(ws);
    }
    // Long enough for the heartbeat to stamp the calls as alive at least once.
    tokio::time::sleep(Duration::from_secs(6)).await;
    first.kill();
    drop(sockets);
    assert!(app.db.calls_to_post(10).await.unwrap().is_empty(), "nothing ended before the crash");

    // Restarted on the same database (and port): the open calls end when last seen, and are
    // posted.
    let _second = Server::start(&url, app.dir(), port);
    wait_up(&format!("http://127.0.0.1:{port}")).await;
    wait_until_posted(&app).await;
    let postings = call_postings(&app, &admin, user_id(&ada)).await;
    assert_eq!(postings.len(), 3, "{postings:?}");
    for id in &ids {
        let b = app.db.call_billing(id).await.unwrap().unwrap();
        assert_eq!(b.end_cause.as_deref(), Some("server_restart"), "{id}");
        assert!(b.posted_at.is_some(), "{id}: its CDR is complete");
        let charge = b.charge.unwrap().0;
        assert_eq!(postings.iter().filter(|(s, a)| s.ends_with(id.as_str()) && -a == charge).count(), 1, "{id}");
        // Charged until last seen alive (≤ 5 s stamps), never for the downtime.
        assert!((10_000..=120_000).contains(&charge), "{id}: {charge} µ for about 6 s of talk");
    }
}
