//! The browser app: accounts for now; the softphone, history and top-up come with their issues.
//!
//! `api` is the only module that speaks HTTP, `session` owns who is signed in, `pages` hold one
//! component per route.

mod api;
mod pages;
mod session;

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
    spawn_local(auth.restore());

    view! {
        <Router>
            <Nav/>
            <main class="container">
                <Show when=move || auth.checked.get() fallback=|| view! { <p class="muted" id="loading">"Loading…"</p> }>
                    <Routes fallback=|| view! { <h1>"Page not found"</h1> <p><A href="/">"Go home"</A></p> }>
                        <Route path=path!("/") view=|| view! { <Signed><pages::home::Home/></Signed> }/>
                        <Route path=path!("/login") view=pages::login::Login/>
                        <Route path=path!("/signup") view=pages::signup::Signup/>
                        <Route path=path!("/profile") view=|| view! { <Signed><pages::profile::Profile/></Signed> }/>
                        <Route path=path!("/admin") view=|| view! { <Signed><pages::admin::Admin/></Signed> }/>
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
                        <A href="/">"Home"</A>
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
