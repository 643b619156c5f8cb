//! REST bodies: requests the browser sends and responses the server returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /api/auth/signup`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub display_name: String,
}

/// `POST /api/auth/login`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// Answer to signup, login, refresh and change of password. The refresh token is never in the
/// body: it travels only in an `HttpOnly` cookie scoped to `/api/auth`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// A JWT for `Authorization: Bearer …`.
    pub access_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    pub user: User,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    /// ISO 3166-1 alpha-2 (e.g. `GB`): numbers typed in national format are read as this
    /// country's. `None`: only international format (`+44…`).
    #[serde(default)]
    pub country: Option<String>,
    /// A card payment of theirs was disputed: card top-ups are refused until an admin clears it.
    #[serde(default)]
    pub under_review: bool,
    /// Their retail rate plan; `None`: the default plan.
    #[serde(default)]
    pub rate_plan_id: Option<i64>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `PATCH /api/me`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UpdateProfile {
    pub display_name: String,
    /// Absent: unchanged; `""`: cleared; else two letters like `GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// `POST /api/me/password`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Query of `GET /api/admin/users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserQuery {
    /// Matches email or display name, case-insensitively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
}

/// `PATCH /api/admin/users/{id}`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdminUpdateUser {
    pub disabled: bool,
}

/// An ICE server for `RTCPeerConnection`: STUN, or TURN with short-lived credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `GET /api/ice-servers`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    /// Seconds the TURN credentials stay valid (absent without TURN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// A person one can call: `GET /api/directory?q=` and `GET /api/contacts/recent`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Contact {
    pub id: i64,
    pub display_name: String,
    pub email: String,
    pub online: bool,
}

/// `GET /api/calls` items: the signed-in user's call history, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallRecord {
    pub id: String,
    /// `outgoing` or `incoming`, from the signed-in user's side.
    pub direction: String,
    pub peer: Option<Contact>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    /// Talk time in whole seconds (0 when never answered).
    pub duration_secs: u64,
    /// Stable end cause code; absent while the call is live.
    pub cause: Option<String>,
    /// The cause in words.
    pub cause_text: Option<String>,
    /// A phone call's far end (E.164): the number dialled, or the number that called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// The carrier a phone call went through, as it was named then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// What the call was charged (micro-units), once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_micros: Option<i64>,
    /// The carrier leg's final SIP status (200 answered, 486 busy, 487 cancelled...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_code: Option<u16>,
}

/// `GET /api/me/balance`, `GET /api/admin/users/{id}/balance`. Money is in micro-units
/// (1 unit = 1 000 000), exact integers; never floats.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Balance {
    pub balance_micros: i64,
    pub credit_limit_micros: i64,
    /// What calls may spend now: balance + credit limit (− reservations of live calls).
    pub available_micros: i64,
}

/// One entry of an account's statement (`GET /api/me/ledger`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LedgerLine {
    pub id: i64,
    /// `adjustment`, `payment`, `call`, …
    pub kind: String,
    /// What the entry is for, within `kind`: the call id, the payment id, …
    #[serde(default)]
    pub source_id: String,
    pub description: String,
    /// Positive credits the account, negative debits it.
    pub amount_micros: i64,
    /// RFC 3339, UTC.
    pub at: String,
}

/// `POST /api/admin/users/{id}/adjustments`: credit (positive) or debit (negative).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Adjustment {
    /// Decimal text, e.g. `"12.50"` or `"-3"`; up to 6 decimals.
    pub amount: String,
    /// Why; required, recorded in the ledger and the audit log.
    pub reason: String,
    /// Makes a retried request harmless: the same key is posted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A retail rate plan (`GET /api/admin/rate-plans`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RatePlan {
    pub id: i64,
    pub name: String,
    /// Users without a plan of their own are on this one.
    pub is_default: bool,
}

/// `POST /api/admin/rate-plans`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewRatePlan {
    pub name: String,
}

/// `PATCH /api/admin/rate-plans/{id}`: a new name, and/or `is_default: true` to make it the
/// plan of users who have none (there is always one default; make another one default instead
/// of unsetting it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RatePlanUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_default: Option<bool>,
}

/// What users on a plan pay to call numbers starting with `prefix`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RetailRate {
    pub id: i64,
    pub prefix: String,
    pub description: String,
    pub per_minute_micros: i64,
    pub connection_fee_micros: i64,
    pub min_duration: u32,
    pub first_increment: u32,
    pub next_increment: u32,
    /// RFC 3339, UTC; the rate applies from then until `effective_until` (exclusive).
    pub effective_from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<String>,
}

/// `POST /api/admin/rate-plans/{id}/rates`. Prices are decimal text (`"0.012"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RetailRateInput {
    /// Digits of the E.164 number, a leading `+` allowed: `44`, `+4420`.
    pub prefix: String,
    #[serde(default)]
    pub description: String,
    pub per_minute: String,
    #[serde(default)]
    pub connection_fee: Option<String>,
    #[serde(default)]
    pub min_duration: Option<u32>,
    /// Billing increments in seconds; 60/60 when absent.
    #[serde(default)]
    pub first_increment: Option<u32>,
    #[serde(default)]
    pub next_increment: Option<u32>,
    /// RFC 3339; now when absent.
    #[serde(default)]
    pub effective_from: Option<String>,
    #[serde(default)]
    pub effective_until: Option<String>,
}

/// `PUT /api/admin/users/{id}/rate-plan`; `null` puts the user on the default plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserRatePlan {
    pub rate_plan_id: Option<i64>,
}

/// Answer to `POST /api/admin/rate-plans/{id}/rates.csv`: how many rates the file held and
/// when they take effect (RFC 3339).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RatesImported {
    pub rows: u64,
    pub effective_from: String,
}

/// `GET /api/rates/quote?number=…`: what calling a number costs the signed-in user now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quote {
    /// E.164.
    pub number: String,
    pub rate: RetailRate,
    pub available_micros: i64,
    /// How long the user's money lasts at this rate; `None` when it does not cover the start.
    pub affordable_secs: Option<u64>,
}

/// `GET /api/topups/config`: whether card top-ups are available and their bounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopupConfig {
    /// `false` when the server has no Stripe keys: the UI says so, admins credit manually.
    pub enabled: bool,
    /// ISO 4217, lower case (`usd`): the currency of balances and top-ups.
    pub currency: String,
    pub min_micros: i64,
    pub max_micros: i64,
    /// Amounts offered as buttons.
    pub presets_micros: Vec<i64>,
}

/// `POST /api/topups`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewTopup {
    /// Decimal text in the platform currency, e.g. `"20"` or `"12.50"`; at most the
    /// currency's decimals (2 for `usd`).
    pub amount: String,
}

/// Answer to `POST /api/topups`: send the browser to `url` (the payment page).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopupCheckout {
    pub topup: Topup,
    pub url: String,
}

/// Where a top-up stands. Derived from what the payment provider reported, whatever the
/// order of its notifications.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TopupStatus {
    /// Checkout started; no payment yet.
    Pending,
    Paid,
    /// Part of the payment was refunded (`refunded_micros` says how much).
    PartiallyRefunded,
    Refunded,
    /// The card holder disputed the payment; the amount was taken back.
    Disputed,
    /// Checkout was abandoned or expired.
    Expired,
}

/// One top-up (`GET /api/topups`, the receipts list; `GET /api/topups/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Topup {
    pub id: i64,
    pub amount_micros: i64,
    pub currency: String,
    pub status: TopupStatus,
    pub refunded_micros: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
}

/// `PUT /api/admin/users/{id}/credit-limit`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreditLimit {
    /// Decimal text, ≥ 0.
    pub credit_limit: String,
}

/// How a carrier's gateway is reached.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

/// What outbound calls through a carrier show as the caller's number.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum CallerIdPolicy {
    /// The calling user's first DID, else `caller_id_number`, else anonymous.
    #[default]
    UserDid,
    /// Always `caller_id_number`.
    Fixed,
    /// `anonymous`.
    Anonymous,
}

/// One SIP proxy address of a carrier; a carrier's gateways are tried in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CarrierGateway {
    /// An IP address or a DNS name.
    pub host: String,
    /// 1..=65535.
    #[serde(default = "default_sip_port")]
    pub port: u32,
    #[serde(default)]
    pub transport: Transport,
    /// 0 to 100, lower first.
    #[serde(default)]
    pub priority: u32,
    /// 1 to 1000: within a priority, how often this gateway is tried first.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

fn default_sip_port() -> u32 {
    5060
}

fn default_true() -> bool {
    true
}

/// A carrier (SIP trunk): `GET /api/admin/carriers`, `GET /api/admin/carriers/{id}`. The
/// password is never sent back; `has_password` says whether one is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Carrier {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub username: Option<String>,
    pub has_password: bool,
    /// The host in the `From` URI of outbound INVITEs.
    pub from_domain: Option<String>,
    pub caller_id_policy: CallerIdPolicy,
    /// E.164.
    pub caller_id_number: Option<String>,
    /// Removed from the front of the E.164 number before dialing (e.g. `+`, `+44`).
    pub strip_prefix: String,
    /// Put in front after stripping (e.g. `0`, `00`).
    pub prepend: String,
    /// Canonical CIDRs; INVITEs are accepted only from these.
    pub inbound_cidrs: Vec<String>,
    pub gateways: Vec<CarrierGateway>,
    /// Concurrent calls through this carrier at most (`None`: no limit).
    #[serde(default)]
    pub max_calls: Option<u32>,
    /// New calls per second at most (`None`: no limit).
    #[serde(default)]
    pub max_cps: Option<u32>,
    /// The platform REGISTERs with the carrier (its first gateway, with the digest credentials).
    #[serde(default)]
    pub register: bool,
    /// The registration time asked for, in seconds; refreshed before it runs out.
    #[serde(default = "default_register_expires")]
    pub register_expires: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /api/admin/carriers`, `PUT /api/admin/carriers/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CarrierInput {
    /// 1 to 64 characters, unique.
    pub name: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub username: Option<String>,
    /// Write-only. Absent: unchanged (none on create); `""`: cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub from_domain: Option<String>,
    #[serde(default)]
    pub caller_id_policy: CallerIdPolicy,
    /// E.164 in international format; required for `fixed`, ignored for `anonymous`.
    #[serde(default)]
    pub caller_id_number: Option<String>,
    /// `+` and digits, at most 16.
    #[serde(default)]
    pub strip_prefix: String,
    /// `+` and digits, at most 16.
    #[serde(default)]
    pub prepend: String,
    /// Networks (`192.0.2.0/24`) or single addresses.
    #[serde(default)]
    pub inbound_cidrs: Vec<String>,
    /// 1 to 8, in order.
    pub gateways: Vec<CarrierGateway>,
    /// 1 to 100000, or absent for no limit.
    #[serde(default)]
    pub max_calls: Option<u32>,
    /// 1 to 10000, or absent for no limit.
    #[serde(default)]
    pub max_cps: Option<u32>,
    /// REGISTER with the carrier (needs a username).
    #[serde(default)]
    pub register: bool,
    /// 60 to 86400 seconds; 3600 when absent.
    #[serde(default = "default_register_expires")]
    pub register_expires: u32,
}

fn default_register_expires() -> u32 {
    3600
}

/// A telephone number that rings a user: `GET /api/admin/dids`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Did {
    pub id: i64,
    /// E.164.
    pub number: String,
    pub user_id: i64,
    pub user_email: String,
    pub user_display_name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `POST /api/admin/dids`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DidInput {
    /// International format (`+44 20 7946 0123`); stored as E.164.
    pub number: String,
    pub user_id: i64,
}

/// Query of `GET /api/admin/dids`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DidQuery {
    /// Matches the number, or the owner's email or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// 1-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

/// `GET /healthz`, `GET /readyz`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    pub status: String,
}

/// Every error response: `{"error": {...}}` with a stable `code`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation`, `invalid_credentials`, `account_disabled`, …
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// Per-field reasons for `validation` errors, keyed by the request field's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

/// The stable error codes, so web and server cannot drift apart.
pub mod codes {
    pub const VALIDATION: &str = "validation";
    pub const BAD_REQUEST: &str = "bad_request";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const TOKEN_EXPIRED: &str = "token_expired";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    pub const FORBIDDEN: &str = "forbidden";
    pub const NOT_FOUND: &str = "not_found";
    pub const CONFLICT: &str = "conflict";
    pub const EMAIL_TAKEN: &str = "email_taken";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const INTERNAL: &str = "internal";
    pub const UNDER_REVIEW: &str = "under_review";
    pub const PAYMENTS_UNAVAILABLE: &str = "payments_unavailable";
    pub const PAYMENT_PROVIDER_ERROR: &str = "payment_provider_error";
}

/// One version of a carrier's buy deck (`GET /api/admin/carriers/{id}/decks`, and the answer
/// to an import).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deck {
    pub id: i64,
    pub carrier_id: i64,
    /// RFC 3339, UTC.
    pub effective_from: String,
    pub created_at: String,
    pub rows: u64,
    /// In effect now (the routing table uses it).
    pub active: bool,
}

/// How far a deck import has got (`GET /api/admin/deck-imports/{job}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeckImport {
    pub job: u64,
    pub carrier_id: i64,
    /// `receiving`, `checking`, `writing`, `done`, `refused`, `failed`.
    pub state: String,
    pub bytes: u64,
    pub rows_checked: u64,
    pub rows_written: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deck: Option<Deck>,
}

/// `GET /api/admin/routes/simulate?number=&user_id=`: what would happen if that number were
/// dialled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteSimulation {
    /// E.164.
    pub number: String,
    /// The retail rate it would sell at; `None`: not allowed on the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sell: Option<RetailRate>,
    /// Carriers to try, in order.
    pub routes: Vec<RouteVerdict>,
    /// Every carrier and why it is in or out.
    pub verdicts: Vec<RouteVerdict>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteVerdict {
    pub carrier_id: i64,
    pub carrier_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buy_per_minute_micros: Option<i64>,
    /// `chosen`, `disabled`, `no_prefix`, `circuit_open`, `at_capacity`, `not_profitable`,
    /// `beyond_max_attempts`.
    pub outcome: String,
    /// From 1 for chosen carriers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    /// The reason in words.
    pub explanation: String,
}

/// One try to reach the far end of a call: one carrier, one gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallAttempt {
    pub carrier_id: Option<i64>,
    pub carrier_name: String,
    /// `host:port`.
    pub gateway: Option<String>,
    pub sip_code: Option<u16>,
    /// `answered`, `failed` (a final error response), `timeout`, `transport_error`, `busy`,
    /// `no_answer`, `declined`, `not_found`, `cancelled`.
    pub outcome: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Post-dial delay: INVITE to the first 18x or answer.
    pub pdd_ms: Option<i64>,
    /// Answered attempts: answer to hang-up.
    pub duration_ms: Option<i64>,
}

/// A call record with everything known about it: `GET /api/admin/calls/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallDetail {
    pub id: String,
    /// `webrtc`, `pstn_out`, `pstn_in`.
    pub kind: String,
    pub caller_id: i64,
    pub callee_id: Option<i64>,
    pub number: Option<String>,
    pub carrier_id: Option<i64>,
    pub carrier_name: Option<String>,
    /// Why each carrier was chosen or left out when the call was placed, one line each.
    pub route_plan: Option<String>,
    pub created_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_cause: Option<String>,
    /// The user who ended it, when a person did (a party, or an admin).
    pub ended_by: Option<i64>,
    pub sip_code: Option<u16>,
    pub billable_secs: Option<i64>,
    pub charge_micros: Option<i64>,
    pub buy_cost_micros: Option<i64>,
    pub attempts: Vec<CallAttempt>,
}

/// A carrier's health now and recently: `GET /api/admin/carriers/{id}/health`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CarrierHealth {
    pub carrier_id: i64,
    pub circuit_open: bool,
    /// Over the latest attempts (up to 50), in thousandths; `None` below 10 attempts.
    pub asr_permille: Option<u16>,
    /// Average answered call duration over the latest attempts, in seconds.
    pub acd_secs: Option<i64>,
    /// Average post-dial delay over the latest attempts, in milliseconds.
    pub pdd_ms: Option<i64>,
    pub calls_now: u32,
    pub calls_last_second: u32,
    /// When the carrier is registered with: how that is going.
    pub registration: Option<RegistrationStatus>,
    pub gateways: Vec<GatewayStatus>,
    /// Per hour, oldest first, the last 24 hours that had attempts.
    pub hours: Vec<HealthHour>,
    /// Newest first.
    pub recent: Vec<CallAttemptOf>,
}

/// The platform's registration with a carrier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// `registering`, `registered`, `failed`.
    pub state: String,
    /// The gateway (`host:port`) of the latest try.
    #[serde(default)]
    pub gateway: Option<String>,
    pub code: Option<u16>,
    /// RFC 3339, UTC: when the binding runs out (refreshed before).
    pub expires_at: Option<String>,
    pub error: Option<String>,
    /// RFC 3339, UTC: the latest try.
    pub at: String,
}

/// What the latest OPTIONS ping to one gateway said.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayStatus {
    /// `host:port`.
    pub gateway: String,
    /// `up`, `down` (no answer), `unknown` (not pinged yet).
    pub status: String,
    /// The response code of the latest ping, when one came.
    pub code: Option<u16>,
    pub rtt_ms: Option<u64>,
    /// RFC 3339, UTC.
    pub checked_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthHour {
    /// RFC 3339, UTC, the start of the hour.
    pub hour: String,
    pub attempts: u32,
    pub answered: u32,
    pub asr_permille: u16,
    pub acd_secs: Option<i64>,
    pub pdd_ms: Option<i64>,
}

/// An attempt with the call it belonged to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallAttemptOf {
    pub call_id: String,
    #[serde(flatten)]
    pub attempt: CallAttempt,
}

/// `GET /api/admin/cdrs` and `GET /api/admin/cdrs.csv`: which call records. Every field is
/// optional; they combine with AND. Newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CdrQuery {
    /// RFC 3339 or `YYYY-MM-DD` (UTC): calls started at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// RFC 3339 or `YYYY-MM-DD` (UTC, the whole day): calls started before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The user who called or was called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<i64>,
    /// The far end's number, or its start (`+44`, `+4420`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<i64>,
    /// `webrtc`, `pstn_out`, `pstn_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// `answered` or `failed` (never answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// An end cause code (`normal`, `busy`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Charge at least / at most, as decimal text (`0.10`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_max: Option<String>,
    /// The `next` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// 1 to 200; 50 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One call record in a search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cdr {
    pub id: String,
    /// `webrtc`, `pstn_out`, `pstn_in`.
    pub kind: String,
    pub caller_id: i64,
    pub caller_email: Option<String>,
    pub callee_id: Option<i64>,
    pub callee_email: Option<String>,
    pub number: Option<String>,
    pub carrier_id: Option<i64>,
    pub carrier_name: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub end_cause: Option<String>,
    pub sip_code: Option<u16>,
    pub billable_secs: Option<i64>,
    pub charge_micros: Option<i64>,
    pub buy_cost_micros: Option<i64>,
}

/// A page of call records; `next` asks for the following page (`None`: this is the last).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CdrPage {
    pub items: Vec<Cdr>,
    pub next: Option<String>,
}

/// A call in progress, as the live-calls view shows it (`ServerMsg::LiveCalls`,
/// `GET /api/admin/live-calls`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LiveCall {
    pub id: String,
    /// `webrtc`, `pstn_out`, `pstn_in`.
    pub kind: String,
    pub caller_id: i64,
    /// The caller's display name, or the number calling in.
    pub caller: String,
    /// The callee's display name, or the number dialled.
    pub destination: String,
    pub carrier_name: Option<String>,
    /// `setup`, `ringing`, `answered`.
    pub state: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Seconds since the call started.
    pub duration_secs: u64,
    /// Seconds since it was answered.
    pub talk_secs: u64,
    /// What the call costs its caller so far at its tariff (whole increments).
    pub cost_micros: i64,
}

/// `POST /api/admin/links`: a link to a file (an export), for the browser to save by itself.
/// `path` is the export's path with its query, e.g. `/api/admin/cdrs.csv?number=%2B44`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkRequest {
    pub path: String,
}

/// A signed download link: `url` works without a token, for `expires_in_secs`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub expires_in_secs: u64,
}

/// `POST /api/admin/calls/{id}/end`: what happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallEnded {
    pub call_id: String,
    pub ended_by: i64,
}

/// `GET /api/admin/stats?from&to&bucket`: the platform's figures over a period.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsQuery {
    /// `YYYY-MM-DD` or RFC 3339 (UTC); 7 days before `to` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `YYYY-MM-DD` (the whole day) or RFC 3339 (UTC); now by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `hour` or `day` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// RFC 3339, UTC: the period, `to` excluded.
    pub from: String,
    pub to: String,
    /// `hour` or `day`.
    pub bucket: String,
    /// Every bucket of the period, oldest first (empty ones too, so charts have no gaps).
    pub series: Vec<StatsBucket>,
    /// Money per day, oldest first.
    pub days: Vec<MoneyDay>,
    pub carriers: Vec<CarrierStats>,
    /// Destinations by sell prefix, most minutes first (at most 20).
    pub destinations: Vec<DestinationStats>,
    pub totals: StatsTotals,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsBucket {
    /// RFC 3339, UTC, the bucket's start.
    pub at: String,
    pub calls: u64,
    pub answered: u64,
    /// Billable seconds of the calls started in the bucket.
    pub seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MoneyDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// What callers were charged for calls started that day.
    pub revenue_micros: i64,
    /// What carriers charge us for them.
    pub cost_micros: i64,
    pub margin_micros: i64,
    /// Card top-ups credited that day (net of refunds and disputes).
    pub topups_micros: i64,
    /// Administrators' credits less their debits that day.
    pub adjustments_micros: i64,
    /// Call charges posted to the ledger that day.
    pub charges_micros: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CarrierStats {
    pub carrier_id: Option<i64>,
    pub carrier_name: String,
    pub attempts: u64,
    pub answered: u64,
    /// Answer-seizure ratio, in thousandths (`None` without attempts).
    pub asr_permille: Option<u16>,
    /// Average answered call duration, seconds.
    pub acd_secs: Option<i64>,
    /// Average post-dial delay, milliseconds.
    pub pdd_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DestinationStats {
    /// The retail prefix the calls were sold at.
    pub prefix: String,
    pub calls: u64,
    pub answered: u64,
    pub seconds: u64,
    pub revenue_micros: i64,
    pub cost_micros: i64,
    pub margin_micros: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatsTotals {
    pub calls: u64,
    pub answered: u64,
    pub seconds: u64,
    pub revenue_micros: i64,
    pub cost_micros: i64,
    pub margin_micros: i64,
    pub topups_micros: i64,
    pub adjustments_micros: i64,
    pub charges_micros: i64,
}

/// `GET /api/admin/audit`: newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditQuery {
    /// An action (`user.disable`) or its start (`user.`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What was changed: `user:7`, `carrier:2`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Who made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn error_body_shape() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: codes::VALIDATION.into(),
                message: "some fields are invalid".into(),
                fields: [("email".to_string(), "not an email address".to_string())].into(),
            },
        };
        expect![[r#"{"error":{"code":"validation","message":"some fields are invalid","fields":{"email":"not an email address"}}}"#]]
            .assert_eq(&serde_json::to_string(&body).unwrap());
        let no_fields: ErrorBody = serde_json::from_str(r#"{"error":{"code":"not_found","message":"x"}}"#).unwrap();
        assert!(no_fields.error.fields.is_empty());
    }

    #[test]
    fn carrier_input_defaults() {
        let input: CarrierInput = serde_json::from_str(r#"{"name":"t","gateways":[{"host":"h"}]}"#).unwrap();
        assert!(input.enabled);
        assert_eq!(input.password, None);
        assert_eq!(input.caller_id_policy, CallerIdPolicy::UserDid);
        assert_eq!(
            input.gateways[0],
            CarrierGateway { host: "h".into(), port: 5060, transport: Transport::Udp, priority: 0, weight: 1 }
        );
        expect![[r#""user_did""#]].assert_eq(&serde_json::to_string(&CallerIdPolicy::UserDid).unwrap());
    }

    #[test]
    fn role_is_snake_case() {
        expect![[r#""admin""#]].assert_eq(&serde_json::to_string(&Role::Admin).unwrap());
    }
}
