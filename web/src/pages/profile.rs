use leptos::{prelude::*, task::spawn_local};
use protocol::api;

use super::{Banner, Field};
use crate::{api as rest, session::Auth};

/// Countries offered for reading national-format numbers (ISO 3166-1 alpha-2).
const COUNTRIES: &[(&str, &str)] = &[
    ("AR", "Argentina"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("CH", "Switzerland"),
    ("CN", "China"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DK", "Denmark"),
    ("ES", "Spain"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
    ("GR", "Greece"),
    ("HU", "Hungary"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IN", "India"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("KR", "South Korea"),
    ("MX", "Mexico"),
    ("NG", "Nigeria"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NZ", "New Zealand"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("TR", "Türkiye"),
    ("UA", "Ukraine"),
    ("US", "United States"),
    ("ZA", "South Africa"),
];

#[component]
pub fn Profile() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let user = auth.user();
    let email = user.as_ref().map(|u| u.email.clone()).unwrap_or_default();
    let name = RwSignal::new(user.as_ref().map(|u| u.display_name.clone()).unwrap_or_default());
    let country = RwSignal::new(user.and_then(|u| u.country).unwrap_or_default());
    let name_error: RwSignal<Option<rest::ApiError>> = RwSignal::new(None);
    let country_reason = move || name_error.with(|e| e.as_ref().and_then(|e| e.field("country")));
    let name_saved = RwSignal::new(false);

    let save_name = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        name_saved.set(false);
        let req = api::UpdateProfile { display_name: name.get_untracked(), country: Some(country.get_untracked()) };
        spawn_local(async move {
            match auth.call(|t| rest::update_profile(t, req.clone())).await {
                Ok(user) => {
                    name.set(user.display_name.clone());
                    country.set(user.country.clone().unwrap_or_default());
                    auth.update_user(user);
                    name_error.set(None);
                    name_saved.set(true);
                }
                Err(e) => name_error.set(Some(e)),
            }
        });
    };

    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let pw_error = RwSignal::new(None);
    let pw_saved = RwSignal::new(false);
    let change_password = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        pw_saved.set(false);
        let req = api::ChangePassword { current_password: current.get_untracked(), new_password: new.get_untracked() };
        spawn_local(async move {
            match auth.call(|t| rest::change_password(t, req.clone())).await {
                Ok(session) => {
                    auth.signed_in(session);
                    current.set(String::new());
                    new.set(String::new());
                    pw_error.set(None);
                    pw_saved.set(true);
                }
                Err(e) => pw_error.set(Some(e)),
            }
        });
    };

    view! {
        <section class="card narrow">
            <h1>"Profile"</h1>
            <p class="muted">"Signed in as " <strong id="profile-email">{email}</strong></p>
            <Banner error=name_error/>
            <form on:submit=save_name novalidate id="profile-form">
                <Field label="Display name" name="display_name" autocomplete="name" value=name error=name_error/>
                <label class="field">
                    <span>"Country"</span>
                    <select id="country" name="country" class:invalid=move || country_reason().is_some()
                        on:change=move |ev| country.set(event_target_value(&ev))>
                        <option value="" prop:selected=move || country.get().is_empty()>"None: I type numbers with + and the country code"</option>
                        {move || {
                            // The stored country is offered even when it is not in the short list.
                            let current = country.get();
                            let extra = (!current.is_empty() && !COUNTRIES.iter().any(|(c, _)| *c == current))
                                .then(|| (current.clone(), current.clone()));
                            extra
                                .into_iter()
                                .chain(COUNTRIES.iter().map(|(c, n)| (c.to_string(), format!("{n} ({c})"))))
                                .map(|(code, label)| {
                                    let selected = code == current;
                                    view! { <option value=code prop:selected=selected>{label}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                    {move || country_reason().map(|r| view! { <small class="field-error" data-field="country">{format!("Country {r}.")}</small> })}
                    <small class="hint">"Numbers you type without + are read as this country's."</small>
                </label>
                <button type="submit" id="save-name" class="primary">"Save"</button>
                <Show when=move || name_saved.get()>
                    <span class="ok" id="name-saved">"Saved."</span>
                </Show>
            </form>
        </section>
        <section class="card narrow">
            <h2>"Change password"</h2>
            <p class="muted">"Changing it signs you out everywhere else."</p>
            <Banner error=pw_error/>
            <form on:submit=change_password novalidate id="password-form">
                <Field label="Current password" name="current_password" kind="password" autocomplete="current-password" value=current error=pw_error/>
                <Field label="New password" name="new_password" kind="password" autocomplete="new-password" value=new error=pw_error/>
                <button type="submit" id="save-password" class="primary">"Change password"</button>
                <Show when=move || pw_saved.get()>
                    <span class="ok" id="password-saved">"Password changed."</span>
                </Show>
            </form>
        </section>
    }
}
