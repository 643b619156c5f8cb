//! `protocol::ws` ⇄ `call` by hand: the call machine's types are not serialisable, and the
//! wire's are not used inside it.

use protocol::ws;

use crate::call::{Event, IceCandidate, RejectReason, SdpKind, SessionDescription};

pub fn ice_in(c: ws::IceCandidate) -> IceCandidate {
    IceCandidate { candidate: c.candidate, sdp_mid: c.sdp_mid, sdp_mline_index: c.sdp_mline_index }
}

pub fn ice_out(c: IceCandidate) -> ws::IceCandidate {
    ws::IceCandidate { candidate: c.candidate, sdp_mid: c.sdp_mid, sdp_mline_index: c.sdp_mline_index }
}

pub fn sdp_in(d: ws::SessionDescription) -> SessionDescription {
    let kind = match d.kind {
        ws::SdpKind::Offer => SdpKind::Offer,
        ws::SdpKind::Answer => SdpKind::Answer,
    };
    SessionDescription { kind, sdp: d.sdp }
}

pub fn sdp_out(d: SessionDescription) -> ws::SessionDescription {
    let kind = match d.kind {
        SdpKind::Offer => ws::SdpKind::Offer,
        SdpKind::Answer => ws::SdpKind::Answer,
    };
    ws::SessionDescription { kind, sdp: d.sdp }
}

pub fn reject_in(r: ws::RejectReason) -> RejectReason {
    match r {
        ws::RejectReason::Declined => RejectReason::Declined,
        ws::RejectReason::Busy => RejectReason::Busy,
    }
}

/// What a device is told about call `call_id`. `caller` names the caller for `Incoming`.
pub fn event_out(call_id: &str, caller: &ws::Peer, event: Event) -> ws::ServerMsg {
    let call_id = call_id.to_string();
    match event {
        Event::Ringing => ws::ServerMsg::Ringing { call_id },
        Event::EarlyMedia { answer } => ws::ServerMsg::EarlyMedia { call_id, sdp: answer },
        Event::Incoming { offer, .. } => ws::ServerMsg::Incoming { call_id, from: caller.clone(), sdp: offer },
        Event::Answered { answer } => ws::ServerMsg::Answered { call_id, sdp: answer },
        Event::Connected => ws::ServerMsg::Connected { call_id },
        Event::Ice(c) => ws::ServerMsg::Ice { call_id, candidate: ice_out(c) },
        Event::Sdp(d) => ws::ServerMsg::Sdp { call_id, description: sdp_out(d) },
        Event::Hold { on } => ws::ServerMsg::Hold { call_id, on },
        Event::PeerReconnecting => ws::ServerMsg::PeerReconnecting { call_id },
        Event::PeerReconnected => ws::ServerMsg::PeerReconnected { call_id },
        Event::Ended { cause } => {
            ws::ServerMsg::Ended { call_id, cause: cause.code().into(), message: cause.describe().into() }
        }
    }
}

pub fn error(code: &str, message: impl Into<String>) -> ws::ServerMsg {
    ws::ServerMsg::Error { code: code.into(), message: message.into(), request_id: None, call_id: None }
}
