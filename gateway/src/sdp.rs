//! SDP (RFC 4566) offer/answer (RFC 3264) for the carrier leg: one audio stream over plain
//! RTP/AVP, G.711 (PCMU/PCMA) and RFC 4733 telephone-event. The browser leg's SDP is str0m's.
//!
//! The parser is our own, not `rtc-sdp` (webrtc-rs). That crate round-trips canonical carrier
//! SDP, but it adds ~34 crates to the gateway (`url` with the ICU/IDNA stack, `nix`,
//! `rtc-shared`), rejects SDP that carriers do send (no `t=`, `c=` after `t=`), accepts a
//! host name in `c=`, and leaves all of the offer/answer meaning (static payload types,
//! `c=` levels, hold, directions) to us anyway. What is here reads only the lines that matter,
//! in any order, and is strict about those: `v=0` first, well-formed `m=`, `c=` with a literal
//! IP address, `a=rtpmap` and `a=ptime`. Everything else, including other media sections, is
//! skipped.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

pub use crate::g711::Codec;

/// What we put in `a=ptime`: the browser sends 20 ms frames, and we pass them through.
pub const PTIME: u16 = 20;

/// A stream's direction, from the point of view of the side whose SDP it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction of an answer to an offer with this one (RFC 3264 §6.1): their sendonly is
    /// our recvonly and the other way round.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// Whether the side that wrote it sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side that wrote it wants to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

/// Our offer to a carrier (an outbound call's INVITE, or a re-INVITE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOffer {
    /// Where we receive RTP.
    pub addr: IpAddr,
    pub port: u16,
    /// `o=` session id and version; the version goes up with every new offer in the dialog.
    pub session_id: u64,
    pub version: u64,
    /// In order of preference.
    pub codecs: Vec<Codec>,
    /// A dynamic payload type (96..=127) for telephone-event.
    pub te_pt: Option<u8>,
    pub direction: Direction,
    pub ptime: u16,
}

/// Our side of an answer: the `o=` identity and where we receive RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSession {
    pub addr: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub version: u64,
}

/// The carrier's audio stream, from its offer or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where the carrier receives RTP: the stream's `c=` (or else the session's) and `m=` port.
    pub addr: SocketAddr,
    /// The G.711 codecs on the `m=` line, in its order (the carrier's preference).
    pub codecs: Vec<(u8, Codec)>,
    /// The first payload type mapped to `telephone-event/8000`.
    pub te_pt: Option<u8>,
    /// The carrier's direction. A `c=` of `0.0.0.0` (or `::`), the RFC 2543 way of putting a
    /// call on hold, is `Inactive` whatever the attributes say: such a carrier cannot receive,
    /// and old implementations that use it usually stop sending too, so the relay must not
    /// expect media.
    pub direction: Direction,
    pub ptime: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    #[error("malformed SDP at line {line}: {reason}")]
    Malformed { line: usize, reason: &'static str },
    #[error("bad connection address (c=) at line {line}")]
    BadConnection { line: usize },
    #[error("no audio stream (m=audio) in the SDP")]
    NoAudio,
    /// Port 0 on the `m=audio` line.
    #[error("the audio stream is rejected (port 0)")]
    Rejected,
    #[error("the audio stream is not plain RTP/AVP")]
    UnsupportedTransport,
    #[error("no connection address (c=) for the audio stream")]
    NoConnection,
    #[error("no codec in common")]
    NoCommonCodec,
}

/// Our offer, carrier style: one `m=audio` over RTP/AVP with an `a=rtpmap` for every payload
/// type, CRLF line endings.
pub fn build(offer: &MediaOffer) -> String {
    let codecs: Vec<(u8, Codec)> = offer.codecs.iter().map(|&c| (c.pt(), c)).collect();
    Description {
        addr: offer.addr,
        port: offer.port,
        session_id: offer.session_id,
        version: offer.version,
        codecs: &codecs,
        te_pt: offer.te_pt,
        direction: offer.direction,
        ptime: offer.ptime,
    }
    .render()
}

/// Our answer to a carrier's offer: the chosen codec and telephone-event, both with the
/// offerer's payload types, and the offered direction reversed (RFC 3264 §6.1).
pub fn answer(local: &LocalSession, chosen: (u8, Codec), te_pt: Option<u8>, offered: Direction) -> String {
    Description {
        addr: local.addr,
        port: local.port,
        session_id: local.session_id,
        version: local.version,
        codecs: &[chosen],
        te_pt,
        direction: offered.reversed(),
        ptime: PTIME,
    }
    .render()
}

/// The first of the carrier's codecs that we support: as answerer we honour the offerer's
/// preference (RFC 3264 §6.1), and as offerer we take the answer's first.
pub fn negotiate(remote: &RemoteMedia, supported: &[Codec]) -> Result<(u8, Codec), SdpError> {
    remote.codecs.iter().copied().find(|(_, codec)| supported.contains(codec)).ok_or(SdpError::NoCommonCodec)
}

struct Description<'a> {
    addr: IpAddr,
    port: u16,
    session_id: u64,
    version: u64,
    codecs: &'a [(u8, Codec)],
    te_pt: Option<u8>,
    direction: Direction,
    ptime: u16,
}

impl Description<'_> {
    fn render(&self) -> String {
        let ip = match self.addr {
            IpAddr::V4(_) => "IP4",
            IpAddr::V6(_) => "IP6",
        };
        let mut sdp = Lines::default();
        sdp.line(format_args!("v=0"));
        sdp.line(format_args!("o=- {} {} IN {ip} {}", self.session_id, self.version, self.addr));
        sdp.line(format_args!("s=-"));
        sdp.line(format_args!("c=IN {ip} {}", self.addr));
        sdp.line(format_args!("t=0 0"));
        let pts = self.codecs.iter().map(|&(pt, _)| pt).chain(self.te_pt);
        let formats: Vec<String> = pts.map(|pt| pt.to_string()).collect();
        sdp.line(format_args!("m=audio {} RTP/AVP {}", self.port, formats.join(" ")));
        for &(pt, codec) in self.codecs {
            sdp.line(format_args!("a=rtpmap:{pt} {}/8000", codec.name()));
        }
        if let Some(pt) = self.te_pt {
            sdp.line(format_args!("a=rtpmap:{pt} telephone-event/8000"));
            sdp.line(format_args!("a=fmtp:{pt} 0-16"));
        }
        sdp.line(format_args!("a=ptime:{}", self.ptime));
        sdp.line(format_args!("a={}", self.direction));
        sdp.0
    }
}

#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, line: fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = write!(self.0, "{line}\r\n");
    }
}

/// Reads the carrier's audio stream: the first `m=audio` section. Never panics.
pub fn parse_remote(sdp: &str) -> Result<RemoteMedia, SdpError> {
    // Lines are numbered from 1 in the input; blank lines are skipped. LF alone is accepted.
    let mut lines = sdp.lines().enumerate().map(|(i, text)| (i + 1, text.trim_end())).filter(|(_, t)| !t.is_empty());
    match lines.next() {
        Some((_, "v=0")) => {}
        Some((line, _)) => return Err(SdpError::Malformed { line, reason: "expected v=0 first" }),
        None => return Err(SdpError::Malformed { line: 1, reason: "empty" }),
    }

    let mut session = Level::default();
    let mut audio: Option<AudioSection<'_>> = None;
    let mut section = Section::Session;
    for (line, text) in lines {
        let Some((kind, value)) = text.split_once('=').filter(|(k, _)| k.len() == 1) else {
            return Err(SdpError::Malformed { line, reason: "expected <type>=<value>" });
        };
        match (kind, section) {
            ("m", _) if audio.is_some() => section = Section::Other,
            ("m", _) => {
                audio = media_line(line, value)?;
                section = if audio.is_some() { Section::Audio } else { Section::Other };
            }
            ("c", Section::Session) => session.connection = Some(connection(line, value)?),
            ("a", Section::Session) => session.attribute(line, value)?,
            ("c", Section::Audio) => {
                if let Some(audio) = &mut audio {
                    audio.level.connection = Some(connection(line, value)?);
                }
            }
            ("a", Section::Audio) => {
                if let Some(audio) = &mut audio {
                    audio.attribute(line, value)?;
                }
            }
            _ => {}
        }
    }

    let audio = audio.ok_or(SdpError::NoAudio)?;
    if audio.port == 0 {
        return Err(SdpError::Rejected);
    }
    if !audio.proto.eq_ignore_ascii_case("RTP/AVP") {
        return Err(SdpError::UnsupportedTransport);
    }
    let ip = audio.level.connection.or(session.connection).ok_or(SdpError::NoConnection)?;
    let mut codecs = Vec::new();
    let mut te_pt = None;
    for &pt in &audio.formats {
        let encoding = match audio.rtpmaps.iter().find(|(p, _)| *p == pt) {
            Some(&(_, encoding)) => encoding,
            None => Codec::from_static_pt(pt).map_or(Encoding::Other, Encoding::Codec),
        };
        match encoding {
            Encoding::Codec(codec) => codecs.push((pt, codec)),
            Encoding::TelephoneEvent => te_pt = te_pt.or(Some(pt)),
            Encoding::Other => {}
        }
    }
    let direction = if ip.is_unspecified() {
        Direction::Inactive
    } else {
        audio.level.direction.or(session.direction).unwrap_or(Direction::SendRecv)
    };
    Ok(RemoteMedia {
        addr: SocketAddr::new(ip, audio.port),
        codecs,
        te_pt,
        direction,
        ptime: audio.level.ptime.or(session.ptime),
    })
}

#[derive(Clone, Copy)]
enum Section {
    Session,
    /// The first `m=audio`.
    Audio,
    /// Any later media section, skipped.
    Other,
}

/// What may be given at session level and overridden per stream.
#[derive(Default)]
struct Level {
    connection: Option<IpAddr>,
    direction: Option<Direction>,
    ptime: Option<u16>,
}

impl Level {
    fn attribute(&mut self, line: usize, value: &str) -> Result<(), SdpError> {
        let (name, arg) = value.split_once(':').unwrap_or((value, ""));
        if let Some(direction) = Direction::from_attribute(name) {
            self.direction = Some(direction);
        } else if name == "ptime" {
            let ptime = arg.trim().parse().ok().filter(|&p| p > 0);
            self.ptime = Some(ptime.ok_or(SdpError::Malformed { line, reason: "bad a=ptime" })?);
        }
        Ok(())
    }
}

struct AudioSection<'a> {
    port: u16,
    proto: &'a str,
    formats: Vec<u8>,
    rtpmaps: Vec<(u8, Encoding)>,
    level: Level,
}

impl AudioSection<'_> {
    fn attribute(&mut self, line: usize, value: &str) -> Result<(), SdpError> {
        match value.strip_prefix("rtpmap:") {
            Some(rtpmap) => {
                let map = parse_rtpmap(rtpmap).ok_or(SdpError::Malformed { line, reason: "bad a=rtpmap" })?;
                self.rtpmaps.push(map);
                Ok(())
            }
            None => self.level.attribute(line, value),
        }
    }
}

#[derive(Clone, Copy)]
enum Encoding {
    Codec(Codec),
    TelephoneEvent,
    Other,
}

/// `<pt> <encoding>/<clock rate>[/<channels>]`; encoding names are case-insensitive.
fn parse_rtpmap(value: &str) -> Option<(u8, Encoding)> {
    let (pt, encoding) = value.split_once(' ')?;
    let pt = payload_type(pt)?;
    let mut parts = encoding.trim().split('/');
    let name = parts.next()?;
    let rate: u32 = parts.next()?.parse().ok()?;
    let channels = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let mono = matches!(channels, None | Some("1"));
    let encoding = if rate != 8000 {
        Encoding::Other
    } else if name.eq_ignore_ascii_case("telephone-event") {
        Encoding::TelephoneEvent
    } else if name.eq_ignore_ascii_case("PCMU") && mono {
        Encoding::Codec(Codec::Pcmu)
    } else if name.eq_ignore_ascii_case("PCMA") && mono {
        Encoding::Codec(Codec::Pcma)
    } else {
        Encoding::Other
    };
    Some((pt, encoding))
}

fn payload_type(text: &str) -> Option<u8> {
    text.parse().ok().filter(|&pt| pt < 128)
}

/// `m=<media> <port>[/<count>] <proto> <fmt> …`: the stream if it is audio, `None` otherwise.
/// The formats are read only for RTP (`proto` starts with `RTP/`).
fn media_line(line: usize, value: &str) -> Result<Option<AudioSection<'_>>, SdpError> {
    let malformed = |reason| SdpError::Malformed { line, reason };
    let mut fields = value.split_ascii_whitespace();
    if fields.next() != Some("audio") {
        return Ok(None);
    }
    let (Some(port), Some(proto)) = (fields.next(), fields.next()) else {
        return Err(malformed("m= needs a port, a protocol and formats"));
    };
    let port = port.split_once('/').map_or(port, |(port, _count)| port);
    let port = port.parse().map_err(|_| malformed("bad port on m="))?;
    let is_rtp = proto.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("RTP/"));
    let formats = if is_rtp {
        fields.map(|f| payload_type(f).ok_or(malformed("bad payload type on m="))).collect::<Result<Vec<u8>, _>>()?
    } else {
        Vec::new()
    };
    if is_rtp && formats.is_empty() {
        return Err(malformed("m= needs a port, a protocol and formats"));
    }
    Ok(Some(AudioSection { port, proto, formats, rtpmaps: Vec::new(), level: Level::default() }))
}

/// `c=IN IP4 <address>` or `c=IN IP6 <address>`: a literal unicast address (no TTL or count,
/// no host name; we resolve nothing).
fn connection(line: usize, value: &str) -> Result<IpAddr, SdpError> {
    let bad = SdpError::BadConnection { line };
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let [net, kind, address] = fields[..] else { return Err(bad) };
    if net != "IN" {
        return Err(bad);
    }
    let ip: IpAddr = address.parse().map_err(|_| bad.clone())?;
    match (kind, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use expect_test::{Expect, expect};
    use proptest::prelude::*;

    use super::*;

    /// The fixture without its indentation, with CRLF line endings.
    fn fixture(text: &str) -> String {
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("{l}\r\n")).collect()
    }

    fn render(remote: &Result<RemoteMedia, SdpError>) -> String {
        let remote = match remote {
            Ok(remote) => remote,
            Err(e) => return format!("error: {e}\n"),
        };
        let codecs: Vec<String> = remote.codecs.iter().map(|(pt, c)| format!("{pt}/{}", c.name())).collect();
        let mut out = String::new();
        writeln!(out, "addr {}", remote.addr).unwrap();
        writeln!(out, "codecs {}", if codecs.is_empty() { "-".to_owned() } else { codecs.join(" ") }).unwrap();
        writeln!(out, "te {}", remote.te_pt.map_or("-".to_owned(), |pt| pt.to_string())).unwrap();
        writeln!(out, "direction {}", remote.direction).unwrap();
        writeln!(out, "ptime {}", remote.ptime.map_or("-".to_owned(), |p| p.to_string())).unwrap();
        match negotiate(remote, &[Codec::Pcmu, Codec::Pcma]) {
            Ok((pt, codec)) => writeln!(out, "negotiated {pt}/{}", codec.name()).unwrap(),
            Err(e) => writeln!(out, "negotiated: error: {e}").unwrap(),
        }
        out
    }

    /// Parses the fixture (CRLF, and LF alone, which must read the same) and negotiates
    /// against PCMU and PCMA.
    #[track_caller]
    fn check(sdp: &str, expect: Expect) {
        let sdp = fixture(sdp);
        let parsed = parse_remote(&sdp);
        assert_eq!(parse_remote(&sdp.replace("\r\n", "\n")), parsed, "LF alone reads differently");
        expect.assert_eq(&render(&parsed));
    }

    /// Shows an SDP we wrote with LF, after checking that every line ends in CRLF.
    fn show(sdp: &str) -> String {
        assert!(sdp.ends_with("\r\n"));
        assert!(!sdp.split("\r\n").any(|l| l.contains('\n') || l.contains('\r')));
        sdp.replace("\r\n", "\n")
    }

    #[test]
    fn asterisk() {
        check(
            "
            v=0
            o=- 1723456789 1723456789 IN IP4 203.0.113.10
            s=Asterisk
            c=IN IP4 203.0.113.10
            t=0 0
            m=audio 17042 RTP/AVP 0 8 3 101
            a=rtpmap:0 PCMU/8000
            a=rtpmap:8 PCMA/8000
            a=rtpmap:3 GSM/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-16
            a=ptime:20
            a=maxptime:150
            a=sendrecv
            ",
            expect![[r#"
                addr 203.0.113.10:17042
                codecs 0/PCMU 8/PCMA
                te 101
                direction sendrecv
                ptime 20
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn freeswitch_prefers_pcma() {
        check(
            "
            v=0
            o=FreeSWITCH 1723440000 1723440001 IN IP4 198.51.100.7
            s=FreeSWITCH
            c=IN IP4 198.51.100.7
            t=0 0
            m=audio 24602 RTP/AVP 8 0 101 13
            a=rtpmap:8 PCMA/8000
            a=rtpmap:0 PCMU/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-16
            a=rtpmap:13 CN/8000
            a=ptime:20
            a=sendrecv
            a=rtcp:24603 IN IP4 198.51.100.7
            ",
            expect![[r#"
                addr 198.51.100.7:24602
                codecs 8/PCMA 0/PCMU
                te 101
                direction sendrecv
                ptime 20
                negotiated 8/PCMA
            "#]],
        );
    }

    #[test]
    fn cisco_cube_media_level_connection_wins() {
        check(
            "
            v=0
            o=CiscoSystemsSIP-GW-UserAgent 8451 2716 IN IP4 192.0.2.50
            s=SIP Call
            c=IN IP4 192.0.2.50
            t=0 0
            m=audio 16384 RTP/AVP 18 0 8 101 19
            c=IN IP4 192.0.2.51
            a=rtpmap:18 G729/8000
            a=fmtp:18 annexb=no
            a=rtpmap:0 PCMU/8000
            a=rtpmap:8 PCMA/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-16
            a=rtpmap:19 CN/8000
            a=ptime:20
            ",
            expect![[r#"
                addr 192.0.2.51:16384
                codecs 0/PCMU 8/PCMA
                te 101
                direction sendrecv
                ptime 20
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn sipp_default_uac() {
        // sipp's uac.xml: no rtpmap at all, static PT 0.
        check(
            "
            v=0
            o=user1 53655765 2353687637 IN IP4 127.0.0.1
            s=-
            c=IN IP4 127.0.0.1
            t=0 0
            m=audio 6000 RTP/AVP 0
            ",
            expect![[r#"
                addr 127.0.0.1:6000
                codecs 0/PCMU
                te -
                direction sendrecv
                ptime -
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn sendonly_hold() {
        check(
            "
            v=0
            o=- 1723456789 1723456790 IN IP4 203.0.113.10
            s=Asterisk
            c=IN IP4 203.0.113.10
            t=0 0
            m=audio 17042 RTP/AVP 0 101
            a=rtpmap:0 PCMU/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-16
            a=ptime:20
            a=sendonly
            ",
            expect![[r#"
                addr 203.0.113.10:17042
                codecs 0/PCMU
                te 101
                direction sendonly
                ptime 20
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn rfc2543_hold_is_inactive() {
        check(
            "
            v=0
            o=- 1 2 IN IP4 192.0.2.9
            s=-
            c=IN IP4 0.0.0.0
            t=0 0
            m=audio 30000 RTP/AVP 0 8
            a=sendrecv
            ",
            expect![[r#"
                addr 0.0.0.0:30000
                codecs 0/PCMU 8/PCMA
                te -
                direction inactive
                ptime -
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn session_level_direction_and_media_override() {
        check(
            "
            v=0
            o=- 1 2 IN IP4 192.0.2.9
            s=-
            c=IN IP4 192.0.2.9
            t=0 0
            a=recvonly
            a=ptime:30
            m=audio 30000 RTP/AVP 8
            ",
            expect![[r#"
                addr 192.0.2.9:30000
                codecs 8/PCMA
                te -
                direction recvonly
                ptime 30
                negotiated 8/PCMA
            "#]],
        );
        check(
            "
            v=0
            o=- 1 2 IN IP4 192.0.2.9
            s=-
            c=IN IP4 192.0.2.9
            t=0 0
            a=recvonly
            m=audio 30000 RTP/AVP 8
            a=inactive
            ",
            expect![[r#"
                addr 192.0.2.9:30000
                codecs 8/PCMA
                te -
                direction inactive
                ptime -
                negotiated 8/PCMA
            "#]],
        );
    }

    #[test]
    fn ipv6() {
        check(
            "
            v=0
            o=- 4711 1 IN IP6 2001:db8::10
            s=-
            c=IN IP6 2001:db8::10
            t=0 0
            m=audio 40000 RTP/AVP 0 101
            a=rtpmap:0 PCMU/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-15
            ",
            expect![[r#"
                addr [2001:db8::10]:40000
                codecs 0/PCMU
                te 101
                direction sendrecv
                ptime -
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn telephone_event_at_96_and_lower_case_names() {
        check(
            "
            v=0
            o=- 3859140000 3859140000 IN IP4 198.51.100.20
            s=Carrier SBC
            c=IN IP4 198.51.100.20
            t=0 0
            m=audio 20000 RTP/AVP 8 0 96
            a=rtpmap:8 pcma/8000
            a=rtpmap:0 pcmu/8000/1
            a=rtpmap:96 TELEPHONE-EVENT/8000
            a=fmtp:96 0-16
            a=ptime:20
            a=maxptime:40
            ",
            expect![[r#"
                addr 198.51.100.20:20000
                codecs 8/PCMA 0/PCMU
                te 96
                direction sendrecv
                ptime 20
                negotiated 8/PCMA
            "#]],
        );
    }

    #[test]
    fn telephone_event_needs_8000_and_the_first_wins() {
        // Wideband telephone-event (RFC 4733 §2.3) at 16 kHz does not go with G.711.
        check(
            "
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 5004 RTP/AVP 0 97 101 96
            a=rtpmap:97 telephone-event/16000
            a=rtpmap:101 telephone-event/8000
            a=rtpmap:96 telephone-event/8000
            ",
            expect![[r#"
                addr 192.0.2.1:5004
                codecs 0/PCMU
                te 101
                direction sendrecv
                ptime -
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn dynamic_pcmu_and_unmapped_dynamic() {
        // A dynamic PT may carry PCMU; a dynamic PT without rtpmap means nothing; an rtpmap
        // overrides the static meaning of 8.
        check(
            "
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 5004 RTP/AVP 98 100 8 0
            a=rtpmap:100 PCMU/8000
            a=rtpmap:8 G722/8000
            ",
            expect![[r#"
                addr 192.0.2.1:5004
                codecs 100/PCMU 0/PCMU
                te -
                direction sendrecv
                ptime -
                negotiated 100/PCMU
            "#]],
        );
    }

    #[test]
    fn only_the_first_audio_stream_counts() {
        check(
            "
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=video 5006 RTP/AVP 96
            a=rtpmap:96 H264/90000
            a=sendonly
            m=audio 5004 RTP/AVP 0
            m=audio 5008 RTP/AVP 8
            c=IN IP4 192.0.2.2
            m=audio nonsense
            m=image 5010 udptl t38
            c=IN IP4 this-is-ignored
            ",
            expect![[r#"
                addr 192.0.2.1:5004
                codecs 0/PCMU
                te -
                direction sendrecv
                ptime -
                negotiated 0/PCMU
            "#]],
        );
    }

    #[test]
    fn no_common_codec() {
        check(
            "
            v=0
            o=- 1 1 IN IP4 192.0.2.1
            s=-
            c=IN IP4 192.0.2.1
            t=0 0
            m=audio 5004 RTP/AVP 18 101
            a=rtpmap:18 G729/8000
            a=fmtp:18 annexb=no
            a=rtpmap:101 telephone-event/8000
            ",
            expect![[r#"
                addr 192.0.2.1:5004
                codecs -
                te 101
                direction sendrecv
                ptime -
                negotiated: error: no codec in common
            "#]],
        );
    }

    #[test]
    fn errors() {
        let cases = [
            (
                "",
                expect![[r#"
                error: malformed SDP at line 1: empty
            "#]],
            ),
            (
                "\r\n\r\n",
                expect![[r#"
                error: malformed SDP at line 1: empty
            "#]],
            ),
            (
                "v=1\n",
                expect![[r#"
                error: malformed SDP at line 1: expected v=0 first
            "#]],
            ),
            (
                "o=- 1 1 IN IP4 192.0.2.1\nv=0\n",
                expect![[r#"
                error: malformed SDP at line 1: expected v=0 first
            "#]],
            ),
            (
                "v=0\nthis is not sdp\n",
                expect![[r#"
                error: malformed SDP at line 2: expected <type>=<value>
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nt=0 0\n",
                expect![[r#"
                error: no audio stream (m=audio) in the SDP
            "#]],
            ),
            (
                "v=0\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
                expect![[r#"
                error: no connection address (c=) for the audio stream
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 0 RTP/AVP 0\n",
                expect![[r#"
                error: the audio stream is rejected (port 0)
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/SAVP 0\n",
                expect![[r#"
                error: the audio stream is not plain RTP/AVP
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/AVP\n",
                expect![[r#"
                error: malformed SDP at line 3: m= needs a port, a protocol and formats
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004\n",
                expect![[r#"
                error: malformed SDP at line 3: m= needs a port, a protocol and formats
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 70000 RTP/AVP 0\n",
                expect![[r#"
                error: malformed SDP at line 3: bad port on m=
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/AVP 0 PCMU\n",
                expect![[r#"
                error: malformed SDP at line 3: bad payload type on m=
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/AVP 0 128\n",
                expect![[r#"
                error: malformed SDP at line 3: bad payload type on m=
            "#]],
            ),
            (
                "v=0\nc=IN IP4 sbc.example.com\nm=audio 5004 RTP/AVP 0\n",
                expect![[r#"
                error: bad connection address (c=) at line 2
            "#]],
            ),
            (
                "v=0\nc=IN IP6 192.0.2.1\nm=audio 5004 RTP/AVP 0\n",
                expect![[r#"
                error: bad connection address (c=) at line 2
            "#]],
            ),
            (
                "v=0\nc=IN IP4 224.2.1.1/127\nm=audio 5004 RTP/AVP 0\n",
                expect![[r#"
                error: bad connection address (c=) at line 2
            "#]],
            ),
            (
                "v=0\nc=ATM NSAP 47.0005\nm=audio 5004 RTP/AVP 0\n",
                expect![[r#"
                error: bad connection address (c=) at line 2
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/AVP 0\na=rtpmap:0 PCMU\n",
                expect![[r#"
                error: malformed SDP at line 4: bad a=rtpmap
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/AVP 0\na=rtpmap:x PCMU/8000\n",
                expect![[r#"
                error: malformed SDP at line 4: bad a=rtpmap
            "#]],
            ),
            (
                "v=0\nc=IN IP4 192.0.2.1\nm=audio 5004 RTP/AVP 0\na=ptime:twenty\n",
                expect![[r#"
                error: malformed SDP at line 4: bad a=ptime
            "#]],
            ),
        ];
        for (sdp, expect) in cases {
            expect.assert_eq(&render(&parse_remote(sdp)));
        }
    }

    fn offer() -> MediaOffer {
        MediaOffer {
            addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
            port: 40000,
            session_id: 1_723_456_789,
            version: 1,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            te_pt: Some(101),
            direction: Direction::SendRecv,
            ptime: 20,
        }
    }

    #[test]
    fn builds_a_carrier_offer() {
        expect![[r#"
            v=0
            o=- 1723456789 1 IN IP4 203.0.113.5
            s=-
            c=IN IP4 203.0.113.5
            t=0 0
            m=audio 40000 RTP/AVP 0 8 101
            a=rtpmap:0 PCMU/8000
            a=rtpmap:8 PCMA/8000
            a=rtpmap:101 telephone-event/8000
            a=fmtp:101 0-16
            a=ptime:20
            a=sendrecv
        "#]]
        .assert_eq(&show(&build(&offer())));
    }

    #[test]
    fn builds_ipv6_hold_without_telephone_event() {
        let offer = MediaOffer {
            addr: IpAddr::V6("2001:db8::5".parse::<Ipv6Addr>().unwrap()),
            codecs: vec![Codec::Pcma],
            te_pt: None,
            direction: Direction::SendOnly,
            version: 2,
            ..offer()
        };
        expect![[r#"
            v=0
            o=- 1723456789 2 IN IP6 2001:db8::5
            s=-
            c=IN IP6 2001:db8::5
            t=0 0
            m=audio 40000 RTP/AVP 8
            a=rtpmap:8 PCMA/8000
            a=ptime:20
            a=sendonly
        "#]]
        .assert_eq(&show(&build(&offer)));
    }

    #[test]
    fn answers_with_the_chosen_codec_and_reversed_direction() {
        let local =
            LocalSession { addr: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), port: 40002, session_id: 7, version: 7 };
        let offer = fixture(
            "
            v=0
            o=- 1 1 IN IP4 198.51.100.20
            s=-
            c=IN IP4 198.51.100.20
            t=0 0
            m=audio 20000 RTP/AVP 18 8 0 96
            a=rtpmap:96 telephone-event/8000
            a=sendonly
            ",
        );
        let remote = parse_remote(&offer).unwrap();
        let chosen = negotiate(&remote, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        expect![[r#"
            v=0
            o=- 7 7 IN IP4 203.0.113.5
            s=-
            c=IN IP4 203.0.113.5
            t=0 0
            m=audio 40002 RTP/AVP 8 96
            a=rtpmap:8 PCMA/8000
            a=rtpmap:96 telephone-event/8000
            a=fmtp:96 0-16
            a=ptime:20
            a=recvonly
        "#]]
        .assert_eq(&show(&answer(&local, chosen, remote.te_pt, remote.direction)));
        expect![[r#"
            v=0
            o=- 7 7 IN IP4 203.0.113.5
            s=-
            c=IN IP4 203.0.113.5
            t=0 0
            m=audio 40002 RTP/AVP 0
            a=rtpmap:0 PCMU/8000
            a=ptime:20
            a=inactive
        "#]]
        .assert_eq(&show(&answer(&local, (0, Codec::Pcmu), None, Direction::Inactive)));
    }

    #[test]
    fn directions_reverse() {
        let all = [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive];
        let reversed: Vec<Direction> = all.iter().map(|d| d.reversed()).collect();
        assert_eq!(reversed, [Direction::SendRecv, Direction::RecvOnly, Direction::SendOnly, Direction::Inactive]);
        for d in all {
            assert_eq!(d.reversed().sends(), d.receives());
            assert_eq!(d.reversed().reversed(), d);
        }
    }

    #[test]
    fn negotiation_follows_the_remote_order() {
        let remote = parse_remote(&fixture(
            "
            v=0
            c=IN IP4 192.0.2.1
            m=audio 5004 RTP/AVP 8 0
            ",
        ))
        .unwrap();
        assert_eq!(negotiate(&remote, &[Codec::Pcmu, Codec::Pcma]), Ok((8, Codec::Pcma)));
        assert_eq!(negotiate(&remote, &[Codec::Pcmu]), Ok((0, Codec::Pcmu)));
        assert_eq!(negotiate(&remote, &[]), Err(SdpError::NoCommonCodec));
    }

    fn any_direction() -> impl Strategy<Value = Direction> {
        prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive)
        ]
    }

    /// Lines that look like SDP: known types with values made of SDP-ish pieces.
    fn sdp_like() -> impl Strategy<Value = String> {
        let kind = prop_oneof![
            Just("v="),
            Just("o="),
            Just("c="),
            Just("m="),
            Just("a="),
            Just("a=rtpmap:"),
            Just("a=ptime:"),
            Just("t="),
            Just("")
        ];
        let piece = prop_oneof![
            Just("IN"),
            Just("IP4"),
            Just("IP6"),
            Just("0.0.0.0"),
            Just("::1"),
            Just("audio"),
            Just("RTP/AVP"),
            Just("0"),
            Just("8"),
            Just("101"),
            Just("65536"),
            Just("PCMU/8000"),
            Just("telephone-event/8000/1/2"),
            Just("/"),
            Just(":"),
            Just("="),
            Just(" "),
            Just("sendonly"),
            Just("é"),
        ];
        let line = (kind, prop::collection::vec(piece, 0..8)).prop_map(|(k, p)| format!("{k}{}", p.join(" ")));
        (any::<bool>(), prop::collection::vec(line, 0..16))
            .prop_map(|(v0, lines)| format!("{}{}", if v0 { "v=0\r\n" } else { "" }, lines.join("\r\n")))
    }

    proptest! {
        #[test]
        fn parse_never_panics(sdp in any::<String>()) {
            let _ = parse_remote(&sdp);
        }

        #[test]
        fn parse_never_panics_on_sdp_like_input(sdp in sdp_like()) {
            let _ = parse_remote(&sdp);
        }

        #[test]
        fn offers_read_back(
            v4: bool,
            addr: [u8; 16],
            port in 1u16..,
            session_id: u64,
            version: u64,
            codecs in prop::sample::subsequence(vec![Codec::Pcmu, Codec::Pcma], 1..=2).prop_shuffle(),
            te_pt in prop::option::of(96u8..128),
            direction in any_direction(),
            ptime in 10u16..=60,
        ) {
            let addr = if v4 {
                IpAddr::from([addr[0], addr[1], addr[2], addr[3]])
            } else {
                IpAddr::from(addr)
            };
            prop_assume!(!addr.is_unspecified());
            let offer = MediaOffer { addr, port, session_id, version, codecs, te_pt, direction, ptime };
            let remote = parse_remote(&build(&offer)).unwrap();
            prop_assert_eq!(remote.addr, SocketAddr::new(addr, port));
            let codecs: Vec<(u8, Codec)> = offer.codecs.iter().map(|&c| (c.pt(), c)).collect();
            prop_assert_eq!(remote.codecs, codecs);
            prop_assert_eq!(remote.te_pt, te_pt);
            prop_assert_eq!(remote.direction, direction);
            prop_assert_eq!(remote.ptime, Some(ptime));
        }
    }
}
