//! Tidewatch monitor: config, state store, warehouse connectors and the `scan` pipeline.
//! The `tidewatch` binary in `main.rs` is a thin CLI over this library.

pub mod baseline;
pub mod config;
pub mod demo;
pub mod detect;
pub mod feedback;
pub mod ident;
pub mod output;
pub mod scan;
pub mod secret;
pub mod store;
pub mod warehouse;
