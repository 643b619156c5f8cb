//! Admin: one carrier's health. Its gateways and what their latest OPTIONS ping said, the
//! circuit breaker, ASR/ACD/PDD over the latest attempts, a chart of the last day per hour, and
//! the latest attempts with their calls. Refreshed every 5 s while open.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_params_map};
use protocol::api;

use super::admin::{AdminNav, need_admin};
use crate::{api as rest, api::ApiError, session::Auth};

fn permille(p: u16) -> String {
    format!("{}.{}%", p / 10, p % 10)
}

fn or_dash<T: ToString>(v: Option<T>, unit: &str) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{}{unit}", v.to_string()))
}

#[component]
pub fn CarrierDetail() -> impl IntoView {
    let auth = expect_context::<Auth>();
    if !auth.is_admin() {
        return need_admin();
    }
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|v| v.parse::<i64>().ok()));
    let carrier: RwSignal<Option<api::Carrier>> = RwSignal::new(None);
    let health: RwSignal<Option<api::CarrierHealth>> = RwSignal::new(None);
    let error: RwSignal<Option<ApiError>> = RwSignal::new(None);

    let load = move || {
        let Some(id) = id() else {
            error.set(Some(ApiError::local_field("id", "is not a carrier id")));
            return;
        };
        spawn_local(async move {
            match auth.call(|t| rest::carrier(t, id)).await {
                Ok(c) => carrier.set(Some(c)),
                Err(e) => return error.set(Some(e)),
            }
            match auth.call(|t| rest::carrier_health(t, id)).await {
                Ok(h) => {
                    health.set(Some(h));
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    load();
    let timer = set_interval_with_handle(load, std::time::Duration::from_secs(5)).ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });

    view! {
        <AdminNav/>
        <section class="card" id="carrier-detail">
            <p><A href="/admin/carriers">"‹ All carriers"</A></p>
            <h1 id="carrier-title">{move || carrier.get().map(|c| c.name).unwrap_or_else(|| "Carrier".into())}</h1>
            {move || error.get().map(|e| view! { <div class="banner error" role="alert" id="error-banner">{e.message}</div> })}
            {move || health.get().map(|h| view! {
                <div class="stats" id="health-summary">
                    <div class="stat"><span>"Circuit"</span>
                        <strong id="health-circuit" data-open=h.circuit_open.to_string()>
                            {if h.circuit_open { "open (resting)" } else { "closed" }}
                        </strong></div>
                    <div class="stat"><span>"ASR"</span><strong id="health-asr">{or_dash(h.asr_permille.map(permille), "")}</strong></div>
                    <div class="stat"><span>"ACD"</span><strong id="health-acd">{or_dash(h.acd_secs, " s")}</strong></div>
                    <div class="stat"><span>"PDD"</span><strong id="health-pdd">{or_dash(h.pdd_ms, " ms")}</strong></div>
                    <div class="stat"><span>"Calls now"</span><strong id="health-calls">{h.calls_now}</strong></div>
                    <div class="stat"><span>"Calls last second"</span><strong id="health-cps">{h.calls_last_second}</strong></div>
                </div>
                <p class="hint">"ASR, ACD and PDD over the latest 50 attempts (ASR needs 10)."</p>
            })}
            {move || health.get().and_then(|h| h.registration).map(|r| {
                let at = r.gateway.as_ref().map(|g| format!(" at {g}")).unwrap_or_default();
                let text = match (r.state.as_str(), &r.expires_at, &r.error) {
                    ("registered", Some(until), _) => format!("Registered{at} until {until} (refreshed before)"),
                    ("failed", _, Some(e)) => {
                        format!("Registration failed{at}: {e}; the next gateway is tried, and all again after 30 s")
                    }
                    _ => "Registering…".to_string(),
                };
                view! { <p class="registration" id="registration" data-state=r.state.clone()><strong>"Registration: "</strong>{text}</p> }
            })}
            <h2>"Gateways"</h2>
            <ul class="gateways-status" id="gateway-status">
                {move || health.get().map(|h| h.gateways.into_iter().map(|g| {
                    let detail = match (g.code, g.rtt_ms) {
                        (Some(code), Some(rtt)) => format!("answered {code} in {rtt} ms"),
                        _ if g.status == "down" => "no answer to OPTIONS".to_string(),
                        _ => "not pinged yet".to_string(),
                    };
                    view! {
                        <li data-gateway=g.gateway.clone() data-status=g.status.clone()>
                            <span class=format!("dot {}", g.status)></span>
                            <strong>{g.gateway.clone()}</strong>
                            {format!(" — {}: {detail}", g.status)}
                            {g.checked_at.map(|t| view! { <small class="muted">{format!(" (checked {t})")}</small> })}
                        </li>
                    }
                }).collect_view())}
            </ul>
        </section>
        <section class="card">
            <h2>"Last 24 hours"</h2>
            {move || health.get().map(|h| view! { <HourChart hours=h.hours/> })}
        </section>
        <section class="card">
            <h2>"Latest attempts"</h2>
            <div class="table-wrap">
                <table class="users" id="recent-attempts">
                    <thead><tr><th>"Started"</th><th>"Call"</th><th>"Gateway"</th><th>"Outcome"</th><th>"SIP"</th><th>"PDD"</th><th>"Duration"</th></tr></thead>
                    <tbody>
                        {move || health.get().map(|h| h.recent.into_iter().map(|r| view! {
                            <tr data-call=r.call_id.clone() data-outcome=r.attempt.outcome.clone()>
                                <td>{r.attempt.started_at.clone()}</td>
                                <td><code>{r.call_id.clone()}</code></td>
                                <td>{r.attempt.gateway.clone().unwrap_or_default()}</td>
                                <td>{r.attempt.outcome.clone()}</td>
                                <td>{or_dash(r.attempt.sip_code, "")}</td>
                                <td>{or_dash(r.attempt.pdd_ms, " ms")}</td>
                                <td>{or_dash(r.attempt.duration_ms.map(|d| d / 1000), " s")}</td>
                            </tr>
                        }).collect_view())}
                    </tbody>
                </table>
            </div>
            <Show when=move || health.with(|h| h.as_ref().is_some_and(|h| h.recent.is_empty()))>
                <p class="muted" id="no-attempts">"No calls through this carrier in the last day."</p>
            </Show>
        </section>
    }
    .into_any()
}

/// Attempts (grey) and answered calls (green) per hour as bars, ASR under each.
#[component]
fn HourChart(hours: Vec<api::HealthHour>) -> impl IntoView {
    if hours.is_empty() {
        return view! { <p class="muted" id="health-chart-empty">"No attempts in the last day."</p> }.into_any();
    }
    const H: u32 = 120;
    const W: u32 = 36;
    let max = hours.iter().map(|h| h.attempts).max().unwrap_or(1).max(1);
    let width = W * u32::try_from(hours.len()).unwrap_or(24);
    let bar = |n: u32| n * H / max;
    view! {
        <svg id="health-chart" class="chart" width=width height=H + 36 viewBox=format!("0 0 {width} {}", H + 36)
            role="img" aria-label="Attempts and answered calls per hour">
            {hours.into_iter().enumerate().map(|(i, h)| {
                let x = u32::try_from(i).unwrap_or(0) * W;
                let label = h.hour.get(11..16).unwrap_or("").to_string();
                view! {
                    <g data-hour=h.hour.clone() data-attempts=h.attempts.to_string() data-answered=h.answered.to_string()>
                        <title>{format!("{}: {} attempts, {} answered, ASR {}", h.hour, h.attempts, h.answered, permille(h.asr_permille))}</title>
                        <rect class="bar-attempts" x=x + 4 y=H - bar(h.attempts) width=W - 8 height=bar(h.attempts) fill="#c9ced6"/>
                        <rect class="bar-answered" x=x + 8 y=H - bar(h.answered) width=W - 16 height=bar(h.answered) fill="#2e9e5b"/>
                        <text x=x + W / 2 y=H + 14 text-anchor="middle" font-size="10">{label}</text>
                        <text x=x + W / 2 y=H + 28 text-anchor="middle" font-size="10">{permille(h.asr_permille)}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
        <p class="hint">"Grey: attempts; green: answered. Under each hour (UTC): its ASR."</p>
    }
    .into_any()
}
