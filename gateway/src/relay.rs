//! The RTP relay of one call, both ways, between the browser's leg (RTP packets to and from
//! str0m) and the carrier's (RTP/AVP datagrams over UDP). G.711 passes through untouched; only
//! headers are rewritten.
//!
//! Like the rest of the gateway's core it is sans-IO: it reads no clock and touches no socket.
//! Packets and `now` go in; [`Output`]s and the next deadline ([`Relay::poll_timeout`]) come
//! out. After every mutation drain [`Relay::poll_output`] until `None`.
//!
//! What it does:
//! - **One stream per direction.** Each direction goes out with one SSRC (from [`RelayConfig`])
//!   and sequence numbers +1 per packet sent, whatever comes in. Timestamps are the input's plus
//!   an offset per input source; when the source changes (ringback stops and the carrier's audio
//!   starts, or the carrier switches SSRC) the new offset continues from the last timestamp sent
//!   plus the wall time since then, and the first packet carries the marker bit.
//! - **Payload types.** The negotiated audio PT and the telephone-event PT (RFC 4733) are mapped
//!   between the legs' numbers; anything else is dropped.
//! - **Symmetric RTP (latching).** Until the carrier's first valid packet we send to its SDP
//!   address; that packet's source address is where we send from then on and the only one we
//!   accept from. A new SDP address unlatches.
//! - **Ringback.** A tone for the browser, one frame per 20 ms, until stopped, answered or the
//!   carrier's media arrives.
//! - **Inactivity.** Once answered, [`Output::MediaTimeout`] if the carrier, while supposed to
//!   send, sends nothing for [`RelayConfig::inactivity`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rtp::{RtpError, RtpPacket};
use crate::sdp::Direction;
use crate::tone::{FRAME, FRAME_SAMPLES, Ringback};

/// RTP/AVP media timeouts are commonly 30 s (Asterisk's `rtptimeout`, FreeSWITCH's
/// `media_timeout` as usually set).
pub const DEFAULT_INACTIVITY: Duration = Duration::from_secs(30);

/// Ringback frames sent at once when the shell wakes late; older ones are skipped.
const MAX_RINGBACK_BURST: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    pub ssrc_to_browser: u32,
    pub ssrc_to_carrier: u32,
    /// The first sequence numbers each way (RFC 3550 §5.1: random, so drawn by the shell).
    pub seq_to_browser: u16,
    pub seq_to_carrier: u16,
    /// The browser leg's payload types: the negotiated G.711 codec's and telephone-event's.
    pub browser_audio_pt: u8,
    pub browser_te_pt: Option<u8>,
    pub inactivity: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A datagram for the carrier's media address.
    ToCarrier { to: SocketAddr, data: Vec<u8> },
    /// A packet for str0m to send to the browser.
    ToBrowser(RtpPacket),
    /// The carrier sent nothing for [`RelayConfig::inactivity`] while it should have. Once per
    /// silence: it comes again only after media resumed and stopped again.
    MediaTimeout,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub to_browser: u64,
    pub to_carrier: u64,
    /// From an address other than the latched one, or before the carrier's SDP is known.
    pub dropped_wrong_source: u64,
    pub dropped_unknown_pt: u64,
    /// Not RTP (RTCP is ignored without counting).
    pub dropped_malformed: u64,
    /// From the browser before the carrier's SDP is known.
    pub dropped_no_destination: u64,
    /// From the browser while the carrier does not receive (its SDP is sendonly or inactive).
    pub dropped_on_hold: u64,
    pub telephone_events_to_carrier: u64,
}

#[derive(Debug)]
pub struct Relay {
    cfg: RelayConfig,
    carrier: Option<Carrier>,
    to_browser: Stream,
    to_carrier: Stream,
    ringback: Option<RingbackRun>,
    /// Counts ringback runs: each is a source of its own.
    ringback_runs: u32,
    answered: bool,
    /// The start of the current inactivity window: the last media from the carrier, the
    /// answer, or the last change of its SDP.
    media_seen: Instant,
    timed_out: bool,
    outputs: VecDeque<Output>,
    stats: RelayStats,
}

/// What the carrier's SDP said, and where its media comes from.
#[derive(Debug)]
struct Carrier {
    sdp_addr: SocketAddr,
    latched: Option<SocketAddr>,
    audio_pt: u8,
    te_pt: Option<u8>,
    direction: Direction,
}

#[derive(Debug)]
struct RingbackRun {
    tone: Ringback,
    run: u32,
    /// When the next frame is due.
    next: Instant,
    /// Frames made or skipped: the run's own timestamp is `frames × 160`.
    frames: u32,
}

impl Relay {
    pub fn new(cfg: RelayConfig, now: Instant) -> Relay {
        Relay {
            to_browser: Stream::new(cfg.ssrc_to_browser, cfg.seq_to_browser),
            to_carrier: Stream::new(cfg.ssrc_to_carrier, cfg.seq_to_carrier),
            cfg,
            carrier: None,
            ringback: None,
            ringback_runs: 0,
            answered: false,
            media_seen: now,
            timed_out: false,
            outputs: VecDeque::new(),
            stats: RelayStats::default(),
        }
    }

    /// The carrier's media from its SDP (18x, 200, re-INVITE): where to send and its payload
    /// types. `audio_pt` must carry the browser's codec (no transcoding here); only the number
    /// may differ. The latch survives only if `remote` is unchanged.
    pub fn set_carrier(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        audio_pt: u8,
        te_pt: Option<u8>,
        direction: Direction,
    ) {
        let latched = self.carrier.as_ref().filter(|c| c.sdp_addr == remote).and_then(|c| c.latched);
        self.carrier = Some(Carrier { sdp_addr: remote, latched, audio_pt, te_pt, direction });
        self.restart_inactivity(now);
    }

    /// The browser leg's payload types, once str0m has negotiated them (again after a
    /// renegotiation). They replace [`RelayConfig::browser_audio_pt`] and
    /// [`RelayConfig::browser_te_pt`].
    pub fn set_browser_pts(&mut self, audio_pt: u8, te_pt: Option<u8>) {
        self.cfg.browser_audio_pt = audio_pt;
        self.cfg.browser_te_pt = te_pt;
    }

    pub fn browser_audio_pt(&self) -> u8 {
        self.cfg.browser_audio_pt
    }

    /// Plays `tone` to the browser from `now`, replacing any ringback running.
    pub fn start_ringback(&mut self, now: Instant, tone: Ringback) {
        self.ringback_runs = self.ringback_runs.wrapping_add(1);
        self.ringback = Some(RingbackRun { tone, run: self.ringback_runs, next: now, frames: 0 });
    }

    pub fn stop_ringback(&mut self) {
        self.ringback = None;
    }

    /// The call is answered: ringback stops and the inactivity check starts.
    pub fn set_answered(&mut self, now: Instant) {
        self.answered = true;
        self.ringback = None;
        self.restart_inactivity(now);
    }

    /// An RTP packet from the browser (from str0m), for the carrier.
    pub fn from_browser(&mut self, now: Instant, pkt: RtpPacket) {
        let Some(carrier) = &self.carrier else {
            self.stats.dropped_no_destination += 1;
            return;
        };
        let (pt, is_event) = if pkt.pt == self.cfg.browser_audio_pt {
            (carrier.audio_pt, false)
        } else if let (Some(te), true) = (carrier.te_pt, Some(pkt.pt) == self.cfg.browser_te_pt) {
            (te, true)
        } else {
            self.stats.dropped_unknown_pt += 1;
            return;
        };
        if !carrier.direction.receives() {
            self.stats.dropped_on_hold += 1;
            return;
        }
        let to = carrier.latched.unwrap_or(carrier.sdp_addr);
        let samples = if is_event { 0 } else { pkt.payload.len() };
        let out = self.to_carrier.rewrite(now, Source::Ssrc(pkt.ssrc), RtpPacket { pt, ..pkt }, samples);
        self.stats.to_carrier += 1;
        if is_event {
            self.stats.telephone_events_to_carrier += 1;
        }
        self.outputs.push_back(Output::ToCarrier { to, data: out.to_bytes() });
    }

    /// A datagram from `src` on the call's carrier-facing socket.
    pub fn from_carrier(&mut self, now: Instant, src: SocketAddr, data: &[u8]) {
        let Some(carrier) = &mut self.carrier else {
            self.stats.dropped_wrong_source += 1;
            return;
        };
        if carrier.latched.is_some_and(|latched| latched != src) {
            self.stats.dropped_wrong_source += 1;
            return;
        }
        let pkt = match RtpPacket::parse(data) {
            Ok(pkt) => pkt,
            Err(RtpError::Rtcp) => return,
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        // Any RTP from an acceptable source shows the path is alive (comfort noise included);
        // latching and forwarding need a negotiated payload type.
        self.media_seen = now;
        self.timed_out = false;
        let (pt, is_event) = if pkt.pt == carrier.audio_pt {
            (self.cfg.browser_audio_pt, false)
        } else if let (Some(te), true) = (self.cfg.browser_te_pt, Some(pkt.pt) == carrier.te_pt) {
            (te, true)
        } else {
            self.stats.dropped_unknown_pt += 1;
            return;
        };
        carrier.latched = Some(src);
        self.ringback = None;
        let samples = if is_event { 0 } else { pkt.payload.len() };
        self.send_to_browser(now, Source::Ssrc(pkt.ssrc), RtpPacket { pt, ..pkt }, samples);
    }

    /// Sends the ringback frames due and fires the inactivity timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(run) = &mut self.ringback
            && run.next <= now
        {
            let due = now.duration_since(run.next).as_micros() / FRAME.as_micros() + 1;
            let due = u32::try_from(due).unwrap_or(u32::MAX);
            let skip = due.saturating_sub(MAX_RINGBACK_BURST);
            run.tone.skip(skip);
            run.frames = run.frames.wrapping_add(skip);
            run.next += FRAME * skip;
            let mut frames = Vec::new();
            for _ in skip..due {
                let ts = run.frames.wrapping_mul(FRAME_SAMPLES as u32);
                frames.push((Source::Ringback(run.run), ts, run.tone.next_frame()));
                run.frames = run.frames.wrapping_add(1);
                run.next += FRAME;
            }
            for (source, ts, payload) in frames {
                // Header fields other than the timestamp and payload type are the stream's.
                let pkt = RtpPacket { pt: self.cfg.browser_audio_pt, marker: false, seq: 0, ts, ssrc: 0, payload };
                self.send_to_browser(now, source, pkt, FRAME_SAMPLES);
            }
        }
        if self.inactivity_deadline().is_some_and(|deadline| deadline <= now) {
            self.timed_out = true;
            self.outputs.push_back(Output::MediaTimeout);
        }
    }

    /// When [`Relay::handle_timeout`] is next due: the next ringback frame or the inactivity
    /// deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ringback = self.ringback.as_ref().map(|run| run.next);
        [ringback, self.inactivity_deadline()].into_iter().flatten().min()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// Armed after the answer while the carrier's SDP says it sends; suspended on hold.
    fn inactivity_deadline(&self) -> Option<Instant> {
        let expecting = self.answered && !self.timed_out && self.carrier.as_ref().is_some_and(|c| c.direction.sends());
        expecting.then(|| self.media_seen + self.cfg.inactivity)
    }

    fn restart_inactivity(&mut self, now: Instant) {
        self.media_seen = now;
        self.timed_out = false;
    }

    fn send_to_browser(&mut self, now: Instant, source: Source, pkt: RtpPacket, samples: usize) {
        let out = self.to_browser.rewrite(now, source, pkt, samples);
        self.stats.to_browser += 1;
        self.outputs.push_back(Output::ToBrowser(out));
    }
}

/// Where a direction's packets come from: an SSRC of the other leg, or a ringback run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Ssrc(u32),
    Ringback(u32),
}

/// One direction's output: one SSRC, sequence numbers without gaps, timestamps continued
/// across input sources.
#[derive(Debug)]
struct Stream {
    ssrc: u32,
    next_seq: u16,
    last: Option<Sent>,
}

/// The last packet sent.
#[derive(Debug)]
struct Sent {
    source: Source,
    /// Input to output timestamp offset for `source`.
    offset: u32,
    ts: u32,
    /// Its audio length in samples (0 for telephone-event).
    samples: u32,
    at: Instant,
}

impl Stream {
    fn new(ssrc: u32, first_seq: u16) -> Stream {
        Stream { ssrc, next_seq: first_seq, last: None }
    }

    /// `pkt` (of `source`, `samples` long) as the next packet of this stream: its SSRC, the
    /// next sequence number, the timestamp moved by the source's offset, and the marker bit
    /// also set on a new source.
    fn rewrite(&mut self, now: Instant, source: Source, pkt: RtpPacket, samples: usize) -> RtpPacket {
        let (offset, switched) = match &self.last {
            Some(last) if last.source == source => (last.offset, false),
            Some(last) => {
                // Continue after the wall time since the last packet, and never inside it.
                let elapsed = clock_units(now.saturating_duration_since(last.at));
                let next = last.ts.wrapping_add(elapsed.max(last.samples));
                (next.wrapping_sub(pkt.ts), true)
            }
            // The first source keeps its timestamps.
            None => (0, true),
        };
        let ts = pkt.ts.wrapping_add(offset);
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        // G.711 payloads are at most a datagram long: the cast cannot truncate.
        self.last = Some(Sent { source, offset, ts, samples: samples as u32, at: now });
        RtpPacket { marker: pkt.marker || switched, seq, ts, ssrc: self.ssrc, ..pkt }
    }
}

/// A duration in 8 kHz timestamp units, wrapping like RTP timestamps do (after ~6 days).
fn clock_units(d: Duration) -> u32 {
    (d.as_micros() * 8 / 1000) as u32
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fmt::Write as _;

    use expect_test::{Expect, expect};

    use super::*;
    use crate::g711::Codec;
    use crate::tone::Cadence;

    const SDP_ADDR: &str = "198.51.100.7:20000";
    /// Where the carrier's media really comes from (behind NAT, or another media server).
    const NAT_ADDR: &str = "198.51.100.9:31000";
    const OTHER_ADDR: &str = "203.0.113.66:5060";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config() -> RelayConfig {
        RelayConfig {
            ssrc_to_browser: 0xB0B0,
            ssrc_to_carrier: 0xCACA,
            seq_to_browser: 1000,
            seq_to_carrier: 65534,
            browser_audio_pt: 0,
            browser_te_pt: Some(126),
            inactivity: DEFAULT_INACTIVITY,
        }
    }

    fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, len: usize) -> RtpPacket {
        RtpPacket { pt, marker: false, seq, ts, ssrc, payload: vec![0xFF; len] }
    }

    fn render_packet(p: &RtpPacket) -> String {
        let marker = if p.marker { " M" } else { "" };
        format!("pt {} seq {} ts {} ssrc {:#x} len {}{marker}", p.pt, p.seq, p.ts, p.ssrc, p.payload.len())
    }

    /// A relay on a virtual clock. Inputs and outputs go to `trace` as they happen; every
    /// output stream is checked for one SSRC and sequence numbers without gaps.
    struct Sim {
        relay: Relay,
        start: Instant,
        now: Instant,
        trace: String,
        /// The last sequence number sent, per output SSRC.
        last_seq: HashMap<u32, u16>,
    }

    impl Sim {
        fn new() -> Sim {
            Sim::with(config())
        }

        fn with(cfg: RelayConfig) -> Sim {
            // The only clock reading: everything after is `start + Duration`.
            let start = Instant::now();
            Sim { relay: Relay::new(cfg, start), start, now: start, trace: String::new(), last_seq: HashMap::new() }
        }

        fn log(&mut self, line: &str) {
            let at = self.now.duration_since(self.start).as_millis();
            writeln!(self.trace, "@{at}ms {line}").unwrap();
        }

        /// Moves the clock to `at` (since the start), firing every deadline on the way at its
        /// own time.
        fn advance_to(&mut self, at: Duration) {
            let target = self.start + at;
            while let Some(deadline) = self.relay.poll_timeout().filter(|&d| d <= target) {
                self.now = self.now.max(deadline);
                self.log("timeout");
                self.relay.handle_timeout(self.now);
                self.drain();
            }
            self.now = target;
        }

        /// Moves the clock to `at` and wakes the relay only then, as a late shell would.
        fn wake_late(&mut self, at: Duration) {
            self.now = self.start + at;
            self.log("timeout (late)");
            self.relay.handle_timeout(self.now);
            self.drain();
        }

        fn set_carrier(&mut self, remote: &str, audio_pt: u8, te_pt: Option<u8>, direction: Direction) {
            let te = te_pt.map_or("-".to_owned(), |pt| pt.to_string());
            self.log(&format!("set_carrier {remote} audio {audio_pt} te {te} {direction}"));
            self.relay.set_carrier(self.now, addr(remote), audio_pt, te_pt, direction);
            self.drain();
        }

        fn answer(&mut self) {
            self.log("answered");
            self.relay.set_answered(self.now);
            self.drain();
        }

        fn ringback(&mut self) {
            self.log("start_ringback");
            self.relay.start_ringback(self.now, Ringback::new(Codec::Pcmu, Cadence::Europe));
            self.drain();
        }

        fn browser(&mut self, pkt: RtpPacket) {
            self.log(&format!("browser: {}", render_packet(&pkt)));
            self.relay.from_browser(self.now, pkt);
            self.drain();
        }

        fn carrier(&mut self, src: &str, pkt: RtpPacket) {
            self.carrier_bytes(src, &pkt.to_bytes(), &render_packet(&pkt));
        }

        fn carrier_bytes(&mut self, src: &str, data: &[u8], shown: &str) {
            self.log(&format!("carrier {src}: {shown}"));
            self.relay.from_carrier(self.now, addr(src), data);
            self.drain();
        }

        fn drain(&mut self) {
            while let Some(output) = self.relay.poll_output() {
                let line = match &output {
                    Output::ToBrowser(p) => {
                        self.check_seq(p.ssrc, p.seq);
                        format!("  -> browser: {}", render_packet(p))
                    }
                    Output::ToCarrier { to, data } => {
                        let p = RtpPacket::parse(data).unwrap();
                        self.check_seq(p.ssrc, p.seq);
                        format!("  -> carrier {to}: {}", render_packet(&p))
                    }
                    Output::MediaTimeout => "  -> media timeout".to_owned(),
                };
                self.trace.push_str(&line);
                self.trace.push('\n');
            }
        }

        fn check_seq(&mut self, ssrc: u32, seq: u16) {
            let cfg = &self.relay.cfg;
            assert!([cfg.ssrc_to_browser, cfg.ssrc_to_carrier].contains(&ssrc), "foreign SSRC {ssrc:#x}");
            if let Some(last) = self.last_seq.insert(ssrc, seq) {
                assert_eq!(seq, last.wrapping_add(1), "gap in seq for {ssrc:#x}");
            }
        }

        /// The trace since the last check, then the stats.
        #[track_caller]
        fn check(&mut self, expect: Expect) {
            let s = self.relay.stats();
            let stats = [
                ("to_browser", s.to_browser),
                ("to_carrier", s.to_carrier),
                ("wrong_source", s.dropped_wrong_source),
                ("unknown_pt", s.dropped_unknown_pt),
                ("malformed", s.dropped_malformed),
                ("no_destination", s.dropped_no_destination),
                ("on_hold", s.dropped_on_hold),
                ("events_to_carrier", s.telephone_events_to_carrier),
            ];
            let stats: Vec<String> =
                stats.iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name}={n}")).collect();
            let next = match self.relay.poll_timeout() {
                Some(t) => format!("@{}ms", t.duration_since(self.start).as_millis()),
                None => "none".to_owned(),
            };
            writeln!(self.trace, "stats: {}", stats.join(" ")).unwrap();
            writeln!(self.trace, "next timeout: {next}").unwrap();
            expect.assert_eq(&std::mem::take(&mut self.trace));
        }
    }

    #[test]
    fn ringback_then_carrier_audio_continues_seq_and_ts() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.ringback();
        sim.advance_to(ms(50));
        // Early media: 10 ms after the last frame, so the stream goes on one frame later.
        sim.carrier(SDP_ADDR, rtp(0, 40000, 3_000_000, 0x5EED, 160));
        sim.advance_to(ms(70));
        sim.carrier(SDP_ADDR, rtp(0, 40001, 3_000_160, 0x5EED, 160));
        sim.advance_to(ms(200));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @0ms start_ringback
            @0ms timeout
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @20ms timeout
              -> browser: pt 0 seq 1001 ts 160 ssrc 0xb0b0 len 160
            @40ms timeout
              -> browser: pt 0 seq 1002 ts 320 ssrc 0xb0b0 len 160
            @50ms carrier 198.51.100.7:20000: pt 0 seq 40000 ts 3000000 ssrc 0x5eed len 160
              -> browser: pt 0 seq 1003 ts 480 ssrc 0xb0b0 len 160 M
            @70ms carrier 198.51.100.7:20000: pt 0 seq 40001 ts 3000160 ssrc 0x5eed len 160
              -> browser: pt 0 seq 1004 ts 640 ssrc 0xb0b0 len 160
            stats: to_browser=5
            next timeout: none
        "#]]);
    }

    #[test]
    fn carrier_ssrc_change_continues_after_the_wall_time() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendRecv);
        sim.answer();
        sim.carrier(SDP_ADDR, rtp(0, 7, 80_000, 0xAAAA, 160));
        sim.advance_to(ms(20));
        sim.carrier(SDP_ADDR, rtp(0, 8, 80_160, 0xAAAA, 160));
        // The media server changes after 20 ms: +160.
        sim.advance_to(ms(40));
        sim.carrier(SDP_ADDR, rtp(0, 30_000, 12_345, 0xBBBB, 160));
        sim.advance_to(ms(60));
        sim.carrier(SDP_ADDR, rtp(0, 30_001, 12_505, 0xBBBB, 160));
        // And again after a second of silence: +8000.
        sim.advance_to(ms(1060));
        sim.carrier(SDP_ADDR, rtp(0, 1, 4_294_967_200, 0xCCCC, 160));
        sim.advance_to(ms(1080));
        sim.carrier(SDP_ADDR, rtp(0, 2, 64, 0xCCCC, 160));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendrecv
            @0ms answered
            @0ms carrier 198.51.100.7:20000: pt 0 seq 7 ts 80000 ssrc 0xaaaa len 160
              -> browser: pt 0 seq 1000 ts 80000 ssrc 0xb0b0 len 160 M
            @20ms carrier 198.51.100.7:20000: pt 0 seq 8 ts 80160 ssrc 0xaaaa len 160
              -> browser: pt 0 seq 1001 ts 80160 ssrc 0xb0b0 len 160
            @40ms carrier 198.51.100.7:20000: pt 0 seq 30000 ts 12345 ssrc 0xbbbb len 160
              -> browser: pt 0 seq 1002 ts 80320 ssrc 0xb0b0 len 160 M
            @60ms carrier 198.51.100.7:20000: pt 0 seq 30001 ts 12505 ssrc 0xbbbb len 160
              -> browser: pt 0 seq 1003 ts 80480 ssrc 0xb0b0 len 160
            @1060ms carrier 198.51.100.7:20000: pt 0 seq 1 ts 4294967200 ssrc 0xcccc len 160
              -> browser: pt 0 seq 1004 ts 88480 ssrc 0xb0b0 len 160 M
            @1080ms carrier 198.51.100.7:20000: pt 0 seq 2 ts 64 ssrc 0xcccc len 160
              -> browser: pt 0 seq 1005 ts 88640 ssrc 0xb0b0 len 160
            stats: to_browser=6
            next timeout: @31080ms
        "#]]);
    }

    #[test]
    fn browser_stream_keeps_its_timestamps_until_it_changes() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.browser(rtp(0, 500, 1_000, 0x1111, 160));
        sim.advance_to(ms(20));
        sim.browser(RtpPacket { marker: true, ..rtp(0, 501, 1_160, 0x1111, 160) });
        // A new browser SSRC (renegotiation) 5 ms later: never inside the last packet.
        sim.advance_to(ms(25));
        sim.browser(rtp(0, 9, 777_777, 0x2222, 160));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @0ms browser: pt 0 seq 500 ts 1000 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 65534 ts 1000 ssrc 0xcaca len 160 M
            @20ms browser: pt 0 seq 501 ts 1160 ssrc 0x1111 len 160 M
              -> carrier 198.51.100.7:20000: pt 0 seq 65535 ts 1160 ssrc 0xcaca len 160 M
            @25ms browser: pt 0 seq 9 ts 777777 ssrc 0x2222 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 0 ts 1320 ssrc 0xcaca len 160 M
            stats: to_carrier=3
            next timeout: none
        "#]]);
    }

    #[test]
    fn telephone_events_are_mapped_both_ways() {
        let mut sim = Sim::with(RelayConfig { browser_audio_pt: 8, ..config() });
        sim.set_carrier(SDP_ADDR, 8, Some(101), Direction::SendRecv);
        // One RFC 4733 event from the browser: same timestamp, marker on the first.
        sim.browser(rtp(8, 1, 160, 0x1111, 160));
        sim.advance_to(ms(20));
        sim.browser(RtpPacket { marker: true, ..rtp(126, 2, 320, 0x1111, 4) });
        sim.advance_to(ms(70));
        sim.browser(rtp(126, 3, 320, 0x1111, 4));
        sim.advance_to(ms(120));
        sim.browser(rtp(126, 4, 320, 0x1111, 4));
        // And one from the carrier.
        sim.carrier(SDP_ADDR, rtp(8, 50, 9_000, 0x7777, 160));
        sim.carrier(SDP_ADDR, RtpPacket { marker: true, ..rtp(101, 51, 9_160, 0x7777, 4) });
        // Anything else is dropped: CN, G.729, PCMU when PCMA was negotiated.
        sim.carrier(SDP_ADDR, rtp(13, 52, 9_320, 0x7777, 1));
        sim.carrier(SDP_ADDR, rtp(0, 53, 9_320, 0x7777, 160));
        sim.browser(rtp(18, 5, 480, 0x1111, 20));
        sim.browser(rtp(0, 6, 480, 0x1111, 160));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 8 te 101 sendrecv
            @0ms browser: pt 8 seq 1 ts 160 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 8 seq 65534 ts 160 ssrc 0xcaca len 160 M
            @20ms browser: pt 126 seq 2 ts 320 ssrc 0x1111 len 4 M
              -> carrier 198.51.100.7:20000: pt 101 seq 65535 ts 320 ssrc 0xcaca len 4 M
            @70ms browser: pt 126 seq 3 ts 320 ssrc 0x1111 len 4
              -> carrier 198.51.100.7:20000: pt 101 seq 0 ts 320 ssrc 0xcaca len 4
            @120ms browser: pt 126 seq 4 ts 320 ssrc 0x1111 len 4
              -> carrier 198.51.100.7:20000: pt 101 seq 1 ts 320 ssrc 0xcaca len 4
            @120ms carrier 198.51.100.7:20000: pt 8 seq 50 ts 9000 ssrc 0x7777 len 160
              -> browser: pt 8 seq 1000 ts 9000 ssrc 0xb0b0 len 160 M
            @120ms carrier 198.51.100.7:20000: pt 101 seq 51 ts 9160 ssrc 0x7777 len 4 M
              -> browser: pt 126 seq 1001 ts 9160 ssrc 0xb0b0 len 4 M
            @120ms carrier 198.51.100.7:20000: pt 13 seq 52 ts 9320 ssrc 0x7777 len 1
            @120ms carrier 198.51.100.7:20000: pt 0 seq 53 ts 9320 ssrc 0x7777 len 160
            @120ms browser: pt 18 seq 5 ts 480 ssrc 0x1111 len 20
            @120ms browser: pt 0 seq 6 ts 480 ssrc 0x1111 len 160
            stats: to_browser=2 to_carrier=4 unknown_pt=4 events_to_carrier=3
            next timeout: none
        "#]]);
    }

    #[test]
    fn a_dynamic_audio_pt_is_mapped() {
        // A carrier may put PCMU on a dynamic PT; the browser has it on 0.
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 100, Some(101), Direction::SendRecv);
        sim.browser(rtp(0, 1, 0, 0x1111, 160));
        sim.carrier(SDP_ADDR, rtp(100, 1, 0, 0x7777, 160));
        sim.carrier(SDP_ADDR, rtp(0, 2, 160, 0x7777, 160));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 100 te 101 sendrecv
            @0ms browser: pt 0 seq 1 ts 0 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 100 seq 65534 ts 0 ssrc 0xcaca len 160 M
            @0ms carrier 198.51.100.7:20000: pt 100 seq 1 ts 0 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @0ms carrier 198.51.100.7:20000: pt 0 seq 2 ts 160 ssrc 0x7777 len 160
            stats: to_browser=1 to_carrier=1 unknown_pt=1
            next timeout: none
        "#]]);
    }

    #[test]
    fn browser_pts_can_be_set_after_negotiation() {
        let mut sim = Sim::with(RelayConfig { browser_te_pt: None, ..config() });
        sim.set_carrier(SDP_ADDR, 8, Some(101), Direction::SendRecv);
        sim.log("set_browser_pts audio 8 te 110");
        sim.relay.set_browser_pts(8, Some(110));
        assert_eq!(sim.relay.browser_audio_pt(), 8);
        sim.browser(rtp(8, 1, 0, 0x1111, 160));
        sim.browser(rtp(110, 2, 160, 0x1111, 4));
        sim.carrier(SDP_ADDR, rtp(101, 1, 0, 0x7777, 4));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 8 te 101 sendrecv
            @0ms set_browser_pts audio 8 te 110
            @0ms browser: pt 8 seq 1 ts 0 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 8 seq 65534 ts 0 ssrc 0xcaca len 160 M
            @0ms browser: pt 110 seq 2 ts 160 ssrc 0x1111 len 4
              -> carrier 198.51.100.7:20000: pt 101 seq 65535 ts 160 ssrc 0xcaca len 4
            @0ms carrier 198.51.100.7:20000: pt 101 seq 1 ts 0 ssrc 0x7777 len 4
              -> browser: pt 110 seq 1000 ts 0 ssrc 0xb0b0 len 4 M
            stats: to_browser=1 to_carrier=2 events_to_carrier=1
            next timeout: none
        "#]]);
    }

    #[test]
    fn telephone_events_without_a_pt_on_the_other_leg_are_dropped() {
        let mut sim = Sim::with(RelayConfig { browser_te_pt: None, ..config() });
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendRecv);
        sim.browser(rtp(126, 1, 0, 0x1111, 4));
        sim.browser(rtp(101, 2, 0, 0x1111, 4));
        sim.carrier(SDP_ADDR, rtp(101, 1, 0, 0x7777, 4));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendrecv
            @0ms browser: pt 126 seq 1 ts 0 ssrc 0x1111 len 4
            @0ms browser: pt 101 seq 2 ts 0 ssrc 0x1111 len 4
            @0ms carrier 198.51.100.7:20000: pt 101 seq 1 ts 0 ssrc 0x7777 len 4
            stats: unknown_pt=3
            next timeout: none
        "#]]);
    }

    #[test]
    fn latches_on_the_first_valid_packet() {
        let mut sim = Sim::new();
        sim.browser(rtp(0, 1, 0, 0x1111, 160));
        sim.carrier(NAT_ADDR, rtp(0, 1, 0, 0x7777, 160));
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.browser(rtp(0, 2, 160, 0x1111, 160));
        // Neither garbage nor RTCP nor an unknown PT latches.
        sim.carrier_bytes(OTHER_ADDR, b"\x00garbage\x00\x00\x00\x00", "garbage");
        sim.carrier_bytes(OTHER_ADDR, &[0x80, 200, 0, 6, 0, 0, 0, 1], "RTCP SR");
        sim.carrier(OTHER_ADDR, rtp(13, 1, 0, 0x6666, 1));
        sim.browser(rtp(0, 3, 320, 0x1111, 160));
        sim.carrier(NAT_ADDR, rtp(0, 2, 160, 0x7777, 160));
        sim.browser(rtp(0, 4, 480, 0x1111, 160));
        // Latched: only NAT_ADDR is heard; its RTCP is ignored, its garbage counted.
        sim.carrier(SDP_ADDR, rtp(0, 3, 320, 0x7777, 160));
        sim.carrier(OTHER_ADDR, rtp(0, 1, 0, 0x6666, 160));
        sim.carrier_bytes(NAT_ADDR, &[0x81, 201, 0, 1, 0, 0, 0, 1], "RTCP RR");
        sim.carrier_bytes(NAT_ADDR, &[0x80, 0, 0, 4], "truncated");
        sim.carrier(NAT_ADDR, rtp(0, 3, 320, 0x7777, 160));
        sim.check(expect![[r#"
            @0ms browser: pt 0 seq 1 ts 0 ssrc 0x1111 len 160
            @0ms carrier 198.51.100.9:31000: pt 0 seq 1 ts 0 ssrc 0x7777 len 160
            @0ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @0ms browser: pt 0 seq 2 ts 160 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 65534 ts 160 ssrc 0xcaca len 160 M
            @0ms carrier 203.0.113.66:5060: garbage
            @0ms carrier 203.0.113.66:5060: RTCP SR
            @0ms carrier 203.0.113.66:5060: pt 13 seq 1 ts 0 ssrc 0x6666 len 1
            @0ms browser: pt 0 seq 3 ts 320 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 65535 ts 320 ssrc 0xcaca len 160
            @0ms carrier 198.51.100.9:31000: pt 0 seq 2 ts 160 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1000 ts 160 ssrc 0xb0b0 len 160 M
            @0ms browser: pt 0 seq 4 ts 480 ssrc 0x1111 len 160
              -> carrier 198.51.100.9:31000: pt 0 seq 0 ts 480 ssrc 0xcaca len 160
            @0ms carrier 198.51.100.7:20000: pt 0 seq 3 ts 320 ssrc 0x7777 len 160
            @0ms carrier 203.0.113.66:5060: pt 0 seq 1 ts 0 ssrc 0x6666 len 160
            @0ms carrier 198.51.100.9:31000: RTCP RR
            @0ms carrier 198.51.100.9:31000: truncated
            @0ms carrier 198.51.100.9:31000: pt 0 seq 3 ts 320 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1001 ts 320 ssrc 0xb0b0 len 160
            stats: to_browser=2 to_carrier=3 wrong_source=3 unknown_pt=1 malformed=2 no_destination=1
            next timeout: none
        "#]]);
    }

    #[test]
    fn new_sdp_address_unlatches() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.carrier(NAT_ADDR, rtp(0, 1, 0, 0x7777, 160));
        // The same address again (a re-INVITE for something else): still latched.
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.browser(rtp(0, 1, 0, 0x1111, 160));
        sim.carrier(OTHER_ADDR, rtp(0, 1, 0, 0x6666, 160));
        // A new address: send there until the first packet, then to wherever that came from.
        sim.set_carrier(OTHER_ADDR, 0, Some(101), Direction::SendRecv);
        sim.browser(rtp(0, 2, 160, 0x1111, 160));
        sim.carrier(NAT_ADDR, rtp(0, 2, 160, 0x7777, 160));
        sim.browser(rtp(0, 3, 320, 0x1111, 160));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @0ms carrier 198.51.100.9:31000: pt 0 seq 1 ts 0 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @0ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @0ms browser: pt 0 seq 1 ts 0 ssrc 0x1111 len 160
              -> carrier 198.51.100.9:31000: pt 0 seq 65534 ts 0 ssrc 0xcaca len 160 M
            @0ms carrier 203.0.113.66:5060: pt 0 seq 1 ts 0 ssrc 0x6666 len 160
            @0ms set_carrier 203.0.113.66:5060 audio 0 te 101 sendrecv
            @0ms browser: pt 0 seq 2 ts 160 ssrc 0x1111 len 160
              -> carrier 203.0.113.66:5060: pt 0 seq 65535 ts 160 ssrc 0xcaca len 160
            @0ms carrier 198.51.100.9:31000: pt 0 seq 2 ts 160 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1001 ts 160 ssrc 0xb0b0 len 160
            @0ms browser: pt 0 seq 3 ts 320 ssrc 0x1111 len 160
              -> carrier 198.51.100.9:31000: pt 0 seq 0 ts 320 ssrc 0xcaca len 160
            stats: to_browser=2 to_carrier=3 wrong_source=1
            next timeout: none
        "#]]);
    }

    #[test]
    fn ringback_runs_until_stopped_and_restarts_as_a_new_source() {
        let mut sim = Sim::new();
        // No carrier yet: ringback needs none.
        sim.ringback();
        sim.advance_to(ms(45));
        sim.log("stop_ringback");
        sim.relay.stop_ringback();
        sim.advance_to(ms(500));
        sim.ringback();
        sim.advance_to(ms(530));
        sim.check(expect![[r#"
            @0ms start_ringback
            @0ms timeout
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @20ms timeout
              -> browser: pt 0 seq 1001 ts 160 ssrc 0xb0b0 len 160
            @40ms timeout
              -> browser: pt 0 seq 1002 ts 320 ssrc 0xb0b0 len 160
            @45ms stop_ringback
            @500ms start_ringback
            @500ms timeout
              -> browser: pt 0 seq 1003 ts 4000 ssrc 0xb0b0 len 160 M
            @520ms timeout
              -> browser: pt 0 seq 1004 ts 4160 ssrc 0xb0b0 len 160
            stats: to_browser=5
            next timeout: @540ms
        "#]]);
    }

    #[test]
    fn ringback_catches_up_at_most_three_frames() {
        let mut sim = Sim::new();
        sim.ringback();
        sim.advance_to(ms(0));
        // The shell slept 150 ms: the frames due at 20..=80 ms are skipped, 100..=140 ms sent.
        sim.wake_late(ms(150));
        sim.advance_to(ms(160));
        sim.check(expect![[r#"
            @0ms start_ringback
            @0ms timeout
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @150ms timeout (late)
              -> browser: pt 0 seq 1001 ts 800 ssrc 0xb0b0 len 160
              -> browser: pt 0 seq 1002 ts 960 ssrc 0xb0b0 len 160
              -> browser: pt 0 seq 1003 ts 1120 ssrc 0xb0b0 len 160
            @160ms timeout
              -> browser: pt 0 seq 1004 ts 1280 ssrc 0xb0b0 len 160
            stats: to_browser=5
            next timeout: @180ms
        "#]]);
    }

    #[test]
    fn answer_stops_ringback() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendRecv);
        sim.ringback();
        sim.advance_to(ms(20));
        sim.answer();
        sim.advance_to(ms(100));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendrecv
            @0ms start_ringback
            @0ms timeout
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @20ms timeout
              -> browser: pt 0 seq 1001 ts 160 ssrc 0xb0b0 len 160
            @20ms answered
            stats: to_browser=2
            next timeout: @30020ms
        "#]]);
    }

    #[test]
    fn ringback_frames_are_the_tone() {
        let mut sim = Sim::new();
        sim.relay.start_ringback(sim.now, Ringback::new(Codec::Pcmu, Cadence::Europe));
        sim.relay.handle_timeout(sim.now);
        let mut tone = Ringback::new(Codec::Pcmu, Cadence::Europe);
        match sim.relay.poll_output() {
            Some(Output::ToBrowser(p)) => assert_eq!(p.payload, tone.next_frame()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inactivity_fires_once_per_silence() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendRecv);
        // Not before the answer.
        sim.advance_to(Duration::from_secs(40));
        sim.answer();
        sim.advance_to(Duration::from_secs(50));
        sim.carrier(SDP_ADDR, rtp(0, 1, 0, 0x7777, 160));
        sim.advance_to(Duration::from_secs(200));
        // Media again re-arms it. So does comfort noise, which is not forwarded.
        sim.carrier(SDP_ADDR, rtp(0, 2, 160, 0x7777, 160));
        sim.advance_to(Duration::from_secs(220));
        sim.carrier(SDP_ADDR, rtp(13, 3, 320, 0x7777, 1));
        sim.advance_to(Duration::from_secs(300));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendrecv
            @40000ms answered
            @50000ms carrier 198.51.100.7:20000: pt 0 seq 1 ts 0 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @80000ms timeout
              -> media timeout
            @200000ms carrier 198.51.100.7:20000: pt 0 seq 2 ts 160 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1001 ts 160 ssrc 0xb0b0 len 160
            @220000ms carrier 198.51.100.7:20000: pt 13 seq 3 ts 320 ssrc 0x7777 len 1
            @250000ms timeout
              -> media timeout
            stats: to_browser=2 unknown_pt=1
            next timeout: none
        "#]]);
    }

    #[test]
    fn a_sendonly_carrier_is_expected_to_send() {
        // Music on hold that never comes is a dead path too.
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendOnly);
        sim.answer();
        sim.advance_to(Duration::from_secs(31));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendonly
            @0ms answered
            @30000ms timeout
              -> media timeout
            stats: 
            next timeout: none
        "#]]);
    }

    #[test]
    fn packets_from_elsewhere_do_not_keep_the_call_alive() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendRecv);
        sim.answer();
        sim.carrier(NAT_ADDR, rtp(0, 1, 0, 0x7777, 160));
        sim.advance_to(Duration::from_secs(20));
        sim.carrier(OTHER_ADDR, rtp(0, 1, 0, 0x6666, 160));
        sim.carrier_bytes(NAT_ADDR, &[0x80, 200, 0, 6, 0, 0, 0, 1], "RTCP SR");
        sim.carrier_bytes(NAT_ADDR, &[0x80], "truncated");
        sim.advance_to(Duration::from_secs(31));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendrecv
            @0ms answered
            @0ms carrier 198.51.100.9:31000: pt 0 seq 1 ts 0 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @20000ms carrier 203.0.113.66:5060: pt 0 seq 1 ts 0 ssrc 0x6666 len 160
            @20000ms carrier 198.51.100.9:31000: RTCP SR
            @20000ms carrier 198.51.100.9:31000: truncated
            @30000ms timeout
              -> media timeout
            stats: to_browser=1 wrong_source=1 malformed=1
            next timeout: none
        "#]]);
    }

    #[test]
    fn hold_suspends_inactivity_and_media_to_the_carrier() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.answer();
        sim.carrier(SDP_ADDR, rtp(0, 1, 0, 0x7777, 160));
        sim.advance_to(Duration::from_secs(10));
        // Hold with music: they send, we must not; the timer still runs.
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendOnly);
        sim.browser(rtp(0, 1, 0, 0x1111, 160));
        sim.browser(rtp(126, 2, 0, 0x1111, 4));
        sim.advance_to(Duration::from_secs(20));
        // Hold, RFC 3264 style, then RFC 2543 style (c=0.0.0.0, which the SDP reads as inactive):
        // nothing expected either way.
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::Inactive);
        sim.advance_to(Duration::from_secs(100));
        sim.set_carrier("0.0.0.0:20000", 0, Some(101), Direction::Inactive);
        sim.browser(rtp(0, 3, 160, 0x1111, 160));
        sim.advance_to(Duration::from_secs(200));
        // They hold us the other way (recvonly): we send, they don't.
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::RecvOnly);
        sim.browser(rtp(0, 4, 320, 0x1111, 160));
        sim.advance_to(Duration::from_secs(300));
        // Resumed: a full window from the re-INVITE.
        sim.set_carrier(SDP_ADDR, 0, Some(101), Direction::SendRecv);
        sim.advance_to(Duration::from_secs(400));
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @0ms answered
            @0ms carrier 198.51.100.7:20000: pt 0 seq 1 ts 0 ssrc 0x7777 len 160
              -> browser: pt 0 seq 1000 ts 0 ssrc 0xb0b0 len 160 M
            @10000ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendonly
            @10000ms browser: pt 0 seq 1 ts 0 ssrc 0x1111 len 160
            @10000ms browser: pt 126 seq 2 ts 0 ssrc 0x1111 len 4
            @20000ms set_carrier 198.51.100.7:20000 audio 0 te 101 inactive
            @100000ms set_carrier 0.0.0.0:20000 audio 0 te 101 inactive
            @100000ms browser: pt 0 seq 3 ts 160 ssrc 0x1111 len 160
            @200000ms set_carrier 198.51.100.7:20000 audio 0 te 101 recvonly
            @200000ms browser: pt 0 seq 4 ts 320 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 65534 ts 320 ssrc 0xcaca len 160 M
            @300000ms set_carrier 198.51.100.7:20000 audio 0 te 101 sendrecv
            @330000ms timeout
              -> media timeout
            stats: to_browser=1 to_carrier=1 on_hold=3
            next timeout: none
        "#]]);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut sim = Sim::new();
        sim.set_carrier(SDP_ADDR, 0, None, Direction::SendRecv);
        for i in 0..4u16 {
            sim.advance_to(ms(20 * u64::from(i)));
            sim.browser(rtp(0, i, 160 * u32::from(i), 0x1111, 160));
        }
        sim.check(expect![[r#"
            @0ms set_carrier 198.51.100.7:20000 audio 0 te - sendrecv
            @0ms browser: pt 0 seq 0 ts 0 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 65534 ts 0 ssrc 0xcaca len 160 M
            @20ms browser: pt 0 seq 1 ts 160 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 65535 ts 160 ssrc 0xcaca len 160
            @40ms browser: pt 0 seq 2 ts 320 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 0 ts 320 ssrc 0xcaca len 160
            @60ms browser: pt 0 seq 3 ts 480 ssrc 0x1111 len 160
              -> carrier 198.51.100.7:20000: pt 0 seq 1 ts 480 ssrc 0xcaca len 160
            stats: to_carrier=4
            next timeout: none
        "#]]);
    }
}
