//! The shell around `credit::Wallet`: one task per user with live paid calls, owning their
//! wallet. Commands arrive in order on a channel (authorize, answered, settle, end, refresh);
//! the task sleeps until the wallet's next deadline and carries out its outputs: `CallCredit`
//! and `CreditWarning` pushes to the user's apps, the paid-until deadline stored on the call
//! (for the sweeper), and `Terminate { credit_exhausted }` to the call at a cutoff.
//!
//! The wallet's `available` is read from the database (balance + credit limit − what ended
//! calls still hold until posted) when the task starts and after every end and funds change,
//! inside the task, so reads and the wallet's own bookkeeping never interleave.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Instant,
};

use chrono::Utc;
use protocol::ws::ServerMsg;
use tokio::sync::{mpsc, oneshot};

use super::hub::Hub;
use crate::{
    call::{CallId, EndCause, Input},
    credit::{Output, Refused, Settled, Wallet},
    domain::UserId,
    rating::{Money, Tariff},
};

enum Cmd {
    Authorize {
        call: CallId,
        tariff: Tariff,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Answered {
        call: CallId,
    },
    Settle {
        call: CallId,
        reply: oneshot::Sender<Option<Settled>>,
    },
    /// The call's end is stored; `pending` is what its outbox row holds.
    End {
        call: CallId,
        pending: Money,
    },
    /// The user's funds changed in the database.
    Refresh,
}

#[derive(Default)]
pub struct Wallets {
    tasks: Mutex<HashMap<UserId, mpsc::UnboundedSender<Cmd>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("the wallet task is gone")]
    Gone,
}

impl Wallets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, mpsc::UnboundedSender<Cmd>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends to the user's wallet task if there is one (no task: no paid calls, nothing to do).
    fn send(&self, user: UserId, cmd: Cmd) -> bool {
        self.lock().get(&user).is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// Sets the start of a new call aside, starting the user's wallet task if needed.
    pub async fn authorize(
        &self,
        hub: &Arc<Hub>,
        user: UserId,
        call: CallId,
        tariff: Tariff,
    ) -> Result<(), AuthorizeError> {
        let (reply, answer) = oneshot::channel();
        {
            let mut tasks = self.lock();
            let tx = tasks.entry(user).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(Arc::downgrade(hub), user, rx));
                tx
            });
            tx.send(Cmd::Authorize { call, tariff, reply }).map_err(|_| AuthorizeError::Gone)?;
        }
        Ok(answer.await.map_err(|_| AuthorizeError::Gone)??)
    }

    pub fn answered(&self, user: UserId, call: &CallId) {
        self.send(user, Cmd::Answered { call: call.clone() });
    }

    /// What the wallet says about a call that is ending (`None`: not a paid call).
    pub async fn settle(&self, user: UserId, call: &CallId) -> Option<Settled> {
        let (reply, answer) = oneshot::channel();
        if !self.send(user, Cmd::Settle { call: call.clone(), reply }) {
            return None;
        }
        answer.await.ok().flatten()
    }

    /// The call's end is stored (or the call never started): let its money go.
    pub fn end(&self, user: UserId, call: &CallId, pending: Money) {
        self.send(user, Cmd::End { call: call.clone(), pending });
    }

    pub fn refresh(&self, user: UserId) {
        self.send(user, Cmd::Refresh);
    }
}

struct Shell {
    hub: Weak<Hub>,
    user: UserId,
    per_minute: HashMap<CallId, Money>,
    deadlines: HashMap<CallId, Option<Instant>>,
}

async fn run(hub: Weak<Hub>, user: UserId, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut shell = Shell { hub, user, per_minute: HashMap::new(), deadlines: HashMap::new() };
    let Some(available) = shell.available().await else {
        // Without the funds nothing can be authorized: refuse what is waiting, and stop.
        shell.forget(&mut rx);
        return;
    };
    let mut wallet: Wallet<CallId> = Wallet::new(available);
    loop {
        while let Some(out) = wallet.poll_output() {
            shell.output(out).await;
        }
        if wallet.is_empty() && shell.forget_if_idle(&mut rx) {
            return;
        }
        let cmd = tokio::select! {
            cmd = rx.recv() => cmd,
            () = super::hub::sleep_until(wallet.poll_timeout()) => {
                wallet.handle_timeout(Instant::now());
                continue;
            }
        };
        let Some(cmd) = cmd else { return };
        let now = Instant::now();
        match cmd {
            Cmd::Authorize { call, tariff, reply } => {
                let result = wallet.authorize(now, call.clone(), tariff);
                if result.is_ok() {
                    shell.per_minute.insert(call, tariff.per_minute);
                }
                let _ = reply.send(result);
            }
            Cmd::Answered { call } => wallet.answered(now, &call),
            Cmd::Settle { call, reply } => {
                let _ = reply.send(wallet.settle(now, &call));
            }
            Cmd::End { call, pending } => {
                wallet.end(now, &call, pending);
                shell.per_minute.remove(&call);
                shell.deadlines.remove(&call);
                if let Some(a) = shell.available().await {
                    wallet.set_available(Instant::now(), a);
                }
            }
            Cmd::Refresh => {
                if let Some(a) = shell.available().await {
                    wallet.set_available(Instant::now(), a);
                }
            }
        }
    }
}

impl Shell {
    async fn available(&self) -> Option<Money> {
        let hub = self.hub.upgrade()?;
        match hub.db().funds(self.user).await {
            Ok(f) => Some(f.map(|f| f.available()).unwrap_or_default()),
            Err(e) => {
                tracing::error!(user = %self.user, error = %e, "reading funds for the wallet failed");
                None
            }
        }
    }

    async fn output(&mut self, out: Output<CallId>) {
        let Some(hub) = self.hub.upgrade() else { return };
        match out {
            Output::Credit { call, committed, deadline } => {
                let now = Instant::now();
                let seconds_left = deadline.map(|d| d.saturating_duration_since(now).as_secs());
                if self.deadlines.get(&call) != Some(&deadline) {
                    self.deadlines.insert(call.clone(), deadline);
                    let at = deadline.map(|d| Utc::now() + d.saturating_duration_since(now));
                    if let Err(e) = hub.db().set_paid_until(&call.0, at).await {
                        tracing::warn!(%call, error = %e, "storing the paid-until deadline failed");
                    }
                }
                let per_minute = self.per_minute.get(&call).copied().unwrap_or_default();
                hub.notify_user(
                    self.user,
                    &ServerMsg::CallCredit {
                        call_id: call.0,
                        per_minute_micros: per_minute.0,
                        cost_micros: committed.0,
                        seconds_left,
                    },
                );
            }
            Output::Warning { call, seconds_left } => {
                hub.notify_user(self.user, &ServerMsg::CreditWarning { call_id: call.0, seconds_left });
            }
            Output::Cutoff { call } => {
                tracing::info!(%call, user = %self.user, "the caller's money ran out; ending the call");
                hub.route(&call, Input::Terminate { cause: EndCause::CreditExhausted, by: None });
            }
        }
    }

    /// Removes this task from the map when nothing is waiting; true when it did (then stop).
    fn forget_if_idle(&self, rx: &mut mpsc::UnboundedReceiver<Cmd>) -> bool {
        let Some(hub) = self.hub.upgrade() else { return true };
        let mut tasks = hub.wallets().lock();
        if !rx.is_empty() {
            return false;
        }
        tasks.remove(&self.user);
        true
    }

    fn forget(&self, rx: &mut mpsc::UnboundedReceiver<Cmd>) {
        if let Some(hub) = self.hub.upgrade() {
            hub.wallets().lock().remove(&self.user);
        }
        // Waiting authorizations are dropped: their callers see `Gone` and refuse the call.
        rx.close();
        while rx.try_recv().is_ok() {}
    }
}
