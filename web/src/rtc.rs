//! The browser's WebRTC: microphone, `RTCPeerConnection`, the remote audio, statistics.
//! The only module that touches `RTCPeerConnection` and `getUserMedia`.

use js_sys::{Array, Reflect};
use protocol::{api::IceServer, ws::IceCandidate};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    HtmlAudioElement, MediaStream, MediaStreamConstraints, MediaStreamTrack, RtcConfiguration, RtcIceCandidateInit,
    RtcIceServer, RtcOfferOptions, RtcPeerConnection, RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
};

/// What the in-call screen shows (and the end-to-end tests read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// 0..1, our microphone as sent.
    pub local_level: f64,
    /// 0..1, the other side as received.
    pub remote_level: f64,
    pub packets_received: u64,
    pub remote_energy: f64,
}

/// Asks for the microphone, with a message a person can act on when it fails.
pub async fn microphone() -> Result<MediaStream, String> {
    let window = web_sys::window().ok_or("no window")?;
    let devices =
        window.navigator().media_devices().map_err(|_| "This browser cannot use a microphone here.".to_string())?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio_bool(true);
    constraints.set_video_bool(false);
    let promise = devices.get_user_media_with_constraints(&constraints).map_err(describe_media_error)?;
    let stream = JsFuture::from(promise).await.map_err(describe_media_error)?;
    Ok(stream.unchecked_into())
}

fn describe_media_error(e: JsValue) -> String {
    let name = Reflect::get(&e, &"name".into()).ok().and_then(|n| n.as_string()).unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => {
            "Microphone access was denied. Allow the microphone for this site in your browser's settings, then try again.".into()
        }
        "NotFoundError" | "OverconstrainedError" => "No microphone was found. Connect one and try again.".into(),
        "NotReadableError" => "The microphone is in use by another application.".into(),
        _ => format!("The microphone could not be opened ({name})."),
    }
}

/// One call's media: the peer connection, our microphone, and the element playing the peer.
pub struct Media {
    pc: RtcPeerConnection,
    mic: MediaStream,
    audio: HtmlAudioElement,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Media {
    /// `on_ice` gets each local candidate; `on_state` each ICE connection state change.
    pub fn new(
        ice_servers: &[IceServer],
        mic: MediaStream,
        on_ice: impl Fn(IceCandidate) + 'static,
        on_state: impl Fn(String) + 'static,
    ) -> Result<Self, String> {
        let config = RtcConfiguration::new();
        let servers = Array::new();
        for s in ice_servers {
            let server = RtcIceServer::new();
            server.set_urls(&s.urls.iter().map(|u| JsValue::from_str(u)).collect::<Array>());
            if let Some(u) = &s.username {
                server.set_username(u);
            }
            if let Some(c) = &s.credential {
                server.set_credential(c);
            }
            servers.push(&server);
        }
        config.set_ice_servers(&servers);
        let pc = RtcPeerConnection::new_with_configuration(&config).map_err(|e| format!("WebRTC failed: {e:?}"))?;
        for track in mic.get_audio_tracks().iter() {
            pc.add_track_0(&track.unchecked_into(), &mic);
        }
        let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
        let audio: HtmlAudioElement =
            document.create_element("audio").map_err(|_| "no audio element")?.unchecked_into();
        audio.set_autoplay(true);
        audio.set_id("remote-audio");
        if let Some(body) = document.body() {
            let _ = body.append_child(&audio);
        }

        let ice = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let ev: RtcPeerConnectionIceEvent = ev.unchecked_into();
            if let Some(c) = ev.candidate() {
                on_ice(IceCandidate {
                    candidate: c.candidate(),
                    sdp_mid: c.sdp_mid(),
                    sdp_mline_index: c.sdp_m_line_index(),
                });
            }
        });
        pc.set_onicecandidate(Some(ice.as_ref().unchecked_ref()));
        let player = audio.clone();
        let track = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let ev: RtcTrackEvent = ev.unchecked_into();
            if let Ok(stream) = ev.streams().get(0).dyn_into::<MediaStream>() {
                player.set_src_object(Some(&stream));
                let _ = player.play();
            }
        });
        pc.set_ontrack(Some(track.as_ref().unchecked_ref()));
        let watched = pc.clone();
        let state = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            on_state(format!("{:?}", watched.ice_connection_state()).to_lowercase());
        });
        pc.set_oniceconnectionstatechange(Some(state.as_ref().unchecked_ref()));
        Ok(Self { pc, mic, audio, _handlers: vec![ice, track, state] })
    }

    /// Whether an answer (or offer) from the peer was applied already.
    pub fn has_remote(&self) -> bool {
        self.pc.remote_description().is_some()
    }

    /// Queues DTMF `tones` on the audio sender (100 ms each, 70 ms apart; RFC 4733 events).
    pub fn dtmf(&self, tones: &str) -> bool {
        let senders = self.pc.get_senders();
        let Some(sender) = senders.iter().find_map(|s| s.dyn_into::<web_sys::RtcRtpSender>().ok()) else {
            return false;
        };
        match sender.dtmf() {
            Some(dtmf) => {
                dtmf.insert_dtmf_with_duration_and_inter_tone_gap(tones, 100, 70);
                true
            }
            None => false,
        }
    }

    /// Creates and applies a local offer (`restart`: with new ICE credentials).
    pub async fn offer(&self, restart: bool) -> Result<String, String> {
        let promise = if restart {
            let opts = RtcOfferOptions::new();
            opts.set_ice_restart(true);
            self.pc.create_offer_with_rtc_offer_options(&opts)
        } else {
            self.pc.create_offer()
        };
        let desc = JsFuture::from(promise).await.map_err(|e| format!("creating the offer failed: {e:?}"))?;
        self.set_local(RtcSdpType::Offer, &sdp_of(&desc)?).await
    }

    /// Applies the peer's offer and returns our applied answer.
    pub async fn answer(&self, offer: &str) -> Result<String, String> {
        self.set_remote(RtcSdpType::Offer, offer).await?;
        let desc =
            JsFuture::from(self.pc.create_answer()).await.map_err(|e| format!("creating the answer failed: {e:?}"))?;
        self.set_local(RtcSdpType::Answer, &sdp_of(&desc)?).await
    }

    pub async fn set_remote(&self, kind: RtcSdpType, sdp: &str) -> Result<(), String> {
        let init = RtcSessionDescriptionInit::new(kind);
        init.set_sdp(sdp);
        JsFuture::from(self.pc.set_remote_description(&init))
            .await
            .map_err(|e| format!("the peer's SDP was refused: {e:?}"))?;
        Ok(())
    }

    async fn set_local(&self, kind: RtcSdpType, sdp: &str) -> Result<String, String> {
        let init = RtcSessionDescriptionInit::new(kind);
        init.set_sdp(sdp);
        JsFuture::from(self.pc.set_local_description(&init))
            .await
            .map_err(|e| format!("our SDP was refused: {e:?}"))?;
        Ok(sdp.to_string())
    }

    pub async fn add_ice(&self, c: &IceCandidate) {
        let init = RtcIceCandidateInit::new(&c.candidate);
        init.set_sdp_mid(c.sdp_mid.as_deref());
        init.set_sdp_m_line_index(c.sdp_mline_index);
        let _ = JsFuture::from(self.pc.add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init))).await;
    }

    /// Muting sends silence; the connection stays up.
    pub fn set_microphone(&self, on: bool) {
        for t in self.mic.get_audio_tracks().iter() {
            t.unchecked_into::<MediaStreamTrack>().set_enabled(on);
        }
    }

    pub fn set_speaker(&self, on: bool) {
        self.audio.set_muted(!on);
    }

    pub async fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        let Ok(report) = JsFuture::from(self.pc.get_stats()).await else { return stats };
        let values = report.unchecked_into::<js_sys::Map>().values();
        let Ok(Some(iter)) = js_sys::try_iter(&values) else { return stats };
        let get = |o: &JsValue, k: &str| Reflect::get(o, &k.into()).ok();
        for s in iter.flatten() {
            let kind = get(&s, "kind").and_then(|v| v.as_string());
            if kind.as_deref() != Some("audio") {
                continue;
            }
            let num = |k: &str| get(&s, k).and_then(|v| v.as_f64()).unwrap_or(0.0);
            match get(&s, "type").and_then(|v| v.as_string()).as_deref() {
                Some("inbound-rtp") => {
                    stats.packets_received = num("packetsReceived") as u64;
                    stats.remote_level = num("audioLevel");
                    stats.remote_energy = num("totalAudioEnergy");
                }
                Some("media-source") => stats.local_level = num("audioLevel"),
                _ => {}
            }
        }
        stats
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_ontrack(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.close();
        for t in self.mic.get_tracks().iter() {
            t.unchecked_into::<MediaStreamTrack>().stop();
        }
        self.audio.set_src_object(None);
        self.audio.remove();
    }
}

fn sdp_of(desc: &JsValue) -> Result<String, String> {
    Reflect::get(desc, &"sdp".into()).ok().and_then(|s| s.as_string()).ok_or_else(|| "no SDP in the description".into())
}
