//! One fake browser: a str0m `Rtc` as Chrome would be (full ICE, controlling, the offerer) on its
//! own loopback UDP socket. It offers PCMU (and telephone-event), dials through the gateway,
//! applies the gateway's answer, and once ICE and DTLS are up sends one 20 ms PCMU frame every
//! 20 ms until the media phase ends, while it measures the echo that comes back.
//!
//! Each frame's payload is a probe: the send time, a magic number, the call's index and the
//! frame's counter, then silence. Ringback (or anything else) is told apart by the magic.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use protocol::gateway::{Command, Dial, DialRoute, EndReason, Event, Failover, Trunk};
use str0m::change::SdpAnswer;
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::{Candidate, Event as RtcEvent, IceConnectionState, Input, Output, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::{Interval, MissedTickBehavior};

use crate::stats::Histogram;

const FRAME: Duration = Duration::from_millis(20);
const FRAME_BYTES: usize = 160;
const MAGIC: u32 = 0x504c_4f44; // "PLOD"
const PCMU_SILENCE: u8 = 0xff;

/// What every call task shares.
pub struct Shared {
    /// Send times are nanoseconds since this instant.
    pub epoch: Instant,
    pub commands: mpsc::UnboundedSender<Command>,
    pub trunk: Trunk,
    pub rtt: Histogram,
    /// How late each frame was sent against its 20 ms schedule (the tool's own lag).
    pub send_late: Histogram,
    /// The fake browsers' local ports (to tell their sockets apart in the kernel's drop counts).
    pub ports: Mutex<HashSet<u16>>,
    /// Calls that have their first echo, or have failed: the setup phase ends when all have.
    pub settled: AtomicUsize,
}

/// Where the run is; the controller moves it forward for every call at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Dialing and connecting; connected calls already send.
    Setup,
    /// Every call sends until `end`.
    Media { end: Instant },
    /// Hang-ups have been sent; a call is done at its `Ended` or at `deadline`.
    Teardown { deadline: Instant },
}

#[derive(Debug, Default)]
pub struct CallResult {
    pub dial_to_media: Option<Duration>,
    pub dial_to_answered: Option<Duration>,
    pub dial_to_connected: Option<Duration>,
    /// Dial → the first echoed probe: the setup time.
    pub dial_to_first_echo: Option<Duration>,
    /// When the first echo came back (to tell calls up before the media phase from late ones).
    pub first_echo_at: Option<Instant>,
    pub ended: Option<(EndReason, Option<u16>)>,
    /// `Ended` came before we hung up.
    pub ended_early: bool,
    pub error: Option<String>,

    /// Frames sent in all, and the counter of the first frame that came back.
    pub sent: u64,
    pub first_echo_counter: Option<u64>,
    /// Distinct probes of this call back from the echo, counted from the first one.
    pub echoed: u64,
    pub duplicates: u64,
    /// Probes that came back after a later one.
    pub reordered: u64,
    /// Probes of another call (the relay crossed streams): must stay 0.
    pub misrouted: u64,
    /// RTP packets that were not our probes (ringback).
    pub other_packets: u64,
    /// The gateway→browser stream from the first echo on: the sequence numbers it spans and the
    /// packets that arrived, so gaps in its numbering count the losses on that last hop.
    pub down_expected: u64,
    pub down_received: u64,
    /// RFC 3550 interarrival jitter in ms: against the probes' send times (what the path adds)
    /// and against the RTP timestamps (includes the sender's own pacing).
    pub jitter_added_ms: f64,
    pub jitter_rtp_ms: f64,
    pub send_errors: u64,
}

impl CallResult {
    /// Frames sent from the first echoed one on, and how many of them did not come back.
    pub fn round_trip(&self) -> Option<(u64, u64)> {
        let first = self.first_echo_counter?;
        let sent = self.sent.saturating_sub(first);
        Some((sent, sent.saturating_sub(self.echoed)))
    }

    /// Losses on the gateway → browser hop (gaps in the gateway's sequence numbers).
    pub fn down_lost(&self) -> u64 {
        self.down_expected.saturating_sub(self.down_received)
    }
}

fn probe(epoch: Instant, call: u32, counter: u32) -> Vec<u8> {
    let mut p = vec![PCMU_SILENCE; FRAME_BYTES];
    let sent = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    p[0..8].copy_from_slice(&sent.to_be_bytes());
    p[8..12].copy_from_slice(&MAGIC.to_be_bytes());
    p[12..16].copy_from_slice(&call.to_be_bytes());
    p[16..20].copy_from_slice(&counter.to_be_bytes());
    p
}

/// (send time in ns since the epoch, call index, frame counter)
fn parse_probe(p: &[u8]) -> Option<(u64, u32, u32)> {
    let word = |r: std::ops::Range<usize>| p.get(r).and_then(|b| b.try_into().ok());
    if u32::from_be_bytes(word(8..12)?) != MAGIC {
        return None;
    }
    let sent = u64::from_be_bytes(p.get(0..8)?.try_into().ok()?);
    Some((sent, u32::from_be_bytes(word(12..16)?), u32::from_be_bytes(word(16..20)?)))
}

/// Receive-side bookkeeping of one call.
struct Receiver {
    idx: u32,
    dial_at: Instant,
    epoch: Instant,
    seen: Vec<u64>,
    max_counter: Option<u32>,
    first_seq: Option<u64>,
    max_seq: u64,
    last_added: Option<i64>,
    last_rtp: Option<(Instant, u32)>,
}

impl Receiver {
    fn on_rtp(&mut self, shared: &Shared, r: &mut CallResult, p: &RtpPacket) {
        let arrival = p.timestamp;
        let seq = *p.seq_no;
        if self.first_seq.is_some() {
            r.down_received += 1;
            self.max_seq = self.max_seq.max(seq);
        }
        let Some((sent_ns, call, counter)) = parse_probe(&p.payload) else {
            r.other_packets += 1;
            return;
        };
        if call != self.idx {
            r.misrouted += 1;
            return;
        }
        let first_counter = match r.first_echo_counter {
            Some(c) => c,
            None => {
                r.first_echo_counter = Some(u64::from(counter));
                r.dial_to_first_echo = Some(arrival.saturating_duration_since(self.dial_at));
                r.first_echo_at = Some(arrival);
                self.first_seq = Some(seq);
                self.max_seq = seq;
                r.down_received = 1;
                shared.settled.fetch_add(1, Ordering::Relaxed);
                u64::from(counter)
            }
        };
        let Some(offset) = u64::from(counter).checked_sub(first_counter) else { return };
        let (word, bit) = (usize::try_from(offset / 64).unwrap_or(usize::MAX), offset % 64);
        if word >= self.seen.len() {
            if word > 1 << 16 {
                return;
            }
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            r.duplicates += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        r.echoed += 1;
        if self.max_counter.is_some_and(|m| counter < m) {
            r.reordered += 1;
        }
        self.max_counter = Some(self.max_counter.map_or(counter, |m| m.max(counter)));

        let arrival_ns = i64::try_from(arrival.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(i64::MAX);
        let sent_ns = i64::try_from(sent_ns).unwrap_or(i64::MAX);
        shared.rtt.record(Duration::from_nanos(u64::try_from(arrival_ns - sent_ns).unwrap_or(0)));
        // RFC 3550 §6.4.1 / A.8: J += (|D| - J) / 16, in arrival order.
        let transit = arrival_ns - sent_ns;
        if let Some(prev) = self.last_added.replace(transit) {
            let d = (transit - prev).unsigned_abs() as f64 / 1e6;
            r.jitter_added_ms += (d - r.jitter_added_ms) / 16.0;
        }
        let ts = p.header.timestamp;
        if let Some((prev_at, prev_ts)) = self.last_rtp.replace((arrival, ts)) {
            let wall = arrival.saturating_duration_since(prev_at).as_secs_f64() * 1e3;
            let media = f64::from(ts.wrapping_sub(prev_ts).cast_signed()) / 8.0;
            let d = (wall - media).abs();
            r.jitter_rtp_ms += (d - r.jitter_rtp_ms) / 16.0;
        }
    }

    fn finish(&self, r: &mut CallResult) {
        if let Some(first) = self.first_seq {
            r.down_expected = self.max_seq - first + 1;
        }
    }
}

/// One call, start to end. Never fails: what went wrong is in the result.
pub async fn run(
    shared: Arc<Shared>,
    idx: u32,
    events: mpsc::UnboundedReceiver<Event>,
    phase: watch::Receiver<Phase>,
) -> CallResult {
    let mut r = CallResult::default();
    let outcome = drive(&shared, idx, events, phase, &mut r).await;
    if let Err(e) = outcome {
        r.error = Some(format!("{e:#}"));
    }
    if r.first_echo_counter.is_none() {
        shared.settled.fetch_add(1, Ordering::Relaxed);
    }
    r
}

async fn drive(
    shared: &Shared,
    idx: u32,
    mut events: mpsc::UnboundedReceiver<Event>,
    mut phase: watch::Receiver<Phase>,
    r: &mut CallResult,
) -> Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    shared.ports.lock().unwrap_or_else(|p| p.into_inner()).insert(local.port());
    let mut config = RtcConfig::new().set_rtp_mode(true).clear_codecs().enable_pcmu(true, false);
    config.codec_config().add_config(
        126.into(),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    let mut rtc = config.build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    let mut change = rtc.sdp_api();
    let mid: Mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().context("str0m made no offer")?;
    let mut pending = Some(pending);

    let dial_at = Instant::now();
    let call_id = format!("load-{idx}");
    shared
        .commands
        .send(Command::Dial(Dial {
            call_id,
            offer: offer.to_sdp_string(),
            caller_name: None,
            routes: vec![DialRoute {
                number: format!("1555{idx:07}"),
                caller_id: "15550100".into(),
                trunk: shared.trunk.clone(),
            }],
            failover: Failover::default(),
        }))
        .map_err(|_| anyhow!("the gateway's command channel is closed"))?;

    let mut rx = Receiver {
        idx,
        dial_at,
        epoch: shared.epoch,
        seen: Vec::new(),
        max_counter: None,
        first_seq: None,
        max_seq: 0,
        last_added: None,
        last_rtp: None,
    };
    let mut buf = vec![0u8; 2048];
    let mut rtc_deadline = Instant::now();
    let mut ticker: Option<Interval> = None;
    // A fresh sender's numbering, below 2^16 so the SRTP rollover counter starts at 0.
    let mut seq: u64 = u64::from(idx.wrapping_mul(7919) % 30_000);
    let mut ts: u32 = idx.wrapping_mul(104_729);
    let mut counter: u32 = 0;
    let mut current = *phase.borrow();
    let result = loop {
        let send_end = match current {
            Phase::Setup => None,
            Phase::Media { end } => Some(end),
            Phase::Teardown { .. } => Some(Instant::now()),
        };
        let teardown_deadline = match current {
            Phase::Teardown { deadline } => Some(deadline),
            _ => None,
        };
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::Media { sdp, .. }) => {
                    r.dial_to_media = Some(dial_at.elapsed());
                    let answer = SdpAnswer::from_sdp_string(&sdp).context("the gateway's answer")?;
                    let pending = pending.take().context("a second answer")?;
                    rtc.sdp_api().accept_answer(pending, answer).context("applying the gateway's answer")?;
                }
                Some(Event::Answered { .. }) => r.dial_to_answered = Some(dial_at.elapsed()),
                Some(Event::Ended { reason, sip_code, .. }) => {
                    r.ended = Some((reason, sip_code));
                    r.ended_early = teardown_deadline.is_none();
                    break Ok(());
                }
                Some(_) => {}
                None => break Err(anyhow!("the gateway's events stopped")),
            },
            got = socket.recv_from(&mut buf) => {
                let (n, source) = got?;
                let now = Instant::now();
                if let Ok(contents) = buf[..n].try_into() {
                    let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: local, contents });
                    rtc.handle_input(input)?;
                }
            }
            () = tokio::time::sleep_until(rtc_deadline.into()) => rtc.handle_input(Input::Timeout(Instant::now()))?,
            due = tick(&mut ticker) => {
                let now = Instant::now();
                shared.send_late.record(now.saturating_duration_since(due));
                if send_end.is_some_and(|end| now >= end) {
                    ticker = None;
                } else if let Some(stream) = rtc.direct_api().stream_tx_by_mid(mid, None) {
                    let payload = probe(shared.epoch, idx, counter);
                    stream.write_rtp(RtpWrite::new(0.into(), seq.into(), ts, now, payload));
                    seq += 1;
                    ts = ts.wrapping_add(FRAME_BYTES as u32);
                    counter += 1;
                    r.sent += 1;
                }
            }
            changed = phase.changed() => {
                if changed.is_err() {
                    break Err(anyhow!("the controller went away"));
                }
                current = *phase.borrow_and_update();
            }
            () = sleep_opt(teardown_deadline) => break Err(anyhow!("no Ended within the teardown time")),
        }
        // Drain str0m: send what it wants sent, take its events, until it names its next deadline.
        loop {
            match rtc.poll_output()? {
                Output::Timeout(t) => {
                    rtc_deadline = t;
                    break;
                }
                Output::Transmit(t) => {
                    if socket.try_send_to(&t.contents, t.destination).is_err() {
                        r.send_errors += 1;
                    }
                }
                Output::Event(e) => match e {
                    RtcEvent::Connected => {
                        r.dial_to_connected = Some(dial_at.elapsed());
                        if send_end.is_none_or(|end| Instant::now() < end) {
                            let mut t = tokio::time::interval(FRAME);
                            t.set_missed_tick_behavior(MissedTickBehavior::Burst);
                            ticker = Some(t);
                        }
                    }
                    RtcEvent::RtpPacket(p) => rx.on_rtp(shared, r, &p),
                    RtcEvent::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        r.error.get_or_insert_with(|| "ICE disconnected".into());
                    }
                    _ => {}
                },
            }
        }
    };
    rx.finish(r);
    rtc.disconnect();
    result
}

/// The next frame's scheduled time.
async fn tick(t: &mut Option<Interval>) -> Instant {
    match t {
        Some(t) => t.tick().await.into_std(),
        None => std::future::pending().await,
    }
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The trunk every call dials: sipp on loopback over UDP, no credentials.
pub fn trunk(sipp: SocketAddr) -> Trunk {
    Trunk {
        carrier_id: 1,
        name: "sipp".into(),
        gateways: vec![protocol::gateway::TrunkGateway {
            host: sipp.ip().to_string(),
            port: sipp.port(),
            transport: protocol::gateway::SipTransport::Udp,
        }],
        username: None,
        password: None,
        from_domain: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_round_trip() {
        let epoch = Instant::now();
        let p = probe(epoch, 7, 42);
        assert_eq!(p.len(), FRAME_BYTES);
        let (_, call, counter) = parse_probe(&p).unwrap();
        assert_eq!((call, counter), (7, 42));
        assert_eq!(parse_probe(&[0xff; 160]), None);
    }
}
