//! Settings: built-in defaults, then an optional TOML file, then environment variables.
//!
//! The file is `callplat.toml` in the working directory, or the path in `CALLPLAT_CONFIG`.
//! Every key can be set from the environment as `CALLPLAT_<SECTION>__<KEY>` (for example
//! `CALLPLAT_HTTP__BIND=0.0.0.0:8080`). A few well-known variables are honoured as well:
//! `DATABASE_URL`, `ADMIN_EMAIL`, `ADMIN_PASSWORD`.

use std::{fmt, net::SocketAddr, path::PathBuf};

use anyhow::Context;
use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the SQLite database and generated secrets live.
    pub data_dir: PathBuf,
    /// The built web app (Trunk's `dist`). Not served when absent.
    pub web_dist: Option<PathBuf>,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub calls: CallSettings,
    pub routing: RoutingSettings,
    pub ice: IceSettings,
    pub gateway: GatewaySettings,
    pub payments: PaymentSettings,
    /// The admin account created at start-up if it does not exist yet.
    pub admin: Option<AdminSeed>,
}

/// Card top-ups through Stripe Checkout. Enabled when both keys are set (also read from
/// `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET` and `STRIPE_API_BASE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentSettings {
    pub stripe_secret_key: Option<Secret>,
    /// The signing secret of the webhook endpoint (`whsec_…`) that points at `/api/stripe/webhook`.
    pub stripe_webhook_secret: Option<Secret>,
    /// Stripe's API base URL; tests point it at a fake.
    pub stripe_api_base: Option<String>,
    /// ISO 4217 code of balances and top-ups, lower case.
    pub currency: String,
    /// Bounds of one top-up, decimal text in `currency`.
    pub min_topup: String,
    pub max_topup: String,
    /// Amounts the top-up page offers as buttons.
    pub presets: Vec<String>,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_api_base: None,
            currency: "usd".into(),
            min_topup: "5".into(),
            max_topup: "500".into(),
            presets: vec!["10".into(), "20".into(), "50".into()],
        }
    }
}

/// The in-process PSTN gateway (see the `gateway` crate).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    pub enabled: bool,
    /// SIP on UDP and TCP. Port 0 picks a free port (tests).
    pub sip_bind: SocketAddr,
    /// The one UDP port every browser's media uses.
    pub webrtc_bind: SocketAddr,
    /// The address browsers send media to, when it differs from `webrtc_bind` (NAT, 0.0.0.0).
    pub webrtc_public_ip: Option<std::net::IpAddr>,
    /// Carrier RTP sockets (an ephemeral port per call) bind here; SDP advertises
    /// `rtp_public_ip` when set.
    pub rtp_bind_ip: std::net::IpAddr,
    pub rtp_public_ip: Option<std::net::IpAddr>,
    /// A call whose carrier sends no RTP for this long ends with `media_timeout`.
    pub media_timeout_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        let lo = std::net::IpAddr::from([127, 0, 0, 1]);
        Self {
            enabled: true,
            sip_bind: SocketAddr::new(lo, 5060),
            webrtc_bind: SocketAddr::new(lo, 10000),
            webrtc_public_ip: None,
            rtp_bind_ip: lo,
            rtp_public_ip: None,
            media_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Port 0 picks a free port (tests do this).
    pub bind: SocketAddr,
    /// The URL people reach the app at; `https://…` makes cookies `Secure`.
    pub public_url: Option<String>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Origins allowed to open the WebSocket, besides the server's own (`Host`) and `public_url`.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallSettings {
    /// How long a call rings before it ends with `no_answer`.
    pub ring_timeout_secs: u64,
    /// How long a device whose socket dropped has to come back before its call ends.
    pub reconnect_grace_secs: u64,
    /// A socket with no traffic (pongs included) for this long is dead.
    pub ws_idle_timeout_secs: u64,
    /// Messages a socket may send per second (bursts of twice that are allowed).
    pub ws_messages_per_second: u32,
    /// Run the billing worker that posts ended calls (off only in tests that stop it).
    pub billing_worker: bool,
    /// The sweeper ends open calls past their paid-until deadline, or not seen alive, by this
    /// much.
    pub sweep_grace_secs: u64,
    /// The price of a browser-to-browser call to its caller, per minute, decimal text: "0" (the
    /// default) makes them free.
    pub browser_per_minute: String,
    pub browser_connection_fee: String,
    /// Billing increments of browser calls, in seconds.
    pub browser_first_increment: u32,
    pub browser_next_increment: u32,
}

impl CallSettings {
    /// The browser-call tariff; `None` when such calls are free.
    pub fn browser_tariff(&self) -> anyhow::Result<Option<crate::rating::Tariff>> {
        use crate::rating::{Money, Tariff};
        let money =
            |name: &str, text: &str| Money::parse(text).map_err(|e| anyhow::anyhow!("calls.{name} {text:?}: {e}"));
        let per_minute = money("browser_per_minute", &self.browser_per_minute)?;
        let fee = money("browser_connection_fee", &self.browser_connection_fee)?;
        if per_minute == Money::ZERO && fee == Money::ZERO {
            return Ok(None);
        }
        let t = Tariff::new(per_minute, fee, 0, self.browser_first_increment, self.browser_next_increment)
            .map_err(|e| anyhow::anyhow!("calls.browser_*: {e}"))?;
        Ok(Some(t))
    }
}

/// Least-cost routing, failover and carrier health.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// Route through carriers that buy at or above the sell price.
    pub allow_loss: bool,
    /// Carriers a call tries at most.
    pub max_attempts: usize,
    /// Final SIP codes that fail over to the next carrier: "408, 480, 500-599".
    pub failover_codes: String,
    /// A gateway silent (not even 100 Trying) this long is given up; 0: the SIP timeout (32 s).
    pub trying_timeout_ms: u64,
    /// A carrier that has not rung (18x) this long after the INVITE is given up; 0: never.
    pub ringing_timeout_secs: u64,
    /// Consecutive carrier failures that open its circuit...
    pub breaker_failures: usize,
    /// ...for this long; then one call is let through as a probe.
    pub breaker_cooldown_secs: u64,
    /// SIP OPTIONS to every enabled carrier's gateways this often; 0: off.
    pub options_interval_secs: u64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            allow_loss: false,
            max_attempts: 3,
            failover_codes: "408, 480, 500-599".into(),
            trying_timeout_ms: 2000,
            ringing_timeout_secs: 0,
            breaker_failures: 5,
            breaker_cooldown_secs: 60,
            options_interval_secs: 30,
        }
    }
}

/// STUN/TURN servers handed to browsers. With `turn_secret`, clients get short-lived TURN
/// credentials per the TURN REST API (coturn's `use-auth-secret` / `static-auth-secret`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IceSettings {
    pub stun_urls: Vec<String>,
    pub turn_urls: Vec<String>,
    pub turn_secret: Option<Secret>,
    pub turn_ttl_secs: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`. Default: `sqlite://<data_dir>/callplat.db`.
    pub url: Option<String>,
    pub max_connections: Option<u32>,
}

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens. Default: generated once into `<data_dir>/jwt_secret`.
    pub jwt_secret: Option<Secret>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    /// Login attempts allowed per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// Login attempts allowed per account (email) per minute.
    pub login_per_account_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A `tracing` filter, overridden by `RUST_LOG`.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSeed {
    pub email: String,
    /// When absent, a password is generated and printed once.
    pub password: Option<Secret>,
}

/// A string that never shows in logs or `Debug` output.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "…"))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl_secs", &self.access_ttl_secs)
            .field("refresh_ttl_secs", &self.refresh_ttl_secs)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            web_dist: None,
            http: HttpSettings::default(),
            database: DatabaseSettings::default(),
            auth: AuthSettings::default(),
            log: LogSettings::default(),
            calls: CallSettings::default(),
            routing: RoutingSettings::default(),
            ice: IceSettings::default(),
            gateway: GatewaySettings::default(),
            payments: PaymentSettings::default(),
            admin: None,
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            body_limit: 64 * 1024,
            allowed_origins: vec![],
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "callplat".into(),
            audience: "callplat".into(),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 10,
        }
    }
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 45,
            reconnect_grace_secs: 20,
            ws_idle_timeout_secs: 20,
            ws_messages_per_second: 20,
            billing_worker: true,
            sweep_grace_secs: 15,
            browser_per_minute: "0".into(),
            browser_connection_fee: "0".into(),
            browser_first_increment: 60,
            browser_next_increment: 60,
        }
    }
}

impl Default for IceSettings {
    fn default() -> Self {
        Self { stun_urls: vec![], turn_urls: vec![], turn_secret: None, turn_ttl_secs: 3600 }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, filter: "info,sqlx=warn,sea_orm=warn".into() }
    }
}

impl Settings {
    /// Defaults ← `callplat.toml` (or `$CALLPLAT_CONFIG`) ← `CALLPLAT_*` ← well-known variables.
    pub fn load() -> anyhow::Result<Self> {
        let file =
            std::env::var_os("CALLPLAT_CONFIG").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("callplat.toml"));
        let mut settings: Settings = Figment::new()
            .merge(Toml::file(&file))
            .merge(Env::prefixed("CALLPLAT_").split("__").ignore(&["config"]))
            .extract()
            .with_context(|| format!("reading settings ({} and CALLPLAT_* variables)", file.display()))?;
        if let Some(url) = env_nonempty("DATABASE_URL") {
            settings.database.url = Some(url);
        }
        if let Some(email) = env_nonempty("ADMIN_EMAIL") {
            let password = env_nonempty("ADMIN_PASSWORD").map(Secret);
            settings.admin = Some(AdminSeed { email, password });
        }
        if let Some(key) = env_nonempty("STRIPE_SECRET_KEY") {
            settings.payments.stripe_secret_key = Some(Secret(key));
        }
        if let Some(secret) = env_nonempty("STRIPE_WEBHOOK_SECRET") {
            settings.payments.stripe_webhook_secret = Some(Secret(secret));
        }
        if let Some(base) = env_nonempty("STRIPE_API_BASE") {
            settings.payments.stripe_api_base = Some(base);
        }
        Ok(settings)
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("callplat.db").display()),
        }
    }

    /// True when cookies must carry `Secure`.
    pub fn https(&self) -> bool {
        self.http.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
