//! The billing worker and the sweeper: tasks beside call control, never called by it.
//!
//! - The **worker** posts ended calls from the outbox (`storage::billing`): woken when a call is
//!   queued, and every few seconds anyway (a queued call from before a restart, a failed try).
//!   It can be stopped at any point: the outbox row and the charge go in one transaction, and
//!   posting is idempotent on the call id.
//! - The **sweeper** stamps the hub's live calls as seen, and ends open calls that are past
//!   their paid-until deadline or no longer seen alive (their task died without an end), so
//!   that they are charged too.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use protocol::ws::ServerMsg;
use tokio::task::JoinHandle;

use crate::{
    call::{CallId, EndCause, Input},
    signaling::Hub,
};

const WORKER_POLL: Duration = Duration::from_secs(3);
const BATCH: u64 = 100;

/// Starts the billing worker; abort the handle to stop it (as a crash would).
pub fn spawn_worker(hub: Arc<Hub>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            post_waiting(&hub).await;
            tokio::select! {
                () = hub.billing_queued() => {}
                () = tokio::time::sleep(WORKER_POLL) => {}
            }
        }
    })
}

/// Posts every call waiting in the outbox; returns how many were posted.
pub async fn post_waiting(hub: &Arc<Hub>) -> usize {
    let mut posted = 0;
    loop {
        let ids = match hub.db().calls_to_post(BATCH).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::error!(error = %e, "reading the billing outbox failed");
                return posted;
            }
        };
        if ids.is_empty() {
            return posted;
        }
        let mut progressed = false;
        for id in ids {
            match hub.db().post_call(&id, Utc::now()).await {
                Ok(Some(p)) => {
                    posted += 1;
                    progressed = true;
                    hub.notify_user(p.user, &ServerMsg::CallCharged { call_id: p.call_id, charge_micros: p.charge.0 });
                    hub.push_balance(p.user).await;
                }
                Ok(None) => progressed = true,
                Err(e) => {
                    tracing::error!(call = %id, error = %e, "posting a call failed; it stays queued");
                    let _ = hub.db().post_failed(&id, &e.to_string()).await;
                }
            }
        }
        if !progressed {
            return posted;
        }
    }
}

/// Starts the sweeper: every `every`, live calls are stamped and overdue ones ended.
pub fn spawn_sweeper(hub: Arc<Hub>, every: Duration, grace: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::seconds(15));
        loop {
            tick.tick().await;
            let now = Utc::now();
            if let Err(e) = hub.db().touch_calls(&hub.live_call_ids(), now).await {
                tracing::warn!(error = %e, "stamping live calls failed");
            }
            match hub.db().end_overdue_calls(grace, now).await {
                Ok(ended) => {
                    for (id, cause) in ended {
                        tracing::warn!(call = %id, cause, "the sweeper ended an overdue call");
                        // If its task still runs, it ends too (its own end finds the record closed).
                        let cause = EndCause::from_code(cause).unwrap_or(EndCause::ConnectionLost);
                        hub.route(&CallId(id), Input::Terminate { cause, by: None });
                        hub.wake_billing();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "sweeping overdue calls failed"),
            }
        }
    })
}
