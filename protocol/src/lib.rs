//! Wire types shared by `web`, `server` and `gateway`.
//!
//! This crate is the serialisation boundary: everything here is `Serialize`/`Deserialize`, and
//! nothing outside it is. The server converts these to and from its domain types by hand. It
//! depends on `serde` only and builds for `wasm32-unknown-unknown`.

pub mod api;
pub mod gateway;
pub mod limits;
pub mod ws;

/// Bumped on any incompatible change to the messages in this crate.
pub const PROTOCOL_VERSION: u32 = 1;
