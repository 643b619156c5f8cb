//! Admin: DIDs, the phone numbers that ring a user. The list (searchable, paged), a form to give
//! a number to a user (by id or email), and delete.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use protocol::api;

use super::{
    Banner, Field,
    admin::{AdminNav, need_admin},
};
use crate::{api as rest, api::ApiError, session::Auth};

/// The user's id: typed as a number, or found by exact email.
async fn resolve_user(auth: Auth, typed: &str) -> Result<i64, ApiError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(ApiError::local_field("user_id", "is required: a user id or email"));
    }
    if let Ok(id) = typed.parse::<i64>() {
        return Ok(id);
    }
    let q = typed.to_lowercase();
    let page = auth.call(|t| rest::list_users(t, q.clone(), 1)).await?;
    page.items
        .into_iter()
        .find(|u| u.email == q)
        .map(|u| u.id)
        .ok_or_else(|| ApiError::local_field("user_id", "is not the id or email of a user"))
}

#[component]
pub fn Dids() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let q = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let data: RwSignal<Option<api::Page<api::Did>>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let notice: RwSignal<Option<String>> = RwSignal::new(None);

    let load = move || {
        let (query, p) = (q.get_untracked(), page.get_untracked());
        spawn_local(async move {
            match auth.call(|t| rest::list_dids(t, query.clone(), p)).await {
                Ok(d) => {
                    data.set(Some(d));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();

    let number = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let add_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        notice.set(None);
        let (typed_number, typed_user) = (number.get_untracked(), user.get_untracked());
        spawn_local(async move {
            let user_id = match resolve_user(auth, &typed_user).await {
                Ok(id) => id,
                Err(e) => {
                    add_error.set(Some(e));
                    return;
                }
            };
            let req = api::DidInput { number: typed_number, user_id };
            match auth.call(|t| rest::create_did(t, req.clone())).await {
                Ok(d) => {
                    notice.set(Some(format!("{} now rings {}.", d.number, d.user_email)));
                    add_error.set(None);
                    number.set(String::new());
                    user.set(String::new());
                    load();
                }
                Err(e) => add_error.set(Some(e)),
            }
        });
    };

    let remove = move |d: api::Did| {
        let question = format!("Take {} away from {}?", d.number, d.user_email);
        if !window().confirm_with_message(&question).unwrap_or(false) {
            return;
        }
        spawn_local(async move {
            match auth.call(|t| rest::delete_did(t, d.id)).await {
                Ok(()) => {
                    notice.set(Some(format!("Deleted {}.", d.number)));
                    load();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <AdminNav/>
        <section class="card">
            <h1>"DIDs"</h1>
            <p class="muted">"Phone numbers that ring a user; a user's first number is their caller ID."</p>
            <Banner error=add_error/>
            <form class="did-add" on:submit=add novalidate id="did-form">
                <Field label="Number" name="number" id="did-number" autocomplete="off" value=number error=add_error/>
                <Field label="User (id or email)" name="user_id" id="did-user" autocomplete="off" value=user error=add_error/>
                <button type="submit" class="primary" id="did-add">"Add number"</button>
            </form>
            <p class="hint">"International format, e.g. +44 20 7946 0123."</p>
            {move || notice.get().map(|n| view! { <div class="banner info" id="did-notice">{n}</div> })}
        </section>
        <section class="card">
            <form class="search" on:submit=move |ev| { ev.prevent_default(); page.set(1); load(); }>
                <input type="search" id="did-search" placeholder="Search by number, name or email" bind:value=q/>
                <button type="submit" id="did-search-go">"Search"</button>
            </form>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> })}
            <div class="table-wrap">
                <table class="users" id="dids">
                    <thead><tr><th>"Number"</th><th>"User"</th><th>"Email"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || data.get().map(|d| d.items).unwrap_or_default() key=|d| d.id let(d)>
                            <tr data-number=d.number.clone() id=format!("did-{}", d.id)>
                                <td>{d.number.clone()}</td>
                                <td>{d.user_display_name.clone()}</td>
                                <td>{d.user_email.clone()}</td>
                                <td>
                                    {
                                        let d = d.clone();
                                        view! { <button class="danger delete" on:click=move |_| remove(d.clone())>"Delete"</button> }
                                    }
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || data.get().map(|d| {
                let pages = d.total.div_ceil(u64::from(d.per_page)).max(1);
                view! {
                    <div class="pager">
                        <button disabled=move || page.get() <= 1 on:click=move |_| { page.update(|p| *p -= 1); load(); }>"‹ Previous"</button>
                        <span id="did-page-info">{format!("Page {} of {pages} · {} {}", d.page, d.total, if d.total == 1 { "number" } else { "numbers" })}</span>
                        <button disabled={move || u64::from(page.get()) >= pages} on:click=move |_| { page.update(|p| *p += 1); load(); }>"Next ›"</button>
                    </div>
                }
            })}
        </section>
    }
    .into_any()
}
