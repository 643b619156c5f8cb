//! REGISTER with the carriers that want it. Each enabled carrier marked `register` has its own
//! task, so a registrar that does not answer delays no other carrier. The task registers at
//! the carrier's gateways in priority order (the list's order within a priority): at the first,
//! and when that fails at the next at once, round the list; when every gateway has failed in a
//! row, it waits 30 s before going round again. A binding is refreshed at three quarters of the
//! granted time, at the gateway that granted it. The status of each is kept for the dashboard.
//! A carrier switched off, changed, or no longer registering has its task stopped, which
//! removes its binding (best effort) first.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::{carrier::Carrier, storage::Db};

/// Wait after every gateway has failed before the next round.
const RETRY: Duration = Duration::from_secs(30);
/// How long a REGISTER may take.
const WAIT: Duration = Duration::from_secs(10);

/// A carrier's registration as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// `registered`, `failed`, or `registering` (the first try is under way).
    pub state: &'static str,
    /// The gateway (`host:port`) of the latest try.
    pub gateway: Option<String>,
    /// The latest final response's code, when one came.
    pub code: Option<u16>,
    /// When the binding runs out (registered only).
    pub expires_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Each registering carrier's status, with the run of its task that wrote it: a stopped task's
/// late news is dropped.
#[derive(Debug, Default)]
pub struct Registrations(Mutex<HashMap<i64, (u64, RegistrationStatus)>>);

impl Registrations {
    pub fn get(&self, carrier: i64) -> Option<RegistrationStatus> {
        self.lock().get(&carrier).map(|(_, s)| s.clone())
    }

    fn start(&self, carrier: i64, run: u64) {
        let status = RegistrationStatus {
            state: "registering",
            gateway: None,
            code: None,
            expires_at: None,
            error: None,
            at: Utc::now(),
        };
        self.lock().insert(carrier, (run, status));
    }

    fn set(&self, carrier: i64, run: u64, status: RegistrationStatus) {
        if let Some(entry) = self.lock().get_mut(&carrier).filter(|(r, _)| *r == run) {
            entry.1 = status;
        }
    }

    fn remove(&self, carrier: i64) {
        self.lock().remove(&carrier);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (u64, RegistrationStatus)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a registration depends on: a change starts it afresh.
fn fingerprint(c: &Carrier) -> String {
    let gateways: Vec<_> = c.gateways.iter().map(|g| (&g.host, g.port, g.transport.as_str(), g.priority)).collect();
    format!(
        "{gateways:?}|{:?}|{:?}|{:?}|{}",
        c.username,
        c.password.as_ref().map(|p| p.expose().to_string()),
        c.from_domain,
        c.register_expires
    )
}

/// A carrier's running registration task.
struct Live {
    fingerprint: String,
    /// Dropping it stops the task (which then unregisters).
    _stop: oneshot::Sender<()>,
}

/// Checks the carriers every second; starts, restarts or stops each one's registration task.
pub fn spawn(db: Db, gateway: gateway::Gateway, status: Arc<Registrations>) {
    tokio::spawn(async move {
        let mut live: HashMap<i64, Live> = HashMap::new();
        let mut runs = 0u64;
        let mut tick = crate::pings::ticker(Duration::from_secs(1));
        loop {
            let carriers = crate::pings::next_carriers(&db, &mut tick).await;
            let wanted: HashMap<i64, &Carrier> = carriers
                .iter()
                .filter(|c| c.register && c.username.is_some() && !c.gateways.is_empty())
                .map(|c| (c.id, c))
                .collect();
            // Gone, switched off or changed: stop the task and forget its status.
            live.retain(|id, l| {
                let keep = wanted.get(id).is_some_and(|c| fingerprint(c) == l.fingerprint);
                if !keep {
                    status.remove(*id);
                }
                keep
            });
            for (id, c) in wanted {
                if live.contains_key(&id) {
                    continue;
                }
                runs += 1;
                status.start(id, runs);
                let (stop, stopped) = oneshot::channel();
                live.insert(id, Live { fingerprint: fingerprint(c), _stop: stop });
                tokio::spawn(keep_registered(gateway.clone(), c.clone(), runs, status.clone(), stopped));
            }
        }
    });
}

/// One carrier's registration, until `stop` fires or is dropped.
async fn keep_registered(
    gateway: gateway::Gateway,
    c: Carrier,
    run: u64,
    status: Arc<Registrations>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut gateways: Vec<&crate::carrier::Gateway> = c.gateways.iter().collect();
    gateways.sort_by_key(|g| g.priority);
    let user = c.username.clone().unwrap_or_default();
    let password = c.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default();
    // The gateway in use, its registrar, and the failures in a row (over all gateways).
    let mut at = 0usize;
    let mut registrar: Option<(usize, gateway::sip::Registrar)> = None;
    let mut failures = 0usize;
    loop {
        let gw = gateways[at];
        let name = format!("{}:{}", gw.host, gw.port);
        if registrar.as_ref().is_none_or(|(i, _)| *i != at) {
            let transport = crate::pings::sip_transport(gw.transport);
            registrar = match gateway.registrar(&gw.host, gw.port, transport, &user, &password) {
                Ok(r) => Some((at, r)),
                Err(e) => {
                    status.set(c.id, run, failed(&name, None, e));
                    None
                }
            };
        }
        let result = match registrar.as_mut() {
            Some((_, r)) => tokio::select! {
                result = r.register(c.register_expires, WAIT) => Some(result),
                _ = &mut stop => break,
            },
            None => None,
        };
        let now = Utc::now();
        let wait = match result {
            Some(Ok((code, Some(granted)))) if granted > 0 => {
                failures = 0;
                let expires_at = Some(now + chrono::Duration::seconds(i64::from(granted)));
                let registered = RegistrationStatus {
                    state: "registered",
                    gateway: Some(name),
                    code: Some(code),
                    expires_at,
                    error: None,
                    at: now,
                };
                status.set(c.id, run, registered);
                tracing::debug!(carrier = c.id, granted, "registered");
                // Refresh at three quarters of the granted time (at least 1 s).
                Duration::from_millis(u64::from(granted) * 750).max(Duration::from_secs(1))
            }
            outcome => {
                match outcome {
                    Some(Ok((code, _))) => {
                        tracing::warn!(carrier = c.id, gateway = %name, code, "REGISTER refused");
                        status.set(c.id, run, failed(&name, Some(code), format!("the registrar answered {code}")));
                    }
                    Some(Err(e)) => {
                        tracing::warn!(carrier = c.id, gateway = %name, error = %e, "REGISTER failed");
                        status.set(c.id, run, failed(&name, None, e));
                    }
                    None => {}
                }
                failures += 1;
                at = (at + 1) % gateways.len();
                // The next gateway at once; after a whole round of failures, a pause.
                if failures.is_multiple_of(gateways.len()) { RETRY } else { Duration::ZERO }
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = &mut stop => break,
        }
    }
    // Stopped: remove the binding, best effort.
    if let Some((_, mut r)) = registrar {
        let _ = r.register(0, Duration::from_secs(2)).await;
    }
}

fn failed(gateway: &str, code: Option<u16>, error: String) -> RegistrationStatus {
    RegistrationStatus {
        state: "failed",
        gateway: Some(gateway.to_string()),
        code,
        expires_at: None,
        error: Some(error),
        at: Utc::now(),
    }
}
