//! Carriers (SIP trunks), DIDs and the user's country: admin CRUD, validation, conflicts, and
//! the storage lookups the PSTN side uses.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server::domain::UserId;

use crate::helpers::*;

const CARRIERS: &str = "/api/admin/carriers";
const DIDS: &str = "/api/admin/dids";

fn carrier_body(name: &str) -> Value {
    json!({
        "name": name,
        "username": "trunk-user",
        "password": "s3cret-Pa55word",
        "from_domain": "sip.example.net",
        "caller_id_policy": "fixed",
        "caller_id_number": "+44 20 7946 0999",
        "strip_prefix": "+44",
        "prepend": "0",
        "inbound_cidrs": ["192.0.2.7", "198.51.100.5/24"],
        "gateways": [
            {"host": "b.sip.example.net", "port": 5080, "transport": "tcp"},
            {"host": "A.sip.example.net"},
            {"host": "192.0.2.9", "port": 5061, "transport": "udp"},
        ],
    })
}

async fn send(app: &TestApp, admin: &Session, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    status_json(app.send_auth(method, path, &admin.access, body).await).await
}

/// The raw response text, to check that a secret never appears in it.
async fn text(app: &TestApp, admin: &Session, method: Method, path: &str, body: Value) -> (StatusCode, String) {
    let r = app.send_auth(method, path, &admin.access, body).await;
    (r.status(), r.text().await.unwrap())
}

async fn create(app: &TestApp, admin: &Session, body: Value) -> Value {
    let (status, c) = send(app, admin, Method::POST, CARRIERS, body).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c
}

#[tokio::test]
async fn carrier_crud_round_trip_keeps_gateway_order_and_hides_the_password() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (status, list) = send(&app, &admin, Method::GET, CARRIERS, json!(null)).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));

    let (status, raw) = text(&app, &admin, Method::POST, CARRIERS, carrier_body(" Acme Trunk ")).await;
    assert_eq!(status, StatusCode::CREATED, "{raw}");
    assert!(!raw.contains("s3cret") && !raw.contains("\"password\""), "{raw}");
    let c: Value = serde_json::from_str(&raw).unwrap();
    let id = c["id"].as_i64().unwrap();
    assert_eq!(c["name"], "Acme Trunk");
    assert_eq!(c["enabled"], true, "enabled by default");
    assert_eq!(c["has_password"], true);
    assert_eq!(c["username"], "trunk-user");
    assert_eq!(c["from_domain"], "sip.example.net");
    assert_eq!(c["caller_id_policy"], "fixed");
    assert_eq!(c["caller_id_number"], "+442079460999");
    assert_eq!((c["strip_prefix"].as_str(), c["prepend"].as_str()), (Some("+44"), Some("0")));
    assert_eq!(c["inbound_cidrs"], json!(["192.0.2.7/32", "198.51.100.0/24"]));
    assert_eq!(
        c["gateways"],
        json!([
            {"host": "b.sip.example.net", "port": 5080, "transport": "tcp", "priority": 0, "weight": 1},
            {"host": "a.sip.example.net", "port": 5060, "transport": "udp", "priority": 0, "weight": 1},
            {"host": "192.0.2.9", "port": 5061, "transport": "udp", "priority": 0, "weight": 1},
        ])
    );
    let stored = app.db.get_carrier(id).await.unwrap().unwrap();
    assert_eq!(stored.password.as_ref().map(|p| p.expose().to_string()).as_deref(), Some("s3cret-Pa55word"));

    let (status, raw) = text(&app, &admin, Method::GET, &format!("{CARRIERS}/{id}"), json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!raw.contains("s3cret"), "{raw}");
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), c);
    let (status, raw) = text(&app, &admin, Method::GET, CARRIERS, json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!raw.contains("s3cret"), "{raw}");
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), json!([c]));

    // PUT without a password keeps it; the gateway list is replaced, in the new order.
    let mut body = carrier_body("Acme Trunk");
    body.as_object_mut().unwrap().remove("password");
    body["enabled"] = json!(false);
    body["caller_id_policy"] = json!("user_did");
    body["caller_id_number"] = json!(null);
    body["gateways"] = json!([{"host": "192.0.2.9", "port": 5061}, {"host": "b.sip.example.net", "transport": "tcp", "priority": 1, "weight": 5}]);
    let (status, u) = send(&app, &admin, Method::PUT, &format!("{CARRIERS}/{id}"), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{u}");
    assert_eq!((u["enabled"].as_bool(), u["has_password"].as_bool()), (Some(false), Some(true)));
    assert_eq!((u["caller_id_policy"].as_str(), &u["caller_id_number"]), (Some("user_did"), &Value::Null));
    assert_eq!(
        u["gateways"],
        json!([
            {"host": "192.0.2.9", "port": 5061, "transport": "udp", "priority": 0, "weight": 1},
            {"host": "b.sip.example.net", "port": 5060, "transport": "tcp", "priority": 1, "weight": 5},
        ])
    );
    assert_eq!(app.db.count_gateways().await.unwrap(), 2, "the old list is gone");
    let stored = app.db.get_carrier(id).await.unwrap().unwrap();
    assert_eq!(stored.password.as_ref().map(|p| p.expose().to_string()).as_deref(), Some("s3cret-Pa55word"));

    // An empty password clears it.
    body["password"] = json!("");
    let (_, u) = send(&app, &admin, Method::PUT, &format!("{CARRIERS}/{id}"), body.clone()).await;
    assert_eq!(u["has_password"], false);
    assert!(app.db.get_carrier(id).await.unwrap().unwrap().password.is_none());

    // Delete: its gateways go with it.
    let other = create(&app, &admin, json!({"name": "Other", "gateways": [{"host": "198.51.100.1"}]})).await;
    assert_eq!(app.db.count_gateways().await.unwrap(), 3);
    let (status, _) = send(&app, &admin, Method::DELETE, &format!("{CARRIERS}/{id}"), json!(null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.db.count_gateways().await.unwrap(), 1);
    for method in [Method::GET, Method::DELETE] {
        let (status, err) = send(&app, &admin, method, &format!("{CARRIERS}/{id}"), json!(null)).await;
        assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, err) = send(&app, &admin, Method::PUT, &format!("{CARRIERS}/{id}"), body).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    let (_, list) = send(&app, &admin, Method::GET, CARRIERS, json!(null)).await;
    assert_eq!(list, json!([other]));
}

#[tokio::test]
async fn bad_carrier_fields_get_a_reason_each_and_write_nothing() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let nine: Vec<Value> = (0..9).map(|i| json!({"host": format!("gw{i}.example.net")})).collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("name", json!(""), "name"),
        ("name", json!("   "), "name"),
        ("name", json!("x".repeat(65)), "name"),
        ("gateways", json!([]), "gateways"),
        ("gateways", json!(nine), "gateways"),
        ("gateways", json!([{"host": ""}]), "gateways[0].host"),
        ("gateways", json!([{"host": "ok.example.net"}, {"host": "a b"}]), "gateways[1].host"),
        ("gateways", json!([{"host": "a".repeat(254)}]), "gateways[0].host"),
        ("gateways", json!([{"host": "h.example.net", "port": 0}]), "gateways[0].port"),
        ("gateways", json!([{"host": "h.example.net", "port": 65536}]), "gateways[0].port"),
        ("inbound_cidrs", json!(["10.0.0.0/33"]), "inbound_cidrs"),
        ("inbound_cidrs", json!(["192.0.2.0/24", "carrier.example.net"]), "inbound_cidrs"),
        ("strip_prefix", json!("0a"), "strip_prefix"),
        ("prepend", json!("1".repeat(17)), "prepend"),
        ("prepend", json!("0-0"), "prepend"),
        ("caller_id_number", json!("12345"), "caller_id_number"),
        ("caller_id_number", json!("020 7946 0999"), "caller_id_number"),
        ("caller_id_number", json!(null), "caller_id_number"),
        ("from_domain", json!("bad domain"), "from_domain"),
        ("username", json!("a b"), "username"),
        ("password", json!("x".repeat(129)), "password"),
    ];
    for (key, value, field) in cases {
        let mut body = carrier_body("Acme");
        body[key] = value.clone();
        let (status, err) = send(&app, &admin, Method::POST, CARRIERS, body).await;
        let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(fields.contains_key(field), "{key} = {value}: {err}");
        assert_eq!(fields.len(), 1, "only {field} is wrong: {err}");
    }
    // Every reason at once.
    let body = json!({"name": "", "strip_prefix": "x", "gateways": [{"host": "a b", "port": 0}]});
    let (status, err) = send(&app, &admin, Method::POST, CARRIERS, body).await;
    let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        fields.keys().collect::<Vec<_>>(),
        ["gateways[0].host", "gateways[0].port", "name", "strip_prefix"],
        "{err}"
    );
    // Wrong types are malformed requests.
    let mut body = carrier_body("Acme");
    body["gateways"][0]["transport"] = json!("sctp");
    let (status, err) = send(&app, &admin, Method::POST, CARRIERS, body).await;
    assert_error(status, &err, StatusCode::BAD_REQUEST, "bad_request");
    // Anonymous ignores the number.
    let mut body = carrier_body("Anon");
    body["caller_id_policy"] = json!("anonymous");
    body["caller_id_number"] = json!("not a number");
    let c = create(&app, &admin, body).await;
    assert_eq!((c["caller_id_policy"].as_str(), &c["caller_id_number"]), (Some("anonymous"), &Value::Null));

    let (_, list) = send(&app, &admin, Method::GET, CARRIERS, json!(null)).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "refused requests wrote nothing: {list}");
    assert_eq!(app.db.count_gateways().await.unwrap(), 3);
}

#[tokio::test]
async fn carrier_names_are_unique() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    create(&app, &admin, carrier_body("Acme")).await;
    let (status, err) = send(&app, &admin, Method::POST, CARRIERS, carrier_body(" Acme ")).await;
    assert_error(status, &err, StatusCode::CONFLICT, "conflict");
    let b = create(&app, &admin, carrier_body("Bravo")).await;
    let path = format!("{CARRIERS}/{}", b["id"]);
    let (status, err) = send(&app, &admin, Method::PUT, &path, carrier_body("Acme")).await;
    assert_error(status, &err, StatusCode::CONFLICT, "conflict");
    let (_, still) = send(&app, &admin, Method::GET, &path, json!(null)).await;
    assert_eq!(still, b, "a refused rename changes nothing");
    let (status, _) = send(&app, &admin, Method::PUT, &path, carrier_body("Bravo")).await;
    assert_eq!(status, StatusCode::OK, "keeping one's own name is fine");
    assert_eq!(app.db.count_gateways().await.unwrap(), 6);
}

#[tokio::test]
async fn inbound_source_finds_the_first_enabled_carrier_whose_networks_contain_it() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let body = |name: &str, enabled: bool, cidrs: Value| json!({"name": name, "enabled": enabled, "inbound_cidrs": cidrs, "gateways": [{"host": "192.0.2.1"}]});
    let one = create(&app, &admin, body("One", true, json!(["192.0.2.0/24"]))).await;
    create(&app, &admin, body("Off", false, json!(["198.51.100.0/24"]))).await;
    create(&app, &admin, body("Three", true, json!(["192.0.2.128/25", "2001:db8::/32"]))).await;

    let found = |ip: &'static str| {
        let db = app.db.clone();
        async move { db.carrier_for_source(ip.parse().unwrap()).await.unwrap().map(|c| c.name) }
    };
    assert_eq!(found("192.0.2.200").await.as_deref(), Some("One"), "the oldest match wins");
    assert_eq!(found("::ffff:192.0.2.1").await.as_deref(), Some("One"), "IPv4-mapped IPv6");
    assert_eq!(found("2001:db8:1::5").await.as_deref(), Some("Three"));
    assert_eq!(found("198.51.100.1").await, None, "a disabled carrier accepts nothing");
    assert_eq!(found("203.0.113.1").await, None);
    let enabled: Vec<String> = app.db.enabled_carriers().await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(enabled, ["One", "Three"]);

    let path = format!("{CARRIERS}/{}", one["id"]);
    let (status, _) = send(&app, &admin, Method::PUT, &path, body("One", false, json!(["192.0.2.0/24"]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found("192.0.2.200").await.as_deref(), Some("Three"));
    assert_eq!(found("192.0.2.1").await, None);
}

#[tokio::test]
async fn dids_are_normalised_unique_and_owned() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let u = app.new_user("did@example.com").await;
    let uid = u.user["id"].as_i64().unwrap();

    let (status, d) =
        send(&app, &admin, Method::POST, DIDS, json!({"number": "+44 20 7946 0123", "user_id": uid})).await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    assert_eq!(d["number"], "+442079460123");
    assert_eq!((d["user_id"].as_i64(), d["user_email"].as_str()), (Some(uid), Some("did@example.com")));
    assert_eq!(d["user_display_name"], "Test User");

    let (status, err) =
        send(&app, &admin, Method::POST, DIDS, json!({"number": "0044 (0)20 7946 0123", "user_id": 1})).await;
    assert_error(status, &err, StatusCode::CONFLICT, "conflict");
    for (body, fields) in [
        (json!({"number": "020 7946 0123", "user_id": uid}), vec!["number"]),
        (json!({"number": "hello", "user_id": uid}), vec!["number"]),
        (json!({"number": "+44 7700 900123", "user_id": uid}), vec!["number"]),
        (json!({"number": "+1 201 555 0123", "user_id": 4242}), vec!["user_id"]),
        (json!({"number": "", "user_id": 4242}), vec!["number", "user_id"]),
    ] {
        let (status, err) = send(&app, &admin, Method::POST, DIDS, body.clone()).await;
        let got = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(got.keys().collect::<Vec<_>>(), fields, "{body}: {err}");
    }
    let (status, second) =
        send(&app, &admin, Method::POST, DIDS, json!({"number": "+1 (201) 555-0123", "user_id": uid})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");

    assert_eq!(app.db.did_owner("+442079460123").await.unwrap(), Some(UserId(uid)));
    assert_eq!(app.db.did_owner("+442079460124").await.unwrap(), None);
    assert_eq!(app.db.user_dids(UserId(uid)).await.unwrap(), ["+442079460123", "+12015550123"], "oldest first");

    let (status, page) = send(&app, &admin, Method::GET, DIDS, json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][0]["number"], "+12015550123", "by number");
    for (q, total) in [("?q=DID@EXAMPLE", 2), ("?q=%2B44%2020", 1), ("?q=7946", 1), ("?q=nobody", 0)] {
        let (_, page) = send(&app, &admin, Method::GET, &format!("{DIDS}{q}"), json!(null)).await;
        assert_eq!(page["total"], total, "{q}: {page}");
    }
    let (_, page) = send(&app, &admin, Method::GET, &format!("{DIDS}?per_page=1&page=2"), json!(null)).await;
    assert_eq!((page["total"].as_u64(), page["items"][0]["number"].as_str()), (Some(2), Some("+442079460123")));
    let (status, err) = send(&app, &admin, Method::GET, &format!("{DIDS}?per_page=0"), json!(null)).await;
    assert!(assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation").contains_key("per_page"));

    let path = format!("{DIDS}/{}", d["id"]);
    let (status, _) = send(&app, &admin, Method::DELETE, &path, json!(null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = send(&app, &admin, Method::DELETE, &path, json!(null)).await;
    assert_error(status, &err, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.db.did_owner("+442079460123").await.unwrap(), None);
    assert_eq!(app.db.user_dids(UserId(uid)).await.unwrap(), ["+12015550123"]);
}

#[tokio::test]
async fn users_set_and_clear_their_country() {
    let app = spawn_app().await;
    let s = app.new_user("c@example.com").await;
    assert_eq!(s.user["country"], Value::Null);
    let patch = |body: Value| app.send_auth(Method::PATCH, "/api/me", &s.access, body);

    let (status, me) = status_json(patch(json!({"display_name": "C", "country": " gb "})).await).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["country"], "GB");
    let (_, me) = status_json(patch(json!({"display_name": "C2"})).await).await;
    assert_eq!((me["display_name"].as_str(), me["country"].as_str()), (Some("C2"), Some("GB")), "absent keeps it");
    let (_, me) = status_json(app.get_auth("/api/me", &s.access).await).await;
    assert_eq!(me["country"], "GB");

    for bad in ["XX", "GBR", "1", "Britain"] {
        let (status, err) = status_json(patch(json!({"display_name": "C3", "country": bad})).await).await;
        let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert!(fields.contains_key("country"), "{bad}: {err}");
    }
    let (status, err) = status_json(patch(json!({"display_name": "", "country": "XX"})).await).await;
    let fields = assert_error(status, &err, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["country", "display_name"]);
    let (_, me) = status_json(app.get_auth("/api/me", &s.access).await).await;
    assert_eq!((me["display_name"].as_str(), me["country"].as_str()), (Some("C2"), Some("GB")), "nothing changed");

    let (_, me) = status_json(patch(json!({"display_name": "C2", "country": ""})).await).await;
    assert_eq!(me["country"], Value::Null);
    let admin = app.admin().await;
    let (_, seen) = status_json(app.get_auth(&format!("/api/admin/users/{}", me["id"]), &admin.access).await).await;
    assert_eq!(seen["country"], Value::Null);
}

#[tokio::test]
async fn call_records_keep_the_carrier_and_sip_code() {
    let app = spawn_app().await;
    let a = app.new_user("a@example.com").await;
    let b = app.new_user("b@example.com").await;
    let (a, b) = (UserId(a.user["id"].as_i64().unwrap()), UserId(b.user["id"].as_i64().unwrap()));
    let now = chrono::Utc::now();
    app.db.create_call("call-1", a, "dev-a", b, now, None).await.unwrap();
    app.db.call_set_carrier("call-1", 7, "Acme", None).await.unwrap();
    app.db.call_set_sip_code("call-1", 486).await.unwrap();
    let (calls, _) = app.db.call_history(a, 1, 10).await.unwrap();
    let c = &calls[0].0;
    assert_eq!((c.carrier_name.as_deref(), c.sip_code), (Some("Acme"), Some(486)));
}
