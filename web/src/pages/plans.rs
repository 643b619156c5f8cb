//! Admin: retail rate plans, what users pay. The plans (one is the default, for users without
//! one of their own), a new plan, and one plan's rates: paged, one added by hand, or a whole
//! price list imported from CSV (refused whole, with each line's reason) or exported.

use leptos::{ev::SubmitEvent, html, prelude::*, task::spawn_local};
use protocol::api;
use wasm_bindgen::JsCast;

use super::{
    FieldError, LabeledInput,
    admin::{AdminNav, need_admin},
    has_field_error, when,
};
use crate::{api as rest, api::ApiError, session::Auth};

#[component]
pub fn Plans() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let plans: RwSignal<Vec<api::RatePlan>> = RwSignal::new(vec![]);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let name = RwSignal::new(String::new());
    let selected: RwSignal<Option<i64>> = RwSignal::new(None);
    let notice = RwSignal::new(None::<String>);

    let load = move || {
        spawn_local(async move {
            match auth.call(rest::rate_plans).await {
                Ok(p) => plans.set(p),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();
    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        notice.set(None);
        let req = api::NewRatePlan { name: name.get_untracked().trim().to_string() };
        spawn_local(async move {
            match auth.call(|t| rest::create_rate_plan(t, req.clone())).await {
                Ok(p) => {
                    error.set(None);
                    name.set(String::new());
                    notice.set(Some(format!("Created the plan {}.", p.name)));
                    selected.set(Some(p.id));
                    load();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    // The open plan: rebuilt only when another is opened. Its name follows the list (it may
    // arrive later), without rebuilding it (a rebuild would drop its loads in flight).
    let current = Memo::new(move |_| selected.get());

    view! {
        <AdminNav/>
        <section class="card">
            <h1>"Rate plans"</h1>
            <p class="muted">
                "What users pay to call phone numbers, by prefix. Users without a plan of their own are on the "
                "default plan; choose a user's plan on their page."
            </p>
            {move || error.get().map(|e| {
                let text = e.field("name").map_or(e.message.clone(), |r| format!("Name {r}."));
                view! { <div class="banner error" role="alert" id="plan-error">{text}</div> }
            })}
            {move || notice.get().map(|n| view! { <div class="banner info" id="plan-notice">{n}</div> })}
            <div class="table-wrap">
                <table class="users" id="plans">
                    <thead><tr><th>"Plan"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || plans.get() key=|p| (p.id, p.name.clone(), p.is_default) let(p)>
                            <tr class="plan" data-plan-id=p.id data-name=p.name.clone()
                                class:selected=move || selected.get() == Some(p.id)>
                                <td class="name">
                                    {p.name.clone()}
                                    {p.is_default.then(|| view! { <span class="badge default">"default"</span> })}
                                </td>
                                <td class="row-actions">
                                    <button class="plan-open" on:click=move |_| selected.set(Some(p.id))>"Rates"</button>
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            <Show when=move || plans.with(Vec::is_empty)>
                <p class="muted" id="no-plans">"No plans yet."</p>
            </Show>
            <form class="search" id="new-plan-form" novalidate on:submit=create>
                <input type="text" id="new-plan-name" name="name" placeholder="New plan name" autocomplete="off"
                    class:invalid=has_field_error(error, "name") bind:value=name/>
                <button type="submit" class="primary" id="new-plan-create">"Create plan"</button>
            </form>
        </section>
        {move || current.get().map(|id| {
            let name = Signal::derive(move || plans.with(|l| l.iter().find(|p| p.id == id).map(|p| p.name.clone())));
            let is_default = Signal::derive(move || plans.with(|l| l.iter().any(|p| p.id == id && p.is_default)));
            let changed = Callback::new(move |()| load());
            view! { <PlanSettings id name is_default changed/> <PlanRates id name/> }
        })}
    }
    .into_any()
}

/// A plan's name and whether it is the default, changed in place.
#[component]
fn PlanSettings(
    id: i64,
    name: Signal<Option<String>>,
    is_default: Signal<bool>,
    changed: Callback<()>,
) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let new_name = RwSignal::new(String::new());
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let saved = RwSignal::new(None::<String>);
    let save = move |req: api::RatePlanUpdate| {
        saved.set(None);
        spawn_local(async move {
            match auth.call(|t| rest::update_rate_plan(t, id, req.clone())).await {
                Ok(p) => {
                    error.set(None);
                    new_name.set(String::new());
                    saved.set(Some(if p.is_default && req.is_default.is_some() {
                        format!("{} is now the default plan.", p.name)
                    } else {
                        format!("Renamed to {}.", p.name)
                    }));
                    changed.run(());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let rename = move |ev: SubmitEvent| {
        ev.prevent_default();
        save(api::RatePlanUpdate { name: Some(new_name.get_untracked()), is_default: None });
    };
    view! {
        <section class="card" id="plan-settings">
            <h2>{move || format!("Plan {}", name.get().unwrap_or_default())}</h2>
            {move || saved.get().map(|s| view! { <div class="banner info" id="plan-saved">{s}</div> })}
            <form class="search" id="plan-rename-form" novalidate on:submit=rename>
                <input type="text" id="plan-rename" name="name" placeholder="New name" autocomplete="off"
                    class:invalid=has_field_error(error, "name") bind:value=new_name/>
                <button type="submit" id="plan-rename-save">"Rename"</button>
                <button type="button" id="plan-make-default" disabled=move || is_default.get()
                    on:click=move |_| save(api::RatePlanUpdate { name: None, is_default: Some(true) })>
                    {move || if is_default.get() { "The default plan" } else { "Make default" }}
                </button>
            </form>
            <FieldError error name="name" id="plan-rename-error" label="Name"/>
            {move || error.get().filter(|e| e.fields.is_empty()).map(|e| view! {
                <div class="banner error" role="alert" id="plan-settings-error">{e.message}</div>
            })}
            <p class="hint">"Users without a plan of their own are sold the default plan's rates."</p>
        </section>
    }
}

/// The rate form's fields, as typed.
#[derive(Clone, Copy)]
struct RateForm {
    prefix: RwSignal<String>,
    description: RwSignal<String>,
    per_minute: RwSignal<String>,
    connection_fee: RwSignal<String>,
    min_duration: RwSignal<String>,
    first_increment: RwSignal<String>,
    next_increment: RwSignal<String>,
}

/// Empty: the server's default. Not a whole number: out of range, so the server says why.
fn seconds(s: RwSignal<String>) -> Option<u32> {
    let t = s.get_untracked();
    let t = t.trim();
    (!t.is_empty()).then(|| t.parse().unwrap_or(u32::MAX))
}

impl RateForm {
    fn new() -> Self {
        Self {
            prefix: RwSignal::new(String::new()),
            description: RwSignal::new(String::new()),
            per_minute: RwSignal::new(String::new()),
            connection_fee: RwSignal::new(String::new()),
            min_duration: RwSignal::new(String::new()),
            first_increment: RwSignal::new(String::new()),
            next_increment: RwSignal::new(String::new()),
        }
    }

    fn input(&self) -> api::RetailRateInput {
        let fee = self.connection_fee.get_untracked().trim().to_string();
        api::RetailRateInput {
            prefix: self.prefix.get_untracked().trim().to_string(),
            description: self.description.get_untracked().trim().to_string(),
            per_minute: self.per_minute.get_untracked().trim().to_string(),
            connection_fee: (!fee.is_empty()).then_some(fee),
            min_duration: seconds(self.min_duration),
            first_increment: seconds(self.first_increment),
            next_increment: seconds(self.next_increment),
            effective_from: None,
            effective_until: None,
        }
    }

    fn clear(&self) {
        for s in [self.prefix, self.description, self.per_minute, self.connection_fee, self.min_duration] {
            s.set(String::new());
        }
    }
}

/// A refused file's reasons in file order: `line 2` before `line 10`, then the rest.
fn line_order(fields: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fields.iter().map(|(k, r)| (k.clone(), r.clone())).collect();
    v.sort_by_key(|(k, _)| k.strip_prefix("line ").and_then(|n| n.parse::<u64>().ok()).unwrap_or(u64::MAX));
    v
}

/// One plan's rates, the form to add one, and its CSV import and export.
#[component]
fn PlanRates(id: i64, name: Signal<Option<String>>) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let page = RwSignal::new(1u32);
    let rates: RwSignal<Option<api::Page<api::RetailRate>>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let form = RateForm::new();
    let rate_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let rate_ok = RwSignal::new(None::<String>);
    let file_input: NodeRef<html::Input> = NodeRef::new();
    let importing = RwSignal::new(false);
    let import_from = RwSignal::new(String::new());
    let imported: RwSignal<Option<api::RatesImported>> = RwSignal::new(None);
    let import_error: RwSignal<Option<ApiError>> = RwSignal::new(None);

    let load = move || {
        let p = page.get_untracked();
        spawn_local(async move {
            match auth.call(|t| rest::plan_rates(t, id, p)).await {
                Ok(r) => {
                    rates.set(Some(r));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        rate_ok.set(None);
        let req = form.input();
        spawn_local(async move {
            match auth.call(|t| rest::add_rate(t, id, req.clone())).await {
                Ok(r) => {
                    rate_error.set(None);
                    rate_ok.set(Some(format!("Added {} at {}/min.", r.prefix, rest::money(r.per_minute_micros))));
                    form.clear();
                    load();
                }
                Err(e) => rate_error.set(Some(e)),
            }
        });
    };
    let import = move |ev: SubmitEvent| {
        ev.prevent_default();
        imported.set(None);
        let file = file_input
            .get_untracked()
            .and_then(|i| i.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|i| i.files())
            .and_then(|f| f.get(0));
        let Some(file) = file else {
            import_error.set(Some(ApiError::local_field("file", "choose a CSV file")));
            return;
        };
        // `datetime-local` gives local time without a zone: sent as UTC.
        let when = import_from.get_untracked();
        let when = (!when.is_empty()).then(|| format!("{when}:00Z"));
        importing.set(true);
        spawn_local(async move {
            match auth.call(|t| rest::import_rates(t, id, when.clone(), file.clone())).await {
                Ok(r) => {
                    import_error.set(None);
                    imported.set(Some(r));
                    page.set(1);
                    load();
                }
                Err(e) => import_error.set(Some(e)),
            }
            importing.set(false);
        });
    };
    let export = move |_| {
        spawn_local(async move {
            let done = auth.call(|t| rest::save_export(t, rest::rates_export(id), format!("rate-plan-{id}.csv"))).await;
            import_error.set(done.err());
        });
    };
    let end = move |rate: i64| {
        spawn_local(async move {
            match auth.call(|t| rest::end_rate(t, id, rate)).await {
                Ok(r) => {
                    rate_error.set(None);
                    rate_ok.set(Some(format!("Ended the rate for {}.", r.prefix)));
                    load();
                }
                Err(e) => rate_error.set(Some(e)),
            }
        });
    };
    let title = move || name.get().unwrap_or_else(|| format!("plan #{id}"));
    let pages = move || rates.with(|r| r.as_ref().map_or(1, |r| r.total.div_ceil(u64::from(r.per_page.max(1))).max(1)));

    view! {
        <section class="card" id="plan-detail" data-plan-id=id>
            <h2 id="plan-title">{move || format!("Rates of {}", title())}</h2>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="rates-load-error">{e.message}</div> })}
            <div class="table-wrap">
                <table class="users rates" id="plan-rates">
                    <thead><tr>
                        <th>"Prefix"</th><th>"Description"</th><th>"Per minute"</th><th>"Connection fee"</th>
                        <th>"Min"</th><th>"Increments"</th><th>"Effective from"</th><th>"Until"</th><th></th>
                    </tr></thead>
                    <tbody>
                        <For each=move || rates.get().map(|r| r.items).unwrap_or_default() key=|r| (r.id, r.effective_until.clone()) let(r)>
                            <tr class="rate" data-prefix=r.prefix.clone() data-id=r.id>
                                <td class="prefix">{r.prefix.clone()}</td>
                                <td class="description">{r.description.clone()}</td>
                                <td class="per-minute money">{rest::money(r.per_minute_micros)}</td>
                                <td class="connection-fee money">{rest::money(r.connection_fee_micros)}</td>
                                <td class="min-duration">{format!("{} s", r.min_duration)}</td>
                                <td class="increments">{format!("{}/{}", r.first_increment, r.next_increment)}</td>
                                <td class="effective-from">{when(&r.effective_from)}</td>
                                <td class="effective-until">{r.effective_until.as_deref().map_or_else(|| "–".to_string(), when)}</td>
                                <td class="row-actions">
                                    {r.effective_until.is_none().then(|| {
                                        let rate = r.id;
                                        view! { <button class="rate-end" on:click=move |_| end(rate)>"End now"</button> }
                                    })}
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || rates.get().filter(|r| r.items.is_empty()).map(|_| view! {
                <p class="muted" id="no-rates">"No rates: calls to phone numbers are refused on this plan."</p>
            })}
            {move || rates.get().map(|r| view! {
                <div class="pager">
                    <button id="rates-prev" disabled=move || page.get() <= 1 on:click=move |_| { page.update(|p| *p -= 1); load(); }>"‹ Previous"</button>
                    <span id="rates-page-info">{format!("Page {} of {} · {} {}", r.page, pages(), r.total, if r.total == 1 { "rate" } else { "rates" })}</span>
                    <button id="rates-next" disabled=move || { u64::from(page.get()) >= pages() } on:click=move |_| { page.update(|p| *p += 1); load(); }>"Next ›"</button>
                </div>
            })}
        </section>

        <section class="card">
            <h2>"Add a rate"</h2>
            {move || rate_error.get().map(|e| view! { <div class="banner error" role="alert" id="rate-error">{e.message}</div> })}
            {move || rate_ok.get().map(|s| view! { <div class="banner info" id="rate-ok">{s}</div> })}
            <form class="rate-form" id="rate-form" novalidate on:submit=add>
                <LabeledInput label="Prefix" name="prefix" id="rate-prefix" error_id="rate-prefix-error" placeholder="4420" value=form.prefix error=rate_error/>
                <LabeledInput label="Description" name="description" id="rate-description" error_id="rate-description-error" placeholder="UK London" value=form.description error=rate_error/>
                <LabeledInput label="Per minute" name="per_minute" id="rate-per-minute" error_id="rate-per-minute-error" placeholder="0.012" value=form.per_minute error=rate_error/>
                <LabeledInput label="Connection fee" name="connection_fee" id="rate-connection-fee" error_id="rate-connection-fee-error" placeholder="0" value=form.connection_fee error=rate_error/>
                <LabeledInput label="Minimum (s)" name="min_duration" id="rate-min-duration" error_id="rate-min-duration-error" placeholder="0" value=form.min_duration error=rate_error/>
                <LabeledInput label="First increment (s)" name="first_increment" id="rate-first-increment" error_id="rate-first-increment-error" placeholder="60" value=form.first_increment error=rate_error/>
                <LabeledInput label="Next increments (s)" name="next_increment" id="rate-next-increment" error_id="rate-next-increment-error" placeholder="60" value=form.next_increment error=rate_error/>
                <div class="form-actions"><button type="submit" class="primary" id="rate-add">"Add rate"</button></div>
            </form>
            <p class="hint">"Effective now. A prefix that already has a rate in effect is refused: import a price list instead, which supersedes the rates in effect from its date."</p>
        </section>

        <section class="card">
            <h2>"Price list (CSV)"</h2>
            <p class="muted">
                "The buy decks' format: prefix, description, price_per_minute, connection_fee, min_duration, "
                "and increment (or first_increment and next_increment). A file with any error is refused whole, "
                "with each line's reason."
            </p>
            <form class="stack" id="rates-import-form" on:submit=import>
                <label class="field"><span>"CSV file"</span>
                    <input type="file" id="rates-file" accept=".csv,text/csv" node_ref=file_input/>
                </label>
                <label class="field"><span>"Effective from (UTC; empty: now)"</span>
                    <input type="datetime-local" id="rates-from" prop:value=move || import_from.get()
                        on:input=move |ev| import_from.set(event_target_value(&ev))/>
                </label>
                <div class="form-actions">
                    <button type="submit" class="primary" id="rates-import" disabled=move || importing.get()>
                        {move || if importing.get() { "Importing…" } else { "Import" }}
                    </button>
                    <button type="button" id="rates-export" on:click=export>"Export CSV"</button>
                </div>
            </form>
            {move || imported.get().map(|r| view! {
                <div class="banner info" id="rates-import-result" data-rows=r.rows>
                    {format!("Imported {} {}, effective from {}.", r.rows, if r.rows == 1 { "rate" } else { "rates" }, when(&r.effective_from))}
                </div>
            })}
            {move || import_error.get().map(|e| view! {
                <div class="banner error" role="alert" id="rates-error">
                    <p>{e.message.clone()}</p>
                    {(!e.fields.is_empty()).then(|| view! {
                        <ul class="line-errors">
                            {line_order(&e.fields).into_iter().map(|(k, v)| view! { <li data-key=k.clone()>{format!("{k}: {v}")}</li> }).collect_view()}
                        </ul>
                    })}
                </div>
            })}
        </section>
    }
}
