//! Messages between the server's Call State Manager and the PSTN gateway.
//!
//! By default both run in one process and these travel over in-memory channels; they are plain
//! serde data so that the same messages can cross a process boundary (a socket, a queue) later
//! without changing either side.
//!
//! Calls are named by the server's call id. For an inbound call the gateway makes the id up and
//! announces it in [`Event::Incoming`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Call a number through a carrier. `offer` is the browser's WebRTC offer; the gateway
    /// answers it at once with [`Event::Media`] so that early media can flow.
    Dial(Dial),
    /// Inbound call: the user's devices are ringing (the gateway sends 180 Ringing).
    Ringing { call_id: String },
    /// Inbound call: a device answered; `sdp` is its answer to the gateway's offer.
    Answer { call_id: String, sdp: String },
    /// Inbound call: refuse it with this SIP status (404, 480, 486, 603, ...).
    Reject { call_id: String, code: u16 },
    /// End the call: CANCEL before the carrier answered, BYE after.
    Hangup { call_id: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dial {
    pub call_id: String,
    pub offer: String,
    pub caller_name: Option<String>,
    /// The carriers to try, in order (least cost first); the next one only when an attempt fails
    /// the way `failover` says.
    pub routes: Vec<DialRoute>,
    pub failover: Failover,
}

/// One carrier to try for a call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DialRoute {
    /// The user part of the Request-URI, after this carrier's strip/prepend rules.
    pub number: String,
    /// The user part of the From URI (the caller ID), or `anonymous`.
    pub caller_id: String,
    pub trunk: Trunk,
}

/// When an attempt that failed moves on to the next gateway or carrier.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failover {
    /// Final responses (inclusive ranges) that move on to the next carrier.
    pub codes: Vec<(u16, u16)>,
    /// A gateway that sends nothing at all (not even `100 Trying`) for this long is given up
    /// (the next gateway of the carrier, then the next carrier). 0: wait for the transaction
    /// timeout.
    pub trying_ms: u64,
    /// A carrier that sends no `18x` for this long after the INVITE is given up. 0: never.
    pub ringing_ms: u64,
    /// Move on when the INVITE cannot be sent (connection refused, no route to host).
    pub on_transport_error: bool,
}

impl Default for Failover {
    /// 408, 480 and 500–599 fail over; no `100 Trying` within 2 s does too.
    fn default() -> Self {
        Failover {
            codes: vec![(408, 408), (480, 480), (500, 599)],
            trying_ms: 2000,
            ringing_ms: 0,
            on_transport_error: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Trunk {
    pub carrier_id: i64,
    pub name: String,
    /// In order of preference: the next is tried when one does not answer at all.
    pub gateways: Vec<TrunkGateway>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Host part of the From URI; the gateway's host when absent.
    pub from_domain: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrunkGateway {
    pub host: String,
    pub port: u16,
    pub transport: SipTransport,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SipTransport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Outbound: the gateway's answer to the browser's offer.
    Media { call_id: String, sdp: String },
    /// Outbound: the carrier sent a provisional response (180, 183). `early_media` is true when
    /// the carrier's audio now reaches the browser; otherwise the gateway plays ringback itself.
    Progress { call_id: String, code: u16, early_media: bool },
    /// Outbound: the carrier answered (200 OK, ACKed).
    Answered { call_id: String },
    /// Inbound: an INVITE from `source` (`ip:port`) for `to`. `offer` is the gateway's WebRTC offer
    /// for the browser. The server replies with `Ringing`/`Answer`/`Reject` for `call_id`.
    Incoming { call_id: String, source: String, from: String, from_name: Option<String>, to: String, offer: String },
    /// Outbound: an INVITE went to `gateway` (`host:port`) of `routes[route]`.
    AttemptStarted { call_id: String, route: usize, gateway: String },
    /// Outbound: that attempt failed and the next one follows (an `AttemptStarted` comes next).
    /// The last attempt ends with [`Event::Ended`] instead.
    AttemptFailed { call_id: String, failure: AttemptFailure, sip_code: Option<u16> },
    /// The call is over on the SIP side. `sip_code` is the carrier leg's final response when there
    /// was one (486, 487, 200 for an answered call...).
    Ended { call_id: String, reason: EndReason, sip_code: Option<u16> },
}

/// How a failed attempt ended. Stable snake_case codes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttemptFailure {
    /// A final response, 300 to 699.
    Final,
    /// Nothing came back, not even `100 Trying`, within [`Failover::trying_ms`].
    NoTrying,
    /// No `18x` within [`Failover::ringing_ms`].
    NoRinging,
    /// The INVITE could not be sent, or the connection broke.
    TransportError,
}

/// Why the SIP side of a call ended. Stable snake_case codes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// BYE from either side after answer.
    Normal,
    /// We hung up (CANCEL) before the carrier answered; or the carrier CANCELled an inbound call.
    Cancelled,
    Busy,
    Declined,
    /// The carrier gave up ringing (480, 408).
    NoAnswer,
    /// 404/484/604: no such number.
    NotFound,
    /// Any other failure: 4xx/5xx/6xx, no response at all, unreachable carrier.
    Failed,
    /// No RTP from the carrier for the inactivity timeout.
    MediaTimeout,
    /// The browser's media leg failed (ICE/DTLS) or was torn down.
    MediaFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_json() {
        let e = Event::Ended { call_id: "c".into(), reason: EndReason::MediaTimeout, sip_code: Some(200) };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"ended","call_id":"c","reason":"media_timeout","sip_code":200}"#
        );
        let c: Command = serde_json::from_str(r#"{"type":"reject","call_id":"c","code":486}"#).unwrap();
        assert_eq!(c, Command::Reject { call_id: "c".into(), code: 486 });
    }
}
