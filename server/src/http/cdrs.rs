//! Call records for administrators: one call with everything known about it (its route plan,
//! every routing attempt, its money), and each carrier's health.

use axum::{Router, extract::State, routing::get};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use protocol::api;

use super::{
    AppState,
    error::ApiError,
    extract::{AdminUser, Json, Path},
};
use crate::{
    routing::health::{Sample, Stats, hourly},
    storage::Attempt,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/calls/{id}", get(call_detail)).route("/admin/carriers/{id}/health", get(carrier_health))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn attempt(a: &Attempt) -> api::CallAttempt {
    api::CallAttempt {
        carrier_id: a.carrier_id,
        carrier_name: a.carrier_name.clone(),
        gateway: a.gateway.clone(),
        sip_code: a.sip_code,
        outcome: a.outcome.clone(),
        started_at: time(a.started_at),
        pdd_ms: a.pdd_ms,
        duration_ms: a.duration_ms,
    }
}

async fn call_detail(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<api::CallDetail>, ApiError> {
    let c = state.db.call_record(&id).await?.ok_or(ApiError::NotFound("no such call"))?;
    let attempts = state.db.call_attempts(&id).await?;
    Ok(Json(api::CallDetail {
        id: c.id,
        kind: c.kind,
        caller_id: c.caller,
        callee_id: c.callee,
        number: c.number,
        carrier_id: c.carrier_id,
        carrier_name: c.carrier_name,
        route_plan: c.route_plan,
        created_at: time(c.created_at),
        answered_at: c.answered_at.map(time),
        ended_at: c.ended_at.map(time),
        end_cause: c.end_cause,
        ended_by: c.ended_by,
        sip_code: c.sip_code,
        billable_secs: c.billable_secs,
        charge_micros: c.charge.map(|m| m.0),
        buy_cost_micros: c.buy_cost.map(|m| m.0),
        attempts: attempts.iter().map(attempt).collect(),
    }))
}

/// Attempts the health page looks at: the last day, at most this many.
const HEALTH_WINDOW: u64 = 5_000;

async fn carrier_health(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
    Path(id): Path<i64>,
) -> Result<Json<api::CarrierHealth>, ApiError> {
    let carrier = state.db.get_carrier(id).await?.ok_or(ApiError::NotFound("no such carrier"))?;
    let now = Utc::now();
    let day = state.db.carrier_attempts(id, Some(now - Duration::hours(24)), HEALTH_WINDOW).await?;
    let sample = |a: &Attempt| Sample {
        at: a.started_at,
        answered: a.outcome == "answered",
        pdd_ms: a.pdd_ms,
        duration_ms: a.duration_ms,
    };
    let samples: Vec<Sample> = day.iter().map(|(_, a)| sample(a)).collect();
    // The breaker and ASR look at the latest 50 attempts, as routing does.
    let latest: Vec<_> = day.iter().take(50).map(|(_, a)| (a.started_at, crate::lcr::attempted(&a.outcome))).collect();
    let h = crate::routing::health::health(&latest, now, &state.rules.health);
    let recent_stats = Stats::of(&samples[..samples.len().min(50)]);
    let (calls_now, calls_last_second) = state.hub.carrier_load().get(&id).copied().unwrap_or_default();
    let gateways = carrier
        .gateways
        .iter()
        .map(|g| {
            let name = format!("{}:{}", g.host, g.port);
            let ping = state.pings.get(id, &name);
            api::GatewayStatus {
                status: match &ping {
                    None => "unknown",
                    Some(p) if p.up() => "up",
                    Some(_) => "down",
                }
                .into(),
                code: ping.as_ref().and_then(|p| p.code),
                rtt_ms: ping.as_ref().and_then(|p| p.rtt_ms),
                checked_at: ping.map(|p| time(p.at)),
                gateway: name,
            }
        })
        .collect();
    let hours = hourly(&samples)
        .into_iter()
        .map(|(hour, s)| api::HealthHour {
            hour: time(hour),
            attempts: s.attempts,
            answered: s.answered,
            asr_permille: s.asr_permille(),
            acd_secs: s.acd_secs,
            pdd_ms: s.pdd_ms,
        })
        .collect();
    Ok(Json(api::CarrierHealth {
        carrier_id: id,
        circuit_open: h.circuit_open,
        asr_permille: h.asr_permille,
        acd_secs: recent_stats.acd_secs,
        pdd_ms: recent_stats.pdd_ms,
        calls_now,
        calls_last_second,
        registration: state.registrations.get(id).map(|r| api::RegistrationStatus {
            state: r.state.into(),
            gateway: r.gateway,
            code: r.code,
            expires_at: r.expires_at.map(time),
            error: r.error,
            at: time(r.at),
        }),
        gateways,
        hours,
        recent: day
            .iter()
            .take(50)
            .map(|(call, a)| api::CallAttemptOf { call_id: call.clone(), attempt: attempt(a) })
            .collect(),
    }))
}
