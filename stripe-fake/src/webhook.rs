//! Webhook signing and delivery, as Stripe does them.

use std::{fmt::Write as _, time::Duration};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Delivery, Shared, objects::Event, objects::now};

/// Attempts per event before giving up.
const ATTEMPTS: u32 = 3;
/// The pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
const USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";

/// The `Stripe-Signature` header for `payload` at `timestamp`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<payload>")>`.
pub fn sign(payload: &str, secret: &str, timestamp: i64) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut header = format!("t={timestamp},v1=");
    for byte in digest {
        let _ = write!(header, "{byte:02x}");
    }
    header
}

/// Delivers each event in order, each with retries. Without a webhook URL there is nowhere
/// to send them: nothing is attempted (or recorded).
pub(crate) async fn deliver_all(shared: &Shared, events: &[Event]) {
    if shared.lock().webhook_url.is_none() {
        tracing::warn!(count = events.len(), "stripe-fake: no webhook URL set, events not delivered");
        return;
    }
    for event in events {
        deliver_event(shared, event).await;
    }
}

/// Up to [`ATTEMPTS`] POSTs of one event, freshly signed each time, until one gets a 2xx.
async fn deliver_event(shared: &Shared, event: &Event) {
    for attempt in 1..=ATTEMPTS {
        let header = sign(&event.payload, &shared.config.webhook_secret, now());
        let status = post_recorded(shared, &event.payload, &header).await;
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return;
        }
        tracing::debug!(event = %event.id, kind = %event.type_, attempt, ?status, "stripe-fake: webhook not accepted");
        if attempt < ATTEMPTS {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    tracing::warn!(event = %event.id, kind = %event.type_, "stripe-fake: webhook given up after {ATTEMPTS} attempts");
}

/// One POST of `payload` with this signature header to the current webhook URL, recorded in
/// the deliveries. `None` when it could not be sent (no URL, connection error, bad header).
pub(crate) async fn post_recorded(shared: &Shared, payload: &str, signature: &str) -> Option<u16> {
    let url = shared.lock().webhook_url.clone();
    let status = match url {
        Some(url) => post(&shared.http, &url, payload, signature).await,
        None => {
            tracing::warn!("stripe-fake: no webhook URL set, nothing delivered");
            None
        }
    };
    let (event_id, event_type) = ids_of(payload);
    shared.lock().deliveries.push(Delivery { event_id, event_type, status });
    status
}

async fn post(http: &reqwest::Client, url: &str, payload: &str, signature: &str) -> Option<u16> {
    let sent = http
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("User-Agent", USER_AGENT)
        .header("Stripe-Signature", signature)
        .body(payload.to_owned())
        .send()
        .await;
    match sent {
        Ok(response) => Some(response.status().as_u16()),
        Err(e) => {
            tracing::debug!(error = %e, url, "stripe-fake: webhook POST failed");
            None
        }
    }
}

/// The `id` and `type` of an event payload, empty where missing.
fn ids_of(payload: &str) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    (field("id"), field("type"))
}
