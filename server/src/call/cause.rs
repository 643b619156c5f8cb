//! Why a call (or one leg of it) ended.
//!
//! An end is an outcome, not a failure, so [`EndCause`] is a value carried by `Event::Ended` and
//! `Record::Ended`, never an `Err`. Its [`code`](EndCause::code) is what call records store and
//! what the browser switches on: it is part of our storage format and wire protocol, so a code,
//! once published, never changes meaning.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndCause {
    /// One party hung up on an answered call.
    Normal,
    /// The caller hung up before anyone answered.
    Cancelled,
    /// The callee turned the call down (on any of their devices).
    Declined,
    /// The callee's device said it is busy.
    Busy,
    /// Nobody answered before `CallConfig::ring_timeout`.
    NoAnswer,
    /// The callee had no device online when dialled, or every ringing device went away.
    Unavailable,
    /// Another device of the callee answered. Only ever the cause of a losing *leg*, never of the
    /// call.
    AnsweredElsewhere,
    /// A device of an answered call, or the caller's during ringing, did not come back within
    /// `CallConfig::reconnect_grace`.
    ConnectionLost,
    /// The caller dialled themselves. The shell refuses this before a `Call` exists.
    SelfCall,
    /// The callee does not exist. The shell refuses this before a `Call` exists.
    UnknownUser,
    /// The dialled number is not a valid phone number. Refused before a `Call` exists.
    InvalidNumber,
    /// No enabled carrier can take the call. Refused before a `Call` exists.
    NoRoute,
    /// The carrier says the number does not exist (SIP 404/484/604).
    NumberNotFound,
    /// The carrier refused or failed the call for another reason, or did not respond.
    CarrierFailed,
    /// No audio came from the carrier for the media inactivity timeout.
    MediaTimeout,
    /// The browser's media path to the gateway failed (ICE/DTLS) or its SDP was unusable.
    MediaFailed,
    /// The caller's money ran out: the call reached a billing increment it could not pay.
    CreditExhausted,
    /// An administrator ended the call (who: the record's `ended_by`).
    EndedByAdmin,
}

impl EndCause {
    pub const ALL: [EndCause; 18] = [
        EndCause::Normal,
        EndCause::Cancelled,
        EndCause::Declined,
        EndCause::Busy,
        EndCause::NoAnswer,
        EndCause::Unavailable,
        EndCause::AnsweredElsewhere,
        EndCause::ConnectionLost,
        EndCause::SelfCall,
        EndCause::UnknownUser,
        EndCause::InvalidNumber,
        EndCause::NoRoute,
        EndCause::NumberNotFound,
        EndCause::CarrierFailed,
        EndCause::MediaTimeout,
        EndCause::MediaFailed,
        EndCause::CreditExhausted,
        EndCause::EndedByAdmin,
    ];

    /// The stable code stored in call records and sent to browsers.
    pub fn code(&self) -> &'static str {
        match self {
            EndCause::Normal => "normal",
            EndCause::Cancelled => "cancelled",
            EndCause::Declined => "declined",
            EndCause::Busy => "busy",
            EndCause::NoAnswer => "no_answer",
            EndCause::Unavailable => "unavailable",
            EndCause::AnsweredElsewhere => "answered_elsewhere",
            EndCause::ConnectionLost => "connection_lost",
            EndCause::SelfCall => "self_call",
            EndCause::UnknownUser => "unknown_user",
            EndCause::InvalidNumber => "invalid_number",
            EndCause::NoRoute => "no_route",
            EndCause::NumberNotFound => "number_not_found",
            EndCause::CarrierFailed => "carrier_failed",
            EndCause::MediaTimeout => "media_timeout",
            EndCause::MediaFailed => "media_failed",
            EndCause::CreditExhausted => "credit_exhausted",
            EndCause::EndedByAdmin => "ended_by_admin",
        }
    }

    pub fn from_code(code: &str) -> Option<EndCause> {
        EndCause::ALL.into_iter().find(|cause| cause.code() == code)
    }

    /// For people: logs, call history, the admin's view.
    pub fn describe(&self) -> &'static str {
        match self {
            EndCause::Normal => "The call ended normally.",
            EndCause::Cancelled => "The caller hung up before the call was answered.",
            EndCause::Declined => "The call was declined.",
            EndCause::Busy => "The person called is busy.",
            EndCause::NoAnswer => "Nobody answered.",
            EndCause::Unavailable => "The person called is not online.",
            EndCause::AnsweredElsewhere => "The call was answered on another device.",
            EndCause::ConnectionLost => "The connection was lost.",
            EndCause::SelfCall => "You cannot call yourself.",
            EndCause::UnknownUser => "There is no such user.",
            EndCause::InvalidNumber => "That is not a valid phone number.",
            EndCause::NoRoute => "Calls to phone numbers are not available right now.",
            EndCause::NumberNotFound => "The number does not exist.",
            EndCause::CarrierFailed => "The call could not be connected.",
            EndCause::MediaTimeout => "The call was ended because no audio arrived.",
            EndCause::MediaFailed => "The audio connection failed.",
            EndCause::CreditExhausted => "The call was ended because your balance ran out.",
            EndCause::EndedByAdmin => "The call was ended by an administrator.",
        }
    }

    /// The SIP final response (RFC 3261 §21) a SIP user agent would see for this outcome, for when
    /// the call, or its record, meets a SIP trunk. `None` where SIP ends the call with a BYE rather
    /// than a final response.
    pub fn sip_code(&self) -> Option<u16> {
        match self {
            EndCause::Normal | EndCause::ConnectionLost => None,
            // A forked INVITE that lost the race is CANCELled and answered 487; RFC 3326 adds
            // `Reason: SIP;cause=200` to the CANCEL so the phone does not log a missed call.
            EndCause::Cancelled | EndCause::AnsweredElsewhere => Some(487),
            EndCause::Declined => Some(603),
            EndCause::Busy => Some(486),
            EndCause::NoAnswer | EndCause::Unavailable => Some(480),
            EndCause::SelfCall => Some(403),
            EndCause::UnknownUser | EndCause::NumberNotFound | EndCause::InvalidNumber => Some(404),
            EndCause::NoRoute | EndCause::CarrierFailed => Some(503),
            EndCause::MediaTimeout | EndCause::MediaFailed | EndCause::CreditExhausted | EndCause::EndedByAdmin => None,
        }
    }
}

impl fmt::Display for EndCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
