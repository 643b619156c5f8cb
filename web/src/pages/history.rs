use leptos::{prelude::*, task::spawn_local};
use protocol::api::{CallRecord, Page};

use crate::{api as rest, session::Auth};

#[component]
pub fn History() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let page = RwSignal::new(1u32);
    let data: RwSignal<Option<Page<CallRecord>>> = RwSignal::new(None);
    let error = RwSignal::new(None::<String>);
    let load = move || {
        let p = page.get_untracked();
        spawn_local(async move {
            match auth.call(|t| rest::call_history(t, p)).await {
                Ok(d) => data.set(Some(d)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    load();
    let duration = |s: u64| format!("{}:{:02}", s / 60, s % 60);
    let when = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");

    view! {
        <section class="card">
            <h1>"Call history"</h1>
            {move || error.get().map(|e| view! { <div class="banner error">{e}</div> })}
            <div class="table-wrap">
                <table class="users calls">
                    <thead><tr><th></th><th>"Who"</th><th>"When (UTC)"</th><th>"Duration"</th><th>"Cost"</th><th>"Result"</th></tr></thead>
                    <tbody>
                        <For each=move || data.get().map(|d| d.items).unwrap_or_default() key=|c| c.id.clone() let(c)>
                            <tr class="call-row" data-cause=c.cause.clone().unwrap_or_default() data-direction=c.direction.clone()>
                                <td>{if c.direction == "outgoing" { "↗" } else { "↙" }}</td>
                                <td class="peer">
                                    {c.peer.as_ref().map(|p| p.display_name.clone()).or_else(|| c.number.clone()).unwrap_or_else(|| "—".into())}
                                    {c.carrier.clone().map(|carrier| view! { <span class="muted carrier">" via " {carrier}</span> })}
                                </td>
                                <td>{when(&c.started_at)}</td>
                                <td class="duration">{duration(c.duration_secs)}</td>
                                <td class="cost" data-charge=c.charge_micros.unwrap_or_default()>{c.charge_micros.map(rest::money)}</td>
                                <td class="cause">
                                    {c.cause_text.clone().unwrap_or_else(|| "In progress".into())}
                                    {c.sip_code.map(|code| view! { <span class="muted sip-code" data-sip-code=code>" (SIP " {code} ")"</span> })}
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || data.get().filter(|d| d.items.is_empty()).map(|_| view! { <p class="muted">"No calls yet."</p> })}
            {move || data.get().map(|d| view! { <super::Pager page current=d.page total=d.total per_page=d.per_page load/> })}
        </section>
    }
}
