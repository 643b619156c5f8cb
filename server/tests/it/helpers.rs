use std::collections::BTreeMap;

use rand::Rng;
use reqwest::{Response, StatusCode, header};
use serde_json::{Value, json};
use server::{
    App, Settings,
    config::{AdminSeed, Secret},
};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The app's own database, for checks the API does not expose.
    pub db: server::storage::Db,
    /// The gateway's SIP address (UDP and TCP).
    pub sip: std::net::SocketAddr,
    /// The in-process app's hub (`None` for a server running as its own process).
    pub hub: Option<std::sync::Arc<server::signaling::Hub>>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    /// The test's own directory (data, logs).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A server running as its own process at `base`, on the database `db`.
    pub fn external(base: String, db: server::storage::Db, dir: tempfile::TempDir) -> TestApp {
        TestApp { base, client: reqwest::Client::new(), db, sip: "127.0.0.1:9".parse().unwrap(), hub: None, _dir: dir }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A fresh database, an admin account, port 0, high login limits unless `tweak` says otherwise.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.data_dir = dir.path().to_path_buf();
    settings.http.bind = "127.0.0.1:0".parse().unwrap();
    // The gateway's SIP and WebRTC ports: free ones, so tests run side by side.
    settings.gateway.sip_bind = "127.0.0.1:0".parse().unwrap();
    settings.gateway.webrtc_bind = "127.0.0.1:0".parse().unwrap();
    settings.database.url = Some(fresh_database_url().await);
    settings.database.max_connections = Some(4);
    settings.auth.jwt_secret = Some(Secret::new(SECRET));
    settings.auth.login_per_ip_per_minute = 10_000;
    settings.auth.login_per_account_per_minute = 10_000;
    settings.admin = Some(AdminSeed { email: ADMIN_EMAIL.into(), password: Some(Secret::new(ADMIN_PASSWORD)) });
    // No OPTIONS pings unless a test asks: a sipp carrier takes every request as a new call.
    settings.routing.options_interval_secs = 0;
    tweak(&mut settings);
    let app = App::build(settings).await.expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let sip = app.state().hub.gateway().map(|g| g.sip_addr).expect("the gateway runs in tests");
    let hub = Some(app.state().hub.clone());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp { base, client: reqwest::Client::new(), db, sip, hub, _dir: dir }
}

/// SQLite: a file in the test's temp dir (the data dir default). PostgreSQL: a new database
/// with a random name in the cluster `TEST_DATABASE_URL` points at.
pub async fn fresh_database_url() -> String {
    let Ok(cluster) = std::env::var("TEST_DATABASE_URL") else {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        return format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
    };
    let name = format!("t_{:016x}", rand::thread_rng().r#gen::<u64>());
    let admin = server::storage::Db::connect(&cluster, Some(1)).await.expect("connecting to TEST_DATABASE_URL");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
    let (base, _) = cluster.rsplit_once('/').expect("a database URL ends in /<db>");
    format!("{base}/{name}")
}

/// A signed-up user's credentials as the browser would hold them.
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user: Value,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client.post(self.url(path)).json(&body).send().await.expect("request")
    }

    pub async fn signup(&self, email: &str, name: &str) -> Response {
        self.post("/api/auth/signup", json!({"email": email, "password": PASSWORD, "display_name": name})).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post("/api/auth/login", json!({"email": email, "password": password})).await
    }

    pub async fn new_user(&self, email: &str) -> Session {
        let r = self.signup(email, "Test User").await;
        assert_eq!(r.status(), StatusCode::CREATED, "signup of {email}");
        session_of(r).await
    }

    pub async fn admin(&self) -> Session {
        let r = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK, "admin login");
        session_of(r).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn send_auth(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Response {
        self.client.request(method, self.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
    }

    /// `POST /api/auth/refresh` presenting `cookie` as the browser would.
    pub async fn refresh(&self, cookie: &str) -> Response {
        self.client
            .post(self.url("/api/auth/refresh"))
            .header(header::COOKIE, format!("callplat_refresh={cookie}"))
            .send()
            .await
            .expect("request")
    }

    pub async fn logout(&self, cookie: &str) -> Response {
        self.client
            .post(self.url("/api/auth/logout"))
            .header(header::COOKIE, format!("callplat_refresh={cookie}"))
            .send()
            .await
            .expect("request")
    }
}

pub async fn session_of(r: Response) -> Session {
    let refresh = refresh_cookie(&r).expect("a refresh cookie");
    let body: Value = r.json().await.expect("json");
    Session { access: body["access_token"].as_str().expect("access_token").into(), refresh, user: body["user"].clone() }
}

pub fn refresh_cookie(r: &Response) -> Option<String> {
    r.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let value = c.strip_prefix("callplat_refresh=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Asserts the status and the stable error code, and returns the field reasons.
#[track_caller]
pub fn assert_error(
    status: StatusCode,
    body: &Value,
    want_status: StatusCode,
    want_code: &str,
) -> BTreeMap<String, String> {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(body["error"]["code"], want_code, "body: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "a message: {body}");
    serde_json::from_value(body["error"]["fields"].clone()).unwrap_or_default()
}

pub async fn status_json(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A signaling WebSocket as a browser tab would hold it.
pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub device: String,
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.base.replace("http://", "ws://"))
    }

    /// Connects and says hello; returns once `welcome` arrived.
    pub async fn ws(&self, token: &str) -> Ws {
        self.ws_resume(token, None).await
    }

    pub async fn ws_resume(&self, token: &str, resume: Option<&str>) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(self.ws_url()).await.expect("ws connect");
        let mut ws = Ws { stream, device: String::new() };
        ws.send(json!({"type": "hello", "version": 1, "token": token, "resume": resume})).await;
        let welcome = ws.expect("welcome").await;
        ws.device = welcome["device_id"].as_str().expect("device_id").to_string();
        ws
    }
}

impl Ws {
    pub async fn raw(app: &TestApp) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(app.ws_url()).await.expect("ws connect");
        Ws { stream, device: String::new() }
    }

    pub async fn send(&mut self, msg: Value) {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::text(msg.to_string())).await.expect("ws send");
    }

    pub async fn send_text(&mut self, text: &str) {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::text(text)).await.expect("ws send");
    }

    /// The next JSON message, presence updates included; `None` when the socket closed.
    pub async fn next(&mut self) -> Option<Value> {
        use futures_util::StreamExt;
        loop {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.next())
                .await
                .expect("a message within 10 s");
            match frame? {
                Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => return serde_json::from_str(&t).ok(),
                Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// Skips messages until one of type `kind` (presence updates, money pushes and `ringing` are skipped
    /// silently; anything else skipped is a test failure).
    pub async fn expect(&mut self, kind: &'static str) -> Value {
        loop {
            let msg = self.next().await.unwrap_or_else(|| panic!("socket closed while waiting for {kind}"));
            if msg["type"] == kind {
                return msg;
            }
            assert!(
                ["presence", "ringing", "balance", "call_credit", "call_charged"]
                    .contains(&msg["type"].as_str().unwrap_or("")),
                "waiting for {kind}, got {msg}"
            );
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
