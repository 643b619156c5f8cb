//! REGISTER with the carriers that want it: each enabled carrier marked `register` is
//! registered at its first gateway with its digest credentials, refreshed at three quarters of
//! the granted time, retried every 30 s after a failure. The status of each is kept for the
//! dashboard. A carrier switched off, or no longer registering, has its binding removed.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};

use crate::{carrier::Carrier, storage::Db};

/// Wait after a failed REGISTER before the next try.
const RETRY: Duration = Duration::from_secs(30);
/// How long a REGISTER may take.
const WAIT: Duration = Duration::from_secs(10);

/// A carrier's registration as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// `registered`, `failed`, or `registering` (the first try is under way).
    pub state: &'static str,
    /// The latest final response's code, when one came.
    pub code: Option<u16>,
    /// When the binding runs out (registered only).
    pub expires_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Registrations(Mutex<HashMap<i64, RegistrationStatus>>);

impl Registrations {
    pub fn get(&self, carrier: i64) -> Option<RegistrationStatus> {
        self.lock().get(&carrier).cloned()
    }

    fn set(&self, carrier: i64, status: RegistrationStatus) {
        self.lock().insert(carrier, status);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, RegistrationStatus>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a registration depends on: a change starts it afresh.
fn fingerprint(c: &Carrier) -> String {
    let g = c.gateways.first();
    format!(
        "{:?}|{:?}|{:?}|{:?}|{}",
        g.map(|g| (&g.host, g.port, g.transport.as_str())),
        c.username,
        c.password.as_ref().map(|p| p.expose().to_string()),
        c.from_domain,
        c.register_expires
    )
}

struct Live {
    fingerprint: String,
    registrar: gateway::sip::Registrar,
    next: tokio::time::Instant,
}

/// Checks the carriers every second and registers, refreshes or unregisters as needed.
pub fn spawn(db: Db, gateway: gateway::Gateway, status: Arc<Registrations>) {
    tokio::spawn(async move {
        let mut live: HashMap<i64, Live> = HashMap::new();
        let mut tick = crate::pings::ticker(Duration::from_secs(1));
        loop {
            let carriers = crate::pings::next_carriers(&db, &mut tick).await;
            let wanted: HashMap<i64, &Carrier> =
                carriers.iter().filter(|c| c.register && c.username.is_some()).map(|c| (c.id, c)).collect();
            // Gone, switched off or changed: remove the binding (best effort) and forget it.
            let stale: Vec<i64> = live
                .iter()
                .filter(|(id, l)| wanted.get(id).is_none_or(|c| fingerprint(c) != l.fingerprint))
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                if let Some(mut l) = live.remove(&id) {
                    let _ = l.registrar.register(0, Duration::from_secs(2)).await;
                }
                status.lock().remove(&id);
            }
            for (id, c) in wanted {
                let Some(gw) = c.gateways.first() else { continue };
                let l = match live.entry(id) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(v) => {
                        let user = c.username.clone().unwrap_or_default();
                        let password = c.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
                        let transport = crate::pings::sip_transport(gw.transport);
                        match gateway.registrar(&gw.host, gw.port, transport, &user, &password) {
                            Ok(registrar) => {
                                let next = tokio::time::Instant::now();
                                let (state, at) = ("registering", Utc::now());
                                status.set(
                                    id,
                                    RegistrationStatus { state, code: None, expires_at: None, error: None, at },
                                );
                                v.insert(Live { fingerprint: fingerprint(c), registrar, next })
                            }
                            Err(e) => {
                                status.set(id, failed(None, e));
                                continue;
                            }
                        }
                    }
                };
                if tokio::time::Instant::now() < l.next {
                    continue;
                }
                let result = l.registrar.register(c.register_expires, WAIT).await;
                let now = Utc::now();
                match result {
                    Ok((code, Some(granted))) if granted > 0 => {
                        // Refresh at three quarters of the granted time (at least 1 s).
                        let refresh = Duration::from_millis(u64::from(granted) * 750).max(Duration::from_secs(1));
                        l.next = tokio::time::Instant::now() + refresh;
                        let expires_at = now + chrono::Duration::seconds(i64::from(granted));
                        status.set(
                            id,
                            RegistrationStatus {
                                state: "registered",
                                code: Some(code),
                                expires_at: Some(expires_at),
                                error: None,
                                at: now,
                            },
                        );
                        tracing::debug!(carrier = id, granted, "registered");
                    }
                    Ok((code, _)) => {
                        l.next = tokio::time::Instant::now() + RETRY;
                        status.set(id, failed(Some(code), format!("the registrar answered {code}")));
                        tracing::warn!(carrier = id, code, "REGISTER refused");
                    }
                    Err(e) => {
                        l.next = tokio::time::Instant::now() + RETRY;
                        tracing::warn!(carrier = id, error = %e, "REGISTER failed");
                        status.set(id, failed(None, e));
                    }
                }
            }
        }
    });
}

fn failed(code: Option<u16>, error: String) -> RegistrationStatus {
    RegistrationStatus { state: "failed", code, expires_at: None, error: Some(error), at: Utc::now() }
}
