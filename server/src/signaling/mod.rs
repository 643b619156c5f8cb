//! WebSocket signaling and the Call State Manager's shell around the pure `call` machines.
//! The only place that (de)serialises `protocol::ws`.

mod convert;
pub mod hub;
pub mod live;
pub mod wallets;
pub mod ws;

pub use hub::Hub;
