//! The parts of `pstn-load`: the fake browsers, the carrier (sipp) and the measurements.

pub mod browser;
pub mod carrier;
pub mod stats;
