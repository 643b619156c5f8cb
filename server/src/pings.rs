//! SIP OPTIONS pings to every enabled carrier's gateways, on an interval: whether each gateway
//! answers, how fast, and when it was last asked. Shown on the carrier's health page; a gateway
//! that stopped answering is tried after the ones that answer.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};

use crate::storage::Db;

/// The latest ping of one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingStatus {
    /// The final response's code; `None` when none came.
    pub code: Option<u16>,
    pub rtt_ms: Option<u64>,
    pub at: DateTime<Utc>,
}

impl PingStatus {
    pub fn up(&self) -> bool {
        self.code.is_some()
    }
}

/// Every gateway's latest ping, by carrier and `host:port`.
#[derive(Debug, Default)]
pub struct Pings(Mutex<HashMap<(i64, String), PingStatus>>);

impl Pings {
    pub fn get(&self, carrier: i64, gateway: &str) -> Option<PingStatus> {
        self.lock().get(&(carrier, gateway.to_string())).cloned()
    }

    /// Whether the gateway's latest ping went unanswered.
    pub fn is_down(&self, carrier: i64, gateway: &str) -> bool {
        self.get(carrier, gateway).is_some_and(|s| !s.up())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, String), PingStatus>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A ticker for a background loop over the carriers (a late tick is not made up for).
pub(crate) fn ticker(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// At the next tick, the enabled carriers (a database error is logged and waits a tick more).
pub(crate) async fn next_carriers(db: &Db, tick: &mut tokio::time::Interval) -> Vec<crate::carrier::Carrier> {
    loop {
        tick.tick().await;
        match db.enabled_carriers().await {
            Ok(c) => return c,
            Err(e) => tracing::warn!(error = %e, "listing the carriers failed"),
        }
    }
}

/// A gateway's transport as the SIP gateway takes it.
pub fn sip_transport(t: crate::carrier::Transport) -> protocol::gateway::SipTransport {
    match t {
        crate::carrier::Transport::Udp => protocol::gateway::SipTransport::Udp,
        crate::carrier::Transport::Tcp => protocol::gateway::SipTransport::Tcp,
    }
}

/// Pings every enabled carrier's gateways now and then every `interval`.
pub fn spawn(db: Db, gateway: gateway::Gateway, pings: Arc<Pings>, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = ticker(interval);
        loop {
            let carriers = next_carriers(&db, &mut tick).await;
            let mut seen = Vec::new();
            // All at once: a gateway that does not answer holds up no other.
            let wait = interval.min(Duration::from_secs(5));
            let all = carriers.iter().flat_map(|c| c.gateways.iter().map(move |g| (c.id, g))).map(|(id, g)| {
                let gateway = &gateway;
                async move {
                    let result = gateway.ping(&g.host, g.port, sip_transport(g.transport), wait).await;
                    ((id, format!("{}:{}", g.host, g.port)), result)
                }
            });
            for (key, result) in futures_util::future::join_all(all).await {
                let status = match result {
                    Ok((code, rtt)) => PingStatus {
                        code: Some(code),
                        rtt_ms: Some(u64::try_from(rtt.as_millis()).unwrap_or(u64::MAX)),
                        at: Utc::now(),
                    },
                    Err(e) => {
                        tracing::debug!(carrier = key.0, gateway = %key.1, error = %e, "OPTIONS ping unanswered");
                        PingStatus { code: None, rtt_ms: None, at: Utc::now() }
                    }
                };
                pings.lock().insert(key.clone(), status);
                seen.push(key);
            }
            // Forget gateways that are gone or disabled.
            pings.lock().retain(|k, _| seen.contains(k));
        }
    });
}
