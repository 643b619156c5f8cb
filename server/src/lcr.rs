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
    let used: Vec<_> = decks.iter().map(|(c, d, _)| (*c, *d)).collect();
    let rows: usize = decks.iter().map(|(_, _, r)| r.len()).sum();
    // Building a big index is CPU work: off the async threads.
    let index =
        tokio::task::spawn_blocking(move || PrefixIndex::build(decks.into_iter().map(|(c, _, r)| (c, r)))).await?;
    table.swap(RoutingTable { index, decks: used, generation: 0 });
    tracing::info!(rows, elapsed_ms = started.elapsed().as_millis() as u64, "routing table rebuilt");
    Ok(next)
}

/// The routes for a number (E.164 digits) that sells at `sell` per minute, over every carrier
/// (disabled ones are listed as such), with the live table.
pub async fn plan(
    db: &Db,
    table: &LiveTable,
    digits: &str,
    sell: Option<crate::rating::Money>,
) -> anyhow::Result<crate::routing::Selection> {
    use crate::routing::health::{Attempted, HealthPolicy, health};
    use crate::routing::{CarrierId, CarrierState, Policy};
    let carriers = db.list_carriers().await?;
    let now = chrono::Utc::now();
    let mut states: Vec<CarrierState> = Vec::with_capacity(carriers.len());
    for c in &carriers {
        // Health from the carrier's latest attempts: rolling ASR and the circuit breaker.
        let recent: Vec<_> = db
            .recent_attempts(c.id, 50)
            .await?
            .into_iter()
            .map(|(at, outcome)| {
                let a = match outcome.as_str() {
                    "answered" => Attempted::Answered,
                    "failed" => Attempted::CarrierFailed,
                    _ => Attempted::Other,
                };
                (at, a)
            })
            .collect();
        let h = health(&recent, now, &HealthPolicy::default());
        states.push(CarrierState {
            id: CarrierId(c.id),
            name: c.name.clone(),
            enabled: c.enabled,
            circuit_open: h.circuit_open,
            // Concurrency and calls-per-second caps are not configurable yet.
            at_capacity: false,
            asr_permille: h.asr_permille,
        });
    }
    let table = table.get();
    Ok(crate::routing::select(&table.index, digits, sell, &states, &Policy::default()))
}
