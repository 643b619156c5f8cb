//! `/receipts`: the user's card top-ups, newest first.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use protocol::api::{Page, Topup};

use super::topup::{status_label, status_name};
use crate::{api as rest, phone::Phone, session::Auth};

#[component]
pub fn Receipts() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let phone = expect_context::<Phone>();
    let page = RwSignal::new(1u32);
    let data: RwSignal<Option<Page<Topup>>> = RwSignal::new(None);
    let error = RwSignal::new(None::<String>);
    let load = move || {
        let p = page.get_untracked();
        spawn_local(async move {
            match auth.call(|t| rest::list_topups(t, p)).await {
                Ok(d) => {
                    data.set(Some(d));
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    load();
    // Whether the account is under review may have changed since signing in.
    spawn_local(auth.reload_user());
    // A balance change may be one of these top-ups being paid, refunded or disputed.
    Effect::new(move |seen: Option<u32>| {
        let pushes = phone.balance_pushes.get();
        if seen.is_some_and(|s| s != pushes) {
            load();
            spawn_local(auth.reload_user());
        }
        pushes
    });
    let when = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");

    view! {
        <section class="card">
            <h1>"Receipts"</h1>
            <Show when=move || auth.under_review()>
                <div class="banner error" role="alert" id="under-review">
                    "Your account is under review after a disputed card payment. Card top-ups are paused until an administrator has looked at it."
                </div>
            </Show>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e}</div> })}
            <div class="table-wrap">
                <table class="users receipts" id="receipts">
                    <thead><tr><th>"Date (UTC)"</th><th>"Amount"</th><th>"Status"</th></tr></thead>
                    <tbody>
                        <For each=move || data.get().map(|d| d.items).unwrap_or_default()
                            key=|t| (t.id, status_name(t.status), t.refunded_micros) let(t)>
                            <tr class="receipt-row" data-status=status_name(t.status) data-id=t.id.to_string()>
                                <td class="when">{when(&t.created_at)}</td>
                                <td class="amount">{rest::money(t.amount_micros)} " " {t.currency.to_uppercase()}</td>
                                <td class="status"><span class=format!("badge topup-{}", status_name(t.status))>{status_label(&t)}</span></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || data.get().filter(|d| d.items.is_empty()).map(|_| view! {
                <p class="muted" id="receipts-empty">"No top-ups yet. " <A href="/topup">"Top up your balance"</A></p>
            })}
            {move || data.get().map(|d| view! { <super::Pager page current=d.page total=d.total per_page=d.per_page load/> })}
        </section>
    }
}
