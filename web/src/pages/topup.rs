//! Card top-ups: choose an amount, pay on the provider's page, come back and watch it land.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_query_map};
use protocol::api::{self, TopupStatus};

use crate::{
    api::{self as rest, ApiError},
    phone::{self, Phone},
    session::Auth,
};

/// The status as the API writes it (`partially_refunded`), for `data-status`.
pub fn status_name(s: TopupStatus) -> &'static str {
    match s {
        TopupStatus::Pending => "pending",
        TopupStatus::Paid => "paid",
        TopupStatus::PartiallyRefunded => "partially_refunded",
        TopupStatus::Refunded => "refunded",
        TopupStatus::Disputed => "disputed",
        TopupStatus::Expired => "expired",
    }
}

/// The status in words, for the receipts.
pub fn status_label(t: &api::Topup) -> String {
    match t.status {
        TopupStatus::Pending => "Pending".into(),
        TopupStatus::Paid => "Paid".into(),
        TopupStatus::PartiallyRefunded => format!("Partially refunded ({} refunded)", rest::money(t.refunded_micros)),
        TopupStatus::Refunded => "Refunded".into(),
        TopupStatus::Disputed => "Disputed".into(),
        TopupStatus::Expired => "Expired".into(),
    }
}

/// Decimals of a currency's minor unit, as the server counts them (`jpy` has none).
fn decimals(currency: &str) -> u32 {
    if currency.eq_ignore_ascii_case("jpy") { 0 } else { 2 }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseError {
    Empty,
    NotDecimal,
    TooPrecise,
    TooLarge,
}

/// Decimal text as micro-units, exactly (integers only): `"12.5"` is 12 500 000. Accepts what
/// the server accepts: `"7."`, `".5"`, a sign, spaces around.
fn parse_micros(text: &str) -> Result<i64, ParseError> {
    let s = text.trim();
    let (negative, digits) = match s.as_bytes().first() {
        None => return Err(ParseError::Empty),
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        Some(_) => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (whole.is_empty() && frac.is_empty()) || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(ParseError::NotDecimal);
    }
    if frac.len() > 6 {
        return Err(ParseError::TooPrecise);
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| ParseError::TooLarge)? };
    let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| ParseError::NotDecimal)?;
    let micros = whole.checked_mul(1_000_000).and_then(|w| w.checked_add(frac)).ok_or(ParseError::TooLarge)?;
    Ok(if negative { -micros } else { micros })
}

/// What a top-up of `text` would be, or why it cannot be one, worded as the server words it
/// ("must be at least 5.00"), to follow the field's name.
fn check_amount(text: &str, min: i64, max: i64, decimals: u32) -> Result<i64, String> {
    let too_precise = || {
        if decimals == 0 { "must be a whole number".to_string() } else { format!("has more than {decimals} decimals") }
    };
    let m = match parse_micros(text) {
        Ok(m) => m,
        Err(ParseError::Empty) => return Err("is empty".into()),
        Err(ParseError::NotDecimal) => return Err("is not a decimal number like 12.50".into()),
        Err(ParseError::TooPrecise) => return Err(too_precise()),
        Err(ParseError::TooLarge) => return Err(format!("must be at most {}", rest::money(max))),
    };
    let per_minor = 10_i64.pow(6 - decimals.min(6));
    if m % per_minor != 0 {
        return Err(too_precise());
    }
    if m < min {
        return Err(format!("must be at least {}", rest::money(min)));
    }
    if m > max {
        return Err(format!("must be at most {}", rest::money(max)));
    }
    Ok(m)
}

/// `/topup`: pick an amount and go to the payment page.
#[component]
pub fn Topup() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let config: RwSignal<Option<api::TopupConfig>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    spawn_local(async move {
        match auth.call(rest::topup_config).await {
            Ok(c) => config.set(Some(c)),
            Err(e) => error.set(Some(e)),
        }
    });
    view! {
        <section class="card narrow" id="topup">
            <h1>"Top up"</h1>
            {move || match config.get() {
                None => match error.get() {
                    Some(e) => view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> }.into_any(),
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                },
                Some(c) if !c.enabled => view! {
                    <p id="topup-disabled">
                        "Card top-ups are not configured on this server. Ask an administrator to credit your account."
                    </p>
                }
                .into_any(),
                Some(c) => view! { <TopupForm config=c/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn TopupForm(config: api::TopupConfig) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let phone = expect_context::<Phone>();
    let query = use_query_map();
    let cancelled = move || query.with(|q| q.get("cancelled").is_some());
    let (min, max) = (config.min_micros, config.max_micros);
    let decimals = decimals(&config.currency);
    let currency = config.currency.to_uppercase();
    let check = move |text: &str| check_amount(text, min, max, decimals);

    let amount = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let reason = move || error.with(|e| e.as_ref().and_then(|e| e.field("amount")));
    let after = move || {
        let m = amount.with(|a| check(a)).ok()?;
        let funds = phone.funds.get()?;
        Some(funds.balance_micros.saturating_add(m))
    };
    // Coming back from the payment page with the browser's Back button may restore this page
    // as it was left: with the button still busy.
    let shown = window_event_listener_untyped("pageshow", move |_| busy.set(false));
    on_cleanup(move || shown.remove());

    let pay = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let text = amount.get_untracked();
        if let Err(reason) = check(&text) {
            error.set(Some(ApiError::local_field("amount", &reason)));
            return;
        }
        error.set(None);
        busy.set(true);
        let req = api::NewTopup { amount: text.trim().to_string() };
        spawn_local(async move {
            match auth.call(|t| rest::create_topup(t, req.clone())).await {
                Ok(checkout) => {
                    // Leave the app for the payment page.
                    let left = web_sys::window().is_some_and(|w| w.location().set_href(&checkout.url).is_ok());
                    if !left {
                        error.set(Some(ApiError::local_field(
                            "amount",
                            "could not be paid: the payment page did not open",
                        )));
                        busy.set(false);
                    }
                }
                Err(e) => {
                    if e.code == api::codes::UNDER_REVIEW {
                        spawn_local(auth.reload_user());
                    }
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };

    view! {
        {move || cancelled().then(|| view! {
            <div class="banner info" id="topup-cancelled">"Payment cancelled; you were not charged."</div>
        })}
        <p class="topup-balance">
            "Current balance "
            <strong id="topup-balance">{move || phone.funds.get().map_or_else(|| "…".to_string(), |f| rest::money(f.balance_micros))}</strong>
            " " {currency.clone()}
        </p>
        {move || error.get().filter(|e| e.field("amount").is_none()).map(|e| view! {
            <div class="banner error" role="alert" id="error-banner" data-code=e.code.clone()>{e.message}</div>
        })}
        <div class="presets" id="topup-presets">
            {config.presets_micros.iter().map(|&p| {
                let text = rest::money(p);
                let label = text.clone();
                let chosen = move || amount.with(|a| check(a)) == Ok(p);
                view! {
                    <button type="button" class="preset" data-micros=p.to_string()
                        class:selected=chosen aria-pressed=move || chosen().to_string()
                        on:click=move |_| { amount.set(text.clone()); error.set(None); }>{label}</button>
                }
            }).collect_view()}
        </div>
        <form on:submit=pay novalidate id="topup-form">
            <label class="field">
                <span>{format!("Amount ({currency})")}</span>
                <input type="text" inputmode="decimal" id="topup-amount" name="amount" autocomplete="off"
                    placeholder=rest::money(min)
                    class:invalid=move || reason().is_some()
                    bind:value=amount
                    on:input=move |_| if reason().is_some() { error.set(None) }
                    // Some ways of emptying a field (autofill, WebDriver's clear) only say `change`.
                    on:change=move |ev| amount.set(event_target_value(&ev))/>
                {move || reason().map(|r| view! {
                    <small class="field-error" id="topup-error" data-field="amount" role="alert">{format!("Amount {r}.")}</small>
                })}
                <small class="hint" id="topup-limits">
                    {format!("From {} to {} {currency}.", rest::money(min), rest::money(max))}
                </small>
            </label>
            {move || after().map(|b| view! {
                <p id="topup-after">"Balance after top-up: " <strong>{rest::money(b)}</strong></p>
            })}
            <button type="submit" class="primary" id="topup-pay" disabled=move || busy.get()>
                {move || if busy.get() { "Opening the payment page…" } else { "Pay with card" }}
            </button>
        </form>
        <p class="muted small">"You pay on Stripe's secure page; card details never reach this server. "
            <A href="/receipts">"Your receipts"</A></p>
    }
}

/// Loads top-up `id` into `topup`. True while asking again makes sense: the page is still
/// shown, the top-up still pending, and the server did not refuse.
async fn load(
    auth: Auth,
    phone: Phone,
    id: i64,
    topup: RwSignal<Option<api::Topup>>,
    error: RwSignal<Option<ApiError>>,
) -> bool {
    let result = auth.call(|t| rest::topup(t, id)).await;
    let pending = |t: &Option<api::Topup>| t.as_ref().is_some_and(|t| t.status == TopupStatus::Pending);
    // None: the page was left meanwhile.
    let Some(settled_before) =
        topup.try_with_untracked(|t| t.as_ref().is_some_and(|t| t.status != TopupStatus::Pending))
    else {
        return false;
    };
    match result {
        Ok(t) => {
            error.set(None);
            // An older answer (still pending) never replaces a newer one.
            if settled_before && t.status == TopupStatus::Pending {
                return false;
            }
            if !settled_before && t.status != TopupStatus::Pending {
                // In case the balance's push was missed.
                phone::refresh_balance(phone, auth);
            }
            topup.set(Some(t));
            topup.with_untracked(pending)
        }
        Err(e) => {
            let retry = e.status == 0 || e.status >= 500;
            error.set(Some(e));
            retry
        }
    }
}

/// `/topup/done?topup=<id>`: where the payment page sends the browser back. Shows the top-up
/// until the payment's confirmation lands.
#[component]
pub fn TopupDone() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let phone = expect_context::<Phone>();
    let id = use_query_map().with_untracked(|q| q.get("topup")).and_then(|t| t.trim().parse::<i64>().ok());
    let topup: RwSignal<Option<api::Topup>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);

    if let Some(id) = id {
        // Asks every 2 s while pending; stops when settled or when the page is left.
        spawn_local(async move {
            while load(auth, phone, id, topup, error).await {
                phone::sleep(2000).await;
                if topup.try_with_untracked(|_| ()).is_none() {
                    return;
                }
            }
        });
        // A balance change is most likely this payment landing: ask now.
        Effect::new(move |seen: Option<u32>| {
            let pushes = phone.balance_pushes.get();
            let pending = topup.with_untracked(|t| t.as_ref().is_some_and(|t| t.status == TopupStatus::Pending));
            if seen.is_some_and(|s| s != pushes) && pending {
                spawn_local(async move {
                    load(auth, phone, id, topup, error).await;
                });
            }
            pushes
        });
    }

    view! {
        <section class="card narrow" id="topup-done">
            <h1>"Card top-up"</h1>
            {move || error.get().map(|e| view! {
                <div class="banner error" role="alert" id="error-banner" data-code=e.code.clone()>{e.message}</div>
            })}
            {id.is_none().then(|| view! {
                <div class="banner error" role="alert" id="error-banner">"This link does not name a top-up."</div>
            })}
            {move || match topup.get() {
                Some(t) => {
                    let (class, text) = match t.status {
                        TopupStatus::Pending => ("muted", "Waiting for the payment confirmation…".to_string()),
                        TopupStatus::Paid => ("ok", "Paid: your balance has been credited.".to_string()),
                        TopupStatus::Expired => ("muted", "Expired: the payment was not completed.".to_string()),
                        TopupStatus::Disputed => ("bad", "Disputed: the payment was taken back.".to_string()),
                        _ => ("muted", format!("{}.", status_label(&t))),
                    };
                    view! {
                        <p class="topup-amount">"Amount "
                            <strong id="done-amount">{rest::money(t.amount_micros)}</strong> " " {t.currency.to_uppercase()}
                        </p>
                        <p id="topup-status" class=format!("topup-status {class}") data-status=status_name(t.status)
                            data-id=t.id.to_string() role="status">{text}</p>
                    }
                    .into_any()
                }
                None if id.is_some() && error.with(Option::is_none) => view! { <p class="muted">"Loading…"</p> }.into_any(),
                None => ().into_any(),
            }}
            <p>"Balance "
                <strong id="done-balance">{move || phone.funds.get().map_or_else(|| "…".to_string(), |f| rest::money(f.balance_micros))}</strong>
            </p>
            <p class="links">
                <A href="/" attr:id="back-to-phone">"Back to the phone"</A>
                " · "
                <A href="/receipts" attr:id="done-receipts">"Receipts"</A>
            </p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::check_amount;

    fn check(text: &str) -> String {
        match check_amount(text, 5_000_000, 500_000_000, 2) {
            Ok(m) => m.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn amounts_are_checked_exactly() {
        assert_eq!(check("20"), "20000000");
        assert_eq!(check(" 12.50 "), "12500000");
        assert_eq!(check("12.5"), "12500000");
        assert_eq!(check("0.29e2"), "error: is not a decimal number like 12.50");
        assert_eq!(check("10.005"), "error: has more than 2 decimals");
        assert_eq!(check("10.1234567"), "error: has more than 2 decimals");
        assert_eq!(check("4.99"), "error: must be at least 5.00");
        assert_eq!(check("-10"), "error: must be at least 5.00");
        assert_eq!(check("500.01"), "error: must be at most 500.00");
        assert_eq!(check("99999999999999999999"), "error: must be at most 500.00");
        assert_eq!(check(""), "error: is empty");
        assert_eq!(check("ten"), "error: is not a decimal number like 12.50");
        assert_eq!(check("."), "error: is not a decimal number like 12.50");
        assert_eq!(check_amount("1000.5", 1_000_000, 10_000_000_000, 0), Err("must be a whole number".into()));
    }
}
