//! A raw SIP peer for the tests: a real [`Gateway`] on loopback, sockets from std/tokio, and just
//! enough SIP text handling (build a request, frame and read a response, ACK a final response)
//! to talk to it without any SIP library on this side.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway::{Config, Gateway};
use protocol::gateway::{Command, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// How long "no answer" is waited for.
pub const QUIET: Duration = Duration::from_millis(300);
/// The bound on anything that should happen (a response, an event).
pub const PATIENCE: Duration = Duration::from_secs(5);

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Panics on tokio worker threads, i.e. in the gateway's own tasks (a test's body runs on the
/// test's thread). rsipstack and the gateway spawn their loops, so a panic there would not fail
/// the test by itself.
static WORKER_PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_worker_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with("tokio-runtime-worker")) {
                WORKER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

/// `RUST_LOG=rsipstack=debug,gateway=debug cargo test -p gateway --test it -- --nocapture`
/// shows what the gateway and rsipstack make of each message.
fn log_if_asked() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn assert_no_worker_panics() {
    assert_eq!(WORKER_PANICS.load(Ordering::SeqCst), 0, "a gateway task panicked (see the output above)");
}

/// A gateway of its own for one test, on ephemeral loopback ports.
pub struct TestGateway {
    pub gw: Gateway,
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl TestGateway {
    pub async fn start() -> TestGateway {
        count_worker_panics();
        log_if_asked();
        let config = Config {
            sip_bind: SocketAddr::new(LOOPBACK, 0),
            webrtc_bind: SocketAddr::new(LOOPBACK, 0),
            rtp_bind: LOOPBACK,
            ..Config::default()
        };
        let (tx, events) = mpsc::unbounded_channel();
        let gw = Gateway::start(config, tx).await.expect("the gateway starts on loopback");
        assert_ne!(gw.sip_addr.port(), 0);
        wait_for_tcp_listener(gw.sip_addr).await;
        TestGateway { gw, events }
    }

    pub async fn client(&self, transport: Transport) -> Client {
        Client::connect(transport, self.gw.sip_addr).await
    }

    /// The next `Incoming` event (other events are skipped), within [`PATIENCE`].
    pub async fn incoming(&mut self) -> Incoming {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.events.recv()).await {
                Ok(Some(Event::Incoming { call_id, source, from, to, .. })) => {
                    return Incoming { call_id, source, from, to };
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("the gateway's event channel closed"),
                Err(_) => panic!("no Incoming event within {PATIENCE:?}"),
            }
        }
    }

    pub fn reject(&self, call_id: &str, code: u16) {
        self.gw.command(Command::Reject { call_id: call_id.to_string(), code });
    }

    /// Waits (bounded) until the gateway holds no call.
    pub async fn assert_no_calls_left(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.gw.active_calls() > 0 {
            assert!(Instant::now() < deadline, "{} call(s) still active", self.gw.active_calls());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Skips events until none arrives for [`QUIET`]; fails on a stray `Incoming`.
    pub async fn assert_no_stray_incoming(&mut self) {
        while let Ok(Some(event)) = timeout(QUIET, self.events.recv()).await {
            assert!(!matches!(event, Event::Incoming { .. }), "an Incoming event nobody expected: {event:?}");
        }
    }
}

/// `Gateway::start` returns before the SIP TCP listener exists: rsipstack binds it inside the
/// endpoint's `serve()` task, which `start` spawns (and a failure to bind is only logged there).
/// Until that is fixed in `gateway/src/lib.rs`, tests wait (bounded) until TCP connects.
async fn wait_for_tcp_listener(addr: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "the gateway's SIP TCP listener on {addr} never came up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.gw.shutdown();
    }
}

#[derive(Debug, Clone)]
pub struct Incoming {
    pub call_id: String,
    pub source: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// One client socket towards the gateway: a UDP socket of its own, or a fresh TCP connection.
pub enum Client {
    Udp { socket: UdpSocket, to: SocketAddr },
    Tcp { stream: TcpStream, buf: Vec<u8> },
}

/// What a read gave.
#[derive(Debug)]
pub enum Read {
    Response(Response),
    /// The gateway closed the TCP connection.
    Closed,
}

impl Client {
    pub async fn connect(transport: Transport, to: SocketAddr) -> Client {
        match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind(SocketAddr::new(LOOPBACK, 0)).await.expect("bind a UDP socket");
                Client::Udp { socket, to }
            }
            Transport::Tcp => {
                let stream = timeout(PATIENCE, TcpStream::connect(to))
                    .await
                    .expect("TCP connect timed out")
                    .expect("TCP connect to the gateway");
                Client::Tcp { stream, buf: Vec::new() }
            }
        }
    }

    pub fn transport(&self) -> Transport {
        match self {
            Client::Udp { .. } => Transport::Udp,
            Client::Tcp { .. } => Transport::Tcp,
        }
    }

    pub fn local(&self) -> SocketAddr {
        match self {
            Client::Udp { socket, .. } => socket.local_addr(),
            Client::Tcp { stream, .. } => stream.local_addr(),
        }
        .expect("a bound socket has an address")
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        match self {
            Client::Udp { socket, to } => {
                socket.send_to(bytes, *to).await.expect("UDP send");
            }
            Client::Tcp { stream, .. } => {
                // The gateway may already have closed the connection (a framing error in an
                // earlier message): that shows up on the next read.
                let _ = stream.write_all(bytes).await;
            }
        }
    }

    /// The next response (requests from the gateway are not expected and skipped). Cancel-safe:
    /// bytes read stay buffered.
    pub async fn read(&mut self) -> Read {
        match self {
            Client::Udp { socket, .. } => {
                let mut datagram = vec![0u8; 65_535];
                loop {
                    let (n, _) = socket.recv_from(&mut datagram).await.expect("UDP receive");
                    if let Some(r) = Response::parse(&datagram[..n]) {
                        return Read::Response(r);
                    }
                }
            }
            Client::Tcp { stream, buf } => loop {
                while let Some(message) = take_framed(buf) {
                    if let Some(r) = Response::parse(&message) {
                        return Read::Response(r);
                    }
                }
                let mut chunk = [0u8; 8192];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return Read::Closed,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            },
        }
    }

    /// The next response within `wait`; `None` on silence (or a closed connection).
    pub async fn response_within(&mut self, wait: Duration) -> Option<Response> {
        match timeout(wait, self.read()).await {
            Ok(Read::Response(r)) => Some(r),
            Ok(Read::Closed) | Err(_) => None,
        }
    }

    /// The next final (>= 200) response within [`PATIENCE`], skipping provisional ones.
    pub async fn final_response(&mut self) -> Response {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self.response_within(left).await.expect("a final response in time");
            if r.code >= 200 {
                return r;
            }
        }
    }
}

/// Takes one whole message off the front of a stream buffer (framed by Content-Length, `l` in
/// compact form, 0 when absent), skipping leading CRLF keep-alives.
fn take_framed(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let start = buf.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(buf.len());
    buf.drain(..start);
    let head_end = find(buf, b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let length = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| {
            let name = name.trim();
            name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")
        })
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if buf.len() < head_end + length {
        return None;
    }
    Some(buf.drain(..head_end + length).collect())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A response, read loosely: status code and unfolded headers (the body is not needed).
#[derive(Debug, Clone)]
pub struct Response {
    pub code: u16,
    pub headers: Vec<(String, String)>,
}

impl Response {
    pub fn parse(bytes: &[u8]) -> Option<Response> {
        let head_end = find(bytes, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&bytes[..head_end]);
        let mut lines = head.split("\r\n");
        let status = lines.next()?;
        // Any version: the gateway may echo a request's (RFC 4475's SIP/7.0).
        let (_, rest) = status.strip_prefix("SIP/")?.split_once(' ')?;
        let code = rest.get(..3)?.parse().ok()?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Some(Response { code, headers })
    }

    /// Every value of a header, by full or compact name, case-insensitively.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let compact = match name.to_ascii_lowercase().as_str() {
            "via" => "v",
            "from" => "f",
            "to" => "t",
            "call-id" => "i",
            "content-length" => "l",
            "content-type" => "c",
            "contact" => "m",
            _ => "",
        };
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name) || (!compact.is_empty() && n.eq_ignore_ascii_case(compact)))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    /// The method in CSeq.
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// The To header's tag parameter.
    pub fn to_tag(&self) -> Option<&str> {
        let to = self.header("To")?;
        let params = to.rsplit_once('>').map_or(to, |(_, after)| after);
        params.split(';').filter_map(|p| p.trim().strip_prefix("tag=")).next()
    }
}

/// A request with the given headers in order, then Content-Length and the body.
pub fn request(method: &str, uri: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut text = format!("{method} {uri} SIP/2.0\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

/// The ACK of a non-2xx final response to an INVITE sent to `uri` (RFC 3261 §17.1.1.3): the same
/// Request-URI, the top Via, From, Call-ID and CSeq number of the INVITE (as echoed by the
/// response) and the response's To (with its tag).
pub fn ack(uri: &str, response: &Response) -> Vec<u8> {
    let echo = |name: &str| response.header(name).unwrap_or_default().to_string();
    // A Via header may carry several comma-separated values; the ACK takes the first one only.
    let via = echo("Via").split(',').next().unwrap_or_default().trim().to_string();
    let cseq = echo("CSeq").split_whitespace().next().unwrap_or("1").to_string();
    request(
        "ACK",
        uri,
        &[
            ("Via", via),
            ("Max-Forwards", "70".into()),
            ("From", echo("From")),
            ("To", echo("To")),
            ("Call-ID", echo("Call-ID")),
            ("CSeq", format!("{cseq} ACK")),
        ],
        "",
    )
}

/// Fresh identifiers for one request from `client`.
pub struct Ids {
    pub branch: String,
    pub tag: String,
    pub call_id: String,
}

impl Ids {
    pub fn fresh() -> Ids {
        Ids {
            branch: format!("z9hG4bK{}", gateway::new_call_id()),
            tag: gateway::new_call_id()[..10].to_string(),
            call_id: format!("{}@it.test", gateway::new_call_id()),
        }
    }

    pub fn via(&self, client: &Client) -> String {
        format!("SIP/2.0/{} {};branch={};rport", client.transport().via(), client.local(), self.branch)
    }
}

/// An audio offer on loopback with the given `m=` formats and `a=` lines.
pub fn sdp(formats: &str, attributes: &[&str]) -> String {
    let mut sdp = String::from("v=0\r\no=it 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n");
    sdp.push_str(&format!("m=audio 49170 RTP/AVP {formats}\r\n"));
    for a in attributes {
        sdp.push_str(&format!("a={a}\r\n"));
    }
    sdp
}

/// PCMU, PCMA and telephone-events: what a carrier typically offers.
pub fn g711_offer() -> String {
    sdp("0 8 101", &["rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000", "rtpmap:101 telephone-event/8000", "fmtp:101 0-16"])
}

/// An INVITE from `from_user` to `uri` with `body` (SDP when not empty).
pub fn invite(client: &Client, ids: &Ids, uri: &str, from_user: &str, body: &str) -> Vec<u8> {
    let local = client.local();
    let mut headers = vec![
        ("Via", ids.via(client)),
        ("Max-Forwards", "70".into()),
        ("From", format!("\"Caller\" <sip:{from_user}@carrier.invalid>;tag={}", ids.tag)),
        ("To", format!("<{uri}>")),
        ("Call-ID", ids.call_id.clone()),
        ("CSeq", "1 INVITE".into()),
        ("Contact", format!("<sip:{from_user}@{local};transport={}>", client.transport().via().to_lowercase())),
    ];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/sdp".into()));
    }
    request("INVITE", uri, &headers, body)
}

/// An OPTIONS outside any dialog.
pub fn options(client: &Client, ids: &Ids, uri: &str) -> Vec<u8> {
    request(
        "OPTIONS",
        uri,
        &[
            ("Via", ids.via(client)),
            ("Max-Forwards", "70".into()),
            ("From", format!("<sip:monitor@carrier.invalid>;tag={}", ids.tag)),
            ("To", format!("<{uri}>")),
            ("Call-ID", ids.call_id.clone()),
            ("CSeq", "1 OPTIONS".into()),
            ("Accept", "application/sdp".into()),
        ],
        "",
    )
}

/// Sends an OPTIONS over `transport` and returns the final response.
pub async fn ping(tg: &TestGateway, transport: Transport) -> Response {
    let mut client = tg.client(transport).await;
    let uri = format!("sip:{}", tg.gw.sip_addr);
    client.send(&options(&client, &Ids::fresh(), &uri)).await;
    client.final_response().await
}

/// A valid INVITE over `transport` must be offered to the server (`Incoming`); it is then
/// rejected with `code`, which the UAC must receive (and ACKs).
pub async fn offer_and_reject(tg: &mut TestGateway, transport: Transport, code: u16) -> (Incoming, Response) {
    let mut client = tg.client(transport).await;
    let uri = format!("sip:+4930901820@{}", tg.gw.sip_addr);
    client.send(&invite(&client, &Ids::fresh(), &uri, "+4915112345678", &g711_offer())).await;
    let incoming = tg.incoming().await;
    tg.reject(&incoming.call_id, code);
    let response = client.final_response().await;
    client.send(&ack(&uri, &response)).await;
    (incoming, response)
}
