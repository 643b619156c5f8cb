//! The application as a value: `App::build(settings)` connects, migrates, seeds and binds;
//! `port()` says where; `run_until_stopped()` serves until Ctrl-C or SIGTERM.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use rand::{Rng, distributions::Alphanumeric};
use tokio::net::TcpListener;

use crate::{
    auth::{password, tokens::TokenKeys},
    call::CallConfig,
    config::{AdminSeed, Settings},
    domain::{DisplayName, Email, Role},
    http::{self, AppState, Inner, limiter::LoginLimiter},
    signaling::Hub,
    storage::{Db, NewUser},
};

/// How often live calls are stamped as seen (the most a crash can over- or under-count).
const CALL_HEARTBEAT: Duration = Duration::from_secs(5);

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
}

impl App {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating the data directory {}", settings.data_dir.display()))?;
        if let Some(dist) = &settings.web_dist
            && !dist.join("index.html").exists()
        {
            tracing::warn!(dist = %dist.display(), "no built web app there (run `cargo xtask run`); serving the API only");
            settings.web_dist = None;
        }
        let url = settings.database_url();
        let db = Db::connect(&url, settings.database.max_connections)
            .await
            .with_context(|| format!("connecting to the database {}", redact(&url)))?;
        db.migrate().await.context("running migrations")?;
        db.ensure_default_plan(chrono::Utc::now()).await.context("creating the default rate plan")?;
        tracing::info!(database = %redact(&url), "database ready");

        if let Some(seed) = &settings.admin {
            seed_admin(&db, seed).await?;
        }

        let secret = match &settings.auth.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            None => load_or_create_secret(&settings.data_dir.join("jwt_secret"))?,
        };
        anyhow::ensure!(secret.len() >= 32, "auth.jwt_secret must be at least 32 bytes long");
        let a = &settings.auth;
        let keys = TokenKeys::new(&secret, &a.issuer, &a.audience, a.access_ttl_secs);
        let limiter = LoginLimiter::new(a.login_per_ip_per_minute, a.login_per_account_per_minute);

        let listener =
            TcpListener::bind(settings.http.bind).await.with_context(|| format!("binding {}", settings.http.bind))?;
        let orphans = db.end_orphaned_calls("server_restart", chrono::Utc::now()).await?;
        if orphans > 0 {
            tracing::warn!(orphans, "closed the records of calls that were live when the server stopped");
        }
        let c = &settings.calls;
        let call_config = CallConfig {
            ring_timeout: Duration::from_secs(c.ring_timeout_secs),
            reconnect_grace: Duration::from_secs(c.reconnect_grace_secs),
        };
        let gateway = if settings.gateway.enabled { Some(start_gateway(&settings.gateway).await?) } else { None };
        let (gateway, gateway_events) = gateway.unzip();
        let browser_tariff = c.browser_tariff()?;
        let hub = Hub::new(db.clone(), call_config, gateway);
        hub.set_browser_tariff(browser_tariff);
        crate::billing::spawn_sweeper(hub.clone(), CALL_HEARTBEAT, Duration::from_secs(c.sweep_grace_secs));
        crate::signaling::live::spawn(hub.clone());
        if c.billing_worker {
            crate::billing::spawn_worker(hub.clone());
        }
        if let Some(mut events) = gateway_events {
            let hub = hub.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    hub.gateway_event(event).await;
                }
            });
        }
        let payments = crate::payments::Payments::from_settings(&settings.payments).context("payment settings")?;
        if payments.stripe.is_none() {
            tracing::info!("card top-ups are off: STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are not set");
        }
        let rules = crate::lcr::Rules::from_settings(&settings.routing).context("routing settings")?;
        let pings = Arc::new(crate::pings::Pings::default());
        let registrations = Arc::new(crate::registrations::Registrations::default());
        if let Some(gw) = hub.gateway() {
            crate::registrations::spawn(db.clone(), gw.clone(), registrations.clone());
        }
        if let Some(gw) = hub.gateway()
            && settings.routing.options_interval_secs > 0
        {
            let every = Duration::from_secs(settings.routing.options_interval_secs);
            crate::pings::spawn(db.clone(), gw.clone(), pings.clone(), every);
        }
        let routes = Arc::new(crate::routing::table::LiveTable::default());
        let rebuild_routes = Arc::new(tokio::sync::Notify::new());
        crate::lcr::start(db.clone(), routes.clone(), rebuild_routes.clone())
            .await
            .context("building the routing table")?;
        let state = AppState::new(Inner {
            db,
            keys,
            settings,
            limiter,
            hub,
            payments,
            routes,
            rules,
            pings,
            registrations,
            rebuild_routes,
            deck_jobs: crate::http::decks::ImportJobs::new(),
        });
        let router = http::router(state.clone());
        Ok(Self { listener, router, state })
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        // Forgets devices whose grace ran out and calls that finished.
        let hub = self.state.hub.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                hub.sweep();
            }
        });
        let served = axum::serve(self.listener, service).with_graceful_shutdown(stop).await;
        sweeper.abort();
        if let Some(gw) = self.state.hub.gateway() {
            gw.shutdown();
        }
        self.state.hub.wait_idle(Duration::from_secs(2)).await;
        served
    }
}

async fn start_gateway(
    g: &crate::config::GatewaySettings,
) -> anyhow::Result<(gateway::Gateway, tokio::sync::mpsc::UnboundedReceiver<protocol::gateway::Event>)> {
    let config = gateway::Config {
        sip_bind: g.sip_bind,
        webrtc_bind: g.webrtc_bind,
        webrtc_public: g.webrtc_public_ip,
        rtp_bind: g.rtp_bind_ip,
        rtp_public: g.rtp_public_ip,
        media_timeout: Duration::from_secs(g.media_timeout_secs),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let gw = gateway::Gateway::start(config, tx).await.context("starting the PSTN gateway")?;
    Ok((gw, rx))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Creates the admin account unless it exists. A generated password is printed once, here.
async fn seed_admin(db: &Db, seed: &AdminSeed) -> anyhow::Result<()> {
    let email = Email::parse(&seed.email).map_err(|e| anyhow::anyhow!("ADMIN_EMAIL {:?} {e}", seed.email))?;
    if db.credentials_by_email(&email).await?.is_some() {
        tracing::info!(email = email.as_str(), "admin account exists");
        return Ok(());
    }
    let (pass, generated) = match &seed.password {
        Some(p) => (p.expose().to_string(), false),
        None => (rand::thread_rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect(), true),
    };
    crate::domain::NewPassword::parse(&pass).map_err(|e| anyhow::anyhow!("ADMIN_PASSWORD {e}"))?;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pass).map(|h| (h, pass))).await??;
    let name = DisplayName::parse("Administrator").expect("a valid name");
    let new = NewUser { email: &email, display_name: &name, password_hash: &hash.0, role: Role::Admin };
    db.create_user(new, chrono::Utc::now()).await?.map_err(|_| anyhow::anyhow!("admin email taken"))?;
    if generated {
        println!(
            "\n  Admin account created. Log in with:\n    email:    {}\n    password: {}\n  (shown once; change it on the Profile page)\n",
            email.as_str(),
            hash.1
        );
    } else {
        println!("\n  Admin account created: {} (password from ADMIN_PASSWORD)\n", email.as_str());
    }
    Ok(())
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Ok(existing) = std::fs::read(path) {
        return Ok(existing);
    }
    let secret: String = rand::thread_rng().sample_iter(&Alphanumeric).take(64).map(char::from).collect();
    std::fs::write(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    restrict(path)?;
    Ok(secret.into_bytes())
}

fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

/// `postgres://user:secret@host/db` → `postgres://user:…@host/db`
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:…{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(super::redact("postgres://u:pw@h:5/db"), "postgres://u:…@h:5/db");
        assert_eq!(super::redact("sqlite://data/x.db?mode=rwc"), "sqlite://data/x.db?mode=rwc");
    }
}
