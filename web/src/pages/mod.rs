//! One component per route, plus the form pieces they share.

pub mod admin;
pub mod carriers;
pub mod dids;
pub mod history;
pub mod home;
pub mod login;
pub mod profile;
pub mod signup;

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
