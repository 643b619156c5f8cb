//! The platform's server. See `ARCHITECTURE.md` for the map.

pub mod auth;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod storage;
pub mod telemetry;

pub use config::Settings;
pub use startup::App;
