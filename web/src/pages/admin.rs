use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use protocol::api;

use crate::{api as rest, api::ApiError, session::Auth};

/// What a non-administrator sees on an admin page.
pub fn need_admin() -> AnyView {
    view! {
        <section class="card"><h1>"Administration"</h1>
        <div class="banner error" id="error-banner">"This page needs an administrator."</div></section>
    }
    .into_any()
}

/// The links between the admin pages.
#[component]
pub fn AdminNav() -> impl IntoView {
    view! {
        <nav class="admin-nav" id="admin-nav">
            <A href="/admin" exact=true attr:id="admin-nav-users">"Users"</A>
            <A href="/admin/carriers" attr:id="admin-nav-carriers">"Carriers"</A>
            <A href="/admin/dids" attr:id="admin-nav-dids">"DIDs"</A>
            <A href="/admin/routes" attr:id="admin-nav-routes">"Rate decks & routing"</A>
            <A href="/admin/plans" attr:id="admin-nav-plans">"Rate plans"</A>
            <A href="/admin/calls" attr:id="admin-nav-calls">"Calls"</A>
            <A href="/admin/stats" attr:id="admin-nav-stats">"Statistics"</A>
            <A href="/admin/audit" attr:id="admin-nav-audit">"Audit log"</A>
        </nav>
    }
}

#[component]
pub fn Admin() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let q = RwSignal::new(String::new());
    let page = RwSignal::new(1u32);
    let data: RwSignal<Option<api::Page<api::User>>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);

    let load = move || {
        let (query, p) = (q.get_untracked(), page.get_untracked());
        spawn_local(async move {
            match auth.call(|t| rest::list_users(t, query.clone(), p)).await {
                Ok(d) => {
                    data.set(Some(d));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();

    let me = auth.user().map(|u| u.id);
    let replace = move |updated: api::User| {
        data.update(|d| {
            if let Some(d) = d {
                for u in d.items.iter_mut().filter(|u| u.id == updated.id) {
                    *u = updated.clone();
                }
            }
        })
    };
    let toggle = move |user: api::User| {
        spawn_local(async move {
            match auth.call(|t| rest::set_disabled(t, user.id, !user.disabled)).await {
                Ok(updated) => replace(updated),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let clear_review = move |id: i64| {
        spawn_local(async move {
            match auth.call(|t| rest::clear_review(t, id)).await {
                Ok(updated) => {
                    error.set(None);
                    if Some(updated.id) == me {
                        auth.update_user(updated.clone());
                    }
                    replace(updated);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <AdminNav/>
        <section class="card">
            <h1>"Users"</h1>
            <form class="search" on:submit=move |ev| { ev.prevent_default(); page.set(1); load(); }>
                <input type="search" id="user-search" placeholder="Search by name or email" bind:value=q/>
                <button type="submit" id="search">"Search"</button>
            </form>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> })}
            <div class="table-wrap">
                <table class="users">
                    <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Status"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || data.get().map(|d| d.items).unwrap_or_default() key=|u| (u.id, u.disabled, u.under_review, u.display_name.clone()) let(user)>
                            <tr data-email=user.email.clone() data-id=user.id.to_string() class:disabled=user.disabled
                                data-under-review=user.under_review.to_string()>
                                <td>{
                                    let name = user.display_name.clone();
                                    view! { <A href=format!("/admin/users/{}", user.id) attr:class="user-link">{name}</A> }
                                }</td>
                                <td>{user.email.clone()}</td>
                                <td>{if user.role == api::Role::Admin { "admin" } else { "user" }}</td>
                                <td class="status">
                                    {if user.disabled { "disabled" } else { "active" }}
                                    {user.under_review.then(|| view! {
                                        <span class="badge warn under-review" title="A card payment was disputed: card top-ups are refused">"under review"</span>
                                    })}
                                </td>
                                <td class="row-actions">
                                    {user.under_review.then(|| {
                                        let id = user.id;
                                        view! { <button class="clear-review" on:click=move |_| clear_review(id)>"Clear review"</button> }
                                    })}
                                    {(Some(user.id) != me).then(|| {
                                        let u = user.clone();
                                        view! {
                                            <button class="toggle" on:click=move |_| toggle(u.clone())>
                                                {if user.disabled { "Enable" } else { "Disable" }}
                                            </button>
                                        }
                                    })}
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
                        <span id="page-info">{format!("Page {} of {pages} · {} {}", d.page, d.total, if d.total == 1 { "user" } else { "users" })}</span>
                        <button disabled={move || u64::from(page.get()) >= pages} on:click=move |_| { page.update(|p| *p += 1); load(); }>"Next ›"</button>
                    </div>
                }
            })}
        </section>
    }
    .into_any()
}
