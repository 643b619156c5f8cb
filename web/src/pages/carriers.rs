//! Admin: carriers (SIP trunks). The list, and one form to create or edit a carrier with its
//! gateways. The password is write-only: left empty it stays as it is.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::components::A;
use protocol::api;

use super::{
    Banner, Field,
    admin::{AdminNav, need_admin},
};
use crate::{api as rest, api::ApiError, session::Auth};

/// One gateway being edited; its own signals, so typing does not rebuild the list.
#[derive(Clone, Copy)]
struct GatewayRow {
    host: RwSignal<String>,
    port: RwSignal<String>,
    tcp: RwSignal<bool>,
    priority: RwSignal<String>,
    weight: RwSignal<String>,
}

impl GatewayRow {
    fn new(g: Option<&api::CarrierGateway>) -> Self {
        Self {
            host: RwSignal::new(g.map(|g| g.host.clone()).unwrap_or_default()),
            port: RwSignal::new(g.map_or_else(|| "5060".to_string(), |g| g.port.to_string())),
            tcp: RwSignal::new(g.is_some_and(|g| g.transport == api::Transport::Tcp)),
            priority: RwSignal::new(g.map_or(0, |g| g.priority).to_string()),
            weight: RwSignal::new(g.map_or(1, |g| g.weight).to_string()),
        }
    }

    fn input(&self) -> api::CarrierGateway {
        let port = self.port.get_untracked();
        let port = port.trim();
        api::CarrierGateway {
            host: self.host.get_untracked(),
            // Anything that is not a number goes as 0, so the server says what is wrong.
            port: if port.is_empty() { 5060 } else { port.parse().unwrap_or(0) },
            transport: if self.tcp.get_untracked() { api::Transport::Tcp } else { api::Transport::Udp },
            // Not a number: out of range, so the server says what is wrong.
            priority: self.priority.get_untracked().trim().parse().unwrap_or(u32::MAX),
            weight: self.weight.get_untracked().trim().parse().unwrap_or(0),
        }
    }
}

#[derive(Clone, Copy)]
struct Form {
    name: RwSignal<String>,
    enabled: RwSignal<bool>,
    username: RwSignal<String>,
    password: RwSignal<String>,
    has_password: RwSignal<bool>,
    clear_password: RwSignal<bool>,
    from_domain: RwSignal<String>,
    policy: RwSignal<api::CallerIdPolicy>,
    number: RwSignal<String>,
    strip_prefix: RwSignal<String>,
    prepend: RwSignal<String>,
    inbound: RwSignal<String>,
    gateways: RwSignal<Vec<GatewayRow>>,
    max_calls: RwSignal<String>,
    max_cps: RwSignal<String>,
    register: RwSignal<bool>,
    register_expires: RwSignal<String>,
}

/// Empty: no limit. Anything but a whole number is sent as 0, which the server refuses with its
/// reason for the field.
fn limit(text: String) -> Option<u32> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.parse().unwrap_or(0))
}

fn policy_value(p: api::CallerIdPolicy) -> &'static str {
    match p {
        api::CallerIdPolicy::UserDid => "user_did",
        api::CallerIdPolicy::Fixed => "fixed",
        api::CallerIdPolicy::Anonymous => "anonymous",
    }
}

fn policy_from(v: &str) -> api::CallerIdPolicy {
    match v {
        "fixed" => api::CallerIdPolicy::Fixed,
        "anonymous" => api::CallerIdPolicy::Anonymous,
        _ => api::CallerIdPolicy::UserDid,
    }
}

fn some_text(s: String) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl Form {
    fn new() -> Self {
        Self {
            name: RwSignal::new(String::new()),
            enabled: RwSignal::new(true),
            username: RwSignal::new(String::new()),
            password: RwSignal::new(String::new()),
            has_password: RwSignal::new(false),
            clear_password: RwSignal::new(false),
            from_domain: RwSignal::new(String::new()),
            policy: RwSignal::new(api::CallerIdPolicy::UserDid),
            number: RwSignal::new(String::new()),
            strip_prefix: RwSignal::new(String::new()),
            prepend: RwSignal::new(String::new()),
            inbound: RwSignal::new(String::new()),
            gateways: RwSignal::new(vec![GatewayRow::new(None)]),
            max_calls: RwSignal::new(String::new()),
            max_cps: RwSignal::new(String::new()),
            register: RwSignal::new(false),
            register_expires: RwSignal::new("3600".into()),
        }
    }

    /// Empty for a new carrier, or `c`'s values.
    fn fill(&self, c: Option<&api::Carrier>) {
        let text = |o: Option<&Option<String>>| o.and_then(|s| s.clone()).unwrap_or_default();
        self.name.set(c.map(|c| c.name.clone()).unwrap_or_default());
        self.enabled.set(c.is_none_or(|c| c.enabled));
        self.username.set(text(c.map(|c| &c.username)));
        self.password.set(String::new());
        self.has_password.set(c.is_some_and(|c| c.has_password));
        self.clear_password.set(false);
        self.from_domain.set(text(c.map(|c| &c.from_domain)));
        self.policy.set(c.map_or(api::CallerIdPolicy::UserDid, |c| c.caller_id_policy));
        self.number.set(text(c.map(|c| &c.caller_id_number)));
        self.strip_prefix.set(c.map(|c| c.strip_prefix.clone()).unwrap_or_default());
        self.prepend.set(c.map(|c| c.prepend.clone()).unwrap_or_default());
        self.inbound.set(c.map(|c| c.inbound_cidrs.join(", ")).unwrap_or_default());
        self.max_calls.set(c.and_then(|c| c.max_calls).map(|n| n.to_string()).unwrap_or_default());
        self.max_cps.set(c.and_then(|c| c.max_cps).map(|n| n.to_string()).unwrap_or_default());
        self.register.set(c.is_some_and(|c| c.register));
        self.register_expires.set(c.map_or(3600, |c| c.register_expires).to_string());
        let rows = match c {
            Some(c) if !c.gateways.is_empty() => c.gateways.iter().map(|g| GatewayRow::new(Some(g))).collect(),
            _ => vec![GatewayRow::new(None)],
        };
        self.gateways.set(rows);
    }

    fn input(&self) -> api::CarrierInput {
        let password = self.password.get_untracked();
        api::CarrierInput {
            name: self.name.get_untracked(),
            enabled: self.enabled.get_untracked(),
            username: some_text(self.username.get_untracked()),
            password: if self.clear_password.get_untracked() {
                Some(String::new())
            } else {
                Some(password).filter(|p| !p.is_empty())
            },
            from_domain: some_text(self.from_domain.get_untracked()),
            caller_id_policy: self.policy.get_untracked(),
            caller_id_number: some_text(self.number.get_untracked()),
            strip_prefix: self.strip_prefix.get_untracked().trim().to_string(),
            prepend: self.prepend.get_untracked().trim().to_string(),
            inbound_cidrs: self
                .inbound
                .get_untracked()
                .split([',', ' ', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            gateways: self.gateways.get_untracked().iter().map(GatewayRow::input).collect(),
            max_calls: limit(self.max_calls.get_untracked()),
            max_cps: limit(self.max_cps.get_untracked()),
            register: self.register.get_untracked(),
            // Not a number: 0, which the server refuses with the allowed range.
            register_expires: self.register_expires.get_untracked().trim().parse().unwrap_or(0),
        }
    }
}

fn gateways_text(c: &api::Carrier) -> String {
    let tr = |t: api::Transport| if t == api::Transport::Tcp { "tcp" } else { "udp" };
    c.gateways.iter().map(|g| format!("{}:{}/{}", g.host, g.port, tr(g.transport))).collect::<Vec<_>>().join(", ")
}

fn caller_id_text(c: &api::Carrier) -> String {
    let number = c.caller_id_number.clone().unwrap_or_default();
    match c.caller_id_policy {
        api::CallerIdPolicy::UserDid if number.is_empty() => "caller's DID".into(),
        api::CallerIdPolicy::UserDid => format!("caller's DID, else {number}"),
        api::CallerIdPolicy::Fixed => number,
        api::CallerIdPolicy::Anonymous => "anonymous".into(),
    }
}

#[component]
pub fn Carriers() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let list: RwSignal<Vec<api::Carrier>> = RwSignal::new(vec![]);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let form_error: RwSignal<Option<ApiError>> = RwSignal::new(None);
    let notice: RwSignal<Option<String>> = RwSignal::new(None);
    // `None`: no form; `Some(None)`: a new carrier; `Some(Some(id))`: editing `id`.
    let editing: RwSignal<Option<Option<i64>>> = RwSignal::new(None);
    let form = Form::new();

    let load = move || {
        spawn_local(async move {
            match auth.call(rest::list_carriers).await {
                Ok(l) => {
                    list.set(l);
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();

    let open = move |c: Option<api::Carrier>| {
        form.fill(c.as_ref());
        form_error.set(None);
        notice.set(None);
        editing.set(Some(c.map(|c| c.id)));
    };
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(target) = editing.get_untracked() else { return };
        let req = form.input();
        spawn_local(async move {
            let result = match target {
                None => auth.call(|t| rest::create_carrier(t, req.clone())).await,
                Some(id) => auth.call(|t| rest::update_carrier(t, id, req.clone())).await,
            };
            match result {
                Ok(c) => {
                    notice.set(Some(format!("Saved {}.", c.name)));
                    form_error.set(None);
                    editing.set(None);
                    load();
                }
                Err(e) => form_error.set(Some(e)),
            }
        });
    };
    let remove = move |c: api::Carrier| {
        let question = format!("Delete the carrier {}? Its gateways are deleted with it.", c.name);
        if !window().confirm_with_message(&question).unwrap_or(false) {
            return;
        }
        spawn_local(async move {
            match auth.call(|t| rest::delete_carrier(t, c.id)).await {
                Ok(()) => {
                    notice.set(Some(format!("Deleted {}.", c.name)));
                    if editing.get_untracked() == Some(Some(c.id)) {
                        editing.set(None);
                    }
                    load();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <AdminNav/>
        <section class="card">
            <h1>"Carriers"</h1>
            <p class="muted">"SIP trunks. Calls to phone numbers go out through the cheapest enabled carrier whose rate deck has the number (see Rate decks & routing)."</p>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> })}
            {move || notice.get().map(|n| view! { <div class="banner info" id="carrier-notice">{n}</div> })}
            <div class="table-wrap">
                <table class="users" id="carriers">
                    <thead><tr><th>"Name"</th><th>"Status"</th><th>"Gateways"</th><th>"Caller ID"</th><th></th></tr></thead>
                    <tbody>
                        <For each=move || list.get() key=|c| (c.id, c.updated_at.clone()) let(c)>
                            <tr data-name=c.name.clone() id=format!("carrier-{}", c.id) class:disabled=!c.enabled>
                                <td>{c.name.clone()}</td>
                                <td class="status">{if c.enabled { "enabled" } else { "disabled" }}</td>
                                <td>{gateways_text(&c)}</td>
                                <td>{caller_id_text(&c)}</td>
                                <td class="row-actions">
                                    {
                                        let (edit, del) = (c.clone(), c.clone());
                                        view! {
                                            <A href=format!("/admin/carriers/{}", edit.id) attr:class="details">"Health"</A>
                                            <button class="edit" on:click=move |_| open(Some(edit.clone()))>"Edit"</button>
                                            <button class="danger delete" on:click=move |_| remove(del.clone())>"Delete"</button>
                                        }
                                    }
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
            <Show when=move || list.with(Vec::is_empty)>
                <p class="muted" id="no-carriers">"No carriers yet."</p>
            </Show>
            <button class="primary" id="carrier-new" on:click=move |_| open(None)>"New carrier"</button>
        </section>
        <Show when=move || editing.get().is_some()>
            <CarrierForm form=form error=form_error editing=editing on_submit=save/>
        </Show>
    }
    .into_any()
}

#[component]
fn CarrierForm(
    form: Form,
    error: RwSignal<Option<ApiError>>,
    editing: RwSignal<Option<Option<i64>>>,
    on_submit: impl FnMut(SubmitEvent) + 'static,
) -> impl IntoView {
    let reason = move |field: String| error.with(|e| e.as_ref().and_then(|e| e.field(&field)));
    let title = move || if editing.get().flatten().is_some() { "Edit carrier" } else { "New carrier" };
    let password_hint = move || {
        if form.has_password.get() {
            "A password is stored: leave this empty to keep it."
        } else {
            "No password stored."
        }
    };
    view! {
        <section class="card" id="carrier-editor">
            <h2>{title}</h2>
            <Banner error=error/>
            <form on:submit=on_submit novalidate id="carrier-form">
                <Field label="Name" name="name" id="carrier-name" value=form.name error=error/>
                <label class="check">
                    <input type="checkbox" id="carrier-enabled" name="enabled" bind:checked=form.enabled/>
                    " Enabled"
                </label>
                <Field label="Username" name="username" id="carrier-username" autocomplete="off" value=form.username error=error/>
                <Field label="Password" name="password" id="carrier-password" kind="password" autocomplete="new-password" value=form.password error=error/>
                <p class="hint" id="carrier-password-hint">{password_hint}</p>
                <Show when=move || form.has_password.get()>
                    <label class="check">
                        <input type="checkbox" id="carrier-clear-password" name="clear_password" bind:checked=form.clear_password/>
                        " Remove the stored password"
                    </label>
                </Show>
                <label class="check">
                    <input type="checkbox" id="carrier-register" name="register" bind:checked=form.register/>
                    " Register with the carrier (REGISTER with the username and password above)"
                </label>
                {move || error.with(|e| e.as_ref().and_then(|e| e.field("register"))).map(|r| view! { <small class="field-error" data-field="register">{format!("Registering {r}.")}</small> })}
                <Field label="Registration expiry (seconds)" name="register_expires" id="carrier-register-expires" autocomplete="off" value=form.register_expires error=error/>
                <Field label="From domain" name="from_domain" id="carrier-from-domain" autocomplete="off" value=form.from_domain error=error/>
                <label class="field">
                    <span>"Caller ID"</span>
                    <select
                        id="carrier-caller-id-policy"
                        name="caller_id_policy"
                        on:change=move |ev| form.policy.set(policy_from(&event_target_value(&ev)))
                    >
                        {[
                            (api::CallerIdPolicy::UserDid, "The caller's first DID, else the number below"),
                            (api::CallerIdPolicy::Fixed, "Always the number below"),
                            (api::CallerIdPolicy::Anonymous, "Anonymous"),
                        ]
                            .into_iter()
                            .map(|(p, text)| view! {
                                <option value=policy_value(p) prop:selected=move || form.policy.get() == p>{text}</option>
                            })
                            .collect_view()}
                    </select>
                </label>
                <Field label="Caller ID number" name="caller_id_number" id="carrier-caller-id-number" autocomplete="off" value=form.number error=error/>
                <Field label="Strip prefix" name="strip_prefix" id="carrier-strip-prefix" autocomplete="off" value=form.strip_prefix error=error/>
                <Field label="Prepend" name="prepend" id="carrier-prepend" autocomplete="off" value=form.prepend error=error/>
                <p class="hint">"Dialing +442079460123 with strip “+44” and prepend “0” sends 02079460123."</p>
                <Field label="Max concurrent calls" name="max_calls" id="carrier-max-calls" autocomplete="off" value=form.max_calls error=error/>
                <Field label="Max calls per second" name="max_cps" id="carrier-max-cps" autocomplete="off" value=form.max_cps error=error/>
                <p class="hint">"Empty: no limit. A carrier at its limit is skipped by routing until calls end."</p>
                <Field label="Inbound CIDRs" name="inbound_cidrs" id="carrier-inbound-cidrs" autocomplete="off" value=form.inbound error=error/>
                <p class="hint">"Comma separated, e.g. 192.0.2.0/24, 198.51.100.7. Calls are accepted only from these."</p>
                <fieldset class="gateways" id="gateways">
                    <legend>"Gateways (lower priority first; by weight within a priority)"</legend>
                    {move || reason("gateways".into()).map(|r| view! { <small class="field-error" data-field="gateways">{format!("Gateways {r}.")}</small> })}
                    {move || {
                        let rows = form.gateways.get();
                        let only_one = rows.len() <= 1;
                        rows.into_iter()
                            .enumerate()
                            .map(|(i, row)| {
                                let host_key = format!("gateways[{i}].host");
                                let port_key = format!("gateways[{i}].port");
                                let host_reason = {
                                    let k = host_key.clone();
                                    move || reason(k.clone())
                                };
                                let port_reason = {
                                    let k = port_key.clone();
                                    move || reason(k.clone())
                                };
                                view! {
                                    <div class="gateway-row" data-index=i>
                                        <label class="field host">
                                            <span>"Host"</span>
                                            <input type="text" id=format!("gw-host-{i}") name=format!("gw-host-{i}") autocomplete="off"
                                                class:invalid={let r = host_reason.clone(); move || r().is_some()} bind:value=row.host/>
                                            {move || host_reason().map(|r| view! { <small class="field-error" data-field=host_key.clone()>{format!("Host {r}.")}</small> })}
                                        </label>
                                        <label class="field port">
                                            <span>"Port"</span>
                                            <input type="text" inputmode="numeric" id=format!("gw-port-{i}") name=format!("gw-port-{i}") autocomplete="off"
                                                class:invalid={let r = port_reason.clone(); move || r().is_some()} bind:value=row.port/>
                                            {move || port_reason().map(|r| view! { <small class="field-error" data-field=port_key.clone()>{format!("Port {r}.")}</small> })}
                                        </label>
                                        <label class="field transport">
                                            <span>"Transport"</span>
                                            <select id=format!("gw-transport-{i}") name=format!("gw-transport-{i}")
                                                on:change=move |ev| row.tcp.set(event_target_value(&ev) == "tcp")>
                                                <option value="udp" prop:selected=move || !row.tcp.get()>"UDP"</option>
                                                <option value="tcp" prop:selected=move || row.tcp.get()>"TCP"</option>
                                            </select>
                                        </label>
                                        <label class="field port">
                                            <span>"Priority"</span>
                                            <input type="text" inputmode="numeric" id=format!("gw-priority-{i}") autocomplete="off" bind:value=row.priority/>
                                        </label>
                                        <label class="field port">
                                            <span>"Weight"</span>
                                            <input type="text" inputmode="numeric" id=format!("gw-weight-{i}") autocomplete="off" bind:value=row.weight/>
                                        </label>
                                        {
                                            let (p, w) = (format!("gateways[{i}].priority"), format!("gateways[{i}].weight"));
                                            move || {
                                                [(p.clone(), "Priority"), (w.clone(), "Weight")]
                                                    .into_iter()
                                                    .filter_map(|(k, label)| reason(k.clone()).map(|r| view! { <small class="field-error" data-field=k>{format!("{label} {r}.")}</small> }))
                                                    .collect_view()
                                            }
                                        }
                                        <button type="button" class="link" id=format!("gw-remove-{i}") disabled=only_one
                                            on:click=move |_| form.gateways.update(|g| { g.remove(i); })>"Remove"</button>
                                    </div>
                                }
                            })
                            .collect_view()
                    }}
                    <button type="button" id="gw-add"
                        disabled=move || form.gateways.with(|g| g.len() >= protocol::limits::CARRIER_GATEWAYS_MAX)
                        on:click=move |_| form.gateways.update(|g| g.push(GatewayRow::new(None)))>"Add gateway"</button>
                </fieldset>
                <div class="form-actions">
                    <button type="submit" class="primary" id="carrier-save">"Save carrier"</button>
                    <button type="button" id="carrier-cancel" on:click=move |_| editing.set(None)>"Cancel"</button>
                </div>
            </form>
        </section>
    }
}
