//! End-to-end harness: the real server (in-process, its own SQLite database, the built web app)
//! and a real headless Chromium driven through chromedriver.
//!
//! Every browser runs with a fresh profile and loopback-only networking flags, writes its output
//! to files (never to a pipe an orphan could hold open), and is closed on every path:
//! `with_browser` closes the WebDriver session and then ends the chromedriver it started, by PID.

use std::{
    future::Future,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub mod sipp;

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use server::config::{AdminSeed, Secret, Settings};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// How long a page may take to show what a step waits for.
const WAIT: Duration = Duration::from_secs(15);

/// The platform under test.
pub struct Stack {
    pub base: String,
    /// The gateway's SIP address (UDP and TCP), where carriers send INVITEs.
    pub sip: std::net::SocketAddr,
    /// The platform's database, for seeding what a test needs in bulk (call records).
    pub db: server::storage::Db,
    _dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut settings = Settings::default();
        // Server logs when asked for (`RUST_LOG=info cargo test ...`).
        if std::env::var_os("RUST_LOG").is_some() {
            server::telemetry::init(&settings.log);
        }
        settings.data_dir = dir.path().to_path_buf();
        settings.http.bind = "127.0.0.1:0".parse()?;
        settings.gateway.sip_bind = "127.0.0.1:0".parse()?;
        settings.gateway.webrtc_bind = "127.0.0.1:0".parse()?;
        settings.web_dist = Some(web_dist()?);
        settings.admin = Some(AdminSeed { email: ADMIN_EMAIL.into(), password: Some(Secret::new(ADMIN_PASSWORD)) });
        // No OPTIONS pings unless a test asks: a sipp carrier takes every request as a new call.
        settings.routing.options_interval_secs = 0;
        tweak(&mut settings);
        let app = server::App::build(settings).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let sip = app.state().hub.gateway().map(|g| g.sip_addr).ok_or_else(|| anyhow::anyhow!("gateway disabled"))?;
        let db = app.state().db.clone();
        tokio::spawn(app.run_until(std::future::pending()));
        Ok(Self { base, sip, db, _dir: dir })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs the seeded admin in through the API; the access token.
    pub async fn admin_token(&self) -> Result<String> {
        let r = reqwest::Client::new()
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "admin login: {}", r.status());
        let body: serde_json::Value = r.json().await?;
        Ok(body["access_token"].as_str().unwrap_or_default().to_string())
    }

    /// An admin API call; the JSON reply.
    pub async fn admin_post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let token = self.admin_token().await?;
        let r = reqwest::Client::new().post(self.url(path)).bearer_auth(token).json(&body).send().await?;
        let status = r.status();
        let reply: serde_json::Value = r.json().await.unwrap_or_default();
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {reply}");
        Ok(reply)
    }

    /// An admin API read; the JSON reply.
    pub async fn admin_get(&self, path: &str) -> Result<serde_json::Value> {
        let token = self.admin_token().await?;
        let r = reqwest::Client::new().get(self.url(path)).bearer_auth(token).send().await?;
        let status = r.status();
        let reply: serde_json::Value = r.json().await.unwrap_or_default();
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {reply}");
        Ok(reply)
    }

    /// An admin upload of a CSV file; the JSON reply.
    pub async fn admin_post_csv(&self, path: &str, csv: &str) -> Result<serde_json::Value> {
        let token = self.admin_token().await?;
        let r = reqwest::Client::new()
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.to_string())
            .send()
            .await?;
        let status = r.status();
        let reply: serde_json::Value = r.json().await.unwrap_or_default();
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {reply}");
        Ok(reply)
    }

    /// Waits until the routing table (rebuilt in the background after an import) has a carrier
    /// with a prefix of `number`.
    pub async fn wait_for_route(&self, number: &str) -> Result<()> {
        let token = self.admin_token().await?;
        let url = self.url(&format!("/api/admin/routes/simulate?number={}", number.replace('+', "%2B")));
        for _ in 0..100 {
            let sim: serde_json::Value =
                reqwest::Client::new().get(&url).bearer_auth(&token).send().await?.json().await.unwrap_or_default();
            if sim["verdicts"].as_array().is_some_and(|v| v.iter().any(|v| v["prefix"].is_string())) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("no route for {number} within 5 s")
    }

    /// Creates an account through the API, as another person would have.
    pub async fn create_user(&self, email: &str, name: &str, password: &str) -> Result<()> {
        let r = reqwest::Client::new()
            .post(self.url("/api/auth/signup"))
            .json(&serde_json::json!({"email": email, "password": password, "display_name": name}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "signup of {email}: {}", r.status());
        Ok(())
    }
}

/// The built web app: `CALLPLAT_WEB_DIST`, or `web/dist` in this workspace.
fn web_dist() -> Result<PathBuf> {
    let dist = std::env::var_os("CALLPLAT_WEB_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist"));
    if !dist.join("index.html").exists() {
        bail!("no built web app at {} — run the tests with `cargo xtask test`", dist.display());
    }
    Ok(dist)
}

/// Where tests leave screenshots for a person to look at.
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Runs `test` with a fresh browser, then closes it whatever happened. On failure a screenshot
/// goes to `target/e2e-artifacts/<name>-failure.png`.
pub async fn with_browser<F, Fut>(name: &str, test: F) -> Result<()>
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    with_browser_flags(name, &[], test).await
}

/// `with_browser`, with extra Chromium flags: `--x=y` replaces the default `--x`, `!--x` drops it.
pub async fn with_browser_flags<F, Fut>(name: &str, flags: &[&str], test: F) -> Result<()>
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let driver = Driver::start()?;
    let browser = Browser::open_with(&driver, flags).await?;
    let client = browser.client.clone();
    let result = test(browser).await;
    if result.is_err()
        && let Ok(png) = client.screenshot().await
    {
        let _ = std::fs::write(artifacts_dir().join(format!("{name}-failure.png")), png);
    }
    let closed = client.close().await;
    drop(driver);
    result.and(closed.map_err(|e| anyhow!("closing the browser: {e}")))
}

/// Like `with_browser`, with two browsers (two people, separate profiles).
pub async fn with_two_browsers<F, Fut>(name: &str, test: F) -> Result<()>
where
    F: FnOnce(Browser, Browser) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let (da, db) = (Driver::start()?, Driver::start()?);
    let a = Browser::open(&da).await?;
    let b = match Browser::open(&db).await {
        Ok(b) => b,
        Err(e) => {
            let _ = a.client.close().await;
            return Err(e);
        }
    };
    let (ca, cb) = (a.client.clone(), b.client.clone());
    let result = test(a, b).await;
    if result.is_err() {
        for (who, c) in [("a", &ca), ("b", &cb)] {
            if let Ok(png) = c.screenshot().await {
                let _ = std::fs::write(artifacts_dir().join(format!("{name}-{who}-failure.png")), png);
            }
        }
    }
    let closed_a = ca.close().await;
    let closed_b = cb.close().await;
    drop((da, db));
    result
        .and(closed_a.map_err(|e| anyhow!("closing browser a: {e}")))
        .and(closed_b.map_err(|e| anyhow!("closing browser b: {e}")))
}

/// A chromedriver process on a free loopback port; ended by PID on drop.
struct Driver {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Driver {
    fn start() -> Result<Self> {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir()?;
        let log = std::fs::File::create(dir.path().join("chromedriver.log"))?;
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {bin} (is chromium-driver installed?)"))?;
        let driver = Self { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not listen on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window with helpers that wait for the page instead of sleeping.
pub struct Browser {
    pub client: Client,
    /// Where the browser saves downloads.
    downloads: std::path::PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(driver: &Driver) -> Result<Self> {
        Self::open_with(driver, &[]).await
    }

    async fn open_with(driver: &Driver, flags: &[&str]) -> Result<Self> {
        let profile = tempfile::tempdir()?;
        let chrome = std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            "--allow-loopback-in-peer-connection".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        // A flag given here replaces a default of the same name; `!--name` removes it.
        for flag in flags {
            let removed = flag.strip_prefix('!');
            let name = removed.unwrap_or(flag).split('=').next().unwrap_or(flag);
            args.retain(|a| a.split('=').next() != Some(name));
            if removed.is_none() {
                args.push(flag.to_string());
            }
        }
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let prefs = serde_json::json!({
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
        });
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chrome, "args": args, "prefs": prefs }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .context("opening a Chromium session through chromedriver")?;
        Ok(Self { client, downloads, _profile: profile })
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.with_context(|| format!("opening {url}"))
    }

    /// Waits until the browser has saved the download `name` whole, and returns its text.
    pub async fn downloaded(&self, name: &str) -> Result<String> {
        let path = self.downloads.join(name);
        let deadline = Instant::now() + WAIT;
        loop {
            // Chromium writes `name.crdownload` and renames it when the download is complete.
            if path.exists() {
                return Ok(std::fs::read_to_string(&path)?);
            }
            if Instant::now() > deadline {
                let seen: Vec<_> = std::fs::read_dir(&self.downloads)?.flatten().map(|e| e.file_name()).collect();
                bail!("no download `{name}` after {WAIT:?} (the folder has {seen:?})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `css` matches a displayed element.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && el.is_displayed().await.unwrap_or(false)
            {
                return Ok(el);
            }
            if Instant::now() > deadline {
                bail!("no visible `{css}` after {WAIT:?} on {}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of `css` contains `want`, and returns the whole text.
    pub async fn wait_text(&self, css: &str, want: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if last.contains(want) {
                    return Ok(last);
                }
            }
            if Instant::now() > deadline {
                bail!("`{css}` never contained {want:?} (last text: {last:?}) on {}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the path is `path`.
    pub async fn wait_path(&self, path: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(url) = self.client.current_url().await
                && url.path() == path
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("never reached {path}; at {}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css).await?;
        el.clear().await?;
        el.send_keys(text).await.with_context(|| format!("typing into {css}"))
    }

    /// The value of `attr` on the element `css` (waiting for the element).
    pub async fn attr(&self, css: &str, attr: &str) -> Result<String> {
        Ok(self.find(css).await?.attr(attr).await?.unwrap_or_default())
    }

    /// Waits until nothing matches `css`.
    pub async fn gone(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        while self.client.find(Locator::Css(css)).await.is_ok() {
            if Instant::now() > deadline {
                bail!("`{css}` still there after {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Logs in through the form and waits for the phone to be ready.
    pub async fn log_in(&self, stack: &Stack, email: &str, password: &str) -> Result<()> {
        self.goto(&stack.url("/login")).await?;
        self.fill("#email", email).await?;
        self.fill("#password", password).await?;
        self.click("#submit").await?;
        self.wait_text("#phone-status", "Ready").await.map(|_| ())
    }

    /// Sets the value of the input `css` as if typed whole (date inputs take typing only in
    /// the browser's own date format), firing `input` and `change`.
    pub async fn set_value(&self, css: &str, value: &str) -> Result<()> {
        self.find(css).await?;
        let js = "const e = document.querySelector(arguments[0]); e.value = arguments[1];\
                  e.dispatchEvent(new Event('input', {bubbles: true}));\
                  e.dispatchEvent(new Event('change', {bubbles: true}));";
        self.client.execute(js, vec![css.into(), value.into()]).await.with_context(|| format!("setting {css}"))?;
        Ok(())
    }

    /// Chooses the option with `value` in the `<select>` `css`.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        self.find(css).await?.select_by_value(value).await.with_context(|| format!("choosing {value:?} in {css}"))
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.find(css).await?.click().await.with_context(|| format!("clicking {css}"))
    }

    pub async fn screenshot(&self, name: &str) -> Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(artifacts_dir().join(format!("{name}.png")), png)?;
        Ok(())
    }

    async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }
}
