//! The shell around `routing`: keeps the live routing table current. It is rebuilt from every
//! carrier's active deck at start-up, after each deck import, and when a deck waiting for its
//! effective date takes effect; then swapped in atomically.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use tokio::sync::Notify;

use crate::{
    routing::{
        PrefixIndex,
        table::{LiveTable, RoutingTable},
    },
    storage::Db,
};

/// The longest the rebuilder sleeps without being asked (a safety net).
const IDLE: Duration = Duration::from_secs(300);

/// Builds the table once now, then keeps rebuilding it in the background when `wake` is
/// notified or a future deck takes effect.
pub async fn start(db: Db, table: Arc<LiveTable>, wake: Arc<Notify>) -> anyhow::Result<()> {
    let next = rebuild(&db, &table).await?;
    tokio::spawn(async move {
        let mut next = next;
        loop {
            let sleep = next
                .and_then(|t| (t - Utc::now()).to_std().ok())
                .map_or(IDLE, |d| d.min(IDLE) + Duration::from_millis(10));
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
            match rebuild(&db, &table).await {
                Ok(n) => next = n,
                Err(e) => tracing::error!(error = %e, "rebuilding the routing table failed; the old one stays"),
            }
        }
    });
    Ok(())
}

/// One rebuild; returns when the next waiting deck takes effect.
pub async fn rebuild(db: &Db, table: &LiveTable) -> anyhow::Result<Option<chrono::DateTime<Utc>>> {
    let started = std::time::Instant::now();
    let (decks, next) = db.active_decks(Utc::now()).await?;
    let read_ms = started.elapsed().as_millis() as u64;
    let used: Vec<_> = decks.iter().map(|(c, d, _)| (*c, *d)).collect();
    let rows: usize = decks.iter().map(|(_, _, r)| r.len()).sum();
    // Building a big index is CPU work: off the async threads.
    let index =
        tokio::task::spawn_blocking(move || PrefixIndex::build(decks.iter().map(|(c, _, r)| (*c, r.rows())))).await?;
    table.swap(RoutingTable { index, decks: used, generation: 0 });
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::info!(rows, read_ms, elapsed_ms, "routing table rebuilt");
    Ok(next)
}

/// The administrator's routing rules (`[routing]` in the settings), checked at start-up.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub policy: crate::routing::Policy,
    pub health: crate::routing::health::HealthPolicy,
    pub failover: crate::routing::FailoverPolicy,
}

impl Rules {
    pub fn from_settings(s: &crate::config::RoutingSettings) -> anyhow::Result<Rules> {
        use crate::routing::{FailoverPolicy, Policy, health::HealthPolicy};
        anyhow::ensure!(s.max_attempts >= 1, "routing.max_attempts must be at least 1");
        anyhow::ensure!(s.breaker_failures >= 1, "routing.breaker_failures must be at least 1");
        let codes = FailoverPolicy::parse_codes(&s.failover_codes)
            .map_err(|e| anyhow::anyhow!("routing.failover_codes: {e}"))?;
        Ok(Rules {
            policy: Policy { allow_loss: s.allow_loss, max_attempts: s.max_attempts },
            health: HealthPolicy {
                trip_after: s.breaker_failures,
                cool_down: chrono::Duration::seconds(i64::try_from(s.breaker_cooldown_secs).unwrap_or(i64::MAX / 1000)),
                ..HealthPolicy::default()
            },
            failover: FailoverPolicy {
                codes,
                trying_ms: s.trying_timeout_ms,
                ringing_ms: s.ringing_timeout_secs.saturating_mul(1000),
                on_transport_error: true,
            },
        })
    }
}

/// Whether an attempt's recorded outcome counts against the carrier's health.
pub fn attempted(outcome: &str) -> crate::routing::health::Attempted {
    use crate::routing::health::Attempted;
    match outcome {
        "answered" => Attempted::Answered,
        "failed" | "timeout" | "transport_error" => Attempted::CarrierFailed,
        _ => Attempted::Other,
    }
}

/// The routes for a number (E.164 digits) that sells at `sell` per minute, over every carrier
/// (disabled ones are listed as such), with the live table. `load` is each carrier's live calls
/// and calls in the last second (`Hub::carrier_load`), checked against its limits.
pub async fn plan(
    db: &Db,
    table: &LiveTable,
    rules: &Rules,
    load: &std::collections::HashMap<i64, (u32, u32)>,
    digits: &str,
    sell: Option<crate::rating::Money>,
) -> anyhow::Result<crate::routing::Selection> {
    use crate::routing::health::health;
    use crate::routing::{CarrierId, CarrierState};
    let carriers = db.list_carriers().await?;
    let now = chrono::Utc::now();
    let mut states: Vec<CarrierState> = Vec::with_capacity(carriers.len());
    for c in &carriers {
        // Health from the carrier's latest attempts: rolling ASR and the circuit breaker.
        let recent: Vec<_> =
            db.recent_attempts(c.id, 50).await?.into_iter().map(|(at, outcome)| (at, attempted(&outcome))).collect();
        let h = health(&recent, now, &rules.health);
        states.push(CarrierState {
            id: CarrierId(c.id),
            name: c.name.clone(),
            enabled: c.enabled,
            circuit_open: h.circuit_open,
            at_capacity: load.get(&c.id).is_some_and(|&(calls, cps)| {
                c.max_calls.is_some_and(|max| calls >= max) || c.max_cps.is_some_and(|max| cps >= max)
            }),
            asr_permille: h.asr_permille,
        });
    }
    let table = table.get();
    Ok(crate::routing::select(&table.index, digits, sell, &states, &rules.policy))
}
