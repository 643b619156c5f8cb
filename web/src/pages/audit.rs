//! Admin: the audit log. Every administrative change (who, what, on what, before and after),
//! newest first, filtered by action (or its start, `user.`), target (`user:7`) and actor.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_query_map};
use protocol::api;

use super::{
    FieldError,
    admin::{AdminNav, need_admin},
    has_field_error, when,
};
use crate::{api as rest, api::ApiError, session::Auth};

const PER_PAGE: u32 = 50;

/// Where a target (`user:7`, `call:abc`, `carrier:2`) is shown, when it has a page.
fn target_href(target: &str) -> Option<String> {
    let (kind, id) = target.split_once(':')?;
    match kind {
        "user" => Some(format!("/admin/users/{id}")),
        "call" => Some(format!("/admin/calls/{id}")),
        "carrier" => Some(format!("/admin/carriers/{id}")),
        _ => None,
    }
}

#[component]
pub fn Audit() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let url = use_query_map().get_untracked();
    let action = RwSignal::new(url.get("action").unwrap_or_default());
    let target = RwSignal::new(url.get("target").unwrap_or_default());
    let actor = RwSignal::new(url.get("actor").unwrap_or_default());
    let applied: RwSignal<api::AuditQuery> = RwSignal::new(api::AuditQuery::default());
    let page = RwSignal::new(1u32);
    let data: RwSignal<Option<api::Page<api::AuditEntry>>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);

    let load = move || {
        let q =
            api::AuditQuery { page: Some(page.get_untracked()), per_page: Some(PER_PAGE), ..applied.get_untracked() };
        spawn_local(async move {
            match auth.call(|t| rest::audit(t, q.clone())).await {
                Ok(d) => {
                    data.set(Some(d));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let search = move || {
        let text = |s: RwSignal<String>| Some(s.get_untracked().trim().to_string()).filter(|s| !s.is_empty());
        let actor = match text(actor).map(|a| a.parse::<i64>()) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => return error.set(Some(ApiError::local_field("actor", "must be a user id (a number)"))),
        };
        applied.set(api::AuditQuery { action: text(action), target: text(target), actor, page: None, per_page: None });
        page.set(1);
        load();
    };
    search();
    let pages = move || data.with(|d| d.as_ref().map_or(1, |d| d.total.div_ceil(u64::from(d.per_page.max(1))).max(1)));

    view! {
        <AdminNav/>
        <section class="card">
            <h1>"Audit log"</h1>
            <form class="filters audit-filters" id="audit-filters" novalidate on:submit=move |ev: SubmitEvent| { ev.prevent_default(); search(); }>
                <label class="field">
                    <span>"Action"</span>
                    <input type="text" id="audit-action" name="action" placeholder="user.disable, or user." autocomplete="off"
                        class:invalid=has_field_error(error, "action") bind:value=action/>
                    <FieldError error name="action" id="audit-action-error" label="Action"/>
                </label>
                <label class="field">
                    <span>"Target"</span>
                    <input type="text" id="audit-target" name="target" placeholder="user:7" autocomplete="off"
                        class:invalid=has_field_error(error, "target") bind:value=target/>
                    <FieldError error name="target" id="audit-target-error" label="Target"/>
                </label>
                <label class="field">
                    <span>"Actor (user id)"</span>
                    <input type="number" id="audit-actor" name="actor" autocomplete="off"
                        class:invalid=has_field_error(error, "actor") bind:value=actor/>
                    <FieldError error name="actor" id="audit-actor-error" label="Actor"/>
                </label>
                <div class="form-actions">
                    <button type="submit" class="primary" id="audit-search">"Search"</button>
                </div>
            </form>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="audit-error">{e.message}</div> })}
            <div class="table-wrap">
                <table class="users audit" id="audit">
                    <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Before"</th><th>"After"</th></tr></thead>
                    <tbody>
                        <For each=move || data.get().map(|d| d.items).unwrap_or_default() key=|a| a.id let(a)>
                            <tr class="audit-entry" data-id=a.id data-action=a.action.clone() data-target=a.target.clone()>
                                <td class="when">{when(&a.at)}</td>
                                <td class="actor">
                                    {match (a.actor_id, a.actor_email.clone()) {
                                        (Some(id), email) => view! {
                                            <A href=format!("/admin/users/{id}")>{email.unwrap_or_else(|| format!("user #{id}"))}</A>
                                        }.into_any(),
                                        (None, _) => view! { <span class="muted">"system"</span> }.into_any(),
                                    }}
                                </td>
                                <td class="action"><code>{a.action.clone()}</code></td>
                                <td class="target">
                                    {
                                        let t = a.target.clone();
                                        match target_href(&t) {
                                            Some(href) => view! { <A href=href>{t}</A> }.into_any(),
                                            None => t.into_any(),
                                        }
                                    }
                                </td>
                                <td class="before">{a.before.clone().map(|b| view! { <code class="json">{b}</code> })}</td>
                                <td class="after">{a.after.clone().map(|b| view! { <code class="json">{b}</code> })}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || data.get().filter(|d| d.items.is_empty()).map(|_| view! { <p class="muted" id="audit-empty">"No entries match."</p> })}
            {move || data.get().map(|d| view! {
                <div class="pager">
                    <button id="audit-prev" disabled=move || page.get() <= 1 on:click=move |_| { page.update(|p| *p -= 1); load(); }>"‹ Newer"</button>
                    <span id="audit-page-info">{format!("Page {} of {} · {} {}", d.page, pages(), d.total, if d.total == 1 { "entry" } else { "entries" })}</span>
                    <button id="audit-next" disabled=move || { u64::from(page.get()) >= pages() } on:click=move |_| { page.update(|p| *p += 1); load(); }>"Older ›"</button>
                </div>
            })}
        </section>
    }
    .into_any()
}
