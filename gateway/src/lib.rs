//! The PSTN gateway: bridges a browser's WebRTC leg (str0m: ICE-lite, DTLS-SRTP, every call on
//! one UDP port) to SIP carriers (rsipstack over UDP and TCP), relaying G.711 RTP both ways
//! without transcoding.
//!
//! The server drives it with [`protocol::gateway::Command`]s and hears back
//! [`protocol::gateway::Event`]s, in process by default ([`Gateway::start`]); the messages are
//! plain serde data so the gateway can move to its own process later.
//!
//! The decisions are sans-IO and tested without sockets: [`bridge`] (one call's SIP × browser ×
//! server logic), [`relay`] (RTP rewriting, latching, inactivity), [`sdp`] (the carrier leg's
//! SDP), [`tone`]/[`g711`] (ringback). [`media`] and [`sip`] are the thin tokio shells.

pub mod attempts;
pub mod bridge;
pub mod g711;
pub mod media;
pub mod relay;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod tone;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use protocol::gateway::{Command, Event};
use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{TcpListenerConnection, TransportLayer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Config {
    /// SIP listens here on UDP and TCP (the same port). Port 0 picks a free one.
    pub sip_bind: SocketAddr,
    /// The WebRTC socket shared by every browser leg.
    pub webrtc_bind: SocketAddr,
    /// The address browsers are told to send to (the ICE candidate), when not `webrtc_bind`'s.
    pub webrtc_public: Option<IpAddr>,
    /// Carrier RTP sockets bind here (one ephemeral port per call)...
    pub rtp_bind: IpAddr,
    /// ...and SDP towards carriers advertises this address, when not `rtp_bind`.
    pub rtp_public: Option<IpAddr>,
    /// A call whose carrier sends no RTP for this long ends with `media_timeout`.
    pub media_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let lo: IpAddr = [127, 0, 0, 1].into();
        Config {
            sip_bind: SocketAddr::new(lo, 5060),
            webrtc_bind: SocketAddr::new(lo, 0),
            webrtc_public: None,
            rtp_bind: lo,
            rtp_public: None,
            media_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {what}: {source}")]
    Bind { what: &'static str, source: std::io::Error },
    #[error("starting SIP: {0}")]
    Sip(#[from] rsipstack::Error),
}

/// A running gateway. Dropping it does not stop it; [`Gateway::shutdown`] does.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<sip::Shared>,
    cancel: CancellationToken,
    pub sip_addr: SocketAddr,
    pub webrtc_addr: SocketAddr,
}

impl Gateway {
    /// Binds the sockets and starts serving. Events for the server arrive on `events`.
    pub async fn start(config: Config, events: mpsc::UnboundedSender<Event>) -> Result<Gateway, StartError> {
        install_crypto();
        let media = media::Media::start(media::MediaConfig {
            webrtc_bind: config.webrtc_bind,
            webrtc_public: config.webrtc_public,
            rtp_bind: config.rtp_bind,
            rtp_public: config.rtp_public,
            inactivity: config.media_timeout,
        })
        .await
        .map_err(|source| StartError::Bind { what: "the WebRTC socket", source })?;

        let cancel = CancellationToken::new();
        let transport = TransportLayer::new(cancel.clone());
        let (udp, sip_addr) = bind_sip_udp(config.sip_bind, &cancel).await?;
        let tcp = TcpListenerConnection::new(sip_addr, None).await?;
        transport.add_transport(udp.into());
        transport.add_transport(tcp.into());
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport)
            .with_user_agent(concat!("callplat-gateway/", env!("CARGO_PKG_VERSION")))
            .with_inspector(Box::new(sip::SourceStamp))
            .build();
        let mut incoming = endpoint.incoming_transactions()?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let webrtc_addr = media.webrtc_addr;
        let shared = sip::Shared::new(dialogs, media, events, sip_addr);

        let inner = endpoint.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.serve().await {
                tracing::error!(error = %e, "SIP endpoint stopped");
            }
        });
        let s = shared.clone();
        tokio::spawn(async move {
            while let Some(tx) = incoming.recv().await {
                s.incoming(tx).await;
            }
        });
        wait_for_tcp(sip_addr).await.map_err(|source| StartError::Bind { what: "the SIP TCP listener", source })?;
        tracing::info!(sip = %sip_addr, webrtc = %webrtc_addr, "gateway listening");
        Ok(Gateway { shared, cancel, sip_addr, webrtc_addr })
    }

    pub fn command(&self, cmd: Command) {
        self.shared.command(cmd);
    }

    /// Sends `OPTIONS` to a carrier's gateway and waits up to `wait` for a final response:
    /// its status code and the round-trip time. Any final response means the gateway is there
    /// (many answer 404 or 405 to OPTIONS); `Err` when none came or it could not be sent.
    pub async fn ping(
        &self,
        host: &str,
        port: u16,
        transport: protocol::gateway::SipTransport,
        wait: Duration,
    ) -> Result<(u16, Duration), String> {
        self.shared.ping(host, port, transport, wait).await
    }

    /// A registration with a carrier's registrar at `host:port`, with digest credentials; see
    /// [`sip::Registrar::register`].
    pub fn registrar(
        &self,
        host: &str,
        port: u16,
        transport: protocol::gateway::SipTransport,
        username: &str,
        password: &str,
    ) -> Result<sip::Registrar, String> {
        self.shared.registrar(host, port, transport, username, password)
    }

    /// Calls in progress (for health and tests).
    pub fn active_calls(&self) -> usize {
        self.shared.active_calls()
    }

    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// The SIP UDP socket. For port 0 the port is one free for TCP as well (the TCP listener binds
/// the same number later): a free TCP port is taken from the kernel, then UDP is bound to it.
async fn bind_sip_udp(bind: SocketAddr, cancel: &CancellationToken) -> Result<(UdpConnection, SocketAddr), StartError> {
    if bind.port() != 0 {
        let udp = UdpConnection::create_connection(bind, None, Some(cancel.child_token())).await?;
        return Ok((udp, bind));
    }
    let mut last = None;
    for _ in 0..20 {
        let probe = std::net::TcpListener::bind(bind).map_err(|source| StartError::Bind { what: "SIP", source })?;
        let addr = probe.local_addr().map_err(|source| StartError::Bind { what: "SIP", source })?;
        match UdpConnection::create_connection(addr, None, Some(cancel.child_token())).await {
            Ok(udp) => return Ok((udp, addr)),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .map(StartError::Sip)
        .unwrap_or_else(|| StartError::Bind { what: "SIP", source: std::io::Error::other("no free port") }))
}

/// rsipstack binds the TCP listener inside its `serve` task; `start` returns once it accepts, so
/// a bind failure is an error here rather than a log line later.
async fn wait_for_tcp(addr: SocketAddr) -> std::io::Result<()> {
    let mut last = None;
    for _ in 0..250 {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("the SIP TCP listener never came up")))
}

/// str0m's DTLS uses the process-wide crypto provider (aws-lc-rs); installing it twice is fine.
fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// A fresh random call id for inbound calls (the server makes its own for outbound ones).
pub fn new_call_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..22).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)])).collect()
}
