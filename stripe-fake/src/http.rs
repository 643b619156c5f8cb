//! The HTTP face: the `/v1` API (authentication, idempotency, validation, objects) and the
//! hosted checkout page.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State as AxState},
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{Html, IntoResponse, Response},
    routing::{any, get},
};
use serde_json::{Value, json};

use crate::{
    Recorded, Shared, State, StoredResponse,
    objects::{self, CURRENCIES, CustomerRec, LineItem, SessionRec, new_id, now},
};

/// The fake's routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/{*rest}", any(api))
        .route("/pay/{id}", get(checkout_page).post(checkout_pay))
        .fallback(unrecognized)
        .with_state(shared)
}

type Params = BTreeMap<String, String>;

/// A Stripe error: the status and the `error` object.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: u16,
    type_: &'static str,
    code: Option<&'static str>,
    param: Option<String>,
    message: String,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    fn invalid(code: Option<&'static str>, param: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            type_: "invalid_request_error",
            code,
            param: param.map(str::to_owned),
            message: message.into(),
        }
    }

    fn missing(param: &str) -> ApiError {
        ApiError::invalid(Some("parameter_missing"), Some(param), format!("Missing required param: {param}."))
    }

    fn empty(param: &str) -> ApiError {
        ApiError::invalid(
            Some("parameter_invalid_empty"),
            Some(param),
            format!(
                "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a \
                 parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or \
                 supply a non-empty value."
            ),
        )
    }

    fn unknown(param: &str) -> ApiError {
        ApiError::invalid(Some("parameter_unknown"), Some(param), format!("Received unknown parameter: {param}"))
    }

    /// A parameter names an object the fake does not have (400).
    fn no_such(kind: &str, id: &str, param: &str) -> ApiError {
        ApiError::invalid(Some("resource_missing"), Some(param), format!("No such {kind}: '{id}'"))
    }

    /// The object retrieved does not exist (404).
    fn not_found(kind: &str, id: &str, param: &str) -> ApiError {
        ApiError { status: 404, ..ApiError::no_such(kind, id, param) }
    }

    fn body(&self) -> Value {
        let mut error = json!({ "type": self.type_, "message": self.message });
        if let Some(code) = self.code {
            error["code"] = json!(code);
            error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
        }
        if let Some(param) = &self.param {
            error["param"] = json!(param);
        }
        json!({ "error": error })
    }
}

/// What a `/v1` request is answered with.
struct Reply {
    status: u16,
    body: String,
    replayed: bool,
}

impl Reply {
    fn ok(object: Value) -> Reply {
        Reply { status: 200, body: object.to_string(), replayed: false }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply { status: e.status, body: e.body().to_string(), replayed: false }
    }
}

/// A header as text; one that is not UTF-8 reads as U+FFFD, so it never matches a key.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

/// Every `/v1` request: decode, authenticate, honour `Idempotency-Key`, dispatch, record.
async fn api(
    AxState(shared): AxState<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let raw: &[u8] = if method == Method::POST { &body } else { uri.query().unwrap_or("").as_bytes() };
    let params: Params = form_urlencoded::parse(raw).into_owned().collect();
    let authorization = header_str(&headers, "authorization").map(str::to_owned);
    let idempotency_key = header_str(&headers, "idempotency-key").map(str::to_owned);

    let reply = {
        let mut state = shared.lock();
        let reply =
            answer(&shared, &mut state, &method, &path, &params, authorization.as_deref(), idempotency_key.as_deref());
        state.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            params,
            idempotency_key: idempotency_key.clone(),
            authorization,
            status: reply.status,
        });
        reply
    };

    let mut response = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response();
    let out = response.headers_mut();
    out.insert("request-id", HeaderValue::try_from(new_id("req_")).unwrap_or(HeaderValue::from_static("req_")));
    out.insert("stripe-version", HeaderValue::from_static(objects::API_VERSION));
    if reply.status == 401 {
        out.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"Stripe\""));
    }
    if method == Method::POST
        && let Some(key) = idempotency_key.as_deref().and_then(|k| HeaderValue::try_from(k).ok())
    {
        out.insert("idempotency-key", key);
    }
    if reply.replayed {
        out.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn answer(
    shared: &Shared,
    state: &mut State,
    method: &Method,
    path: &str,
    params: &Params,
    authorization: Option<&str>,
    idempotency_key: Option<&str>,
) -> Reply {
    if let Err(e) = authenticate(&shared.config.secret_key, authorization) {
        return e.into();
    }
    let key = if *method == Method::POST { idempotency_key } else { None };
    if let Some(key) = key {
        if key.is_empty() || key.chars().count() > 255 {
            return ApiError::invalid(
                None,
                None,
                format!("Invalid Idempotency-Key: it must be 1 to 255 characters long (got {}).", key.chars().count()),
            )
            .into();
        }
        if let Some(stored) = state.idempotency.get(key) {
            if stored.path == path && stored.params == *params {
                return Reply { status: stored.status, body: stored.body.clone(), replayed: true };
            }
            return ApiError {
                status: 400,
                type_: "idempotency_error",
                code: None,
                param: None,
                message: format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used \
                     with. Try using a key other than '{key}' if you meant to execute a different request."
                ),
            }
            .into();
        }
    }
    let reply = match dispatch(shared, state, method, path, params) {
        Ok(object) => Reply::ok(object),
        Err(e) => e.into(),
    };
    // Like Stripe, only requests that ran are saved; refused parameters may be retried.
    if let Some(key) = key
        && (200..300).contains(&reply.status)
    {
        let stored = StoredResponse {
            path: path.to_owned(),
            params: params.clone(),
            status: reply.status,
            body: reply.body.clone(),
        };
        state.idempotency.insert(key.to_owned(), stored);
    }
    reply
}

fn authenticate(secret: &str, authorization: Option<&str>) -> Result<(), ApiError> {
    let unauthorized =
        |message: String| ApiError { status: 401, type_: "invalid_request_error", code: None, param: None, message };
    let Some(authorization) = authorization else {
        return Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using \
             Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
        ));
    };
    match authorization.strip_prefix("Bearer ") {
        Some(key) if key == secret => Ok(()),
        Some(key) => Err(unauthorized(format!("Invalid API Key provided: {}", redact(key)))),
        None => Err(unauthorized(
            "Invalid Authorization header: use Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').".into(),
        )),
    }
}

/// `sk_test_abcdefgh1234` → `sk_test_********1234`, as Stripe quotes a wrong key.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix =
        ["sk_test_", "sk_live_", "rk_test_", "rk_live_"].iter().find(|p| key.starts_with(**p)).map_or(0, |p| p.len());
    let keep_tail = chars.len().saturating_sub(prefix).min(4);
    chars.iter().enumerate().map(|(i, c)| if i < prefix || i >= chars.len() - keep_tail { *c } else { '*' }).collect()
}

fn dispatch(
    shared: &Shared,
    state: &mut State,
    method: &Method,
    path: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["customers"]) => create_customer(state, params),
        ("GET", ["customers", id]) => {
            state.customer(id).map(CustomerRec::to_json).ok_or_else(|| ApiError::not_found("customer", id, "id"))
        }
        ("POST", ["checkout", "sessions"]) => create_session(shared, state, params),
        ("GET", ["checkout", "sessions", id]) => {
            state.session(id).map(SessionRec::to_json).ok_or_else(|| ApiError::not_found("checkout.session", id, "id"))
        }
        ("GET", ["payment_intents", id]) => state
            .intents
            .iter()
            .find(|p| p.id == *id)
            .map(|p| p.to_json())
            .ok_or_else(|| ApiError::not_found("payment_intent", id, "intent")),
        ("GET", ["charges", id]) => state
            .charges
            .iter()
            .find(|c| c.id == *id)
            .map(|c| c.to_json())
            .ok_or_else(|| ApiError::not_found("charge", id, "id")),
        ("GET", ["disputes", id]) => state
            .disputes
            .iter()
            .find(|d| d.id == *id)
            .map(|d| d.to_json())
            .ok_or_else(|| ApiError::not_found("dispute", id, "dispute")),
        _ => Err(unrecognized_url(method, path)),
    }
}

fn unrecognized_url(method: &Method, path: &str) -> ApiError {
    ApiError {
        status: 404,
        ..ApiError::invalid(
            None,
            None,
            format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at \
                 https://support.stripe.com/."
            ),
        )
    }
}

/// Anything outside `/v1` and `/pay`.
async fn unrecognized(method: Method, uri: Uri) -> Response {
    let e = unrecognized_url(&method, uri.path());
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json")], e.body().to_string()).into_response()
}

// ---- parameters -------------------------------------------------------------------------

/// `line_items[0][price_data][currency]` → `["line_items", "0", "price_data", "currency"]`;
/// `None` when the brackets do not pair up.
fn segments(key: &str) -> Option<Vec<&str>> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.contains(']') {
        return None;
    }
    let mut out = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        out.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    Some(out)
}

/// Refuses parameters Stripe does not have. `known` says whether a parsed key is one.
fn refuse_unknown(params: &Params, known: impl Fn(&[&str]) -> bool) -> Result<(), ApiError> {
    for key in params.keys() {
        if !segments(key).is_some_and(|s| known(&s)) {
            return Err(ApiError::unknown(key));
        }
    }
    Ok(())
}

/// A non-empty string parameter, if given. Empty means "unset", which creating ignores.
fn optional<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn integer(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(v) if v.is_empty() => Err(ApiError::empty(name)),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ApiError::invalid(Some("parameter_invalid_integer"), Some(name), format!("Invalid integer: {v}"))
        }),
    }
}

/// `prefix[key]=value` pairs, checked against Stripe's metadata limits.
fn metadata(params: &Params, prefix: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (key, value) in params {
        if key == prefix && !value.is_empty() {
            return Err(ApiError::invalid(None, Some(prefix), format!("Invalid object: {prefix} must be a hash")));
        }
        let Some(name) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('[')).and_then(|r| r.strip_suffix(']'))
        else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        if name.is_empty() || name.contains(['[', ']']) {
            return Err(ApiError::invalid(None, Some(key), format!("Invalid metadata key: '{name}'")));
        }
        let key_len = name.chars().count();
        if key_len > 40 {
            return Err(ApiError::invalid(
                None,
                Some(key),
                format!("Metadata keys can have up to 40 characters, but '{name}' has {key_len}."),
            ));
        }
        let value_len = value.chars().count();
        if value_len > 500 {
            return Err(ApiError::invalid(
                None,
                Some(key),
                format!(
                    "Metadata values can have up to 500 characters, but you passed in a value that is {value_len} \
                     characters."
                ),
            ));
        }
        out.insert(name.to_owned(), value.clone());
    }
    if out.len() > 50 {
        return Err(ApiError::invalid(
            None,
            Some(prefix),
            format!("Invalid {prefix}: metadata can have at most 50 keys, got {}.", out.len()),
        ));
    }
    Ok(out)
}

fn check_email(param: &str, email: &str) -> Result<(), ApiError> {
    let valid = email.len() <= 512
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && !domain.split('.').any(str::is_empty)
        });
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(Some("email_invalid"), Some(param), format!("Invalid email address: {email}")))
    }
}

/// An absolute http(s) URL with a host and only visible ASCII.
fn check_url(param: &str, url: &str) -> Result<(), ApiError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let valid = url.len() <= 5000 && url.bytes().all(|b| b.is_ascii_graphic()) && host.is_some_and(|h| !h.is_empty());
    if valid { Ok(()) } else { Err(ApiError::invalid(Some("url_invalid"), Some(param), "Not a valid URL")) }
}

// ---- customers ----------------------------------------------------------------------------

const CUSTOMER_PARAMS: &[&str] = &[
    "address",
    "balance",
    "business_name",
    "cash_balance",
    "description",
    "email",
    "expand",
    "individual_name",
    "invoice_prefix",
    "invoice_settings",
    "metadata",
    "name",
    "next_invoice_sequence",
    "payment_method",
    "phone",
    "preferred_locales",
    "shipping",
    "source",
    "tax",
    "tax_exempt",
    "tax_id_data",
    "test_clock",
    "validate",
];

fn create_customer(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    refuse_unknown(params, |s| CUSTOMER_PARAMS.contains(&s[0]))?;
    let email = optional(params, "email");
    if let Some(email) = email {
        check_email("email", email)?;
    }
    let customer = CustomerRec {
        id: new_id("cus_"),
        created: now(),
        email: email.map(str::to_owned),
        name: optional(params, "name").map(str::to_owned),
        description: optional(params, "description").map(str::to_owned),
        phone: optional(params, "phone").map(str::to_owned),
        invoice_prefix: new_id("").chars().take(8).collect::<String>().to_uppercase(),
        metadata: metadata(params, "metadata")?,
    };
    let json = customer.to_json();
    state.customers.push(customer);
    Ok(json)
}

// ---- checkout sessions --------------------------------------------------------------------

const SESSION_PARAMS: &[&str] = &[
    "adaptive_pricing",
    "after_expiration",
    "allow_promotion_codes",
    "allowed_payment_method_types",
    "automatic_tax",
    "billing_address_collection",
    "branding_settings",
    "cancel_url",
    "client_reference_id",
    "consent_collection",
    "currency",
    "custom_fields",
    "custom_text",
    "customer",
    "customer_account",
    "customer_creation",
    "customer_email",
    "customer_update",
    "discounts",
    "excluded_payment_method_types",
    "expand",
    "expires_at",
    "integration_identifier",
    "invoice_creation",
    "line_items",
    "locale",
    "managed_payments",
    "metadata",
    "mode",
    "name_collection",
    "optional_items",
    "origin_context",
    "payment_intent_data",
    "payment_method_collection",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "payment_method_types",
    "permissions",
    "phone_number_collection",
    "redirect_on_completion",
    "return_url",
    "saved_payment_method_options",
    "setup_intent_data",
    "shipping_address_collection",
    "shipping_options",
    "submit_type",
    "subscription_data",
    "success_url",
    "tax_id_collection",
    "ui_mode",
    "wallet_options",
];
const LINE_ITEM_PARAMS: &[&str] =
    &["adjustable_quantity", "dynamic_tax_rates", "metadata", "price", "price_data", "quantity", "tax_rates"];
const PRICE_DATA_PARAMS: &[&str] =
    &["currency", "product", "product_data", "recurring", "tax_behavior", "unit_amount", "unit_amount_decimal"];
const PRODUCT_DATA_PARAMS: &[&str] =
    &["description", "images", "metadata", "name", "tax_code", "tax_details", "unit_label"];
const INTENT_DATA_PARAMS: &[&str] = &[
    "application_fee_amount",
    "capture_method",
    "description",
    "metadata",
    "on_behalf_of",
    "receipt_email",
    "setup_future_usage",
    "shipping",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_data",
    "transfer_group",
];

/// Whether a parsed Checkout Session key is a Stripe parameter.
fn session_param_known(s: &[&str]) -> bool {
    match s {
        ["line_items", index, field, rest @ ..] if index.parse::<usize>().is_ok() => match (*field, rest) {
            ("price_data", [sub, tail @ ..]) => match (*sub, tail) {
                ("product_data", [name, ..]) => PRODUCT_DATA_PARAMS.contains(name),
                (sub, _) => sub != "product_data" && PRICE_DATA_PARAMS.contains(&sub),
            },
            ("price_data", []) => false,
            (field, _) => LINE_ITEM_PARAMS.contains(&field),
        },
        ["line_items", ..] => false,
        ["payment_intent_data", field, ..] => INTENT_DATA_PARAMS.contains(field),
        ["payment_intent_data"] => false,
        [top, ..] => SESSION_PARAMS.contains(top),
        [] => false,
    }
}

/// The line items' indices, which must run 0, 1, 2, …
fn line_item_count(params: &Params) -> Result<usize, ApiError> {
    let mut indices: Vec<usize> = params
        .keys()
        .filter_map(|k| segments(k))
        .filter(|s| s[0] == "line_items")
        .filter_map(|s| s.get(1).and_then(|i| i.parse().ok()))
        .collect();
    indices.sort_unstable();
    indices.dedup();
    if indices.iter().enumerate().any(|(position, index)| position != *index) {
        return Err(ApiError::invalid(
            None,
            Some("line_items"),
            "Invalid array: line_items must be indexed from 0 without gaps",
        ));
    }
    Ok(indices.len())
}

fn line_item(params: &Params, i: usize) -> Result<(String, LineItem), ApiError> {
    let p = |name: &str| format!("line_items[{i}][{name}]");
    let pd = |name: &str| format!("line_items[{i}][price_data][{name}]");
    if let Some(price) = optional(params, &p("price")) {
        return Err(ApiError::no_such("price", price, &p("price")));
    }
    if !params.keys().any(|k| k.starts_with(&p("price_data"))) {
        return Err(ApiError::invalid(
            Some("parameter_missing"),
            Some(&p("price_data")),
            format!("You must specify either `price` or `price_data` for line_items[{i}]."),
        ));
    }
    if params.keys().any(|k| k.starts_with(&pd("recurring"))) {
        return Err(ApiError::invalid(
            None,
            Some(&pd("recurring")),
            "You must be in `subscription` mode to use recurring prices.",
        ));
    }
    let currency_param = pd("currency");
    let currency = match params.get(&currency_param) {
        None => return Err(ApiError::missing(&currency_param)),
        Some(c) if c.is_empty() => return Err(ApiError::empty(&currency_param)),
        Some(c) => c,
    };
    if !CURRENCIES.iter().any(|(code, _)| code == currency) {
        let supported: Vec<&str> = CURRENCIES.iter().map(|(code, _)| *code).collect();
        return Err(ApiError::invalid(
            None,
            Some(&currency_param),
            format!(
                "Invalid currency: {currency}. Stripe currently supports these currencies: {}",
                supported.join(", ")
            ),
        ));
    }
    if let Some(product) = optional(params, &pd("product")) {
        return Err(ApiError::no_such("product", product, &pd("product")));
    }
    let name_param = format!("line_items[{i}][price_data][product_data][name]");
    let name = match params.get(&name_param) {
        None => return Err(ApiError::missing(&name_param)),
        Some(n) if n.trim().is_empty() => return Err(ApiError::empty(&name_param)),
        Some(n) => n.clone(),
    };
    let amount_param = pd("unit_amount");
    let Some(unit_amount) = integer(params, &amount_param)? else {
        if params.contains_key(&pd("unit_amount_decimal")) {
            return Err(ApiError::invalid(
                None,
                Some(&pd("unit_amount_decimal")),
                "stripe-fake does not implement unit_amount_decimal; send unit_amount",
            ));
        }
        return Err(ApiError::missing(&amount_param));
    };
    if unit_amount < 0 {
        return Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            Some(&amount_param),
            "This value must be greater than or equal to 0.",
        ));
    }
    let quantity_param = p("quantity");
    let Some(quantity) = integer(params, &quantity_param)? else {
        return Err(ApiError::missing(&quantity_param));
    };
    if quantity < 1 {
        return Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            Some(&quantity_param),
            "This value must be greater than or equal to 1.",
        ));
    }
    Ok((currency.clone(), LineItem { name, unit_amount, quantity }))
}

fn create_session(shared: &Shared, state: &mut State, params: &Params) -> Result<Value, ApiError> {
    refuse_unknown(params, session_param_known)?;

    match params.get("mode").map(String::as_str) {
        None => return Err(ApiError::missing("mode")),
        Some("") => return Err(ApiError::empty("mode")),
        Some("payment") => {}
        Some("setup" | "subscription") => {
            return Err(ApiError::invalid(None, Some("mode"), "stripe-fake only implements mode=payment"));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                None,
                Some("mode"),
                "Invalid mode: must be one of payment, setup, or subscription",
            ));
        }
    }
    if let Some(ui_mode) = optional(params, "ui_mode")
        && !matches!(ui_mode, "hosted_page" | "hosted")
    {
        return Err(ApiError::invalid(None, Some("ui_mode"), "stripe-fake only implements the hosted page"));
    }

    let success_url = match params.get("success_url") {
        None => return Err(ApiError::missing("success_url")),
        Some(u) if u.is_empty() => return Err(ApiError::empty("success_url")),
        Some(u) => u.clone(),
    };
    check_url("success_url", &success_url)?;
    let cancel_url = match params.get("cancel_url") {
        None => None,
        Some(u) if u.is_empty() => return Err(ApiError::empty("cancel_url")),
        Some(u) => {
            check_url("cancel_url", u)?;
            Some(u.clone())
        }
    };

    let count = line_item_count(params)?;
    if count == 0 {
        return Err(ApiError::missing("line_items"));
    }
    let mut currency: Option<String> = None;
    let mut items = Vec::with_capacity(count);
    for i in 0..count {
        let (item_currency, item) = line_item(params, i)?;
        match &currency {
            Some(c) if *c != item_currency => {
                return Err(ApiError::invalid(
                    None,
                    Some(&format!("line_items[{i}][price_data][currency]")),
                    "All line items must use the same currency.",
                ));
            }
            _ => currency = Some(item_currency),
        }
        items.push(item);
    }
    let currency = currency.unwrap_or_default();
    let total: i128 = items.iter().map(|i| i128::from(i.unit_amount) * i128::from(i.quantity)).sum();
    if total < 50 {
        return Err(ApiError::invalid(
            Some("amount_too_small"),
            Some("line_items"),
            format!(
                "The Checkout Session's total amount due must add up to at least {}.",
                objects::format_amount(50, &currency)
            ),
        ));
    }
    if total > 99_999_999 {
        return Err(ApiError::invalid(
            Some("amount_too_large"),
            Some("line_items"),
            format!(
                "The Checkout Session's total amount due must be no more than {}.",
                objects::format_amount(99_999_999, &currency)
            ),
        ));
    }
    let amount_total = i64::try_from(total).unwrap_or(i64::MAX);

    let customer = match params.get("customer") {
        None => None,
        Some(c) if c.is_empty() => return Err(ApiError::empty("customer")),
        Some(c) if state.customer(c).is_none() => return Err(ApiError::no_such("customer", c, "customer")),
        Some(c) => Some(c.clone()),
    };
    let customer_email = optional(params, "customer_email").map(str::to_owned);
    if let Some(email) = &customer_email {
        if customer.is_some() {
            return Err(ApiError::invalid(
                Some("parameters_exclusive"),
                Some("customer_email"),
                "You may only specify one of these parameters: customer, customer_email.",
            ));
        }
        check_email("customer_email", email)?;
    }
    let client_reference_id = optional(params, "client_reference_id").map(str::to_owned);
    if let Some(id) = &client_reference_id
        && id.chars().count() > 200
    {
        return Err(ApiError::invalid(
            None,
            Some("client_reference_id"),
            format!("Invalid string: {}...; must be at most 200 characters", id.chars().take(40).collect::<String>()),
        ));
    }
    let session_metadata = metadata(params, "metadata")?;
    let intent_metadata = metadata(params, "payment_intent_data[metadata]")?;
    let setup_future_usage = optional(params, "payment_intent_data[setup_future_usage]").map(str::to_owned);
    if let Some(usage) = &setup_future_usage
        && !matches!(usage.as_str(), "on_session" | "off_session")
    {
        return Err(ApiError::invalid(
            None,
            Some("payment_intent_data[setup_future_usage]"),
            format!(
                "Invalid payment_intent_data[setup_future_usage]: must be one of on_session or off_session (got {usage})"
            ),
        ));
    }
    let created = now();
    let expires_at = match integer(params, "expires_at")? {
        None => created + 24 * 3600,
        Some(t) if (created + 30 * 60..=created + 24 * 3600).contains(&t) => t,
        Some(_) => {
            return Err(ApiError::invalid(
                None,
                Some("expires_at"),
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            ));
        }
    };

    let id = new_id("cs_test_");
    let session = SessionRec {
        url: format!("{}pay/{id}", shared.base_url),
        id,
        created,
        expires_at,
        customer,
        customer_email,
        client_reference_id,
        currency,
        amount_total,
        items,
        metadata: session_metadata,
        intent_metadata,
        intent_description: optional(params, "payment_intent_data[description]").map(str::to_owned),
        setup_future_usage,
        success_url,
        cancel_url,
        payment_intent: None,
        paid_by: None,
    };
    let json = session.to_json();
    state.sessions.push(session);
    Ok(json)
}

// ---- the hosted checkout page -----------------------------------------------------------

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n",
        title = escape(title)
    )
}

fn no_such_session(id: &str) -> Response {
    let body = format!("<h1>No such checkout session</h1><p id=\"error\">{}</p>", escape(id));
    (StatusCode::NOT_FOUND, Html(page("Checkout", &body))).into_response()
}

/// `GET /pay/{id}`: the amount, a Pay button and a Cancel link.
async fn checkout_page(AxState(shared): AxState<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = shared.lock().session(&id).cloned() else {
        return no_such_session(&id);
    };
    let amount = objects::format_amount(session.amount_total, &session.currency);
    let mut body = format!("<h1>{}</h1>\n<p id=\"amount\">{}</p>\n", escape(&session.description()), escape(&amount));
    if session.is_complete() {
        body.push_str("<p id=\"paid\">This checkout session is already paid.</p>\n");
    } else {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/pay/{}\"><button id=\"pay\" type=\"submit\">Pay</button></form>\n",
            escape(&session.id)
        ));
    }
    if let Some(cancel) = &session.cancel_url {
        body.push_str(&format!("<a id=\"cancel\" href=\"{}\">Cancel</a>\n", escape(cancel)));
    }
    Html(page(&format!("Pay {amount}"), &body)).into_response()
}

/// `POST /pay/{id}`: pays (webhooks go out in the background) and sends the browser to
/// `success_url`. Paying an already paid session just redirects again.
async fn checkout_pay(AxState(shared): AxState<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let (success_url, events) = {
        let mut state = shared.lock();
        let Some(session) = state.session(&id) else {
            return no_such_session(&id);
        };
        let success_url = session.success_url.replace("{CHECKOUT_SESSION_ID}", &id);
        if session.is_complete() {
            (success_url, Vec::new())
        } else {
            match state.pay(&id) {
                Ok((_, events)) => (success_url, events),
                Err(e) => return (StatusCode::CONFLICT, Html(page("Checkout", &escape(&e)))).into_response(),
            }
        }
    };
    if !events.is_empty() {
        let shared = shared.clone();
        tokio::spawn(async move { crate::webhook::deliver_all(&shared, &events).await });
    }
    match HeaderValue::try_from(success_url) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "the success_url cannot be sent as a Location header").into_response()
        }
    }
}
