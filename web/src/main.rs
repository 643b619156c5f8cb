//! The browser app: accounts, the softphone, call history and card top-ups.
//!
//! `api` is the only module that speaks HTTP, `signaling` the only one with a WebSocket, `rtc`
//! the only one with WebRTC; `session` owns who is signed in, `phone` the calls; `pages` hold
//! one component per route.

// Audio levels, tones and timers are floats; money never reaches the browser as one.
#![allow(clippy::float_arithmetic)]

mod api;
mod pages;
mod phone;
mod rtc;
mod session;
mod signaling;
mod tones;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::{
    components::{A, Redirect, Route, Router, Routes},
    hooks::use_navigate,
    path,
};

use session::Auth;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let auth = Auth::new();
    provide_context(auth);
    let phone = phone::Phone::new();
    provide_context(phone);
    spawn_local(auth.restore());
    // Signaling runs while someone is signed in.
    let signed_in = Memo::new(move |_| auth.session.with(Option::is_some));
    Effect::new(move || {
        if signed_in.get() {
            phone::start(phone, auth);
        } else {
            phone::stop();
        }
    });

    view! {
        <Router>
            <Nav/>
            <main class="container">
                <Show when=move || auth.checked.get() fallback=|| view! { <p class="muted" id="loading">"Loading…"</p> }>
                    <Routes fallback=|| view! { <h1>"Page not found"</h1> <p><A href="/">"Go home"</A></p> }>
                        <Route path=path!("/") view=|| view! { <Signed><pages::home::Home/></Signed> }/>
                        <Route path=path!("/login") view=pages::login::Login/>
                        <Route path=path!("/signup") view=pages::signup::Signup/>
                        <Route path=path!("/history") view=|| view! { <Signed><pages::history::History/></Signed> }/>
                        <Route path=path!("/profile") view=|| view! { <Signed><pages::profile::Profile/></Signed> }/>
                        <Route path=path!("/topup") view=|| view! { <Signed><pages::topup::Topup/></Signed> }/>
                        <Route path=path!("/topup/done") view=|| view! { <Signed><pages::topup::TopupDone/></Signed> }/>
                        <Route path=path!("/receipts") view=|| view! { <Signed><pages::receipts::Receipts/></Signed> }/>
                        <Route path=path!("/balance") view=|| view! { <Signed><pages::balance::Balance/></Signed> }/>
                        <Route path=path!("/admin") view=|| view! { <Signed><pages::admin::Admin/></Signed> }/>
                        <Route path=path!("/admin/carriers") view=|| view! { <Signed><pages::carriers::Carriers/></Signed> }/>
                        <Route path=path!("/admin/carriers/:id") view=|| view! { <Signed><pages::carrier::CarrierDetail/></Signed> }/>
                        <Route path=path!("/admin/dids") view=|| view! { <Signed><pages::dids::Dids/></Signed> }/>
                        <Route path=path!("/admin/routes") view=|| view! { <Signed><pages::routes::Routes/></Signed> }/>
                        <Route path=path!("/admin/users/:id") view=|| view! { <Signed><pages::user::UserDetail/></Signed> }/>
                        <Route path=path!("/admin/calls") view=|| view! { <Signed><pages::calls::Calls/></Signed> }/>
                        <Route path=path!("/admin/calls/:id") view=|| view! { <Signed><pages::calls::CallDetailPage/></Signed> }/>
                        <Route path=path!("/admin/plans") view=|| view! { <Signed><pages::plans::Plans/></Signed> }/>
                        <Route path=path!("/admin/stats") view=|| view! { <Signed><pages::stats::StatsPage/></Signed> }/>
                        <Route path=path!("/admin/audit") view=|| view! { <Signed><pages::audit::Audit/></Signed> }/>
                    </Routes>
                </Show>
            </main>
        </Router>
    }
}

/// Shows its children to a signed-in user; sends anyone else to the log-in page.
#[component]
fn Signed(children: ChildrenFn) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let children = StoredValue::new(children);
    // A memo, so that renewing the token or renaming the user does not rebuild the page.
    let signed_in = Memo::new(move |_| auth.session.with(Option::is_some));
    move || {
        if signed_in.get() {
            children.with_value(|c| c()).into_any()
        } else {
            view! { <Redirect path="/login"/> }.into_any()
        }
    }
}

#[component]
fn Nav() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let logout = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            // Even if the server cannot be reached, forget the session here.
            let _ = api::logout().await;
            auth.end(Some("You have signed out.".into()));
            navigate("/login", Default::default());
        });
    };
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand">"☎ Callplat"</A>
            <nav>
                {move || match auth.user() {
                    Some(user) => view! {
                        <A href="/">"Phone"</A>
                        <A href="/history">"History"</A>
                        <A href="/topup" attr:id="nav-topup">"Top up"</A>
                        <A href="/balance" attr:id="nav-balance">"Balance"</A>
                        <A href="/receipts" attr:id="nav-receipts">"Receipts"</A>
                        <A href="/profile">"Profile"</A>
                        <Show when=move || auth.is_admin()>
                            <A href="/admin" attr:id="nav-admin">"Admin"</A>
                        </Show>
                        <span class="who" id="nav-user">{user.display_name}</span>
                        <button class="link" id="logout" on:click=logout.clone()>"Log out"</button>
                    }.into_any(),
                    None => view! {
                        <A href="/login">"Log in"</A>
                        <A href="/signup">"Sign up"</A>
                    }.into_any(),
                }}
            </nav>
        </header>
    }
}
