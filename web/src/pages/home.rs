use leptos::prelude::*;
use leptos_router::components::A;

use crate::session::Auth;

#[component]
pub fn Home() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let name = move || auth.user().map(|u| u.display_name).unwrap_or_default();
    view! {
        <section class="card">
            <h1 id="welcome">"Welcome, " {name}</h1>
            <p>"Calling from the browser arrives here next: the softphone, your call history and your balance."</p>
            <p><A href="/profile">"Edit your profile"</A></p>
        </section>
    }
}
