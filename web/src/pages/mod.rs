//! One component per route, plus the form pieces they share.

pub mod admin;
pub mod audit;
pub mod balance;
pub mod calls;
pub mod carrier;
pub mod carriers;
pub mod dids;
pub mod history;
pub mod home;
pub mod login;
pub mod plans;
pub mod profile;
pub mod receipts;
pub mod routes;
pub mod signup;
pub mod stats;
pub mod topup;
pub mod user;

use leptos::prelude::*;

use crate::api::ApiError;

/// A labelled input bound to `value`, with the server's reason for `name` under it. Its `id` is
/// `name` with dashes unless given.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "")] autocomplete: &'static str,
    value: RwSignal<String>,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let reason = move || error.with(|e| e.as_ref().and_then(|e| e.field(name)));
    view! {
        <label class="field">
            <span>{label}</span>
            <input
                type=kind
                id=id.map_or_else(|| name.replace('_', "-"), str::to_string)
                name=name
                autocomplete=autocomplete
                class:invalid={move || reason().is_some()}
                bind:value=value
            />
            {move || reason().map(|r| view! { <small class="field-error" data-field=name>{format!("{label} {r}.")}</small> })}
        </label>
    }
}

/// The error banner for failures that are not about one field.
#[component]
pub fn Banner(error: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| e.fields.is_empty())
            .map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> })
    }
}

/// "‹ Newer · Page n of m · Older ›" under a paged list; `load` fetches `page` again.
#[component]
pub fn Pager(
    page: RwSignal<u32>,
    current: u32,
    total: u64,
    per_page: u32,
    load: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let pages = total.div_ceil(u64::from(per_page)).max(1);
    view! {
        <div class="pager">
            <button disabled=move || page.get() <= 1 on:click=move |_| { page.update(|p| *p -= 1); load(); }>"‹ Newer"</button>
            <span>{format!("Page {current} of {pages}")}</span>
            <button disabled={move || u64::from(page.get()) >= pages} on:click=move |_| { page.update(|p| *p += 1); load(); }>"Older ›"</button>
        </div>
    }
}

/// A labelled input of a form (`kind`: `text` unless said), with its field's error right after it.
#[component]
pub fn LabeledInput(
    label: &'static str,
    name: &'static str,
    id: &'static str,
    error_id: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "")] placeholder: &'static str,
    value: RwSignal<String>,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type=kind id=id name=name placeholder=placeholder autocomplete="off"
                class:invalid=has_field_error(error, name) bind:value=value/>
            <FieldError error name id=error_id label/>
        </label>
    }
}

/// The server's reason for the field `name`, as `<small class="field-error" id=…>`: placed right
/// after the field's input.
#[component]
pub fn FieldError(
    error: RwSignal<Option<ApiError>>,
    name: &'static str,
    id: &'static str,
    label: &'static str,
) -> impl IntoView {
    move || {
        error.with(|e| e.as_ref().and_then(|e| e.field(name))).map(|r| {
            view! { <small class="field-error" id=id data-field=name role="alert">{format!("{label} {r}.")}</small> }
        })
    }
}

/// Whether the server had something to say about `name` (to mark its input invalid).
pub fn has_field_error(error: RwSignal<Option<ApiError>>, name: &'static str) -> impl Fn() -> bool + Copy {
    move || error.with(|e| e.as_ref().is_some_and(|e| e.fields.contains_key(name)))
}

/// Seconds as `m:ss` (`h:mm:ss` from an hour).
pub fn mmss(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM` (UTC).
pub fn when(t: &str) -> String {
    t.get(..16).unwrap_or(t).replace('T', " ")
}

/// Something optional as text, `–` when absent.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_string(), |v| v.to_string())
}
