//! The signaling WebSocket. The only module that uses `WebSocket`; typed with `protocol::ws`.

use protocol::ws::{ClientMsg, ServerMsg};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::{MessageEvent, WebSocket};

pub struct Socket {
    ws: WebSocket,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Socket {
    /// Opens `/ws` on this page's host; `on_open` should say hello.
    pub fn open(
        on_open: impl Fn() + 'static,
        on_message: impl Fn(ServerMsg) + 'static,
        on_close: impl Fn() + 'static,
    ) -> Result<Self, String> {
        let location = web_sys::window().ok_or("no window")?.location();
        let scheme = if location.protocol().unwrap_or_default() == "https:" { "wss" } else { "ws" };
        let url = format!("{scheme}://{}/ws", location.host().unwrap_or_default());
        let ws = WebSocket::new(&url).map_err(|e| format!("cannot open {url}: {e:?}"))?;
        let open = Closure::<dyn FnMut(JsValue)>::new(move |_| on_open());
        let message = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let ev: MessageEvent = ev.unchecked_into();
            if let Some(text) = ev.data().as_string() {
                match serde_json::from_str::<ServerMsg>(&text) {
                    Ok(msg) => on_message(msg),
                    Err(e) => leptos::logging::warn!("an unknown message from the server: {e}"),
                }
            }
        });
        let close = Closure::<dyn FnMut(JsValue)>::new(move |_| on_close());
        ws.set_onopen(Some(open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(close.as_ref().unchecked_ref()));
        Ok(Self { ws, _handlers: vec![open, message, close] })
    }

    pub fn send(&self, msg: &ClientMsg) -> bool {
        let text = serde_json::to_string(msg).expect("wire types serialise");
        self.ws.send_with_str(&text).is_ok()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}
