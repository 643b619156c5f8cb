//! `/balance`: what the user has, and every movement of it (top-ups, calls, refunds,
//! adjustments), newest first. Follows balance pushes live.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use protocol::api::{LedgerLine, Page};

use crate::{api as rest, phone::Phone, session::Auth};

#[component]
pub fn Balance() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let phone = expect_context::<Phone>();
    let page = RwSignal::new(1u32);
    let data: RwSignal<Option<Page<LedgerLine>>> = RwSignal::new(None);
    let error = RwSignal::new(None::<String>);
    let load = move || {
        let p = page.get_untracked();
        spawn_local(async move {
            match auth.call(|t| rest::my_ledger(t, p)).await {
                Ok(d) => data.set(Some(d)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    // Every push is a new entry somewhere: show it.
    Effect::new(move |_| {
        phone.balance_pushes.track();
        load();
    });
    let kind = |k: &str| match k {
        "payment" => "Top-up",
        "refund" => "Refund",
        "dispute" => "Dispute",
        "call" => "Call",
        "adjustment" => "Adjustment",
        _ => "Other",
    };

    view! {
        <section class="card">
            <h1>"Balance"</h1>
            {move || phone.funds.get().map(|f| view! {
                <p class="balance-line">
                    "Balance " <strong id="balance-page-balance">{rest::money(f.balance_micros)}</strong>
                    " · available for calls " <strong id="balance-page-available">{rest::money(f.available_micros)}</strong>
                    " · " <A href="/topup">"Top up"</A>
                </p>
            })}
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e}</div> })}
            <div class="table-wrap">
                <table class="users ledger" id="ledger">
                    <thead><tr><th>"Date (UTC)"</th><th>"What"</th><th>"Amount"</th></tr></thead>
                    <tbody>
                        <For each=move || data.get().map(|d| d.items).unwrap_or_default() key=|l| l.id let(l)>
                            <tr class="ledger-row" data-kind=l.kind.clone() data-amount=l.amount_micros>
                                <td class="when">{l.at.get(..16).unwrap_or(&l.at).replace('T', " ")}</td>
                                <td>{kind(&l.kind)} <span class="muted">" · " {l.description.clone()}</span></td>
                                <td class="amount">{rest::money(l.amount_micros)}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || data.get().filter(|d| d.items.is_empty()).map(|_| view! { <p class="muted" id="ledger-empty">"Nothing yet."</p> })}
            {move || data.get().map(|d| view! { <super::Pager page current=d.page total=d.total per_page=d.per_page load/> })}
        </section>
    }
}
