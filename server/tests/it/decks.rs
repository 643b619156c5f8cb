//! Carriers' buy decks: streaming CSV import validated as a whole, versions with effective
//! dates, export, the route simulator and least-cost routing of real dials.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const HEADER: &str = "prefix,description,price_per_minute,connection_fee,min_duration,increment\n";

async fn new_carrier(app: &TestApp, admin: &Session, name: &str) -> i64 {
    let body = json!({"name": name, "gateways": [{"host": "127.0.0.1", "port": 9, "transport": "udp"}]});
    let (status, reply) =
        status_json(app.send_auth(Method::POST, "/api/admin/carriers", &admin.access, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    reply["id"].as_i64().unwrap()
}

pub async fn upload(app: &TestApp, token: &str, carrier: i64, query: &str, csv: String) -> (StatusCode, Value) {
    let r = app
        .client
        .post(format!("{}/api/admin/carriers/{carrier}/decks{query}", app.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    status_json(r).await
}

async fn simulate(app: &TestApp, admin: &Session, number: &str) -> Value {
    let path = format!("/api/admin/routes/simulate?number={}", number.replace('+', "%2B"));
    let (status, sim) = status_json(app.get_auth(&path, &admin.access).await).await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    sim
}

/// Waits for the background rebuild to show `want` carriers with a prefix of the number.
async fn routes_become(app: &TestApp, admin: &Session, number: &str, want: usize) -> Value {
    for _ in 0..100 {
        let sim = simulate(app, admin, number).await;
        let matched = sim["verdicts"].as_array().map_or(0, |v| v.iter().filter(|v| v["prefix"].is_string()).count());
        if matched == want {
            return sim;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{number} never matched {want} carriers: {}", simulate(app, admin, number).await);
}

#[tokio::test]
async fn a_deck_with_errors_is_refused_whole_with_line_numbers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let c = new_carrier(&app, &admin, "alpha").await;
    let bad = format!("{HEADER}1,USA,0.01,0,0,60\n44,UK,abc,0,0,60\n1,USA again,0.01,0,0,60\n33,France,0.01,0,0,0\n");
    let (status, body) = upload(&app, &admin.access, c, "", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = body["error"]["fields"].as_object().unwrap();
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["line 3", "line 4", "line 5"], "{body}");
    assert!(fields["line 4"].as_str().unwrap().contains("already appears on line 2"), "{body}");
    let (_, decks) = status_json(app.get_auth(&format!("/api/admin/carriers/{c}/decks"), &admin.access).await).await;
    assert_eq!(decks, json!([]), "nothing half-imported");
    // Bad dates, unknown carriers, and users are refused too.
    let ok = format!("{HEADER}1,USA,0.01,0,0,60\n");
    assert_eq!(
        upload(&app, &admin.access, c, "?effective_from=soon", ok.clone()).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(upload(&app, &admin.access, 999, "", ok.clone()).await.0, StatusCode::NOT_FOUND);
    let u = app.new_user("u@example.com").await;
    assert_eq!(upload(&app, &u.access, c, "", ok).await.0, StatusCode::FORBIDDEN);
    for path in [
        format!("/api/admin/carriers/{c}/decks"),
        "/api/admin/deck-imports".to_string(),
        "/api/admin/routes/simulate?number=%2B12025550143".to_string(),
    ] {
        assert_eq!(app.get_auth(&path, &u.access).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn decks_import_export_and_route_by_cost_with_margin_protection() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let alpha = new_carrier(&app, &admin, "alpha").await;
    let beta = new_carrier(&app, &admin, "beta").await;
    let gamma = new_carrier(&app, &admin, "gamma").await;
    // Sells +44 at 0.02/min.
    crate::rates::price(&app, &admin, "44", "0.02").await;
    let (status, deck) =
        upload(&app, &admin.access, alpha, "", format!("{HEADER}44,UK,0.015,0,0,60\n4420,London,0.008,0,0,1\n")).await;
    assert_eq!(status, StatusCode::CREATED, "{deck}");
    assert_eq!(deck["rows"], 2);
    upload(&app, &admin.access, beta, "", format!("{HEADER}44,UK,0.012,0,0,60\n")).await;
    upload(&app, &admin.access, gamma, "", format!("{HEADER}44,\"UK, dear\",0.025,0,0,60\n")).await;

    let sim = routes_become(&app, &admin, "+44 20 7946 0123", 3).await;
    let order: Vec<(&str, &str)> = sim["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["carrier_name"].as_str().unwrap(), v["outcome"].as_str().unwrap()))
        .collect();
    // alpha's longer prefix 4420 is cheapest; gamma buys above the sell price.
    assert_eq!(order, [("alpha", "chosen"), ("beta", "chosen"), ("gamma", "not_profitable")], "{sim}");
    assert_eq!(sim["verdicts"][0]["prefix"], "4420");
    assert!(sim["verdicts"][2]["explanation"].as_str().unwrap().contains("sells at 0.02"), "{sim}");

    // Export gives the rows back.
    let csv = app
        .get_auth(&format!("/api/admin/carriers/{alpha}/decks/{}/export", deck["id"]), &admin.access)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().skip(1).collect::<Vec<_>>(),
        ["44,UK,0.015000,0.000000,0,60,60", "4420,London,0.008000,0.000000,0,1,1"],
        "{csv}"
    );

    // A new deck with a future date changes nothing until then.
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, future) =
        upload(&app, &admin.access, beta, &format!("?effective_from={later}"), format!("{HEADER}44,UK,0.001,0,0,60\n"))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{future}");
    assert_eq!(future["active"], false);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let sim = simulate(&app, &admin, "+442079460123").await;
    assert_eq!(sim["routes"][1]["buy_per_minute_micros"], 12_000, "the current deck still routes: {sim}");
    let (_, decks) = status_json(app.get_auth(&format!("/api/admin/carriers/{beta}/decks"), &admin.access).await).await;
    assert_eq!(decks.as_array().unwrap().len(), 2);
    // A number nobody's deck lists has no route, and says why.
    let sim = simulate(&app, &admin, "+33 1 23 45 67 89").await;
    assert_eq!(sim["routes"], json!([]));
    assert!(sim["verdicts"].as_array().unwrap().iter().all(|v| v["outcome"] == "no_prefix"), "{sim}");
}

/// The routing table is built from each deck's packed blob, written with the deck. A deck
/// whose blob is missing (imported before blobs were kept) or damaged is read row by row, and
/// its blob written again.
#[tokio::test]
async fn the_routing_table_reads_each_deck_packed_and_repacks_a_missing_or_damaged_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let c = new_carrier(&app, &admin, "alpha").await;
    let (status, deck) = upload(
        &app,
        &admin.access,
        c,
        "",
        format!(
            "{HEADER}44,UK,0.01,0,0,60
4420,London,0.02,0.5,30,6
"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{deck}");
    let table = server::routing::table::LiveTable::default();
    let routes = |table: &server::routing::table::LiveTable| -> Vec<String> {
        let t = table.get();
        t.index.lookup("442079460123").map(|m| format!("{}:{}@{:?}", m.carrier, m.prefix, m.tariff)).collect()
    };
    server::lcr::rebuild(&app.db, &table).await.unwrap();
    let fresh = routes(&table);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(fresh[0].starts_with(&format!("{c}:4420@")), "{fresh:?}");

    // Without its blob, the deck is read from its rows, and the blob written back…
    app.db.execute_unprepared("DELETE FROM buy_deck_packed").await.unwrap();
    server::lcr::rebuild(&app.db, &table).await.unwrap();
    assert_eq!(routes(&table), fresh);
    // …so that the rows are not needed again.
    app.db.execute_unprepared("DELETE FROM buy_rates").await.unwrap();
    server::lcr::rebuild(&app.db, &table).await.unwrap();
    assert_eq!(routes(&table), fresh);
    // A damaged blob is not trusted: the rows are read (none are left now).
    let blob = if std::env::var("TEST_DATABASE_URL").is_ok() { "decode('43504431', 'hex')" } else { "X'43504431'" };
    app.db.execute_unprepared(&format!("UPDATE buy_deck_packed SET data = {blob}")).await.unwrap();
    server::lcr::rebuild(&app.db, &table).await.unwrap();
    assert_eq!(routes(&table), Vec::<String>::new());
}

#[tokio::test]
async fn two_hundred_thousand_rows_stream_in() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let c = new_carrier(&app, &admin, "big").await;
    let mut csv = String::from(HEADER);
    for i in 0..200_000u32 {
        csv.push_str(&format!("{},Dest {i},0.{:04},0,0,60\n", 10_000_000 + i, i % 10_000));
    }
    let started = std::time::Instant::now();
    let (status, deck) = upload(&app, &admin.access, c, "", csv).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::CREATED, "{deck}");
    assert_eq!(deck["rows"], 200_000);
    eprintln!("imported 200,000 rows in {took:?} ({:.0} rows/s)", 200_000.0 / took.as_secs_f64());
    let (_, jobs) = status_json(app.get_auth("/api/admin/deck-imports", &admin.access).await).await;
    assert_eq!(jobs[0]["state"], "done", "{jobs}");
    assert_eq!(jobs[0]["rows_written"], 200_000);
}

/// A measurement, not a check of speed: `cargo test --release -p server --test it -- --ignored
/// million --nocapture` prints the import throughput and the routing table's reload time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release with --ignored"]
async fn a_million_row_deck_imports_and_the_routing_table_reloads() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let c = new_carrier(&app, &admin, "big").await;
    let mut csv = String::from(HEADER);
    // Prefixes of New York numbers, so that the simulator takes the last one's number.
    for i in 0..1_000_000u64 {
        csv.push_str(&format!("{},Dest {i},0.{:04},0,0,60\n", 12_120_000_000 + i * 7, i % 10_000));
    }
    let started = std::time::Instant::now();
    let (status, deck) = upload(&app, &admin.access, c, "", csv).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::CREATED, "{deck}");
    eprintln!("imported 1,000,000 rows in {took:?} ({:.0} rows/s)", 1_000_000.0 / took.as_secs_f64());
    // What an admin sees: from the import's answer until the simulator routes the deck's last
    // prefix (the server rebuilds its table in the background; polled every 50 ms).
    routes_become(&app, &admin, "+12126999993", 1).await;
    eprintln!("the simulator routed the new deck {:?} after the import answered", started.elapsed() - took);
    let table = server::routing::table::LiveTable::default();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        server::lcr::rebuild(&app.db, &table).await.unwrap();
        eprintln!("routing table reloaded from the database in {:?}", started.elapsed());
    }
    assert_eq!(table.get().index.len(), 1_000_000);
    // A deck imported before packed blobs were kept is read row by row once.
    app.db.execute_unprepared("DELETE FROM buy_deck_packed").await.unwrap();
    for _ in 0..2 {
        let started = std::time::Instant::now();
        server::lcr::rebuild(&app.db, &table).await.unwrap();
        eprintln!("routing table reloaded, the deck without its blob at first, in {:?}", started.elapsed());
    }

    // Four more carriers with a million rows each, overlapping the first: a reload rebuilds
    // the whole table, 5,000,000 pairs.
    for n in 1..=4u64 {
        let c = new_carrier(&app, &admin, &format!("big {n}")).await;
        let mut csv = String::from(HEADER);
        for i in 0..1_000_000u64 {
            csv.push_str(&format!("{},Dest {i},0.{:04},0,0,60\n", 12_120_000_000 + i * 7 + n % 2, (i + n) % 10_000));
        }
        let started = std::time::Instant::now();
        let (status, deck) = upload(&app, &admin.access, c, "", csv).await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::CREATED, "{deck}");
        eprintln!("imported 1,000,000 rows in {took:?} ({:.0} rows/s)", 1_000_000.0 / took.as_secs_f64());
    }
    routes_become(&app, &admin, "+12126999993", 3).await;
    for _ in 0..3 {
        let started = std::time::Instant::now();
        server::lcr::rebuild(&app.db, &table).await.unwrap();
        eprintln!("routing table of five 1,000,000-row decks reloaded in {:?}", started.elapsed());
    }
    assert_eq!(table.get().index.len(), 5_000_000);
}

#[tokio::test]
async fn a_failing_carrier_trips_its_circuit_and_calls_go_to_the_next_one() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let cheap = new_carrier(&app, &admin, "cheap").await;
    let other = new_carrier(&app, &admin, "other").await;
    crate::rates::price(&app, &admin, "44", "0.02").await;
    upload(&app, &admin.access, cheap, "", format!("{HEADER}44,UK,0.005,0,0,60\n")).await;
    upload(&app, &admin.access, other, "", format!("{HEADER}44,UK,0.010,0,0,60\n")).await;
    let sim = routes_become(&app, &admin, "+442079460123", 2).await;
    assert_eq!(sim["routes"][0]["carrier_name"], "cheap", "{sim}");
    // Five attempts through `cheap` fail in a row (503s): its circuit opens.
    let attempt = |outcome: &str, code: u16| server::storage::Attempt {
        seq: 0,
        carrier_id: Some(cheap),
        carrier_name: "cheap".into(),
        gateway: None,
        sip_code: Some(code),
        outcome: outcome.into(),
        started_at: chrono::Utc::now(),
        pdd_ms: None,
        duration_ms: None,
    };
    for i in 0..5 {
        app.db.record_attempt(&format!("c{i}"), &attempt("failed", 503)).await.unwrap();
    }
    let sim = simulate(&app, &admin, "+442079460123").await;
    assert_eq!(sim["routes"][0]["carrier_name"], "other", "{sim}");
    let cheap_verdict = sim["verdicts"].as_array().unwrap().iter().find(|v| v["carrier_name"] == "cheap").unwrap();
    assert_eq!(cheap_verdict["outcome"], "circuit_open", "{sim}");
    // A success (the half-open probe) closes it again.
    app.db.record_attempt("c5", &attempt("answered", 200)).await.unwrap();
    let sim = simulate(&app, &admin, "+442079460123").await;
    assert_eq!(sim["routes"][0]["carrier_name"], "cheap", "{sim}");
}
