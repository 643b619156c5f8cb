//! REST calls, typed with `protocol::api`. The only module that speaks HTTP.

use std::collections::BTreeMap;

use gloo_net::http::{Request, RequestBuilder, Response};
use protocol::api;
use serde::{Serialize, de::DeserializeOwned};

/// A failed call: the server's error body, or a stand-in when the network failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

impl ApiError {
    fn network(e: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            code: "network".into(),
            message: format!("Could not reach the server ({e}). Check your connection and try again."),
            fields: BTreeMap::new(),
        }
    }
    /// A reason about one field found here, before asking the server.
    pub fn local_field(name: &str, reason: &str) -> Self {
        Self {
            status: 422,
            code: api::codes::VALIDATION.into(),
            message: "Some fields are invalid.".into(),
            fields: [(name.to_string(), reason.to_string())].into(),
        }
    }
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.get(name).cloned()
    }
}

async fn read<T: DeserializeOwned>(resp: Response) -> Result<T, ApiError> {
    if resp.ok() {
        return resp.json::<T>().await.map_err(ApiError::network);
    }
    let status = resp.status();
    match resp.json::<api::ErrorBody>().await {
        Ok(body) => Err(ApiError {
            status,
            code: body.error.code,
            message: capitalise(&body.error.message),
            fields: body.error.fields,
        }),
        Err(_) => Err(ApiError {
            status,
            code: "http".into(),
            message: format!("The server answered {status} {}.", resp.status_text()),
            fields: BTreeMap::new(),
        }),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn authed(req: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(t) => req.header("Authorization", &format!("Bearer {t}")),
        None => req,
    }
}

async fn send_json<B: Serialize, T: DeserializeOwned>(
    req: RequestBuilder,
    token: Option<&str>,
    body: &B,
) -> Result<T, ApiError> {
    let resp = authed(req, token).json(body).map_err(ApiError::network)?.send().await.map_err(ApiError::network)?;
    read(resp).await
}

async fn get<T: DeserializeOwned>(req: RequestBuilder, token: &str) -> Result<T, ApiError> {
    read(authed(req, Some(token)).send().await.map_err(ApiError::network)?).await
}

pub async fn signup(req: &api::SignupRequest) -> Result<api::Session, ApiError> {
    send_json(Request::post("/api/auth/signup"), None, req).await
}

pub async fn login(req: &api::LoginRequest) -> Result<api::Session, ApiError> {
    send_json(Request::post("/api/auth/login"), None, req).await
}

/// Uses the `HttpOnly` refresh cookie, which the browser sends by itself.
pub async fn refresh() -> Result<api::Session, ApiError> {
    read(Request::post("/api/auth/refresh").send().await.map_err(ApiError::network)?).await
}

pub async fn logout() -> Result<(), ApiError> {
    let resp = Request::post("/api/auth/logout").send().await.map_err(ApiError::network)?;
    if resp.ok() { Ok(()) } else { read::<()>(resp).await }
}

pub async fn update_profile(token: String, req: api::UpdateProfile) -> Result<api::User, ApiError> {
    send_json(Request::patch("/api/me"), Some(&token), &req).await
}

pub async fn change_password(token: String, req: api::ChangePassword) -> Result<api::Session, ApiError> {
    send_json(Request::post("/api/me/password"), Some(&token), &req).await
}

pub async fn list_users(token: String, q: String, page: u32) -> Result<api::Page<api::User>, ApiError> {
    let page = page.to_string();
    get(
        Request::get("/api/admin/users").query([("q", q.as_str()), ("page", page.as_str()), ("per_page", "20")]),
        &token,
    )
    .await
}

pub async fn set_disabled(token: String, id: i64, disabled: bool) -> Result<api::User, ApiError> {
    send_json(Request::patch(&format!("/api/admin/users/{id}")), Some(&token), &api::AdminUpdateUser { disabled }).await
}

/// A request whose success has no body (204).
async fn send_empty(req: RequestBuilder, token: &str) -> Result<(), ApiError> {
    let resp = authed(req, Some(token)).send().await.map_err(ApiError::network)?;
    if resp.ok() { Ok(()) } else { read::<()>(resp).await }
}

pub async fn list_carriers(token: String) -> Result<Vec<api::Carrier>, ApiError> {
    get(Request::get("/api/admin/carriers"), &token).await
}

pub async fn create_carrier(token: String, req: api::CarrierInput) -> Result<api::Carrier, ApiError> {
    send_json(Request::post("/api/admin/carriers"), Some(&token), &req).await
}

pub async fn update_carrier(token: String, id: i64, req: api::CarrierInput) -> Result<api::Carrier, ApiError> {
    send_json(Request::put(&format!("/api/admin/carriers/{id}")), Some(&token), &req).await
}

pub async fn delete_carrier(token: String, id: i64) -> Result<(), ApiError> {
    send_empty(Request::delete(&format!("/api/admin/carriers/{id}")), &token).await
}

pub async fn list_dids(token: String, q: String, page: u32) -> Result<api::Page<api::Did>, ApiError> {
    let page = page.to_string();
    get(Request::get("/api/admin/dids").query([("q", q.as_str()), ("page", page.as_str()), ("per_page", "20")]), &token)
        .await
}

pub async fn create_did(token: String, req: api::DidInput) -> Result<api::Did, ApiError> {
    send_json(Request::post("/api/admin/dids"), Some(&token), &req).await
}

pub async fn delete_did(token: String, id: i64) -> Result<(), ApiError> {
    send_empty(Request::delete(&format!("/api/admin/dids/{id}")), &token).await
}

pub async fn directory(token: String, q: String) -> Result<Vec<api::Contact>, ApiError> {
    get(Request::get("/api/directory").query([("q", q.as_str())]), &token).await
}

pub async fn quote(token: String, number: String) -> Result<api::Quote, ApiError> {
    get(Request::get("/api/rates/quote").query([("number", number.as_str())]), &token).await
}

pub async fn recent_contacts(token: String) -> Result<Vec<api::Contact>, ApiError> {
    get(Request::get("/api/contacts/recent"), &token).await
}

pub async fn call_history(token: String, page: u32) -> Result<api::Page<api::CallRecord>, ApiError> {
    let page = page.to_string();
    get(Request::get("/api/calls").query([("page", page.as_str()), ("per_page", "20")]), &token).await
}

pub async fn balance(token: String) -> Result<api::Balance, ApiError> {
    get(Request::get("/api/me/balance"), &token).await
}

pub async fn me(token: String) -> Result<api::User, ApiError> {
    get(Request::get("/api/me"), &token).await
}

pub async fn topup_config(token: String) -> Result<api::TopupConfig, ApiError> {
    get(Request::get("/api/topups/config"), &token).await
}

/// Opens a card payment; the answer's `url` is the payment page to send the browser to.
pub async fn create_topup(token: String, req: api::NewTopup) -> Result<api::TopupCheckout, ApiError> {
    send_json(Request::post("/api/topups"), Some(&token), &req).await
}

/// The user's top-ups (the receipts), newest first.
pub async fn my_ledger(token: String, page: u32) -> Result<api::Page<api::LedgerLine>, ApiError> {
    let page = page.to_string();
    get(Request::get("/api/me/ledger").query([("page", page.as_str()), ("per_page", "20")]), &token).await
}

pub async fn list_topups(token: String, page: u32) -> Result<api::Page<api::Topup>, ApiError> {
    let page = page.to_string();
    get(Request::get("/api/topups").query([("page", page.as_str()), ("per_page", "20")]), &token).await
}

pub async fn topup(token: String, id: i64) -> Result<api::Topup, ApiError> {
    get(Request::get(&format!("/api/topups/{id}")), &token).await
}

/// Lifts the review a disputed payment put the account under; answers the updated user.
pub async fn clear_review(token: String, id: i64) -> Result<api::User, ApiError> {
    get(Request::delete(&format!("/api/admin/users/{id}/review")), &token).await
}

/// Micro-units as money text: at least two decimals, more only when they are not zero
/// (`12.50`, `19.999999`, `-0.01`). Integer arithmetic only.
pub fn money(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let frac = format!("{:06}", abs % 1_000_000);
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 2 { format!("{frac:0<2}") } else { frac.to_string() };
    format!("{sign}{}.{frac}", abs / 1_000_000)
}

/// Uploads a carrier's buy deck (the file as is, streamed by the browser).
pub async fn upload_deck(
    token: String,
    carrier: i64,
    effective_from: Option<String>,
    file: web_sys::File,
) -> Result<api::Deck, ApiError> {
    post_csv(effective(Request::post(&format!("/api/admin/carriers/{carrier}/decks")), &effective_from), &token, file)
        .await
}

/// `req` with `?effective_from=` when one is given.
fn effective(req: RequestBuilder, effective_from: &Option<String>) -> RequestBuilder {
    match effective_from {
        Some(from) => req.query([("effective_from", from.as_str())]),
        None => req,
    }
}

pub async fn decks(token: String, carrier: i64) -> Result<Vec<api::Deck>, ApiError> {
    get(Request::get(&format!("/api/admin/carriers/{carrier}/decks")), &token).await
}

pub async fn deck_imports(token: String) -> Result<Vec<api::DeckImport>, ApiError> {
    get(Request::get("/api/admin/deck-imports"), &token).await
}

pub async fn simulate_route(token: String, number: String) -> Result<api::RouteSimulation, ApiError> {
    get(Request::get("/api/admin/routes/simulate").query([("number", number.as_str())]), &token).await
}

pub async fn carrier_health(token: String, carrier: i64) -> Result<api::CarrierHealth, ApiError> {
    get(Request::get(&format!("/api/admin/carriers/{carrier}/health")), &token).await
}

pub async fn carrier(token: String, carrier: i64) -> Result<api::Carrier, ApiError> {
    get(Request::get(&format!("/api/admin/carriers/{carrier}")), &token).await
}

/// A deck's CSV export (`save_export`).
pub fn deck_export(carrier: i64, deck: i64) -> String {
    format!("/api/admin/carriers/{carrier}/decks/{deck}/export")
}

/// Saves an admin export (`path` with its query) as the file `name`: the server signs a
/// short-lived link and the browser downloads it by itself, streamed to disk, so a large export
/// is never held in memory here.
pub async fn save_export(token: String, path: String, name: String) -> Result<(), ApiError> {
    let link: api::Link =
        send_json(Request::post("/api/admin/links"), Some(&token), &api::LinkRequest { path }).await?;
    use wasm_bindgen::JsCast;
    let fail = || ApiError {
        status: 0,
        code: "download".into(),
        message: "The browser could not save the file.".into(),
        fields: BTreeMap::new(),
    };
    let document = web_sys::window().and_then(|w| w.document()).ok_or_else(fail)?;
    let a: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| fail())?.dyn_into().map_err(|_| fail())?;
    a.set_href(&link.url);
    a.set_download(&name);
    a.click();
    Ok(())
}

/// A chosen file sent as a `text/csv` body.
async fn post_csv<T: DeserializeOwned>(req: RequestBuilder, token: &str, file: web_sys::File) -> Result<T, ApiError> {
    let req = authed(req, Some(token))
        .header("Content-Type", "text/csv")
        .body(wasm_bindgen::JsValue::from(file))
        .map_err(ApiError::network)?;
    read(req.send().await.map_err(ApiError::network)?).await
}

pub async fn user(token: String, id: i64) -> Result<api::User, ApiError> {
    get(Request::get(&format!("/api/admin/users/{id}")), &token).await
}

pub async fn user_balance(token: String, id: i64) -> Result<api::Balance, ApiError> {
    get(Request::get(&format!("/api/admin/users/{id}/balance")), &token).await
}

pub async fn user_ledger(token: String, id: i64, page: u32) -> Result<api::Page<api::LedgerLine>, ApiError> {
    let page = page.to_string();
    get(
        Request::get(&format!("/api/admin/users/{id}/ledger")).query([("page", page.as_str()), ("per_page", "20")]),
        &token,
    )
    .await
}

/// Credits (positive) or debits (negative) an account; answers its balance after.
pub async fn adjust(token: String, id: i64, req: api::Adjustment) -> Result<api::Balance, ApiError> {
    send_json(Request::post(&format!("/api/admin/users/{id}/adjustments")), Some(&token), &req).await
}

pub async fn set_credit_limit(token: String, id: i64, req: api::CreditLimit) -> Result<api::Balance, ApiError> {
    send_json(Request::put(&format!("/api/admin/users/{id}/credit-limit")), Some(&token), &req).await
}

pub async fn set_user_plan(token: String, id: i64, req: api::UserRatePlan) -> Result<api::UserRatePlan, ApiError> {
    send_json(Request::put(&format!("/api/admin/users/{id}/rate-plan")), Some(&token), &req).await
}

pub async fn rate_plans(token: String) -> Result<Vec<api::RatePlan>, ApiError> {
    get(Request::get("/api/admin/rate-plans"), &token).await
}

pub async fn create_rate_plan(token: String, req: api::NewRatePlan) -> Result<api::RatePlan, ApiError> {
    send_json(Request::post("/api/admin/rate-plans"), Some(&token), &req).await
}

pub async fn plan_rates(token: String, plan: i64, page: u32) -> Result<api::Page<api::RetailRate>, ApiError> {
    let page = page.to_string();
    get(
        Request::get(&format!("/api/admin/rate-plans/{plan}/rates"))
            .query([("page", page.as_str()), ("per_page", "50")]),
        &token,
    )
    .await
}

/// Renames a plan and/or makes it the default.
pub async fn update_rate_plan(token: String, plan: i64, req: api::RatePlanUpdate) -> Result<api::RatePlan, ApiError> {
    send_json(Request::patch(&format!("/api/admin/rate-plans/{plan}")), Some(&token), &req).await
}

/// Ends one of a plan's rates now.
pub async fn end_rate(token: String, plan: i64, rate: i64) -> Result<api::RetailRate, ApiError> {
    let req = authed(Request::post(&format!("/api/admin/rate-plans/{plan}/rates/{rate}/end")), Some(&token));
    read(req.send().await.map_err(ApiError::network)?).await
}

pub async fn add_rate(token: String, plan: i64, req: api::RetailRateInput) -> Result<api::RetailRate, ApiError> {
    send_json(Request::post(&format!("/api/admin/rate-plans/{plan}/rates")), Some(&token), &req).await
}

/// Imports a whole price list (CSV, in the buy decks' format) into a plan, effective from
/// `effective_from` (RFC 3339; now when `None`).
pub async fn import_rates(
    token: String,
    plan: i64,
    effective_from: Option<String>,
    file: web_sys::File,
) -> Result<api::RatesImported, ApiError> {
    post_csv(
        effective(Request::post(&format!("/api/admin/rate-plans/{plan}/rates.csv")), &effective_from),
        &token,
        file,
    )
    .await
}

/// A plan's CSV export of the rates in effect now (`save_export`).
pub fn rates_export(plan: i64) -> String {
    format!("/api/admin/rate-plans/{plan}/rates.csv")
}

pub async fn call_detail(token: String, id: String) -> Result<api::CallDetail, ApiError> {
    get(Request::get(&format!("/api/admin/calls/{}", encode(&id))), &token).await
}

/// A path segment with everything but unreserved characters percent-encoded.
fn encode(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

/// The set fields of a call record search, as query parameters.
fn cdr_params(q: &api::CdrQuery) -> Vec<(&'static str, String)> {
    let text = [
        ("from", &q.from),
        ("to", &q.to),
        ("number", &q.number),
        ("direction", &q.direction),
        ("outcome", &q.outcome),
        ("cause", &q.cause),
        ("cost_min", &q.cost_min),
        ("cost_max", &q.cost_max),
        ("after", &q.after),
    ];
    let mut out: Vec<(&'static str, String)> =
        text.into_iter().filter_map(|(k, v)| v.clone().filter(|v| !v.is_empty()).map(|v| (k, v))).collect();
    out.extend(q.user.map(|u| ("user", u.to_string())));
    out.extend(q.carrier.map(|c| ("carrier", c.to_string())));
    out.extend(q.limit.map(|l| ("limit", l.to_string())));
    out
}

fn pairs<'a>(params: &'a [(&'static str, String)]) -> impl Iterator<Item = (&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str()))
}

/// Call records, newest first; `q.after` is the previous page's `next`.
pub async fn cdrs(token: String, q: api::CdrQuery) -> Result<api::CdrPage, ApiError> {
    let params = cdr_params(&q);
    get(Request::get("/api/admin/cdrs").query(pairs(&params)), &token).await
}

/// The CSV export of every record `q` matches (`save_export`).
pub fn cdrs_export(q: api::CdrQuery) -> String {
    let q = api::CdrQuery { after: None, limit: None, ..q };
    let query: Vec<String> = cdr_params(&q).iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    if query.is_empty() { "/api/admin/cdrs.csv".into() } else { format!("/api/admin/cdrs.csv?{}", query.join("&")) }
}

pub async fn live_calls(token: String) -> Result<Vec<api::LiveCall>, ApiError> {
    get(Request::get("/api/admin/live-calls"), &token).await
}

/// Ends a call in progress (404 when it is no longer live).
pub async fn end_call(token: String, id: String) -> Result<api::CallEnded, ApiError> {
    let req = authed(Request::post(&format!("/api/admin/calls/{}/end", encode(&id))), Some(&token));
    read(req.send().await.map_err(ApiError::network)?).await
}

pub async fn stats(token: String, q: api::StatsQuery) -> Result<api::Stats, ApiError> {
    let params: Vec<(&'static str, String)> = [("from", q.from), ("to", q.to), ("bucket", q.bucket)]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
    get(Request::get("/api/admin/stats").query(pairs(&params)), &token).await
}

pub async fn audit(token: String, q: api::AuditQuery) -> Result<api::Page<api::AuditEntry>, ApiError> {
    let mut params: Vec<(&'static str, String)> = [("action", q.action), ("target", q.target)]
        .into_iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
    params.extend(q.actor.map(|a| ("actor", a.to_string())));
    params.extend(q.page.map(|p| ("page", p.to_string())));
    params.extend(q.per_page.map(|p| ("per_page", p.to_string())));
    get(Request::get("/api/admin/audit").query(pairs(&params)), &token).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_text() {
        assert_eq!(super::money(12_500_000), "12.50");
        assert_eq!(super::money(19_999_999), "19.999999");
        assert_eq!(super::money(-10_000), "-0.01");
        assert_eq!(super::money(0), "0.00");
    }
}
