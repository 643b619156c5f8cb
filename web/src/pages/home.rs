//! The softphone: find someone, call them, answer, talk.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use protocol::{api::Contact, ws::Peer};

use crate::{
    api as rest,
    phone::{self, Phone, Screen},
    session::Auth,
};

#[component]
pub fn Home() -> impl IntoView {
    let phone = expect_context::<Phone>();
    view! {
        <div class="phone">
            <Status/>
            {move || phone.error.get().map(|e| view! {
                <div class="banner error" role="alert" id="phone-error">
                    {e} " "
                    {(phone.error_code.get().as_deref() == Some("insufficient_funds")).then(|| view! {
                        <A href="/topup" attr:id="refusal-topup">"Top up"</A> " "
                    })}
                    <button class="link" on:click=move |_| { phone.error.set(None); phone.error_code.set(None); }>"Dismiss"</button>
                </div>
            })}
            <IncomingCalls/>
            <CallPanel/>
            <DialPad/>
            <Contacts/>
        </div>
    }
}

#[component]
fn Status() -> impl IntoView {
    let phone = expect_context::<Phone>();
    let auth = expect_context::<Auth>();
    // The shared balance follows the server's pushes; it is also asked for whenever a call ends
    // (it may have cost something) and on arrival.
    Effect::new(move || {
        if phone.screen.with(|s| *s == Screen::Idle) {
            phone::refresh_balance(phone, auth);
        }
    });
    view! {
        <p class="status-line">
            <span class="dot" class:on=move || phone.connected.get()></span>
            <span id="phone-status">{move || if phone.connected.get() { "Ready to call" } else { "Connecting…" }}</span>
            <span class="balance">
                {move || phone.funds.get().map(|f| view! { "Balance " <strong id="balance">{rest::money(f.balance_micros)}</strong> " " })}
                <A href="/topup" attr:id="balance-topup">"Top up"</A>
            </span>
        </p>
    }
}

#[component]
fn IncomingCalls() -> impl IntoView {
    let phone = expect_context::<Phone>();
    let busy = move || phone.screen.with(|s| *s != Screen::Idle);
    view! {
        <For each=move || phone.incoming.get() key=|i| i.call_id.clone() let(call)>
            <div class="card incoming" data-call-id=call.call_id.clone() role="alertdialog">
                <div>
                    <strong class="caller">{call.from.display_name.clone()}</strong>
                    {move || if busy() { " is calling (call waiting)" } else { " is calling you" }}
                </div>
                <div class="actions">
                    <button class="primary answer" on:click={
                        let id = call.call_id.clone();
                        move |_| phone::answer(id.clone())
                    }>{move || if busy() { "End current & answer" } else { "Answer" }}</button>
                    <button class="danger decline" on:click={
                        let id = call.call_id.clone();
                        move |_| phone::decline(id.clone())
                    }>"Decline"</button>
                </div>
            </div>
        </For>
    }
}

fn clock(ms: f64) -> String {
    let secs = (ms / 1000.0).max(0.0) as u64;
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

#[component]
fn CallPanel() -> impl IntoView {
    let phone = expect_context::<Phone>();
    move || match phone.screen.get() {
        Screen::Idle => phone
            .ended
            .get()
            .map(|reason| {
                let out_of_money = phone.ended_code.get().as_deref() == Some("credit_exhausted");
                view! {
                    <div class="banner info" id="ended-reason">
                        {reason}
                        {out_of_money.then(|| view! { " " <A href="/topup" attr:id="ended-topup">"Top up"</A> })}
                        {move || phone.last_charge.get().map(|(_, micros)| view! {
                            " " <span id="call-charge" data-micros=micros.to_string()>
                                "This call cost " {rest::money(micros)}
                            </span>
                        })}
                    </div>
                }
                .into_any()
            })
            .unwrap_or_else(|| ().into_any()),
        Screen::Outgoing { peer, ringing, .. } => view! {
            <section class="card call" id="call-panel">
                <p class="call-state" id="call-state" data-state=if ringing { "ringing" } else { "calling" }
                    data-packets=move || phone.stats.get().packets_received.to_string()>
                    {if ringing { "Ringing " } else { "Calling " }} <strong>{peer.display_name}</strong> "…"
                </p>
                <div class="actions">
                    <button class="danger" id="hangup" on:click=|_| phone::hang_up()>"Cancel"</button>
                </div>
            </section>
        }
        .into_any(),
        Screen::InCall { peer, started_ms, muted, held, peer_held, reconnecting, .. } => {
            let stats = phone.stats;
            view! {
                <section class="card call" id="call-panel">
                    <p class="call-state" id="call-state" data-state="in_call">
                        "In call with " <strong>{peer.display_name}</strong>
                        <span class="timer" id="call-timer">{move || clock(phone.now_ms.get() - started_ms)}</span>
                    </p>
                    <CallMoney/>
                    <p class="badges">
                        {muted.then(|| view! { <span class="badge">"Muted"</span> })}
                        {held.then(|| view! { <span class="badge">"On hold"</span> })}
                        {peer_held.then(|| view! { <span class="badge" id="peer-held">"They put you on hold"</span> })}
                        {reconnecting.then(|| view! { <span class="badge warn">"Reconnecting…"</span> })}
                    </p>
                    <div class="meters">
                        <label>"You"
                            <meter id="local-level" min="0" max="1" value=move || stats.get().local_level.to_string()></meter>
                        </label>
                        <label>"Them"
                            <meter id="remote-level" min="0" max="1"
                                value=move || stats.get().remote_level.to_string()
                                data-packets=move || stats.get().packets_received.to_string()
                                data-energy=move || stats.get().remote_energy.to_string()></meter>
                        </label>
                    </div>
                    {(peer.number.is_some()).then(Keypad)}
                    <div class="actions">
                        <button id="mute" on:click=|_| phone::toggle_mute()>{if muted { "Unmute" } else { "Mute" }}</button>
                        <button id="hold" on:click=|_| phone::toggle_hold()>{if held { "Resume" } else { "Hold" }}</button>
                        <button class="danger" id="hangup" on:click=|_| phone::hang_up()>"Hang up"</button>
                    </div>
                </section>
            }
            .into_any()
        }
    }
}

/// A paid call's running cost and time left, and the low-balance warning.
#[component]
fn CallMoney() -> impl IntoView {
    let phone = expect_context::<Phone>();
    // Seconds left now, counted down locally from the last push.
    let left = move || {
        let c = phone.credit.get()?;
        let elapsed = ((phone.now_ms.get() as i64 - c.at_ms) / 1000).max(0) as u64;
        Some(c.seconds_left.map(|s| s.saturating_sub(elapsed)))
    };
    view! {
        {move || phone.credit.get().map(|c| view! {
            <p class="call-money">
                "Cost so far " <strong id="call-cost" data-micros=c.cost_micros.to_string()>{rest::money(c.cost_micros)}</strong>
                " at " {rest::money(c.per_minute_micros)} "/min"
                {move || left().map(|l| view! {
                    " · Time left "
                    <span id="call-time-left" data-seconds=l.map(|s| s.to_string()).unwrap_or_default()>
                        {l.map_or_else(|| "over an hour".to_string(), |s| clock(s as f64 * 1000.0))}
                    </span>
                })}
            </p>
        })}
        {move || phone.credit_warning.get().map(|(secs, at)| {
            let now = move || (((phone.now_ms.get() as i64) - at) / 1000).max(0) as u64;
            view! {
                <div class="banner warn" role="alert" id="credit-warning" data-seconds=secs.to_string()>
                    "Your balance runs out in " {move || secs.saturating_sub(now())} " seconds — "
                    <a id="credit-topup" href="/topup" target="_blank" rel="noopener">"top up to keep talking"</a>
                </div>
            }
        })}
    }
}

/// The in-call keypad of a phone call: each key is sent as an RFC 4733 event (RTCDTMFSender),
/// which the gateway passes on to the carrier.
#[component]
fn Keypad() -> impl IntoView {
    let sent = RwSignal::new(String::new());
    view! {
        <div class="keypad" id="keypad">
            {["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"]
                .into_iter()
                .map(|key| view! {
                    <button class="key" data-key=key on:click=move |_| {
                        if phone::send_dtmf(key) {
                            sent.update(|s| s.push_str(key));
                        }
                    }>{key}</button>
                })
                .collect_view()}
            <output id="dtmf-sent">{move || sent.get()}</output>
        </div>
    }
}

/// Dial a phone number (through the platform's carriers).
#[component]
fn DialPad() -> impl IntoView {
    let phone = expect_context::<Phone>();
    let auth = expect_context::<Auth>();
    let number = RwSignal::new(String::new());
    // The price of the number being typed, and how long the balance lasts at it.
    let quote = RwSignal::new(None::<Result<protocol::api::Quote, String>>);
    Effect::new(move |_| {
        let n = number.get().trim().to_string();
        let _ = phone.funds.get(); // a new balance, a new estimate
        if n.chars().filter(char::is_ascii_digit).count() < 6 {
            quote.set(None);
            return;
        }
        spawn_local(async move {
            let q = auth.call(|t| rest::quote(t, n.clone())).await;
            if number.get_untracked().trim() == n {
                quote.set(Some(q.map_err(|e| e.field("number").map_or(e.message.clone(), |r| format!("Number {r}")))));
            }
        });
    });
    let dial = move || {
        let n = number.get_untracked().trim().to_string();
        if n.is_empty() {
            phone.error.set(Some("Type a phone number to call.".into()));
            return;
        }
        phone::dial(Peer { id: 0, display_name: n.clone(), number: Some(n) });
    };
    view! {
        <section class="card">
            <h2>"Call a phone number"</h2>
            <form class="search" on:submit=move |ev| { ev.prevent_default(); dial(); }>
                <input type="tel" id="dial-number" placeholder="+44 20 7946 0123" bind:value=number autocomplete="tel"/>
                <button class="primary" id="dial-number-call" type="submit"
                    disabled=move || phone.screen.with(|s| *s != Screen::Idle) || !phone.connected.get()>"Call"</button>
            </form>
            {move || quote.get().map(|q| match q {
                Ok(q) => view! {
                    <p class="muted" id="dial-quote" data-per-minute=q.rate.per_minute_micros>
                        {format!("{}/min", rest::money(q.rate.per_minute_micros))}
                        {match q.affordable_secs {
                            None => " · your balance does not cover a call; top up first".to_string(),
                            Some(s) if s == u64::MAX => " · free".to_string(),
                            Some(s) => format!(" · about {} minutes available", s / 60),
                        }}
                    </p>
                }.into_any(),
                Err(why) => view! { <p class="muted" id="dial-quote" data-per-minute="">{why}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Contacts() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let q = RwSignal::new(String::new());
    let found: RwSignal<Vec<Contact>> = RwSignal::new(vec![]);
    let recent: RwSignal<Vec<Contact>> = RwSignal::new(vec![]);
    let error = RwSignal::new(None::<String>);

    let search = move || {
        let query = q.get_untracked();
        spawn_local(async move {
            match auth.call(|t| rest::directory(t, query.clone())).await {
                Ok(list) => found.set(list),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    search();
    spawn_local(async move {
        if let Ok(list) = auth.call(rest::recent_contacts).await {
            recent.set(list);
        }
    });

    view! {
        <section class="card">
            <h2>"Call someone"</h2>
            <form class="search" on:submit=move |ev| { ev.prevent_default(); search(); }>
                <input type="search" id="directory-search" placeholder="Name or email" bind:value=q
                    on:input=move |_| search()/>
            </form>
            {move || error.get().map(|e| view! { <div class="banner error">{e}</div> })}
            <ContactList contacts=found empty="Nobody matches."/>
            <Show when=move || !recent.with(Vec::is_empty)>
                <h2>"Recent"</h2>
                <ContactList contacts=recent empty=""/>
            </Show>
        </section>
    }
}

#[component]
fn ContactList(contacts: RwSignal<Vec<Contact>>, empty: &'static str) -> impl IntoView {
    let phone = expect_context::<Phone>();
    view! {
        <ul class="contacts">
            <For each=move || contacts.get() key=|c| c.id let(c)>
                <li class="contact" data-email=c.email.clone()>
                    <span class="dot" class:on={ let id = c.id; move || phone.online.with(|o| o.contains(&id)) }></span>
                    <span class="name">{c.display_name.clone()}</span>
                    <span class="muted email">{c.email.clone()}</span>
                    <button class="primary call" disabled=move || phone.screen.with(|s| *s != Screen::Idle) || !phone.connected.get()
                        on:click={
                            let peer = Peer { id: c.id, display_name: c.display_name.clone(), number: None };
                            move |_| phone::dial(peer.clone())
                        }>"Call"</button>
                </li>
            </For>
        </ul>
        <Show when=move || contacts.with(Vec::is_empty) && !empty.is_empty()>
            <p class="muted">{empty}</p>
        </Show>
    }
}
