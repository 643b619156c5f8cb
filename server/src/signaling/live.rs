//! The administrators' live-calls view: a snapshot of every call in progress (who, where,
//! which carrier, how far, what it costs so far), pushed about every second to the devices
//! watching (`ClientMsg::WatchCalls`), and served by `GET /api/admin/live-calls`.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use protocol::{api, ws::ServerMsg};

use super::{Hub, convert};
use crate::{
    domain::{Role, UserId},
    rating,
    storage::StorageError,
};

/// How often watchers get a snapshot while calls run.
const TICK: Duration = Duration::from_secs(1);

fn secs_since(t: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((now - t).num_seconds()).unwrap_or(0)
}

/// Every call in progress now, oldest first.
pub async fn snapshot(hub: &Hub, now: DateTime<Utc>) -> Result<Vec<api::LiveCall>, StorageError> {
    let open = hub.db().open_calls(&hub.live_call_ids()).await?;
    Ok(open
        .into_iter()
        .map(|c| {
            let talk = c.answered_at.map(|a| (now - a).to_std().unwrap_or_default());
            let cost = c.sell.as_ref().map(|t| rating::rate(t, talk).amount.0).unwrap_or(0);
            let name = |n: Option<String>| n.unwrap_or_else(|| "?".into());
            let (caller, destination) = match c.kind.as_str() {
                "pstn_in" => (c.number.clone().unwrap_or_default(), name(c.callee_name)),
                "pstn_out" => (name(c.caller_name), c.number.clone().unwrap_or_default()),
                _ => (name(c.caller_name), name(c.callee_name)),
            };
            api::LiveCall {
                state: if c.answered_at.is_some() {
                    "answered"
                } else if c.ringing_at.is_some() {
                    "ringing"
                } else {
                    "setup"
                }
                .into(),
                duration_secs: secs_since(c.created_at, now),
                talk_secs: c.answered_at.map(|a| secs_since(a, now)).unwrap_or(0),
                cost_micros: cost,
                created_at: c.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                id: c.id,
                kind: c.kind,
                caller_id: c.caller.0,
                caller,
                destination,
                carrier_name: c.carrier_name,
            }
        })
        .collect())
}

/// Whether `user` may watch the live calls: an enabled administrator, read fresh.
pub async fn may_watch(hub: &Hub, user: UserId) -> bool {
    matches!(hub.db().user_by_id(user).await, Ok(Some(u)) if u.role == Role::Admin && !u.disabled)
}

/// Sends `snapshot` to one device (it just asked to watch).
pub async fn send_to(hub: &Hub, device: &crate::call::DeviceId) {
    match snapshot(hub, Utc::now()).await {
        Ok(calls) => hub.send(device, ServerMsg::LiveCalls { calls }),
        Err(e) => tracing::warn!(error = %e, "live calls snapshot failed"),
    }
}

/// Pushes snapshots to the watchers while there are any: every tick while calls run, and once
/// more when the last call ends.
pub fn spawn(hub: Arc<Hub>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_was_empty = true;
        loop {
            tick.tick().await;
            let watchers = hub.call_watchers();
            if watchers.is_empty() {
                continue;
            }
            let calls = match snapshot(&hub, Utc::now()).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "live calls snapshot failed");
                    continue;
                }
            };
            if calls.is_empty() && last_was_empty {
                continue;
            }
            last_was_empty = calls.is_empty();
            for (device, user) in watchers {
                // Read fresh each time: a demoted or disabled administrator stops seeing calls.
                if !may_watch(&hub, user).await {
                    hub.watch_calls(&device, false);
                    hub.send(&device, convert::error("forbidden", "watching live calls needs an administrator"));
                    continue;
                }
                hub.send(&device, ServerMsg::LiveCalls { calls: calls.clone() });
            }
        }
    })
}
