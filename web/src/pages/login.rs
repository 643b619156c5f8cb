use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_navigate};
use protocol::api;

use super::{Banner, Field};
use crate::{api as rest, session::Auth};

#[component]
pub fn Login() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None);
    let busy = RwSignal::new(false);

    // Already signed in (say, after a reload): go home.
    Effect::new({
        let navigate = navigate.clone();
        move || {
            if auth.session.with(Option::is_some) {
                navigate("/", Default::default());
            }
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let req = api::LoginRequest { email: email.get_untracked(), password: password.get_untracked() };
        busy.set(true);
        spawn_local(async move {
            match rest::login(&req).await {
                Ok(s) => auth.signed_in(s),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="card narrow">
            <h1>"Log in"</h1>
            {move || auth.notice.get().map(|n| view! { <div class="banner info" id="notice">{n}</div> })}
            <Banner error=error/>
            <form on:submit=submit novalidate>
                <Field label="Email" name="email" kind="email" autocomplete="username" value=email error=error/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password" value=password error=error/>
                <button type="submit" id="submit" class="primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
            <p class="muted">"No account yet? " <A href="/signup">"Sign up"</A></p>
        </section>
    }
}
