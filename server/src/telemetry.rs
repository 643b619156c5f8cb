//! Logs: human-readable by default, JSON lines when configured. `RUST_LOG` overrides the filter.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let builder = fmt().with_env_filter(filter).with_target(false);
    let _ = match settings.format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
