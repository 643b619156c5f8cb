//! The gateway's one integration-test binary: a real [`gateway::Gateway`] per test on loopback
//! ports (SIP on UDP and TCP, WebRTC), spoken to with raw SIP text over std/tokio sockets.
//!
//! - `torture`: every RFC 4475 / RFC 5118 torture message over UDP and over TCP, each outcome
//!   checked against what the RFCs allow (`cargo test -p gateway --test it -- --nocapture`
//!   prints the table).
//! - `focused`: one behaviour each (481, 488, OPTIONS with Allow, 405 with Allow, 420, 415, an
//!   offered call rejected busy).
//!
//! `RUST_LOG=rsipstack=debug,gateway=debug` shows what the gateway makes of each message.

mod focused;
mod torture;
mod wire;
