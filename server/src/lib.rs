//! The platform's server. See `ARCHITECTURE.md` for the map.

pub mod auth;
pub mod billing;
pub mod call;
pub mod carrier;
pub mod config;
pub mod credit;
pub mod domain;
pub mod http;
pub mod ids;
pub mod lcr;
pub mod ledger;
pub mod number;
pub mod payments;
pub mod pings;
pub mod rating;
pub mod registrations;
pub mod routing;
pub mod signaling;
pub mod startup;
pub mod stats;
pub mod storage;
pub mod telemetry;

pub use config::Settings;
pub use startup::App;
