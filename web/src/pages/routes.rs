//! Admin: carriers' buy rate decks and the route simulator. Upload a deck (CSV) for a carrier,
//! with progress and, when the file is refused, every line's reason; see each carrier's deck
//! versions; and ask "what would happen if I dialled this number?".

use leptos::{ev::SubmitEvent, html, prelude::*, task::spawn_local};
use protocol::api;
use wasm_bindgen::JsCast;

use super::admin::{AdminNav, need_admin};
use crate::{api as rest, api::ApiError, session::Auth};

#[component]
pub fn Routes() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let carriers: RwSignal<Vec<api::Carrier>> = RwSignal::new(vec![]);
    let carrier = RwSignal::new(String::new());
    let from = RwSignal::new(String::new());
    let decks: RwSignal<Vec<api::Deck>> = RwSignal::new(vec![]);
    let busy = RwSignal::new(false);
    let progress: RwSignal<Option<api::DeckImport>> = RwSignal::new(None);
    let result: RwSignal<Option<Result<api::Deck, ApiError>>> = RwSignal::new(None);
    let file_input: NodeRef<html::Input> = NodeRef::new();

    let export_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let export = move |carrier: i64, deck: i64| {
        let (path, name) = (rest::deck_export(carrier, deck), format!("carrier-{carrier}-deck-{deck}.csv"));
        spawn_local(async move {
            let done = auth.call(|t| rest::save_export(t, path.clone(), name.clone())).await;
            export_error.set(done.err());
        });
    };
    let load_decks = move |id: i64| {
        spawn_local(async move {
            if let Ok(d) = auth.call(|t| rest::decks(t, id)).await {
                decks.set(d);
            }
        });
    };
    spawn_local(async move {
        if let Ok(list) = auth.call(rest::list_carriers).await {
            if let Some(first) = list.first() {
                carrier.set(first.id.to_string());
                load_decks(first.id);
            }
            carriers.set(list);
        }
    });

    let upload = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Ok(id) = carrier.get_untracked().parse::<i64>() else {
            result.set(Some(Err(ApiError::local_field("carrier", "choose a carrier"))));
            return;
        };
        let file = file_input
            .get_untracked()
            .and_then(|i| i.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|i| i.files())
            .and_then(|f| f.get(0));
        let Some(file) = file else {
            result.set(Some(Err(ApiError::local_field("file", "choose a CSV file"))));
            return;
        };
        // `datetime-local` gives local time without a zone: sent as UTC.
        let when = from.get_untracked();
        let when = (!when.is_empty()).then(|| format!("{when}:00Z"));
        busy.set(true);
        result.set(None);
        progress.set(None);
        // Progress while the upload runs: the newest import job of this carrier.
        spawn_local(async move {
            while busy.get_untracked() {
                crate::phone::sleep(400).await;
                if let Ok(jobs) = auth.call(rest::deck_imports).await
                    && busy.get_untracked()
                {
                    progress.set(jobs.into_iter().find(|j| j.carrier_id == id));
                }
            }
        });
        spawn_local(async move {
            let r = auth.call(|t| rest::upload_deck(t, id, when.clone(), file.clone())).await;
            busy.set(false);
            result.set(Some(r));
            load_decks(id);
        });
    };

    view! {
        <AdminNav/>
        <section class="card">
            <h1>"Rate decks"</h1>
            <p class="muted">
                "A carrier's buy prices, as CSV: prefix, description, price_per_minute, connection_fee, "
                "min_duration, and increment (or first_increment and next_increment). A file with any "
                "error is refused whole, with each line's reason. Calls use the cheapest carrier that "
                "has the number and buys below its sell price."
            </p>
            <form class="stack" id="deck-form" on:submit=upload>
                <label>"Carrier"
                    <select id="deck-carrier" prop:value=move || carrier.get()
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            if let Ok(id) = v.parse() { load_decks(id); }
                            carrier.set(v);
                        }>
                        <For each=move || carriers.get() key=|c| c.id let(c)>
                            <option value=c.id.to_string()>{c.name.clone()}</option>
                        </For>
                    </select>
                </label>
                <label>"Effective from (UTC; empty: now)"
                    <input type="datetime-local" id="deck-from" prop:value=move || from.get()
                        on:input=move |ev| from.set(event_target_value(&ev))/>
                </label>
                <label>"CSV file" <input type="file" id="deck-file" accept=".csv,text/csv" node_ref=file_input/></label>
                <button class="primary" id="deck-upload" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Importing…" } else { "Import deck" }}
                </button>
            </form>
            {move || progress.get().filter(|_| busy.get()).map(|p| view! {
                <p class="muted" id="deck-progress" data-state=p.state.clone()>
                    {format!("{}: {} bytes received, {} rows checked, {} written", p.state, p.bytes, p.rows_checked, p.rows_written)}
                </p>
            })}
            {move || result.get().map(|r| match r {
                Ok(d) => view! {
                    <div class="banner info" id="deck-result">
                        {format!(
                            "Imported {} {} as deck #{}{}.",
                            d.rows,
                            if d.rows == 1 { "row" } else { "rows" },
                            d.id,
                            if d.active { ", in effect now" } else { ", effective later" }
                        )}
                    </div>
                }.into_any(),
                Err(e) => view! {
                    <div class="banner error" role="alert" id="deck-error">
                        <p>{e.message.clone()}</p>
                        <ul id="deck-errors">
                            {e.fields.iter().map(|(k, v)| view! { <li data-key=k.clone()>{format!("{k}: {v}")}</li> }).collect_view()}
                        </ul>
                    </div>
                }.into_any(),
            })}
            <h2>"Versions"</h2>
            {move || export_error.get().map(|e| view! { <div class="banner error" role="alert" id="export-error">{e.message}</div> })}
            <div class="table-wrap">
                <table class="users" id="decks">
                    <thead><tr><th>"Deck"</th><th>"Effective from"</th><th>"Rows"</th><th>"Status"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || decks.get() key=|d| (d.id, d.active) let(d)>
                            <tr data-id=d.id.to_string() data-active=d.active.to_string()>
                                <td>{format!("#{}", d.id)}</td>
                                <td>{d.effective_from.clone()}</td>
                                <td>{d.rows}</td>
                                <td>{if d.active { "in effect" } else { "not in effect" }}</td>
                                <td class="row-actions">
                                    <button class="export" data-id=d.id.to_string() on:click=move |_| export(d.carrier_id, d.id)>"Export CSV"</button>
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
        <Simulator/>
    }
    .into_any()
}

/// "What would happen if I dialled this number?"
#[component]
fn Simulator() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let number = RwSignal::new(String::new());
    let sim: RwSignal<Option<Result<api::RouteSimulation, ApiError>>> = RwSignal::new(None);
    let run = move |ev: SubmitEvent| {
        ev.prevent_default();
        let n = number.get_untracked();
        spawn_local(async move {
            sim.set(Some(auth.call(|t| rest::simulate_route(t, n.clone())).await));
        });
    };
    view! {
        <section class="card">
            <h2>"Route simulator"</h2>
            <form class="search" on:submit=run>
                <input id="sim-number" placeholder="+44 20 7946 0123" prop:value=move || number.get()
                    on:input=move |ev| number.set(event_target_value(&ev))/>
                <button class="primary" id="sim-run" type="submit">"Simulate"</button>
            </form>
            {move || sim.get().map(|r| match r {
                Err(e) => view! { <div class="banner error" id="sim-error">{e.field("number").map_or(e.message.clone(), |r| format!("Number {r}"))}</div> }.into_any(),
                Ok(s) => view! {
                    <p id="sim-sell">
                        {match &s.sell {
                            Some(r) => format!("{} sells at {}/min (prefix {}).", s.number, rest::money(r.per_minute_micros), r.prefix),
                            None => format!("{} has no retail rate: calls to it are not allowed.", s.number),
                        }}
                        {if s.routes.is_empty() { " No route: the call would be refused." } else { "" }}
                    </p>
                    <table class="users" id="sim-verdicts">
                        <thead><tr><th>"Carrier"</th><th>"Prefix"</th><th>"Buys at"</th><th>"Verdict"</th></tr></thead>
                        <tbody>
                            {s.verdicts.iter().map(|v| view! {
                                <tr data-outcome=v.outcome.clone() data-carrier=v.carrier_name.clone()>
                                    <td>{v.carrier_name.clone()}</td>
                                    <td>{v.prefix.clone().unwrap_or_default()}</td>
                                    <td>{v.buy_per_minute_micros.map(|m| format!("{}/min", rest::money(m))).unwrap_or_default()}</td>
                                    <td>{v.explanation.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </section>
    }
}
