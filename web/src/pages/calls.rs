//! Admin: calls. The calls in progress, live (the server pushes them over the signaling socket
//! while this page is open), each with a button to end it; below, a search of the call records
//! (filters, keyset pages, CSV export). And one call with everything known about it.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};
use protocol::api;

use super::{
    FieldError, LabeledInput,
    admin::{AdminNav, need_admin},
    has_field_error, mmss, or_dash, when,
};
use crate::{
    api as rest,
    api::ApiError,
    phone::{self, Phone},
    session::Auth,
};

/// A call's kind in words.
fn kind_text(kind: &str) -> &'static str {
    match kind {
        "webrtc" => "Browser",
        "pstn_out" => "Phone, out",
        "pstn_in" => "Phone, in",
        _ => "Other",
    }
}

#[component]
pub fn Calls() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    view! {
        <AdminNav/>
        <LiveCalls/>
        <CdrSearch/>
    }
    .into_any()
}

/// The calls in progress: loaded once, then kept current by the server's `LiveCalls` pushes.
#[component]
fn LiveCalls() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let phone = expect_context::<Phone>();
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    phone::watch_calls(true);
    on_cleanup(|| phone::watch_calls(false));
    spawn_local(async move {
        match auth.call(rest::live_calls).await {
            // A push that arrived meanwhile is at least as new.
            Ok(calls) => {
                if phone.live_calls.try_get_untracked() == Some(None) {
                    phone.live_calls.set(Some(calls));
                }
            }
            Err(e) => error.set(Some(e)),
        }
    });
    let end = Callback::new(move |id: String| {
        spawn_local(async move {
            match auth.call(|t| rest::end_call(t, id.clone())).await {
                Ok(done) => {
                    error.set(None);
                    phone.live_calls.update(|l| {
                        if let Some(l) = l {
                            l.retain(|c| c.id != done.call_id);
                        }
                    });
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    let ids = move || {
        phone
            .live_calls
            .with(|l| l.as_ref().map(|l| l.iter().map(|c| c.id.clone()).collect::<Vec<_>>()).unwrap_or_default())
    };

    view! {
        <section class="card">
            <h1>"Calls"</h1>
            <h2>
                "In progress "
                <span class="badge" id="live-count">{move || phone.live_calls.with(|l| l.as_ref().map_or(0, Vec::len))}</span>
            </h2>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="live-error">{e.message}</div> })}
            <div class="table-wrap">
                <table class="users live" id="live-calls">
                    <thead><tr>
                        <th>"Caller"</th><th>"Destination"</th><th>"Carrier"</th><th>"State"</th>
                        <th>"Duration"</th><th>"Cost so far"</th><th></th>
                    </tr></thead>
                    <tbody>
                        // Rows keyed by call: a push updates their cells, the rows (and buttons) stay.
                        <For each=ids key=String::clone let(id)>
                            <LiveRow id=id end=end/>
                        </For>
                    </tbody>
                </table>
            </div>
            <Show when=move || phone.live_calls.with(|l| l.as_ref().is_some_and(Vec::is_empty))>
                <p class="muted" id="live-empty">"No calls in progress."</p>
            </Show>
        </section>
    }
}

#[component]
fn LiveRow(id: String, end: Callback<String>) -> impl IntoView {
    let phone = expect_context::<Phone>();
    let call = {
        let id = id.clone();
        Memo::new(move |_| phone.live_calls.with(|l| l.as_ref().and_then(|l| l.iter().find(|c| c.id == id).cloned())))
    };
    let text = move |f: fn(&api::LiveCall) -> String| move || call.with(|c| c.as_ref().map(f).unwrap_or_default());
    let state = text(|c| c.state.clone());
    let busy = RwSignal::new(false);
    let end_id = id.clone();
    view! {
        <tr class="live-call" data-call-id=id.clone() data-state=state>
            <td class="caller">
                {text(|c| c.caller.clone())}
                <small class="muted kind">{text(|c| format!(" · {}", kind_text(&c.kind)))}</small>
            </td>
            <td class="destination">{text(|c| c.destination.clone())}</td>
            <td class="carrier">{text(|c| c.carrier_name.clone().unwrap_or_else(|| "–".into()))}</td>
            <td class="state"><span class=move || format!("badge state-{}", state())>{state}</span></td>
            // Talk time once answered; before that, how long it has been setting up or ringing.
            <td class="duration" data-duration-secs=text(|c| c.duration_secs.to_string()) data-talk-secs=text(|c| c.talk_secs.to_string())>
                {text(|c| mmss(if c.state == "answered" { c.talk_secs } else { c.duration_secs }))}
            </td>
            <td class="cost money" data-cost=text(|c| c.cost_micros.to_string())>{text(|c| rest::money(c.cost_micros))}</td>
            <td class="row-actions">
                <A href=format!("/admin/calls/{id}") attr:class="details">"Details"</A>
                " "
                <button class="danger end-call" disabled=move || busy.get()
                    on:click=move |_| { busy.set(true); end.run(end_id.clone()); }>"End call"</button>
            </td>
        </tr>
    }
}

/// The search form's fields, as typed.
#[derive(Clone, Copy)]
struct Filters {
    from: RwSignal<String>,
    to: RwSignal<String>,
    user: RwSignal<String>,
    number: RwSignal<String>,
    carrier: RwSignal<String>,
    direction: RwSignal<String>,
    outcome: RwSignal<String>,
    cause: RwSignal<String>,
    cost_min: RwSignal<String>,
    cost_max: RwSignal<String>,
}

impl Filters {
    /// Filled from the page's query string (`/admin/calls?user=5`).
    fn from_url() -> Self {
        let q = use_query_map().get_untracked();
        let v = |k: &str| RwSignal::new(q.get(k).unwrap_or_default());
        Self {
            from: v("from"),
            to: v("to"),
            user: v("user"),
            number: v("number"),
            carrier: v("carrier"),
            direction: v("direction"),
            outcome: v("outcome"),
            cause: v("cause"),
            cost_min: v("cost_min"),
            cost_max: v("cost_max"),
        }
    }

    fn query(&self) -> Result<api::CdrQuery, ApiError> {
        let text = |s: RwSignal<String>| Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty());
        let id = |s: RwSignal<String>, name: &str, what: &str| {
            text(s).map(|v| v.parse::<i64>().map_err(|_| ApiError::local_field(name, what))).transpose()
        };
        Ok(api::CdrQuery {
            from: utc(text(self.from)),
            to: utc(text(self.to)),
            user: id(self.user, "user", "must be a user id (a number)")?,
            number: text(self.number),
            carrier: id(self.carrier, "carrier", "is not a carrier")?,
            direction: text(self.direction),
            outcome: text(self.outcome),
            cause: text(self.cause),
            cost_min: text(self.cost_min),
            cost_max: text(self.cost_max),
            after: None,
            limit: None,
        })
    }
}

/// `datetime-local` gives `YYYY-MM-DDTHH:MM[:SS]` without a zone: read as UTC. Anything else
/// (a date from a link, `2026-11-01`) goes as it is.
fn utc(t: Option<String>) -> Option<String> {
    t.map(|t| match t.len() {
        16 => format!("{t}:00Z"),
        19 => format!("{t}Z"),
        _ => t,
    })
}

/// The call records: filters, a page of results, older and newer pages, CSV export.
#[component]
fn CdrSearch() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let f = Filters::from_url();
    let carriers: RwSignal<Vec<api::Carrier>> = RwSignal::new(vec![]);
    // The filters of the last search (pages keep them while the form is edited).
    let applied: RwSignal<api::CdrQuery> = RwSignal::new(api::CdrQuery::default());
    let cursor: RwSignal<Option<String>> = RwSignal::new(None);
    // The cursors of the pages before this one, for "newer".
    let stack: RwSignal<Vec<Option<String>>> = RwSignal::new(vec![]);
    let data: RwSignal<Option<api::CdrPage>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let busy = RwSignal::new(false);

    spawn_local(async move {
        if let Ok(list) = auth.call(rest::list_carriers).await {
            carriers.set(list);
        }
    });

    let run = move |after: Option<String>| {
        let q = api::CdrQuery { after, ..applied.get_untracked() };
        busy.set(true);
        spawn_local(async move {
            match auth.call(|t| rest::cdrs(t, q.clone())).await {
                Ok(page) => {
                    data.set(Some(page));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let search = move || match f.query() {
        Ok(q) => {
            applied.set(q);
            stack.set(vec![]);
            cursor.set(None);
            run(None);
        }
        Err(e) => error.set(Some(e)),
    };
    search();
    let next = move |_| {
        let Some(n) = data.with_untracked(|d| d.as_ref().and_then(|d| d.next.clone())) else { return };
        stack.update(|s| s.push(cursor.get_untracked()));
        cursor.set(Some(n.clone()));
        run(Some(n));
    };
    let prev = move |_| {
        if let Some(c) = stack.try_update(Vec::pop).flatten() {
            cursor.set(c.clone());
            run(c);
        }
    };
    let export = move |_| {
        let q = match f.query() {
            Ok(q) => q,
            Err(e) => return error.set(Some(e)),
        };
        let path = rest::cdrs_export(q);
        spawn_local(async move {
            let done = auth.call(|t| rest::save_export(t, path.clone(), "cdrs.csv".into())).await;
            error.set(done.err());
        });
    };
    let select = move |value: RwSignal<String>, options: &'static [(&'static str, &'static str)]| {
        options
            .iter()
            .map(|(v, text)| view! { <option value=*v prop:selected=move || value.get() == *v>{*text}</option> })
            .collect_view()
    };

    view! {
        <section class="card">
            <h2>"Call records"</h2>
            <form class="filters" id="cdr-filters" novalidate on:submit=move |ev: SubmitEvent| { ev.prevent_default(); search(); }>
                <LabeledInput label="From (UTC)" name="from" id="cdr-from" error_id="cdr-from-error" kind="datetime-local" value=f.from error/>
                <LabeledInput label="Until (UTC)" name="to" id="cdr-to" error_id="cdr-to-error" kind="datetime-local" value=f.to error/>
                <LabeledInput label="User id" name="user" id="cdr-user" error_id="cdr-user-error" kind="number" value=f.user error/>
                <LabeledInput label="Number" name="number" id="cdr-number" error_id="cdr-number-error" placeholder="+4420" value=f.number error/>
                <label class="field">
                    <span>"Carrier"</span>
                    <select id="cdr-carrier" name="carrier" class:invalid=has_field_error(error, "carrier")
                        on:change=move |ev| f.carrier.set(event_target_value(&ev))>
                        <option value="" prop:selected=move || f.carrier.get().is_empty()>"Any carrier"</option>
                        <For each=move || carriers.get() key=|c| c.id let(c)>
                            {
                                let v = c.id.to_string();
                                let selected = v.clone();
                                view! { <option value=v prop:selected=move || f.carrier.get() == selected>{c.name.clone()}</option> }
                            }
                        </For>
                    </select>
                    <FieldError error name="carrier" id="cdr-carrier-error" label="Carrier"/>
                </label>
                <label class="field">
                    <span>"Direction"</span>
                    <select id="cdr-direction" name="direction" class:invalid=has_field_error(error, "direction")
                        on:change=move |ev| f.direction.set(event_target_value(&ev))>
                        {select(f.direction, &[("", "Any direction"), ("webrtc", "Browser to browser"), ("pstn_out", "Phone, outgoing"), ("pstn_in", "Phone, incoming")])}
                    </select>
                    <FieldError error name="direction" id="cdr-direction-error" label="Direction"/>
                </label>
                <label class="field">
                    <span>"Outcome"</span>
                    <select id="cdr-outcome" name="outcome" class:invalid=has_field_error(error, "outcome")
                        on:change=move |ev| f.outcome.set(event_target_value(&ev))>
                        {select(f.outcome, &[("", "Any outcome"), ("answered", "Answered"), ("failed", "Not answered")])}
                    </select>
                    <FieldError error name="outcome" id="cdr-outcome-error" label="Outcome"/>
                </label>
                <LabeledInput label="End cause" name="cause" id="cdr-cause" error_id="cdr-cause-error" placeholder="busy" value=f.cause error/>
                <LabeledInput label="Charge at least" name="cost_min" id="cdr-cost-min" error_id="cdr-cost-min-error" placeholder="0.10" value=f.cost_min error/>
                <LabeledInput label="Charge at most" name="cost_max" id="cdr-cost-max" error_id="cdr-cost-max-error" placeholder="5.00" value=f.cost_max error/>
                <div class="form-actions">
                    <button type="submit" class="primary" id="cdr-search" disabled=move || busy.get()>"Search"</button>
                    <button type="button" id="cdr-export" on:click=export>"Export CSV"</button>
                </div>
            </form>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="cdr-error">{e.message}</div> })}
            <CdrTable items=Signal::derive(move || data.with(|d| d.as_ref().map(|d| d.items.clone()).unwrap_or_default())) id="cdrs"/>
            {move || data.with(|d| d.as_ref().is_some_and(|d| d.items.is_empty())).then(|| view! {
                <p class="muted" id="cdrs-empty">"No call records match."</p>
            })}
            <div class="pager">
                {move || (!stack.with(Vec::is_empty)).then(|| view! { <button id="cdr-prev" on:click=prev>"‹ Newer"</button> })}
                <span class="muted" id="cdr-page-info">{move || format!("Page {}", stack.with(Vec::len) + 1)}</span>
                {move || data.with(|d| d.as_ref().is_some_and(|d| d.next.is_some())).then(|| view! {
                    <button id="cdr-next" on:click=next>"Older ›"</button>
                })}
            </div>
        </section>
    }
}

/// Call records as a table of `tr.cdr` rows (the calls page, a user's page).
#[component]
pub fn CdrTable(#[prop(into)] items: Signal<Vec<api::Cdr>>, id: &'static str) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="users cdrs" id=id>
                <thead><tr>
                    <th>"Started (UTC)"</th><th>"Direction"</th><th>"Caller"</th><th>"Destination"</th><th>"Carrier"</th>
                    <th>"Outcome"</th><th>"Duration"</th><th>"Charge"</th><th>"Cost"</th><th></th>
                </tr></thead>
                <tbody>
                    <For each=move || items.get() key=|c| (c.id.clone(), c.ended_at.clone(), c.charge_micros) let(c)>
                        <CdrRow c=c/>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn CdrRow(c: api::Cdr) -> impl IntoView {
    let answered = c.answered_at.is_some();
    let outcome = match (&c.ended_at, answered) {
        (None, _) => "in progress",
        (Some(_), true) => "answered",
        (Some(_), false) => "failed",
    };
    let destination =
        c.number.clone().or_else(|| c.callee_email.clone()).or_else(|| c.callee_id.map(|u| format!("user #{u}")));
    let caller = c.caller_email.clone().unwrap_or_else(|| format!("user #{}", c.caller_id));
    view! {
        <tr class="cdr" data-call-id=c.id.clone() data-kind=c.kind.clone() data-outcome=outcome
            data-cause=c.end_cause.clone().unwrap_or_default()>
            <td class="started">{when(&c.created_at)}</td>
            <td class="direction">{kind_text(&c.kind)}</td>
            <td class="caller"><A href=format!("/admin/users/{}", c.caller_id) attr:class="caller-link">{caller}</A></td>
            <td class="destination">{or_dash(destination)}</td>
            <td class="carrier">{or_dash(c.carrier_name.clone())}</td>
            <td class="outcome">
                <span class=format!("badge outcome-{}", outcome.replace(' ', "-"))>{outcome}</span>
                {c.end_cause.clone().map(|cause| view! { <span class="cause">" " {cause}</span> })}
                {c.sip_code.map(|code| view! { <span class="muted sip-code">" (SIP " {code} ")"</span> })}
            </td>
            <td class="duration" data-billable-secs=c.billable_secs.unwrap_or_default()>
                {or_dash(c.billable_secs.map(|s| mmss(s.max(0).unsigned_abs())))}
            </td>
            <td class="charge money" data-charge=c.charge_micros.unwrap_or_default()>{or_dash(c.charge_micros.map(rest::money))}</td>
            <td class="cost money" data-cost=c.buy_cost_micros.unwrap_or_default()>{or_dash(c.buy_cost_micros.map(rest::money))}</td>
            <td class="row-actions"><A href=format!("/admin/calls/{}", c.id) attr:class="cdr-link">"Details"</A></td>
        </tr>
    }
}

/// A user id as a link to their page, with their email once known.
#[component]
fn UserRef(id: i64) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let email = RwSignal::new(None::<String>);
    spawn_local(async move {
        if let Ok(u) = auth.call(|t| rest::user(t, id)).await {
            email.set(Some(u.email));
        }
    });
    view! {
        <A href=format!("/admin/users/{id}") attr:class="user-ref" attr:data-user-id=id.to_string()>
            {move || email.get().map_or_else(|| format!("user #{id}"), |e| format!("{e} (#{id})"))}
        </A>
    }
}

/// `/admin/calls/:id`: one call with its route plan, every attempt and its money.
#[component]
pub fn CallDetailPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let params = use_params_map();
    let call: RwSignal<Option<api::CallDetail>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    Effect::new(move || {
        let Some(id) = params.with(|p| p.get("id")) else { return };
        spawn_local(async move {
            match auth.call(|t| rest::call_detail(t, id.clone())).await {
                Ok(c) => {
                    call.set(Some(c));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });

    view! {
        <AdminNav/>
        <section class="card" id="call-detail">
            <p><A href="/admin/calls">"‹ All calls"</A></p>
            <h1>"Call"</h1>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> })}
            {move || call.get().map(|c| {
                let outcome = match (&c.ended_at, c.answered_at.is_some()) {
                    (None, _) => "in progress",
                    (Some(_), true) => "answered",
                    (Some(_), false) => "not answered",
                };
                view! {
                    <dl class="details" data-call-id=c.id.clone()>
                        <dt>"Id"</dt><dd id="call-id"><code>{c.id.clone()}</code></dd>
                        <dt>"Kind"</dt><dd id="call-kind" data-kind=c.kind.clone()>{kind_text(&c.kind)}</dd>
                        <dt>"Caller"</dt><dd id="call-caller"><UserRef id=c.caller_id/></dd>
                        <dt>"Callee"</dt><dd id="call-callee">
                            {match (c.callee_id, c.number.clone()) {
                                (Some(u), _) => view! { <UserRef id=u/> }.into_any(),
                                (None, n) => or_dash(n).into_any(),
                            }}
                        </dd>
                        {c.callee_id.and(c.number.clone()).map(|n| view! { <dt>"Number"</dt><dd id="call-number">{n}</dd> })}
                        <dt>"Carrier"</dt><dd id="call-carrier">
                            {match (c.carrier_id, c.carrier_name.clone()) {
                                (Some(id), name) => view! { <A href=format!("/admin/carriers/{id}")>{name.unwrap_or_else(|| format!("carrier #{id}"))}</A> }.into_any(),
                                (None, name) => or_dash(name).into_any(),
                            }}
                        </dd>
                        <dt>"Started"</dt><dd id="call-created">{when(&c.created_at)}</dd>
                        <dt>"Answered"</dt><dd id="call-answered">{or_dash(c.answered_at.as_deref().map(when))}</dd>
                        <dt>"Ended"</dt><dd id="call-ended">{or_dash(c.ended_at.as_deref().map(when))}</dd>
                        <dt>"Outcome"</dt><dd id="call-outcome"><span class=format!("badge outcome-{}", outcome.replace(' ', "-"))>{outcome}</span></dd>
                        <dt>"End cause"</dt><dd id="call-end-cause">{or_dash(c.end_cause.clone())}</dd>
                        <dt>"Ended by"</dt><dd id="call-ended-by">
                            {match c.ended_by {
                                Some(u) => view! { <UserRef id=u/> }.into_any(),
                                None => "–".into_any(),
                            }}
                        </dd>
                        <dt>"SIP code"</dt><dd id="call-sip-code">{or_dash(c.sip_code)}</dd>
                        <dt>"Billable"</dt><dd id="call-billable">{or_dash(c.billable_secs.map(|s| mmss(s.max(0).unsigned_abs())))}</dd>
                        <dt>"Charge"</dt><dd id="call-charge" class="money">{or_dash(c.charge_micros.map(rest::money))}</dd>
                        <dt>"Buy cost"</dt><dd id="call-cost" class="money">{or_dash(c.buy_cost_micros.map(rest::money))}</dd>
                        {c.charge_micros.zip(c.buy_cost_micros).map(|(charge, cost)| view! {
                            <dt>"Margin"</dt><dd id="call-margin" class="money">{rest::money(charge - cost)}</dd>
                        })}
                    </dl>
                    <h2>"Route plan"</h2>
                    <pre id="call-route-plan" class="route-plan">{c.route_plan.clone().unwrap_or_else(|| "No route plan (not a phone call, or placed before plans were kept).".into())}</pre>
                    <h2>"Attempts"</h2>
                    <div class="table-wrap">
                        <table class="users" id="call-attempts">
                            <thead><tr><th>"Carrier"</th><th>"Gateway"</th><th>"SIP"</th><th>"Outcome"</th><th>"Started (UTC)"</th><th>"PDD"</th><th>"Duration"</th></tr></thead>
                            <tbody>
                                {c.attempts.iter().map(|a| view! {
                                    <tr class="attempt" data-outcome=a.outcome.clone() data-carrier=a.carrier_name.clone()>
                                        <td class="carrier">{a.carrier_name.clone()}</td>
                                        <td class="gateway">{or_dash(a.gateway.clone())}</td>
                                        <td class="sip-code">{or_dash(a.sip_code)}</td>
                                        <td class="outcome">{a.outcome.clone()}</td>
                                        <td class="started">{when(&a.started_at)}</td>
                                        <td class="pdd">{or_dash(a.pdd_ms.map(|ms| format!("{ms} ms")))}</td>
                                        <td class="duration">{or_dash(a.duration_ms.map(|ms| mmss(ms.max(0).unsigned_abs() / 1000)))}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {c.attempts.is_empty().then(|| view! { <p class="muted" id="no-attempts">"No carrier attempts (not a phone call out)."</p> })}
                }
            })}
        </section>
    }
    .into_any()
}
