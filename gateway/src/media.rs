//! The media shell: one task owning the browser-facing UDP socket (all WebRTC legs share it, as
//! str0m's ICE-lite makes possible), every call's str0m `Rtc` and its [`Relay`], and a UDP
//! socket per call towards the carrier.
//!
//! Browser packets are routed to their call with `Rtc::accepts` (cached by source address);
//! carrier packets come from a small reader task per call socket. Each call is driven by the
//! same two sans-IO objects: str0m for ICE/DTLS/SRTP, [`Relay`] for rewriting and latching.
//! A panic inside either is caught and ends that call only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec as StrCodec, FormatParams};
use str0m::media::{Direction as StrDirection, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event as RtcEvent, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::relay::{self, Relay, RelayConfig};
use crate::rtp::RtpPacket;
use crate::sdp::{Codec, RemoteMedia};
use crate::tone::{Cadence, Ringback};

/// What the SIP side needs after the browser's offer was accepted (outbound) or before the
/// carrier's offer is answered (inbound).
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// For the browser: str0m's answer (outbound) or offer (inbound).
    pub browser_sdp: String,
    pub codec: Codec,
    /// Where the carrier should send RTP (our per-call socket, with the advertised address).
    pub local_rtp: SocketAddr,
}

#[derive(Debug)]
pub enum MediaEvent {
    Timeout,
    Failed,
}

enum Msg {
    AcceptOffer {
        call: String,
        offer: String,
        events: mpsc::UnboundedSender<MediaEvent>,
        reply: oneshot::Sender<Result<Negotiated, String>>,
    },
    CreateOffer {
        call: String,
        codec: Codec,
        events: mpsc::UnboundedSender<MediaEvent>,
        reply: oneshot::Sender<Result<Negotiated, String>>,
    },
    AcceptAnswer {
        call: String,
        answer: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Carrier {
        call: String,
        media: RemoteMedia,
    },
    Ringback {
        call: String,
        on: bool,
    },
    Answered {
        call: String,
    },
    Close {
        call: String,
    },
    FromCarrier {
        call: String,
        src: SocketAddr,
        data: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Where the WebRTC socket binds, and the address put in the ICE candidate.
    pub webrtc_bind: SocketAddr,
    pub webrtc_public: Option<IpAddr>,
    /// Carrier RTP sockets bind to this address on an ephemeral port; `rtp_public` is what SDP
    /// advertises.
    pub rtp_bind: IpAddr,
    pub rtp_public: Option<IpAddr>,
    pub inactivity: Duration,
}

#[derive(Clone)]
pub struct Media {
    tx: mpsc::UnboundedSender<Msg>,
    pub webrtc_addr: SocketAddr,
}

impl Media {
    pub async fn start(config: MediaConfig) -> std::io::Result<Media> {
        let socket = UdpSocket::bind(config.webrtc_bind).await?;
        let local = socket.local_addr()?;
        let public = SocketAddr::new(config.webrtc_public.unwrap_or(local.ip()), local.port());
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = Engine {
            socket: Arc::new(socket),
            local,
            public,
            config,
            calls: HashMap::new(),
            by_source: HashMap::new(),
            tx: tx.clone(),
        };
        tokio::spawn(engine.run(rx));
        Ok(Media { tx, webrtc_addr: public })
    }

    pub async fn accept_offer(
        &self,
        call: &str,
        offer: &str,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<Negotiated, String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::AcceptOffer { call: call.into(), offer: offer.into(), events, reply });
        rx.await.map_err(|_| "media engine stopped".to_string())?
    }

    pub async fn create_offer(
        &self,
        call: &str,
        codec: Codec,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<Negotiated, String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::CreateOffer { call: call.into(), codec, events, reply });
        rx.await.map_err(|_| "media engine stopped".to_string())?
    }

    pub async fn accept_answer(&self, call: &str, answer: &str) -> Result<(), String> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::AcceptAnswer { call: call.into(), answer: answer.into(), reply });
        rx.await.map_err(|_| "media engine stopped".to_string())?
    }

    pub fn carrier(&self, call: &str, media: RemoteMedia) {
        let _ = self.tx.send(Msg::Carrier { call: call.into(), media });
    }

    pub fn ringback(&self, call: &str, on: bool) {
        let _ = self.tx.send(Msg::Ringback { call: call.into(), on });
    }

    pub fn answered(&self, call: &str) {
        let _ = self.tx.send(Msg::Answered { call: call.into() });
    }

    pub fn close(&self, call: &str) {
        let _ = self.tx.send(Msg::Close { call: call.into() });
    }
}

struct Engine {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    public: SocketAddr,
    config: MediaConfig,
    calls: HashMap<String, CallMedia>,
    by_source: HashMap<SocketAddr, String>,
    tx: mpsc::UnboundedSender<Msg>,
}

struct CallMedia {
    rtc: Rtc,
    relay: Relay,
    rtp: Arc<UdpSocket>,
    reader: tokio::task::JoinHandle<()>,
    pending: Option<SdpPendingOffer>,
    mid: Option<Mid>,
    /// The browser-bound stream's extended sequence number (str0m wants the rollover counter).
    ext_seq: Option<u64>,
    rtc_deadline: Instant,
    events: mpsc::UnboundedSender<MediaEvent>,
    failed: bool,
}

impl Engine {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.next_deadline();
            let socket = self.socket.clone();
            tokio::select! {
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, source)) => self.on_browser_datagram(source, &buf[..n]),
                    Err(e) => tracing::debug!(error = %e, "webrtc socket receive failed"),
                },
                msg = rx.recv() => match msg {
                    Some(msg) => self.on_msg(msg).await,
                    None => break,
                },
                () = sleep_until(deadline) => self.on_timeout(),
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.calls.values().map(|c| c.deadline()).min()
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self.calls.iter().filter(|(_, c)| c.deadline() <= now).map(|(k, _)| k.clone()).collect();
        for id in due {
            self.with_call(&id, |c| {
                if c.rtc_deadline <= now {
                    c.rtc.handle_input(Input::Timeout(now)).map_err(|e| e.to_string())?;
                }
                c.relay.handle_timeout(now);
                Ok(())
            });
        }
    }

    fn on_browser_datagram(&mut self, source: SocketAddr, data: &[u8]) {
        let now = Instant::now();
        let Ok(contents) = data.try_into() else { return };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        let id = match self.by_source.get(&source) {
            Some(id) if self.calls.get(id).is_some_and(|c| c.rtc.accepts(&input)) => id.clone(),
            _ => match self.calls.iter().find(|(_, c)| c.rtc.accepts(&input)) {
                Some((id, _)) => {
                    self.by_source.insert(source, id.clone());
                    id.clone()
                }
                None => return,
            },
        };
        let Some(call) = self.calls.get_mut(&id) else { return };
        let result = catch_unwind(AssertUnwindSafe(|| call.rtc.handle_input(input).map_err(|e| e.to_string())));
        let ok = matches!(result, Ok(Ok(())));
        if !ok {
            tracing::warn!(call = %id, "browser media input failed");
        }
        self.with_call(&id, |_| if ok { Ok(()) } else { Err("input".into()) });
    }

    async fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::AcceptOffer { call, offer, events, reply } => {
                let r = self.accept_offer(&call, &offer, events).await;
                let _ = reply.send(r);
                self.with_call(&call, |_| Ok(()));
            }
            Msg::CreateOffer { call, codec, events, reply } => {
                let r = self.create_offer(&call, codec, events).await;
                let _ = reply.send(r);
            }
            Msg::AcceptAnswer { call, answer, reply } => {
                let r = self.accept_answer(&call, &answer);
                let _ = reply.send(r);
                self.with_call(&call, |_| Ok(()));
            }
            Msg::Carrier { call, media } => self.with_call(&call, |c| {
                let (pt, _) = media.codecs.first().copied().ok_or("no codec")?;
                c.relay.set_carrier(Instant::now(), media.addr, pt, media.te_pt, media.direction);
                Ok(())
            }),
            Msg::Ringback { call, on } => self.with_call(&call, |c| {
                if on {
                    let codec = if c.relay.browser_audio_pt() == 8 { Codec::Pcma } else { Codec::Pcmu };
                    c.relay.start_ringback(Instant::now(), Ringback::new(codec, Cadence::NorthAmerica));
                } else {
                    c.relay.stop_ringback();
                }
                Ok(())
            }),
            Msg::Answered { call } => self.with_call(&call, |c| {
                c.relay.set_answered(Instant::now());
                Ok(())
            }),
            Msg::Close { call } => self.remove(&call),
            Msg::FromCarrier { call, src, data } => self.with_call(&call, |c| {
                c.relay.from_carrier(Instant::now(), src, &data);
                Ok(())
            }),
        }
    }

    fn rtc_config(&self, codecs: &[Codec]) -> RtcConfig {
        let mut config = RtcConfig::new().set_ice_lite(true).set_rtp_mode(true).clear_codecs();
        for codec in codecs {
            config = match codec {
                Codec::Pcmu => config.enable_pcmu(true, false),
                Codec::Pcma => config.enable_pcma(true, false),
            };
        }
        config.codec_config().add_config(
            126.into(),
            None,
            StrCodec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            FormatParams::default(),
        );
        config
    }

    async fn new_call(
        &mut self,
        call: &str,
        config: RtcConfig,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<(), String> {
        if self.calls.contains_key(call) {
            return Err("call already has media".into());
        }
        let now = Instant::now();
        let mut rtc = config.build(now);
        let candidate = Candidate::host(self.public, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(candidate);
        let rtp = Arc::new(UdpSocket::bind(SocketAddr::new(self.config.rtp_bind, 0)).await.map_err(|e| e.to_string())?);
        let reader = tokio::spawn(read_carrier(rtp.clone(), call.to_string(), self.tx.clone()));
        let relay = Relay::new(
            RelayConfig {
                ssrc_to_browser: rand::random(),
                ssrc_to_carrier: rand::random(),
                seq_to_browser: rand::random(),
                seq_to_carrier: rand::random(),
                browser_audio_pt: 0,
                browser_te_pt: None,
                inactivity: self.config.inactivity,
            },
            now,
        );
        self.calls.insert(
            call.to_string(),
            CallMedia {
                rtc,
                relay,
                rtp,
                reader,
                pending: None,
                mid: None,
                ext_seq: None,
                rtc_deadline: now,
                events,
                failed: false,
            },
        );
        Ok(())
    }

    fn local_rtp(&self, call: &str) -> Result<SocketAddr, String> {
        let c = self.calls.get(call).ok_or("no such call")?;
        let port = c.rtp.local_addr().map_err(|e| e.to_string())?.port();
        Ok(SocketAddr::new(self.config.rtp_public.unwrap_or(self.config.rtp_bind), port))
    }

    async fn accept_offer(
        &mut self,
        call: &str,
        offer: &str,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<Negotiated, String> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| format!("the browser's offer is not valid SDP: {e}"))?;
        self.new_call(call, self.rtc_config(&[Codec::Pcmu, Codec::Pcma]), events).await?;
        let result = self.answer_in(call, offer);
        if result.is_err() {
            self.remove(call);
        }
        result
    }

    fn answer_in(&mut self, call: &str, offer: SdpOffer) -> Result<Negotiated, String> {
        let local_rtp = self.local_rtp(call)?;
        let c = self.calls.get_mut(call).ok_or("no such call")?;
        let answer = catch_unwind(AssertUnwindSafe(|| c.rtc.sdp_api().accept_offer(offer)))
            .map_err(|_| "media engine failed".to_string())?
            .map_err(|e| format!("the browser's offer was refused: {e}"))?;
        let sdp = answer.to_sdp_string();
        let (pt, codec) = audio_codec(&sdp).ok_or("the browser offered neither PCMU nor PCMA")?;
        c.relay.set_browser_pts(pt, telephone_event_pt(&sdp));
        Ok(Negotiated { browser_sdp: sdp, codec, local_rtp })
    }

    async fn create_offer(
        &mut self,
        call: &str,
        codec: Codec,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> Result<Negotiated, String> {
        self.new_call(call, self.rtc_config(&[codec]), events).await?;
        let local_rtp = self.local_rtp(call)?;
        let c = self.calls.get_mut(call).ok_or("no such call")?;
        let mut change = c.rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, StrDirection::SendRecv, None, None, None);
        let (offer, pending) = change.apply().ok_or("nothing to offer")?;
        c.pending = Some(pending);
        c.mid = Some(mid);
        Ok(Negotiated { browser_sdp: offer.to_sdp_string(), codec, local_rtp })
    }

    fn accept_answer(&mut self, call: &str, answer: &str) -> Result<(), String> {
        let c = self.calls.get_mut(call).ok_or("no such call")?;
        let answer =
            SdpAnswer::from_sdp_string(answer).map_err(|e| format!("the browser's answer is not valid SDP: {e}"))?;
        let pending = c.pending.take().ok_or("no offer is pending")?;
        catch_unwind(AssertUnwindSafe(|| c.rtc.sdp_api().accept_answer(pending, answer)))
            .map_err(|_| "media engine failed".to_string())?
            .map_err(|e| format!("the browser's answer was refused: {e}"))?;
        let sdp = c.rtc.codec_config().params().iter().map(|p| (*p.pt(), p.spec().codec)).collect::<Vec<_>>();
        let audio = sdp.iter().find(|(_, k)| matches!(k, StrCodec::PCMU | StrCodec::PCMA)).map(|(pt, _)| *pt);
        let te = sdp.iter().find(|(_, k)| *k == StrCodec::Tele).map(|(pt, _)| *pt);
        c.relay.set_browser_pts(audio.unwrap_or(0), te);
        Ok(())
    }

    /// Runs `f` on the call, then drains str0m and the relay, sending what they produce. A
    /// panic or error ends the call's media with `MediaEvent::Failed`.
    fn with_call(&mut self, id: &str, f: impl FnOnce(&mut CallMedia) -> Result<(), String>) {
        let Some(call) = self.calls.get_mut(id) else { return };
        let socket = self.socket.clone();
        let result = catch_unwind(AssertUnwindSafe(|| {
            f(call)?;
            call.drain(&socket)
        }));
        let failed = match result {
            Ok(Ok(())) => false,
            Ok(Err(e)) => {
                tracing::warn!(call = %id, error = %e, "call media failed");
                true
            }
            Err(_) => {
                tracing::error!(call = %id, "call media panicked; ending that call only");
                true
            }
        };
        if failed {
            if let Some(c) = self.calls.get_mut(id)
                && !c.failed
            {
                c.failed = true;
                let _ = c.events.send(MediaEvent::Failed);
            }
            self.remove(id);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(c) = self.calls.remove(id) {
            c.reader.abort();
            self.by_source.retain(|_, v| v != id);
        }
    }
}

impl CallMedia {
    fn deadline(&self) -> Instant {
        match self.relay.poll_timeout() {
            Some(t) => t.min(self.rtc_deadline),
            None => self.rtc_deadline,
        }
    }

    /// Moves everything str0m and the relay want done onto the sockets, until both are quiet.
    fn drain(&mut self, socket: &UdpSocket) -> Result<(), String> {
        loop {
            let mut progressed = false;
            loop {
                match self.rtc.poll_output().map_err(|e| e.to_string())? {
                    Output::Timeout(t) => {
                        self.rtc_deadline = t;
                        break;
                    }
                    Output::Transmit(t) => {
                        let _ = socket.try_send_to(&t.contents, t.destination);
                    }
                    Output::Event(e) => match e {
                        RtcEvent::MediaAdded(m) => self.mid = Some(m.mid),
                        RtcEvent::RtpPacket(p) => {
                            let pkt = RtpPacket {
                                pt: *p.header.payload_type,
                                marker: p.header.marker,
                                seq: p.header.sequence_number,
                                ts: p.header.timestamp,
                                ssrc: *p.header.ssrc,
                                payload: p.payload.to_vec(),
                            };
                            self.relay.from_browser(Instant::now(), pkt);
                            progressed = true;
                        }
                        RtcEvent::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            return Err("the browser's ICE disconnected".into());
                        }
                        _ => {}
                    },
                }
            }
            while let Some(out) = self.relay.poll_output() {
                match out {
                    relay::Output::ToCarrier { to, data } => {
                        let _ = self.rtp.try_send_to(&data, to);
                    }
                    relay::Output::ToBrowser(pkt) => {
                        self.write_to_browser(pkt);
                        progressed = true;
                    }
                    relay::Output::MediaTimeout => {
                        let _ = self.events.send(MediaEvent::Timeout);
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn write_to_browser(&mut self, pkt: RtpPacket) {
        let Some(mid) = self.mid else { return };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else { return };
        let seq = match self.ext_seq {
            None => u64::from(pkt.seq),
            Some(last) => {
                let delta = i64::from(pkt.seq.wrapping_sub(last as u16) as i16);
                last.saturating_add_signed(delta)
            }
        };
        self.ext_seq = Some(seq);
        let write = RtpWrite::new(pkt.pt.into(), seq.into(), pkt.ts, Instant::now(), pkt.payload).marker(pkt.marker);
        stream.write_rtp(write);
    }
}

async fn read_carrier(socket: Arc<UdpSocket>, call: String, tx: mpsc::UnboundedSender<Msg>) {
    let mut buf = vec![0u8; 2048];
    while let Ok((n, src)) = socket.recv_from(&mut buf).await {
        if tx.send(Msg::FromCarrier { call: call.clone(), src, data: buf[..n].to_vec() }).is_err() {
            break;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The first audio codec of an SDP we produced (str0m's answer lists the chosen one first).
fn audio_codec(sdp: &str) -> Option<(u8, Codec)> {
    let m = sdp.lines().find(|l| l.starts_with("m=audio"))?;
    m.split_whitespace().skip(3).filter_map(|pt| pt.parse::<u8>().ok()).find_map(|pt| match pt {
        0 => Some((0, Codec::Pcmu)),
        8 => Some((8, Codec::Pcma)),
        _ => None,
    })
}

fn telephone_event_pt(sdp: &str) -> Option<u8> {
    sdp.lines().find_map(|l| {
        let rest = l.strip_prefix("a=rtpmap:")?;
        let (pt, enc) = rest.split_once(' ')?;
        enc.to_ascii_lowercase().starts_with("telephone-event/8000").then(|| pt.trim().parse().ok())?
    })
}
