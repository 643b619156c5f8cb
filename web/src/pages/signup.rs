use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_navigate};
use protocol::{api, limits};

use super::{Banner, Field};
use crate::{api as rest, session::Auth};

#[component]
pub fn Signup() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None);
    let busy = RwSignal::new(false);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = api::SignupRequest {
            email: email.get_untracked(),
            password: password.get_untracked(),
            display_name: name.get_untracked(),
        };
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            match rest::signup(&req).await {
                Ok(s) => {
                    auth.signed_in(s);
                    navigate("/", Default::default());
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="card narrow">
            <h1>"Create your account"</h1>
            <Banner error=error/>
            <form on:submit=submit novalidate>
                <Field label="Email" name="email" kind="email" autocomplete="username" value=email error=error/>
                <Field label="Display name" name="display_name" autocomplete="name" value=name error=error/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password" value=password error=error/>
                <p class="hint">{format!("At least {} characters.", limits::PASSWORD_MIN)}</p>
                <button type="submit" id="submit" class="primary" disabled=move || busy.get()>"Sign up"</button>
            </form>
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}
