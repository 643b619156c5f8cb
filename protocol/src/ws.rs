//! WebSocket signaling between a browser tab (a *device*) and the server, at `GET /ws`.
//!
//! The first message must be `Hello` with an access token (never in the URL, where it would end
//! up in logs). Every message is one JSON text frame, tagged by `type`.

use serde::{Deserialize, Serialize};

/// Largest text frame the server accepts (SDP with many candidates stays well under it).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on a socket. `resume` is the `device_id` a previous socket of this tab
    /// was given: a tab that lost its connection gets its calls back.
    Hello {
        version: u32,
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Call a user. `request_id` is the client's, echoed in `Calling` or `Error`.
    Dial {
        request_id: String,
        callee: i64,
        sdp: String,
    },
    /// Call a phone number through the PSTN gateway. National formats are read in the
    /// user's country. Answered like `Dial`: `Calling`, then `EarlyMedia`, `Ringing`, ...
    DialNumber {
        request_id: String,
        number: String,
        sdp: String,
    },
    Answer {
        call_id: String,
        sdp: String,
    },
    Reject {
        call_id: String,
        reason: RejectReason,
    },
    /// Cancel (before answer) or hang up (after).
    Hangup {
        call_id: String,
    },
    Ice {
        call_id: String,
        candidate: IceCandidate,
    },
    /// In-call renegotiation, e.g. an ICE restart after a network change.
    Sdp {
        call_id: String,
        description: SessionDescription,
    },
    Hold {
        call_id: String,
        on: bool,
    },
    /// An administrator's live-calls view: `on` starts `LiveCalls` snapshots (now and about
    /// every second while calls change or run), `off` stops them. Refused for other users.
    WatchCalls {
        on: bool,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    Declined,
    Busy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mline_index: Option<u16>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SdpKind {
    Offer,
    Answer,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionDescription {
    pub kind: SdpKind,
    pub sdp: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Peer {
    /// The user's id; 0 for a phone number.
    pub id: i64,
    pub display_name: String,
    /// E.164, when the peer is a phone number (a PSTN call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to `Hello`.
    Welcome {
        device_id: String,
        user: Peer,
        ice_servers: Vec<crate::api::IceServer>,
        online: Vec<i64>,
    },
    /// Something the client sent was refused; the socket stays open.
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
    },
    /// A user's first device came online, or their last went away.
    Presence {
        user_id: i64,
        online: bool,
    },
    /// `Dial` was accepted: this is the call's id.
    Calling {
        request_id: String,
        call_id: String,
        callee: Peer,
    },
    /// At least one of the callee's devices is ringing.
    Ringing {
        call_id: String,
    },
    /// A PSTN call's media answer, before the far end answered: apply it so that ringback
    /// and early media play. `Answered` follows with the same SDP.
    EarlyMedia {
        call_id: String,
        sdp: String,
    },
    Incoming {
        call_id: String,
        from: Peer,
        sdp: String,
    },
    /// To the caller: the callee answered with this SDP.
    Answered {
        call_id: String,
        sdp: String,
    },
    /// To the callee device whose answer won.
    Connected {
        call_id: String,
    },
    Ice {
        call_id: String,
        candidate: IceCandidate,
    },
    Sdp {
        call_id: String,
        description: SessionDescription,
    },
    Hold {
        call_id: String,
        on: bool,
    },
    /// The other side's connection dropped; it has a grace period to come back.
    PeerReconnecting {
        call_id: String,
    },
    PeerReconnected {
        call_id: String,
    },
    /// The user's balance changed (a top-up landed, a refund, an adjustment, a call's charge).
    Balance {
        balance_micros: i64,
        available_micros: i64,
    },
    /// A paid call's money, sent when the call starts being charged and whenever it changes:
    /// `cost_micros` is what the call has committed so far (whole billing increments, the
    /// connection fee included), and `seconds_left` how long it can go on before the caller's
    /// funds run out (`None`: more than the server looks ahead, about an hour). Top-ups and
    /// the caller's other calls move it.
    CallCredit {
        call_id: String,
        per_minute_micros: i64,
        cost_micros: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seconds_left: Option<u64>,
    },
    /// The call will be cut for lack of funds in `seconds_left` seconds (sent 60 s and 10 s
    /// before); play a short tone and offer a top-up.
    CreditWarning {
        call_id: String,
        seconds_left: u64,
    },
    /// A call's final charge, once it is posted to the ledger.
    CallCharged {
        call_id: String,
        charge_micros: i64,
    },
    /// To an administrator watching: every call in progress, oldest first.
    LiveCalls {
        calls: Vec<crate::api::LiveCall>,
    },
    /// The call (or this device's part in it) is over. `cause` is a stable code
    /// (`normal`, `declined`, `busy`, `no_answer`, `unavailable`, `cancelled`,
    /// `answered_elsewhere`, `connection_lost`, …); `message` says it in words.
    Ended {
        call_id: String,
        cause: String,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn tagged_json() {
        let m = ClientMsg::Reject { call_id: "c1".into(), reason: RejectReason::Busy };
        expect![[r#"{"type":"reject","call_id":"c1","reason":"busy"}"#]].assert_eq(&serde_json::to_string(&m).unwrap());
        let hello: ClientMsg = serde_json::from_str(r#"{"type":"hello","version":1,"token":"t"}"#).unwrap();
        assert_eq!(hello, ClientMsg::Hello { version: 1, token: "t".into(), resume: None });
        let e = ServerMsg::Ended { call_id: "c1".into(), cause: "no_answer".into(), message: "No answer".into() };
        expect![[r#"{"type":"ended","call_id":"c1","cause":"no_answer","message":"No answer"}"#]]
            .assert_eq(&serde_json::to_string(&e).unwrap());
    }
}
