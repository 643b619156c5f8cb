//! Admin: one user. Their account (enable or disable it), their money (balance, credit limit,
//! manual credits and debits with a reason, their statement), their rate plan and their latest
//! calls.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_params_map};
use protocol::api;

use super::{
    FieldError, Pager,
    admin::{AdminNav, need_admin},
    calls::CdrTable,
    has_field_error, when,
};
use crate::{api as rest, api::ApiError, session::Auth};

#[component]
pub fn UserDetail() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let params = use_params_map();
    // Rebuilt when the id changes (a link from one user's page to another's).
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok())));
    view! {
        <AdminNav/>
        {move || match id.get() {
            Some(id) => view! { <UserPage id/> }.into_any(),
            None => view! {
                <section class="card"><div class="banner error" role="alert" id="user-error">"This is not a user id."</div></section>
            }
            .into_any(),
        }}
    }
    .into_any()
}

/// A fresh idempotency key for the next adjustment: a retried request posts once.
fn new_key() -> String {
    let r = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("web-{:x}-{r:x}", js_sys::Date::now() as u64)
}

fn kind_text(k: &str) -> &'static str {
    match k {
        "payment" => "Top-up",
        "refund" => "Refund",
        "dispute" => "Dispute",
        "call" => "Call",
        "adjustment" => "Adjustment",
        _ => "Other",
    }
}

#[component]
fn UserPage(id: i64) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let me = auth.user().map(|u| u.id);
    let user: RwSignal<Option<api::User>> = RwSignal::new(None);
    let balance: RwSignal<Option<api::Balance>> = RwSignal::new(None);
    let plans: RwSignal<Vec<api::RatePlan>> = RwSignal::new(vec![]);
    let plan_choice = RwSignal::new(String::new());
    let limit_text = RwSignal::new(String::new());
    let amount = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let key = StoredValue::new(new_key());
    let ledger_page = RwSignal::new(1u32);
    let ledger: RwSignal<Option<api::Page<api::LedgerLine>>> = RwSignal::new(None);
    let calls: RwSignal<Vec<api::Cdr>> = RwSignal::new(vec![]);
    let calls_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    // Plan, credit limit and account status share one banner; the adjustment has its own.
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let saved = RwSignal::new(None::<String>);
    let adjust_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let adjust_ok = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    spawn_local(async move {
        match auth.call(|t| rest::user(t, id)).await {
            Ok(u) => {
                plan_choice.set(u.rate_plan_id.map(|p| p.to_string()).unwrap_or_default());
                user.set(Some(u));
            }
            Err(e) => error.set(Some(e)),
        }
    });
    spawn_local(async move {
        if let Ok(p) = auth.call(rest::rate_plans).await {
            plans.set(p);
        }
    });
    let load_balance = move || {
        spawn_local(async move {
            match auth.call(|t| rest::user_balance(t, id)).await {
                Ok(b) => {
                    if limit_text.with_untracked(String::is_empty) {
                        limit_text.set(rest::money(b.credit_limit_micros));
                    }
                    balance.set(Some(b));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let load_ledger = move || {
        let p = ledger_page.get_untracked();
        spawn_local(async move {
            if let Ok(l) = auth.call(|t| rest::user_ledger(t, id, p)).await {
                ledger.set(Some(l));
            }
        });
    };
    let load_calls = move || {
        let q = api::CdrQuery { user: Some(id), limit: Some(20), ..Default::default() };
        spawn_local(async move {
            match auth.call(|t| rest::cdrs(t, q.clone())).await {
                Ok(p) => {
                    calls.set(p.items);
                    calls_error.set(None);
                }
                Err(e) => calls_error.set(Some(e)),
            }
        });
    };
    load_balance();
    load_ledger();
    load_calls();
    // Another amount or reason is another adjustment.
    Effect::new(move || {
        amount.track();
        reason.track();
        key.set_value(new_key());
    });

    let toggle = move |_| {
        let Some(u) = user.get_untracked() else { return };
        saved.set(None);
        spawn_local(async move {
            match auth.call(|t| rest::set_disabled(t, id, !u.disabled)).await {
                Ok(updated) => {
                    error.set(None);
                    saved.set(Some(if updated.disabled { "Account disabled." } else { "Account enabled." }.into()));
                    user.set(Some(updated));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let save_plan = move |ev: SubmitEvent| {
        ev.prevent_default();
        saved.set(None);
        let choice = plan_choice.get_untracked();
        let plan = if choice.is_empty() {
            None
        } else {
            match choice.parse::<i64>() {
                Ok(p) => Some(p),
                Err(_) => return error.set(Some(ApiError::local_field("rate_plan_id", "is not a rate plan"))),
            }
        };
        spawn_local(async move {
            match auth.call(|t| rest::set_user_plan(t, id, api::UserRatePlan { rate_plan_id: plan })).await {
                Ok(r) => {
                    error.set(None);
                    user.update(|u| {
                        if let Some(u) = u {
                            u.rate_plan_id = r.rate_plan_id;
                        }
                    });
                    let name = match r.rate_plan_id {
                        None => "the default plan".to_string(),
                        Some(p) => plans.with_untracked(|l| {
                            l.iter().find(|x| x.id == p).map_or_else(|| format!("plan #{p}"), |x| x.name.clone())
                        }),
                    };
                    saved.set(Some(format!("Rate plan saved: {name}.")));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let save_limit = move |ev: SubmitEvent| {
        ev.prevent_default();
        saved.set(None);
        let req = api::CreditLimit { credit_limit: limit_text.get_untracked().trim().to_string() };
        spawn_local(async move {
            match auth.call(|t| rest::set_credit_limit(t, id, req.clone())).await {
                Ok(b) => {
                    error.set(None);
                    saved.set(Some(format!("Credit limit set to {}.", rest::money(b.credit_limit_micros))));
                    limit_text.set(rest::money(b.credit_limit_micros));
                    balance.set(Some(b));
                    load_ledger();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let adjust = move |ev: SubmitEvent| {
        ev.prevent_default();
        adjust_ok.set(None);
        let text = amount.get_untracked().trim().to_string();
        let req = api::Adjustment {
            amount: text.clone(),
            reason: reason.get_untracked().trim().to_string(),
            idempotency_key: Some(key.get_value()),
        };
        busy.set(true);
        spawn_local(async move {
            match auth.call(|t| rest::adjust(t, id, req.clone())).await {
                Ok(b) => {
                    adjust_error.set(None);
                    let what = if text.starts_with('-') { "Debit" } else { "Credit" };
                    adjust_ok
                        .set(Some(format!("{what} of {text} posted. Balance now {}.", rest::money(b.balance_micros))));
                    amount.set(String::new());
                    reason.set(String::new());
                    balance.set(Some(b));
                    ledger_page.set(1);
                    load_ledger();
                }
                Err(e) => adjust_error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let is_me = move || user.with(|u| u.as_ref().map(|u| u.id)) == me;

    view! {
        <section class="card" id="user-detail">
            <p><A href="/admin">"‹ All users"</A></p>
            <h1 id="user-title">{move || user.with(|u| u.as_ref().map_or_else(|| "User".into(), |u| u.display_name.clone()))}</h1>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="user-error">{e.message}</div> })}
            {move || saved.get().map(|s| view! { <div class="banner info" id="user-saved">{s}</div> })}
            {move || user.get().map(|u| view! {
                <dl class="details" data-user-id=u.id>
                    <dt>"Email"</dt><dd id="user-email">{u.email.clone()}</dd>
                    <dt>"Name"</dt><dd id="user-name">{u.display_name.clone()}</dd>
                    <dt>"Role"</dt><dd id="user-role">{if u.role == api::Role::Admin { "admin" } else { "user" }}</dd>
                    <dt>"Status"</dt>
                    <dd>
                        <span id="user-status" class:bad=u.disabled class:good=!u.disabled>{if u.disabled { "Disabled" } else { "Active" }}</span>
                        {u.under_review.then(|| view! {
                            <span class="badge warn under-review" title="A card payment was disputed: card top-ups are refused">"under review"</span>
                        })}
                    </dd>
                    <dt>"Country"</dt><dd id="user-country">{u.country.clone().unwrap_or_else(|| "–".into())}</dd>
                    <dt>"Since"</dt><dd id="user-created">{when(&u.created_at)}</dd>
                </dl>
            })}
            <div class="form-actions">
                <button id="user-toggle" class:danger=move || user.with(|u| u.as_ref().is_some_and(|u| !u.disabled))
                    disabled=move || user.with(Option::is_none) || is_me()
                    title=move || if is_me() { "You cannot disable your own account" } else { "" }
                    on:click=toggle>
                    {move || if user.with(|u| u.as_ref().is_some_and(|u| u.disabled)) { "Enable" } else { "Disable" }}
                </button>
                <A href=format!("/admin/calls?user={id}") attr:id="user-all-calls">"All their calls"</A>
                <A href=format!("/admin/audit?target=user:{id}") attr:id="user-audit">"Audit log"</A>
            </div>
        </section>

        <section class="card" id="user-money">
            <h2>"Money"</h2>
            <div class="stats">
                <div class="stat"><span>"Balance"</span><strong id="user-balance" class="money">{move || balance.get().map(|b| rest::money(b.balance_micros))}</strong></div>
                <div class="stat"><span>"Available for calls"</span><strong id="user-available" class="money">{move || balance.get().map(|b| rest::money(b.available_micros))}</strong></div>
                <div class="stat"><span>"Credit limit"</span><strong id="user-credit-limit-value" class="money">{move || balance.get().map(|b| rest::money(b.credit_limit_micros))}</strong></div>
            </div>
            <div class="user-forms">
                <form id="user-plan-form" class="inline-form" on:submit=save_plan>
                    <label class="field">
                        <span>"Rate plan"</span>
                        <select id="user-plan" name="rate_plan_id" class:invalid=has_field_error(error, "rate_plan_id")
                            on:change=move |ev| plan_choice.set(event_target_value(&ev))>
                            <option value="" prop:selected=move || plan_choice.get().is_empty()>"Default plan"</option>
                            <For each=move || plans.get() key=|p| p.id let(p)>
                                {
                                    let v = p.id.to_string();
                                    let mine = v.clone();
                                    let name = if p.is_default { format!("{} (the default)", p.name) } else { p.name.clone() };
                                    view! { <option value=v prop:selected=move || plan_choice.get() == mine>{name}</option> }
                                }
                            </For>
                        </select>
                        <FieldError error name="rate_plan_id" id="user-plan-error" label="Rate plan"/>
                    </label>
                    <button type="submit" id="user-plan-save">"Save plan"</button>
                </form>
                <form id="user-credit-limit-form" class="inline-form" novalidate on:submit=save_limit>
                    <label class="field">
                        <span>"Credit limit"</span>
                        <input type="text" inputmode="decimal" id="user-credit-limit" name="credit_limit" autocomplete="off"
                            class:invalid=has_field_error(error, "credit_limit") bind:value=limit_text/>
                        <FieldError error name="credit_limit" id="user-credit-limit-error" label="Credit limit"/>
                    </label>
                    <button type="submit" id="user-credit-limit-save">"Set limit"</button>
                </form>
            </div>
            <p class="hint">"The credit limit is how far below zero the balance may go on calls."</p>

            <h2>"Credit or debit"</h2>
            {move || adjust_error.get().map(|e| view! { <div class="banner error" role="alert" id="adjust-error">{e.message}</div> })}
            {move || adjust_ok.get().map(|s| view! { <div class="banner info" id="adjust-ok">{s}</div> })}
            <form id="adjust-form" class="adjust-form" novalidate on:submit=adjust>
                <label class="field">
                    <span>"Amount"</span>
                    <input type="text" inputmode="decimal" id="adjust-amount" name="amount" placeholder="10.00 or -2.50" autocomplete="off"
                        class:invalid=has_field_error(adjust_error, "amount") bind:value=amount/>
                    <FieldError error=adjust_error name="amount" id="adjust-amount-error" label="Amount"/>
                </label>
                <label class="field">
                    <span>"Reason"</span>
                    <input type="text" id="adjust-reason" name="reason" placeholder="Goodwill credit for the outage" autocomplete="off"
                        class:invalid=has_field_error(adjust_error, "reason") bind:value=reason/>
                    <FieldError error=adjust_error name="reason" id="adjust-reason-error" label="Reason"/>
                </label>
                <button type="submit" class="primary" id="adjust-submit" disabled=move || busy.get()>"Post"</button>
            </form>
            <p class="hint">"A negative amount debits the account. The reason goes into the statement and the audit log."</p>
        </section>

        <section class="card">
            <h2>"Statement"</h2>
            <div class="table-wrap">
                <table class="users ledger" id="user-ledger">
                    <thead><tr><th>"Date (UTC)"</th><th>"What"</th><th>"Amount"</th></tr></thead>
                    <tbody>
                        <For each=move || ledger.get().map(|d| d.items).unwrap_or_default() key=|l| l.id let(l)>
                            <tr class="ledger-line" data-kind=l.kind.clone() data-amount=l.amount_micros>
                                <td class="when">{when(&l.at)}</td>
                                <td>{kind_text(&l.kind)} <span class="muted description">" · " {l.description.clone()}</span></td>
                                <td class="amount money" class:negative=l.amount_micros < 0>{rest::money(l.amount_micros)}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || ledger.get().filter(|d| d.items.is_empty()).map(|_| view! { <p class="muted" id="user-ledger-empty">"Nothing yet."</p> })}
            {move || ledger.get().map(|d| view! { <Pager page=ledger_page current=d.page total=d.total per_page=d.per_page load=load_ledger/> })}
        </section>

        <section class="card">
            <h2>"Latest calls"</h2>
            {move || calls_error.get().map(|e| view! { <div class="banner error" role="alert" id="user-calls-error">{e.message}</div> })}
            <CdrTable items=calls id="user-calls"/>
            <Show when=move || calls.with(Vec::is_empty)>
                <p class="muted" id="user-calls-empty">"No calls."</p>
            </Show>
        </section>
    }
}
