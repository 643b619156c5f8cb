//! The SIP shell: rsipstack's endpoint (UDP and TCP on one port), the loop over incoming
//! transactions, and one task per call that feeds a [`Bridge`] and carries out what it says.
//!
//! rsipstack owns the RFC 3261 transactions (retransmissions, ACK of every final response,
//! digest retries on 401/407, CANCEL/487); this module only decides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};

use protocol::gateway::{Command, Dial, EndReason, Event, SipTransport};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason, TransactionHandle};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invitation::{InviteAsyncResult, InviteOption};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, HostWithPort, Method, Request, Scheme, SipMessage, StatusCode, Transport, Uri, Version};
use rsipstack::transaction::endpoint::MessageInspector;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::SipAddr;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::attempts::{Attempts, Failure, Next, Target};
use crate::bridge::{Bridge, Input, MediaAction, Notice, Origin, Output, SipAction};
use crate::media::{Media, MediaEvent, Negotiated};
use crate::sdp::{self, Codec, Direction, MediaOffer, RemoteMedia};

/// The header the inspector stamps on every received request with the packet's real source,
/// replacing any a peer sent, so inbound calls can be checked against a carrier's addresses.
pub const SOURCE_HEADER: &str = "X-Callplat-Source";

pub struct SourceStamp;

impl MessageInspector for SourceStamp {
    fn before_send(&self, msg: SipMessage, _dest: Option<&SipAddr>) -> SipMessage {
        msg
    }

    fn after_received(&self, msg: SipMessage, from: Option<&SipAddr>) -> SipMessage {
        let SipMessage::Request(mut req) = msg else { return msg };
        req.headers.retain(|h| !matches!(h, Header::Other(name, _) if name.eq_ignore_ascii_case(SOURCE_HEADER)));
        if let Some(from) = from {
            req.headers.push(Header::Other(SOURCE_HEADER.into(), from.addr.to_string()));
        }
        SipMessage::Request(req)
    }
}

/// Messages into a call's task.
enum CallMsg {
    Server(Command),
}

pub(crate) struct Shared {
    pub dialogs: Arc<DialogLayer>,
    pub media: Media,
    pub events: mpsc::UnboundedSender<Event>,
    /// Our SIP address as peers should see it (Contact, From host when a trunk gives none).
    pub local: SocketAddr,
    calls: Mutex<HashMap<String, mpsc::UnboundedSender<CallMsg>>>,
}

impl Shared {
    pub fn new(
        dialogs: Arc<DialogLayer>,
        media: Media,
        events: mpsc::UnboundedSender<Event>,
        local: SocketAddr,
    ) -> Arc<Self> {
        Arc::new(Shared { dialogs, media, events, local, calls: Mutex::new(HashMap::new()) })
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<CallMsg>>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn active_calls(&self) -> usize {
        self.calls().len()
    }

    fn contact(&self) -> Uri {
        Uri::try_from(format!("sip:gateway@{}", self.local).as_str()).expect("a socket address makes a valid URI")
    }

    /// A command from the server.
    pub fn command(self: &Arc<Self>, cmd: Command) {
        match cmd {
            Command::Dial(dial) => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.calls().insert(dial.call_id.clone(), tx);
                tokio::spawn(outbound(self.clone(), dial, rx));
            }
            Command::Ringing { ref call_id }
            | Command::Answer { ref call_id, .. }
            | Command::Reject { ref call_id, .. }
            | Command::Hangup { ref call_id } => {
                let id = call_id.clone();
                if let Some(tx) = self.calls().get(&id) {
                    let _ = tx.send(CallMsg::Server(cmd));
                }
            }
        }
    }

    /// Every new server transaction: in-dialog requests go to their dialog, the rest are
    /// answered here.
    pub async fn incoming(self: &Arc<Self>, mut tx: Transaction) {
        if tx.original.method != Method::Ack
            && let Err((status, headers)) = screen(&tx.original)
        {
            if let Err(e) = tx.reply_with(status, headers, None).await {
                tracing::debug!(error = %e, "replying failed");
            }
            return;
        }
        if let Some(rsipstack::dialog::dialog::Dialog::Invite(mut dialog)) = self.dialogs.match_dialog(&tx) {
            tokio::spawn(async move {
                if let Err(e) = dialog.handle(&mut tx).await {
                    tracing::debug!(error = %e, "in-dialog request failed");
                }
            });
            return;
        }
        let has_to_tag = tx.original.to_header().ok().and_then(|t| t.tag().ok().flatten()).is_some();
        let result = match tx.original.method {
            Method::Invite if !has_to_tag => {
                inbound(self.clone(), tx);
                return;
            }
            Method::Options => {
                let accept = Header::Other("Accept".into(), SDP.into());
                tx.reply_with(StatusCode::OK, vec![allow(), accept], None).await
            }
            Method::Ack => return,
            Method::Invite
            | Method::Bye
            | Method::Cancel
            | Method::Update
            | Method::Info
            | Method::PRack
            | Method::Refer
            | Method::Notify => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
            // A 405 must say what is allowed (RFC 3261 §21.4.6).
            _ => tx.reply_with(StatusCode::MethodNotAllowed, vec![allow()], None).await,
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "replying failed");
        }
    }

    pub fn registrar(
        &self,
        host: &str,
        port: u16,
        transport: SipTransport,
        username: &str,
        password: &str,
    ) -> Result<Registrar, String> {
        let param = if transport == SipTransport::Tcp { ";transport=tcp" } else { "" };
        let server = Uri::try_from(format!("sip:{host}:{port}{param}").as_str()).map_err(|e| e.to_string())?;
        let credential = Credential {
            username: username.to_string(),
            password: password.to_string(),
            realm: None,
            auth_username: None,
        };
        let mut registration =
            rsipstack::dialog::registration::Registration::new(self.dialogs.endpoint.clone(), Some(credential));
        let contact = Uri::try_from(format!("sip:{username}@{}", self.local).as_str()).map_err(|e| e.to_string())?;
        registration.contact =
            Some(rsipstack::sip::typed::Contact { display_name: None, uri: contact, params: vec![] });
        Ok(Registrar { registration, server })
    }

    /// One OPTIONS transaction to `host:port`; see [`crate::Gateway::ping`].
    pub async fn ping(
        &self,
        host: &str,
        port: u16,
        transport: SipTransport,
        wait: Duration,
    ) -> Result<(u16, Duration), String> {
        use rsipstack::transaction::key::{TransactionKey, TransactionRole};
        let started = Instant::now();
        let param = if transport == SipTransport::Tcp { ";transport=tcp" } else { "" };
        let uri = Uri::try_from(format!("sip:{host}:{port}{param}").as_str()).map_err(|e| e.to_string())?;
        let endpoint = self.dialogs.endpoint.clone();
        let target = SipAddr {
            r#type: Some(if transport == SipTransport::Tcp { Transport::Tcp } else { Transport::Udp }),
            addr: HostWithPort::try_from(format!("{host}:{port}").as_str()).map_err(|e| e.to_string())?,
        };
        let via = match endpoint.transport_layer.lookup(&target, None).await {
            Ok((connection, _)) => endpoint.get_via(Some(connection.get_addr().clone()), None),
            Err(_) => endpoint.get_via(None, None),
        }
        .map_err(|e| e.to_string())?;
        let from = rsipstack::sip::typed::From { display_name: None, uri: self.contact(), params: vec![] }
            .with_tag(rsipstack::transaction::make_tag());
        let to = rsipstack::sip::typed::To { display_name: None, uri: uri.clone(), params: vec![] };
        let request = endpoint.make_request(Method::Options, uri, via, from, to, 1, None);
        let key = TransactionKey::from_request(&request, TransactionRole::Client).map_err(|e| e.to_string())?;
        let mut tx = Transaction::new_client(key, request, endpoint, None);
        tx.destination = Some(target);
        let answer = async {
            tx.send().await.map_err(|e| e.to_string())?;
            while let Some(msg) = tx.receive().await {
                if let SipMessage::Response(resp) = msg
                    && resp.status_code.code() >= 200
                {
                    return Ok(resp.status_code.code());
                }
            }
            Err("no response".to_string())
        };
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(code)) => Ok((code, started.elapsed())),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no response within {} ms", wait.as_millis())),
        }
    }

    fn finish(&self, id: &str) {
        self.calls().remove(id);
        self.media.close(id);
    }
}

const SDP: &str = "application/sdp";

/// The methods the gateway takes (RFC 3261 §20.5), in OPTIONS and 405 answers.
fn allow() -> Header {
    Header::Other("Allow".into(), "INVITE, ACK, CANCEL, BYE, OPTIONS".into())
}

/// RFC 3261 §8.2, in its order, for a request before anything acts on it (ACK excepted: it is
/// never answered): a refusal with its status and headers, or `Ok` to go on. Methods the gateway
/// does not take pass through to their 405 (method inspection comes before the header checks).
fn screen(req: &Request) -> Result<(), (StatusCode, Vec<Header>)> {
    if req.version != Version::V2 {
        return Err((StatusCode::VersionNotSupported, vec![]));
    }
    if !well_formed(req) {
        return Err((StatusCode::BadRequest, vec![]));
    }
    let taken = matches!(
        req.method,
        Method::Invite
            | Method::Options
            | Method::Bye
            | Method::Cancel
            | Method::Update
            | Method::Info
            | Method::PRack
            | Method::Refer
            | Method::Notify
    );
    if !taken {
        return Ok(());
    }
    // §8.2.2.1: only SIP URIs can be called here (no scheme at all is what the parser makes of
    // one it cannot read, e.g. `soap.beep:`).
    if !matches!(req.uri.scheme, Some(Scheme::Sip | Scheme::Sips)) {
        return Err((StatusCode::UnsupportedUriScheme, vec![]));
    }
    // §8.2.2.3: the gateway supports no extension, so every required one is unsupported.
    let required: Vec<&str> = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Require(r) => Some(r.value()),
            _ => None,
        })
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if !required.is_empty() {
        return Err((StatusCode::BadExtension, vec![Header::Unsupported(required.join(", ").into())]));
    }
    if req.method == Method::Invite {
        // §8.2.3: a body the gateway cannot read is refused with what it can (415), not as an
        // unacceptable offer (488).
        let content_type = req.headers.iter().find_map(|h| match h {
            Header::ContentType(c) => Some(c.value()),
            _ => None,
        });
        if !req.body.is_empty() && content_type.is_some_and(|t| !media_type_is(t, SDP)) {
            return Err((StatusCode::UnsupportedMediaType, vec![Header::Other("Accept".into(), SDP.into())]));
        }
        // §20.1: the answer to an offer is SDP, which the caller must accept (406 otherwise).
        let ranges: Vec<&str> = req
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Accept(a) => Some(a.value()),
                _ => None,
            })
            .flat_map(|v| v.split(','))
            .filter(|r| !r.trim().is_empty())
            .collect();
        let sdp_accepted = ranges.iter().any(|r| ["*/*", "application/*", SDP].iter().any(|t| media_type_is(r, t)));
        if !ranges.is_empty() && !sdp_accepted {
            return Err((StatusCode::NotAcceptable, vec![]));
        }
    }
    Ok(())
}

/// What the parser lets through but RFC 3261 calls malformed (RFC 4475 §3.1.2.17, §3.3.8,
/// §3.3.9, §3.1.2.2/§3.1.2.3): a CSeq method other than the request's, a single-valued header
/// field given twice, a Content-Length that is not a number or promises more body than arrived
/// (a datagram cut short, RFC 3261 §18.3).
fn well_formed(req: &Request) -> bool {
    let cseq_matches = req.cseq_header().ok().and_then(|c| c.method().ok()).is_some_and(|m| m == req.method);
    let mut counts = [0usize; 7];
    let mut content_length = None;
    for h in req.headers.iter() {
        let slot = match h {
            Header::CallId(_) => 0,
            Header::CSeq(_) => 1,
            Header::From(_) => 2,
            Header::To(_) => 3,
            Header::MaxForwards(_) => 4,
            Header::ContentType(_) => 5,
            Header::ContentLength(l) => {
                content_length = Some(l.value().trim().parse::<u32>().ok());
                6
            }
            _ => continue,
        };
        counts[slot] += 1;
    }
    let length_ok = match content_length {
        None => true,
        Some(None) => false,
        Some(Some(n)) => usize::try_from(n).is_ok_and(|n| n <= req.body.len()),
    };
    cseq_matches && counts.iter().all(|&n| n <= 1) && length_ok
}

/// `value` (a Content-Type or an Accept media range, parameters allowed) names `media_type`.
fn media_type_is(value: &str, media_type: &str) -> bool {
    value.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case(media_type)
}

/// One call's task state: the bridge and what is needed to carry out its outputs.
struct CallTask {
    shared: Arc<Shared>,
    id: String,
    origin: Origin,
    bridge: Bridge,
    dialog: Option<InviteDialog>,
    /// Our media for SDP towards the carrier.
    local: MediaOffer,
    /// The carrier's telephone-event PT (answers echo it).
    remote_pt: u8,
    remote_te: Option<u8>,
    reinvite: Option<TransactionHandle>,
}

impl CallTask {
    fn new(shared: Arc<Shared>, id: String, origin: Origin, neg: &Negotiated) -> CallTask {
        let local = MediaOffer {
            addr: neg.local_rtp.ip(),
            port: neg.local_rtp.port(),
            session_id: rand::random::<u32>().into(),
            version: 1,
            codecs: vec![neg.codec],
            te_pt: Some(101),
            direction: Direction::SendRecv,
            ptime: 20,
        };
        let remote_pt = match neg.codec {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        };
        CallTask {
            shared,
            id,
            origin,
            bridge: Bridge::new(origin),
            dialog: None,
            local,
            remote_pt,
            remote_te: Some(101),
            reinvite: None,
        }
    }

    fn tell(&self, event: Event) {
        let _ = self.shared.events.send(event);
    }

    /// Our SDP answer to the carrier's offer whose direction was `their`.
    fn answer_sdp(&mut self, their: Direction) -> Vec<u8> {
        self.local.version += 1;
        let codec = self.local.codecs[0];
        let session = sdp::LocalSession {
            addr: self.local.addr,
            port: self.local.port,
            session_id: self.local.session_id,
            version: self.local.version,
        };
        sdp::answer(&session, (self.remote_pt, codec), self.remote_te, their).into_bytes()
    }

    /// Feeds the bridge and carries out everything it then wants, in order.
    async fn handle(&mut self, input: Input) {
        self.bridge.handle(input);
        while let Some(out) = self.bridge.poll_output() {
            match out {
                Output::Sip(action) => self.sip(action).await,
                Output::Media(MediaAction::Carrier(media)) => {
                    self.remote_te = media.te_pt;
                    if let Some((pt, _)) = media.codecs.first() {
                        self.remote_pt = *pt;
                    }
                    self.shared.media.carrier(&self.id, media)
                }
                Output::Media(MediaAction::Ringback(on)) => self.shared.media.ringback(&self.id, on),
                Output::Media(MediaAction::Answered) => self.shared.media.answered(&self.id),
                Output::Event(notice) => {
                    let call_id = self.id.clone();
                    self.tell(match notice {
                        Notice::Progress { code, early_media } => Event::Progress { call_id, code, early_media },
                        Notice::Answered => Event::Answered { call_id },
                        Notice::Ended { reason, sip_code } => Event::Ended { call_id, reason, sip_code },
                    });
                }
            }
        }
    }

    async fn sip(&mut self, action: SipAction) {
        let Some(dialog) = self.dialog.clone() else { return };
        let sdp_type = || vec![Header::ContentType("application/sdp".into())];
        let result = match action {
            SipAction::Cancel => dialog.cancel().await,
            SipAction::Bye => dialog.bye().await,
            SipAction::Ringing => dialog.ringing(None, None),
            SipAction::Accept => {
                let body = self.answer_sdp(Direction::SendRecv);
                dialog.accept(Some(sdp_type()), Some(body))
            }
            SipAction::Reject(code) => dialog.reject(Some(StatusCode::from(code)), None),
            SipAction::ReInviteOk(their) => {
                let body = self.answer_sdp(their);
                if let Some(handle) = self.reinvite.take() {
                    let _ = handle.respond(StatusCode::OK, Some(sdp_type()), Some(body)).await;
                }
                Ok(())
            }
            SipAction::ReInviteRefuse(code) => {
                if let Some(handle) = self.reinvite.take() {
                    let _ = handle.reply(StatusCode::from(code)).await;
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(call = %self.id, error = %e, "SIP action failed");
        }
    }

    /// Dialog events common to both directions.
    async fn dialog_state(&mut self, state: DialogState) {
        match state {
            DialogState::Early(_, resp) if self.bridge_is_outbound() => {
                let media = remote_media(&resp.body);
                self.handle(Input::Provisional { code: resp.status_code.code(), media }).await;
            }
            DialogState::Updated(_, req, handle) => {
                self.reinvite = Some(handle);
                if req.body.is_empty() {
                    self.handle(Input::ReInvite { media: None }).await;
                } else {
                    match sdp::parse_remote(&String::from_utf8_lossy(&req.body)) {
                        Ok(media) => self.handle(Input::ReInvite { media: Some(media) }).await,
                        Err(_) => {
                            if let Some(h) = self.reinvite.take() {
                                let _ = h.reply(StatusCode::NotAcceptableHere).await;
                            }
                        }
                    }
                }
            }
            DialogState::Terminated(_, reason) => match reason {
                TerminatedReason::UacCancel => self.handle(Input::RemoteCancel).await,
                TerminatedReason::UacBye | TerminatedReason::UasBye => self.handle(Input::RemoteBye).await,
                _ => {}
            },
            _ => {}
        }
    }

    /// The current attempt failed: tells the server and says which attempt is next, or ends the
    /// call with this failure when there is none.
    async fn attempt_failed(&mut self, attempts: &mut Attempts, failure: Failure) -> Option<Target> {
        match attempts.failed(failure, self.bridge.is_hanging_up(), Instant::now()) {
            Next::Try(target) => {
                let (failure, sip_code) = failure.wire();
                self.tell(Event::AttemptFailed { call_id: self.id.clone(), failure, sip_code });
                Some(target)
            }
            Next::GiveUp => {
                let code = match failure {
                    Failure::Final(code) => Some(code),
                    _ => None,
                };
                self.handle(Input::Failed { code }).await;
                None
            }
        }
    }

    fn bridge_is_outbound(&self) -> bool {
        self.origin == Origin::Outbound
    }
}

fn remote_media(body: &[u8]) -> Option<RemoteMedia> {
    if body.is_empty() {
        return None;
    }
    sdp::parse_remote(&String::from_utf8_lossy(body)).ok()
}

/// The platform's registration with one carrier: the same Call-ID and rising CSeq on every
/// refresh, digest challenges answered.
pub struct Registrar {
    registration: rsipstack::dialog::registration::Registration,
    server: Uri,
}

impl Registrar {
    /// Sends REGISTER asking for `expires` seconds (0 removes the binding) and waits up to
    /// `wait`: the final status code and, on 2xx, the expiry the registrar granted.
    pub async fn register(&mut self, expires: u32, wait: Duration) -> Result<(u16, Option<u32>), String> {
        let server = self.server.clone();
        let answer = self.registration.register(server, Some(expires));
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(resp)) => {
                let code = resp.status_code.code();
                Ok((code, (200..300).contains(&code).then(|| self.registration.expires())))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no response within {} ms", wait.as_millis())),
        }
    }
}

/// One attempt's INVITE: its dialog, the transaction's result and the dialog's events.
struct Leg {
    dialog: InviteDialog,
    join: JoinHandle<InviteAsyncResult>,
    states: DialogStateReceiver,
    final_seen: bool,
    /// Any response came back (a CANCEL may be sent).
    responded: bool,
}

impl Leg {
    /// Gives the attempt up in the background: CANCEL when the carrier responded (and BYE a
    /// 200 that crosses it), else the transaction just stops retransmitting.
    fn abandon(self, shared: &Arc<Shared>) {
        let Leg { dialog, join, final_seen, responded, .. } = self;
        let dialogs = shared.dialogs.clone();
        if final_seen || !responded {
            join.abort();
            dialogs.remove_dialog(&dialog.id());
            return;
        }
        tokio::spawn(async move {
            let _ = dialog.cancel().await;
            if let Ok(Ok(Ok((_, Some(resp))))) = tokio::time::timeout(Duration::from_secs(32), join).await
                && resp.status_code.code() < 300
            {
                let _ = dialog.bye().await;
            }
            dialogs.remove_dialog(&dialog.id());
        });
    }
}

/// Sends the INVITE of one attempt.
#[allow(clippy::result_large_err)] // rsipstack's error type
fn start_leg(shared: &Arc<Shared>, dial: &Dial, target: Target, offer: String) -> rsipstack::Result<Leg> {
    let (state_tx, states) = shared.dialogs.new_dialog_state_channel();
    let opt = invite_option(shared, dial, target, offer)?;
    let (dialog, join) = shared.dialogs.do_invite_async(opt, state_tx)?;
    Ok(Leg { dialog, join, states, final_seen: false, responded: false })
}

async fn outbound(shared: Arc<Shared>, dial: Dial, mut rx: mpsc::UnboundedReceiver<CallMsg>) {
    let id = dial.call_id.clone();
    let ended = |reason| Event::Ended { call_id: id.clone(), reason, sip_code: None };
    let (media_tx, mut media_rx) = mpsc::unbounded_channel();
    let neg = match shared.media.accept_offer(&id, &dial.offer, media_tx).await {
        Ok(neg) => neg,
        Err(e) => {
            tracing::info!(call = %id, error = %e, "browser offer refused");
            let _ = shared.events.send(ended(EndReason::MediaFailed));
            return shared.finish(&id);
        }
    };
    let _ = shared.events.send(Event::Media { call_id: id.clone(), sdp: neg.browser_sdp.clone() });
    let mut task = CallTask::new(shared.clone(), id.clone(), Origin::Outbound, &neg);
    let gateways = dial.routes.iter().map(|r| r.trunk.gateways.len()).collect();
    let Some(mut attempts) = Attempts::new(gateways, dial.failover.clone(), Instant::now()) else {
        tracing::warn!(call = %id, "no route with a gateway");
        let _ = shared.events.send(ended(EndReason::Failed));
        return shared.finish(&id);
    };
    let mut next = Some(attempts.current());
    let mut leg: Option<Leg> = None;
    while !task.bridge.is_ended() {
        if let Some(target) = next.take() {
            let gw = &dial.routes[target.route].trunk.gateways[target.gateway];
            task.tell(Event::AttemptStarted {
                call_id: id.clone(),
                route: target.route,
                gateway: format!("{}:{}", gw.host, gw.port),
            });
            match start_leg(&shared, &dial, target, sdp::build(&task.local)) {
                Ok(l) => {
                    task.dialog = Some(l.dialog.clone());
                    leg = Some(l);
                }
                Err(e) => {
                    tracing::info!(call = %id, error = %e, "INVITE could not be sent");
                    next = task.attempt_failed(&mut attempts, Failure::TransportError).await;
                    continue;
                }
            }
        }
        let Some(l) = leg.as_mut() else { break };
        // Timers apply while the INVITE waits for its final response.
        let deadline = if l.final_seen { None } else { attempts.poll_timeout() };
        let failure = tokio::select! {
            r = &mut l.join, if !l.final_seen => {
                l.final_seen = true;
                match r {
                    Ok(Ok((_, Some(resp)))) if resp.status_code.code() < 300 => {
                        attempts.response(resp.status_code.code(), !resp.body.is_empty());
                        task.handle(Input::Accepted { media: remote_media(&resp.body) }).await;
                        None
                    }
                    Ok(Ok((_, Some(resp)))) => Some(Failure::Final(resp.status_code.code())),
                    Ok(Ok((_, None))) => Some(Failure::NoTrying),
                    Ok(Err(_)) | Err(_) => Some(Failure::TransportError),
                }
            }
            Some(state) = l.states.recv() => {
                match &state {
                    DialogState::Trying(_) => {
                        l.responded = true;
                        attempts.response(100, false);
                    }
                    DialogState::Early(_, resp) => {
                        l.responded = true;
                        attempts.response(resp.status_code.code(), !resp.body.is_empty());
                    }
                    _ => {}
                }
                task.dialog_state(state).await;
                None
            }
            () = sleep_until(deadline) => attempts.handle_timeout(Instant::now()),
            Some(CallMsg::Server(cmd)) = rx.recv() => {
                if let Command::Hangup { .. } = cmd {
                    task.handle(Input::Hangup).await;
                }
                None
            }
            Some(event) = media_rx.recv() => {
                task.handle(media_input(event)).await;
                None
            }
            else => break,
        };
        if let Some(failure) = failure {
            if let Some(old) = leg.take() {
                let (dialog, abandoned) = (old.dialog.clone(), !old.final_seen);
                if abandoned {
                    old.abandon(&shared);
                } else {
                    drain_after_end(&mut { old.states });
                    shared.dialogs.remove_dialog(&dialog.id());
                }
            }
            next = task.attempt_failed(&mut attempts, failure).await;
            if next.is_none() && !task.bridge.is_ended() {
                break;
            }
        }
    }
    if let Some(mut l) = leg {
        drain_after_end(&mut l.states);
        shared.dialogs.remove_dialog(&l.dialog.id());
    }
    shared.finish(&id);
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

fn media_input(event: MediaEvent) -> Input {
    match event {
        MediaEvent::Timeout => Input::MediaTimeout,
        MediaEvent::Failed => Input::MediaFailed,
    }
}

fn drain_after_end(rx: &mut DialogStateReceiver) {
    while rx.try_recv().is_ok() {}
}

#[allow(clippy::result_large_err)] // rsipstack's error type
fn invite_option(shared: &Shared, dial: &Dial, target: Target, offer: String) -> rsipstack::Result<InviteOption> {
    let route = &dial.routes[target.route];
    let gw = &route.trunk.gateways[target.gateway];
    let transport = match gw.transport {
        SipTransport::Udp => Transport::Udp,
        SipTransport::Tcp => Transport::Tcp,
    };
    let target = HostWithPort::try_from(format!("{}:{}", gw.host, gw.port).as_str())?;
    let param = if transport == Transport::Tcp { ";transport=tcp" } else { "" };
    let callee = Uri::try_from(format!("sip:{}@{}:{}{param}", route.number, gw.host, gw.port).as_str())?;
    let from_host = route.trunk.from_domain.clone().unwrap_or_else(|| shared.local.ip().to_string());
    let caller = Uri::try_from(format!("sip:{}@{from_host}", route.caller_id).as_str())?;
    let credential = route.trunk.username.as_ref().map(|u| Credential {
        username: u.clone(),
        password: route.trunk.password.clone().unwrap_or_default(),
        realm: None,
        auth_username: None,
    });
    Ok(InviteOption {
        caller_display_name: dial.caller_name.clone(),
        caller,
        callee,
        destination: Some(SipAddr { r#type: Some(transport), addr: target }),
        content_type: Some("application/sdp".into()),
        offer: Some(offer.into_bytes()),
        contact: shared.contact(),
        credential,
        ..Default::default()
    })
}

/// A new INVITE from outside: checked here, then offered to the server.
fn inbound(shared: Arc<Shared>, mut tx: Transaction) {
    tokio::spawn(async move {
        let remote = remote_media(&tx.original.body);
        let chosen = remote.as_ref().and_then(|r| sdp::negotiate(r, &[Codec::Pcmu, Codec::Pcma]).ok());
        let (Some(mut remote), Some((pt, codec))) = (remote, chosen) else {
            // No offer, an unreadable one, or no codec in common: RFC 3261 §21.4.26.
            let _ = tx.reply(StatusCode::NotAcceptableHere).await;
            return;
        };
        // The relay and our answer use the chosen codec.
        remote.codecs.retain(|(p, _)| *p == pt);
        let id = crate::new_call_id();
        let source = tx
            .original
            .headers
            .iter()
            .find_map(|h| match h {
                Header::Other(name, value) if name == SOURCE_HEADER => Some(value.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let from = tx
            .original
            .from_header()
            .ok()
            .and_then(|f| f.uri().ok())
            .and_then(|u| u.user().map(str::to_string))
            .unwrap_or_default();
        let to = tx.original.uri.user().map(str::to_string).unwrap_or_default();
        let (state_tx, mut state_rx) = shared.dialogs.new_dialog_state_channel();
        let dialog = match shared.dialogs.get_or_create_server_invite(&tx, state_tx, None, Some(shared.contact())) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "no dialog for INVITE");
                let _ = tx.reply(StatusCode::ServerInternalError).await;
                return;
            }
        };
        let mut dialog_for_tx = dialog.clone();
        tokio::spawn(async move {
            let _ = dialog_for_tx.handle(&mut tx).await;
        });
        let (media_tx, mut media_rx) = mpsc::unbounded_channel();
        let neg = match shared.media.create_offer(&id, codec, media_tx).await {
            Ok(neg) => neg,
            Err(e) => {
                tracing::warn!(call = %id, error = %e, "no media for inbound call");
                let _ = dialog.reject(Some(StatusCode::ServerInternalError), None);
                return shared.finish(&id);
            }
        };
        let (cmd_tx, mut rx) = mpsc::unbounded_channel();
        shared.calls().insert(id.clone(), cmd_tx);
        let mut task = CallTask::new(shared.clone(), id.clone(), Origin::Inbound, &neg);
        task.dialog = Some(dialog.clone());
        task.remote_pt = pt;
        task.remote_te = remote.te_pt;
        shared.media.carrier(&id, remote);
        task.tell(Event::Incoming { call_id: id.clone(), source, from, from_name: None, to, offer: neg.browser_sdp });
        while !task.bridge.is_ended() {
            tokio::select! {
                Some(state) = state_rx.recv() => task.dialog_state(state).await,
                Some(CallMsg::Server(cmd)) = rx.recv() => match cmd {
                    Command::Ringing { .. } => task.handle(Input::Ringing).await,
                    Command::Answer { sdp, .. } => match shared.media.accept_answer(&id, &sdp).await {
                        Ok(()) => task.handle(Input::Answer).await,
                        Err(e) => {
                            tracing::info!(call = %id, error = %e, "browser answer refused");
                            task.handle(Input::MediaFailed).await;
                        }
                    },
                    Command::Reject { code, .. } => task.handle(Input::Reject(code)).await,
                    Command::Hangup { .. } => task.handle(Input::Hangup).await,
                    Command::Dial(_) => {}
                },
                Some(event) = media_rx.recv() => task.handle(media_input(event)).await,
                else => break,
            }
        }
        shared.dialogs.remove_dialog(&dialog.id());
        shared.finish(&id);
    });
}
